//! Progress of rollouts as events, for whoever displays them: the live view on a terminal,
//! the HTML report of `apply --report`, the forecast. Log lines are written separately through
//! `tracing`.
//!
//! A report says what the rollout has just done, not what it saw before doing it: a round
//! that asks for three new instances reports them as launching in the same breath. Waves are
//! counted against the plan's schedule with [`plan::waves_through`], so the live view, the
//! summary and the report count what the plan counted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::decide::{Decision, OldState, View};
use crate::plan::{self, RolloutPlan, Wave};

/// Where one server group's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutProgress {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    pub desired: u32,
    /// New instances asked for but not healthy yet, including those asked for just now.
    pub launching: u32,
    /// New instances healthy in every target group.
    pub healthy: u32,
    /// Old instances healthy in every target group: they serve.
    pub old_serving: u32,
    /// Old instances in rotation but not healthy (they are drained first).
    pub old_unhealthy: u32,
    /// Old instances deregistered, their connections draining.
    pub draining: u32,
    /// Blue/green: the share of listener traffic on the new generation, in percent.
    pub traffic: Option<u32>,
    /// Waves of the plan's schedule got through ([`plan::waves_through`]).
    pub waves: u32,
    /// Waves in the plan's schedule.
    pub planned_waves: u32,
    /// What the rollout is doing besides launching and draining: a bake, a rollback.
    pub activity: Option<String>,
    pub elapsed: Duration,
    /// From the plan's estimate.
    pub estimate: Duration,
    /// Set once, at the end: `ok`, `rolled back`, `stopped part-way`, `interrupted`, `failed`.
    pub finished: Option<String>,
}

impl RolloutProgress {
    /// Old instances not gone yet: in rotation or draining.
    pub fn old_left(&self) -> u32 {
        self.old_serving + self.old_unhealthy + self.draining
    }

    /// The rollout as it stood when it began: nothing new yet, the old generation as first
    /// seen. What later reports are compared against.
    pub fn at_start(&self) -> RolloutProgress {
        RolloutProgress {
            launching: 0,
            healthy: 0,
            draining: 0,
            waves: 0,
            traffic: None,
            activity: None,
            finished: None,
            ..self.clone()
        }
    }
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

