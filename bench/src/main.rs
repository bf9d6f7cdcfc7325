//! reroll's benchmarks: plan at scale (simulator and emulator, against a floor script),
//! rollout makespan against a lower bound and against models of other tools, the engine's own
//! cost during a 5000-instance rollout, a picture of it, and a restore of the whole fleet into an
//! empty region against its lower bound. Prints Markdown tables.
//!
//! Run it with `bench/run.sh` (see BENCHMARKS.md).

mod child;
mod emulator;
mod peers;
mod stackgen;
mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use reroll::apply::ApplyOptions;
use reroll::apply::Stop;
use reroll::cloud::sim::{Seconds, SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, ImageFilter};
use reroll::engine;
use reroll::load::Inputs;

use peers::{Peer, Point};
use stackgen::StackShape;

/// A part of the benchmarks, to run it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// a: plan at scale.
    Plan,
    /// b and d: rollout makespans and the picture.
    Rollout,
    /// c: the engine's cost during the rollout.
    Cost,
    /// e: a restore of the whole fleet into an empty region.
    Restore,
}

#[derive(Debug, Parser)]
#[command(about = "reroll's benchmarks; prints Markdown tables")]
struct Args {
    /// Instances in the simulated plan and rollout benchmarks.
    #[arg(long, default_value_t = 5000)]
    instances: u32,
    /// Server groups in the plan benchmarks.
    #[arg(long, default_value_t = 50)]
    plan_groups: u32,
    /// Server groups the rollout's instances are split into (a target group holds at most
    /// 1000 targets).
    #[arg(long, default_value_t = 10)]
    rollout_groups: u32,
    /// Instances of the second, smaller rollout the same run measures (0: none).
    #[arg(long, default_value_t = 1000)]
    small_instances: u32,
    /// Server groups of the smaller rollout.
    #[arg(long, default_value_t = 2)]
    small_groups: u32,
    /// Instances per server group in the emulator plan benchmark.
    #[arg(long, default_value_t = 30)]
    emulator_per_group: u32,
    /// Skip the emulator benchmark.
    #[arg(long)]
    no_emulator: bool,
    /// Timed repetitions of each plan (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Run only these parts (repeatable; default: all).
    #[arg(long, value_enum)]
    only: Vec<Part>,
    /// Keep the generated stacks and worlds in this directory (default: a temporary one,
    /// removed at the end).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Where to write the rollout picture (default: bench/rollout-<instances>.svg).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Print the tables as BENCHMARKS.md shows them (Markdown is the only output; the flag is
    /// accepted so the documented command says what it prints).
    #[arg(long)]
    markdown: bool,
}

// The rollout scenario's stated parameters.
const BOOT_S: f64 = 30.0;

/// How the target groups check health and drain.
#[derive(Debug, Clone, Copy)]
struct Checks {
    interval: u32,
    threshold: u32,
    deregistration: u32,
}

impl Checks {
    /// From launch to healthy beyond the boot: `threshold` checks `interval` apart.
    fn health(self) -> f64 {
        f64::from(self.interval * self.threshold)
    }
}

/// The benchmark's main scenario: fast checks, so the waves and the launch rate set the pace.
const FAST: Checks = Checks {
    interval: 10,
    threshold: 2,
    deregistration: 30,
};
/// What a target group gets when its stack says nothing: ELBv2's defaults.
const AWS_DEFAULTS: Checks = Checks {
    interval: 30,
    threshold: 5,
    deregistration: 300,
};
const SURGE_PERCENT: u32 = 10;
/// The targets the parts are measured against, with what this run measured: printed last.
#[derive(Default)]
struct Targets(std::cell::RefCell<Vec<(String, String, bool)>>);

impl Targets {
    fn row(&self, target: impl Into<String>, figure: impl Into<String>, met: bool) {
        self.0
            .borrow_mut()
            .push((target.into(), figure.into(), met));
    }

    fn print(&self) {
        let rows = self.0.borrow();
        if rows.is_empty() {
            return;
        }
        println!("## Against the targets\n");
        println!("| target | this run | |\n|---|---|---|");
        for (target, figure, met) in rows.iter() {
            println!(
                "| {target} | {figure} | {} |",
                if *met { "met" } else { "missed" }
            );
        }
        println!();
    }
}

const POLL: Duration = Duration::from_secs(5);
/// Simulated idle time between deploying v1 and rolling v2: the RunInstances bucket refills.
const REFILL: Duration = Duration::from_secs(1000);
/// The region the benchmark stacks live in, and where a restore copies the image from.
const SOURCE_REGION: &str = "us-east-1";
/// The empty region a restore goes into.
const RESTORE_REGION: &str = "us-west-2";

