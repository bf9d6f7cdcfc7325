//! Warnings where a stack goes beyond AWS's published default quotas.

use std::collections::BTreeMap;

use crate::stack::Stack;

/// Warnings where the stack goes beyond AWS's published default quotas.
pub(super) fn quota_warnings(stack: &Stack) -> Vec<String> {
    let mut w = Vec::new();
    let mut per_tg: BTreeMap<&str, u32> = BTreeMap::new();
    for g in &stack.server_groups {
        let surge = g.rollout.max_surge.resolve(g.capacity.max, true);
        for tg in &g.target_groups {
            *per_tg.entry(tg).or_default() += g.capacity.max + surge;
        }
    }
    for (tg, n) in per_tg {
        if n > 1000 {
            w.push(format!(
                "{tg} may hold up to {n} targets during a rollout; a target group holds at most 1000"
            ));
        }
    }
    if stack.server_groups.len() * 2 > 500 {
        w.push(format!(
            "{} server groups need up to {} Auto Scaling groups during rollouts; the default quota is 500 a region",
            stack.server_groups.len(),
            stack.server_groups.len() * 2
        ));
    }
    let launches: u32 = stack.server_groups.iter().map(|g| g.capacity.desired).sum();
    if launches > 1000 {
        w.push(format!(
            "launching {launches} instances exceeds RunInstances' burst of 1000; expect about {} s more at 2 instances/s",
            (launches - 1000) / 2
        ));
    }
    w
}