    /// Whether anybody listens.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Reports to this receiver and then to `other`.
    pub fn and(&self, other: Progress) -> Progress {
        match (&self.0, &other.0) {
            (None, _) => other,
            (_, None) => self.clone(),
            (Some(a), Some(b)) => {
                let (a, b) = (a.clone(), b.clone());
                Progress::new(move |p| {
                    a(p);
                    b(p);
                })
            }
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

/// The waves last reported by a rollout (got through, planned), for the summary of one that
/// ended with an error rather than its own report.
#[derive(Debug, Clone, Default)]
pub struct LastWaves(Arc<Mutex<Option<(u32, u32)>>>);

impl LastWaves {
    /// `progress`, also telling this.
    pub fn watch(&self, progress: &Progress) -> Progress {
        let last = self.0.clone();
        progress.and(Progress::new(move |p| {
            *last.lock().unwrap_or_else(|e| e.into_inner()) = Some((p.waves, p.planned_waves));
        }))
    }

    pub fn get(&self) -> Option<(u32, u32)> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The instance counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub launching: u32,
    pub healthy: u32,
    pub old_serving: u32,
    pub old_unhealthy: u32,
    pub draining: u32,
    pub traffic: Option<u32>,
}

impl Counts {
    /// Where a rolling round leaves things once it has acted on `d`: new instances asked for
    /// count as launching, old ones asked to drain as draining, finished ones as gone.
    pub(super) fn after(view: &View, d: &Decision) -> Counts {
        let asked = view.new_desired.max(d.set_new_desired.unwrap_or(0));
        let mut c = Counts {
            launching: asked.saturating_sub(view.new_healthy),
            healthy: view.new_healthy,
            ..Counts::default()
        };
        // Sets, so that a round stays linear in the number of instances.
        let finish: HashSet<&str> = d.finish.iter().map(String::as_str).collect();
        let drain: HashSet<&str> = d.drain.iter().map(String::as_str).collect();
        for o in &view.old {
            if finish.contains(o.id.as_str()) {
                continue;
            }
            let slot = if drain.contains(o.id.as_str()) {
                &mut c.draining
            } else {
                match o.state {
                    OldState::Serving => &mut c.old_serving,
                    OldState::Registered => &mut c.old_unhealthy,
                    OldState::Draining | OldState::Drained => &mut c.draining,
                }
            };
            *slot += 1;
        }
        c
    }
}

/// What one rollout tells its [`Progress`]: every report carries the same identity, the
/// elapsed time and the waves got through; the last counts are kept, so that the final report
/// shows where a rollout that did not finish really stands.
pub(super) struct Reporter {
    progress: Progress,
    address: String,
    from: Option<u32>,
    to: u32,
    desired: u32,
    schedule: Vec<Wave>,
    estimate: Duration,
    started: Instant,
    last: Mutex<(Counts, Option<String>)>,
}

impl Reporter {
    pub(super) fn new(
        progress: &Progress,
        address: &str,
        from: Option<u32>,
        to: u32,
        rollout: &RolloutPlan,
        started: Instant,
    ) -> Self {
        Reporter {
            progress: progress.clone(),
            address: address.to_string(),
            from,
            to,
            desired: rollout.desired,
            schedule: rollout.waves.clone(),
            estimate: Duration::from_secs(rollout.estimate_seconds),
            started,
            last: Mutex::new((Counts::default(), None)),
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, (Counts, Option<String>)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waves got through with these counts.
    fn through(&self, c: &Counts) -> u32 {
        let left = c.old_serving + c.old_unhealthy + c.draining;
        plan::waves_through(&self.schedule, c.healthy, self.desired.saturating_sub(left))
    }

    /// Waves got through, as last reported.
    pub(super) fn waves(&self) -> u32 {
        let c = self.last().0;
        self.through(&c)
    }

    /// The wave whose new instances are all healthy with `healthy` of them (for hooks).
    pub(super) fn wave_healthy(&self, healthy: u32) -> u32 {
        plan::waves_through(&self.schedule, healthy, u32::MAX)
    }

    fn send(&self, c: Counts, activity: Option<String>, finished: Option<String>) {
        let p = RolloutProgress {
            address: self.address.clone(),
            from: self.from,
            to: self.to,
            desired: self.desired,
            launching: c.launching,
            healthy: c.healthy,
            old_serving: c.old_serving,
            old_unhealthy: c.old_unhealthy,
            draining: c.draining,
            traffic: c.traffic,
            waves: self.through(&c),
            planned_waves: self.schedule.len() as u32,
            activity: activity.clone(),
            elapsed: self.started.elapsed(),
            estimate: self.estimate,
            finished,
        };
        *self.last() = (c, activity);
        self.progress.report(&p);
    }

    /// The counts now; nothing else is going on.
    pub(super) fn counts(&self, c: Counts) {
        self.send(c, None, None);
    }

    /// Something besides waves is going on (`None`: no longer), counts as last seen.
    pub(super) fn activity(&self, what: Option<String>) {
        let c = self.last().0;
        self.send(c, what, None);
    }

    /// The last counts, changed by `f`.
    pub(super) fn update(&self, f: impl FnOnce(&mut Counts)) {
        let (mut c, activity) = self.last().clone();
        f(&mut c);
        self.send(c, activity, None);
    }

    /// The end. A rollout that succeeded has everything new healthy and nothing old left; any
    /// other ends where it was last seen.
    pub(super) fn finish(&self, outcome: &str) {
        let mut c = self.last().0;
        if outcome == "ok" {
            c = Counts {
                healthy: self.desired,
                traffic: c.traffic.map(|_| 100),
                ..Counts::default()
            };
        }
        self.send(c, None, Some(outcome.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::decide::{decide, OldInstance};
    use super::*;

    fn view(new_desired: u32, new_healthy: u32, old: &str) -> View {
        // One letter per old instance: s serving, r registered, d draining, x drained.
        View {
            desired: 4,
            max_surge: 1,
            max_unavailable: 0,
            new_desired,
            new_healthy,
            new_waiting: 0,
            old: old
                .chars()
                .enumerate()
                .map(|(i, c)| OldInstance {
                    id: format!("i-{i}"),
                    state: match c {
                        's' => OldState::Serving,
                        'r' => OldState::Registered,
                        'd' => OldState::Draining,
                        _ => OldState::Drained,
                    },
                })
                .collect(),
            stopping: false,
            cap: None,
        }
    }

    /// (new desired, new healthy, old) => counts once the round has acted:
    /// (launching, healthy, old serving, old unhealthy, draining)
    #[test]
    fn a_round_reports_what_it_just_did() {
        type Case = ((u32, u32, &'static str), (u32, u32, u32, u32, u32));
        let cases: &[Case] = &[
            // the first round asks for one new instance: it is launching now, not next round
            ((0, 0, "ssss"), (1, 0, 4, 0, 0)),
            // one healthy: one old starts draining (the next launch is the next look's)
            ((1, 1, "ssss"), (0, 1, 3, 0, 1)),
            // that next look: the draining one frees the surge, one more launches
            ((1, 1, "sssd"), (1, 1, 3, 0, 1)),
            // a drained one is finished: gone
            ((2, 1, "sssx"), (1, 1, 3, 0, 0)),
            // an unhealthy old instance drains first, without limit
            ((1, 0, "srss"), (1, 0, 3, 0, 1)),
            // done: nothing left
            ((4, 4, ""), (0, 4, 0, 0, 0)),
        ];
        for ((new_desired, new_healthy, old), want) in cases {
            let v = view(*new_desired, *new_healthy, old);
            let c = Counts::after(&v, &decide(&v));
            assert_eq!(
                (
                    c.launching,
                    c.healthy,
                    c.old_serving,
                    c.old_unhealthy,
                    c.draining
                ),
                *want,
                "new {new_desired} asked, {new_healthy} healthy, old {old}"
            );
        }
    }

    fn reporter(progress: &Progress) -> Reporter {
        let rollout = RolloutPlan {
            from_generation: Some(1),
            to_generation: 2,
            strategy: crate::stack::Strategy::Rolling,
            desired: 4,
            max_surge: 1,
            max_unavailable: 0,
            waves: plan::waves(4, 1, 0),
            traffic_steps: Vec::new(),
            keep_blue_seconds: 0,
            estimate_seconds: 300,
            abandon_generation: None,
        };
        Reporter::new(
            progress,
            "server_group.web",
            Some(1),
            2,
            &rollout,
            Instant::now(),
        )
    }

    fn recorded() -> (Progress, Arc<Mutex<Vec<RolloutProgress>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        (
            Progress::new(move |p| sink.lock().unwrap().push(p.clone())),
            seen,
        )
    }

    #[test]
    fn an_unfinished_rollout_ends_where_it_was_last_seen() {
        let (progress, seen) = recorded();
        let r = reporter(&progress);
        r.counts(Counts {
            launching: 0,
            healthy: 2,
            old_serving: 2,
            ..Counts::default()
        });
        assert_eq!(r.waves(), 2);
        r.finish("interrupted");
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.finished.as_deref(), Some("interrupted"));
        assert_eq!((last.healthy, last.old_serving), (2, 2));
        assert_eq!((last.waves, last.planned_waves), (2, 4));
    }

    #[test]
    fn a_finished_rollout_got_through_every_wave() {
        let (progress, seen) = recorded();
        let r = reporter(&progress);
        r.counts(Counts {
            launching: 1,
            healthy: 3,
            draining: 1,
            ..Counts::default()
        });
        r.finish("ok");
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!((last.healthy, last.old_left(), last.launching), (4, 0, 0));
        assert_eq!((last.waves, last.planned_waves), (4, 4));
    }

    #[test]
    fn receivers_chain() {
        let (a, seen_a) = recorded();
        let (b, seen_b) = recorded();
        let both = a.and(b).and(Progress::default());
        reporter(&both).activity(Some("baking".into()));
        assert_eq!(seen_a.lock().unwrap().len(), 1);
        assert_eq!(seen_b.lock().unwrap().len(), 1);
        assert!(!Progress::default().is_on());
    }
}
