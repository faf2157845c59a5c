#!/usr/bin/env bash
# OpenID Connect interoperability: `idp demo` on free local ports, then two relying-party
# libraries against it, each printing one line per check:
#   - panva's openid-client 6 (Node, OpenID-certified)   node/oidc-openid-client.mjs
#   - Authlib 1.9 (Python, requests)                     python/oidc_authlib.py
# One summary line per client, a final "N passed, M failed", non-zero exit on any failure.
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
# Needs node + npm (npm ci from the lock file) and python3 with venv.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the provider; P+1: the demo ENT (the client ent-demo's redirect URI: the scripts read the
# redirects and never follow them there); P+2, P+3: Pronote and the sandbox; P+4: teleservice-demo
interop_init oidc 5

if ! interop_start; then
  interop_record openid-client 1
  interop_record authlib 1
  interop_finish
fi

(
  cd "$INTEROP/node" || exit 1
  npm ci --silent --no-audit --no-fund >/dev/null 2>"$WORK_DIR/npm-ci.err" || {
    echo "$RUNNER: npm ci failed:" >&2
    cat "$WORK_DIR/npm-ci.err" >&2
    exit 1
  }
  IDP_ISSUER="$ISSUER" IDP_PORT="$PORT" timeout "$CLIENT_TIMEOUT" node oidc-openid-client.mjs
)
interop_record openid-client $?

(
  cd "$INTEROP/python" || exit 1
  interop_venv "$INTEROP/python/.venv" requirements.txt || exit 1
  IDP_ISSUER="$ISSUER" IDP_PORT="$PORT" PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    timeout "$CLIENT_TIMEOUT" .venv/bin/python oidc_authlib.py
)
interop_record authlib $?

interop_finish
