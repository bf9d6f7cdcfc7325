#!/usr/bin/env python3
"""Rollouts on the emulator under faults and kill -9, watched by an independent observer.

Two campaigns, each on a fresh moto server (start.sh), seeded (seed.sh), with the stack
deployed at 1.0.0 straight to moto first:

  faults  reroll talks to moto through fault_proxy.py, which throttles, fails (500, 503),
          delays and resets a share of its requests (--rates, default 20% and 50%). Each try
          rolls to the other image (1.0.0 -> 1.1.0 -> 1.0.0 ...): --fault-tries per rate
          (default 1).
  kill    reroll talks to moto directly and is killed with SIGKILL at a random moment of
          a rollout (uniform over the measured length of one), then the same apply runs
          again: --kills per stack (default 2 of the demo, 10 of blue/green).

Stacks: stacks/demo (rolling, two server groups) and stacks/blue-green.

The observer is boto3 straight to moto, every 0.5 s. It checks:
  - floor: every target group that a listener of the stack forwards to with a weight above 0
    holds at least the group's desired capacity of healthy targets that are running
    instances (moto leaves targets that Auto Scaling terminated listed as healthy; they do
    not count);
  - orphans: no running instance of the stack outside every Auto Scaling group for longer
    than 30 s (a detach is followed by a terminate);
and, after each try: reroll exited 0; each server group has one generation tagged active, on
the image asked for, at its desired size, all InService; every other generation is empty;
no instance runs outside the active generations or on another image; no process is
suspended and no suspension is recorded; every target group a listener forwards to holds
running targets, all of them active instances; `reroll plan --detailed-exitcode` finds
nothing to do.

Usage: chaos.py [--reroll PATH] [--rates 0.2,0.5] [--fault-tries 1] [--kills demo=2,blue-green=10]
                [--stacks demo,blue-green] [--seed N] [--json FILE] [--markdown]
Prints a Markdown table (--markdown) or one line per try; --json writes the rows.
Exit 1 if any try did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_proxy import FaultProxy  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORPHAN_GRACE = 30.0
SAMPLE_EVERY = 0.5
APPLY_TIMEOUT = 900


@dataclass
class StackCase:
    name: str  # what the table calls it
    path: str  # stack directory
    stack: str  # the stack's name (its reroll:stack tag)
    floors: dict[int, int]  # listener port -> healthy targets its target groups must hold


STACKS = {
    "demo": StackCase("rolling (stacks/demo)", "stacks/demo", "demo", {80: 3, 9090: 2}),
    "blue-green": StackCase(
        "blue/green (stacks/blue-green)", "stacks/blue-green", "bluegreen", {80: 4}
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self) -> None:
        self.port = free_port()
        out = subprocess.run(
            [str(HERE / "start.sh"), str(self.port)], check=True, capture_output=True, text=True
        )
        self.url = out.stdout.strip().splitlines()[-1]
        subprocess.run(
            [str(HERE / "seed.sh"), str(self.port), "us-east-1"],
            check=True,
            capture_output=True,
        )
        cfg = Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        kw = dict(
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=cfg,
        )
        self.ec2 = boto3.client("ec2", **kw)
        self.asg = boto3.client("autoscaling", **kw)
        self.elb = boto3.client("elbv2", **kw)

    def stop(self) -> None:
        subprocess.run([str(HERE / "stop.sh"), str(self.port)], capture_output=True)

    def image_id(self, version: str) -> str:
        images = self.ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"demo-app-{version}"]}])
        return images["Images"][0]["ImageId"]


# ------------------------------------------------------------------------------------------
# What the account holds, read straight from moto


def tags_of(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def stack_groups(emu: Emulator, stack: str) -> list[dict]:
    groups = []
    for page in emu.asg.get_paginator("describe_auto_scaling_groups").paginate():
        for g in page["AutoScalingGroups"]:
            if tags_of(g).get("reroll:stack") == stack:
                groups.append(g)
    return groups


def running_instances(emu: Emulator, stack: str) -> dict[str, dict]:
    found = {}
    pages = emu.ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:reroll:stack", "Values": [stack]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    for page in pages:
        for r in page["Reservations"]:
            for i in r["Instances"]:
                found[i["InstanceId"]] = i
    return found


def stack_load_balancers(emu: Emulator, stack: str) -> list[dict]:
    lbs = emu.elb.describe_load_balancers()["LoadBalancers"]
    if not lbs:
        return []
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    ours = set()
    for at in range(0, len(arns), 20):
        for d in emu.elb.describe_tags(ResourceArns=arns[at : at + 20])["TagDescriptions"]:
            if tags_of(d).get("reroll:stack") == stack:
                ours.add(d["ResourceArn"])
    return [lb for lb in lbs if lb["LoadBalancerArn"] in ours]


def forwards(listener: dict) -> list[tuple[str, int]]:
    """(target group ARN, weight) of a listener's forward actions."""
    out = []
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        config = action.get("ForwardConfig", {}).get("TargetGroups")
        if config:
            out += [(t["TargetGroupArn"], int(t.get("Weight", 1))) for t in config]
        elif action.get("TargetGroupArn"):
            out.append((action["TargetGroupArn"], 1))
    return out


