//! The whole plan of a stack: every resource's change, deletions of what it no longer
//! declares, and the warnings.

use std::collections::BTreeSet;

use super::diff::deletion;
use super::infra::{plan_load_balancer, plan_target_group};
use super::quota::quota_warnings;
use super::server_group::plan_server_group;
use super::types::{Action, Kind, Plan, PlanError, FORMAT_VERSION};
use super::warnings::{alarm_warnings, unserved_target_groups};
use crate::observe::{Observed, Taken};
use crate::stack::{Stack, Strategy};

/// A plan of `destroy` (an empty stack against what the stack owns): the same deletions, with
/// reasons that say why.
pub fn destroy_plan(mut plan: Plan) -> Plan {
    for c in plan
        .changes
        .iter_mut()
        .filter(|c| c.action == Action::Delete)
    {
        c.reason = c
            .reason
            .replacen(NO_LONGER_DECLARED, "destroyed with the stack", 1);
    }
    plan
}

/// Why something the stack owns is deleted by a plan.
const NO_LONGER_DECLARED: &str = "no longer in the stack";

/// Computes the plan. Pure: everything it needs is in its arguments.
pub fn plan(stack: &Stack, observed: &Observed, force: bool) -> Result<Plan, PlanError> {
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    shared_blue_green_target_groups(stack)?;

    for tg in &stack.target_groups {
        changes.push(plan_target_group(tg, observed)?);
    }
    for lb in &stack.load_balancers {
        changes.push(plan_load_balancer(stack, lb, observed)?);
    }
    for g in &stack.server_groups {
        changes.push(plan_server_group(stack, g, observed, force)?);
    }

    // Whatever the stack owns but no longer declares.
    let declared: BTreeSet<&str> = stack
        .target_groups
        .iter()
        .map(|t| t.address.as_str())
        .chain(stack.load_balancers.iter().map(|l| l.address.as_str()))
        .collect();
    for (address, _) in observed
        .target_groups
        .iter()
        .filter(|(a, _)| !declared.contains(a.as_str()))
    {
        changes.push(deletion(address, Kind::TargetGroup, NO_LONGER_DECLARED));
    }
    for (address, _) in observed
        .load_balancers
        .iter()
        .filter(|(a, _)| !declared.contains(a.as_str()))
    {
        changes.push(deletion(address, Kind::LoadBalancer, NO_LONGER_DECLARED));
    }
    let keys: BTreeSet<&str> = stack.server_groups.iter().map(|g| g.key.as_str()).collect();
    for (key, g) in observed
        .groups
        .iter()
        .filter(|(k, _)| !keys.contains(k.as_str()))
    {
        if g.generations.is_empty() && g.launch_template.is_none() {
            continue;
        }
        let address = g
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{key}"));
        let n: u32 = g.generations.iter().map(|x| x.group.desired).sum();
        changes.push(deletion(
            &address,
            Kind::ServerGroup,
            &format!(
                "{NO_LONGER_DECLARED} ({n} instance{}, {} generation{})",
                if n == 1 { "" } else { "s" },
                g.generations.len(),
                if g.generations.len() == 1 { "" } else { "s" }
            ),
        ));
    }

    warnings.extend(quota_warnings(stack));
    warnings.extend(unserved_target_groups(stack, observed));
    warnings.extend(crate::controllers::warnings(stack, observed));
    warnings.extend(alarm_warnings(stack, observed));
    changes.sort_by(|a, b| (a.kind, &a.address).cmp(&(b.kind, &b.address)));
    // A create whose name someone else holds: AWS would answer it with their resource.
    let taken: Vec<(String, Taken)> = changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| Some((c.address.clone(), observed.taken.get(&c.address)?.clone())))
        .collect();
    if !taken.is_empty() {
        return Err(PlanError::Taken(taken));
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        stack: stack.name.clone(),
        region: observed.region.clone(),
        changes,
        warnings,
        observed_digest: observed.digest(),
        copies: Vec::new(),
    })
}

/// A blue/green group moves its target groups' listener traffic to its own copies: another
/// group behind the same target group would be cut off.
fn shared_blue_green_target_groups(stack: &Stack) -> Result<(), PlanError> {
    for g in stack
        .server_groups
        .iter()
        .filter(|g| g.rollout.strategy == Strategy::BlueGreen)
    {
        for tg in &g.target_groups {
            if let Some(other) = stack
                .server_groups
                .iter()
                .find(|o| o.address != g.address && o.target_groups.contains(tg))
            {
                return Err(PlanError::Unsupported {
                    address: g.address.clone(),
                    message: format!(
                        "a blue/green group needs its target groups to itself, but {} also \
                         uses {tg}; give each group its own target group",
                        other.address
                    ),
                });
            }
        }
    }
    Ok(())
}
