#!/usr/bin/env bash
# Throughput and peak RSS of fluxsight against floors and a ceiling measured in the same
# run, on two corpora: a generated one (LINES lines) and the development captures
# (../shared/samples/scenarios/*.log) ten times over (issues 6, 15):
#   wc -l                 I/O ceiling (reading the file, nothing else)
#   serde_floor           in-project serde_json-only parse loop (library floor)
#   jq -cR 'fromjson?'    parse-only floor of a common tool
#   fluxsight classify    parse + classify, one row per line to /dev/null
#   fluxsight replay      parse + classify + correlate + findings to /dev/null
#   fluxsight ... (1 core) classify and replay pinned to one core, one decode thread:
#                         the scaling with cores
# Each is run RUNS times; medians are printed, with ratios from the same run.
#
# Usage: scripts/bench.sh [LINES]          (default 1,000,000 lines, ≈400 B/line)
# Env:   OBJECTS (1000) TENANTS (20) SEED (1) MIX (all) RUNS (5)
#        CPUS (0-1: the cores everything is pinned to) CPU1 (0: the one-core runs)
#        SHARED (../shared: where the development captures are; skipped when absent)
#        FLUXSIGHT=binary (default target/release/fluxsight, built if missing)
#        KEEP=1 keeps the corpus in $WORK; SKIP_JQ=1 skips jq (slow)
set -euo pipefail

LINES=${1:-1000000}
OBJECTS=${OBJECTS:-1000}
TENANTS=${TENANTS:-20}
SEED=${SEED:-1}
MIX=${MIX:-all}
RUNS=${RUNS:-5}
CPUS=${CPUS:-0-1}
CPU1=${CPU1:-0}
SHARED=${SHARED:-../shared}

cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 && return
    echo "bench: installing $2" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2" >/dev/null
}
need jq jq
need taskset util-linux
if [ ! -x /usr/bin/time ] || ! /usr/bin/time -f %M true >/dev/null 2>&1; then
    need /usr/bin/time time
fi

BIN=${FLUXSIGHT:-target/release/fluxsight}
if [ ! -x "$BIN" ] || [ -z "${FLUXSIGHT:-}" ]; then
    cargo build --release --locked --quiet --bin fluxsight
fi
cargo build --release --locked --quiet --example serde_floor
FLOOR=target/release/examples/serde_floor

WORK=${WORK:-$(mktemp -d)}
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi

# run NAME CPUS CMD...: RUNS timed runs; records "seconds peak_kib" per run in $WORK/NAME.runs
run() {
    local name=$1 cpus=$2
    shift 2
    : >"$WORK/$name.runs"
    for _ in $(seq "$RUNS"); do
        cat "$CORPUS" >/dev/null # warm page cache equally for everyone
        /usr/bin/time -f '%e %M' -o "$WORK/$name.t" taskset -c "$cpus" "$@" >/dev/null 2>"$WORK/$name.err" ||
            { echo "bench: $name failed:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
        tail -n1 "$WORK/$name.t" >>"$WORK/$name.runs"
    done
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
secs() { cut -d' ' -f1 <"$WORK/$1.runs" | median; }
rss() { cut -d' ' -f2 <"$WORK/$1.runs" | median; }

report() {
    local name=$1 label=$2 s kib
    s=$(secs "$name")
    kib=$(rss "$name")
    awk -v n="$label" -v s="$s" -v l="$NLINES" -v b="$BYTES" -v k="$kib" 'BEGIN {
        if (s <= 0) s = 0.01
        printf "%-28s %8.2f s  %10.0f lines/s  %7.1f MiB/s  peak RSS %6.1f MiB\n", n, s, l / s, b / s / 1048576, k / 1024
    }'
}

# bench_corpus TITLE: every command over $CORPUS, then the ratios of this run.
bench_corpus() {
    NLINES=$(wc -l <"$CORPUS")
    BYTES=$(wc -c <"$CORPUS")
    printf '== %s: %d lines, %.1f MiB (%.0f B/line)\n' "$1" "$NLINES" \
        "$(echo "$BYTES / 1048576" | bc -l)" "$(echo "$BYTES / $NLINES" | bc -l)"
    printf 'runs: %d per command, pinned to CPUs %s (one-core runs: CPU %s), medians\n\n' \
        "$RUNS" "$CPUS" "$CPU1"
    run wc "$CPUS" wc -l "$CORPUS"
    run serde "$CPUS" "$FLOOR" "$CORPUS"
    if [ -z "${SKIP_JQ:-}" ]; then run jq "$CPUS" jq -cR 'fromjson?' "$CORPUS"; fi
    run classify "$CPUS" "$BIN" classify "$CORPUS"
    run replay "$CPUS" "$BIN" replay "$CORPUS"
    run classify1 "$CPU1" "$BIN" classify --threads 1 "$CORPUS"
    run replay1 "$CPU1" "$BIN" replay --threads 1 "$CORPUS"
    report wc "wc -l (ceiling)"
    report serde "serde_json loop"
    if [ -z "${SKIP_JQ:-}" ]; then report jq "jq fromjson? (floor)"; fi
    report classify "fluxsight classify"
    report replay "fluxsight replay"
    report classify1 "fluxsight classify (1 core)"
    report replay1 "fluxsight replay (1 core)"
    echo
    awk -v r="$(secs replay)" -v c="$(secs classify)" -v r1="$(secs replay1)" \
        -v c1="$(secs classify1)" -v w="$(secs wc)" -v s="$(secs serde)" \
        -v jq="$([ -z "${SKIP_JQ:-}" ] && secs jq || echo 0)" -v l="$NLINES" \
        -v rk="$(rss replay)" 'BEGIN {
        if (r <= 0) r = 0.01; if (c <= 0) c = 0.01
        if (jq > 0) printf "replay vs jq floor:        %.2fx  (target >= 8x)\n", jq / r
        printf "replay vs serde_json loop: %.2fx\n", s / r
        printf "replay vs wc -l ceiling:   %.3fx\n", w / r
        printf "replay / classify:         %.0f%%\n", 100 * c / r
        printf "replay:                    %.0f lines/s (target >= 1,000,000)\n", l / r
        printf "classify:                  %.0f lines/s (target >= 2,000,000)\n", l / c
        printf "scaling 1 -> 2 cores:      replay %.2fx, classify %.2fx\n", r1 / r, c1 / c
        printf "replay peak RSS:           %.1f MiB\n", rk / 1024
    }'
    echo
}

CORPUS="$WORK/bench-$LINES-$OBJECTS-$TENANTS-$SEED-$MIX.log"
if [ ! -s "$CORPUS" ]; then
    cargo run --release --locked --quiet -p fluxsight-testkit --bin fluxsight-gen -- \
        --lines "$LINES" --objects "$OBJECTS" --tenants "$TENANTS" --seed "$SEED" \
        --mix "$MIX" >"$CORPUS"
fi
bench_corpus "generated: $OBJECTS objects, $TENANTS tenants, mix $MIX, seed $SEED (target: replay peak RSS <= 32 MiB)"

if ls "$SHARED"/samples/scenarios/*.log >/dev/null 2>&1; then
    CORPUS="$WORK/dev-captures-x10.log"
    for _ in $(seq 10); do cat "$SHARED"/samples/scenarios/*.log; done >"$CORPUS"
    bench_corpus "development captures x10 ($SHARED/samples/scenarios/*.log)"
else
    echo "== development captures: skipped ($SHARED/samples/scenarios absent)"
fi
