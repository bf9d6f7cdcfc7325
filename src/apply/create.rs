//! Changes that need no rollout: a first generation created (or its interrupted creation
//! resumed) and a serving generation resized.

use std::collections::BTreeMap;
use std::time::Duration;

use super::context::{longest_drain, observed_group, planned_definition, stack_tags};
use super::error::ApplyError;
use super::retry::Retry;
use super::types::{ApplyOptions, HealthWait};
use super::{activities, adopt, fleet, wait};
use crate::cloud::{tag, Cloud};
use crate::names;
use crate::observe::{GenerationState, Observed};
use crate::plan::{self, Action};
use crate::stack::{is_unknown, GroupMode, ServerGroup, Stack};

/// A first generation whose creation was interrupted: wait for it again.
pub(super) fn resume_first(
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
) -> Result<HealthWait, ApplyError> {
    let gen = observed
        .groups
        .get(&g.key)
        .and_then(|o| {
            o.generations
                .iter()
                .rev()
                .find(|x| x.state == GenerationState::Rolling)
        })
        .ok_or_else(|| ApplyError::Unsupported(format!("{}: nothing to resume", g.address)))?;
    Ok(HealthWait {
        address: g.address.clone(),
        group_name: gen.group.name.clone(),
        desired: change
            .rollout
            .as_ref()
            .map_or(gen.group.desired, |r| r.desired),
        target_group_arns: plan::target_group_arns(g, observed),
        is_new: true,
        fleet: g.mode == GroupMode::Instances,
    })
}

/// A rolling generation resumed with no generation before it (its creation was interrupted,
/// or the one it replaced is gone) grows to the planned size before it is waited on.
pub(super) async fn grow_resumed(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    w: &HealthWait,
) -> Result<(), ApplyError> {
    let Some(gen) = observed
        .groups
        .get(&g.key)
        .and_then(|o| o.generations.iter().find(|x| x.group.name == w.group_name))
    else {
        return Ok(());
    };
    if gen.group.desired >= w.desired {
        return Ok(());
    }
    tracing::info!(address = %g.address, group = %w.group_name, desired = w.desired, "growing the resumed generation");
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, w.target_group_arns.clone());
    let (min, max) = (g.capacity.min.min(w.desired), g.capacity.max.max(w.desired));
    fleet
        .set_capacity(&fleet::Generation::of(&gen.group), min, w.desired, max)
        .await?;
    Ok(())
}

/// Creates the first generation of a group as planned; returns what to wait for.
pub(super) async fn create_generation(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
) -> Result<HealthWait, ApplyError> {
    let def = planned_definition(g, change)?;
    let spec = def.spec.clone();
    let fp = def.fingerprint.clone();
    let generation = change.rollout.as_ref().map_or(1, |r| r.to_generation);
    let og = observed.groups.get(&g.key);
    let (lt_id, version) = match og.and_then(|o| o.launch_template.as_ref()) {
        Some(lt) => {
            let v = cloud.create_launch_template_version(&lt.id, &spec).await?;
            (lt.id.clone(), v)
        }
        None => {
            let mut tags = stack_tags(stack, &g.address);
            tags.insert(tag::GROUP.into(), g.key.clone());
            adopt::creating(cloud, &stack.name)
                .create_launch_template(
                    &names::launch_template_name(&stack.name, &g.key),
                    &spec,
                    &tags,
                )
                .await?
        }
    };
    let tg_arns: Vec<String> = g
        .target_groups
        .iter()
        .filter_map(|a| observed.target_group_arn(a).map(String::from))
        .collect();
    if tg_arns.len() != g.target_groups.len() {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist yet",
            g.address
        )));
    }
    let name = names::generation_group_name(&stack.name, &g.key, generation);
    let mut tags = stack_tags(stack, &g.address);
    tags.extend(g.tags.clone());
    tags.insert(tag::GROUP.into(), g.key.clone());
    tags.insert(tag::GENERATION.into(), generation.to_string());
    tags.insert(tag::FINGERPRINT.into(), fp);
    tags.insert(tag::STATE.into(), GenerationState::Rolling.as_str().into());
    tags.insert(tag::DESIRED.into(), g.capacity.desired.to_string());
    tags.extend(def.image_tags());
    let desired = change
        .rollout
        .as_ref()
        .map_or(g.capacity.desired, |r| r.desired);
    tracing::info!(
        address = %g.address, group = %name, desired, instance_type = %spec.instance_type, image = %spec.image_id,
        "creating generation"
    );
    let fleet_mode = g.mode == GroupMode::Instances;
    if fleet_mode {
        let fleet = fleet::Fleet::new(cloud, &stack.name, g, tg_arns.clone());
        let gen = fleet::Generation {
            name: name.clone(),
            launch_template_id: Some(lt_id.clone()),
            launch_template_version: Some(version.to_string()),
            tags: fleet::fleet_tags(tags, &name, &lt_id, &version.to_string()),
        };
        let w = HealthWait {
            address: g.address.clone(),
            group_name: name,
            desired,
            target_group_arns: tg_arns,
            is_new: true,
            fleet: true,
        };
        activities::launch_first(&fleet, &gen, desired, g, &w).await?;
        return Ok(w);
    }
    adopt::creating(cloud, &stack.name)
        .create_group(&fleet::group_spec(
            def,
            g,
            &name,
            (&lt_id, &version.to_string()),
            (g.capacity.min, desired, g.capacity.max),
            &tg_arns,
            tags,
        ))
        .await?;
    Ok(HealthWait {
        address: g.address.clone(),
        group_name: name,
        desired,
        target_group_arns: tg_arns,
        is_new: true,
        fleet: false,
    })
}

