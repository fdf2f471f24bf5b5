#!/usr/bin/env bash
# The rebuild benchmark of `fluxsight central` (issue 18; reference/fleet-scale.md §7.14):
# PARTITIONS partitions x PER_PARTITION records of lookback (generated Flux traffic,
# `fluxsight-gen`, turned into the signals a sidecar publishes), on a tansu broker
# started as the tests start it (scripts/tansu.sh, memory storage, loopback). Prints:
#   - the rebuild: a member taking the partitions over rehydrates the whole lookback;
#     the slowest partition's fluxsight_central_partition_rebuild_seconds, records/s,
#     peak RSS; target: <= 20 s for 6 x 600,000 on the 2-core machine;
#   - live throughput: the same records correlated live (outputs to a file sink), in
#     records/s per process.
# Both from one process (`examples/central_bench.rs` does the producing, starting
# `fluxsight central` and reading its /metrics).
#
# Usage: scripts/central-bench.sh [PER_PARTITION]    (default 600000)
# Env:   PARTITIONS (6) SEED (1) OBJECTS (1000) TENANTS (20)
#        PROFILE (release: the figures; `dev` only checks the script works, its numbers
#        mean nothing) WORK (a temporary directory, removed unless KEEP=1)
#        TIMEOUT_SECS (900 per phase) PORT (a free one)
# The broker holds every record in memory: 6 x 600,000 signals are about 1.3 GB.
set -euo pipefail

PER_PARTITION=${1:-600000}
PARTITIONS=${PARTITIONS:-6}
SEED=${SEED:-1}
OBJECTS=${OBJECTS:-1000}
TENANTS=${TENANTS:-20}
PROFILE=${PROFILE:-release}
TIMEOUT_SECS=${TIMEOUT_SECS:-900}

cd "$(dirname "$0")/.."

case "$PROFILE" in
  release) FLAGS=(--release); DIR=target/release ;;
  dev) FLAGS=(); DIR=target/debug ;;
  *) FLAGS=(--profile "$PROFILE"); DIR="target/$PROFILE" ;;
esac

echo "central-bench: building ($PROFILE)"
cargo build "${FLAGS[@]}" --locked --quiet --bin fluxsight --example central_bench
cargo build "${FLAGS[@]}" --locked --quiet -p fluxsight-testkit --bin fluxsight-gen

scripts/tansu.sh path >/dev/null || scripts/tansu.sh install

WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then scripts/tansu.sh stop "$BROKER_PID" || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "central-bench: kept $WORK"; fi
}
trap cleanup EXIT

# Lines for PER_PARTITION signals (a heartbeat per 10 s of record time comes on top of
# the records; 5 % spare), spread over the last 5 hours: inside the 6 h lookback on a
# broker that looks offsets up by record time too.
LINES=$(( PER_PARTITION * 105 / 100 ))
START=$(date -u -d '-5 hours' +%Y-%m-%dT%H:%M:%SZ)
CORPUS="$WORK/corpus.log"
echo "central-bench: generating $LINES lines (seed $SEED) from $START over 5h"
"$DIR/fluxsight-gen" --lines "$LINES" --objects "$OBJECTS" --tenants "$TENANTS" \
  --seed "$SEED" --start "$START" --span 5h >"$CORPUS"

BROKER_PID=$(scripts/tansu.sh start "$PORT" "$WORK/tansu.log")
echo "central-bench: tansu on 127.0.0.1:$PORT (pid $BROKER_PID), $PARTITIONS partitions x $PER_PARTITION records"

"$DIR/examples/central_bench" \
  --bootstrap "127.0.0.1:$PORT" \
  --bin "$DIR/fluxsight" \
  --input "$CORPUS" \
  --partitions "$PARTITIONS" \
  --per-partition "$PER_PARTITION" \
  --work "$WORK" \
  --timeout-secs "$TIMEOUT_SECS"
