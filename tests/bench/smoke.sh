#!/usr/bin/env bash
# The benchmark's smoke run: `idp bench` in short (the debug binary, a fraction of a second per
# case, a small school), embedded and then on PostgreSQL + Redis when TEST_POSTGRES_URL and
# TEST_REDIS_URL are set. It checks that every figure of docs/benchmarks.md is printed and
# written to the JSON file, and that the IdP survived its storm; the figures themselves are
# only meaningful from `cargo run --release -- bench` (debug builds are ten times slower).
set -euo pipefail
cd "$(dirname "$0")/../.."
IDP_BIN=${IDP_BIN:-target/debug/idp}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

short=(--seconds 0.5 --storm-seconds 2 --storm-background 20 --rounds 2 --import-pupils 300)

check() { # json file, label
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
top = ["argon2_bound_per_s", "password_signin_per_s", "password_signin_ratio_to_bound",
       "rss_idle_mb", "rss_peak_mb", "failed_signins", "storm", "import"]
cases = ["code_exchange", "refresh", "client_credentials", "introspection", "userinfo",
         "discovery", "jwks", "saml_sso", "cas_validate"]
missing = [k for k in top if k not in r] + [c for c in cases if c not in r.get("cases", {})]
for c in cases:
    f = r["cases"].get(c, {})
    for k in ("per_s", "p50_ms", "p99_ms"):
        if k not in f:
            missing.append(f"{c}.{k}")
    if f.get("requests", 0) == 0:
        missing.append(f"{c}: no request succeeded ({f.get('first_error')})")
    if f.get("errors", 0):
        missing.append(f"{c}: {f['errors']} errors ({f.get('first_error')})")
storm = r["storm"]
for k in ("refused", "refused_p99_ms", "timeouts", "wrong_answers", "refresh", "saml_sso", "crashed"):
    if k not in storm:
        missing.append(f"storm.{k}")
if storm.get("crashed"):
    missing.append("the IdP crashed in the storm")
if storm.get("wrong_answers"):
    missing.append(f"storm: {storm['wrong_answers']} refusals without 503 + Retry-After + the French page")
if "import_per_s" not in r.get("import", {}):
    missing.append("import.import_per_s")
label = sys.argv[2]
if missing:
    print(f"bench smoke ({label}): MISSING {missing}")
    sys.exit(1)
print(f"bench smoke ({label}): every figure present; storm: {storm['signins_offered']} sign-ins offered, "
      f"{storm['refused']} refused with 503 + Retry-After, {storm['timeouts']} timeouts, IdP kept running")
PY
}

"$IDP_BIN" bench "${short[@]}" --json "$out/embedded.json"
check "$out/embedded.json" "embedded"

if [ -n "${TEST_POSTGRES_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
    "$IDP_BIN" bench "${short[@]}" --json "$out/production.json" \
        --postgres "$TEST_POSTGRES_URL" --redis "$TEST_REDIS_URL"
    check "$out/production.json" "PostgreSQL + Redis"
fi
