#!/usr/bin/env bash
# The demo in a real browser: `idp demo` (with its ENT on P+1 and Pronote on P+2), then
# Debian's Chromium, headless, driven by playwright-core (browser/sso-chromium.mjs): single
# sign-on from the ENT to Pronote and back, single logout from either. One line per check,
# a summary line, "N passed, M failed". Needs the Debian package chromium (.ci/run installs
# it) and node + npm (npm ci from the lock file; playwright-core downloads no browser).
# SHOTS=DIR keeps a screenshot of each step.
# The provider binary is $IDP_BIN, else the newer of target/release/idp and target/debug/idp.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# P: the provider; P+1, P+2, P+3: the demo ENT, Pronote and FranceConnect sandbox
interop_init browser 5
CHROMIUM=${CHROMIUM:-/usr/lib/chromium/chromium}
if [[ ! -x "$CHROMIUM" ]]; then
  echo "$RUNNER: $CHROMIUM not found (apt-get install chromium, or set CHROMIUM)" >&2
  interop_record chromium 1
  interop_finish
fi
if ! interop_start; then
  interop_record chromium 1
  interop_finish
fi
(
  cd "$INTEROP/browser" || exit 1
  npm ci --silent --no-audit --no-fund >/dev/null 2>"$WORK_DIR/npm-ci.err" || {
    echo "$RUNNER: npm ci failed:" >&2
    cat "$WORK_DIR/npm-ci.err" >&2
    exit 1
  }
  IDP_PORT="$PORT" CHROMIUM="$CHROMIUM" SHOTS="${SHOTS:-}" timeout "$CLIENT_TIMEOUT" node sso-chromium.mjs
)
interop_record chromium $?
interop_finish
