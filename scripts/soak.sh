#!/usr/bin/env bash
# Soak: a steady load through the live pipeline, sampled every SAMPLE seconds; fails when
# memory or file descriptors grow after the warm-up.
#
#   DURATION=1800 RATE=50000 bash scripts/soak.sh          # the issue's 30 min at 50k/s
#   DURATION=120 RATE=10000 bash scripts/soak.sh           # a short check
#
# What runs: `fluxsight run --no-kube` follows a file that `fluxsight-gen --rate` feeds
# at RATE lines/s in real time (each line stamped with the time it is written; the file
# is rotated by rename every ROTATE_MB, as logrotate would), with four outputs: findings
# on stdout (to /dev/null), a file sink, a webhook sink (a local Python server that
# counts what it receives) and a Kafka sink (tansu from scripts/tansu.sh; skipped with a
# note when not installed or KAFKA=0). Every SAMPLE s it records RSS, open fds, the
# /metrics counters and gauges (lines read, records, channel depth, per-sink backlog and
# spool bytes, sent, the correlator's state entries and findings) and the lines fed,
# into $OUT/soak.csv, then prints a summary: RSS after warm-up vs at the end and its
# slope, fd range, state entries, deepest queues, fed vs processed rates, and PASS/FAIL
# on "no growth after warm-up" (RSS at the end <= 1.1 x the warm-up maximum, fds within
# +-5).
#
# Settings (environment): DURATION (s, 1800), RATE (lines/s, 50000), WARMUP (s, 300: at
# 50k/s over 1,000 objects the per-object histories are full after ~3.5 min), SAMPLE
# (s, 10), ROTATE_MB (256), OBJECTS (1000), TENANTS (20), KAFKA (1), KEEP (0: delete the
# fed files at the end), BIN (default: target/release/fluxsight, built when missing),
# GEN (the generator, default: target/release/fluxsight-gen from testkit/, built when missing),
# OUT (default: target/soak/<UTC time>); SUMMARY=<csv> only prints the summary of an
# earlier run's samples.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-1800}"
RATE="${RATE:-50000}"
WARMUP="${WARMUP:-300}"
SAMPLE="${SAMPLE:-10}"
ROTATE_MB="${ROTATE_MB:-256}"
KAFKA="${KAFKA:-1}"
OUT="${OUT:-target/soak/$(date -u +%Y%m%dT%H%M%SZ)}"
BIN="${BIN:-target/release/fluxsight}"
GEN="${GEN:-target/release/fluxsight-gen}"
# The summary of a samples file (also: `SUMMARY=path/to/soak.csv bash scripts/soak.sh`).
summarize() {
python3 - "$1" "$WARMUP" "$RATE" <<'PY'
import csv, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
warmup, rate = float(sys.argv[2]), float(sys.argv[3])
warm = [r for r in rows if r["t_s"] <= warmup] or rows[:1]
after = [r for r in rows if r["t_s"] > warmup] or rows[-1:]
mib = lambda k: k / 1024
warm_max = max(r["rss_kib"] for r in warm)
end = rows[-1]
xs = [r["t_s"] / 60 for r in after]; ys = [mib(r["rss_kib"]) for r in after]
if len(xs) > 1:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
else:
    slope = 0.0
def slope_of(rs):
    xs = [r["t_s"] / 60 for r in rs]; ys = [mib(r["rss_kib"]) for r in rs]
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
last_third = slope_of(rows[len(rows) * 2 // 3:])
fds = [r["fds"] for r in after]
span = end["t_s"] or 1
fed_rate, done_rate = end["fed"] / span, end["lines"] / span
# Steady state: after the warm-up only.
a0 = after[0]
steady = (end["lines"] - a0["lines"]) / ((end["t_s"] - a0["t_s"]) or 1)
rss_ok = mib(end["rss_kib"]) <= mib(warm_max) * 1.1
fd_ok = max(fds) - min(fds) <= 5
print(f"soak summary ({int(end['t_s'])} s, target {int(rate)} lines/s, warm-up {int(warmup)} s)")
print(f"  RSS: warm-up max {mib(warm_max):.1f} MiB, end {mib(end['rss_kib']):.1f} MiB, "
      f"max after warm-up {max(ys):.1f} MiB, slope after warm-up {slope:+.2f} MiB/min, "
      f"over the last third {last_third:+.2f} MiB/min")
print(f"  fds: min {int(min(fds))} max {int(max(fds))} after warm-up")
if "state_entries" in after[0]:
    st = [r["state_entries"] for r in after]; fi = [r["findings"] for r in after]
    print(f"  correlator state after warm-up: entries {int(min(st))}..{int(max(st))}, "
          f"findings {int(min(fi))}..{int(max(fi))}")
print(f"  queues: channel depth max {int(max(r['queue_depth'] for r in rows))}, "
      f"sink backlog max {int(max(r['backlog'] for r in rows))}, "
      f"spool bytes max {int(max(r['spool_bytes'] for r in rows))}")
print(f"  input: fed {int(end['fed'])} lines ({fed_rate:.0f}/s), read {int(end['lines'])} "
      f"({done_rate:.0f}/s; {steady:.0f}/s after warm-up), records {int(end['records'])}; lag at end {int(end['fed'] - end['lines'])} lines"
      f" -> {'keeps up' if end['fed'] - end['lines'] <= rate * 2 else 'does NOT keep up'}")
print(f"  delivered: {int(end['sent'])} deliveries over all sinks, webhook requests {int(end['webhook_requests'])}")
verdict = "PASS" if rss_ok and fd_ok else "FAIL"
print(f"  no growth after warm-up (RSS end <= 1.1 x warm-up max, fds within 5): {verdict}")
sys.exit(0 if verdict == "PASS" else 1)
PY
}
if [ -n "${SUMMARY:-}" ]; then
  summarize "$SUMMARY"
  exit
fi

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

if [ ! -x "$BIN" ]; then
  echo "soak: building $BIN"
  cargo build --release --bin fluxsight
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
if [ ! -x "$GEN" ]; then
  echo "soak: building $GEN"
  cargo build --release -p fluxsight-testkit --bin fluxsight-gen
fi
GEN="$(cd "$(dirname "$GEN")" && pwd)/$(basename "$GEN")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # The fed files and spools are large; the samples and logs stay (KEEP=1 keeps all).
  [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/feed" "$OUT/state"
}
trap cleanup EXIT

# 1. Traffic: `fluxsight-gen --rate` writes RATE lines/s in real time, each line stamped
#    with the time it is written (so the correlator sees a live cluster: windows,
#    resolution and repeats run on real time), OBJECTS Flux objects in TENANTS tenants.
OBJECTS="${OBJECTS:-1000}"
TENANTS="${TENANTS:-20}"
echo "soak: traffic: $OBJECTS objects, $TENANTS tenants, mix current, seed 7, stamped in real time"

# 2. Webhook receiver: answers 200 and counts requests and bytes (GET /count).
HOOK_PORT=$(free_port)
python3 - "$HOOK_PORT" > "$OUT/webhook.log" 2>&1 <<'PY' &
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
n = {"requests": 0, "bytes": 0}
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            n["requests"] += 1
            n["bytes"] += len(body)
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def do_GET(self):
        with lock:
            b = f'{n["requests"]} {n["bytes"]}'.encode()
        self.send_response(200); self.send_header("content-length", str(len(b))); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
PIDS+=($!)

# 3. Kafka (optional).
KAFKA_SINK=""
if [ "$KAFKA" = 1 ] && TANSU=$(scripts/tansu.sh path 2>/dev/null); then
  KPORT=$(free_port)
  KPID=$(scripts/tansu.sh start "$KPORT" "$OUT/tansu.log")
  PIDS+=("$KPID")
  for t in fluxsight.findings.v1 fluxsight.audit.v1; do
    "$TANSU" topic create "$t" --broker "tcp://127.0.0.1:$KPORT" --partitions 2 >/dev/null 2>&1 || true
  done
  KAFKA_SINK="  - name: kafka
    type: kafka
    brokers: \"127.0.0.1:$KPORT\""
  echo "soak: kafka (tansu) on 127.0.0.1:$KPORT"
else
  echo "soak: no Kafka sink (KAFKA=0 or tansu not installed: scripts/tansu.sh install)"
fi

# 4. The pipeline.
FEED="$OUT/feed/source-controller.log"
mkdir -p "$OUT/feed"
: > "$FEED"
cat > "$OUT/pipeline.yaml" <<EOF
cluster: soak
sinks:
  - name: file
    type: file
    path: $OUT/findings.jsonl
    max_bytes: 67108864
    max_files: 2
  - name: hook
    type: webhook
    url: http://127.0.0.1:$HOOK_PORT/in
    max_batch: 100
$KAFKA_SINK
delivery:
  state_dir: $OUT/state
EOF
"$BIN" validate "$OUT/pipeline.yaml" >/dev/null
PORT=$(free_port)
"$BIN" run --no-kube --config "$OUT/pipeline.yaml" --input "$FEED" \
  --listen "127.0.0.1:$PORT" --output native > /dev/null 2> "$OUT/fluxsight.log" &
FX=$!
PIDS+=($FX)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

# 5. The feed: the paced generator's output appended to the followed file, which is
#    rotated by rename every ROTATE_MB as logrotate would; the appender writes its line
#    total to fed.count. A pipeline that falls behind never slows the generator: the
#    lag shows as fed minus read.
"$GEN" --rate "$RATE" --lines $(( RATE * DURATION )) --mix current --seed 7 \
  --objects "$OBJECTS" --tenants "$TENANTS" 2> "$OUT/gen.log" | \
python3 -c '
import os, sys
feed, rotate, count_file = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3]
src = sys.stdin.buffer
out = open(feed, "ab", buffering=0)
fed = size = 0
while True:
    b = src.read1(1 << 20)
    if not b:
        break
    out.write(b)
    fed += b.count(b"\n"); size += len(b)
    if size >= rotate and b.endswith(b"\n"):
        out.close(); os.replace(feed, feed + ".1")
        out = open(feed, "ab", buffering=0); size = 0
    with open(count_file + ".tmp", "w") as c:
        c.write(str(fed))
    os.replace(count_file + ".tmp", count_file)
out.close()
' "$FEED" "$ROTATE_MB" "$OUT/fed.count" &
GEN=$!
PIDS+=($GEN)

# 6. Sampling.
CSV="$OUT/soak.csv"
echo "t_s,rss_kib,fds,fed,lines,records,queue_depth,backlog,spool_bytes,sent,webhook_requests,state_entries,findings" > "$CSV"
metric_sum() { # sum of every series of a metric name in $M
  awk -v m="$1" '$1 ~ "^"m"({|$)" { s += $2 } END { printf "%d", s }' <<< "$M"
}
metric_of() { # one series, by its exact name and labels
  awk -v m="$1" '$1 == m { v = $2 } END { printf "%d", v }' <<< "$M"
}
T0=$(date +%s)
echo "soak: feeding $RATE lines/s for ${DURATION}s (pid $FX, metrics :$PORT, output $OUT)"
while :; do
  sleep "$SAMPLE"
  T=$(( $(date +%s) - T0 ))
  kill -0 "$FX" 2>/dev/null || { echo "soak: fluxsight exited early; see $OUT/fluxsight.log"; exit 1; }
  RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$FX/status")
  FDS=$(ls "/proc/$FX/fd" | wc -l)
  M=$(curl -sf "http://127.0.0.1:$PORT/metrics" || true)
  FED=$(cat "$OUT/fed.count" 2>/dev/null || echo 0)
  HOOK=$(curl -sf "http://127.0.0.1:$HOOK_PORT/count" | cut -d' ' -f1 || echo 0)
  echo "$T,$RSS,$FDS,$FED,$(metric_sum fluxsight_source_lines_total),$(metric_sum fluxsight_records_total),$(metric_sum fluxsight_queue_depth),$(metric_sum fluxsight_sink_backlog),$(metric_sum fluxsight_sink_spool_bytes),$(metric_sum fluxsight_sink_sent_total),${HOOK:-0},$(metric_sum fluxsight_state_entries),$(metric_of 'fluxsight_state_entries{map="findings"}')" >> "$CSV"
  tail -1 "$CSV"
  [ "$T" -ge "$DURATION" ] && break
done
wait "$GEN" 2>/dev/null || true
kill -TERM "$FX"
wait "$FX" 2>/dev/null || true
grep "sink" "$OUT/fluxsight.log" | tail -5 || true

# 7. Summary.
summarize "$CSV"
