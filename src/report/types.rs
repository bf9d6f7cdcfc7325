//! What a report is made of, and the `Recorder` that collects the progress it draws.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::apply::progress::Progress;
use crate::apply::GroupReport;
use crate::forecast::{Sample, WaveForecast};
use crate::plan::Plan;

/// Collects every progress report with the time since the apply began, on tokio's clock:
/// simulated time on a simulated account.
#[derive(Debug, Clone)]
pub struct Recorder {
    started: tokio::time::Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Recorder {
    /// Starts the clock now (call it on the runtime the apply runs on).
    pub fn start() -> Self {
        Recorder {
            started: tokio::time::Instant::now(),
            samples: Arc::default(),
        }
    }

    /// The sink to report progress to.
    pub fn progress(&self) -> Progress {
        let (started, samples) = (self.started, self.samples.clone());
        Progress::new(move |p| {
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Sample {
                    at: started.elapsed(),
                    progress: p.clone(),
                });
        })
    }

    /// Everything reported so far, in order.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Time since the apply began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What happened, for [`build`].
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub stack: &'a str,
    pub region: &'a str,
    /// `None` when the apply ended before it had a plan.
    pub plan: Option<&'a Plan>,
    pub samples: &'a [Sample],
    pub reports: &'a [GroupReport],
    /// `ok`, `rolled back`, `stopped part-way`, `interrupted`, `failed`, `no changes`, …
    pub result: &'a str,
    pub exit_code: u8,
    /// Why it did not succeed, as printed.
    pub message: Option<&'a str>,
    pub started: SystemTime,
    pub duration: Duration,
    /// Times are simulated (`--cloud sim`).
    pub simulated: bool,
}

/// The page's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub stack: String,
    pub region: String,
    /// When the apply began, RFC 3339 (UTC).
    pub started: String,
    pub duration: Duration,
    pub simulated: bool,
    pub result: String,
    pub exit_code: u8,
    pub message: Option<String>,
    pub changes: Vec<ChangeRow>,
    pub rollouts: Vec<Rollout>,
    pub events: Vec<Event>,
}

/// One planned change and, for a server group, how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub address: String,
    pub action: String,
    pub reason: String,
    /// Waves got through of those planned (`4`, `2/4`).
    pub waves: Option<String>,
    pub duration: Option<Duration>,
    pub result: Option<String>,
}

/// One server group's rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    pub strategy: String,
    pub desired: u32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub result: String,
    pub waves_through: u32,
    /// The plan's waves, with when each started, was healthy and had drained as far as known.
    pub waves: Vec<WaveForecast>,
    pub points: Vec<Point>,
    /// When its last report came.
    pub end: Duration,
}

impl Rollout {
    /// The capacity floor: serving instances never fewer than this.
    pub fn floor(&self) -> u32 {
        self.desired.saturating_sub(self.max_unavailable)
    }
}

/// A rollout's capacity at one report, at seconds since the apply began.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub at: f64,
    pub old: u32,
    pub healthy: u32,
    pub launching: u32,
    pub draining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    /// The server group it concerns; `None` for the apply as a whole.
    pub address: Option<String>,
    pub text: String,
}
