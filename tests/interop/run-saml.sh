#!/usr/bin/env bash
# SAML 2.0 interoperability with OneLogin's python3-saml 1.16 in strict mode
# (python/saml_python3saml.py): signed AuthnRequests, SSO for a pupil and a guardian,
# hostile requests, single logout, also across two SPs of one SSO session (the second SP gets
# the IdP's LogoutRequest from a frame of the logout page). Before the provider starts, the two
# SPs are made (each an RSA key and certificate with openssl, then its metadata and
# registration in $DATA_DIR/relying-parties, which `idp demo` loads). One line per check, a
# summary line, "N passed, M failed".
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the provider; P+1 .. P+3: the demo ENT, Pronote and FranceConnect sandbox; P+4: the
# téléservice; P+5: the SP's addresses; P+6: the second SP's addresses (nothing listens on
# P+4 .. P+6)
interop_init saml 7
VENV="$INTEROP/python/.venv-saml"
SP_DIR="$WORK_DIR/sp"
mkdir -p "$SP_DIR/sp2" "$DATA_DIR/relying-parties"

prepare_sp() {
  (cd "$INTEROP/python" && interop_venv "$VENV" saml-requirements.txt) || return 1
  interop_sp_key "$SP_DIR" "python3-saml interop SP" || return 1
  interop_sp_key "$SP_DIR/sp2" "python3-saml interop SP 2" || return 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 "$VENV/bin/python" "$INTEROP/python/saml_python3saml.py" \
    prepare "$SP_DIR" "$PORT" "$DATA_DIR/relying-parties"
}

if ! prepare_sp || ! interop_start; then
  interop_record python3-saml 1
  interop_finish
fi
(
  cd "$INTEROP/python" || exit 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    timeout "$CLIENT_TIMEOUT" "$VENV/bin/python" saml_python3saml.py run "$SP_DIR"
)
interop_record python3-saml $?
interop_finish
