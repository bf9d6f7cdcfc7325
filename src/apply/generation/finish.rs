//! A rollout that succeeded: the new generation serves, the old one is retired, and the
//! generations beyond `keep_previous` go, with their blue/green target groups and (once they
//! pile up) their launch template versions.

use std::time::Duration;

use super::pair::Pair;
use crate::apply::error::ApplyError;
use crate::apply::fleet::Fleet;
use crate::apply::retry::Retry;
use crate::apply::types::{ApplyOptions, HealthWait};
use crate::apply::wait;
use crate::cloud::{tag, Tags};
use crate::names;
use crate::observe::{GenerationState, ObservedGroup};
use crate::stack::{ServerGroup, Stack};

/// The rollout succeeded: the new generation serves, the old one is retired or removed, and
/// generations beyond `keep_previous` go. Each call is retried after transient errors.
pub(crate) async fn finish(
    fleet: &Fleet<'_>,
    g: &ServerGroup,
    og: &ObservedGroup,
    pair: &Pair,
    desired: u32,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
    let (min, max) = (g.capacity.min.min(desired), g.capacity.max.max(desired));
    retry
        .run(async || fleet.set_capacity(&pair.new_gen, min, desired, max).await)
        .await?;
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    t.insert(tag::COMPLETED.into(), crate::cloud::timestamp(cloud));
    t.insert(
        tag::PROGRESS.into(),
        format!("rolled out: {desired} healthy"),
    );
    // The commit point: from here the new generation serves. What follows retires the old
    // one and must not be left half-done, so refusals are tried again too.
    retry
        .run(async || fleet.tag(&pair.new_name, &t).await)
        .await?;
    retire(fleet, &pair.old.name, pair.old.max, &mut retry).await?;

    retain(
        fleet,
        g,
        og,
        (pair.new_number, pair.old_number),
        opts,
        &mut retry,
    )
    .await
}

/// A rollout or rollback that stopped after its commit point (the plan's `unfinished`): once
/// the serving generation is healthy at its size, what [`finish`] would have done next is done
/// now: generations still marked serving beside it are emptied and retired, retention runs,
/// and the processes reroll suspended are resumed (with the released instances swept) on the
/// way out, as after any rollout.
pub(crate) async fn complete(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    og: &ObservedGroup,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let Some(active) = og.active() else {
        return Ok(());
    };
    let superseded = og.superseded();
    let mut names: Vec<&str> = og
        .still_suspended()
        .iter()
        .map(|x| x.group.name.as_str())
        .collect();
    names.extend(superseded.iter().map(|x| x.group.name.as_str()));
    names.push(active.group.name.as_str());
    names.sort_unstable();
    names.dedup();
    let body = async {
        if superseded.is_empty() {
            return Ok(());
        }
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        // The generations before go only once the serving one serves in full: the crash may
        // have come before it did, or it may have lost instances since.
        let wait = HealthWait {
            address: g.address.clone(),
            group_name: active.group.name.clone(),
            desired: active.group.desired,
            target_group_arns: fleet.target_group_arns.clone(),
            is_new: false,
            fleet: fleet.instances_mode(),
        };
        let timeout = g.rollout.health.timeout;
        let cloud = fleet.cloud;
        if let Some(why) =
            wait::one_healthy(cloud, stack, wait, timeout, opts.poll, &mut retry).await?
        {
            return Err(ApplyError::Unsupported(format!(
                "{}: v{:03} is marked serving but is not healthy at its size ({why}); the \
                 generations before it were left as they are",
                g.address, active.number
            )));
        }
        for old in &superseded {
            tracing::info!(address = %g.address, group = %old.group.name, "retiring the generation an interrupted apply replaced");
            retire(fleet, &old.group.name, old.group.max, &mut retry).await?;
        }
        let replaced = superseded.iter().map(|x| x.number).max().unwrap_or(0);
        retain(fleet, g, og, (active.number, replaced), opts, &mut retry).await
    };
    crate::apply::cleanup::scoped(fleet, &g.address, &names, opts, body).await
}

/// Empties the generation `name` (its group's capacity to zero) and marks it retired; past
/// the commit point, so refusals are tried again too.
async fn retire(
    fleet: &Fleet<'_>,
    name: &str,
    max: u32,
    retry: &mut Retry,
) -> Result<(), ApplyError> {
    if !fleet.instances_mode() {
        retry
            .persist(async || fleet.cloud.set_group_capacity(name, 0, 0, max).await)
            .await?;
    }
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Retired.as_str().into());
    t.insert(tag::ROLLED_BACK.into(), String::new());
    retry.persist(async || fleet.tag(name, &t).await).await?;
    Ok(())
}

/// Retention (`new_number` serves, `old_number` served until now): keeps the newest `keep_previous` retired generations and removes the rest.
async fn retain(
    fleet: &Fleet<'_>,
    g: &ServerGroup,
    og: &ObservedGroup,
    (new_number, old_number): (u32, u32),
    opts: &ApplyOptions,
    retry: &mut Retry,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let mut retired: Vec<(u32, String, Option<String>)> = og
        .generations
        .iter()
        .filter(|x| x.number != new_number && x.state != GenerationState::Rolling)
        .map(|x| {
            (
                x.number,
                x.group.name.clone(),
                x.group.launch_template_version.clone(),
            )
        })
        .collect();
    // The generation that served until now comes first (after a rollback it is older than the
    // one rolled back from), then the newest.
    retired.sort_by_key(|r| (r.0 != old_number, std::cmp::Reverse(r.0)));
    let doomed: Vec<(u32, String, Option<String>)> = retired
        .into_iter()
        .skip(g.rollout.keep_previous as usize)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = doomed.iter().map(|d| d.1.clone()).collect();
    for name in &names {
        tracing::info!(address = %g.address, group = %name, "removing a generation beyond keep_previous");
        retry
            .run(async || match fleet.delete(name).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            })
            .await?;
    }
    if !fleet.instances_mode() {
        let limit = Duration::from_secs(900);
        wait::wait_groups_gone(cloud, fleet.stack, &names, limit, opts.poll, retry).await?;
        // Blue/green generations take their own target groups with them.
        let numbers: Vec<String> = doomed.iter().map(|d| d.0.to_string()).collect();
        let copies = retry
            .run(async || {
                cloud
                    .list_target_groups(fleet.stack, &names::elb_prefix(fleet.stack))
                    .await
            })
            .await?;
        for tg in copies.iter().filter(|t| {
            t.tags.contains_key(tag::COPY_OF)
                && t.tags.get(tag::GROUP) == Some(&g.key)
                && t.tags
                    .get(tag::GENERATION)
                    .is_some_and(|n| numbers.contains(n))
        }) {
            tracing::info!(address = %g.address, target_group = %tg.spec.name, "removing the target group of a removed generation");
            if let Err(e) = cloud.delete_target_group(&tg.arn).await {
                tracing::warn!(target_group = %tg.spec.name, error = %e, "could not delete target group");
            }
        }
    }
    // Launch template versions of removed generations: only worth a call once they pile up
    // (a template holds up to 10,000).
    if let Some(lt) = og
        .launch_template
        .as_ref()
        .filter(|lt| lt.latest_version >= 20)
    {
        let versions: Vec<i64> = doomed
            .iter()
            .filter_map(|d| d.2.as_deref()?.parse().ok())
            .collect();
        if let Err(e) = cloud
            .delete_launch_template_versions(&lt.id, &versions)
            .await
        {
            tracing::warn!(error = %e, "could not delete old launch template versions");
        }
    }
    Ok(())
}
