//! Blue/green: the new generation (green) comes up at full size behind its own copies of the
//! group's target groups, then listener traffic moves from the serving generation (blue) to
//! green, all at once or in weighted steps. Blue stays at capacity for `keep_blue`, the
//! instant-rollback window, and is then retired.
//!
//! Progress lives in the account: green carries `reroll:state = rolling` and
//! `reroll:traffic = <percent>`, and the listeners' weights say where traffic is. Any failure
//! moves traffic back to blue first, then removes green.

mod lanes;
mod shift;

use tokio::time::Instant;

use crate::apply::cleanup;
use crate::apply::context::{observed_group, planned_rollout, serving_generation};
use crate::apply::error::ApplyError;
use crate::apply::fleet::Fleet;
use crate::apply::gates::GateFailure;
use crate::apply::generation::{self, SUSPEND_NEW, SUSPEND_OLD};
use crate::apply::progress::Reporter;
use crate::apply::retry::Retry;
use crate::apply::stop::Stop;
use crate::apply::types::{ApplyOptions, RolloutReport};
use crate::cloud::Cloud;
use crate::observe::{GenerationState, Observed};
use crate::plan::Change;
use crate::stack::{ServerGroup, Stack};

pub use self::lanes::{copy_name, restored, shifted, without_blue, Lane};
use self::shift::BlueGreen;

/// Rolls (or resumes rolling) `g` blue/green.
pub async fn roll(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<RolloutReport, ApplyError> {
    let started = Instant::now();
    let og = observed_group(observed, g)?;
    let plan = planned_rollout(g, change)?;
    let desired = plan.desired;
    let active = serving_generation(og, g)?;
    let number = og
        .generations
        .iter()
        .rev()
        .find(|x| x.state == GenerationState::Rolling)
        .map_or(plan.to_generation, |x| x.number);
    // Refused before anything is created: without a listener there is no traffic to move.
    let listeners = lanes::listeners_of(observed, g)?;
    let lanes = lanes::lanes(cloud, stack, g, observed, number).await?;
    let green_arns: Vec<String> = lanes.iter().map(|l| l.green.clone()).collect();
    let fleet = Fleet::new(cloud, &stack.name, g, green_arns);
    let pair = generation::prepare(&fleet, stack, g, change, og).await?;
    debug_assert_eq!(pair.new_number, number);

    let reporter = Reporter::new(
        &opts.progress,
        &g.address,
        Some(pair.old_number),
        pair.new_number,
        plan,
        started,
    );
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    let ended = cleanup::scoped(&fleet, &g.address, &generations, opts, async {
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        retry
            .run(async || {
                if let Some(blue) = fleet.find(&pair.old.name).await? {
                    cleanup::suspend(&fleet, &blue, SUSPEND_OLD).await?;
                }
                if let Some(green) = fleet.find(&pair.new_name).await? {
                    cleanup::suspend(&fleet, &green, SUSPEND_NEW).await?;
                }
                Ok(())
            })
            .await?;
        let b = BlueGreen {
            cloud,
            stack,
            g,
            og,
            fleet: &fleet,
            pair: &pair,
            lanes: &lanes,
            listeners,
            desired,
            opts,
            stop,
            reporter: &reporter,
        };
        tracing::info!(
            address = %g.address, blue = %pair.old.name, green = %pair.new_name,
            "blue/green: {} → {}", active.group.name, pair.new_name
        );
        if plan.abandon_generation.is_some() {
            b.withdraw().await?;
            return Ok(RolloutReport {
                address: g.address.clone(),
                from: Some(pair.new_number),
                to: pair.old_number,
                waves: 0,
                duration: started.elapsed(),
            });
        }
        conclude(&b, steps(&b, &mut retry).await, started).await
    })
    .await;
    reporter.finish(match &ended {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    });
    ended
}

/// Every step reads where it stands from the account (green's size, its traffic tag, the
/// listeners), so after a transient error the steps run again from the top. True when
/// traffic is on green and blue's window has passed; false when stopped.
async fn steps(b: &BlueGreen<'_>, retry: &mut Retry) -> Result<bool, GateFailure> {
    loop {
        match b.run().await {
            Err(GateFailure::Cloud(e)) => {
                if let Err(e) = retry.pause(e).await {
                    return Err(GateFailure::Cloud(e));
                }
            }
            other => return other,
        }
    }
}

/// What the end of the steps means: finished, stopped, failed (traffic back to blue, green
/// removed) or the account changed.
async fn conclude(
    b: &BlueGreen<'_>,
    outcome: Result<bool, GateFailure>,
    started: Instant,
) -> Result<RolloutReport, ApplyError> {
    let (g, pair) = (b.g, b.pair);
    match outcome {
        Ok(true) => {
            generation::finish(b.fleet, g, b.og, pair, b.desired, b.opts).await?;
            Ok(RolloutReport {
                address: g.address.clone(),
                from: Some(pair.old_number),
                to: pair.new_number,
                waves: 1,
                duration: started.elapsed(),
            })
        }
        Ok(false) => Err(ApplyError::Interrupted {
            address: g.address.clone(),
            message: format!(
                "stopped: v{:03} serves at full capacity, v{:03} is up with {}% of traffic; \
                 run apply again to continue",
                pair.old_number,
                pair.new_number,
                b.traffic().await.unwrap_or(0)
            ),
        }),
        Err(GateFailure::Cloud(e)) => Err(e.into()),
        Err(GateFailure::Failed(message)) => b.fail(message).await,
        Err(GateFailure::Changed(what)) => b.changed(what).await,
    }
}
