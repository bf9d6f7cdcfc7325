//! Wave schedules of a rollout, the one way waves are counted ([`waves_through`]), and the
//! estimate of how long a rollout takes.

use super::types::{RolloutPlan, Wave};
use crate::stack::{ServerGroup, Stack, Strategy};

/// The rolling wave schedule for replacing `desired` instances with surge `s` and
/// unavailability `u` (both already resolved to counts, at least one non-zero).
///
/// A wave launches new instances into the headroom the surge allows, waits until they are
/// healthy, then drains old ones as far as `desired - u` serving instances allows. When there
/// is no headroom (no surge), a wave first drains what the unavailability allows.
pub fn waves(desired: u32, surge: u32, unavailable: u32) -> Vec<Wave> {
    checkpointed_waves(desired, surge, unavailable, &[], 0)
}

/// Waves that stop at canary checkpoints (numbers of new instances), each baked for `bake`
/// seconds, before the rest rolls with the usual surge and unavailability.
///
/// These are the waves the executor's `apply::decide::decide` makes on a fleet where every
/// launch is healthy at once and every drain is done at once
/// (`tests::the_schedule_is_what_decide_does_on_an_idealised_fleet`).
pub fn checkpointed_waves(
    desired: u32,
    surge: u32,
    unavailable: u32,
    checkpoints: &[u32],
    bake: u64,
) -> Vec<Wave> {
    let mut out = Vec::new();
    let floor = desired.saturating_sub(unavailable);
    let (mut old, mut new) = (desired, 0u32);
    for cap in checkpoints.iter().copied().chain([desired]) {
        let keep = desired - cap.min(desired);
        while old > keep || new < cap {
            let headroom = (desired + surge).saturating_sub(old + new);
            let launch = headroom.min(cap - new);
            let drainable = |old: u32, new: u32| {
                old.min((old + new).saturating_sub(floor))
                    .min(old.saturating_sub(keep))
            };
            if launch == 0 {
                let drain = drainable(old, new);
                if drain == 0 {
                    break; // cannot progress; validation rejects such settings
                }
                old -= drain;
                out.push(Wave {
                    launch: 0,
                    drain,
                    bake_seconds: 0,
                });
                continue;
            }
            new += launch;
            let drain = drainable(old, new);
            old -= drain;
            out.push(Wave {
                launch,
                drain,
                bake_seconds: 0,
            });
        }
        if cap < desired {
            if let Some(w) = out.last_mut() {
                w.bake_seconds = bake;
            }
        }
    }
    out
}

/// How many waves of a schedule a rollout has got through, from what it sees: `healthy` new
/// instances and `drained` old ones (out of rotation, their drain finished). A wave is got
/// through once every instance it and the waves before it launch is healthy and every old
/// instance they drain is gone. The one definition of a wave, shared by the plan, the executor,
/// the live view, the forecast, the summary and the report: a rollout that ends well has got
/// through every wave of its plan, one stopped part-way through the ones it finished.
pub fn waves_through(waves: &[Wave], healthy: u32, drained: u32) -> u32 {
    let (mut launched, mut gone) = (0u32, 0u32);
    let mut through = 0;
    for w in waves {
        launched += w.launch;
        gone += w.drain;
        if healthy < launched || drained < gone {
            break;
        }
        through += 1;
    }
    through
}

/// Rough duration of a rollout: each wave boots, passes health checks, and drains.
pub(super) fn estimate(waves: &[Wave], g: &ServerGroup, stack: &Stack) -> u64 {
    const BOOT: u64 = 60;
    let (health, drain) = g
        .target_groups
        .iter()
        .filter_map(|a| stack.target_group(a))
        .map(|tg| {
            (
                tg.health_check.interval.as_secs() * u64::from(tg.health_check.healthy_threshold),
                tg.deregistration_delay.as_secs(),
            )
        })
        .fold((0, 0), |(h, d), (h2, d2)| (h.max(h2), d.max(d2)));
    let per_wave = BOOT + health.max(g.rollout.health.grace.as_secs());
    let bakes: u64 = waves.iter().map(|w| w.bake_seconds).sum();
    if g.rollout.strategy == Strategy::BlueGreen && waves.len() == 1 {
        // Launch at full size, shift traffic step by step, keep blue, then drain it.
        let steps = g.rollout.traffic_steps.len().saturating_sub(1) as u64;
        return per_wave
            + steps * g.rollout.step_bake.as_secs()
            + g.rollout.keep_blue.as_secs()
            + drain;
    }
    waves.len() as u64 * per_wave + drain + bakes
}

