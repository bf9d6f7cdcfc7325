//! When a rollout looks next: at the earliest moment a look can find something to act on,
//! not on a fixed beat. A pure model, fed what each look saw:
//!
//! - new instances become healthy some time after they were asked for; that time is learned
//!   from the instances that made it, bracketed between the last look that saw one not yet
//!   healthy and the first that saw it healthy (both counted from the earliest moment it can
//!   have been launched), and narrowed by halving: a look halfway into the bracket, and if
//!   that was too early, one at its top. Before the first one made it, the earliest possible
//!   moment is the target group's healthy threshold times its interval, and after that every
//!   half interval;
//! - a drain ends when the deregistration delay is over (or sooner, once one was seen to);
//!   while new instances are on their way the drained ones wait for the look at them;
//! - while instances asked for wait to be launched (the account's launch rate holds them
//!   back), a wait for new generations looks before that queue runs dry: halfway to the
//!   moment it would at the rate seen. A rollout (`Cadence::batched`) acts on a wave once it
//!   is launched and healthy, not to keep a queue fed (`decide::drains_now`): it looks when
//!   the next one asked for can be healthy at the soonest, and acts on those already on their
//!   way then, in one batch; in its waves before the last, an instance is looked at no later
//!   than it can be healthy counted from when it was first seen;
//! - the old group's scale-in drains from the moment it was asked for, before a look lists
//!   the instances it picked;
//! - a look expected to find a change that finds none looks again a step later (half a
//!   health check interval: a target's state changes only at a check), and so does a rollout
//!   with nothing on its way (its next decision rests on what it has just done);
//! - at least every `max`, never more often than every `min`, and by the health deadline.
//!
//! A wave's instances are waited for together: the look is due when the last of them can be
//! healthy, not the first, so a wave costs a look or two rather than one per instance.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// A duration learned from what looks saw: longer than `lo`, at most `hi`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Estimate {
    lo: Duration,
    hi: Option<Duration>,
}

impl Estimate {
    /// One observation: the change took longer than `lo` and at most `hi`.
    fn observe(&mut self, lo: Duration, hi: Duration) {
        self.lo = self.lo.max(lo);
        self.hi = Some(self.hi.map_or(hi, |h| h.min(hi)));
        if let Some(h) = self.hi {
            // Durations vary: a later instance slower than an earlier one's upper bound.
            self.lo = self.lo.min(h);
        }
    }

    /// The moment to look, after the start: halfway into the bracket while it is wider than
    /// `resolution`, at its top once narrow; `prior` before anything was seen.
    fn guess(&self, prior: Duration, resolution: Duration) -> Duration {
        match self.hi {
            None => prior,
            Some(hi) if hi.saturating_sub(self.lo) > resolution => self.lo + (hi - self.lo) / 2,
            Some(hi) => hi,
        }
    }
}

/// A new instance not yet healthy.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    /// The earliest it can have been launched: the later of the look before it was first
    /// seen and the last time more instances were asked for before that.
    since: Instant,
    /// The look that first saw it: it was launched by then.
    first_seen: Instant,
    last_seen: Instant,
}

/// An old instance draining.
#[derive(Debug, Clone, Copy)]
struct Drain {
    since: Instant,
    last_seen: Instant,
}

/// What a rollout knows about how its fleet moves, and when it looks next.
#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    min: Duration,
    max: Duration,
    /// How long after an expected change that did not come to look again.
    step: Duration,
    /// The earliest a new instance can be healthy (threshold × interval).
    ready_prior: Duration,
    /// The deregistration delay.
    drain_prior: Duration,
    ready: Estimate,
    drain: Estimate,
    waiting: BTreeMap<String, Waiting>,
    draining: BTreeMap<String, Drain>,
    last_look: Option<Instant>,
    last_ask: Option<Instant>,
    /// New instances seen at the last look.
    seen: u32,
    /// New instances asked for and not yet seen.
    unseen: u32,
    /// New instances appearing a second while some wait to be launched, at the last look.
    launch_rate: Option<f64>,
    /// A rollout's: while instances asked for are still to be launched, those already on
    /// their way are waited for together with them.
    batches: bool,
    /// A rollout's size: once the new generation was asked for all of it, the last wave is
    /// the one the rollout ends with, and it is looked at as closely as the bracket allows.
    total: Option<u32>,
    /// When the old group was last asked to scale in: its victims, not known by name until
    /// a look lists them, drain from then.
    scaled_in: Option<Instant>,
}

