#!/usr/bin/env bash
# Every stage at several sizes of synthetic case, each in its own process under
# /usr/bin/time -v, printed as one table: stage, rows, seconds, rows/s, time ÷ reference
# time, peak RSS.
#
#   benches/run.sh                    # 100,000 and 1,000,000 rows, release (bench) profile
#   benches/run.sh 100000 1000000 10000000
#   STAGES="detect trace" benches/run.sh 10000000
#   PROFILE=dev benches/run.sh 100000 # quick check without a release build
#
# E2E_BY_GROUPS=1 runs the e2e stage in batches of linked accounts (proceeds run --by-groups).
# E2E_NO_MEMORY_CHECK=1 runs the e2e stage even when the memory budget would refuse the case
# (as `proceeds run --no-memory-check`), e.g. 10M rows on a 24 GB machine.
# Environment: STAGES (default "synth e2e groups ingest verify detect trace schedule"), PROFILE
# (release | dev), BENCH_DIR (where cases and runs go; default $TMPDIR/proceeds-bench),
# SEED (default 1), BENCH_REPEAT (runs per timed section; default 3 up to 2M rows, else 1),
# BENCH_ON_PARQUET_CHUNKS=1 (also time detect and trace once on the ledger as the parquet read
# gives it, in many chunks, besides the one chunk per column a run hands them),
# BENCH_RULE_TIMES=1 (print detect's per-part and per-rule times of its last run, and the processor
# seconds of each run). Cases are
# generated once per size and seed and reused. The later stages
# read the ledger parquet, transfers and evidence that the e2e stage wrote; when e2e is not
# asked for, an untimed `prepare` step writes them. Raw lines are kept in
# $BENCH_DIR/results-*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 1000000)
PROFILE=${PROFILE:-release}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/proceeds-bench}
STAGES=${STAGES:-"synth e2e groups ingest verify detect trace schedule"}
SEED=${SEED:-1}
MONTHS=12
mkdir -p "$BENCH_DIR"

# Build once: the stages benchmark and the proceeds binary, same profile.
profile_args=()
[ "$PROFILE" != release ] && profile_args=(--profile "$PROFILE")
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ ! -d target ]; then
    echo "note: CARGO_TARGET_DIR is not set and ./target does not exist: this is a cold build (tens of minutes on two cores, several GB); set CARGO_TARGET_DIR to reuse a warm one" >&2
fi
echo "building ($PROFILE profile)..." >&2
json=$(cargo bench --no-run --locked --bench stages "${profile_args[@]}" --message-format=json)
stages_exe=$(jq -r 'select(.reason=="compiler-artifact" and .target.name=="stages") | .executable // empty' <<<"$json" | tail -1)
proceeds_exe=$(jq -r 'select(.reason=="compiler-artifact" and .target.name=="proceeds" and (.target.kind | index("bin"))) | .executable // empty' <<<"$json" | tail -1)
if [ -z "$stages_exe" ] || [ -z "$proceeds_exe" ]; then
    echo "could not find the built stages benchmark or proceeds binary" >&2
    exit 1
fi

results="$BENCH_DIR/results-$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$results"
wants() { [[ " $STAGES " == *" $1 "* ]]; }

# Run a command under /usr/bin/time -v; append its BENCH lines with the peak RSS (MB).
timed() {
    local out tv rss
    out=$(mktemp) tv=$(mktemp)
    if ! /usr/bin/time -v -o "$tv" "$@" >"$out"; then
        echo "failed: $*" >&2
        cat "$out" "$tv" >&2
        rm -f "$out" "$tv"
        return 1
    fi
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tv")
    grep '^BENCH ' "$out" | sed "s/\$/ peak_rss_mb=$rss/" | tee -a "$results" >&2
    rm -f "$out" "$tv"
}