fn main() -> Result<()> {
    let args = Args::parse();
    // Markdown is what every run prints; `--markdown` only says so.
    let _ = args.markdown;
    // This package is bench/ inside reroll's repository.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("where is the repository")?
        .to_path_buf();
    let reroll = child::reroll_binary()?;
    let work = args.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("reroll-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&work)?;
    let result = run(&args, &root, &reroll, &work);
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn run(args: &Args, root: &Path, reroll: &Path, work: &Path) -> Result<()> {
    let targets = Targets::default();
    let t = &targets;
    println!("# reroll benchmarks\n");
    println!(
        "Machine: {} logical CPUs; reroll {}; every figure below was measured by this run.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env!("CARGO_PKG_VERSION")
    );
    let wanted = |p: Part| args.only.is_empty() || args.only.contains(&p);
    if wanted(Part::Plan) {
        plan_in_sim(args, reroll, work, t)?;
        if !args.no_emulator {
            plan_in_emulator(args, root, reroll, work, t)?;
        }
    }
    let points = if wanted(Part::Rollout) {
        let main = Size::main(args);
        let small = Size {
            instances: args.small_instances,
            groups: args.small_groups,
        };
        let points = rollouts(work, main, FAST, true, "b", t)?;
        if small.instances > 0 {
            rollouts(work, small, FAST, true, "b′", t)?;
        }
        rollouts(work, main, AWS_DEFAULTS, false, "b″", t)?;
        if small.instances > 0 {
            rollouts(work, small, AWS_DEFAULTS, false, "b‴", t)?;
        }
        Some(points)
    } else {
        None
    };
    if wanted(Part::Cost) {
        engine_cost(args, reroll, work, t)?;
    }
    if let Some(points) = points {
        picture(args, &points)?;
    }
    if wanted(Part::Restore) {
        restore(args, work, t)?;
    }
    targets.print();
    Ok(())
}

fn sim_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?)
}

fn sim_config() -> SimConfig {
    SimConfig {
        boot_time: Seconds {
            min: BOOT_S,
            max: BOOT_S,
        },
        // An account that runs fleets of thousands has had its On-Demand vCPU quota raised:
        // the rollouts measured here are limited by AWS's rates, never by the quota.
        service_quotas: [("ec2/L-1216C47A".to_string(), 1_000_000)].into(),
        ..SimConfig::default()
    }
}

fn write_stack(work: &Path, dir: &str, shape: &StackShape) -> Result<PathBuf> {
    let path = work.join(dir);
    std::fs::create_dir_all(&path)?;
    std::fs::write(path.join("main.hcl"), stackgen::hcl(shape))?;
    Ok(path)
}

fn inputs(version: &str) -> Inputs {
    Inputs {
        cli: vec![("app_version".into(), version.into())],
        ..Default::default()
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        parallelism: 50,
        poll: POLL,
        ..ApplyOptions::default()
    }
}

/// Applies `version` of the stack at `path` to `sim` in-process.
async fn apply(sim: &SimCloud, path: &Path, version: &str) -> Result<()> {
    let session = engine::open(sim, path, inputs(version)).await?;
    let plan = session.plan(false)?;
    let (result, _) = engine::execute(sim, session, &plan, &options(), &Stop::new()).await;
    result.with_context(|| format!("applying {version} in the simulator"))?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mmss(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}m {:02}s", s / 60, s % 60)
}

/// Timed plans of one stack: median wall and CPU, peak memory, calls per operation.
struct PlanRuns {
    wall: f64,
    cpu: f64,
    rss: f64,
    calls: Vec<(String, u64)>,
    simulated: Option<u64>,
}

fn timed_plans(
    reroll: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    work: &Path,
    runs: usize,
) -> Result<PlanRuns> {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut rss: f64 = 0.0;
    let mut last = None;
    for _ in 0..runs.max(1) {
        let m = child::run(reroll, args, env, work)?;
        if m.code != 0 {
            bail!("reroll {args:?} exited {}:\n{}", m.code, m.stderr);
        }
        walls.push(secs(m.wall));
        cpus.push(secs(m.cpu));
        rss = rss.max(m.max_rss_mb);
        last = Some(m);
    }
    let last = last.expect("one run");
    Ok(PlanRuns {
        wall: median(walls),
        cpu: median(cpus),
        rss,
        calls: child::parse_stats(&last.stderr),
        simulated: child::simulated_seconds(&last.stderr),
    })
}

// ---------------------------------------------------------------------------------------------
// a. Plan at scale

