#!/usr/bin/env bash
# Live-pipeline latency, record in → finding out, on loopback (issue 6: p99 ≤ 50 ms at
# 10,000 records/s).
#
#   bash scripts/latency.sh                     # 10,000 records/s for 30 s (+5 s warm-up)
#   RATE=20000 SECONDS_=60 bash scripts/latency.sh
#
# What runs: `fluxsight run --no-kube` (release build) with its Flux event receiver on a
# loopback port and one webhook sink; `examples/latency_load.rs` POSTs Flux event payloads
# to the receiver at RATE over CONNECTIONS keep-alive connections (background successes
# of OBJECTS objects, and every TRIGGER_EVERY-th record a forbidden error about a new
# Kustomization, which fires rbac_denied at once) and serves the webhook, timing each
# trigger from just before its POST to the arrival of its finding. With SPOOL=1 (the
# default) the sink has a write-ahead spool (`delivery.state_dir`, fsync interval), as
# in production. Prints achieved rate, p50/p90/p99/max and triggers without a finding.
#
# Settings (environment): RATE (10000), SECONDS_ (30), WARMUP (5), TRIGGER_EVERY (100),
# CONNECTIONS (16), OBJECTS (1000), SPOOL (1), BIN (target/release/fluxsight) and LOAD
# (target/release/examples/latency_load), each built when missing, CPU (unset: no pinning; e.g. CPU=0 pins fluxsight to one core and the load
# generator to the other).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE="${RATE:-10000}"
SECS="${SECONDS_:-30}"
WARMUP="${WARMUP:-5}"
TRIGGER_EVERY="${TRIGGER_EVERY:-100}"
CONNECTIONS="${CONNECTIONS:-16}"
OBJECTS="${OBJECTS:-1000}"
SPOOL="${SPOOL:-1}"
BIN="${BIN:-target/release/fluxsight}"

if [ ! -x "$BIN" ]; then
  cargo build --release --locked --bin fluxsight
fi
LOAD="${LOAD:-target/release/examples/latency_load}"
if [ ! -x "$LOAD" ]; then
  cargo build --release --locked --quiet --example latency_load
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
HOOK=$(free_port)

STATE=""
if [ "$SPOOL" = 1 ]; then
  STATE="delivery:
  state_dir: $WORK/state
  fsync: interval"
fi
cat > "$WORK/pipeline.yaml" <<EOF
cluster: latency
receiver:
  client_rate: 1000000
  client_burst: 1000000
  global_rate: 1000000
  global_burst: 1000000
  max_connections: 256
sinks:
  - name: hook
    type: webhook
    url: http://127.0.0.1:$HOOK/findings
$STATE
EOF
"$BIN" validate "$WORK/pipeline.yaml" >/dev/null

pin() { if [ -n "${CPU:-}" ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
OTHER_CPU=$(( ${CPU:-0} == 0 ? 1 : 0 ))

pin "${CPU:-0}" "$BIN" run --no-kube --config "$WORK/pipeline.yaml" --listen "127.0.0.1:$PORT" \
  --output none 2> "$WORK/fluxsight.log" &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "latency: fluxsight not ready" >&2; cat "$WORK/fluxsight.log" >&2; exit 1; }

echo "latency: $RATE records/s for $SECS s (+$WARMUP s warm-up), a trigger every $TRIGGER_EVERY records, spool $SPOOL"
( pin "$OTHER_CPU" "$LOAD" --target "http://127.0.0.1:$PORT/events" --listen "127.0.0.1:$HOOK" \
  --rate "$RATE" --seconds "$SECS" --warmup "$WARMUP" --trigger-every "$TRIGGER_EVERY" \
  --connections "$CONNECTIONS" --objects "$OBJECTS" )
RSS=$(awk '/VmHWM/ {print $2}' "/proc/${PIDS[0]}/status" 2>/dev/null || echo 0)
echo "fluxsight peak RSS: $((RSS / 1024)) MiB"
