//! The plain data an apply run is configured with and reports: options, health waits and
//! their outcome, and what became of each server group and rollout.

use std::time::Duration;

use super::progress;
use crate::cloud::stats::Stats;
use crate::plan::Action;

/// Settings of one apply run.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Server groups rolled out at the same time.
    pub parallelism: usize,
    /// How often to poll while waiting.
    pub poll: Duration,
    /// Who is told how rollouts progress.
    pub progress: progress::Progress,
    /// Where calls retried after transient errors are counted (`--stats`).
    pub stats: Stats,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            poll: Duration::from_secs(5),
            progress: progress::Progress::default(),
            stats: Stats::default(),
        }
    }
}

/// One generation to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthWait {
    pub address: String,
    pub group_name: String,
    pub desired: u32,
    pub target_group_arns: Vec<String>,
    /// True for a generation this apply created (removable on failure).
    pub is_new: bool,
    /// An instance-mode generation (no Auto Scaling group).
    pub fleet: bool,
}

/// The waits that did not become healthy in time, with what was seen.
#[derive(Debug, Default)]
pub struct WaitOutcome {
    pub failures: Vec<(HealthWait, String)>,
}

/// How a finished rollout went, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    /// Waves of the plan's schedule got through ([`crate::plan::waves_through`]).
    pub waves: u32,
    pub duration: Duration,
}

/// What happened to one server group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub address: String,
    pub action: Action,
    pub from: Option<u32>,
    pub to: Option<u32>,
    /// Waves of the plan's schedule got through ([`crate::plan::waves_through`]): all of them when
    /// the change succeeded, the ones finished when it stopped or failed.
    pub waves: u32,
    /// Waves in the plan's schedule.
    pub planned_waves: u32,
    pub duration: Duration,
    /// `ok`, or what went wrong.
    pub result: String,
}

impl GroupReport {
    /// The generations it went between, for a summary: `v001 → v002`, `v001`, or `-`.
    pub fn generations(&self) -> String {
        match (self.from, self.to) {
            (Some(a), Some(b)) => format!("v{a:03} → v{b:03}"),
            (None, Some(b)) => format!("v{b:03}"),
            _ => "-".into(),
        }
    }
}
