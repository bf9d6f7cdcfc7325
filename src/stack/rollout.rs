//! How a server group rolls: strategy, surge and unavailability, health gates, canary
//! checkpoints, blue/green traffic steps and hooks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A count or a percentage of desired capacity, as in `max_surge = "25%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    Count(u32),
    Percent(u32),
}

impl Quantity {
    /// Resolves against `desired`: a surge rounds up, an unavailability rounds down
    /// (Kubernetes' rule, so that a percentage never blocks progress nor over-drains).
    pub fn resolve(self, desired: u32, round_up: bool) -> u32 {
        match self {
            Quantity::Count(n) => n,
            Quantity::Percent(p) => {
                let scaled = u64::from(desired) * u64::from(p);
                let v = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                v as u32
            }
        }
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Rolling,
    Canary,
    BlueGreen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    Rollback,
    Pause,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthGate {
    pub grace: Duration,
    pub timeout: Duration,
    pub alarms: Vec<String>,
}

/// `canary { instances, bake, steps }`: checkpoints that bake before the rollout goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Size of the first wave, the canary.
    pub instances: Quantity,
    /// How long the canary (and each step) must stay healthy with its alarms quiet.
    pub bake: Duration,
    /// Further checkpoints, as shares of desired capacity, each baked in turn.
    pub steps: Vec<Quantity>,
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            instances: Quantity::Count(1),
            bake: Duration::from_secs(600),
            steps: Vec::new(),
        }
    }
}

impl Canary {
    /// The numbers of new instances at which the rollout stops to bake, increasing, each below
    /// `desired` (the last stretch needs no checkpoint: it is the end).
    pub fn checkpoints(&self, desired: u32) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for q in std::iter::once(&self.instances).chain(&self.steps) {
            let n = q.resolve(desired, true).max(1);
            if n < desired && out.last().is_none_or(|&l| n > l) {
                out.push(n);
            }
        }
        out
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// Once the new generation exists, before its first instance is launched.
    BeforeRollout,
    /// Each time a wave of new instances is healthy, before old instances are drained for it.
    AfterWave,
    /// Blue/green: before each move of listener traffic.
    BeforeTrafficShift,
    /// When every new instance serves, before the old generation is retired.
    AfterRollout,
}

impl HookEvent {
    pub const ALL: [HookEvent; 4] = [
        HookEvent::BeforeRollout,
        HookEvent::AfterWave,
        HookEvent::BeforeTrafficShift,
        HookEvent::AfterRollout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::BeforeRollout => "before_rollout",
            HookEvent::AfterWave => "after_wave",
            HookEvent::BeforeTrafficShift => "before_traffic_shift",
            HookEvent::AfterRollout => "after_rollout",
        }
    }

    pub fn parse(s: &str) -> Option<HookEvent> {
        HookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// `hook "after_wave" { command = [...], timeout = "5m" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub event: HookEvent,
    /// Program and arguments; no shell unless the command names one.
    pub command: Vec<String>,
    pub timeout: Duration,
    /// The directory the command runs in: the one of the file that declares the hook.
    pub dir: std::path::PathBuf,
    /// `env = { NAME = value }`: added to the command's environment, the one way a hook
    /// receives sensitive values. Never logged, never serialized.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub strategy: Strategy,
    pub max_surge: Quantity,
    pub max_unavailable: Quantity,
    pub health: HealthGate,
    pub on_failure: OnFailure,
    pub keep_previous: u32,
    /// Canary checkpoints (`strategy = "canary"`).
    pub canary: Canary,
    /// Blue/green: the percentages of listener traffic sent to the new generation, in turn.
    pub traffic_steps: Vec<u32>,
    /// Blue/green: how long each traffic step must stay healthy before the next.
    pub step_bake: Duration,
    /// Blue/green: how long the old generation stays at capacity once traffic has moved.
    pub keep_blue: Duration,
    pub hooks: Vec<Hook>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            strategy: Strategy::Rolling,
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Count(0),
            health: HealthGate {
                grace: Duration::from_secs(30),
                timeout: Duration::from_secs(600),
                alarms: Vec::new(),
            },
            on_failure: OnFailure::Rollback,
            keep_previous: 1,
            canary: Canary::default(),
            traffic_steps: vec![100],
            step_bake: Duration::from_secs(300),
            keep_blue: Duration::from_secs(600),
            hooks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_like_kubernetes() {
        let cases = [
            (Quantity::Percent(25), 12, true, 3),
            (Quantity::Percent(25), 10, true, 3),
            (Quantity::Percent(25), 10, false, 2),
            (Quantity::Percent(10), 5000, true, 500),
            (Quantity::Percent(1), 5, false, 0),
            (Quantity::Count(2), 100, true, 2),
        ];
        for (q, desired, up, want) in cases {
            assert_eq!(q.resolve(desired, up), want, "{q} of {desired}");
        }
    }

    #[test]
    fn canary_checkpoints_increase_and_stop_short_of_desired() {
        let c = |instances, steps: Vec<Quantity>| Canary {
            instances,
            bake: Duration::ZERO,
            steps,
        };
        let cases = [
            (c(Quantity::Count(1), vec![]), 20, vec![1]),
            (
                c(
                    Quantity::Count(1),
                    vec![Quantity::Percent(10), Quantity::Percent(50)],
                ),
                20,
                vec![1, 2, 10],
            ),
            // 10% of 5 rounds up to the canary itself: one checkpoint, not two
            (
                c(Quantity::Count(1), vec![Quantity::Percent(10)]),
                5,
                vec![1],
            ),
            // a canary as large as the group is no checkpoint at all
            (c(Quantity::Percent(100), vec![]), 4, vec![]),
            (c(Quantity::Count(1), vec![]), 1, vec![]),
            (
                c(Quantity::Percent(5), vec![Quantity::Percent(100)]),
                40,
                vec![2],
            ),
        ];
        for (canary, desired, want) in cases {
            assert_eq!(canary.checkpoints(desired), want, "{canary:?} of {desired}");
        }
    }
}