/// Resizes the active generation and (re)attaches its target groups, as planned.
pub(super) async fn resize(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
    opts: &ApplyOptions,
) -> Result<HealthWait, ApplyError> {
    let active = observed_group(observed, g)?
        .active()
        .ok_or_else(|| ApplyError::Changed {
            resource: g.address.clone(),
            message:
                "it has no serving generation any more (its reroll:state tag changed since the \
                 plan was made). Nothing was changed; run plan again"
                    .into(),
        })?;
    let want = plan::target_group_arns(g, observed);
    if want.iter().any(|a| is_unknown(a)) {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist in {}",
            g.address, stack.name
        )));
    }
    let name = &active.group.name;
    let instances = g.mode == GroupMode::Instances;
    let wait = |desired| HealthWait {
        address: g.address.clone(),
        group_name: name.clone(),
        desired,
        target_group_arns: want.clone(),
        is_new: false,
        fleet: instances,
    };
    // Attachments were moved before (`move_attachments`).
    if change.action == Action::Update {
        return Ok(wait(active.group.desired));
    }
    let desired = planned_desired(change, active.group.desired);
    tracing::info!(address = %g.address, group = %name, from = active.group.desired, to = desired, "resizing");
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, want.clone());
    let live = active.group.instances.len() as u32;
    if instances && desired < live {
        // Shrinking plain instances: drain before terminating.
        let surplus: Vec<String> = active
            .group
            .instances
            .iter()
            .take((live - desired) as usize)
            .map(|i| i.id.clone())
            .collect();
        for arn in &want {
            cloud.deregister_targets(arn, &surplus).await?;
        }
        let limit = longest_drain(stack, g) + Duration::from_secs(60);
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        wait::drained(
            cloud,
            &want,
            &surplus,
            limit,
            Duration::from_secs(2),
            &mut retry,
        )
        .await?;
        cloud.terminate_instances(&surplus).await?;
    } else {
        let gen = fleet::Generation::of(&active.group);
        fleet
            .set_capacity(&gen, g.capacity.min, desired, g.capacity.max)
            .await?;
    }
    let mut t = BTreeMap::new();
    t.insert(tag::DESIRED.to_string(), g.capacity.desired.to_string());
    fleet.tag(name, &t).await?;
    Ok(wait(desired))
}

/// The planned desired capacity of a Resize.
fn planned_desired(change: &plan::Change, current: u32) -> u32 {
    change
        .diffs
        .iter()
        .find(|d| d.name == "capacity.desired")
        .and_then(|d| d.after.as_deref()?.parse().ok())
        .unwrap_or(current)
}