pub fn rollout_plan(
    stack: &Stack,
    g: &ServerGroup,
    desired: u32,
    from: Option<u32>,
    to: u32,
) -> RolloutPlan {
    let surge = g.rollout.max_surge.resolve(desired, true);
    let unavailable = g.rollout.max_unavailable.resolve(desired, false);
    // A percentage that rounds to zero on both sides must still make progress.
    let surge = if surge == 0 && unavailable == 0 {
        1
    } else {
        surge
    };
    let blue_green = g.rollout.strategy == Strategy::BlueGreen;
    let w = match (from, g.rollout.strategy) {
        (Some(_), Strategy::Canary) => checkpointed_waves(
            desired,
            surge,
            unavailable,
            &g.rollout.canary.checkpoints(desired),
            g.rollout.canary.bake.as_secs(),
        ),
        // Green comes up whole; blue drains whole once traffic has moved.
        (Some(_), Strategy::BlueGreen) => vec![Wave {
            launch: desired,
            drain: desired,
            bake_seconds: 0,
        }],
        (Some(_), _) => waves(desired, surge, unavailable),
        (None, _) => vec![Wave {
            launch: desired,
            drain: 0,
            bake_seconds: 0,
        }],
    };
    let estimate_seconds = estimate(&w, g, stack);
    let traffic_steps = if blue_green && from.is_some() {
        g.rollout.traffic_steps.clone()
    } else {
        Vec::new()
    };
    RolloutPlan {
        from_generation: from,
        to_generation: to,
        strategy: g.rollout.strategy,
        desired,
        max_surge: surge,
        max_unavailable: unavailable,
        waves: w,
        keep_blue_seconds: if traffic_steps.is_empty() {
            0
        } else {
            g.rollout.keep_blue.as_secs()
        },
        traffic_steps,
        estimate_seconds,
        abandon_generation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::decide::{decide, OldInstance, OldState, View};
    use crate::stack::{Canary, Quantity};

    /// The executor's wave decision ([`decide`]) played forward over an idealised fleet: every
    /// launch is healthy at once, every drain is done at once, and old instances are drained
    /// once the launch before them is healthy (the drains decided together with a launch wait
    /// for it). A wave is a launch with the drain decided after it, or a drain alone; reaching
    /// a checkpoint bakes the wave that got there.
    fn played(
        desired: u32,
        surge: u32,
        unavailable: u32,
        checkpoints: &[u32],
        bake: u64,
    ) -> Vec<Wave> {
        let mut v = View {
            desired,
            max_surge: surge,
            max_unavailable: unavailable,
            new_desired: 0,
            new_healthy: 0,
            new_waiting: 0,
            old: (0..desired)
                .map(|i| OldInstance {
                    id: format!("i-{i}"),
                    state: OldState::Serving,
                })
                .collect(),
            stopping: false,
            cap: None,
        };
        let (mut out, mut open, mut baked) = (Vec::new(), None::<Wave>, 0);
        loop {
            v.cap = checkpoints.iter().copied().find(|&c| c > baked);
            let d = decide(&v);
            assert!(d.finish.is_empty(), "nothing stays drained: {d:?}");
            if d.done {
                break;
            }
            if let Some(n) = d.set_new_desired {
                out.extend(open.take());
                open = Some(Wave {
                    launch: n - v.new_desired,
                    drain: 0,
                    bake_seconds: 0,
                });
                (v.new_desired, v.new_healthy) = (n, n);
            } else if !d.drain.is_empty() {
                let mut w = open.take().unwrap_or(Wave {
                    launch: 0,
                    drain: 0,
                    bake_seconds: 0,
                });
                w.drain = d.drain.len() as u32;
                v.old.retain(|o| !d.drain.contains(&o.id));
                out.push(w);
            } else if d.at_checkpoint {
                out.extend(open.take());
                if let Some(w) = out.last_mut() {
                    w.bake_seconds = bake;
                }
                baked = v.cap.unwrap_or(desired);
            } else {
                break; // no progress possible: no surge and no unavailability
            }
        }
        out.extend(open);
        out
    }

    /// The canaries the property runs through, as `Canary::checkpoints` resolves them.
    fn canaries() -> Vec<Canary> {
        let c = |instances, steps: Vec<Quantity>| Canary {
            instances,
            bake: std::time::Duration::from_secs(600),
            steps,
        };
        vec![
            c(Quantity::Count(1), vec![]),
            c(Quantity::Count(1), vec![Quantity::Percent(50)]),
            c(
                Quantity::Count(2),
                vec![Quantity::Percent(10), Quantity::Percent(75)],
            ),
            c(Quantity::Percent(5), vec![Quantity::Percent(100)]),
            c(
                Quantity::Percent(20),
                vec![Quantity::Count(3), Quantity::Percent(60)],
            ),
        ]
    }

    /// The plan's schedule and the executor's decision are one wave algorithm: for rolling
    /// and canary rollouts, `decide` played forward launches and drains exactly the plan's
    /// waves, and bakes where the plan bakes.
    #[test]
    fn the_schedule_is_what_decide_does_on_an_idealised_fleet() {
        let check = |d: u32, s: u32, u: u32, cps: &[u32]| {
            let plan = match cps {
                [] => waves(d, s, u),
                _ => checkpointed_waves(d, s, u, cps, 600),
            };
            assert_eq!(
                played(d, s, u, cps, 600),
                plan,
                "desired {d} surge {s} unavailable {u} checkpoints {cps:?}"
            );
        };
        for d in 0..=40 {
            for s in 0..=6 {
                for u in 0..=6 {
                    if s + u == 0 {
                        continue;
                    }
                    check(d, s, u, &[]);
                    for c in canaries() {
                        check(d, s, u, &c.checkpoints(d));
                    }
                }
            }
        }
        // Larger fleets, from a small deterministic generator (xorshift).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as u32
        };
        for _ in 0..300 {
            let d = next(400) + 1;
            let (s, u) = (next(u64::from(d) / 4 + 2), next(u64::from(d) / 4 + 2));
            if s + u == 0 {
                continue;
            }
            let mut cps: Vec<u32> = (0..next(4)).map(|_| next(u64::from(d)) + 1).collect();
            cps.sort();
            cps.dedup();
            cps.retain(|&c| c < d);
            check(d, s, u, &[]);
            check(d, s, u, &cps);
        }
    }

    #[test]
    fn wave_schedules() {
        // (desired, surge, unavailable) => waves as (launch, drain)
        type Case = ((u32, u32, u32), &'static [(u32, u32)]);
        let cases: &[Case] = &[
            ((12, 3, 0), &[(3, 3), (3, 3), (3, 3), (3, 3)]),
            (
                (10, 0, 2),
                &[(0, 2), (2, 2), (2, 2), (2, 2), (2, 2), (2, 0)],
            ),
            ((10, 2, 2), &[(2, 4), (4, 4), (4, 2)]),
            ((5, 10, 0), &[(5, 5)]),
            ((1, 1, 0), &[(1, 1)]),
            ((1, 0, 1), &[(0, 1), (1, 0)]),
            ((4, 1, 0), &[(1, 1), (1, 1), (1, 1), (1, 1)]),
            ((0, 1, 0), &[]),
        ];
        for ((d, s, u), want) in cases {
            let got: Vec<(u32, u32)> = waves(*d, *s, *u)
                .iter()
                .map(|w| (w.launch, w.drain))
                .collect();
            assert_eq!(&got, want, "desired {d} surge {s} unavailable {u}");
        }
    }

    #[test]
    fn canary_waves_stop_at_checkpoints() {
        // (desired, surge, unavailable, checkpoints) => waves as (launch, drain, baked)
        type Case = ((u32, u32, u32, &'static [u32]), &'static [(u32, u32, bool)]);
        let table: &[Case] = &[
            (
                (12, 3, 0, &[1]),
                &[
                    (1, 1, true),
                    (3, 3, false),
                    (3, 3, false),
                    (3, 3, false),
                    (2, 2, false),
                ],
            ),
            (
                (10, 3, 0, &[1, 5]),
                &[
                    (1, 1, true),
                    (3, 3, false),
                    (1, 1, true),
                    (3, 3, false),
                    (2, 2, false),
                ],
            ),
            // no surge: the canary replaces in place, one unavailable
            (
                (4, 0, 1, &[1]),
                &[
                    (0, 1, false),
                    (1, 0, true),
                    (0, 1, false),
                    (1, 1, false),
                    (1, 1, false),
                    (1, 0, false),
                ],
            ),
            // no checkpoints: the same as a rolling schedule
            (
                (12, 3, 0, &[]),
                &[(3, 3, false), (3, 3, false), (3, 3, false), (3, 3, false)],
            ),
        ];
        for ((d, s, u, cps), want) in table {
            let got: Vec<(u32, u32, bool)> = checkpointed_waves(*d, *s, *u, cps, 600)
                .iter()
                .map(|w| (w.launch, w.drain, w.bake_seconds > 0))
                .collect();
            assert_eq!(
                &got, want,
                "desired {d} surge {s} unavailable {u} checkpoints {cps:?}"
            );
        }
    }

    #[test]
    fn waves_never_break_capacity_bounds() {
        for d in 1..40 {
            for s in 0..6 {
                for u in 0..4 {
                    if s + u == 0 {
                        continue;
                    }
                    let (mut old, mut new) = (d, 0);
                    for w in waves(d, s, u) {
                        new += w.launch;
                        assert!(old + new <= d + s, "over surge: d{d} s{s} u{u}");
                        old -= w.drain;
                        assert!(
                            old + new >= d.saturating_sub(u),
                            "under floor: d{d} s{s} u{u}"
                        );
                    }
                    assert_eq!((old, new), (0, d), "d{d} s{s} u{u}");
                }
            }
        }
    }

    #[test]
    fn waves_got_through_are_counted_against_the_schedule() {
        // 12 by 3: (3,3) ×4. 10 with no surge, 2 unavailable: (0,2), (2,2) ×4, (2,0).
        let rolling = waves(12, 3, 0);
        let in_place = waves(10, 0, 2);
        // (schedule, new healthy, old drained) => waves got through
        let cases: &[(&[Wave], u32, u32, u32)] = &[
            (&rolling, 0, 0, 0),
            (&rolling, 3, 0, 0),   // healthy, not drained yet
            (&rolling, 3, 3, 1),   // the first wave done
            (&rolling, 5, 3, 1),   // the second under way
            (&rolling, 6, 5, 1),   // healthy, drains in flight
            (&rolling, 6, 6, 2),   // two done
            (&rolling, 12, 12, 4), // all of them
            (&rolling, 12, 11, 3), // the last drain not finished
            (&in_place, 0, 2, 1),  // a drain-only first wave
            (&in_place, 2, 4, 2),
            (&in_place, 10, 10, 6),
            (&[], 0, 0, 0),
        ];
        for (schedule, healthy, drained, want) in cases {
            assert_eq!(
                waves_through(schedule, *healthy, *drained),
                *want,
                "{healthy} healthy, {drained} drained of {schedule:?}"
            );
        }
        // A finished rollout has got through every wave of its plan, whatever the strategy.
        for (desired, schedule) in [
            (12, waves(12, 3, 0)),
            (10, waves(10, 0, 2)),
            (7, waves(7, 2, 1)),
            (12, checkpointed_waves(12, 3, 0, &[1, 6], 600)),
            (4, checkpointed_waves(4, 0, 1, &[1], 600)),
        ] {
            assert_eq!(
                waves_through(&schedule, desired, desired) as usize,
                schedule.len(),
                "{schedule:?}"
            );
        }
    }
}