fn plan_in_sim(args: &Args, reroll: &Path, work: &Path, t: &Targets) -> Result<()> {
    let per_group = args.instances / args.plan_groups;
    let shape = StackShape {
        name: "benchplan",
        groups: args.plan_groups,
        per_group,
        max_surge_percent: SURGE_PERCENT,
        max_unavailable_percent: 0,
        region: SOURCE_REGION,
        copy_from: None,
        interval_s: FAST.interval,
        healthy_threshold: FAST.threshold,
        deregistration_s: FAST.deregistration,
    };
    let stack = write_stack(work, "plan-sim", &shape)?;
    let state = work.join("plan-world.json");
    let rt = sim_runtime()?;
    let setup = std::time::Instant::now();
    rt.block_on(async {
        let sim = SimCloud::new(sim_config(), Stats::new());
        apply(&sim, &stack, "1.0.0").await?;
        sim.save(&state)?;
        anyhow::Ok(())
    })?;
    let setup = setup.elapsed();
    let s = stack.to_str().context("path")?;
    let w = state.to_str().context("path")?;
    let runs = timed_plans(
        reroll,
        &["--cloud", "sim", "--sim-state", w, "--stats", "plan", s],
        &[],
        work,
        args.runs,
    )?;
    println!("## a. Plan at scale\n");
    println!(
        "### Simulator: {} server groups, {} instances\n\n\
         `reroll --cloud sim --sim-state world.json --stats plan` of a stack of {} server groups \
         of {per_group} instances (each behind its own target group, one load balancer with a \
         listener per target group), all deployed. The world was built in-process in {:.1} s \
         of wall time. Median of {} runs; the simulator answers at once, so the wall time is \
         reroll's own work plus loading and saving the {:.1} MB world file.\n",
        args.plan_groups,
        per_group * args.plan_groups,
        args.plan_groups,
        secs(setup),
        args.runs,
        std::fs::metadata(&state)?.len() as f64 / 1e6
    );
    let total = runs
        .calls
        .iter()
        .find(|c| c.0 == "total")
        .map_or(0, |c| c.1);
    t.row(
        format!("plan of {} groups ≤ 120 calls (a)", args.plan_groups),
        total.to_string(),
        total <= 120,
    );
    println!("| wall | CPU | peak memory | API calls | simulated time |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.2} s | {:.2} s | {:.1} MB | {} | {} s |\n",
        runs.wall,
        runs.cpu,
        runs.rss,
        total,
        runs.simulated.unwrap_or(0)
    );
    println!("| operation | calls |\n|---|---|");
    for (op, n) in &runs.calls {
        println!("| {op} | {n} |");
    }
    println!();
    Ok(())
}

