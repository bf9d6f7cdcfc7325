//! Counting API calls per operation, for `--stats` and for tests that hold reroll to its
//! promise of a bounded number of calls.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Calls and attempts per `Service.Operation`. Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    inner: Arc<Mutex<BTreeMap<String, OpCount>>>,
}

/// Counters of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpCount {
    /// Logical calls (one per request the engine made, pages counted separately).
    pub calls: u64,
    /// HTTP attempts, retries included.
    pub attempts: u64,
    /// Attempts refused for throttling.
    pub throttled: u64,
    /// Calls that failed with a transient error after the client's own retries, after which
    /// a rollout waited and tried again (the round, the step or the wait).
    pub retried: u64,
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_call(&self, operation: &str) {
        self.entry(operation, |c| c.calls += 1);
    }

    pub fn record_attempt(&self, operation: &str) {
        self.entry(operation, |c| c.attempts += 1);
    }

    pub fn record_throttle(&self, operation: &str) {
        self.entry(operation, |c| c.throttled += 1);
    }

    pub fn record_retry(&self, operation: &str) {
        self.entry(operation, |c| c.retried += 1);
    }

    /// Calls retried by rollouts, in all.
    pub fn total_retried(&self) -> u64 {
        self.snapshot().values().map(|c| c.retried).sum()
    }

    fn entry(&self, operation: &str, f: impl FnOnce(&mut OpCount)) {
        let mut map = self.inner.lock().expect("stats lock poisoned");
        f(map.entry(operation.to_string()).or_default());
    }

    /// A copy of the counters, sorted by operation name.
    pub fn snapshot(&self) -> BTreeMap<String, OpCount> {
        self.inner.lock().expect("stats lock poisoned").clone()
    }

    /// Total logical calls.
    pub fn total_calls(&self) -> u64 {
        self.snapshot().values().map(|c| c.calls).sum()
    }

    /// A small aligned table, one operation a line, and a total.
    pub fn render(&self) -> String {
        let snap = self.snapshot();
        let width = snap.keys().map(|k| k.len()).max().unwrap_or(9).max(9);
        let mut out = format!(
            "{:<width$}  {:>6}  {:>8}  {:>9}  {:>7}\n",
            "operation", "calls", "attempts", "throttled", "retried"
        );
        let mut total = OpCount::default();
        for (op, c) in &snap {
            out.push_str(&format!(
                "{op:<width$}  {:>6}  {:>8}  {:>9}  {:>7}\n",
                c.calls, c.attempts, c.throttled, c.retried
            ));
            total.calls += c.calls;
            total.attempts += c.attempts;
            total.throttled += c.throttled;
            total.retried += c.retried;
        }
        out.push_str(&format!(
            "{:<width$}  {:>6}  {:>8}  {:>9}  {:>7}\n",
            "total", total.calls, total.attempts, total.throttled, total.retried
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_per_operation() {
        let s = Stats::new();
        s.record_call("EC2.DescribeInstances");
        s.record_attempt("EC2.DescribeInstances");
        s.record_attempt("EC2.DescribeInstances");
        s.record_throttle("EC2.DescribeInstances");
        s.record_call("AutoScaling.DescribeAutoScalingGroups");
        s.record_retry("AutoScaling.DescribeAutoScalingGroups");
        assert_eq!(s.total_calls(), 2);
        assert_eq!(s.total_retried(), 1);
        let table = s.render();
        assert!(table.contains("EC2.DescribeInstances"), "{table}");
        assert!(table.lines().last().unwrap().starts_with("total"));
    }
}
