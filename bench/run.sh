#!/bin/sh
# Builds reroll and its benchmark in release mode and runs every benchmark, printing Markdown
# tables (BENCHMARKS.md was made from this output). Arguments go to the benchmark, e.g.
#   bench/run.sh --no-emulator        # simulator only
#   bench/run.sh --only rollout       # one part
#   bench/run.sh --markdown       # the tables as BENCHMARKS.md shows them
#   bench/run.sh --help
set -eu
cd "$(dirname "$0")/.."
if [ ! -x localstack/.venv/bin/moto_server ]; then
    localstack/install.sh
fi
# count-memory: the counting allocator that splits the engine's heap from the simulator's.
cargo build --release --workspace --bins --features reroll/count-memory --quiet
# The binary just built: `cargo run -p reroll-bench` would resolve the bench's features alone
# and build the AWS SDK a second time.
exec "${CARGO_TARGET_DIR:-target}/release/reroll-bench" "$@"
