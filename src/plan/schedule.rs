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
