# Shared by the interoperability runners (run-*.sh): choose the provider binary, find free
# ports, start `idp demo`, wait until it is ready, record one summary line per client, clean up.
# A runner sources this file, calls `interop_init NAME PORTS`, prepares what it needs in
# $DATA_DIR, calls `interop_start`, runs its clients with `interop_record`, then `interop_finish`.

interop_init() { # name, how many consecutive free ports (P .. P+n-1)
  RUNNER=$1
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
  ROOT=$(pwd)
  INTEROP="$ROOT/tests/interop"
  if [[ -z "${IDP_BIN:-}" ]]; then
    # the most recently built of the release and debug binaries (a stale one misleads)
    IDP_BIN=$(ls -t target/release/idp target/debug/idp 2>/dev/null | head -n 1)
    IDP_BIN=${IDP_BIN:-target/debug/idp}
  fi
  if [[ ! -x "$IDP_BIN" ]]; then
    echo "$RUNNER: provider binary not found or not executable: $IDP_BIN (build it, or set IDP_BIN)" >&2
    exit 2
  fi
  PYTHON=${PYTHON:-python3}
  CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-600}
  SERVER_PID=""
  DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-$RUNNER-data.XXXXXX")
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-$RUNNER-work.XXXXXX")
  SERVER_LOG="$WORK_DIR/provider.log"
  passed=0
  failed=0
  summary=()
  trap interop_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  PORT=$(interop_free_ports "$2") || { echo "$RUNNER: no free port range found" >&2; exit 2; }
  ISSUER="http://127.0.0.1:$PORT"
}

interop_cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$DATA_DIR" "$WORK_DIR"
}

interop_free_ports() { # count: prints a base port P such that P .. P+count-1 are free
  "$PYTHON" - "$1" <<'PY'
import random, socket, sys
count = int(sys.argv[1])
def free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    base = random.randint(20000, 40000 - count)
    if all(free(base + i) for i in range(count)):
        print(base)
        sys.exit(0)
sys.exit(1)
PY
}

# Starts `idp demo` and waits up to 60 s for /readyz. The provider reads every IDP_* variable
# as a configuration key and refuses unknown ones, so the runners' own are kept from it.
interop_start() {
  echo "$RUNNER: starting $IDP_BIN demo --port $PORT (data in $DATA_DIR)"
  env -u IDP_BIN -u IDP_ISSUER -u IDP_PORT \
    "$IDP_BIN" demo --port "$PORT" --data-dir "$DATA_DIR" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 120); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "$RUNNER: the provider exited before becoming ready" >&2
      return 1
    fi
    if "$PYTHON" - "$ISSUER/readyz" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
    then
      echo "$RUNNER: provider ready at $ISSUER"
      return 0
    fi
    sleep 0.5
  done
  echo "$RUNNER: $ISSUER/readyz did not answer 200 within 60 s"
  return 1
}

# A Python venv with pinned requirements: interop_venv DIR REQUIREMENTS_FILE
interop_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    "$PYTHON" -m venv "$1" || return 1
  fi
  "$1/bin/python" -m pip install -q --disable-pip-version-check -r "$2" || {
    echo "$RUNNER: pip install -r $2 failed" >&2
    return 1
  }
}

# A service provider's RSA key and self-signed certificate: interop_sp_key DIR COMMON_NAME
interop_sp_key() {
  openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 -subj "/CN=$2" \
    -keyout "$1/sp.key" -out "$1/sp.crt" >/dev/null 2>"$1/openssl.err" || {
    echo "$RUNNER: openssl could not make the SP's key and certificate:" >&2
    cat "$1/openssl.err" >&2
    return 1
  }
}

interop_record() { # client name, exit status
  if [[ "$2" == 0 ]]; then
    summary+=("interop $1: passed")
    passed=$((passed + 1))
  else
    summary+=("interop $1: FAILED")
    failed=$((failed + 1))
  fi
}

interop_finish() {
  if [[ "$failed" -gt 0 && -s "$SERVER_LOG" ]]; then
    echo "---- last lines of the provider's log ----"
    tail -n 80 "$SERVER_LOG"
    echo "---- end of the provider's log ----"
    # the whole log is kept for a look afterwards (tests/**/artifacts/ is ignored by git)
    mkdir -p "$INTEROP/artifacts" && cp "$SERVER_LOG" "$INTEROP/artifacts/$RUNNER-provider.log" &&
      echo "(whole log: tests/interop/artifacts/$RUNNER-provider.log)"
  fi
  for line in "${summary[@]}"; do
    echo "$line"
  done
  echo "$passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
  exit $?
}
