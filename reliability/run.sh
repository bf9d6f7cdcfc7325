#!/usr/bin/env bash
# Reproduces RELIABILITY.md's table: the crash campaign and the fault sweeps on the
# simulator, the secret hunt and the ownership tests, the replay of every input the fuzzers
# found, and rollouts on the emulator through the fault proxy and killed with kill -9
# (localstack/chaos.py, alongside the rest). About 30 minutes on 2 cores with a warm build.
# The fuzzing hour is separate: fuzz/run.sh.
#
# Usage: reliability/run.sh [--no-emulator]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reroll-target}"
emulator=1
[[ "${1:-}" == "--no-emulator" ]] && emulator=0
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

suite() { # NAME TEST [FILTER...]: runs one test binary, its output kept for the table
  local name="$1" test="$2"
  shift 2
  echo "==> $name" >&2
  set +e
  cargo test --test "$test" -- --nocapture --test-threads 1 "$@" >"$logs/$name.log" 2>&1
  echo "$?" >"$logs/$name.rc"
  set -e
  grep -E "^test result:" "$logs/$name.log" >&2 || tail -n 20 "$logs/$name.log" >&2
}

# The emulator's campaigns mostly wait on rollouts; they run alongside the simulator's.
chaos_pid=""
if ((emulator)); then
  localstack/install.sh >&2
  cargo build >&2
  echo "==> emulator: fault proxy and kill -9 (in the background)" >&2
  (
    set +e
    localstack/.venv/bin/python localstack/chaos.py --markdown --json "$logs/chaos.json" \
      >"$logs/chaos.md" 2>"$logs/chaos.log"
    echo "$?" >"$logs/chaos.rc"
  ) &
  chaos_pid=$!
fi

suite crashes sim_crashes
suite faults sim_faults
suite secrets secret_hunt
suite ownership sim_fail_fast a_name_held_by_an_untagged_resource_is_not_taken_over \
  plan_shows_names_held_by_look_alikes_with_their_ids a_delete_checks_the_stack_tag_first \
  processes_suspended_by_someone_else_block_rollouts_and_resizes \
  an_instance_refresh_in_progress_blocks_rollouts_until_it_ends
suite fuzz fuzz_regressions
if [[ -n "$chaos_pid" ]]; then
  echo "==> waiting for the emulator's campaigns" >&2
  wait "$chaos_pid" || true
  grep -E "held|FAILED|^    " "$logs/chaos.log" >&2 || tail -n 20 "$logs/chaos.log" >&2
fi

python3 - "$logs" "$SECONDS" <<'PY'
import json, os, re, sys

logs = sys.argv[1]
seconds = int(sys.argv[2])

def text(name):
    try:
        return open(os.path.join(logs, name + ".log"), errors="replace").read()
    except FileNotFoundError:
        return ""

def passed(name):
    m = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", text(name))
    return sum(int(p) for p, _ in m), sum(int(f) for _, f in m)

rows = []
for m in re.finditer(r"crash campaign: (.+?) (Apply|Rollback): (\d+) crash points \((\d+) calls, "
                     r"(\d+) random moments in ([\d.]+s)\), (\d+) held", text("crashes")):
    who, run, points, calls, moments, dur, held = m.groups()
    what = "rollout" if run == "Apply" else "rollback"
    rows.append((f"simulator: {who} {what} killed, then run again", points, held,
                 f"every one of {calls} calls and {moments} random moments in {dur}"))
total = sum(int(r[1]) for r in rows)
held = sum(int(r[2]) for r in rows)
rows.append(("simulator: crash campaign, all", str(total), str(held),
             "floor, orphans, generations, one-more-run convergence, suspensions"))
for m in re.finditer(r"^(?:test \S+ \.\.\. )?(.+?) (Apply|Rollback), (refusals|transient errors): (\d+) positions tried.*?; (.*)$",
                     text("faults"), re.M):
    who, run, kind, tried, endings = m.groups()
    p, f = passed("faults")
    rows.append((f"simulator: {who} {run.lower()}, a {kind[:-1] if kind == 'refusals' else 'transient error'} at call k",
                 tried, tried if f == 0 else "see log", endings))
hunts = re.findall(r"secret hunt: (\d+) secrets in (\d+) forms searched in (\d+) outputs and files "
                   r"\((\d+) bytes\): (\d+) hits", text("secrets"))
if hunts:
    outputs = sum(int(h[2]) for h in hunts)
    size = sum(int(h[3]) for h in hunts)
    hits = sum(int(h[4]) for h in hunts)
    p, f = passed("secrets")
    rows.append(("secret hunt: every command, sim and emulator, three log formats",
                 str(len(hunts)), str(len(hunts)) if hits == 0 and f == 0 else "no",
                 f"{hunts[0][0]} secrets × {hunts[0][1]} forms in {outputs} outputs ({size} bytes): {hits} hits; {p} tests passed, {f} failed"))
p, f = passed("ownership")
rows.append(("ownership: look-alike and foreign resources, names held by others", str(p + f), str(p),
             "names held by untagged look-alikes refused with their ids, deletes check the tag, other controllers' groups left alone"))
p, f = passed("fuzz")
rows.append(("fuzz regressions and hostile shapes (deep nesting, cycles, 17 MiB, invalid UTF-8)",
             str(p + f), str(p), "tests/fuzz_regressions.rs"))
chaos = os.path.join(logs, "chaos.json")
if os.path.exists(chaos):
    try:
        data = json.load(open(chaos))
        for s in data if isinstance(data, list) else data.get("scenarios", []):
            rows.append((f"emulator: {s.get('scenario')}", str(s.get("tries", 1)),
                         str(s.get("held_count", 1 if s.get("held") else 0)),
                         s.get("summary") or json.dumps(s.get("figures", {}))[:200]))
    except Exception as e:
        rows.append(("emulator: fault proxy and kill -9", "?", "?", f"could not read its results: {e}"))
elif os.path.exists(os.path.join(logs, "chaos.rc")):
    rows.append(("emulator: fault proxy and kill -9", "?", "0", "chaos.py wrote no results: " + text("chaos")[-300:].replace("\n", " ").replace("|", "/")))

print("| scenario | tries | held | figures |")
print("|---|---:|---:|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print(f"\n({seconds // 60} min {seconds % 60} s)")
failed = [n for n in os.listdir(logs) if n.endswith(".rc") and open(os.path.join(logs, n)).read().strip() != "0"]
if failed:
    print("\nfailed: " + ", ".join(sorted(f[:-3] for f in failed)))
    sys.exit(1)
PY
