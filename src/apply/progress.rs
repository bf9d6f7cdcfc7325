//! Progress of rollouts as events, for whoever displays them (a live view on a terminal).
//! Log lines are written separately through `tracing`.

use std::sync::Arc;
use std::time::Duration;

/// Where one server group's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutProgress {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    pub desired: u32,
    /// New instances asked for but not healthy yet.
    pub launching: u32,
    pub healthy: u32,
    pub old_serving: u32,
    pub draining: u32,
    pub waves: u32,
    pub elapsed: Duration,
    /// From the plan's estimate.
    pub estimate: Duration,
    /// Set once, at the end: `ok`, `rolled back`, …
    pub finished: Option<String>,
}

type Sink = dyn Fn(&RolloutProgress) + Send + Sync;

/// A receiver of progress events; by default nobody listens.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Sink>>);

impl Progress {
    pub fn new(sink: impl Fn(&RolloutProgress) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(sink)))
    }

    pub fn report(&self, p: &RolloutProgress) {
        if let Some(sink) = &self.0 {
            sink(p);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(on)"
        } else {
            "Progress(off)"
        })
    }
}