/// The longest a rollout or a wait goes without a look.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(120);

/// How a rollout's target groups check health and drain (the slowest of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks {
    pub(crate) interval: Duration,
    pub(crate) healthy_threshold: u32,
    pub(crate) deregistration_delay: Duration,
}

impl Default for Checks {
    /// A group with no target group: Auto Scaling's own checks, no draining.
    fn default() -> Self {
        Checks {
            interval: Duration::from_secs(10),
            healthy_threshold: 1,
            deregistration_delay: Duration::ZERO,
        }
    }
}

impl Cadence {
    pub(crate) fn new(min: Duration, max: Duration, checks: Checks) -> Self {
        let step = (checks.interval / 2).max(min);
        Cadence {
            min,
            max: max.max(min),
            step,
            ready_prior: checks.interval * checks.healthy_threshold.max(1),
            drain_prior: checks.deregistration_delay,
            ready: Estimate::default(),
            drain: Estimate::default(),
            waiting: BTreeMap::new(),
            draining: BTreeMap::new(),
            last_look: None,
            last_ask: None,
            seen: 0,
            unseen: 0,
            launch_rate: None,
            batches: false,
            total: None,
            scaled_in: None,
        }
    }

    /// For a rollout of `total` instances (see `batches` and `total`).
    pub(crate) fn batched(self, total: u32) -> Self {
        Cadence {
            batches: true,
            total: Some(total),
            ..self
        }
    }

    /// New instances were asked for: the new generation's desired capacity raised to `desired`.
    pub(crate) fn asked(&mut self, at: Instant, desired: u32) {
        self.last_ask = Some(at);
        self.unseen = desired.saturating_sub(self.seen);
    }

    /// The old group was asked at `at` to scale in: the instances it picks drain from then.
    pub(crate) fn scaled_in(&mut self, at: Instant) {
        self.scaled_in = Some(at);
    }

