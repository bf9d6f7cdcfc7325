//! The rolling decision, as a pure function: from what one look at the account shows, what
//! to do next. The executor observes, calls [`decide`], acts, waits, and goes round again, so
//! it can be stopped and re-entered at any point.

use serde::Serialize;

/// Where an old instance is in its life during a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OldState {
    /// Registered and healthy in every target group: it serves.
    Serving,
    /// Registered but not healthy (or not yet): it counts as in rotation, not as serving.
    Registered,
    /// Deregistered, connections draining.
    Draining,
    /// No longer in any target group: ready to detach and terminate.
    Drained,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OldInstance {
    pub id: String,
    pub state: OldState,
}

/// One look at a rollout in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    /// Instances the new generation must end with.
    pub desired: u32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    /// The new generation's desired capacity as currently set.
    pub new_desired: u32,
    /// New instances healthy in every target group (and InService).
    pub new_healthy: u32,
    /// New instances asked for that the new generation has not launched yet: the account's
    /// launch rate (or a zone's capacity) holds them back.
    pub new_waiting: u32,
    /// Old instances still in the old group.
    pub old: Vec<OldInstance>,
    /// Stop launching and stop starting drains (Ctrl-C); in-flight drains finish.
    pub stopping: bool,
    /// A canary checkpoint: the new generation grows to this many instances and no further,
    /// and old instances are drained only as far as it replaces them.
    pub cap: Option<u32>,
}

/// What to do now. Empty when waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Raise the new generation's desired capacity to this.
    pub set_new_desired: Option<u32>,
    /// Old instances to deregister (start draining).
    pub drain: Vec<String>,
    /// Old instances drained: detach from the old group and terminate.
    pub finish: Vec<String>,
    /// Everything is replaced.
    pub done: bool,
    /// Stopping, and nothing is in flight any more.
    pub stopped: bool,
    /// At the checkpoint `cap`: its instances are healthy, the old ones they replace are gone,
    /// and nothing is in flight. Time to bake.
    pub at_checkpoint: bool,
}

impl View {
    fn count(&self, state: OldState) -> u32 {
        self.old.iter().filter(|o| o.state == state).count() as u32
    }
}

/// Whether serving old instances may start draining, `allowed` of them by the capacity
/// rules: when a whole surge's worth may go at once, or when the new generation has settled
/// (everything asked for launched and healthy, so no more room is coming before the next
/// look). In between, a drain would free room for a fraction of a wave: on a fleet whose
/// launches trickle in (the account's launch rate), that is a round of calls per look.
pub fn drains_now(v: &View, allowed: u32) -> bool {
    let settled = v.new_waiting == 0 && v.new_healthy >= v.new_desired;
    settled || allowed >= v.max_surge.max(1)
}

