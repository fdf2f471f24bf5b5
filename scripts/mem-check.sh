#!/usr/bin/env bash
# Peak RSS and wall time of `fluxsight replay` over 1M generated lines (10k objects,
# 500 tenants, the `all` mix): the issue-3/issue-6 memory check (target < 128 MiB).
#
# Usage: scripts/mem-check.sh [LINES] [OBJECTS] [TENANTS]
# Env:   FLUXSIGHT=path/to/binary (default: target/release/fluxsight, built if missing)
#        FLUXSIGHT_GEN=path/to/fluxsight-gen, the generator (testkit/; default:
#        target/release/fluxsight-gen, built if missing)
#        SEED (default 1), MIX (default all), FAILURE_RATE (default 0.05), KEEP=1 keeps
#        the corpus in $WORK.
set -euo pipefail

LINES=${1:-1000000}
OBJECTS=${2:-10000}
TENANTS=${3:-500}
SEED=${SEED:-1}
MIX=${MIX:-all}
FAILURE_RATE=${FAILURE_RATE:-0.05}
TARGET_MIB=128

cd "$(dirname "$0")/.."

# GNU time reports the peak RSS; install it when absent.
if [ ! -x /usr/bin/time ] || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "mem-check: installing GNU time" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
fi

BIN=${FLUXSIGHT:-target/release/fluxsight}
if [ ! -x "$BIN" ]; then
    cargo build --release --quiet
fi
GEN=${FLUXSIGHT_GEN:-target/release/fluxsight-gen}
if [ ! -x "$GEN" ]; then
    cargo build --release --quiet -p fluxsight-testkit --bin fluxsight-gen
fi

WORK=${WORK:-$(mktemp -d)}
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi
CORPUS="$WORK/gen-$LINES-$OBJECTS-$TENANTS-$SEED.log"

"$GEN" --lines "$LINES" --objects "$OBJECTS" --tenants "$TENANTS" \
    --seed "$SEED" --mix "$MIX" --failure-rate "$FAILURE_RATE" >"$CORPUS"
BYTES=$(wc -c <"$CORPUS")

/usr/bin/time -v -o "$WORK/time.txt" "$BIN" replay "$CORPUS" >"$WORK/findings.jsonl"

RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt")
WALL=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$WORK/time.txt")
FINDINGS=$(wc -l <"$WORK/findings.jsonl")

awk -v kb="$RSS_KB" -v wall="$WALL" -v lines="$LINES" -v bytes="$BYTES" \
    -v findings="$FINDINGS" -v target="$TARGET_MIB" '
function secs(w,   n, p, s) {
    n = split(w, p, ":"); s = 0
    for (i = 1; i <= n; i++) s = s * 60 + p[i]
    return s
}
BEGIN {
    t = secs(wall); mib = kb / 1024
    printf "corpus:        %d lines, %.1f MiB (%.0f B/line)\n", lines, bytes / 1048576, bytes / lines
    printf "peak RSS:      %.1f MiB (target < %d MiB): %s\n", mib, target, (mib < target ? "ok" : "OVER")
    printf "wall time:     %.2f s\n", t
    printf "throughput:    %.0f lines/s, %.1f MB/s\n", lines / t, bytes / t / 1e6
    printf "findings out:  %d lines\n", findings
    exit (mib < target ? 0 : 1)
}'