    /// Old instances were deregistered: they drain from `at`.
    pub(crate) fn deregistered<'i>(&mut self, at: Instant, ids: impl IntoIterator<Item = &'i str>) {
        for id in ids {
            self.draining.entry(id.to_string()).or_insert(Drain {
                since: at,
                last_seen: at,
            });
        }
    }

    /// What a look at `now` saw: each new instance (id, healthy), the new generation's desired
    /// capacity, and each old instance draining, with when this rollout deregistered it if it
    /// did. Old instances no longer listed as draining have finished draining.
    pub(crate) fn saw<'i>(
        &mut self,
        now: Instant,
        new: impl IntoIterator<Item = (&'i str, bool)>,
        new_desired: u32,
        draining: impl IntoIterator<Item = (&'i str, Option<Instant>)>,
    ) {
        let since = match (self.last_look, self.last_ask) {
            (Some(l), Some(a)) => l.max(a),
            (l, a) => l.or(a).unwrap_or(now),
        };
        let mut seen_new = 0u32;
        let mut still = BTreeMap::new();
        for (id, healthy) in new {
            seen_new += 1;
            match (self.waiting.remove(id), healthy) {
                (Some(w), true) => self.ready.observe(
                    w.last_seen.duration_since(w.since),
                    now.duration_since(w.since),
                ),
                (Some(w), false) => {
                    still.insert(
                        id.to_string(),
                        Waiting {
                            last_seen: now,
                            ..w
                        },
                    );
                }
                (None, false) => {
                    still.insert(
                        id.to_string(),
                        Waiting {
                            since,
                            first_seen: now,
                            last_seen: now,
                        },
                    );
                }
                (None, true) => {}
            }
        }
        self.waiting = still;
        self.launch_rate = match self.last_look {
            Some(last) if self.unseen > 0 && now > last => {
                let appeared = seen_new.saturating_sub(self.seen);
                Some(f64::from(appeared) / now.duration_since(last).as_secs_f64())
            }
            _ => None,
        };
        self.seen = seen_new;
        self.unseen = new_desired.saturating_sub(seen_new);
        let mut still = BTreeMap::new();
        let scaled_in = self.scaled_in.take();
        for (id, deregistered) in draining {
            let d = self.draining.remove(id).unwrap_or(Drain {
                since: deregistered.or(scaled_in).unwrap_or(now),
                last_seen: now,
            });
            still.insert(
                id.to_string(),
                Drain {
                    last_seen: now,
                    ..d
                },
            );
        }
        for d in self.draining.values() {
            self.drain.observe(
                d.last_seen.duration_since(d.since),
                now.duration_since(d.since),
            );
        }
        self.draining = still;
        self.last_look = Some(now);
    }

    /// When the next look is due, after a look at `now`; never after `deadline`.
    pub(crate) fn due(&self, now: Instant, deadline: Option<Instant>) -> Instant {
        // A rollout acts on a wave once it is launched and healthy, not to keep a queue fed.
        let queue = if self.batches {
            None
        } else {
            self.queue_due(now)
        };
        let due = queue.unwrap_or_else(|| self.wave_due(now));
        let due = deadline.map_or(due, |d| due.min(d));
        due.max(now + self.min)
    }

    /// Launches held back by the account's rate: halfway to the moment the queue of
    /// instances asked for would run dry.
    fn queue_due(&self, now: Instant) -> Option<Instant> {
        let rate = self.launch_rate.filter(|r| *r > 0.0)?;
        if self.unseen == 0 {
            return None;
        }
        let dry = Duration::from_secs_f64(f64::from(self.unseen) / rate);
        Some(now + (dry / 2).clamp(self.step, self.max))
    }

    fn wave_due(&self, now: Instant) -> Instant {
        let mut due = now + self.max;
        // Halving is worth a look only while the bracket is wider than two shortest waits.
        let ready = self.ready.guess(self.ready_prior, self.min * 2);
        // The wave: when its last instance can be healthy. An instance the guess found not yet
        // healthy is looked at again at the top of the bracket, then a step at a time, unless
        // others of the wave are still to come.
        let mut wave = None;
        if !self.waiting.is_empty() {
            // The earliest it can be healthy, the latest if it was launched at the earliest
            // moment it can have been, and, in a rollout's waves before its last (where a
            // wave a little late delays nothing the account's launch rate does not), the
            // latest if it was launched when first seen.
            let last = self.total.is_none_or(|t| self.seen + self.unseen >= t);
            let at = |w: &Waiting| {
                let hi = self.ready.hi;
                [
                    Some(w.since + ready),
                    hi.map(|h| w.since + h),
                    hi.filter(|_| !last).map(|h| w.first_seen + h),
                ]
                .into_iter()
                .flatten()
                .find(|&t| t > now)
            };
            let coming = self.waiting.values().filter_map(at).max();
            wave = Some(coming.unwrap_or(now + self.step));
        }
        if self.unseen > 0 {
            // Asked for and not seen yet: healthy no sooner than a whole wait from now. In a
            // rollout, the ones already on their way are acted on then, in one batch, not
            // waited for apart: a wave drains whole (`decide::drains_now`), so they could not
            // be acted on alone anyway.
            let t = now + ready.max(self.step);
            wave = Some(if self.batches {
                t
            } else {
                wave.map_or(t, |w| w.min(t))
            });
        }
        // A drain lasts the delay at most; sooner only where one was seen to end sooner.
        let drain = self
            .drain
            .hi
            .map_or(self.drain_prior, |h| h.min(self.drain_prior));
        let drained = self
            .draining
            .values()
            .map(|d| d.since)
            .chain(self.scaled_in)
            .map(|since| since + drain)
            .min()
            .map(|t| if t > now { t } else { now + self.step });
        // Drains that end while a wave is on its way are finished at the look at the wave.
        match wave.or(drained) {
            Some(t) => due = due.min(t),
            // Nothing on its way: what comes next is decided on the state the rollout has just
            // made (a canary's checkpoint once its wave's old instances are released), so the
            // next look is a step away, not the longest wait.
            None => due = due.min(now + self.step),
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn checks() -> Checks {
        Checks {
            interval: s(10),
            healthy_threshold: 2,
            deregistration_delay: s(30),
        }
    }

    /// A fleet whose instances are healthy 50 s after they are asked for and whose drains
    /// take 30 s: the looks the cadence asks for, wave after wave.
    #[tokio::test(start_paused = true)]
    async fn a_wave_is_looked_at_when_it_can_be_healthy() {
        let t0 = Instant::now();
        let mut c = Cadence::new(s(1), s(60), checks());
        let at = |n: u64| t0 + s(n);
        let ids: Vec<String> = (0..3).map(|i| format!("i-{i}")).collect();
        let new = |healthy: bool| ids.iter().map(move |i| (i.as_str(), healthy));
        c.saw(at(0), new(false).take(0), 0, []);
        c.asked(at(0), 3);
        // Seen pending a second later; the earliest they can be healthy is 20 s after asked.
        c.saw(at(1), new(false), 3, []);
        assert_eq!(c.due(at(1), None), at(20));
        // Not yet: a step (half the interval) at a time until they are.
        c.saw(at(20), new(false), 3, []);
        assert_eq!(c.due(at(20), None), at(25));
        for t in [25, 30, 35, 40, 45] {
            c.saw(at(t), new(false), 3, []);
        }
        c.saw(at(50), new(true), 3, []);
        // Learned: more than 45 s (last seen not healthy) and at most 50 s (first seen
        // healthy), both from when they were asked for. Halving the bracket: 47.5 s.
        assert_eq!(
            c.ready,
            Estimate {
                lo: s(45),
                hi: Some(s(50))
            }
        );
        assert_eq!(c.ready.guess(s(20), s(1)), Duration::from_millis(47_500));
        // Narrower than the resolution: its top.
        assert_eq!(c.ready.guess(s(20), s(10)), s(50));
    }

    /// Drains are looked at when the deregistration delay ends, a step later if they have not.
    #[tokio::test(start_paused = true)]
    async fn drains_are_looked_at_when_their_delay_ends() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + s(n);
        let mut c = Cadence::new(s(1), s(60), checks());
        c.saw(at(1), [], 0, [("i-old", Some(at(0)))]);
        assert_eq!(c.due(at(1), None), at(30));
        c.saw(at(30), [], 0, [("i-old", Some(at(0)))]);
        assert_eq!(c.due(at(30), None), at(35));
        c.saw(at(35), [], 0, []);
        assert_eq!(
            c.drain,
            Estimate {
                lo: s(30),
                hi: Some(s(35))
            }
        );
        // Nothing in flight: what comes next rests on the rollout's own last step, a step
        // (half the health check interval) later, unless the deadline comes first.
        assert_eq!(c.due(at(35), None), at(40));
        assert_eq!(c.due(at(35), Some(at(38))), at(38));
        // Never sooner than the shortest.
        assert_eq!(c.due(at(35), Some(at(35))), at(36));
    }

    /// Estimates narrow by halving and stay within what was seen.
    #[test]
    fn estimates() {
        let cases: Vec<(Vec<(u64, u64)>, u64)> = vec![
            (vec![], 20),
            (vec![(44, 50)], 47),
            (vec![(44, 50), (46, 52)], 48),
            (vec![(49, 50)], 50),
            // A slower instance than an earlier one's bound: the bracket stays ordered.
            (vec![(10, 20), (30, 40)], 20),
        ];
        for (observations, want) in cases {
            let mut e = Estimate::default();
            for (lo, hi) in &observations {
                e.observe(s(*lo), s(*hi));
            }
            assert_eq!(e.guess(s(20), s(1)), s(want), "{observations:?}");
        }
    }

    /// A rollout's cadence: a scale-in asked for drains from the moment it was asked; while
    /// instances asked for wait to launch, the next look is when one launched now could be
    /// healthy, whatever is already on its way.
    #[tokio::test(start_paused = true)]
    async fn a_rollout_waits_for_its_wave_together() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + s(n);
        let mut c = Cadence::new(s(1), s(60), checks()).batched(6);
        c.scaled_in(at(0));
        assert_eq!(c.due(at(0), None), at(30));
        // The victims, first listed at 10 s, drain from the scale-in.
        c.saw(at(10), [], 0, [("i-old", None)]);
        assert_eq!(c.due(at(10), None), at(30));
        // Three asked for, one launched: a whole wait (20 s) after this look, not the
        // launched one's own time.
        c.asked(at(30), 3);
        c.saw(at(31), [("i-1", false)], 3, []);
        assert_eq!(c.due(at(31), None), at(51));
    }
}
