#!/usr/bin/env bash
# A short coverage-guided run of every fuzz target (libFuzzer through cargo-fuzz), from the
# committed seeds. Prints, per target, how many inputs ran, the coverage reached and whether
# anything crashed; exits non-zero on a crash (the input is left in fuzz/artifacts/<target>/).
#   FUZZ_SECONDS=45 fuzz/smoke.sh            # seconds per target (default 45)
#   fuzz/smoke.sh saml_request csv_import    # some targets only
# Built with `-s none` so that it runs on the stable toolchain; see fuzz/README.md for
# sanitizer builds and longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-45}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(saml_request oidc_params cas_params csv_import)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz 0.13.2 from crates.io"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
cargo fuzz build -s none

results=()
failed=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/last-run.log"
  set +e
  cargo fuzz run -s none "$t" "$corpus" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -eq 0 ]; then
    outcome="no crash"
  else
    outcome="CRASH (rc=$rc, see $log and fuzz/artifacts/$t/)"
    failed=1
    grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 || true
  fi
  results+=("$(printf '%-14s %8s inputs in %3ss  coverage %6s  corpus %5s  %s' \
    "$t" "${runs:-?}" "$seconds" "${cov:-?}" "$(ls "$corpus" | wc -l)" "$outcome")")
done
echo
echo "fuzz smoke run (libFuzzer, ${seconds}s per target):"
printf '  %s\n' "${results[@]}"
exit $failed
