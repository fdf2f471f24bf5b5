#!/usr/bin/env bash
# The test command: installs what the end-to-end tests need (python3 for the Kubernetes
# API emulator, a real Prometheus Alertmanager, the tansu Kafka-compatible broker), then
# builds and runs every test, pattern example, pipeline validation and the scenario
# scoring. One build profile (debug) serves the tests and the checks below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
scripts/alertmanager.sh install
./scripts/tansu.sh install
cargo test --locked --all-targets
BIN=target/debug/fluxsight
echo "== pattern examples"
"$BIN" patterns test
echo "== pipeline and config files"
for f in pipelines/*.yaml; do
  [ -e "$f" ] || continue
  "$BIN" validate "$f"
done
if [ -d ../shared/samples/scenarios ]; then
  echo "== scenario scoring"
  python3 ../shared/tools/score-scenarios.py --bin "$BIN" --dir ../shared/samples/scenarios
fi
