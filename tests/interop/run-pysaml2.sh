#!/usr/bin/env bash
# SAML 2.0 interoperability with pysaml2 7.5 (python/saml_pysaml2.py), which signs and
# verifies with the xmlsec1 program (Debian package xmlsec1, installed if missing; $XMLSEC1
# overrides its path): SSO for a pupil and a guardian with Destination and Recipient checked
# (conv_info), tampered and hostile messages, single logout, also across two SPs of one SSO
# session (the second, with its own key, gets the IdP's LogoutRequest from a frame of the
# logout page). Same shape as run-saml.sh.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the provider; P+1 .. P+3: the demo ENT, Pronote and FranceConnect sandbox; P+4: the
# téléservice; P+5: the SP's addresses (and the CBC registration's); P+6: the second SP's
# addresses (nothing listens on P+4 .. P+6)
interop_init pysaml2 7
VENV="$INTEROP/python/.venv-pysaml2"
SP_DIR="$WORK_DIR/sp"
mkdir -p "$SP_DIR/sp2" "$DATA_DIR/relying-parties"

ensure_xmlsec1() {
  if [[ -n "${XMLSEC1:-}" ]]; then
    [[ -x "$XMLSEC1" ]] && return 0
    echo "$RUNNER: XMLSEC1=$XMLSEC1 is not executable" >&2
    return 1
  fi
  command -v xmlsec1 >/dev/null 2>&1 && return 0
  echo "$RUNNER: xmlsec1 not found; installing the Debian package xmlsec1" >&2
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq xmlsec1 >/dev/null &&
    command -v xmlsec1 >/dev/null 2>&1
}

prepare_sp() {
  ensure_xmlsec1 || return 1
  export XMLSEC1="${XMLSEC1:-$(command -v xmlsec1)}"
  (cd "$INTEROP/python" && interop_venv "$VENV" pysaml2-requirements.txt) || return 1
  interop_sp_key "$SP_DIR" "pysaml2 interop SP" || return 1
  interop_sp_key "$SP_DIR/sp2" "pysaml2 interop SP 2" || return 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 "$VENV/bin/python" "$INTEROP/python/saml_pysaml2.py" \
    prepare "$SP_DIR" "$PORT" "$DATA_DIR/relying-parties"
}

if ! prepare_sp || ! interop_start; then
  interop_record pysaml2 1
  interop_finish
fi
(
  cd "$INTEROP/python" || exit 1
  PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \
    timeout "$CLIENT_TIMEOUT" "$VENV/bin/python" saml_pysaml2.py run "$SP_DIR"
)
interop_record pysaml2 $?
interop_finish
