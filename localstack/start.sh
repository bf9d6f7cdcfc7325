#!/usr/bin/env bash
# Start the local AWS emulator (moto server) on 127.0.0.1:PORT in the
# background and print its endpoint URL on stdout.
#
# Usage: start.sh [PORT]      (default: $REROLL_EMULATOR_PORT or 4566)
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-${REROLL_EMULATOR_PORT:-4566}}"
host=127.0.0.1
run="$here/.run"
pidfile="$run/moto-$port.pid"
logfile="$run/moto-$port.log"
url="http://$host:$port"
wait_seconds="${REROLL_EMULATOR_START_TIMEOUT:-30}"

die() { echo "start.sh: $*" >&2; exit 1; }

if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
  die "invalid port '$port'"
fi
port=$((10#$port))

# is_ours PID: the pid is alive and is a moto server.
is_ours() {
  local pid="$1" cmd
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    [[ "$cmd" == *moto_server* ]] || return 1
  fi
  return 0
}

port_busy() {
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

answers() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$url/moto-api/" 2>/dev/null
  else
    "$here/.venv/bin/python" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' \
      "$url/moto-api/" 2>/dev/null
  fi
}

mkdir -p "$run"

if [[ -f "$pidfile" ]]; then
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid"; then
    echo "emulator already running on $url (pid $pid)" >&2
    echo "$url"
    exit 0
  fi
  rm -f "$pidfile"
fi

if port_busy; then
  die "port $port on $host is already in use by another process; stop it or pass another port (${REROLL_EMULATOR_CALLER:-localstack/start.sh} PORT)"
fi

"$here/install.sh" >&2

: >"$logfile"
if command -v setsid >/dev/null 2>&1; then
  setsid nohup "$here/.venv/bin/moto_server" -H "$host" -p "$port" </dev/null >>"$logfile" 2>&1 &
else
  nohup "$here/.venv/bin/moto_server" -H "$host" -p "$port" </dev/null >>"$logfile" 2>&1 &
fi
pid=$!
echo "$pid" >"$pidfile"

deadline=$((SECONDS + wait_seconds))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pidfile"
    echo "start.sh: moto server exited during startup; log $logfile:" >&2
    tail -n 20 "$logfile" >&2 || true
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    kill "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    echo "start.sh: moto server did not answer on $url within ${wait_seconds}s; log $logfile:" >&2
    tail -n 20 "$logfile" >&2 || true
    exit 1
  fi
  sleep 0.2
done

echo "emulator running on $url (pid $pid, log $logfile)" >&2
echo "$url"
