#!/usr/bin/env bash
# The test command. What it installs (nothing system-wide unless python3 is missing):
#   - python3 (stdlib only) for the Kubernetes API emulator: from apt only when absent
#     (that one step needs root or sudo);
#   - Prometheus Alertmanager: the Debian package unpacked into .tools/alertmanager
#     without root (scripts/alertmanager.sh), unless one is installed;
#   - the tansu Kafka-compatible broker: `cargo install` into ~/.cargo/bin (~6 min once).
# Then it builds the test targets of the workspace (fluxsight and testkit/) once (debug),
# runs every test binary (TEST_JOBS at a time, default 3: most end-to-end tests wait on
# sockets and child processes, so running binaries side by side shortens the wall time
# on 2 cores), compiles the criterion benches without running them (they run in
# scripts/bench.sh only), runs the pattern examples, validates every pipeline file and
# scores the scenarios when ../shared is present. It prints each phase's time and the
# total.
set -euo pipefail
cd "$(dirname "$0")/.."

T0=$(date +%s)
PHASE_T=$T0
phase() {
  local now
  now=$(date +%s)
  printf '== %s (previous phase %ds)\n' "$1" "$((now - PHASE_T))"
  PHASE_T=$now
}

phase "test dependencies"
bash scripts/install-test-deps.sh
scripts/alertmanager.sh install
./scripts/tansu.sh install

phase "build the test targets"
LIST=$(mktemp -t fluxsight-tests.XXXXXX)
LOGS=$(mktemp -d -t fluxsight-test-logs.XXXXXX)
trap 'rm -rf "$LIST" "$LOGS"' EXIT
cargo test --locked --workspace --lib --bins --tests --examples --no-run \
  --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["kind"][0] + ":" + m["target"]["name"] + "\t" + m["executable"])
' | sort -u >"$LIST"
echo "$(wc -l <"$LIST") test binaries"

phase "run the tests (${TEST_JOBS:=3} binaries at a time)"
# One binary: its output goes to a log; a line with its time and result is printed; the
# log is shown in full when it fails.
run_one() {
  local name=$1 exe=$2 log t0 rc=0
  log="$LOGS/${name//[:\/]/_}.log"
  t0=$(date +%s)
  "$exe" >"$log" 2>&1 || rc=$?
  local summary
  summary=$(grep -E '^test result:' "$log" | tail -1 || true)
  if [ "$rc" = 0 ]; then
    printf 'ok     %-32s %4ds  %s\n' "$name" "$(($(date +%s) - t0))" "$summary"
  else
    printf 'FAILED %-32s %4ds  exit %s\n' "$name" "$(($(date +%s) - t0))" "$rc"
    cat "$log"
    printf 'FAILED %s (log above)\n' "$name"
  fi
  return "$rc"
}
export -f run_one
export LOGS
# The longest binaries first, so the last slot does not start a slow one late.
ORDER="kafka_e2e fault_matrix alertmanager_e2e kube_e2e fault_deadletter http_faults reload"
sorted=$(
  for n in $ORDER; do grep -P "^test:$n\t" "$LIST" || true; done
  grep -v -P "^test:($(echo "$ORDER" | tr ' ' '|'))\t" "$LIST" || true
)
failed=0
printf '%s\n' "$sorted" | tr '\t' '\n' |
  xargs -d '\n' -n 2 -P "$TEST_JOBS" bash -c 'run_one "$0" "$1"' || failed=1
if [ "$failed" != 0 ]; then
  echo "tests FAILED (see FAILED lines above); total $(($(date +%s) - T0))s"
  exit 1
fi

phase "compile the benches (run by scripts/bench.sh, not here)"
cargo build --locked --benches

BIN=target/debug/fluxsight
phase "pattern examples"
"$BIN" patterns test
phase "pipeline and config files"
for f in pipelines/*.yaml; do
  [ -e "$f" ] || continue
  "$BIN" validate "$f"
done
if [ -d ../shared/samples/scenarios ]; then
  phase "scenario scoring"
  python3 ../shared/tools/score-scenarios.py --bin "$BIN" --dir ../shared/samples/scenarios
else
  echo "scenario scoring: skipped (../shared absent)"
fi
phase "done"
echo "test command total: $(($(date +%s) - T0))s"
