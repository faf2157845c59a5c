#!/usr/bin/env bash
# The admin API against its OpenAPI document (python/admin_openapi.py): openapi-spec-validator
# reads the document, openapi-core validates every request and response of a session of the
# demo's académie tool against it. One line per check, a summary line, "N passed, M failed".
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
interop_init admin-api 5
VENV="$INTEROP/python/.venv-admin"

if ! (cd "$INTEROP/python" && interop_venv "$VENV" admin-requirements.txt) || ! interop_start; then
  interop_record openapi-core 1
  interop_finish
fi
(
  cd "$INTEROP/python" || exit 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    timeout "$CLIENT_TIMEOUT" "$VENV/bin/python" admin_openapi.py "$ISSUER" "$ROOT/idp/src/admin/openapi.json"
)
interop_record openapi-core $?
interop_finish
