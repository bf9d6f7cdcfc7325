//! Every way out of a rollout leaves the account consistent. For every position k of the
//! calls a rolling, a canary and a blue/green rollout make, the k-th call fails, once with a
//! refusal and once with a transient error, and afterwards:
//!
//! - the scaling processes reroll suspended are resumed: no `reroll:suspended` record is left,
//!   and no process is suspended;
//! - serving capacity never fell below `desired - max_unavailable`;
//! - no instance was left running outside every generation;
//! - a second apply converges: one generation on the new image, fully healthy, and no change
//!   planned after it.
//!
//! A transient error never ends a rollout once it has begun (the first suspension); a refusal
//! ends it with an error and the state above. `reroll rollback` (rolling and blue/green) is
//! swept with refusals the same way.
//!
//! `cargo test --test sim_faults -- --nocapture` prints the positions tried and how they
//! ended.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions};
use reroll::cloud::fault::{FailCall, FaultCloud, Faults};
use reroll::cloud::sim::{SimCloud, SimConfig, SimSnapshot};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, ImageFilter, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;

const INSTANCES: usize = 4;

struct Strategy {
    name: &'static str,
    fixture: &'static str,
    stack: &'static str,
    vars: &'static [(&'static str, &'static str)],
}

const ROLLING: Strategy = Strategy {
    name: "rolling",
    fixture: "sim-rolling",
    stack: "simroll",
    vars: &[
        ("instances", "4"),
        ("deregistration_delay", "10s"),
        ("health_interval", "5s"),
    ],
};

const CANARY: Strategy = Strategy {
    name: "canary",
    fixture: "sim-canary",
    stack: "simcanary",
    vars: &[("instances", "4"), ("bake", "1m")],
};

const BLUE_GREEN: Strategy = Strategy {
    name: "blue/green",
    fixture: "sim-bluegreen",
    stack: "simbg",
    vars: &[
        ("instances", "4"),
        ("step_bake", "30s"),
        ("keep_blue", "1m"),
    ],
};

fn fixture(s: &Strategy) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(s.fixture)
}

