//! The two generations a rollout moves between: the new one created (Replace) or found
//! (Resume), the scaling processes that would fight the rollout suspended, the old one put
//! back into rotation after the account changed, and what hooks are told about both.

use std::collections::HashMap;

use crate::apply::adopt;
use crate::apply::cleanup;
use crate::apply::context::{planned_definition, stack_tags};
use crate::apply::error::ApplyError;
use crate::apply::fleet::{self, Fleet};
use crate::apply::hooks::HookContext;
use crate::cloud::{tag, Cloud, CloudError, GroupInfo, Tags};
use crate::names;
use crate::observe::{GenerationState, ObservedGroup};
use crate::plan::{Change, LaunchDefinition};
use crate::stack::{ServerGroup, Stack};

/// Processes that would fight a rollout: rebalancing, alarm-driven and scheduled scaling; on
/// the old generation also health-check replacement (its drained instances must not be
/// replaced).
pub(crate) const SUSPEND_NEW: &[&str] = &["AZRebalance", "AlarmNotification", "ScheduledActions"];
pub(crate) const SUSPEND_OLD: &[&str] = &[
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
    "ReplaceUnhealthy",
    "HealthCheck",
];

/// The two generations a rollout moves between.
pub(crate) struct Pair {
    pub(crate) old: GroupInfo,
    pub(crate) old_number: u32,
    /// How to grow the new generation.
    pub(crate) new_gen: fleet::Generation,
    pub(crate) new_name: String,
    pub(crate) new_number: u32,
    /// The old group's capacity before the rollout: what a rollback restores.
    pub(crate) from_capacity: (u32, u32, u32),
    pub(crate) target_group_arns: Vec<String>,
}

/// After the account changed under a rollout: if the old generation is still the stack's, its
/// instances go back into rotation and it grows back to its size before the rollout, so that
/// what serves does not depend on a generation someone else is changing. True when it did.
pub(crate) async fn old_back_in_service(
    fleet: &Fleet<'_>,
    pair: &Pair,
) -> Result<bool, CloudError> {
    let Some(old) = fleet
        .find(&pair.old.name)
        .await?
        .filter(|g| g.status.is_none())
    else {
        return Ok(false);
    };
    let alive: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        match fleet.cloud.register_targets(arn, &alive).await {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    let (min, desired, max) = pair.from_capacity;
    if fleet.instances_mode() || old.desired >= desired {
        return Ok(!alive.is_empty());
    }
    tracing::warn!(group = %old.name, desired, "bringing the old generation back to its size");
    fleet
        .cloud
        .set_group_capacity(&old.name, min, desired, max.max(desired))
        .await?;
    Ok(true)
}

/// Suspends what would fight the rollout on both generations, and lets the old group shrink.
pub(crate) async fn suspend_both(
    fleet: &Fleet<'_>,
    old: &GroupInfo,
    pair: &Pair,
) -> Result<(), CloudError> {
    cleanup::suspend(fleet, old, SUSPEND_OLD).await?;
    if let Some(new_info) = fleet.find(&pair.new_name).await? {
        cleanup::suspend(fleet, &new_info, SUSPEND_NEW).await?;
    }
    // The old group shrinks by detaching with decrement: its minimum must allow that.
    if old.min > 0 && !fleet.instances_mode() {
        fleet
            .cloud
            .set_group_capacity(&old.name, 0, old.desired, old.max)
            .await?;
    }
    Ok(())
}

/// Creates the new generation (Replace) or finds it (Resume).
pub(crate) async fn prepare(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    og: &ObservedGroup,
) -> Result<Pair, ApplyError> {
    let cloud = fleet.cloud;
    let old = og.active().ok_or_else(|| {
        ApplyError::Unsupported(format!("{}: no serving generation to replace", g.address))
    })?;
    let target_group_arns = fleet.target_group_arns.clone();
    if target_group_arns
        .iter()
        .any(|a| crate::stack::is_unknown(a))
    {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist",
            g.address
        )));
    }
    if let Some(new) = og
        .generations
        .iter()
        .rev()
        .find(|x| x.state == GenerationState::Rolling)
    {
        let from = parse_from(new.group.tags.get(tag::FROM)).unwrap_or((
            old.group.min,
            old.group.desired,
            old.group.max,
        ));
        tracing::info!(address = %g.address, from = %old.group.name, to = %new.group.name, "resuming rollout");
        if !fleet.instances_mode() {
            reconfigure(cloud, change, &new.group.name).await?;
        }
        return Ok(Pair {
            old: old.group.clone(),
            old_number: old.number,
            new_gen: fleet::Generation::of(&new.group),
            new_name: new.group.name.clone(),
            new_number: new.number,
            from_capacity: from,
            target_group_arns,
        });
    }
    let number = change
        .rollout
        .as_ref()
        .map_or(old.number + 1, |r| r.to_generation);
    let def = planned_definition(g, change)?;
    let spec = &def.spec;
    let lt = og.launch_template.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!("{}: its launch template is missing", g.address))
    })?;
    let version = cloud.create_launch_template_version(&lt.id, spec).await?;
    let name = names::generation_group_name(&stack.name, &g.key, number);
    let from = (old.group.min, old.group.desired, old.group.max);
    let tags = new_generation_tags(stack, g, def, number, &old.group.name, from);
    tracing::info!(
        address = %g.address, from = %old.group.name, to = %name, image = %spec.image_id,
        "creating the new generation"
    );
    let tags = if fleet.instances_mode() {
        fleet::fleet_tags(tags, &name, &lt.id, &version.to_string())
    } else {
        tags
    };
    let new_gen = fleet::Generation {
        name: name.clone(),
        launch_template_id: Some(lt.id.clone()),
        launch_template_version: Some(version.to_string()),
        tags: tags.clone(),
    };
    if !fleet.instances_mode() {
        adopt::creating(cloud, &stack.name)
            .create_group(&fleet::group_spec(
                def,
                g,
                &name,
                (&lt.id, &version.to_string()),
                (0, 0, g.capacity.max.max(from.1)),
                &target_group_arns,
                tags,
            ))
            .await?;
    }
    Ok(Pair {
        old: old.group.clone(),
        old_number: old.number,
        new_gen,
        new_name: name,
        new_number: number,
        from_capacity: from,
        target_group_arns,
    })
}

