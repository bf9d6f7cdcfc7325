//! A new generation taken away again: rolled back after its rollout failed (its definition
//! recorded as failed on the old generation), paused for inspection, or withdrawn because the
//! stack no longer asks for it (nothing recorded). The old generation is back at its size and
//! healthy before the new one drains.

use std::time::Duration;

use super::pair::{prepare, Pair};
use crate::apply::cleanup;
use crate::apply::context::{longest_drain, observed_group, serving_generation};
use crate::apply::error::ApplyError;
use crate::apply::fleet::{self, Fleet};
use crate::apply::retry::Retry;
use crate::apply::types::{ApplyOptions, HealthWait, RolloutReport};
use crate::apply::wait;
use crate::cloud::{tag, Cloud, CloudError, GroupInfo, Tags};
use crate::observe::{GenerationState, Observed};
use crate::plan::{self, Change};
use crate::stack::{OnFailure, ServerGroup, Stack};

/// New instances did not become healthy: roll back or pause, as the group says. (Whatever
/// happens, the processes the rollout suspended are restored by its cleanup.)
pub(crate) async fn fail(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    message: String,
    unavailable: u32,
    opts: &ApplyOptions,
) -> Result<RolloutReport, ApplyError> {
    tracing::error!(address = %g.address, "rollout failed: {message}");
    if g.rollout.on_failure == OnFailure::Pause {
        // Launch nothing more; both generations keep serving.
        if let (Ok(Some(n)), false) = (fleet.find(&pair.new_name).await, fleet.instances_mode()) {
            let launched = n.instances.len() as u32;
            let _ = fleet
                .cloud
                .set_group_capacity(&pair.new_name, 0, launched.min(n.desired), n.max)
                .await;
        }
        return Err(ApplyError::Paused {
            address: g.address.clone(),
            message: format!(
                "{message}. v{:03} and v{:03} both serve. Fix the cause and run apply again to \
                 continue, or change the stack back to roll forward from v{:03}",
                pair.old_number, pair.new_number, pair.old_number
            ),
        });
    }
    match rollback(fleet, stack, g, pair, unavailable, opts, Removal::Failed).await {
        Ok(()) => Err(ApplyError::RolledBack {
            address: g.address.clone(),
            message,
        }),
        Err(e) => Err(ApplyError::Paused {
            address: g.address.clone(),
            message: format!("{message}; the rollback failed too: {e}"),
        }),
    }
}

/// Why a new generation is taken away again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Its rollout failed: the definition is recorded as failed, so the next plan refuses it.
    Failed,
    /// The stack no longer asks for it (an interrupted rollout, then the stack changed):
    /// nothing failed, nothing is recorded.
    Withdrawn,
}

/// Restores the old generation's capacity, waits until it is healthy, drains and removes the
/// new generation, and (for a failure) records the failed definition on the old one. Each
/// call is retried after transient errors.
async fn rollback(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    unavailable: u32,
    opts: &ApplyOptions,
    removal: Removal,
) -> Result<(), ApplyError> {
    tracing::warn!(address = %g.address, to = %pair.old.name, "rolling back");
    let cloud = fleet.cloud;
    let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
    let (min, desired, max) = pair.from_capacity;
    let disappeared =
        || ApplyError::Unsupported(format!("generation {} disappeared", pair.new_name));
    let new = retry
        .run(async || fleet.find(&pair.new_name).await)
        .await?
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(disappeared)?;
    if !fleet.instances_mode() {
        let launched = new.instances.len().min(new.desired as usize) as u32;
        retry
            .run(async || {
                cloud
                    .set_group_capacity(&pair.new_name, 0, launched, new.max)
                    .await
            })
            .await?;
    }
    // Old instances still alive go back into rotation; what is missing is launched again.
    let old = retry
        .run(async || fleet.find(&pair.old.name).await)
        .await?
        .unwrap_or_else(|| pair.old.clone());
    let alive: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        retry
            .run(async || cloud.register_targets(arn, &alive).await)
            .await?;
    }
    let mut old_gen = fleet::Generation::of(&pair.old);
    old_gen.tags = pair.old.tags.clone();
    retry
        .run(async || fleet.set_capacity(&old_gen, min, desired, max).await)
        .await?;
    let wait = HealthWait {
        address: g.address.clone(),
        group_name: pair.old.name.clone(),
        desired: desired.saturating_sub(unavailable).max(1).min(desired),
        target_group_arns: pair.target_group_arns.clone(),
        is_new: false,
        fleet: fleet.instances_mode(),
    };
    let timeout = g.rollout.health.timeout;
    if let Some(why) = wait::one_healthy(cloud, stack, wait, timeout, opts.poll, &mut retry).await?
    {
        return Err(ApplyError::Unsupported(format!(
            "the old generation did not become healthy again: {why}"
        )));
    }
    remove_new(fleet, stack, g, pair, opts, removal, &mut retry).await?;
    tracing::info!(address = %g.address, serving = %pair.old.name, "rolled back");
    Ok(())
}

