//! What the simulator sweeps (tests/sim_faults.rs, tests/sim_crashes.rs) share: the
//! strategies swept, applying and rolling back as the commands do, and watching an account for
//! the invariants every way out of a rollout must keep.

#![allow(dead_code)] // each sweep uses part of it

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions};
use reroll::cloud::sim::{SimCloud, SimConfig, SimSnapshot};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, ImageFilter, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;

pub const INSTANCES: usize = 4;

pub struct Strategy {
    pub name: &'static str,
    pub fixture: &'static str,
    pub stack: &'static str,
    pub vars: &'static [(&'static str, &'static str)],
}

pub const ROLLING: Strategy = Strategy {
    name: "rolling",
    fixture: "sim-rolling",
    stack: "simroll",
    vars: &[
        ("instances", "4"),
        ("deregistration_delay", "10s"),
        ("health_interval", "5s"),
    ],
};

pub const CANARY: Strategy = Strategy {
    name: "canary",
    fixture: "sim-canary",
    stack: "simcanary",
    vars: &[("instances", "4"), ("bake", "1m")],
};

pub const BLUE_GREEN: Strategy = Strategy {
    name: "blue/green",
    fixture: "sim-bluegreen",
    stack: "simbg",
    vars: &[
        ("instances", "4"),
        ("step_bake", "30s"),
        ("keep_blue", "1m"),
    ],
};

pub fn fixture(s: &Strategy) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(s.fixture)
}

pub fn inputs(s: &Strategy, version: &str) -> Inputs {
    let mut cli = vec![("app_version".to_string(), version.to_string())];
    cli.extend(s.vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

/// Plans and applies `version`, as `reroll apply --auto-approve` does; nothing to do is fine.
pub async fn apply(cloud: &dyn Cloud, s: &Strategy, version: &str) -> Result<(), EngineError> {
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

pub async fn plans_changes(cloud: &dyn Cloud, s: &Strategy, version: &str) -> bool {
    let session = engine::open(cloud, &fixture(s), inputs(s, version))
        .await
        .unwrap();
    session.plan(false).unwrap().has_changes()
}

pub async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

/// `reroll rollback` of every group, as the command does with `--auto-approve`.
pub async fn roll_back(cloud: &dyn Cloud, s: &Strategy) -> Result<(), EngineError> {
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
pub enum Run {
    /// Roll v1 forward to v1.1.0.
    Apply,
    /// Roll back from v1.1.0 to the retained v1.
    Rollback,
}

impl Run {
    pub async fn go(self, cloud: &dyn Cloud, s: &Strategy) -> Result<(), EngineError> {
        match self {
            Run::Apply => apply(cloud, s, "1.1.0").await,
            Run::Rollback => roll_back(cloud, s).await,
        }
    }

    /// The version the account must end on.
    pub fn version(self) -> &'static str {
        match self {
            Run::Apply => "1.1.0",
            Run::Rollback => "1.0.0",
        }
    }
}

/// The account before the run, as saved JSON.
pub async fn base_world(s: &Strategy, run: Run) -> String {
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
pub fn orphans(snap: &SimSnapshot, stack: &str) -> BTreeSet<String> {
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
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);

pub struct Watch {
    done: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<String>>,
}

/// Samples every simulated second: serving capacity at or above the floor, no instance
/// outside every generation for long, none terminated while healthy.
pub fn watch(sim: Arc<SimCloud>, stack: &'static str) -> Watch {
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
    pub async fn finish(self) -> Vec<String> {
        self.done.store(true, Ordering::SeqCst);
        let mut problems = self.handle.await.unwrap();
        problems.dedup();
        problems
    }
}

/// What is wrong with the scaling processes: a `reroll:suspended` record left, or a process
/// still suspended (nothing else suspends any; reroll refuses to roll a group whose processes
/// someone else suspended).
pub async fn suspensions(sim: &SimCloud, s: &Strategy) -> Vec<String> {
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
pub async fn converged(sim: &SimCloud, s: &Strategy, image: &str) -> Vec<String> {
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
