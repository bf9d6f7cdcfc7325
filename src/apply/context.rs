//! What a step reads from the plan, the stack and the observation before it acts: a group's
//! observed entry and serving generation (or the error saying they are gone), the planned
//! definition and rollout, identity tags, drain limits, and the `depends_on` order.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::cadence::Checks;
use super::error::ApplyError;
use crate::cloud::{tag, Tags};
use crate::observe::{Observed, ObservedGroup};
use crate::plan::{self, Action, Change, Kind, Plan};
use crate::stack::{ServerGroup, Stack};

/// A server group's entry in the observation, or the error saying it is gone.
pub(super) fn observed_group<'a>(
    observed: &'a Observed,
    g: &ServerGroup,
) -> Result<&'a ObservedGroup, ApplyError> {
    observed
        .groups
        .get(&g.key)
        .ok_or_else(|| ApplyError::Changed {
            resource: g.address.clone(),
            message: format!(
            "no Auto Scaling group of {} is tagged with it any more: it was deleted or retagged \
                 since the plan was made. Nothing was changed; run plan again",
            g.address
        ),
        })
}

pub(super) fn stack_tags(stack: &Stack, address: &str) -> Tags {
    let mut tags = stack.tags.clone();
    tags.insert(tag::STACK.into(), stack.name.clone());
    tags.insert(tag::ADDRESS.into(), crate::names::address_tag(address));
    tags
}

/// The generation a rollout replaces, or the error saying there is none any more.
pub(super) fn serving_generation<'a>(
    og: &'a ObservedGroup,
    g: &ServerGroup,
) -> Result<&'a crate::observe::Generation, ApplyError> {
    og.active().ok_or_else(|| ApplyError::Changed {
        resource: g.address.clone(),
        message: format!(
            "no generation of it serves any more (deleted, or its {} tag changed, since the \
             plan was made). Nothing was changed; run plan again",
            tag::STATE
        ),
    })
}

/// A resource the plan updates that is no longer in the account.
pub(super) fn gone(address: &str, kind: &str) -> ApplyError {
    ApplyError::Changed {
        resource: address.to_string(),
        message: format!(
            "the {kind} the plan updates is no longer in the account (deleted, or its {} tag \
                 changed, since the plan was made). Run plan again",
            tag::STACK
        ),
    }
}

pub(super) fn wants(plan: &Plan, kind: Kind, action: Action) -> BTreeSet<&str> {
    plan.changes
        .iter()
        .filter(|c| c.kind == kind && c.action == action)
        .map(|c| c.address.as_str())
        .collect()
}

/// The instance definition a Create or Replace launches: the one the plan carries, never a
/// later evaluation of the stack.
pub(crate) fn planned_definition<'c>(
    g: &ServerGroup,
    change: &'c plan::Change,
) -> Result<&'c plan::LaunchDefinition, ApplyError> {
    change.launch.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!(
            "{}: the instance definition still has unknown values after creating the \
             infrastructure; nothing was launched for it",
            g.address
        ))
    })
}

/// The rollout plan of a Replace or Resume change.
pub(super) fn planned_rollout<'a>(
    g: &ServerGroup,
    change: &'a Change,
) -> Result<&'a plan::RolloutPlan, ApplyError> {
    change.rollout.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!(
            "{}: the plan's {:?} carries no rollout; run plan again",
            g.address, change.action
        ))
    })
}

/// The longest deregistration delay among a group's target groups.
pub(crate) fn longest_drain(stack: &Stack, g: &ServerGroup) -> Duration {
    g.target_groups
        .iter()
        .filter_map(|a| stack.target_group(a))
        .map(|t| t.deregistration_delay)
        .max()
        .unwrap_or_default()
}

/// How the target groups of `g` check health and drain, the slowest of them; without target
/// groups, a new instance is ready once Auto Scaling has it in service.
pub(crate) fn checks(stack: &Stack, g: &ServerGroup) -> Checks {
    let tgs: Vec<_> = g
        .target_groups
        .iter()
        .filter_map(|a| stack.target_group(a))
        .collect();
    Checks {
        interval: tgs
            .iter()
            .map(|t| t.health_check.interval)
            .max()
            .unwrap_or(Duration::from_secs(10)),
        healthy_threshold: tgs
            .iter()
            .map(|t| t.health_check.healthy_threshold)
            .max()
            .unwrap_or(1),
        deregistration_delay: longest_drain(stack, g),
    }
}

/// Orders server groups by `depends_on` into levels; groups in a level are independent.
pub fn levels(groups: &[&ServerGroup]) -> Vec<Vec<String>> {
    let addresses: BTreeSet<&str> = groups.iter().map(|g| g.address.as_str()).collect();
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = groups
        .iter()
        .map(|g| {
            (
                g.address.as_str(),
                g.depends_on
                    .iter()
                    .map(String::as_str)
                    .filter(|d| addresses.contains(d))
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(a, _)| *a)
            .collect();
        if ready.is_empty() {
            // A cycle: take the rest together rather than never.
            out.push(remaining.keys().map(|a| a.to_string()).collect());
            break;
        }
        for a in &ready {
            remaining.remove(a);
        }
        for deps in remaining.values_mut() {
            for a in &ready {
                deps.remove(a);
            }
        }
        out.push(ready.into_iter().map(String::from).collect());
    }
    out
}

/// The rollouts of a plan's Replace and Resume changes, `depends_on` levels in order,
/// up to `parallelism` at a time within a level.
pub fn order<'a>(stack: &'a Stack, changes: &[&'a Change]) -> Vec<Vec<&'a ServerGroup>> {
    let groups: Vec<&ServerGroup> = changes
        .iter()
        .filter_map(|c| stack.server_group(&c.address))
        .collect();
    let by_address: BTreeMap<&str, &ServerGroup> =
        groups.iter().map(|g| (g.address.as_str(), *g)).collect();
    levels(&groups)
        .into_iter()
        .map(|level| {
            level
                .iter()
                .filter_map(|a| by_address.get(a.as_str()).copied())
                .collect()
        })
        .collect()
}
