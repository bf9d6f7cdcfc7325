#!/usr/bin/env bash
# Install the local AWS emulator (moto server, pinned in requirements.txt)
# into localstack/.venv. Idempotent and safe to run concurrently.
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3)
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$here/.stamp-install"
lock="$here/.install.lock"
python="${PYTHON:-python3}"

die() { echo "install.sh: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || die "'$python' not found; install Python 3.9+ (e.g. apt-get install python3 python3-venv)"
[[ -f "$req" ]] || die "missing $req"

fixes="$here/fixes.py"
want="$(cat "$req" "$fixes" | sha256sum | cut -d' ' -f1)"

up_to_date() {
  [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] &&
    [[ -x "$venv/bin/python" ]] && [[ -x "$venv/bin/moto_server" ]]
}

# Fast path without the lock: the stamp is only ever written atomically.
if up_to_date; then
  echo "emulator already installed ($venv)"
  exit 0
fi

exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 900 9 || die "timed out waiting for another install to finish ($lock)"
fi

# Another process may have finished the install while we waited.
if up_to_date; then
  echo "emulator already installed ($venv)"
  exit 0
fi

log="$(mktemp "${TMPDIR:-/tmp}/reroll-emulator-install.XXXXXX")"
trap 'rm -f "$log"' EXIT

fail() {
  echo "install.sh: $*" >&2
  echo "---- output ----" >&2
  cat "$log" >&2
  exit 1
}

rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]]; then
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >>"$log" 2>&1; then
    # Debian without python3-venv has no ensurepip: make a bare venv and
    # install into it with the system pip (pip >= 22.3 knows --python).
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv" >>"$log" 2>&1 ||
      fail "cannot create a venv with $python (on Debian: apt-get install python3-venv)"
  fi
fi

if [[ -x "$venv/bin/pip" ]] || "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  pip=("$venv/bin/python" -m pip)
elif "$python" -m pip --version >/dev/null 2>&1; then
  pip=("$python" -m pip --python "$venv/bin/python")
else
  fail "no pip available for $venv (on Debian: apt-get install python3-venv python3-pip)"
fi

"${pip[@]}" install --disable-pip-version-check --no-input -q -r "$req" >>"$log" 2>&1 ||
  fail "pip install -r $req failed"

[[ -x "$venv/bin/moto_server" ]] || fail "moto_server missing from $venv/bin after install"
"$venv/bin/python" "$fixes" >>"$log" 2>&1 || fail "applying fixes.py to the emulator failed"

tmp="$stamp.tmp.$$"
echo "$want" >"$tmp"
mv -f "$tmp" "$stamp"

version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo '?')"
echo "emulator installed: moto $version in $venv"