/// Drains the new generation, marks it, deletes it, and says so on the old one: the failed
/// definition, or that it serves again.
async fn remove_new(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    opts: &ApplyOptions,
    removal: Removal,
    retry: &mut Retry,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let disappeared =
        || ApplyError::Unsupported(format!("generation {} disappeared", pair.new_name));
    // Drain the new generation before removing it.
    let new = retry
        .run(async || fleet.find(&pair.new_name).await)
        .await?
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(disappeared)?;
    let ids: Vec<String> = new.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        retry
            .run(async || cloud.deregister_targets(arn, &ids).await)
            .await?;
    }
    let limit = longest_drain(stack, g) + Duration::from_secs(60);
    wait::drained(
        cloud,
        &pair.target_group_arns,
        &ids,
        limit,
        opts.poll,
        retry,
    )
    .await?;
    retry
        .run(async || mark_removed(fleet, pair, removal).await)
        .await?;
    retry
        .run(async || match fleet.delete(&pair.new_name).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        })
        .await?;
    retry
        .run(async || match removal {
            Removal::Failed => remember_failure(fleet, pair, Some(&new)).await,
            Removal::Withdrawn => serves_again(fleet, pair).await,
        })
        .await?;
    Ok(())
}

/// Marks the new generation, before it is deleted, so that while AWS deletes it it is not
/// taken for a rollout to resume: failed, or retired when it was withdrawn.
pub(crate) async fn mark_removed(
    fleet: &Fleet<'_>,
    pair: &Pair,
    removal: Removal,
) -> Result<(), CloudError> {
    match removal {
        Removal::Failed => mark_failed(fleet, pair).await,
        Removal::Withdrawn => {
            let mut t = Tags::new();
            t.insert(tag::STATE.into(), GenerationState::Retired.as_str().into());
            fleet.tag(&pair.new_name, &t).await
        }
    }
}

/// The old generation serves again after a withdrawn rollout.
pub(crate) async fn serves_again(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    fleet.tag(&pair.old.name, &t).await
}

/// Abandons an interrupted rollout whose definition the stack no longer asks for: the
/// generation that served before it is restored to its size before the rollout and waited on
/// until healthy, then the interrupted generation is drained and removed. Nothing is recorded
/// as failed: the definition did not fail, the stack withdrew it.
pub async fn abandon(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    observed: &Observed,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let og = observed_group(observed, g)?;
    serving_generation(og, g)?;
    let unavailable = change.rollout.as_ref().map_or(0, |r| r.max_unavailable);
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = prepare(&fleet, stack, g, change, og).await?;
    tracing::warn!(
        address = %g.address, abandoned = %pair.new_name, serving = %pair.old.name,
        "abandoning the interrupted rollout: the stack no longer asks for its definition"
    );
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    cleanup::scoped(&fleet, &g.address, &generations, opts, async {
        rollback(
            &fleet,
            stack,
            g,
            &pair,
            unavailable,
            opts,
            Removal::Withdrawn,
        )
        .await
    })
    .await
}

/// Marks the new generation failed, before it is deleted: while AWS deletes a group it is
/// still listed, and must not be taken for a rollout to resume.
pub(crate) async fn mark_failed(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut failed = Tags::new();
    failed.insert(tag::STATE.into(), GenerationState::Failed.as_str().into());
    fleet.tag(&pair.new_name, &failed).await
}

/// Records the failed definition on the old generation, which serves again, so the next plan
/// does not simply try it again.
pub(crate) async fn remember_failure(
    fleet: &Fleet<'_>,
    pair: &Pair,
    new: Option<&GroupInfo>,
) -> Result<(), CloudError> {
    let fingerprint = pair
        .new_gen
        .tags
        .get(tag::FINGERPRINT)
        .or(new.and_then(|n| n.tags.get(tag::FINGERPRINT)))
        .cloned()
        .unwrap_or_default();
    let now = crate::cloud::timestamp(fleet.cloud);
    let mut t = Tags::new();
    t.insert(tag::FAILED.into(), format!("{fingerprint} {now}"));
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    fleet.tag(&pair.old.name, &t).await
}