def serving(emu: Emulator, stack: str, running: dict[str, dict]) -> list[tuple[int, str, int, int, set[str]]]:
    """(listener port, target group ARN, weight, healthy running targets, registered running
    targets) of every forward; `running` is the stack's running instances, read just before."""
    out = []
    for lb in stack_load_balancers(emu, stack):
        for listener in emu.elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            for tg, weight in forwards(listener):
                health = emu.elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
                live = [h for h in health if h["Target"]["Id"] in running]
                healthy = sum(1 for h in live if h["TargetHealth"]["State"] == "healthy")
                out.append((listener["Port"], tg, weight, healthy, {h["Target"]["Id"] for h in live}))
    return out


class Observer(threading.Thread):
    """Samples the stack every 0.5 s until stopped; keeps what it found wrong."""

    def __init__(self, emu: Emulator, case: StackCase):
        super().__init__(daemon=True)
        self.emu, self.case = emu, case
        self.stopped = threading.Event()
        self.problems: list[str] = []
        self.samples = 0
        self.lowest: dict[int, int] = {}
        self.orphaned_since: dict[str, float] = {}
        self.errors = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < 10 and text not in self.problems:
            self.problems.append(text)

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                self.sample()
            except Exception as e:  # moto answering slowly or mid-change: try again
                self.errors += 1
                if self.errors > 20:
                    self.problem(f"observer could not read the account: {e}")
            self.stopped.wait(max(0.0, SAMPLE_EVERY - (time.monotonic() - started)))

    def sample(self) -> None:
        now = time.monotonic()
        groups = stack_groups(self.emu, self.case.stack)
        members = {i["InstanceId"] for g in groups for i in g["Instances"]}
        running = running_instances(self.emu, self.case.stack)
        outside = set(running) - members
        self.orphaned_since = {i: self.orphaned_since.get(i, now) for i in outside}
        for i, since in self.orphaned_since.items():
            if now - since > ORPHAN_GRACE:
                self.problem(f"{i} ran outside every group for over {ORPHAN_GRACE:.0f} s")
        for port, tg, weight, healthy, _ in serving(self.emu, self.case.stack, running):
            if weight <= 0:
                continue
            floor = self.case.floors.get(port, 0)
            self.lowest[port] = min(self.lowest.get(port, healthy), healthy)
            if healthy < floor:
                self.problem(f"port {port}: {healthy} healthy in {tg.rsplit('/', 2)[-2]}, floor {floor}")
        self.samples += 1

    def finish(self) -> list[str]:
        self.stopped.set()
        self.join(timeout=30)
        return self.problems


