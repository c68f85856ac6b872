#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seed inputs taken from the fixtures, and with the inputs of
# the minimised corpora kept in fuzz/kept/ (fuzz/keep-corpus.sh). The working corpora are not
# committed (the fuzzer grows them); crashes worth keeping go to fuzz/regressions/.
# Targets whose first byte picks a layout get one seed per layout that fits the file.
set -euo pipefail
cd "$(dirname "$0")/.."
C=fuzz/corpus
rm -rf "$C"
mkdir -p "$C"/{mt940,camt,ofx,delimited,blocks,ingest,case_file,layout_file,amount,reference,counterparties,rule_file}

# Layout positions, as the targets number them (shipped layouts sorted by id).
layouts=(barclays camt hsbc lloyds monzo msb-transfers mt940 nationwide natwest ofx santander starling)
delimited=(barclays hsbc lloyds monzo nationwide natwest starling)
pos() { # pos NAME ARRAY...
  local name=$1; shift; local i=0
  for l in "$@"; do [[ $l == "$name" ]] && { echo $i; return; }; i=$((i+1)); done
  echo -1
}
seed() { # seed TARGET FILE [SELECTOR]
  local target=$1 file=$2 sel=${3:-}
  local out="$C/$target/$(basename "$file" | tr ' ' '_')"
  if [[ -n $sel && $sel -ge 0 ]]; then
    { printf "\\x$(printf %02x "$sel")"; cat "$file"; } > "$out.$sel"
  elif [[ -z $sel ]]; then
    cp "$file" "$out"
  fi
}

for f in fixtures/formats/mt940/* fixtures/layouts/mt940/*.sta fixtures/hostile/*.sta; do seed mt940 "$f"; seed ingest "$f" "$(pos mt940 "${layouts[@]}")"; done
for f in fixtures/formats/camt/* fixtures/layouts/camt/*.xml fixtures/hostile/*.xml fixtures/demo/statements/*.xml; do seed camt "$f"; seed ingest "$f" "$(pos camt "${layouts[@]}")"; done
for f in fixtures/formats/ofx/* fixtures/layouts/ofx/*.ofx fixtures/hostile/*.ofx fixtures/demo/statements/*.ofx; do seed ofx "$f"; seed ingest "$f" "$(pos ofx "${layouts[@]}")"; done
for d in fixtures/layouts/*/; do
  id=$(basename "$d")
  for f in "$d"*; do
    case "$(basename "$f")" in case.toml|expected*) continue;; esac
    case "$id" in mt940|camt|ofx) continue;; esac
    seed ingest "$f" "$(pos "$id" "${layouts[@]}")"
    p=$(pos "$id" "${delimited[@]}"); [[ $p -ge 0 ]] && seed delimited "$f" "$p"
    [[ $id == santander ]] && seed blocks "$f"
  done
done
for f in fixtures/hostile/*.csv fixtures/demo/statements/*.csv fixtures/verify/statements/*.csv; do
  seed delimited "$f" "$(pos lloyds "${delimited[@]}")"
  seed ingest "$f" "$(pos lloyds "${layouts[@]}")"
done
for f in fixtures/spreadsheets/*.xls* fixtures/hostile/*.xls* fixtures/hostile/*.ods; do seed ingest "$f" "$(pos lloyds "${layouts[@]}")"; done
for f in $(find fixtures -name '*.toml' -path '*case*') fixtures/hostile/cases/*.toml; do
  cp "$f" "$C/case_file/$(echo "$f" | tr '/' '_')"
done
for f in rules/formats/*.toml fixtures/verify/layouts/*.toml fixtures/spreadsheets/lloyds-workbook.toml; do
  cp "$f" "$C/layout_file/$(basename "$f")"
done
i=0
for a in "1,234.56" "(250.00)" "-£12.50" "£-12.50" "40.00-" "250.00 DR" "1.234,56" "12.345" \
         "123456789012345678901234567890" "-0.00" ".75" "GBP 10.00" "01/02/2024" "2024-02-01" "29 Feb 2023"; do
  printf '%s' "$a" > "$C/amount/seed$i"; i=$((i+1))
done
# Reference files, counterparty rules and rule files: the list cargo test runs too.
readers=(rates period_balances declared_turnover sector_norms price_index assets gifts legitimate_sources)
while read -r target reader path; do
  [[ -z $target || $target == \#* ]] && continue
  out="$C/$target/$(echo "$path" | tr '/' '_')"  # two fixtures may share a file name
  if [[ $target == reference ]]; then
    sel=$(pos "$reader" "${readers[@]}")
    { printf "\\x$(printf %02x "$sel")"; cat "$path"; } > "$out.$sel"
  else
    cp "$path" "$out"
  fi
done < fuzz/reference-seeds.txt
# Crashes found earlier, replayed first.
if [[ -d fuzz/regressions ]]; then
  for d in fuzz/regressions/*/; do
    id=$(basename "$d")
    for f in "$d"*; do [[ -f $f ]] && seed ingest "$f" "$(pos "$id" "${layouts[@]}")"; done
  done
fi
# Corpora grown by earlier fuzzing and kept minimised (fuzz/keep-corpus.sh): their inputs
# join the seeds, so coverage reached on another machine is not lost.
for k in fuzz/kept/*.tar.gz; do
  [[ -f $k ]] || continue
  t=$(basename "$k" .tar.gz)
  mkdir -p "$C/$t"
  tar -xzf "$k" -C "$C/$t"
done
for t in "$C"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) inputs"; done
