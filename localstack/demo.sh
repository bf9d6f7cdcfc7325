#!/usr/bin/env bash
# One command, fresh machine: install and start the emulator, seed it, build reroll, deploy the
# demo stack, show that a second plan has no changes and that a newer image plans a Replace.
#
# Usage: demo.sh [PORT]      (default: $REROLL_EMULATOR_PORT or 4566)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
port="${1:-${REROLL_EMULATOR_PORT:-4566}}"

endpoint="$(REROLL_EMULATOR_CALLER="localstack/demo.sh" "$here/start.sh" "$port")"
"$here/seed.sh" "$port" us-east-1 >/dev/null

export AWS_ENDPOINT_URL="$endpoint"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_EC2_METADATA_DISABLED=true
export REROLL_POLL_SECONDS="${REROLL_POLL_SECONDS:-1}"

target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ ! -x "$target_dir/debug/reroll" ]]; then
  echo "==> building reroll: the first build compiles the AWS SDK crates, about 7-15 minutes" >&2
  echo "    and up to 7 GB of memory on 2 cores (later builds take seconds)" >&2
else
  echo "==> building reroll" >&2
fi
cargo build --manifest-path "$root/Cargo.toml"
reroll="$target_dir/debug/reroll"

cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }

step "reroll apply stacks/demo -var app_version=1.0.0 --auto-approve"
"$reroll" apply stacks/demo -var app_version=1.0.0 --auto-approve

step "reroll plan stacks/demo -var app_version=1.0.0   (nothing to do)"
"$reroll" plan stacks/demo -var app_version=1.0.0

step "reroll plan stacks/demo -var app_version=1.1.0   (a newer baked image: a Replace)"
"$reroll" plan stacks/demo -var app_version=1.1.0

step "reroll apply stacks/demo -var app_version=1.1.0 --auto-approve   (rolled out in waves)"
"$reroll" apply stacks/demo -var app_version=1.1.0 --auto-approve

step "reroll status stacks/demo"
"$reroll" status stacks/demo

cat >&2 <<TXT

The emulator keeps running on $endpoint. Try:
  export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  $reroll apply stacks/demo -var app_version=1.1.0 -var web_instances=5 --auto-approve
  $reroll destroy stacks/demo --auto-approve
  localstack/stop.sh $port
TXT
