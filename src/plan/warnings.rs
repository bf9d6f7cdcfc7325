//! Warnings about what would stop a rollout part of the way in, said at plan time.

use crate::observe::Observed;
use crate::stack::{Stack, Strategy};

/// Target groups of a server group that no listener forwards to. AWS health-checks only target
/// groups a load balancer sends traffic to; the targets of any other stay `unused`
/// (`Target.NotInUse`) and never become healthy, whatever the strategy or mode. A target group
/// a load balancer outside the stack uses (a rule, another listener) counts as served.
pub fn unserved_target_groups(stack: &Stack, observed: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    for g in &stack.server_groups {
        let by_stack = |tg: &String| {
            stack.load_balancers.iter().any(|lb| {
                lb.listeners
                    .iter()
                    .any(|l| l.forward.iter().any(|(t, _)| t == tg))
            })
        };
        if g.rollout.strategy == Strategy::BlueGreen {
            if !g.target_groups.iter().any(by_stack) {
                out.push(format!(
                    "{}: blue/green, but no listener of this stack forwards to its target \
                     groups; its next rollout will be refused",
                    g.address
                ));
            }
            continue;
        }
        for tg in &g.target_groups {
            let elsewhere = observed
                .serving_copy(tg)
                .map(|c| &c.info)
                .or_else(|| observed.target_groups.get(tg).map(|t| &t.info))
                .is_some_and(|info| !info.load_balancer_arns.is_empty());
            if !by_stack(tg) && !elsewhere {
                out.push(format!(
                    "{}: no listener forwards to {tg}; AWS does not health check its targets \
                     (they stay `unused`, Target.NotInUse), so new instances would never become \
                     healthy and apply would stop at the first wave. Add a listener that \
                     forwards to {tg}, or take it out of target_groups",
                    g.address
                ));
            }
        }
    }
    out
}

/// CloudWatch alarms of the rollouts' health gates that do not exist (apply refuses to roll)
/// or are in ALARM now (a rollout would stop at once).
pub fn alarm_warnings(stack: &Stack, observed: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    for g in &stack.server_groups {
        for alarm in &g.rollout.health.alarms {
            match observed.alarms.get(alarm).map(String::as_str) {
                None => out.push(format!(
                    "{}: CloudWatch alarm {alarm:?} does not exist; apply will refuse to roll \
                     this group until it does",
                    g.address
                )),
                Some("ALARM") => out.push(format!(
                    "{}: CloudWatch alarm {alarm:?} is in ALARM now; a rollout would stop at \
                     its first health check",
                    g.address
                )),
                Some(_) => {}
            }
        }
    }
    out
}
