#!/usr/bin/env bash
# OpenID Connect interoperability: starts `idp demo` on free local ports, then runs two certified
# or widely used relying-party libraries against it:
#   - panva's openid-client 6 (Node)     tests/interop/node/oidc-openid-client.mjs
#   - Authlib 1.9 (Python, requests)      tests/interop/python/oidc_authlib.py
# Each client prints one line per check; this script prints one summary line per client and a
# final "N passed, M failed" line, and exits non-zero if any client failed.
#
# The provider binary is $IDP_BIN if set, else the newer of target/release/idp and target/debug/idp.
# Needs: node + npm (npm ci from the lock file), python3 with venv (pip from requirements.txt).
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
  echo "run-oidc: provider binary not found or not executable: $IDP_BIN (build it, or set IDP_BIN)" >&2
  exit 2
fi

PYTHON=${PYTHON:-python3}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-600}

SERVER_PID=""
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-interop-data.XXXXXX")
SERVER_LOG=$(mktemp "${TMPDIR:-/tmp}/idp-interop-server.XXXXXX.log")

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
  rm -rf "$DATA_DIR"
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
  mkdir -p "$INTEROP/artifacts" && cp "$SERVER_LOG" "$INTEROP/artifacts/oidc-provider.log" &&
    echo "(whole log: tests/interop/artifacts/oidc-provider.log)"
}

# A base port P such that P..P+4 are free on 127.0.0.1 (P: the provider; P+1..P+4: the demo
# clients' redirect URIs, on which nothing listens).
PORT=$("$PYTHON" - <<'EOF'
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
    base = random.randint(20000, 39995)
    if all(free(base + i) for i in range(5)):
        print(base)
        sys.exit(0)
sys.exit(1)
EOF
) || { echo "run-oidc: no free port range found" >&2; exit 2; }

ISSUER="http://127.0.0.1:$PORT"
echo "run-oidc: starting $IDP_BIN demo --port $PORT (data in $DATA_DIR)"
# The provider reads every IDP_* variable as a configuration override and refuses unknown ones:
# the variables meant for this script and its clients are kept away from it.
env -u IDP_BIN -u IDP_ISSUER -u IDP_PORT \
  "$IDP_BIN" demo --port "$PORT" --data-dir "$DATA_DIR" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run-oidc: the provider exited before becoming ready" >&2
    break
  fi
  if "$PYTHON" - "$ISSUER/readyz" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
  then
    ready=1
    break
  fi
  sleep 0.5
done

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

run_openid_client() {
  (
    cd "$INTEROP/node" || exit 1
    npm ci --silent --no-audit --no-fund >/dev/null 2>npm-ci.err || {
      echo "run-oidc: npm ci failed:" >&2
      cat npm-ci.err >&2
      rm -f npm-ci.err
      exit 1
    }
    rm -f npm-ci.err
    IDP_ISSUER="$ISSUER" IDP_PORT="$PORT" timeout "$CLIENT_TIMEOUT" node oidc-openid-client.mjs
  )
}

run_authlib() {
  (
    cd "$INTEROP/python" || exit 1
    if [[ ! -x .venv/bin/python ]]; then
      "$PYTHON" -m venv .venv || exit 1
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt || {
      echo "run-oidc: pip install failed" >&2
      exit 1
    }
    IDP_ISSUER="$ISSUER" IDP_PORT="$PORT" PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
      timeout "$CLIENT_TIMEOUT" .venv/bin/python oidc_authlib.py
  )
}

if [[ "$ready" != 1 ]]; then
  echo "run-oidc: $ISSUER/readyz did not answer 200 within 60 s"
  record openid-client 1
  record authlib 1
else
  echo "run-oidc: provider ready at $ISSUER"
  run_openid_client
  record openid-client $?
  run_authlib
  record authlib $?
fi

if [[ "$failed" -gt 0 ]]; then
  show_server_log
fi
for line in "${summary[@]}"; do
  echo "$line"
done
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
