#!/usr/bin/env bash
# Seed the running emulator with the demo baseline (see seed.py).
#
# Usage: seed.sh [PORT] [REGION[,REGION...]] [seed.py options, e.g. --json]
#   PORT defaults to $REROLL_EMULATOR_PORT or 4566, REGION to us-east-1.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
port="${REROLL_EMULATOR_PORT:-4566}"
region=us-east-1
if [[ $# -gt 0 && "$1" != -* ]]; then port="$1"; shift; fi
if [[ $# -gt 0 && "$1" != -* ]]; then region="$1"; shift; fi

"$here/install.sh" >&2

exec "$here/.venv/bin/python" "$here/seed.py" \
  --endpoint-url "http://127.0.0.1:$port" --regions "$region" "$@"
