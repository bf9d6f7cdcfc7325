//! Target groups and load balancers (with their listeners): created, updated in place, or
//! refused where AWS cannot change them.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{diff, settings_change};
use super::types::{Action, AttrDiff, Change, Kind, PlanError};
use crate::cloud::{Forward, HealthCheckSpec, ListenerSpec, TargetGroupSpec};
use crate::observe::{Observed, ObservedLoadBalancer};
use crate::stack::{Listener, LoadBalancer, Stack, TargetGroup, UNKNOWN_APPLY};

/// The target group settings AWS would hold for a desired target group.
pub fn target_group_spec(tg: &TargetGroup) -> TargetGroupSpec {
    let hc = &tg.health_check;
    TargetGroupSpec {
        name: tg.name.clone(),
        port: tg.port,
        protocol: tg.protocol.clone(),
        vpc_id: tg.vpc_id.clone(),
        target_type: "instance".into(),
        health_check: HealthCheckSpec {
            protocol: hc.protocol.clone(),
            port: hc.port.clone(),
            path: hc.path.clone(),
            interval_seconds: hc.interval.as_secs() as u32,
            timeout_seconds: hc.timeout.as_secs() as u32,
            healthy_threshold: hc.healthy_threshold,
            unhealthy_threshold: hc.unhealthy_threshold,
            matcher: hc.matcher.clone(),
        },
        deregistration_delay_seconds: tg.deregistration_delay.as_secs() as u32,
    }
}