def final_problems(emu: Emulator, case: StackCase, image: str) -> list[str]:
    """What differs from one healthy generation per group on `image`, nothing else running."""
    problems = []
    groups = stack_groups(emu, case.stack)
    by_group: dict[str, list[dict]] = {}
    for g in groups:
        by_group.setdefault(tags_of(g).get("reroll:group", "?"), []).append(g)
    active_members = set()
    for name, gens in sorted(by_group.items()):
        active = [g for g in gens if tags_of(g).get("reroll:state") == "active"]
        if len(active) != 1:
            problems.append(f"{name}: {len(active)} generations tagged active")
            continue
        a = active[0]
        insts = a["Instances"]
        active_members |= {i["InstanceId"] for i in insts}
        if len(insts) != a["DesiredCapacity"] or any(i["LifecycleState"] != "InService" for i in insts):
            problems.append(f"{name}: {a['AutoScalingGroupName']} holds {len(insts)} of {a['DesiredCapacity']} in service")
        if a.get("SuspendedProcesses"):
            problems.append(f"{name}: {a['AutoScalingGroupName']} has processes suspended")
        for g in gens:
            t = tags_of(g)
            if t.get("reroll:suspended"):
                problems.append(f"{name}: {g['AutoScalingGroupName']} records suspended {t['reroll:suspended']}")
            if g is not a and (g["DesiredCapacity"] or g["Instances"]):
                problems.append(f"{name}: old generation {g['AutoScalingGroupName']} not empty")
    running = running_instances(emu, case.stack)
    wrong_image = sorted(i for i, d in running.items() if d.get("ImageId") != image)
    if wrong_image:
        problems.append(f"running on another image: {', '.join(wrong_image)}")
    outside = sorted(set(running) - active_members)
    if outside:
        problems.append(f"running outside the active generations: {', '.join(outside)}")
    for port, _, weight, _, targets in serving(emu, case.stack, running):
        if weight <= 0:
            continue
        if not targets <= active_members or not targets:
            problems.append(f"port {port} forwards to targets outside the active generations")
    return problems


# ------------------------------------------------------------------------------------------
# Running reroll


@dataclass
class Try:
    scenario: str
    number: int
    held: bool = False
    exit_codes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    note: str = ""
    samples: int = 0
    lowest: dict[int, int] = field(default_factory=dict)

    def observed(self, observer: "Observer") -> None:
        self.problems += observer.finish()
        self.samples = observer.samples
        self.lowest = dict(observer.lowest)