fn inputs(s: &Strategy, version: &str) -> Inputs {
    let mut cli = vec![("app_version".to_string(), version.to_string())];
    cli.extend(s.vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

/// Plans and applies `version`, as `reroll apply --auto-approve` does; nothing to do is fine.
async fn apply(cloud: &dyn Cloud, s: &Strategy, version: &str) -> Result<(), EngineError> {
    let session = engine::open(cloud, &fixture(s), inputs(s, version)).await?;
    let plan = session.plan(false)?;
    if !plan.has_changes() {
        return Ok(());
    }
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    engine::execute(cloud, session, &plan, &opts, &Stop::new())
        .await
        .0
        .map(|_| ())
}

async fn plans_changes(cloud: &dyn Cloud, s: &Strategy, version: &str) -> bool {
    let session = engine::open(cloud, &fixture(s), inputs(s, version))
        .await
        .unwrap();
    session.plan(false).unwrap().has_changes()
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

/// `reroll rollback` of every group, as the command does with `--auto-approve`.
async fn roll_back(cloud: &dyn Cloud, s: &Strategy) -> Result<(), EngineError> {
    let mut inputs = inputs(s, "1.1.0");
    inputs.allow_missing = true;
    let session = engine::open(cloud, &fixture(s), inputs).await?;
    let targets = reroll::rollback::targets(&session.stack, &session.observed, None)
        .map_err(|e| EngineError::Apply(ApplyError::Unsupported(e)))?;
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    reroll::rollback::execute(cloud, &session, &targets, &opts, &Stop::new())
        .await
        .0
}

/// What a swept run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Roll v1 forward to v1.1.0.
    Apply,
    /// Roll back from v1.1.0 to the retained v1.
    Rollback,
}

impl Run {
    async fn go(self, cloud: &dyn Cloud, s: &Strategy) -> Result<(), EngineError> {
        match self {
            Run::Apply => apply(cloud, s, "1.1.0").await,
            Run::Rollback => roll_back(cloud, s).await,
        }
    }

    /// The version the account must end on.
    fn version(self) -> &'static str {
        match self {
            Run::Apply => "1.1.0",
            Run::Rollback => "1.0.0",
        }
    }
}

/// The account before the run, as saved JSON.
async fn base_world(s: &Strategy, run: Run) -> String {
    let sim = SimCloud::new(SimConfig::default(), Stats::new());
    sim.set_alarm_state("shop-5xx", "OK");
    apply(&sim, s, "1.0.0").await.unwrap();
    if run == Run::Rollback {
        apply(&sim, s, "1.1.0").await.unwrap();
    }
    sim.to_json()
}

// ---------------------------------------------------------------------------------------------
// Watching a run

/// Running instances of the stack that no group and no fleet holds.
fn orphans(snap: &SimSnapshot, stack: &str) -> BTreeSet<String> {
    snap.instances
        .iter()
        .filter(|i| i.stack.as_deref() == Some(stack))
        .filter(|i| i.state.is_live())
        .filter(|i| i.group.is_none() && i.fleet.is_none())
        .map(|i| i.id.clone())
        .collect()
}

/// How long an instance may run outside every generation: between a detach and the
/// terminate that follows it.
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

struct Watch {
    done: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<String>>,
}

/// Samples every simulated second: serving capacity at or above the floor, no instance
/// outside every generation for long, none terminated while healthy.
fn watch(sim: Arc<SimCloud>, stack: &'static str) -> Watch {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = tokio::spawn(async move {
        let mut problems = Vec::new();
        let mut orphaned_at: BTreeMap<String, Duration> = BTreeMap::new();
        while !flag.load(Ordering::SeqCst) {
            let snap = sim.snapshot();
            let serving = snap.serving();
            if serving < INSTANCES && problems.len() < 5 {
                problems.push(format!("at {:?}: {serving} serving", snap.at));
            }
            let now = orphans(&snap, stack);
            orphaned_at.retain(|id, _| now.contains(id));
            for id in now {
                let since = *orphaned_at.entry(id.clone()).or_insert(snap.at);
                if snap.at - since > ORPHAN_GRACE && problems.len() < 5 {
                    problems.push(format!("at {:?}: {id} orphaned since {since:?}", snap.at));
                }
            }
            for i in &snap.instances {
                if i.terminated_with
                    .values()
                    .any(|s| *s == TargetState::Healthy)
                    && problems.len() < 5
                {
                    problems.push(format!("{} terminated while healthy", i.id));
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        problems
    });
    Watch { done, handle }
}

impl Watch {
    async fn finish(self) -> Vec<String> {
        self.done.store(true, Ordering::SeqCst);
        let mut problems = self.handle.await.unwrap();
        problems.dedup();
        problems
    }
}

/// What is wrong with the scaling processes: a `reroll:suspended` record left, or a process
/// still suspended (nothing else suspends any; reroll refuses to roll a group whose processes
/// someone else suspended).
async fn suspensions(sim: &SimCloud, s: &Strategy) -> Vec<String> {
    let mut problems = Vec::new();
    for g in sim.list_groups(s.stack).await.unwrap() {
        if g.status.is_some() {
            continue;
        }
        if g.tags.get(tag::SUSPENDED).is_some_and(|v| !v.is_empty()) {
            problems.push(format!(
                "{} still records {:?}",
                g.name,
                g.tags[tag::SUSPENDED]
            ));
        }
        if !g.suspended_processes.is_empty() {
            problems.push(format!(
                "{} has {:?} suspended",
                g.name, g.suspended_processes
            ));
        }
    }
    problems
}

/// One generation on `image`, fully healthy and serving; every other generation empty.
async fn converged(sim: &SimCloud, s: &Strategy, image: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let groups = sim.list_groups(s.stack).await.unwrap();
    let active: Vec<_> = groups
        .iter()
        .filter(|g| g.tags.get(tag::STATE).map(String::as_str) == Some("active"))
        .collect();
    if active.len() != 1 || active[0].instances.len() != INSTANCES {
        problems.push(format!(
            "not one active generation of {INSTANCES}: {groups:?}"
        ));
        return problems;
    }
    let snap = sim.snapshot();
    let running: Vec<_> = snap
        .instances
        .iter()
        .filter(|i| i.stack.as_deref() == Some(s.stack))
        .filter(|i| i.state.is_live())
        .collect();
    if running.len() != INSTANCES || running.iter().any(|i| i.image_id != image) {
        problems.push(format!("running: {running:?}"));
    }
    if snap.serving() != INSTANCES {
        problems.push(format!("{} serving", snap.serving()));
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// How a run with one failed call ended.
fn ending(r: &Result<(), EngineError>) -> &'static str {
    match r {
        Ok(()) => "completed",
        Err(EngineError::Apply(ApplyError::Cleanup { .. })) => "cleanup failed",
        Err(EngineError::Apply(ApplyError::Paused { .. })) => "stopped part-way",
        Err(EngineError::Apply(ApplyError::RolledBack { .. })) => "rolled back",
        Err(EngineError::Apply(_)) => "failed (exit 1)",
        Err(_) => "failed before applying",
    }
}

/// Fails each call position of `run` in turn and checks the account after each; returns how
/// the runs ended, by ending.
async fn sweep(
    s: &'static Strategy,
    run: Run,
    transient: bool,
) -> BTreeMap<&'static str, Vec<u64>> {
    let base = base_world(s, run).await;
    let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
    let image = image_id(&*sim, run.version()).await;
    // The calls of a run without faults.
    let clean = FaultCloud::new(sim.clone(), s.stack, Faults::default());
    run.go(&clean, s).await.unwrap();
    let calls = clean.calls();
    let begins = calls
        .iter()
        .position(|c| *c == "suspend_processes")
        .expect("a rollout suspends processes") as u64;

    let mut endings: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in 1..=calls.len() as u64 + 1 {
        let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
        let fail = FailCall {
            transient,
            ..FailCall::at(k)
        };
        let faulty = FaultCloud::new(
            sim.clone(),
            s.stack,
            Faults {
                fail: Some(fail),
                ..Faults::default()
            },
        );
        let w = watch(sim.clone(), s.stack);
        let first = run.go(&faulty, s).await;
        let mut problems = w.finish().await;
        let failed_call = calls.get(k as usize - 1).copied().unwrap_or("none");
        let left = orphans(&sim.snapshot(), s.stack);
        if !left.is_empty() {
            problems.push(format!("left running outside every generation: {left:?}"));
        }
        if !matches!(first, Err(EngineError::Apply(ApplyError::Cleanup { .. }))) {
            problems.extend(suspensions(&sim, s).await);
        }
        if transient && first.is_err() && k > begins {
            problems.push(format!("a transient error ended the rollout: {first:?}"));
        }
        // The same command again finishes the job (a rollback that completed has nothing left
        // to roll back).
        let second = match (run, &first) {
            (Run::Rollback, Ok(())) => Ok(()),
            _ => run.go(&*sim, s).await,
        };
        if let Err(e) = &second {
            problems.push(format!("running it again failed: {e}"));
        } else {
            problems.extend(converged(&sim, s, &image).await);
            problems.extend(suspensions(&sim, s).await);
            if run == Run::Apply && plans_changes(&*sim, s, "1.1.0").await {
                problems.push("a third plan still has changes".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {run:?} k={k} ({failed_call}, first run {}): {problems:?}",
                s.name,
                match &first {
                    Ok(()) => "ok".to_string(),
                    Err(e) => e.to_string(),
                }
            ));
        }
        endings.entry(ending(&first)).or_default().push(k);
    }
    let summary: Vec<String> = endings
        .iter()
        .map(|(e, ks)| match ks.len() {
            n if n <= 3 => format!("{e}: {n} (at {ks:?})"),
            n => format!("{e}: {n}"),
        })
        .collect();
    eprintln!(
        "{} {run:?}, {}: {} positions tried ({} calls without faults, the rollout begins at \
         call {}); {}",
        s.name,
        if transient {
            "transient errors"
        } else {
            "refusals"
        },
        calls.len() + 1,
        calls.len(),
        begins + 1,
        summary.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    endings
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_rolling_rollout_leaves_it_consistent() {
    let endings = sweep(&ROLLING, Run::Apply, false).await;
    assert!(endings["failed (exit 1)"].len() > 20, "{endings:?}");
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_rolling_rollout_does_not_end_it() {
    sweep(&ROLLING, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_canary_rollout_leaves_it_consistent() {
    sweep(&CANARY, Run::Apply, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_canary_rollout_does_not_end_it() {
    sweep(&CANARY, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_blue_green_rollout_leaves_it_consistent() {
    sweep(&BLUE_GREEN, Run::Apply, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_blue_green_rollout_does_not_end_it() {
    sweep(&BLUE_GREEN, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_rollback_leaves_it_consistent() {
    sweep(&ROLLING, Run::Rollback, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_blue_green_rollback_leaves_it_consistent() {
    sweep(&BLUE_GREEN, Run::Rollback, false).await;
}

/// A transient error in the middle of a rollout is waited out, logged and counted in
/// `--stats` as a retried call of its operation.
#[tokio::test(start_paused = true)]
async fn a_transient_error_is_retried_and_counted() {
    let base = base_world(&ROLLING, Run::Apply).await;
    let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
    let faulty = FaultCloud::new(
        sim.clone(),
        ROLLING.stack,
        Faults {
            // The fifth health read is well inside the rollout's rounds.
            fail: Some(FailCall {
                at: 5,
                operations: ["target_health".to_string()].into(),
                transient: true,
            }),
            ..Faults::default()
        },
    );
    let stats = Stats::new();
    let session = engine::open(&faulty, &fixture(&ROLLING), inputs(&ROLLING, "1.1.0"))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        stats: stats.clone(),
        ..ApplyOptions::default()
    };
    let (result, _) = engine::execute(&faulty, session, &plan, &opts, &Stop::new()).await;
    assert!(result.is_ok(), "{:?}", result.err());
    let counted = stats.snapshot();
    assert_eq!(counted["target_health"].retried, 1, "{counted:?}");
    assert_eq!(stats.total_retried(), 1);
}