for n in "${sizes[@]}"; do
    accounts=$(( n / (60 * MONTHS) ))
    [ "$accounts" -lt 4 ] && accounts=4
    case_dir="$BENCH_DIR/case-$n-s$SEED"
    run_dir="$BENCH_DIR/run-$n-s$SEED"
    params="rows=$n accounts=$accounts months=$MONTHS seed=$SEED"
    if wants synth || [ ! -f "$case_dir/.params" ] || [ "$(cat "$case_dir/.params")" != "$params" ]; then
        rm -rf "$case_dir" "$run_dir"
        tv=$(mktemp)
        start=$(date +%s.%N)
        /usr/bin/time -v -o "$tv" "$proceeds_exe" synth --out "$case_dir" --rows "$n" \
            --accounts "$accounts" --months "$MONTHS" --seed "$SEED" >"$tv.out"
        end=$(date +%s.%N)
        rows=$(sed -n 's/^wrote [0-9]* accounts, \([0-9]*\) transactions.*/\1/p' "$tv.out")
        rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tv")
        echo "BENCH stage=synth format=csv rows=$rows seconds=$(echo "$end - $start" | bc) ref=none peak_rss_mb=$rss" |
            tee -a "$results" >&2
        echo "$params" >"$case_dir/.params"
        rm -f "$tv" "$tv.out"
    fi
    if wants e2e; then
        rm -rf "$run_dir"
        timed "$stages_exe" e2e "$case_dir" "$run_dir"
    elif [ ! -f "$run_dir/ledger.parquet" ]; then
        "$stages_exe" prepare "$case_dir" "$run_dir" >&2
    fi
    if wants groups; then
        # `proceeds groups`: the link pass and the groups (docs/streaming.md, step 1).
        groups_dir="$BENCH_DIR/groups-$n-s$SEED"
        rm -rf "$groups_dir"
        tv=$(mktemp)
        start=$(date +%s.%N)
        /usr/bin/time -v -o "$tv" "$proceeds_exe" groups "$case_dir/case.toml" --out "$groups_dir" >"$tv.out"
        end=$(date +%s.%N)
        rows=$(sed -n 's/^[0-9]* accounts, \([0-9]*\) rows, in \([0-9]*\) groups.*/\1/p' "$tv.out")
        groups=$(sed -n 's/^[0-9]* accounts, [0-9]* rows, in \([0-9]*\) groups.*/\1/p' "$tv.out")
        largest=$(sed -n 's/^largest group: .*accounts, \([0-9]*\) rows.*/\1/p' "$tv.out")
        rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tv")
        echo "BENCH stage=groups format=all rows=$rows seconds=$(echo "$end - $start" | bc) ref=none groups=$groups largest_group_rows=$largest peak_rss_mb=$rss" |
            tee -a "$results" >&2
        rm -f "$tv" "$tv.out"
    fi
    for stage in ingest verify detect trace schedule; do
        wants "$stage" && timed "$stages_exe" "$stage" "$case_dir" "$run_dir"
    done
done

# One table. Ingest per format shares its process's peak RSS with the "all" line.
echo
echo "profile: $PROFILE; $(nproc) cores; $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo); $(date -u +%Y-%m-%d); raw lines: $results"
echo
awk '
function val(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
BEGIN {
    print "| stage | format | rows | seconds | rows/s | reference | ref. seconds | × reference time | peak RSS (MB) |"
    print "|---|---|---:|---:|---:|---|---:|---:|---:|"
}
{
    s = val("seconds"); r = val("rows"); rs = val("ref_seconds"); ref = val("ref")
    rate = (s > 0) ? sprintf("%.0f", r / s) : "-"
    ratio = (ref != "none" && val("ratio") != "") ? val("ratio") : "-"
    rss = (val("stage") == "ingest" && val("format") != "all") ? "" : val("peak_rss_mb")
    printf "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n", val("stage"), val("format"), r, s, rate, ref, (rs == "" ? "-" : rs), ratio, rss
}' "$results"
