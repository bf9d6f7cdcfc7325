#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through cargo-fuzz) of what reroll reads from disk: stack
# files, -var-files, saved plans and --sim-state worlds.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS (default 3600) is split evenly between the targets: all four unless some are named
#   (stack, var_file, plan_file, sim_state).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz asks for a nightly
# compiler only for flags stable rustc also has behind RUSTC_BOOTSTRAP; no sanitizer is used
# (the code under test has no `unsafe` of its own), but debug assertions and overflow checks
# are on. Every input that panics, aborts, runs out of memory (2 GiB) or takes over a second
# stops that target (the table gives the seconds it ran) and is left in fuzz/artifacts/TARGET/; copy it into
# tests/fixtures/fuzz/TARGET/ and it is replayed by `cargo test --test fuzz_regressions`.
# Prints a Markdown table of what each target ran.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
total="${1:-3600}"
targets=(stack var_file plan_file sim_state)
if (($# > 1)); then
  targets=("${@:2}")
fi
each=$((total / ${#targets[@]}))
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reroll-fuzz}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none -a --target-dir "$CARGO_TARGET_DIR" >&2
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t" "seeds/$t"
  # Seeds: the project's own stacks, fixtures and modules for the HCL targets (read in place;
  # new inputs go to corpus/), saved files of the others in seeds/.
  seeds=("seeds/$t")
  dict=()
  case "$t" in
    stack) seeds=(../stacks ../tests/fixtures ../modules); dict=(-dict=hcl.dict) ;;
    var_file) seeds+=(../stacks/environments ../tests/fixtures/bad); dict=(-dict=hcl.dict) ;;
  esac
  max_len=65536
  echo "==> $t for ${each}s" >&2
  touch "$logs/$t.start"
  started=$SECONDS
  set +e
  "$bin/$t" "$corpus" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$each" -timeout=1 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" 2>"$logs/$t.log"
  echo "$?" >"$logs/$t.rc"
  echo $((SECONDS - started)) >"$logs/$t.seconds"
  set -e
  tail -n 3 "$logs/$t.log" >&2
done

echo "| target | seconds | inputs run | corpus | peak RSS | slowest input | crashes, timeouts, OOMs |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log" | tail -n 1; }
  runs="$(stat number_of_executed_units)"
  secs="$(stat average_exec_per_sec)"
  rss="$(stat peak_rss_mb)"
  slowest="$(stat slowest_unit_time_sec)"
  found="$(find "artifacts/$t" -type f -newer "$logs/$t.start" | wc -l)"
  echo "| $t | $(cat "$logs/$t.seconds") | ${runs:-?} | $(find "corpus/$t" -type f | wc -l) | ${rss:-?} MB | ${slowest:-0} s | $found |"
done
