#!/usr/bin/env bash
# Fuzz every target for a bounded time, one after another, on the stable toolchain.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Seeds come from fuzz/seed-corpus.sh (run first if fuzz/corpus/ is missing). Crashes land in
# fuzz/artifacts/<target>/; keep each as fuzz/regressions/<layout>/ (for the ingest target) or
# as a fixture with a test, so CI replays it.
# FUZZ_UNIT_TIMEOUT (seconds, default 30): how long one input may run before it is reported as
# a timeout. Raise it on a machine shared with other work, where the fuzzer may be paused.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-240}
shift || true
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(amount mt940 camt ofx delimited blocks ingest case_file layout_file reference counterparties rule_file)
[[ -d fuzz/corpus ]] || bash fuzz/seed-corpus.sh
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  # --dev: the debug profile (dependencies at opt-level 1); -s none: coverage-guided, no
  # sanitizer, which builds on the stable toolchain.
  cargo fuzz run --dev -s none "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout="${FUZZ_UNIT_TIMEOUT:-30}" -rss_limit_mb=4096 -print_final_stats=1 \
    > "fuzz/logs/$t.log" 2>&1 || echo "   $t stopped with a finding: see fuzz/logs/$t.log and fuzz/artifacts/$t/"
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" "fuzz/logs/$t.log" || true
done
