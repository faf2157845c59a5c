#!/usr/bin/env bash
# CAS 3.0 interoperability with python-cas 1.7 (python/cas_python_cas.py): login and logout
# URLs built by the library, ticket validation with attributes, SSO, renew, gateway, proxy
# tickets through a pgtUrl, and CAS single logout checked by the library's
# verify_logout_request. Before the provider starts, the script's services are registered in
# $DATA_DIR/relying-parties (which `idp demo` loads). One line per check, a summary line,
# "N passed, M failed".
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the provider; P+1 .. P+3: the demo ENT, Pronote and FranceConnect sandbox; P+5: the
# script's CAS services
interop_init cas 6
VENV="$INTEROP/python/.venv-cas"
mkdir -p "$DATA_DIR/relying-parties"

prepare() {
  (cd "$INTEROP/python" && interop_venv "$VENV" cas-requirements.txt) || return 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 "$VENV/bin/python" "$INTEROP/python/cas_python_cas.py" \
    prepare "$WORK_DIR" "$PORT" "$DATA_DIR/relying-parties"
}

if ! prepare || ! interop_start; then
  interop_record python-cas 1
  interop_finish
fi
(
  cd "$INTEROP/python" || exit 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    timeout "$CLIENT_TIMEOUT" "$VENV/bin/python" cas_python_cas.py run "$WORK_DIR"
)
interop_record python-cas $?
interop_finish