class Reroll:
    def __init__(self, binary: str, logs: Path):
        self.binary = binary
        self.logs = logs
        self.count = 0

    def env(self, endpoint: str) -> dict[str, str]:
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
            env.pop(k, None)
        env.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_EC2_METADATA_DISABLED="true",
            REROLL_POLL_SECONDS="0.5",
            NO_COLOR="1",
        )
        return env

    def start(self, endpoint: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
        self.count += 1
        log = self.logs / f"{self.count:03d}-{args[0]}.log"
        out = open(log, "wb")
        out.write((" ".join(["reroll", *args]) + f"   (endpoint {endpoint})\n").encode())
        out.flush()
        p = subprocess.Popen(
            [self.binary, *args],
            cwd=ROOT,
            env=self.env(endpoint),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        return p, log

    def run(self, endpoint: str, args: list[str]) -> tuple[int, Path]:
        p, log = self.start(endpoint, args)
        try:
            return p.wait(timeout=APPLY_TIMEOUT), log
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return -9, log


def apply_args(case: StackCase, version: str) -> list[str]:
    return ["apply", case.path, "-var", f"app_version={version}", "--auto-approve"]


def plan_is_empty(reroll: Reroll, emu: Emulator, case: StackCase, version: str) -> list[str]:
    code, log = reroll.run(emu.url, ["plan", case.path, "-var", f"app_version={version}", "--detailed-exitcode"])
    return [] if code == 0 else [f"a plan after the try found changes or failed (exit {code}, {log.name})"]


def other(version: str) -> str:
    return "1.1.0" if version == "1.0.0" else "1.0.0"


def deployed(reroll: Reroll, case: StackCase) -> Emulator:
    emu = Emulator()
    code, log = reroll.run(emu.url, apply_args(case, "1.0.0"))
    if code != 0:
        emu.stop()
        raise SystemExit(f"deploying {case.path} at 1.0.0 on the emulator failed (exit {code}); see {log}")
    return emu


def judge(
    t: Try, observer: Observer, code: int, log: Path, reroll: Reroll, emu: Emulator, case: StackCase, version: str
) -> Try:
    """Ends a try whose last apply exited `code`: what the observer saw, then the final state
    (read straight from moto) and a plan."""
    t.exit_codes.append(code)
    t.observed(observer)
    if code != 0:
        t.problems.append(f"the last apply exited {code} ({log.name})")
    t.problems += final_problems(emu, case, emu.image_id(version))
    t.problems += plan_is_empty(reroll, emu, case, version)
    t.held = not t.problems
    report(t)
    return t


def fault_campaign(reroll: Reroll, case: StackCase, rate: float, tries: int, seed: int) -> tuple[list[Try], dict]:
    emu = deployed(reroll, case)
    proxy = FaultProxy(emu.url, rate, seed=seed)
    proxy.start()
    results = []
    version = "1.0.0"
    try:
        for n in range(1, tries + 1):
            version = other(version)
            t = Try(f"{case.name}, {rate:.0%} of requests faulted", n)
            observer = Observer(emu, case)
            observer.start()
            started = time.monotonic()
            code, log = reroll.run(proxy.url, apply_args(case, version))
            t.seconds = time.monotonic() - started
            results.append(judge(t, observer, code, log, reroll, emu, case, version))
    finally:
        proxy.stop()
        emu.stop()
    return results, proxy.stats()


def kill_campaign(reroll: Reroll, case: StackCase, kills: int, rng: random.Random) -> tuple[list[Try], float]:
    emu = deployed(reroll, case)
    results = []
    version = "1.1.0"
    try:
        # One rollout undisturbed, to know how long one takes.
        started = time.monotonic()
        code, log = reroll.run(emu.url, apply_args(case, version))
        length = time.monotonic() - started
        if code != 0:
            raise SystemExit(f"an undisturbed rollout of {case.path} failed (exit {code}); see {log}")
        for n in range(1, kills + 1):
            version = other(version)
            t = Try(f"{case.name}, kill -9 at a random moment", n)
            observer = Observer(emu, case)
            observer.start()
            at = rng.uniform(0.0, length)
            p, log = reroll.start(emu.url, apply_args(case, version))
            try:
                code = p.wait(timeout=at)
                t.note = f"finished before the kill at {at:.1f} s"
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                code = p.wait()
                t.note = f"killed at {at:.1f} s"
            t.exit_codes.append(code)
            started = time.monotonic()
            code, log = reroll.run(emu.url, apply_args(case, version))
            t.seconds = time.monotonic() - started
            results.append(judge(t, observer, code, log, reroll, emu, case, version))
    finally:
        emu.stop()
    return results, length


def report(t: Try) -> None:
    state = "held" if t.held else "FAILED"
    extra = f" ({t.note})" if t.note else ""
    print(f"{t.scenario} #{t.number}: {state} in {t.seconds:.0f} s, exits {t.exit_codes}{extra}", file=sys.stderr)
    for p in t.problems:
        print(f"    {p}", file=sys.stderr)


def default_binary() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return str(Path(target) / "debug" / "reroll")


def observed(case: StackCase, tries: list[Try]) -> str:
    """The observer's figures over `tries`: samples, and the lowest healthy count per port."""
    lowest = {}
    for t in tries:
        for port, n in t.lowest.items():
            lowest[port] = min(lowest.get(port, n), n)
    ports = ", ".join(f"port {p}: {lowest.get(p, '?')} (floor {f})" for p, f in case.floors.items())
    return f"observer: {sum(t.samples for t in tries)} samples, lowest healthy {ports}"


def row(case: StackCase, tries: list[Try], figures: str) -> dict:
    problems = [f"#{t.number}: {p}" for t in tries for p in t.problems]
    return {
        "scenario": tries[0].scenario,
        "tries": len(tries),
        "held_count": sum(t.held for t in tries),
        "summary": f"{figures}; {observed(case, tries)}"
        + (f"; problems: {'; '.join(problems[:3])}" if problems else ""),
        "problems": problems,
    }


def counts(text: str, keys: list[str]) -> dict[str, int]:
    """`demo=2,blue-green=10` (or one number for every stack)."""
    if text.strip().isdigit():
        return {k: int(text) for k in keys}
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        if k not in STACKS:
            raise SystemExit(f"chaos.py: unknown stack {k!r} in {text!r}; known: {', '.join(STACKS)}")
        out[k] = int(v or 0)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reroll", default=default_binary(), help="the reroll binary (default: the debug build)")
    p.add_argument("--stacks", default="demo,blue-green")
    p.add_argument("--rates", default="0.2,0.5", help="shares of requests faulted, one campaign each")
    p.add_argument("--fault-tries", type=int, default=1, help="rollouts per stack and rate")
    p.add_argument(
        "--kills",
        default="demo=2,blue-green=10",
        help="kill -9 per stack: STACK=N,... or one N for each (default demo=2,blue-green=10)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the faults and the kill moments")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table on stdout")
    args = p.parse_args()
    if not os.access(args.reroll, os.X_OK):
        print(f"chaos.py: no reroll binary at {args.reroll}; run `cargo build` or pass --reroll", file=sys.stderr)
        return 2
    stacks = [k for k in filter(None, args.stacks.split(","))]
    for k in stacks:
        if k not in STACKS:
            print(f"chaos.py: unknown stack {k!r}; known: {', '.join(STACKS)}", file=sys.stderr)
            return 2
    kills = counts(args.kills, stacks)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"chaos.py: seed {seed}", file=sys.stderr)
    rng = random.Random(seed)
    logs = Path(tempfile.mkdtemp(prefix="reroll-chaos-"))
    reroll = Reroll(args.reroll, logs)
    rows = []
    for key in stacks:
        case = STACKS[key]
        for rate in (float(r) for r in filter(None, args.rates.split(","))):
            if args.fault_tries <= 0:
                break
            tries, stats = fault_campaign(reroll, case, rate, args.fault_tries, rng.randrange(1 << 32))
            kinds = ", ".join(f"{v} {k}" for k, v in stats["by_kind"].items())
            figures = (
                f"{stats['faults']} of {stats['requests']} requests faulted ({kinds}); "
                f"rollouts took {', '.join(f'{t.seconds:.0f}' for t in tries)} s"
            )
            rows.append(row(case, tries, figures) | {"stats": stats})
        if kills.get(key, 0) > 0:
            tries, length = kill_campaign(reroll, case, kills[key], rng)
            killed = sum(t.note.startswith("killed") for t in tries)
            figures = (
                f"{killed} killed mid-rollout, {len(tries) - killed} finished before their moment "
                f"(uniform over the {length:.0f} s of one rollout); each then applied again"
            )
            rows.append(row(case, tries, figures))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if args.markdown:
        print("| scenario | tries | held | figures |")
        print("|---|---:|---:|---|")
        for r in rows:
            print(f"| emulator: {r['scenario']} | {r['tries']} | {r['held_count']} | {r['summary']} |")
    print(f"chaos.py: logs in {logs}", file=sys.stderr)
    return 0 if all(r["held_count"] == r["tries"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