/// A target group: created, updated in place, or refused where AWS would need a new one.
pub(super) fn plan_target_group(
    tg: &TargetGroup,
    observed: &Observed,
) -> Result<Change, PlanError> {
    let want = target_group_spec(tg);
    let Some(have) = observed.target_groups.get(&tg.address) else {
        return Ok(Change {
            address: tg.address.clone(),
            kind: Kind::TargetGroup,
            action: Action::Create,
            reason: format!("{} port {} in {}", tg.protocol, tg.port, tg.vpc_id),
            diffs: Vec::new(),
            rollout: None,
            fingerprint: None,
            launch: None,
        });
    };
    let h = &have.info.spec;
    let immutable: Vec<AttrDiff> = [
        diff("name", Some(h.name.clone()), Some(want.name.clone()), true),
        diff(
            "port",
            Some(h.port.to_string()),
            Some(want.port.to_string()),
            true,
        ),
        diff(
            "protocol",
            Some(h.protocol.clone()),
            Some(want.protocol.clone()),
            true,
        ),
        diff(
            "vpc_id",
            Some(h.vpc_id.clone()),
            Some(want.vpc_id.clone()),
            true,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(d) = immutable.first() {
        return Err(PlanError::Unsupported {
            address: tg.address.clone(),
            message: format!(
                "`{}` of an existing target group cannot change ({} → {}); AWS would need a new \
                 target group. Declare a new target_group block, move listeners and server groups \
                 to it, and remove the old one in a later apply",
                d.name,
                d.before.as_deref().unwrap_or("-"),
                d.after.as_deref().unwrap_or("-"),
            ),
        });
    }
    let diffs = settings_diffs(h, &want);
    Ok(settings_change(&tg.address, Kind::TargetGroup, diffs))
}

/// The settings of a target group that AWS changes in place: deregistration delay and health
/// check.
fn settings_diffs(h: &TargetGroupSpec, want: &TargetGroupSpec) -> Vec<AttrDiff> {
    let (hh, wh) = (&h.health_check, &want.health_check);
    [
        diff(
            "deregistration_delay",
            Some(format!("{}s", h.deregistration_delay_seconds)),
            Some(format!("{}s", want.deregistration_delay_seconds)),
            false,
        ),
        diff("health_check.path", hh.path.clone(), wh.path.clone(), false),
        diff(
            "health_check.port",
            Some(hh.port.clone()),
            Some(wh.port.clone()),
            false,
        ),
        diff(
            "health_check.protocol",
            Some(hh.protocol.clone()),
            Some(wh.protocol.clone()),
            false,
        ),
        diff(
            "health_check.interval",
            Some(format!("{}s", hh.interval_seconds)),
            Some(format!("{}s", wh.interval_seconds)),
            false,
        ),
        diff(
            "health_check.timeout",
            Some(format!("{}s", hh.timeout_seconds)),
            Some(format!("{}s", wh.timeout_seconds)),
            false,
        ),
        diff(
            "health_check.healthy_threshold",
            Some(hh.healthy_threshold.to_string()),
            Some(wh.healthy_threshold.to_string()),
            false,
        ),
        diff(
            "health_check.unhealthy_threshold",
            Some(hh.unhealthy_threshold.to_string()),
            Some(wh.unhealthy_threshold.to_string()),
            false,
        ),
        diff(
            "health_check.matcher",
            hh.matcher.clone().filter(|_| wh.matcher.is_some()),
            wh.matcher.clone(),
            false,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The listener as AWS would hold it, with target group ARNs where they are known.
pub fn listener_spec(l: &Listener, observed: &Observed) -> ListenerSpec {
    ListenerSpec {
        port: l.port,
        protocol: l.protocol.clone(),
        certificate_arn: l.certificate_arn.clone(),
        forward: l
            .forward
            .iter()
            .map(|(address, weight)| Forward {
                target_group_arn: observed
                    .serving_target_group_arn(address)
                    .map(String::from)
                    .unwrap_or_else(|| format!("{address} {UNKNOWN_APPLY}")),
                weight: *weight,
            })
            .collect(),
    }
}

fn forward_text(spec: &ListenerSpec, observed: &Observed) -> String {
    let by_arn = observed.target_group_addresses();
    let parts: Vec<String> = spec
        .forward
        .iter()
        .map(|f| {
            let name = by_arn
                .get(f.target_group_arn.as_str())
                .copied()
                .unwrap_or(f.target_group_arn.split(' ').next().unwrap_or_default());
            if spec.forward.len() > 1 {
                format!("{name}={}", f.weight)
            } else {
                name.to_string()
            }
        })
        .collect();
    format!("{} {} → {}", spec.protocol, spec.port, parts.join(", "))
}

/// A load balancer and its listeners: created, updated in place, or refused where AWS would
/// need a new one.
pub(super) fn plan_load_balancer(
    _stack: &Stack,
    lb: &LoadBalancer,
    observed: &Observed,
) -> Result<Change, PlanError> {
    let Some(have) = observed.load_balancers.get(&lb.address) else {
        let listeners: Vec<String> = lb
            .listeners
            .iter()
            .map(|l| forward_text(&listener_spec(l, observed), observed))
            .collect();
        return Ok(Change {
            address: lb.address.clone(),
            kind: Kind::LoadBalancer,
            action: Action::Create,
            reason: format!(
                "{}{} with {}",
                if lb.internal { "internal " } else { "" },
                lb.kind,
                if listeners.is_empty() {
                    "no listeners".into()
                } else {
                    listeners.join("; ")
                }
            ),
            diffs: Vec::new(),
            rollout: None,
            fingerprint: None,
            launch: None,
        });
    };
    let h = &have.info.spec;
    for (name, before, after) in [
        ("type", h.kind.clone(), lb.kind.clone()),
        ("internal", h.internal.to_string(), lb.internal.to_string()),
    ] {
        if before != after {
            return Err(PlanError::Unsupported {
                address: lb.address.clone(),
                message: format!(
                    "`{name}` of an existing load balancer cannot change ({before} → {after}); \
                     declare a new load_balancer block and remove the old one"
                ),
            });
        }
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.join(", ")
    };
    let mut diffs: Vec<AttrDiff> = [
        diff(
            "subnets",
            Some(sorted(&h.subnet_ids)),
            Some(sorted(&lb.subnets)),
            false,
        ),
        diff(
            "security_groups",
            Some(sorted(&h.security_group_ids)),
            Some(sorted(&lb.security_groups)),
            false,
        )
        .filter(|_| lb.kind == "application"),
    ]
    .into_iter()
    .flatten()
    .collect();
    diffs.extend(listener_diffs(lb, have, observed));
    Ok(settings_change(&lb.address, Kind::LoadBalancer, diffs))
}

/// The listeners that differ, by port: added, removed, or forwarding elsewhere.
fn listener_diffs(
    lb: &LoadBalancer,
    have: &ObservedLoadBalancer,
    observed: &Observed,
) -> Vec<AttrDiff> {
    let mut diffs = Vec::new();
    let have_listeners: BTreeMap<u16, ListenerSpec> = have
        .listeners
        .iter()
        .map(|l| (l.spec.port, observed.canonical_listener(&l.spec)))
        .collect();
    let want_listeners: BTreeMap<u16, ListenerSpec> = lb
        .listeners
        .iter()
        .map(|l| (l.port, listener_spec(l, observed)))
        .collect();
    for port in have_listeners
        .keys()
        .chain(want_listeners.keys())
        .collect::<BTreeSet<_>>()
    {
        let before = have_listeners.get(port).map(|s| forward_text(s, observed));
        let after = want_listeners.get(port).map(|s| forward_text(s, observed));
        let same = match (have_listeners.get(port), want_listeners.get(port)) {
            (Some(a), Some(b)) => listener_equal(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            diffs.push(AttrDiff {
                name: format!("listener :{port}"),
                before,
                after,
                forces_replacement: false,
                before_image: None,
                after_image: None,
            });
        }
    }
    diffs
}

/// Listener equality that ignores weights of a single-target forward (AWS reports 1 or none).
pub fn listener_equal(a: &ListenerSpec, b: &ListenerSpec) -> bool {
    let norm = |s: &ListenerSpec| {
        let mut f: Vec<(String, u32)> = s
            .forward
            .iter()
            .map(|f| {
                (
                    f.target_group_arn.clone(),
                    if s.forward.len() == 1 { 1 } else { f.weight },
                )
            })
            .collect();
        f.sort();
        (s.port, s.protocol.clone(), s.certificate_arn.clone(), f)
    };
    norm(a) == norm(b)
}
