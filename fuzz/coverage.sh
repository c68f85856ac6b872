#!/usr/bin/env bash
# How much of the project's own code a fuzz target's corpus reaches: the corpus run through a
# coverage-instrumented build of the target (`cargo fuzz coverage`), reported by llvm-cov
# over `src/` only, so that code of the dependencies (the regex, toml and csv crates...) is
# left out. libFuzzer's edge count includes those crates; this does not.
#
#   bash fuzz/coverage.sh TARGET [CORPUS]     # CORPUS: a folder, or a .tar.gz as fuzz/kept holds
#
# Prints one line: the project's regions and lines the corpus covers, and the functions it
# reaches but does not cover whole (with their missed regions); the per-function listing of
# those is left in fuzz/coverage/TARGET/partly-reached.txt.
#
# Needs the nightly toolchain with llvm-tools (`rustup component add llvm-tools --toolchain
# nightly`): coverage builds go to ./target, not CARGO_TARGET_DIR (cargo fuzz chooses).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: fuzz/coverage.sh TARGET [CORPUS]}
corpus=${2:-fuzz/kept/$t.tar.gz}
bin_dir=$(rustc +nightly --print sysroot)/lib/rustlib/$(rustc +nightly -vV | sed -n 's/^host: //p')/bin
[[ -x $bin_dir/llvm-cov ]] || { echo "llvm-cov not found in $bin_dir: rustup component add llvm-tools --toolchain nightly" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -d $corpus ]]; then
  cp -r "$corpus"/. "$work"/
else
  tar xzf "$corpus" -C "$work"
fi
cargo +nightly fuzz coverage --dev -s none "$t" "$work" > "fuzz/logs/coverage-$t.log" 2>&1 ||
  { echo "coverage run failed: fuzz/logs/coverage-$t.log" >&2; exit 1; }
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin=target/$host/coverage/$host/debug/$t
profile=fuzz/coverage/$t/coverage.profdata
report=fuzz/coverage/$t/report.txt
"$bin_dir/llvm-cov" report "$bin" -instr-profile="$profile" \
  -ignore-filename-regex='(\.cargo/|/rustc/|/fuzz/|library/)' > "$report"
covered=$(awk 'NR>2 && $1!="TOTAL" && $1 !~ /^-/ {r+=$2-$3; l+=$8-$9} END {print r+0, "regions and", l+0, "lines"}' "$report")
mapfile -t files < <(awk -v src="$PWD/src/" 'NR>2 && $1!="TOTAL" && $1 !~ /^-/ && $3<$2 {print src $1}' "$report")
"$bin_dir/llvm-cov" report "$bin" -instr-profile="$profile" --show-functions "${files[@]}" 2>/dev/null |
  awk '/^File/ {f=$2} $1!="TOTAL" && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ && $3>0 && $3<$2 {print f, $3 "/" $2, $1}' \
  > "fuzz/coverage/$t/partly-reached.txt"
partly=$(awk '{split($2, a, "/"); m+=a[1]; n++} END {print n+0, "functions reached but not covered whole (" m+0, "regions missed)"}' \
  "fuzz/coverage/$t/partly-reached.txt")
echo "$t: $(find "$work" -type f | wc -l) inputs cover $covered of src/; $partly"
