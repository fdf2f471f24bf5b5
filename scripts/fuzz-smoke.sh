#!/usr/bin/env bash
# Fuzz smoke run: installs cargo-fuzz if absent, builds every target in fuzz/ and runs
# each one from its committed seeds (fuzz/seeds/<target>) for a share of
# FUZZ_SMOKE_SECS (default 60 s in total, at least FUZZ_MIN_SECS = 4 s per target).
# Prints execs, execs/s and corpus size per target; exits 1 if any target crashed,
# leaked, hung or broke an invariant (the input is left in fuzz/artifacts/<target>/).
#
# Only a stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags
# cargo-fuzz passes. Built without a sanitizer (-s none): the harnesses look for
# panics and broken invariants in safe Rust, and ASan would double build and run time.
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL_SECS=${FUZZ_SMOKE_SECS:-60}
MIN_SECS=${FUZZ_MIN_SECS:-4}
export RUSTC_BOOTSTRAP=1
TRIPLE=x86_64-unknown-linux-gnu

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
echo "== cargo fuzz build"
cargo fuzz build -s none

mapfile -t targets < <(cargo fuzz list)
n=${#targets[@]}
per=$(( (TOTAL_SECS + n - 1) / n ))
(( per < MIN_SECS )) && per=$MIN_SECS
echo "== running $n targets for ${per}s each"

dict_for() {
  case "$1" in
    load_*) echo "-dict=dicts/yaml.dict" ;;
    decode | envelope | parse_* | render_row) echo "-dict=dicts/logs.dict" ;;
  esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/smoke.log"
  # shellcheck disable=SC2046 # the dict flag is one word or none
  if "target/$TRIPLE/release/$t" "corpus/$t" "seeds/$t" \
      -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" $(dict_for "$t") >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
    tail -n 40 "$log"
  fi
  execs=$(LC_ALL=C sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(LC_ALL=C sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corp=$(grep -ao 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
  summary+=("$(printf '%-20s %-6s %10s execs %8s/s  corpus %s' "$t" "$status" \
    "${execs:-?}" "${rate:-?}" "${corp:-?}")")
done

echo "== fuzz smoke summary (${per}s per target)"
printf '%s\n' "${summary[@]}"
if (( ${#failed[@]} > 0 )); then
  echo "fuzz smoke FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
