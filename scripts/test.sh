#!/usr/bin/env bash
# The test command: builds everything and runs every test, pattern example and
# pipeline validation. Needs only the Rust toolchain; installs nothing else yet.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
./scripts/tansu.sh install
cargo test --locked --all-targets
echo "== pattern examples"
./target/release/fluxsight patterns test
echo "== pipeline and config files"
for f in pipelines/*.yaml; do
  [ -e "$f" ] || continue
  ./target/release/fluxsight validate "$f"
done
if [ -d ../shared/samples/scenarios ]; then
  echo "== scenario scoring"
  python3 ../shared/tools/score-scenarios.py --bin target/release/fluxsight --dir ../shared/samples/scenarios
fi