fn plan_in_emulator(
    args: &Args,
    root: &Path,
    reroll: &Path,
    work: &Path,
    t: &Targets,
) -> Result<()> {
    let per_group = args.emulator_per_group;
    let shape = StackShape {
        name: "benchplan",
        groups: args.plan_groups,
        per_group,
        max_surge_percent: SURGE_PERCENT,
        max_unavailable_percent: 0,
        region: SOURCE_REGION,
        copy_from: None,
        interval_s: FAST.interval,
        healthy_threshold: FAST.threshold,
        deregistration_s: FAST.deregistration,
    };
    let stack = write_stack(work, "plan-emu", &shape)?;
    let s = stack.to_str().context("path")?;
    let emu = emulator::Emulator::start(root, &work.join("moto.log"))?;
    let env = emu.env();
    let setup = child::run(reroll, &["apply", s, "--auto-approve"], &env, work)?;
    if setup.code != 0 {
        bail!("deploying the emulator stack failed:\n{}", setup.stderr);
    }
    let runs = timed_plans(reroll, &["--stats", "plan", s], &env, work, args.runs)?;

    let python = emulator::localstack(root).join(".venv/bin/python");
    let floor_script = root.join("bench/floor.py");
    let mut floor_secs = Vec::new();
    let mut floor_walls = Vec::new();
    let mut floor_calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut floor_instances = 0;
    for _ in 0..args.runs.max(1) {
        let m = child::run(
            &python,
            &[
                floor_script.to_str().context("path")?,
                "--endpoint-url",
                &emu.endpoint,
                "--stack",
                "benchplan",
                "--image",
                "demo-app-1.0.0",
            ],
            &[],
            work,
        )?;
        if m.code != 0 {
            bail!("the floor script failed:\n{}", m.stderr);
        }
        let v: serde_json::Value = serde_json::from_str(m.stdout.trim())?;
        floor_secs.push(v["seconds"].as_f64().unwrap_or(0.0));
        floor_walls.push(secs(m.wall));
        floor_instances = v["instances"].as_u64().unwrap_or(0);
        floor_calls = serde_json::from_value(v["calls"].clone())?;
    }
    let floor = median(floor_secs);
    let floor_wall = median(floor_walls);
    println!(
        "### Emulator: {} server groups, {} instances\n\n\
         The same stack shape at {per_group} instances a group against a private moto server \
         (the emulator the tests use). Deploying it (`reroll apply`) took {:.0} s of wall \
         time. moto is slow: creating one 500-instance Auto Scaling group takes over a minute, \
         and each plan of this stack takes it tens of seconds to answer, so the size is chosen \
         to keep the deployment and the six timed plans within about ten minutes \
         (`--emulator-per-group` changes it). In the \
         same run, against the same emulator, `bench/floor.py` makes only the describe calls \
         any tool needs to plan this stack, one after another with boto3; its time is the API \
         calls alone (interpreter start and imports excluded; with them: {:.2} s). Medians of \
         {} runs.\n",
        args.plan_groups,
        per_group * args.plan_groups,
        secs(setup.wall),
        floor_wall,
        args.runs
    );
    println!("| | wall | CPU | peak memory | API calls |");
    println!("|---|---|---|---|---|");
    println!(
        "| reroll plan | {:.2} s | {:.2} s | {:.1} MB | {} |",
        runs.wall,
        runs.cpu,
        runs.rss,
        runs.calls
            .iter()
            .find(|c| c.0 == "total")
            .map_or(0, |c| c.1)
    );
    println!(
        "| floor (boto3) | {floor:.2} s | | | {} |",
        floor_calls.values().sum::<u64>()
    );
    println!(
        "\nThe floor read {floor_instances} live instances (the emulator may list a few more \
         than the groups' desired {} while its groups settle).",
        per_group * args.plan_groups
    );
    println!(
        "\n**reroll ÷ floor: {:.2}×** (target ≤ 1.2×).\n",
        runs.wall / floor
    );
    t.row(
        "`reroll plan` against the emulator ≤ 1.2× the boto3 floor (a)",
        format!("{:.2}×", runs.wall / floor),
        runs.wall / floor <= 1.2,
    );
    println!("| reroll operation | calls |\n|---|---|");
    for (op, n) in &runs.calls {
        println!("| {op} | {n} |");
    }
    println!("\n| floor operation | calls |\n|---|---|");
    for (op, n) in &floor_calls {
        println!("| {op} | {n} |");
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// b, c, d. Rollouts

#[derive(Debug, Clone, Copy)]
enum Who {
    Reroll,
    Peer(Peer),
}

struct Run {
    makespan: f64,
    points: Vec<Point>,
    min_healthy: u32,
}

/// Deploys v1 of the rollout stack, lets the launch bucket refill, and returns the account
/// ready for the replacement.
async fn deployed(stack: &Path) -> Result<Arc<SimCloud>> {
    let sim = Arc::new(SimCloud::new(sim_config(), Stats::new()));
    apply(&sim, stack, "1.0.0").await?;
    tokio::time::sleep(REFILL).await;
    Ok(sim)
}

async fn replacement(stack: &Path, name: &'static str, who: Who) -> Result<Run> {
    let sim = deployed(stack).await?;
    let observer = peers::observe(sim.clone(), name, POLL);
    let started = sim.elapsed();
    match who {
        Who::Reroll => apply(&sim, stack, "1.1.0").await?,
        Who::Peer(peer) => {
            peers::replace(
                &sim,
                observer.snapshots.clone(),
                name,
                "demo-app-1.1.0",
                SURGE_PERCENT,
                peer,
            )
            .await?
        }
    }
    let makespan = secs(sim.elapsed() - started);
    let points = observer.finish().await;
    let min_healthy = points.iter().map(|p| p.healthy).min().unwrap_or(0);
    Ok(Run {
        makespan,
        points,
        min_healthy,
    })
}

/// The real binary rolling the same replacement as a child process.
fn engine_cost(args: &Args, reroll: &Path, work: &Path, t: &Targets) -> Result<()> {
    let n = args.instances / args.rollout_groups * args.rollout_groups;
    let stack0 = write_stack(work, "roll-0", &rollout_shape(Size::main(args), 0, FAST))?;
    let rt = sim_runtime()?;
    // c. The engine's own cost: the real binary, as a child process.
    let state = work.join("roll-world.json");
    rt.block_on(async {
        let sim = deployed(&stack0).await?;
        sim.save(&state)?;
        anyhow::Ok(())
    })?;
    let s = stack0.to_str().context("path")?;
    let w = state.to_str().context("path")?;
    let m = child::run(
        reroll,
        &[
            "--cloud",
            "sim",
            "--sim-state",
            w,
            "--stats",
            "apply",
            s,
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
        ],
        &[],
        work,
    )?;
    if m.code != 0 {
        bail!(
            "the {n}-instance rollout through the binary failed:\n{}",
            m.stderr
        );
    }
    let simulated = child::simulated_seconds(&m.stderr).unwrap_or(0);
    let in_sim = child::simulator_seconds(&m.stderr).unwrap_or(0.0);
    let own = (secs(m.cpu) - in_sim).max(0.0);
    let heap = child::heap_peaks(&m.stderr);
    println!("## c. Engine cost during the {n}-instance rollout\n");
    println!(
        "`reroll --cloud sim --sim-state world.json apply … -var app_version=1.1.0 \
         --auto-approve` as a child process, the world holding the deployed first generation \
         ({:.1} MB of JSON); CPU time and peak resident memory from the kernel's accounting of \
         that process (`wait4`). The simulated account runs inside the same process on the \
         same thread: the CPU time spent in it (moving {n}+ instances along on every request, \
         building every answer, loading and saving the world) is read from the thread CPU \
         clock around every call into the simulator and reported apart; reroll's own CPU is \
         the rest. Memory: the peak resident size is the whole process, the simulated account \
         included; the heap is split by a counting allocator (the binary built with the \
         `count-memory` feature, as `bench/run.sh` builds it), which charges each allocation \
         to the simulator when made while it moves its world along or loads and saves it, and \
         to reroll otherwise — the answers the simulator builds included, as the SDK would \
         hold them. Simulated time of the run: {}.\n",
        std::fs::metadata(&state).map_or(0.0, |m| m.len() as f64 / 1e6),
        mmss(simulated as f64),
    );
    println!(
        "| CPU, whole process | of which the simulator | reroll itself | peak memory, whole \
         process | heap peak, simulator | heap peak, reroll | wall |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (sim_heap, own_heap) = match heap {
        Some((own, simulator)) => (
            format!("{simulator:.1} MB"),
            format!("**{own:.1} MB** (target < 60 MB)"),
        ),
        None => (
            "not counted".to_string(),
            "not counted (built without `count-memory`)".to_string(),
        ),
    };
    println!(
        "| {:.2} s | {in_sim:.2} s | **{own:.2} s** (target < 5 s) | {:.1} MB | {sim_heap} | \
         {own_heap} | {:.2} s |\n",
        secs(m.cpu),
        m.max_rss_mb,
        secs(m.wall)
    );
    let stats = child::parse_stats(&m.stderr);
    let total = stats.iter().find(|c| c.0 == "total").map_or(0, |c| c.1);
    t.row(
        format!("{n}-instance rollout ≤ 1,500 calls (c)"),
        total.to_string(),
        total <= 1500,
    );
    t.row(
        format!("reroll's own CPU at {n} < 5 s (c)"),
        format!("{own:.2} s"),
        own < 5.0,
    );
    match heap {
        Some((own_heap, _)) => t.row(
            format!("reroll's own memory at {n} < 60 MB (c)"),
            format!("{own_heap:.1} MB of heap at its peak"),
            own_heap < 60.0,
        ),
        None => t.row(
            format!("reroll's own memory at {n} < 60 MB (c)"),
            "not counted (built without `count-memory`)",
            false,
        ),
    }
    println!("| operation | calls |\n|---|---|");
    for (op, calls) in stats {
        println!("| {op} | {calls} |");
    }
    println!();
    Ok(())
}

/// A rollout's size: instances, split evenly into server groups.
#[derive(Debug, Clone, Copy)]
struct Size {
    instances: u32,
    groups: u32,
}

impl Size {
    fn main(args: &Args) -> Size {
        Size {
            instances: args.instances,
            groups: args.rollout_groups,
        }
    }

    fn per_group(self) -> u32 {
        self.instances / self.groups
    }

    fn total(self) -> u32 {
        self.per_group() * self.groups
    }
}

fn rollout_shape(size: Size, unavailable: u32, checks: Checks) -> StackShape {
    StackShape {
        name: "benchroll",
        groups: size.groups,
        per_group: size.per_group(),
        max_surge_percent: SURGE_PERCENT,
        max_unavailable_percent: unavailable,
        region: SOURCE_REGION,
        copy_from: None,
        interval_s: checks.interval,
        healthy_threshold: checks.threshold,
        deregistration_s: checks.deregistration,
    }
}

/// The lower bound of a rollout keeping `floor`% of desired serving, and how it was derived.
/// Launches: every new instance goes through the account's RunInstances bucket and the last
/// one then boots and passes its health checks; at a 100% floor only then may the last old
/// one drain (below it, the old ones may all be gone by then). Waves:
/// new instances not yet healthy are at most the surge plus the unavailability allowed (in
/// rotation ≤ desired + surge, serving ≥ desired − unavailable), so each boot and health
/// period replaces at most that many in a group, and the last drain follows.
fn lower_bound(size: Size, checks: Checks, floor: u32) -> (f64, String) {
    let n = size.total();
    let limits = sim_config().limits;
    let (burst, rate) = (limits.run_instances.burst, limits.run_instances.per_second);
    let (health, drain) = (checks.health(), f64::from(checks.deregistration));
    let per_group = size.per_group();
    let surge = (per_group * SURGE_PERCENT).div_ceil(100).max(1);
    let unavailable = per_group * (100 - floor) / 100;
    let last_launch = (f64::from(n) - burst).max(0.0) / rate;
    let last_drain = if floor >= 100 { drain } else { 0.0 };
    let rate_bound = last_launch + BOOT_S + health + last_drain;
    let waves = per_group.div_ceil(surge + unavailable);
    let wave_bound = f64::from(waves) * (BOOT_S + health) + drain;
    let bound = rate_bound.max(wave_bound);
    let text = format!(
        "at a {floor}% floor, launches: the last of {n} through a bucket of {burst} refilling at \
         {rate}/s no earlier than {last_launch:.0} s, then boot ({BOOT_S} s) and health \
         ({health} s){}: {rate_bound:.0} s; waves: {waves} of {} a group, \
         {:.0} s each, and the last drain: {wave_bound:.0} s; the bound is the larger, \
         **{bound:.0} s ({})**",
        if floor >= 100 {
            format!(", and only then the last drain ({drain} s)")
        } else {
            String::new()
        },
        surge + unavailable,
        BOOT_S + health,
        mmss(bound)
    );
    (bound, text)
}

/// One rollout section: reroll (and, with `peers`, the models of the other tools) rolling
/// `size` at `checks`, each row against the lower bound at its floor.
fn rollouts(
    work: &Path,
    size: Size,
    checks: Checks,
    peers: bool,
    section: &str,
    t: &Targets,
) -> Result<Vec<Point>> {
    let n = size.total();
    let per_group = size.per_group();
    let surge = (per_group * SURGE_PERCENT).div_ceil(100).max(1);
    let limits = sim_config().limits;
    let (burst, rate) = (limits.run_instances.burst, limits.run_instances.per_second);
    let dir = format!("{section}-{n}");
    let cases = rollout_cases(size, checks, &work.join(dir), peers)?;
    let rt = sim_runtime()?;
    let mut results = Vec::new();
    for (label, stack, who, floor) in &cases {
        let wall = std::time::Instant::now();
        let run = rt.block_on(replacement(stack, "benchroll", *who))?;
        eprintln!(
            "{section} {label}: {:.0} s simulated in {:.1} s of wall time",
            run.makespan,
            secs(wall.elapsed())
        );
        results.push((label.clone(), *who, *floor, run));
    }

    let what = if checks.deregistration == AWS_DEFAULTS.deregistration {
        format!("{n} instances at AWS's default health checks")
    } else {
        format!("{n} instances")
    };
    println!("## {section}. Rollout makespan: {what}\n");
    println!(
        "A rolling replacement of {n} instances ({} server groups of {per_group}, each behind \
         its own target group, all rolled at once) in the simulator: boot {BOOT_S} s, health \
         checks every {} s with a healthy threshold of {}, deregistration delay {} s, \
         max_surge {SURGE_PERCENT}% ({surge} a group), max_unavailable 0 or \
         {SURGE_PERCENT}%, AWS's default RunInstances limit ({burst} instances burst, then \
         {rate}/s, shared by the account), reroll looking when its cadence says, at least {} \
         s apart. The first generation was deployed and the account left idle for {} s (the \
         launch bucket full) before the replacement.\n",
        size.groups,
        checks.interval,
        checks.threshold,
        checks.deregistration,
        POLL.as_secs(),
        REFILL.as_secs()
    );
    let floors: BTreeSet<u32> = results.iter().map(|r| r.2).collect();
    let bounds: BTreeMap<u32, f64> = floors
        .iter()
        .rev()
        .map(|&floor| {
            let (bound, text) = lower_bound(size, checks, floor);
            println!("**Lower bound** {text}.\n");
            (floor, bound)
        })
        .collect();
    // For reroll's rows: the fastest peer set for the same capacity floor that also held it
    // (its lowest healthy count at or above it), over reroll's time.
    let fastest_peer = |floor: u32| {
        results
            .iter()
            .filter(|r| matches!(r.1, Who::Peer(_)) && r.2 == floor)
            .filter(|r| u64::from(r.3.min_healthy) * 100 >= u64::from(floor) * u64::from(n))
            .map(|r| r.3.makespan)
            .min_by(f64::total_cmp)
    };
    println!(
        "| how | floor | makespan | ÷ bound | lowest healthy | fastest peer at this floor ÷ this |"
    );
    println!("|---|---|---|---|---|---|");
    // AWS's makespan targets: 1.01× the bound at 5000 instances and more, 1.02× below.
    let limit = if n >= 5000 { 1.01 } else { 1.02 };
    let checked = if checks.deregistration == AWS_DEFAULTS.deregistration {
        ", AWS's default checks"
    } else {
        ""
    };
    for (label, who, floor, run) in &results {
        let ratio = format!("**{:.3}**", run.makespan / bounds[floor]);
        if matches!(who, Who::Reroll) {
            let r = run.makespan / bounds[floor];
            t.row(
                format!("{n}-instance makespan ≤ {limit}× the bound, {floor}% floor{checked} ({section})"),
                format!("{r:.3}"),
                r <= limit,
            );
            if peers && n < 5000 {
                if let Some(p) = fastest_peer(*floor) {
                    let x = p / run.makespan;
                    t.row(
                        format!("≥ 1.5× faster than the fastest peer at a {floor}% floor, {n} instances ({section})"),
                        format!("{x:.2}×"),
                        x >= 1.5,
                    );
                }
            }
        }
        let speedup = match who {
            Who::Reroll => {
                fastest_peer(*floor).map_or("-".into(), |p| format!("**{:.2}×**", p / run.makespan))
            }
            Who::Peer(_) => "-".into(),
        };
        println!(
            "| {label} | {floor}% | {} ({:.0} s) | {ratio} | {} ({:.1}%) | {speedup} |",
            mmss(run.makespan),
            run.makespan,
            run.min_healthy,
            f64::from(run.min_healthy) * 100.0 / f64::from(n),
        );
    }
    if peers {
        println!(
            "\nThe peers are **models**, written from their documented algorithms and run in \
             the same simulator (same boot, health, draining and launch-rate rules); they are \
             not the services themselves. Floor: the share of the desired capacity each is set \
             to keep (reroll's max_unavailable, the instance refresh's MinHealthyPercentage, \
             CloudFormation's MinInstancesInService). Lowest healthy is the fewest healthy \
             targets seen, sampled every {} s of simulated time: CloudFormation counts \
             InService instances, not healthy targets, so it can fall below its floor. The last \
             column compares reroll with the fastest peer set for the same floor that also \
             held it.",
            POLL.as_secs()
        );
    }
    println!();

    Ok(results.swap_remove(0).3.points)
}

/// The rollouts compared, each with its capacity floor (percent of desired that stays
/// healthy): reroll and the models of the other tools at their best documented settings for
/// that floor, each with the stack it rolls (written into `work`).
fn rollout_cases(
    size: Size,
    checks: Checks,
    work: &Path,
    peers: bool,
) -> Result<Vec<(String, PathBuf, Who, u32)>> {
    let stack0 = write_stack(work, "roll-0", &rollout_shape(size, 0, checks))?;
    let stack10 = write_stack(work, "roll-10", &rollout_shape(size, SURGE_PERCENT, checks))?;
    let refresh = |min_healthy, max_healthy, warmup: u64| {
        Who::Peer(Peer::InstanceRefresh {
            min_healthy,
            max_healthy,
            warmup: Duration::from_secs(warmup),
        })
    };
    let cfn = |min_in_service| {
        Who::Peer(Peer::CloudFormation {
            min_in_service,
            pause: Duration::ZERO,
        })
    };
    let refresh_label = |min: u32, max: u32, warmup: &str| {
        format!(
            "model of EC2 instance refresh: MinHealthyPercentage {min}, MaxHealthyPercentage \
             {max}, InstanceWarmup {warmup}"
        )
    };
    let floor = 100 - SURGE_PERCENT;
    let all = vec![
        (
            format!("reroll: max_surge {SURGE_PERCENT}%, max_unavailable 0"),
            stack0.clone(),
            Who::Reroll,
            100,
        ),
        (
            refresh_label(
                100,
                100 + SURGE_PERCENT,
                "30 s (the health check grace period)",
            ),
            stack0.clone(),
            refresh(100, 100 + SURGE_PERCENT, 30),
            100,
        ),
        (
            refresh_label(100, 100 + SURGE_PERCENT, "0"),
            stack0.clone(),
            refresh(100, 100 + SURGE_PERCENT, 0),
            100,
        ),
        (
            format!(
                "model of CloudFormation AutoScalingRollingUpdate: MaxBatchSize {SURGE_PERCENT}%, \
                 MinInstancesInService = desired, PauseTime PT0S"
            ),
            stack0.clone(),
            cfn(100),
            100,
        ),
        (
            format!(
                "reroll: max_surge {SURGE_PERCENT}%, max_unavailable {SURGE_PERCENT}% (a {floor}% \
                 floor)"
            ),
            stack10,
            Who::Reroll,
            floor,
        ),
        (
            refresh_label(floor, 100 + SURGE_PERCENT, "0"),
            stack0.clone(),
            refresh(floor, 100 + SURGE_PERCENT, 0),
            floor,
        ),
        (
            refresh_label(floor, 100, "0 (AWS's default percentages)"),
            stack0.clone(),
            refresh(floor, 100, 0),
            floor,
        ),
        (
            format!(
                "model of CloudFormation AutoScalingRollingUpdate: MaxBatchSize {SURGE_PERCENT}%, \
                 MinInstancesInService {floor}%, PauseTime PT0S"
            ),
            stack0.clone(),
            cfn(floor),
            floor,
        ),
    ];
    Ok(all
        .into_iter()
        .filter(|c| peers || matches!(c.2, Who::Reroll))
        .collect())
}

/// d. The first rollout (reroll, max_unavailable 0) as a picture.
fn picture(args: &Args, points: &[Point]) -> Result<()> {
    let n = args.instances / args.rollout_groups * args.rollout_groups;
    let floor = n;
    let picture = svg::render(
        &format!("reroll rolling {n} instances (simulated): capacity over time"),
        points,
        floor,
    );
    let path = args
        .svg
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("bench/rollout-{n}.svg")));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&path, picture)?;
    println!("## d. The picture\n");
    println!(
        "Written to `{}`: old and new generation (live instances), healthy and draining \
         targets, every {} s of simulated time, for the first run above.\n",
        path.display(),
        POLL.as_secs()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// e. Restore into an empty region

/// The rollout stack restored into a region that holds only the network: its image is copied
/// from the source region first, then every group is created from nothing.
fn restore(args: &Args, work: &Path, t: &Targets) -> Result<()> {
    let n = args.instances / args.rollout_groups * args.rollout_groups;
    let shape = StackShape {
        name: "benchrestore",
        region: RESTORE_REGION,
        copy_from: Some(SOURCE_REGION),
        ..rollout_shape(Size::main(args), 0, FAST)
    };
    let stack = write_stack(work, "restore", &shape)?;
    let config = SimConfig {
        region: RESTORE_REGION.into(),
        missing_images: ["demo-app-1.0.0".to_string()].into(),
        ..sim_config()
    };
    let burst = config.limits.run_instances.burst;
    let rate = config.limits.run_instances.per_second;
    let health = FAST.health();
    let rt = sim_runtime()?;
    let wall = std::time::Instant::now();
    let (copy, run, calls) = rt.block_on(async {
        let sim = Arc::new(SimCloud::new(config, Stats::new()));
        let source = sim
            .describe_images_in(
                SOURCE_REGION,
                &ImageFilter {
                    owners: vec!["self".into()],
                    name: Some("demo-app-1.0.0".into()),
                    ..Default::default()
                },
            )
            .await?
            .pop()
            .context("the source region holds the image")?;
        let copy = reroll::plan::copy::copy_seconds(&source.snapshots) as f64;
        let observer = peers::observe(sim.clone(), shape.name, POLL);
        let started = sim.elapsed();
        apply(&sim, &stack, "1.0.0").await?;
        let makespan = secs(sim.elapsed() - started);
        let points = observer.finish().await;
        let healthy_at = points
            .iter()
            .find(|p| p.healthy >= n)
            .map_or(makespan, |p| p.at);
        anyhow::Ok((copy, (makespan, healthy_at), sim.stats().snapshot()))
    })?;
    let (makespan, healthy_at) = run;
    eprintln!(
        "restore: {makespan:.0} s simulated in {:.1} s of wall time",
        secs(wall.elapsed())
    );
    let launch = (f64::from(n) - burst).max(0.0) / rate;
    let bound = copy + launch + BOOT_S + health;
    println!("## e. Restore into an empty region: {n} instances\n");
    println!(
        "The rollout's stack ({} server groups of {}, each behind its own target group) applied \
         into {RESTORE_REGION}, a region that holds the network and nothing else: the image is \
         copied from {SOURCE_REGION} (`copy_from`), then every group, target group and the \
         load balancer are created. The same simulated rules as the rollout: boot {BOOT_S} s, \
         {} health checks {} s apart, AWS's default \
         RunInstances limit ({burst} instances burst, then {rate}/s), the copy taking the time \
         the plan estimates for its snapshots.\n",
        FAST.threshold,
        FAST.interval,
        args.rollout_groups,
        n / args.rollout_groups,
    );
    println!(
        "**Lower bound**, computed as the rollout's: the copy ({copy:.0} s), then {n} launches \
         through the bucket, the last no earlier than ({n} − {burst}) / {rate} = {launch:.0} s \
         after it, which then boots ({BOOT_S} s) and passes its health checks ({health} s): \
         **{bound:.0} s ({})**.\n",
        mmss(bound)
    );
    let total: u64 = calls.values().map(|c| c.calls).sum();
    t.row(
        format!("{n}-instance restore ≤ 1.05× its bound (e)"),
        format!("{:.3}", makespan / bound),
        makespan / bound <= 1.05,
    );
    println!("| restore | all healthy | apply done | ÷ bound | API calls |");
    println!("|---|---|---|---|---|");
    println!(
        "| {n} instances into {RESTORE_REGION} | {} ({healthy_at:.0} s) | {} ({makespan:.0} s) \
         | **{:.3}** (target ≤ 1.05) | {total} |\n",
        mmss(healthy_at),
        mmss(makespan),
        makespan / bound
    );
    println!("| operation | calls |\n|---|---|");
    for (op, c) in &calls {
        println!("| {op} | {} |", c.calls);
    }
    println!();
    Ok(())
}