/// Decides the next step. The rules:
/// - capacity in rotation (old registered + new launched) never exceeds `desired + surge`;
///   draining instances do not count, so the next launch does not wait for a drain;
/// - serving capacity (old serving + new healthy) never drops below `desired - unavailable`;
/// - old instances that do not serve anyway are drained first, without limit;
/// - serving old instances drain a whole surge at a time, or all that are allowed once the
///   new generation has settled ([`drains_now`]): a launch-rate-bound rollout makes one round
///   of calls a wave instead of one a look (an idealised fleet, launched and healthy at once,
///   is always settled, so the plan's schedule is what this does);
/// - drained instances are finished at once.
pub fn decide(v: &View) -> Decision {
    let mut d = Decision::default();
    let serving = v.count(OldState::Serving);
    let registered = v.count(OldState::Registered);
    let draining = v.count(OldState::Draining);
    let in_rotation = serving + registered;

    d.finish = v
        .old
        .iter()
        .filter(|o| o.state == OldState::Drained)
        .map(|o| o.id.clone())
        .collect();

    if v.old.is_empty() && v.new_healthy >= v.desired {
        d.done = true;
        return d;
    }
    if v.stopping {
        d.stopped = draining == 0;
        return d;
    }

    let limit = v.cap.unwrap_or(v.desired).min(v.desired);
    let target = limit.min((v.desired + v.max_surge).saturating_sub(in_rotation));
    if target > v.new_desired {
        d.set_new_desired = Some(target);
    }

    // Non-serving old instances go first: draining them costs no serving capacity.
    let mut drain: Vec<&OldInstance> = v
        .old
        .iter()
        .filter(|o| o.state == OldState::Registered)
        .collect();
    let floor = v.desired.saturating_sub(v.max_unavailable);
    let mut allowed = (serving + v.new_healthy).saturating_sub(floor).min(serving);
    if !drains_now(v, allowed) {
        allowed = 0;
    }
    if let Some(cap) = v.cap {
        // At a checkpoint the old generation keeps serving the rest, at full strength.
        let keep = v.desired.saturating_sub(cap);
        allowed = allowed.min(serving.saturating_sub(keep));
    }
    drain.extend(
        v.old
            .iter()
            .filter(|o| o.state == OldState::Serving)
            .take(allowed as usize),
    );
    d.drain = drain.into_iter().map(|o| o.id.clone()).collect();
    if let Some(cap) = v.cap {
        d.at_checkpoint = v.new_healthy >= cap.min(v.desired)
            && d.set_new_desired.is_none()
            && d.drain.is_empty()
            && d.finish.is_empty()
            && draining == 0;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(spec: &str) -> Vec<OldInstance> {
        // One letter per instance: s serving, r registered, d draining, x drained.
        spec.chars()
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
            .collect()
    }

    fn view(
        desired: u32,
        surge: u32,
        unavailable: u32,
        new_desired: u32,
        new_healthy: u32,
        o: &str,
    ) -> View {
        View {
            desired,
            max_surge: surge,
            max_unavailable: unavailable,
            new_desired,
            new_healthy,
            new_waiting: 0,
            old: old(o),
            stopping: false,
            cap: None,
        }
    }

    /// (view with cap, set_new_desired, drained count, at checkpoint)
    #[test]
    fn canary_checkpoints() {
        let capped = |cap, new_desired, new_healthy, o: &str| View {
            cap: Some(cap),
            ..view(10, 3, 0, new_desired, new_healthy, o)
        };
        let cases: Vec<(View, Option<u32>, usize, bool)> = vec![
            // surge allows 3, the canary is 1: launch 1
            (capped(1, 0, 0, "ssssssssss"), Some(1), 0, false),
            // canary healthy: one old drains, no more launches
            (capped(1, 1, 1, "ssssssssss"), None, 1, false),
            (capped(1, 1, 1, "dsssssssss"), None, 0, false),
            (capped(1, 1, 1, "xsssssssss"), None, 0, false),
            // replaced, nothing in flight: bake
            (capped(1, 1, 1, "sssssssss"), None, 0, true),
            // canary unhealthy after launch: wait, not at the checkpoint
            (capped(1, 1, 0, "ssssssssss"), None, 0, false),
            // a later checkpoint of 5 with surge 3: grows by the surge
            (capped(5, 1, 1, "sssssssss"), Some(4), 0, false),
        ];
        for (i, (v, set, drained, at)) in cases.into_iter().enumerate() {
            let d = decide(&v);
            assert_eq!(d.set_new_desired, set, "case {i}: {v:?}");
            assert_eq!(d.drain.len(), drained, "case {i}: {v:?}");
            assert_eq!(d.at_checkpoint, at, "case {i}: {v:?}");
        }
    }

    /// With max_unavailable, a checkpoint still keeps desired − cap old instances serving.
    #[test]
    fn a_checkpoint_never_drains_more_than_it_replaces() {
        let v = View {
            cap: Some(2),
            ..view(10, 0, 3, 0, 0, "ssssssssss")
        };
        let d = decide(&v);
        assert_eq!(d.drain.len(), 2);
    }

    /// (view, set_new_desired, drained count, finished count, done)
    #[test]
    fn decisions() {
        let cases: Vec<(View, Option<u32>, usize, usize, bool)> = vec![
            // start: 12 serving, surge 3: launch 3, drain nothing
            (view(12, 3, 0, 0, 0, "ssssssssssss"), Some(3), 0, 0, false),
            // 3 new healthy: drain 3 old
            (view(12, 3, 0, 3, 3, "ssssssssssss"), None, 3, 0, false),
            // 3 draining: pipelined launch of 3 more before the drain ends
            (view(12, 3, 0, 3, 3, "dddsssssssss"), Some(6), 0, 0, false),
            // drained ones are finished while more launch
            (view(12, 3, 0, 6, 3, "xxxsssssssss"), None, 0, 3, false),
            // no surge, one unavailable: drain one first
            (view(4, 0, 1, 0, 0, "ssss"), None, 1, 0, false),
            (view(4, 0, 1, 0, 0, "xsss"), Some(1), 0, 1, false),
            // an unhealthy old instance is drained at once, capacity permitting or not
            (view(4, 1, 0, 1, 0, "rsss"), None, 1, 0, false),
            // last old drained, all new healthy: finishing, then done
            (view(2, 1, 0, 2, 2, "x"), None, 0, 1, false),
            (view(2, 1, 0, 2, 2, ""), None, 0, 0, true),
            // new not healthy yet: wait
            (view(2, 1, 0, 1, 0, "ss"), None, 0, 0, false),
        ];
        for (i, (v, set, drained, finished, done)) in cases.into_iter().enumerate() {
            let d = decide(&v);
            assert_eq!(d.set_new_desired, set, "case {i}: {v:?}");
            assert_eq!(d.drain.len(), drained, "case {i}: {v:?}");
            assert_eq!(d.finish.len(), finished, "case {i}: {v:?}");
            assert_eq!(d.done, done, "case {i}: {v:?}");
        }
    }

    /// (view, new instances waiting to launch, set_new_desired, drained count)
    #[test]
    fn serving_instances_drain_a_surge_at_a_time_or_once_settled() {
        let waiting = |v: View, n| View {
            new_waiting: n,
            ..v
        };
        let cases: Vec<(View, Option<u32>, usize)> = vec![
            // 3 healthy, 4 of the 6 asked for still waiting: no drain, no launch
            (waiting(view(12, 6, 0, 6, 3, "ssssssssssss"), 4), None, 0),
            // all launched, 3 of 6 healthy: still half a surge, so still no drain
            (waiting(view(12, 6, 0, 6, 3, "ssssssssssss"), 0), None, 0),
            // a whole surge healthy: it drains, whatever is still on its way
            (waiting(view(12, 6, 0, 12, 6, "ssssssssssss"), 6), None, 6),
            // settled: everything allowed drains, however few
            (waiting(view(12, 6, 0, 3, 3, "ssssssssssss"), 0), Some(6), 3),
            // an old instance that does not serve drains at once, waiting or not
            (waiting(view(4, 1, 0, 1, 0, "rsss"), 1), None, 1),
            // a budget of unavailable instances smaller than the surge waits for the queue
            (waiting(view(8, 3, 1, 3, 0, "ssssssss"), 1), None, 0),
            // one as large as the surge drains at once
            (waiting(view(4, 1, 1, 1, 0, "ssss"), 1), None, 1),
            // drained ones are finished and launches asked for as room allows
            (waiting(view(12, 3, 0, 3, 0, "ddd"), 3), Some(12), 0),
        ];
        for (i, (v, set, drained)) in cases.into_iter().enumerate() {
            let d = decide(&v);
            assert_eq!(d.set_new_desired, set, "case {i}: {v:?}");
            assert_eq!(d.drain.len(), drained, "case {i}: {v:?}");
        }
    }

    #[test]
    fn stopping_launches_nothing_and_waits_for_drains() {
        let mut v = view(12, 3, 0, 3, 3, "dddsssssssss");
        v.stopping = true;
        let d = decide(&v);
        assert_eq!(d.set_new_desired, None);
        assert!(d.drain.is_empty());
        assert!(!d.stopped);
        v.old = old("xxxsssssssss");
        let d = decide(&v);
        assert_eq!(d.finish.len(), 3);
        assert!(d.stopped);
    }

    /// Plays whole rollouts where every action completes by the next look, and checks the
    /// capacity bounds at every step.
    #[test]
    fn simulated_rollouts_respect_bounds_and_finish() {
        for desired in 1..30u32 {
            for surge in 0..5 {
                for unavailable in 0..3 {
                    if surge + unavailable == 0 {
                        continue;
                    }
                    let mut v = view(
                        desired,
                        surge,
                        unavailable,
                        0,
                        0,
                        &"s".repeat(desired as usize),
                    );
                    let mut steps = 0;
                    loop {
                        steps += 1;
                        assert!(steps < 1000, "no progress: {v:?}");
                        let d = decide(&v);
                        if d.done {
                            break;
                        }
                        // act: launches become healthy next look; drains complete next look
                        v.old.retain(|o| !d.finish.contains(&o.id));
                        for o in &mut v.old {
                            if o.state == OldState::Draining {
                                o.state = OldState::Drained;
                            }
                            if d.drain.contains(&o.id) {
                                o.state = OldState::Draining;
                            }
                        }
                        v.new_healthy = v.new_desired;
                        if let Some(n) = d.set_new_desired {
                            v.new_desired = n;
                        }
                        let serving = v.count(OldState::Serving) + v.new_healthy;
                        let rotation = v.count(OldState::Serving)
                            + v.count(OldState::Registered)
                            + v.new_desired;
                        assert!(serving >= desired - unavailable.min(desired), "{v:?}");
                        assert!(rotation <= desired + surge, "{v:?}");
                    }
                }
            }
        }
    }
}
