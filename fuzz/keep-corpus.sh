#!/usr/bin/env bash
# Keep what fuzzing has grown: minimise each target's corpus (`cargo fuzz cmin`: the smallest
# set of inputs that reaches the same coverage) and pack it as fuzz/kept/<target>.tar.gz,
# which is committed. fuzz/seed-corpus.sh unpacks the kept corpora beside the seeds, so
# fuzzing on a new machine starts from the coverage reached before, not from the fixtures.
#   fuzz/keep-corpus.sh [TARGET...]     # default: every target with a corpus
# The archives are deterministic: same files, same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for d in fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
mkdir -p fuzz/kept
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/$t ]] || { echo "no corpus for $t (run fuzz/seed-corpus.sh and fuzz/run.sh first)" >&2; exit 1; }
  before=$(find "fuzz/corpus/$t" -type f | wc -l)
  cargo fuzz cmin --dev -s none "$t" "fuzz/corpus/$t" -- -rss_limit_mb=4096 -timeout="${FUZZ_UNIT_TIMEOUT:-30}" \
    > "fuzz/logs/cmin-$t.log" 2>&1
  after=$(find "fuzz/corpus/$t" -type f | wc -l)
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "fuzz/corpus/$t" -cf - . \
    | gzip -n -9 > "fuzz/kept/$t.tar.gz"
  echo "$t: $before inputs -> $after kept, $(du -k "fuzz/kept/$t.tar.gz" | cut -f1) KB"
done
