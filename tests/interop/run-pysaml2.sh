#!/usr/bin/env bash
# SAML 2.0 interoperability, second service provider: starts `idp demo` on free local ports with
# a service provider registered for pysaml2, then runs pysaml2 against it:
#   - pysaml2 7.5.5 (Python, xmlsec1 program, requests)   tests/interop/python/saml_pysaml2.py
# The client prints one line per check; this script prints one summary line
# ("interop pysaml2: passed|FAILED") and a final "N passed, M failed" line, and exits non-zero
# if the client failed.
#
# Before the provider starts, the SP is made: an RSA 2048 key and self-signed certificate
# (openssl), then its metadata (saml2.metadata.entity_descriptor) and registration, written to
# $DATA_DIR/relying-parties/sp-pysaml2.{xml,toml}, which `idp demo` loads.
#
# The provider binary is $IDP_BIN if set, else the newer of target/release/idp and target/debug/idp.
# Needs: python3 with venv (pip from python/pysaml2-requirements.txt), openssl, and the xmlsec1
# program (Debian package xmlsec1, installed with apt-get if missing; $XMLSEC1 overrides its path).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$(pwd)
INTEROP="$ROOT/tests/interop"

if [[ -z "${IDP_BIN:-}" ]]; then
  # the most recently built of the release and debug binaries (a stale one misleads)
  IDP_BIN=$(ls -t target/release/idp target/debug/idp 2>/dev/null | head -n 1)
  IDP_BIN=${IDP_BIN:-target/debug/idp}
fi
if [[ ! -x "$IDP_BIN" ]]; then
  echo "run-pysaml2: provider binary not found or not executable: $IDP_BIN (build it, or set IDP_BIN)" >&2
  exit 2
fi

PYTHON=${PYTHON:-python3}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-600}
VENV="$INTEROP/python/.venv-pysaml2"

SERVER_PID=""
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-pysaml2-interop-data.XXXXXX")
SP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-pysaml2-interop-sp.XXXXXX")
SERVER_LOG=$(mktemp "${TMPDIR:-/tmp}/idp-pysaml2-interop-server.XXXXXX.log")

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$DATA_DIR" "$SP_DIR"
  rm -f "$SERVER_LOG"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_server_log() {
  echo "---- last lines of the provider's log ----"
  tail -n 80 "$SERVER_LOG" 2>/dev/null
  echo "---- end of the provider's log ----"
  # The whole log is kept for a look afterwards (tests/**/artifacts/ is ignored by git).
  mkdir -p "$INTEROP/artifacts" && cp "$SERVER_LOG" "$INTEROP/artifacts/pysaml2-provider.log" &&
    echo "(whole log: tests/interop/artifacts/pysaml2-provider.log)"
}

passed=0
failed=0
declare -a summary=()

record() { # name status
  if [[ "$2" == 0 ]]; then
    summary+=("interop $1: passed")
    passed=$((passed + 1))
  else
    summary+=("interop $1: FAILED")
    failed=$((failed + 1))
  fi
}

finish() {
  if [[ "$failed" -gt 0 && -s "$SERVER_LOG" ]]; then
    show_server_log
  fi
  for line in "${summary[@]}"; do
    echo "$line"
  done
  echo "$passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
  exit $?
}

# pysaml2 signs and verifies with the xmlsec1 program.
ensure_xmlsec1() {
  if [[ -n "${XMLSEC1:-}" ]]; then
    [[ -x "$XMLSEC1" ]] && return 0
    echo "run-pysaml2: XMLSEC1=$XMLSEC1 is not executable" >&2
    return 1
  fi
  command -v xmlsec1 >/dev/null 2>&1 && return 0
  echo "run-pysaml2: xmlsec1 not found; installing the Debian package xmlsec1" >&2
  local sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq xmlsec1 >/dev/null || {
    echo "run-pysaml2: apt-get install -y xmlsec1 failed" >&2
    return 1
  }
  command -v xmlsec1 >/dev/null 2>&1
}

if ! ensure_xmlsec1; then
  echo "run-pysaml2: the xmlsec1 program is missing"
  record pysaml2 1
  finish
fi
export XMLSEC1="${XMLSEC1:-$(command -v xmlsec1)}"

# A base port P such that P..P+5 are free on 127.0.0.1 (P: the provider; P+5: the SP's
# addresses, on which nothing listens).
PORT=$("$PYTHON" - <<'PYEOF'
import random, socket, sys

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
    base = random.randint(20000, 39994)
    if all(free(base + i) for i in range(6)):
        print(base)
        sys.exit(0)
sys.exit(1)
PYEOF
) || { echo "run-pysaml2: no free port range found" >&2; exit 2; }

ISSUER="http://127.0.0.1:$PORT"

# The SP's Python environment (pysaml2 and its pinned dependencies).
setup_venv() {
  (
    cd "$INTEROP/python" || exit 1
    if [[ ! -x "$VENV/bin/python" ]]; then
      "$PYTHON" -m venv "$VENV" || exit 1
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r pysaml2-requirements.txt || {
      echo "run-pysaml2: pip install failed" >&2
      exit 1
    }
  )
}

# The SP's key and certificate, then its metadata and registration in the provider's data dir.
prepare_sp() {
  openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 2 \
    -subj "/CN=pysaml2 interop SP" \
    -keyout "$SP_DIR/sp.key" -out "$SP_DIR/sp.crt" >/dev/null 2>"$SP_DIR/openssl.err" || {
    echo "run-pysaml2: openssl could not make the SP's key and certificate:" >&2
    cat "$SP_DIR/openssl.err" >&2
    return 1
  }
  mkdir -p "$DATA_DIR/relying-parties" || return 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    "$VENV/bin/python" "$INTEROP/python/saml_pysaml2.py" prepare "$SP_DIR" "$PORT" "$DATA_DIR/relying-parties"
}

if ! setup_venv || ! prepare_sp; then
  echo "run-pysaml2: the service provider could not be prepared"
  record pysaml2 1
  finish
fi

echo "run-pysaml2: starting $IDP_BIN demo --port $PORT (data in $DATA_DIR)"
# The provider reads every IDP_* variable as a configuration override and refuses unknown ones:
# the variables meant for this script are kept away from it.
env -u IDP_BIN -u IDP_ISSUER -u IDP_PORT \
  "$IDP_BIN" demo --port "$PORT" --data-dir "$DATA_DIR" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run-pysaml2: the provider exited before becoming ready" >&2
    break
  fi
  if "$PYTHON" - "$ISSUER/readyz" <<'PYEOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PYEOF
  then
    ready=1
    break
  fi
  sleep 0.5
done

run_pysaml2() {
  (
    cd "$INTEROP/python" || exit 1
    PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
      timeout "$CLIENT_TIMEOUT" "$VENV/bin/python" saml_pysaml2.py run "$SP_DIR"
  )
}

if [[ "$ready" != 1 ]]; then
  echo "run-pysaml2: $ISSUER/readyz did not answer 200 within 60 s"
  record pysaml2 1
else
  echo "run-pysaml2: provider ready at $ISSUER"
  run_pysaml2
  record pysaml2 $?
fi

finish
