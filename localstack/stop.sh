#!/usr/bin/env bash
# Stop the local AWS emulator started by start.sh on PORT.
#
# Usage: stop.sh [PORT]       (default: $REROLL_EMULATOR_PORT or 4566)
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-${REROLL_EMULATOR_PORT:-4566}}"
pidfile="$here/.run/moto-$port.pid"

if [[ ! -f "$pidfile" ]]; then
  echo "no emulator started on port $port (no $pidfile)"
  exit 0
fi

pid="$(cat "$pidfile" 2>/dev/null || true)"
if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  rm -f "$pidfile"
  echo "emulator on port $port was not running (stale pid file removed)"
  exit 0
fi

# Never signal a recycled pid that is no longer our server.
if [[ -r "/proc/$pid/cmdline" ]] && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" != *moto_server* ]]; then
  rm -f "$pidfile"
  echo "pid $pid is not a moto server any more (stale pid file removed)"
  exit 0
fi

kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
echo "emulator on port $port stopped (pid $pid)"
