#!/usr/bin/env bash
# "S'identifier avec FranceConnect" against panva's oidc-provider 9 (OpenID-certified), pinned
# in upstream/package-lock.json and configured like FranceConnect v2 (upstream/fc-provider.mjs):
# oidc-provider starts on P+5, then `idp demo` with its upstream pointed there (IDP_UPSTREAM, a
# configuration override), then python/upstream_oidc_provider.py drives a guardian's journeys
# through both. One line per check, a summary line, "N passed, M failed".
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the IdP; P+1 .. P+3: the demo ENT, Pronote and sandbox; P+5: oidc-provider
interop_init upstream 6
FC_PORT=$((PORT + 5))
FC_ISSUER="http://127.0.0.1:$FC_PORT"
FC_CLIENT_ID=idp-interop
FC_CLIENT_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
FC_PID=""
stop_fc() { [[ -n "$FC_PID" ]] && kill "$FC_PID" 2>/dev/null; interop_cleanup; }
trap stop_fc EXIT

start_fc() {
  (cd "$INTEROP/upstream" && npm ci --silent --no-audit --no-fund >/dev/null 2>"$WORK_DIR/npm-ci.err") || {
    echo "$RUNNER: npm ci failed:" >&2
    cat "$WORK_DIR/npm-ci.err" >&2
    return 1
  }
  (cd "$INTEROP/upstream" && FC_PORT=$FC_PORT IDP_ISSUER=$ISSUER FC_CLIENT_ID=$FC_CLIENT_ID \
    FC_CLIENT_SECRET=$FC_CLIENT_SECRET node fc-provider.mjs >"$WORK_DIR/fc.log" 2>&1) &
  FC_PID=$!
  for _ in $(seq 1 60); do
    if "$PYTHON" - "$FC_ISSUER/.well-known/openid-configuration" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    then
      echo "$RUNNER: oidc-provider ready at $FC_ISSUER"
      return 0
    fi
    sleep 0.5
  done
  echo "$RUNNER: oidc-provider did not start:" >&2
  cat "$WORK_DIR/fc.log" >&2
  return 1
}

# the IdP reads IDP_* variables as configuration: its upstream is oidc-provider
export IDP_UPSTREAM="[{ id = \"franceconnect\", label = \"FranceConnect\", issuer = \"$FC_ISSUER\", client_id = \"$FC_CLIENT_ID\", client_secret = \"$FC_CLIENT_SECRET\" }]"
if ! start_fc || ! interop_start; then
  interop_record oidc-provider 1
  interop_finish
fi
(
  cd "$INTEROP/python" || exit 1
  interop_venv "$INTEROP/python/.venv" requirements.txt || exit 1
  IDP_ISSUER="$ISSUER" IDP_PORT="$PORT" FC_ISSUER="$FC_ISSUER" FC_CLIENT_ID="$FC_CLIENT_ID" \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 timeout "$CLIENT_TIMEOUT" .venv/bin/python upstream_oidc_provider.py
)
interop_record oidc-provider $?
if [[ "$failed" -gt 0 && -s "$WORK_DIR/fc.log" ]]; then
  echo "---- oidc-provider's log ----"
  tail -n 40 "$WORK_DIR/fc.log"
fi
interop_finish