/// Puts a resumed generation's scaling policies, scheduled actions and lifecycle hooks again
/// (upserts): an apply stopped between creating its group and configuring it left it without
/// them.
pub(crate) async fn reconfigure(
    cloud: &dyn crate::cloud::Cloud,
    change: &Change,
    name: &str,
) -> Result<(), ApplyError> {
    if let Some(def) = &change.launch {
        if fleet::needs_configuring(&def.settings) {
            cloud.configure_group(name, &def.settings).await?;
        }
    }
    Ok(())
}

/// The tags of a new generation rolling from `old` (whose capacity was `from`).
fn new_generation_tags(
    stack: &Stack,
    g: &ServerGroup,
    def: &LaunchDefinition,
    number: u32,
    old: &str,
    from: (u32, u32, u32),
) -> Tags {
    let mut tags = stack_tags(stack, &g.address);
    tags.extend(g.tags.clone());
    tags.insert(tag::GROUP.into(), g.key.clone());
    tags.insert(tag::GENERATION.into(), number.to_string());
    tags.insert(tag::FINGERPRINT.into(), def.fingerprint.clone());
    tags.insert(tag::STATE.into(), GenerationState::Rolling.as_str().into());
    tags.insert(tag::DESIRED.into(), g.capacity.desired.to_string());
    tags.extend(def.image_tags());
    tags.insert(
        tag::FROM.into(),
        format!("{old} {}/{}/{}", from.0, from.1, from.2),
    );
    tags
}

/// The `min/desired/max` a `reroll:from` tag records.
pub(crate) fn parse_from(tag: Option<&String>) -> Option<(u32, u32, u32)> {
    let (_, cap) = tag?.split_once(' ')?;
    let mut parts = cap.split('/').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// What hooks are told: both generations, and the new instances with their private IPs
/// (one DescribeInstances call, only when a hook is about to run).
pub(crate) async fn hook_context(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    og: &ObservedGroup,
    pair: &Pair,
    wave: u32,
    new_ids: &[String],
) -> Result<HookContext, CloudError> {
    let mut ips = Vec::new();
    if !new_ids.is_empty() {
        let by_id: HashMap<String, Option<String>> = cloud
            .list_instances(&stack.name)
            .await?
            .into_iter()
            .map(|i| (i.id, i.private_ip))
            .collect();
        ips = new_ids
            .iter()
            .filter_map(|id| by_id.get(id).cloned().flatten())
            .collect();
    }
    Ok(HookContext {
        stack: stack.name.clone(),
        group: g.address.clone(),
        old_generation: Some(pair.old.name.clone()),
        new_generation: pair.new_name.clone(),
        old_ami: og.active_launch.as_ref().map(|l| l.image_id.clone()),
        new_ami: g.image_id.clone(),
        wave,
        new_instance_ids: new_ids.to_vec(),
        new_private_ips: ips,
        traffic_percent: None,
    })
}
