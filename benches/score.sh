#!/usr/bin/env bash
# Detection quality on synthetic cases: for each seed and each variation of the typology
# shapes, write a case, run ingest + verify + detect over it, and score the findings and
# matched transfers against the labels (`proceeds synth score`).
#
#   benches/score.sh                    # PROCEEDS=target/release/proceeds by default
#   PROCEEDS=path/to/proceeds SEEDS="1 2 3" benches/score.sh
#
# The variations are fixed here, not chosen per result: "default" is the generator's own
# shapes; "patient" spreads smaller structured deposits over more days, mules keep more and
# hold it longer, fronts bank less cash against a higher declared turnover; "blunt" is the
# opposite. Scores go to $SCORE_DIR (default $TMPDIR/proceeds-score).
set -euo pipefail
cd "$(dirname "$0")/.."

PROCEEDS=${PROCEEDS:-${CARGO_TARGET_DIR:-target}/release/proceeds}
SEEDS=${SEEDS:-"1 2 3"}
ACCOUNTS=${ACCOUNTS:-1000}
MONTHS=${MONTHS:-6}
SCORE_DIR=${SCORE_DIR:-${TMPDIR:-/tmp}/proceeds-score}
mkdir -p "$SCORE_DIR"

declare -A VARIATIONS=(
    [default]=""
    [patient]="--structuring-deposits 5 --structuring-gap-days 4 --structuring-low-pounds 6000 --mule-senders 6 --mule-out-percent 80 --mule-dwell-days 3 --front-cash-percent 70 --front-declared-percent 50"
    [blunt]="--structuring-deposits 2 --structuring-gap-days 1 --structuring-low-pounds 9000 --mule-senders 20 --mule-out-percent 99 --mule-dwell-days 0 --front-cash-percent 95 --front-declared-percent 10"
)

for variation in default patient blunt; do
    for seed in $SEEDS; do
        case_dir="$SCORE_DIR/$variation-s$seed"
        out_dir="$SCORE_DIR/$variation-s$seed-out"
        rm -rf "$case_dir" "$out_dir"
        # shellcheck disable=SC2086
        "$PROCEEDS" synth --out "$case_dir" --seed "$seed" --accounts "$ACCOUNTS" \
            --months "$MONTHS" ${VARIATIONS[$variation]} >/dev/null
        "$PROCEEDS" detect "$case_dir/case.toml" --out "$out_dir" --quiet
        echo "## $variation, seed $seed: proceeds synth --out DIR --seed $seed --accounts $ACCOUNTS --months $MONTHS ${VARIATIONS[$variation]}"
        "$PROCEEDS" synth score "$case_dir" "$out_dir" | tail -n +3
        echo
    done
done
