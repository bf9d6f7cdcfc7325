#!/bin/sh
# Builds reroll and its benchmark in release mode and runs every benchmark, printing Markdown
# tables (BENCHMARKS.md was made from this output). Arguments go to the benchmark, e.g.
#   bench/run.sh --no-emulator        # simulator only
#   bench/run.sh --only rollout       # one part
#   bench/run.sh --help
set -eu
cd "$(dirname "$0")/.."
if [ ! -x localstack/.venv/bin/moto_server ]; then
    localstack/install.sh
fi
cargo build --release --workspace --bins --quiet
exec cargo run --release --quiet -p reroll-bench -- "$@"
