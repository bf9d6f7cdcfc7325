//! The Auto Scaling blocks and attributes of a `server_group` (`mixed_instances_policy`,
//! `scaling_policy`, `scheduled_action`, `lifecycle_hook`, health checks, warm-up,
//! termination policies) into [`GroupSettings`], refused in instance mode.

use std::collections::BTreeMap;

use hcl::Value;

use crate::cloud::scaling::{
    GroupSettings, InstanceOverride, LifecycleHook, MixedInstances, PolicyKind, ScalingPolicy,
    ScheduledAction, StepAdjustment, Transition, DEFAULT_HEARTBEAT_SECONDS,
};
use crate::load::convert::conv::{Conv, Evaluated, Fields};
use crate::load::diag::{Loc, Problem};
use crate::stack::is_unknown;

use super::common::*;

/// The Auto Scaling settings of a server group. In instance mode there is no Auto Scaling
/// group, and any of them is refused.
pub fn group_settings(
    e: &Evaluated,
    instances_mode: bool,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> GroupSettings {
    let mut s = GroupSettings::default();
    if instances_mode {
        let at = GROUP_ATTRS
            .iter()
            .filter_map(|a| e.attrs.get(*a).map(|(_, r)| (*a, r.loc.clone())))
            .chain(
                e.blocks
                    .iter()
                    .filter(|b| GROUP_BLOCKS.contains(&b.block.ident.as_str()))
                    .map(|b| (b.block.ident.as_str(), b.block.loc.clone())),
            );
        for (name, loc) in at {
            problems.push(
                Problem::new(format!(
                    "`{name}` configures an Auto Scaling group, but mode = \"instances\" has none"
                ))
                .at(loc)
                .label("only for mode = \"asg\"")
                .help(format!("remove `{name}`, or remove mode = \"instances\"")),
            );
            *ok = false;
        }
        return s;
    }
    let mut f = Fields::new(e, problems);
    s.health_check_type = f.get("health_check_type", |c, v| c.one_of(v, &["EC2", "ELB"]));
    s.health_check_grace_period =
        f.get("health_check_grace_period", |c, v| seconds(c, v, 0, 86_400));
    s.default_instance_warmup = f.get("default_instance_warmup", |c, v| seconds(c, v, 0, 36_000));
    s.termination_policies = f
        .get("termination_policies", |c, v| {
            let list = c.string_list(v)?;
            const KNOWN: &[&str] = &[
                "Default",
                "AllocationStrategy",
                "OldestLaunchTemplate",
                "OldestLaunchConfiguration",
                "ClosestToNextInstanceHour",
                "NewestInstance",
                "OldestInstance",
            ];
            if let Some(bad) = list
                .iter()
                .find(|p| !is_unknown(p) && !KNOWN.contains(&p.as_str()) && !p.starts_with("arn:"))
            {
                c.invalid(
                    format!("there is no termination policy {bad:?}"),
                    &format!("expected {} or a Lambda function ARN", KNOWN.join(", ")),
                );
                return None;
            }
            Some(list)
        })
        .unwrap_or_default();
    s.capacity_rebalance = f
        .get("capacity_rebalance", |c, v| c.boolean(v))
        .unwrap_or(false);
    *ok &= f.ok;

    if let Some(m) = e.nested("mixed_instances_policy") {
        s.mixed_instances = mixed_instances(m, problems, ok);
    }
    let mut names = BTreeMap::new();
    for p in all(e, "scaling_policy") {
        let name = p.block.label().to_string();
        *ok &= unique(&mut names, name, "scaling_policy", block_loc(p), problems);
        if let Some(policy) = scaling_policy(p, problems, ok) {
            s.scaling_policies.push(policy);
        }
    }
    let mut names = BTreeMap::new();
    for a in all(e, "scheduled_action") {
        let name = a.block.label().to_string();
        *ok &= unique(&mut names, name, "scheduled_action", block_loc(a), problems);
        if let Some(action) = scheduled_action(a, problems, ok) {
            s.scheduled_actions.push(action);
        }
    }
    let mut names = BTreeMap::new();
    for h in all(e, "lifecycle_hook") {
        let name = h.block.label().to_string();
        *ok &= unique(&mut names, name, "lifecycle_hook", block_loc(h), problems);
        if let Some(hook) = lifecycle_hook(h, problems, ok) {
            s.lifecycle_hooks.push(hook);
        }
    }
    s
}

fn mixed_instances(
    m: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Option<MixedInstances> {
    let mut out = MixedInstances::default();
    if let Some(d) = m.nested("instances_distribution") {
        let mut f = Fields::new(d, problems);
        out.on_demand_base_capacity = f
            .get("on_demand_base_capacity", |c, v| c.number(v, 0, 10_000))
            .map(|n| n as u32);
        out.on_demand_percentage_above_base_capacity = f
            .get("on_demand_percentage_above_base_capacity", |c, v| {
                c.number(v, 0, 100)
            })
            .map(|n| n as u32);
        out.spot_allocation_strategy = f.get("spot_allocation_strategy", |c, v| {
            c.one_of(
                v,
                &[
                    "price-capacity-optimized",
                    "capacity-optimized",
                    "capacity-optimized-prioritized",
                    "lowest-price",
                ],
            )
        });
        *ok &= f.ok;
    }
    let mut types = BTreeMap::new();
    for o in all(m, "override") {
        let mut f = Fields::new(o, problems);
        let instance_type = f.req("instance_type", |c, v| c.string(v));
        let weighted_capacity = f
            .get("weighted_capacity", |c, v| c.number(v, 1, 999))
            .map(|n| n as u32);
        let mut ook = f.ok;
        if let Some(t) = &instance_type {
            ook &= unique(
                &mut types,
                t.clone(),
                "instance type override",
                block_loc(o),
                problems,
            );
        }
        *ok &= ook;
        out.overrides.push(InstanceOverride {
            instance_type: instance_type.unwrap_or_default(),
            weighted_capacity,
        });
    }
    if out.overrides.is_empty() || out.overrides.len() > MAX_OVERRIDES {
        problems.push(
            Problem::new(format!(
                "a mixed instances policy with {} instance type overrides",
                out.overrides.len()
            ))
            .at(block_loc(m))
            .label(format!("expected 1 to {MAX_OVERRIDES} `override` blocks"))
            .help("add override { instance_type = \"…\" } for each type Auto Scaling may launch"),
        );
        *ok = false;
        return None;
    }
    let weighted = out
        .overrides
        .iter()
        .filter(|o| o.weighted_capacity.is_some())
        .count();
    if weighted != 0 && weighted != out.overrides.len() {
        problems.push(
            Problem::new("some overrides have a `weighted_capacity` and some do not")
                .at(block_loc(m))
                .label("AWS takes weights on every override or on none")
                .help("give every override a weighted_capacity, or remove them all"),
        );
        *ok = false;
    }
    Some(out)
}

fn scaling_policy(
    p: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Option<ScalingPolicy> {
    let name = p.block.label().to_string();
    let mut f = Fields::new(p, problems);
    let policy_type = f.req("policy_type", |c, v| {
        c.one_of(v, &["TargetTrackingScaling", "StepScaling"])
    });
    let warmup = f.get("estimated_instance_warmup", |c, v| seconds(c, v, 0, 36_000));
    let adjustment_type = f.get("adjustment_type", |c, v| {
        c.one_of(
            v,
            &[
                "ChangeInCapacity",
                "ExactCapacity",
                "PercentChangeInCapacity",
            ],
        )
    });
    let aggregation = f.get("metric_aggregation_type", |c, v| {
        c.one_of(v, &["Average", "Minimum", "Maximum"])
    });
    let mut pok = f.ok;
    let kind = match policy_type.as_deref() {
        Some("TargetTrackingScaling") => tracking_policy(p, &name, problems, &mut pok),
        Some("StepScaling") => {
            step_policy(p, &name, adjustment_type, aggregation, problems, &mut pok)
        }
        _ => None,
    };
    *ok &= pok;
    Some(ScalingPolicy {
        name,
        kind: kind?,
        estimated_instance_warmup: warmup,
    })
}

/// A setting given to a policy type it does not belong to, refused where it is written.
/// Whether there was none.
fn misplaced(what: &str, at: Option<Loc>, wants: &str, problems: &mut Vec<Problem>) -> bool {
    let Some(at) = at else { return true };
    problems.push(
        Problem::new(format!("`{what}` belongs to policy_type = \"{wants}\""))
            .at(at)
            .label(format!("only for {wants}"))
            .help(format!("set policy_type = \"{wants}\", or remove `{what}`")),
    );
    false
}

/// A `TargetTrackingScaling` policy: its `target_tracking_configuration`, and none of step
/// scaling's settings.
fn tracking_policy(
    p: &Evaluated,
    name: &str,
    problems: &mut Vec<Problem>,
    pok: &mut bool,
) -> Option<PolicyKind> {
    let tracking = p.nested("target_tracking_configuration");
    let steps: Vec<&Evaluated> = all(p, "step_adjustment").collect();
    *pok &= misplaced(
        "adjustment_type",
        p.attrs.get("adjustment_type").map(|(_, a)| a.loc.clone()),
        "StepScaling",
        problems,
    );
    *pok &= misplaced(
        "metric_aggregation_type",
        p.attrs
            .get("metric_aggregation_type")
            .map(|(_, a)| a.loc.clone()),
        "StepScaling",
        problems,
    );
    *pok &= misplaced(
        "step_adjustment",
        steps.first().map(|s| block_loc(s)),
        "StepScaling",
        problems,
    );
    match tracking {
        None => {
            problems.push(
                Problem::new(format!(
                    "target tracking policy {name:?} has no target_tracking_configuration"
                ))
                .at(block_loc(p))
                .label("what metric to track, at what value")
                .help("add target_tracking_configuration { predefined_metric_specification { predefined_metric_type = \"ASGAverageCPUUtilization\" } target_value = 50 }"),
            );
            *pok = false;
            None
        }
        Some(t) => target_tracking(t, problems, pok),
    }
}

/// A `StepScaling` policy: its adjustment type and steps, and no tracking configuration.
fn step_policy(
    p: &Evaluated,
    name: &str,
    adjustment_type: Option<String>,
    aggregation: Option<String>,
    problems: &mut Vec<Problem>,
    pok: &mut bool,
) -> Option<PolicyKind> {
    let tracking = p.nested("target_tracking_configuration");
    let steps: Vec<&Evaluated> = all(p, "step_adjustment").collect();
    *pok &= misplaced(
        "target_tracking_configuration",
        tracking.map(block_loc),
        "TargetTrackingScaling",
        problems,
    );
    let mut out = Vec::new();
    for s in &steps {
        let mut f = Fields::new(s, problems);
        let adj = f.req("scaling_adjustment", signed);
        let lower = f.get("metric_interval_lower_bound", decimal);
        let upper = f.get("metric_interval_upper_bound", decimal);
        *pok &= f.ok;
        if lower.is_none() && upper.is_none() && f.ok {
            problems.push(
                Problem::new("a step adjustment with neither bound")
                    .at(block_loc(s))
                    .label("a step covers an interval of the alarm's breach")
                    .help("set metric_interval_lower_bound, metric_interval_upper_bound, or both"),
            );
            *pok = false;
        }
        if let Some(adj) = adj {
            out.push(StepAdjustment {
                scaling_adjustment: adj,
                lower_bound: lower,
                upper_bound: upper,
            });
        }
    }
    // A wrong adjustment_type was reported where it is written.
    let no_type = adjustment_type.is_none() && !p.attrs.contains_key("adjustment_type");
    if steps.is_empty() || no_type {
        let what = match (no_type, steps.is_empty()) {
            (true, true) => "`adjustment_type` and at least one step_adjustment",
            (true, false) => "`adjustment_type`",
            _ => "at least one step_adjustment",
        };
        problems.push(
            Problem::new(format!("step scaling policy {name:?} needs {what}"))
                .at(block_loc(p))
                .label("how much to scale, for which alarm breach")
                .help("add adjustment_type = \"ChangeInCapacity\" and step_adjustment { scaling_adjustment = 1, metric_interval_lower_bound = 0 }"),
        );
        *pok = false;
    }
    adjustment_type.map(|adjustment_type| PolicyKind::Step {
        adjustment_type,
        metric_aggregation_type: aggregation,
        steps: out,
    })
}

fn target_tracking(
    t: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Option<PolicyKind> {
    let mut f = Fields::new(t, problems);
    let target_value = f.req("target_value", |c, v| {
        let d = decimal(c, v)?;
        if d.parse::<f64>().is_ok_and(|x| x <= 0.0) {
            c.invalid(
                format!("`target_value` is {d}"),
                "expected a number above 0, such as 50",
            );
            return None;
        }
        Some(d)
    });
    let disable_scale_in = f
        .get("disable_scale_in", |c, v| c.boolean(v))
        .unwrap_or(false);
    *ok &= f.ok;
    let Some(m) = t.nested("predefined_metric_specification") else {
        problems.push(
            Problem::new("target tracking needs a predefined_metric_specification")
                .at(block_loc(t))
                .label("which metric to hold at target_value")
                .help("add predefined_metric_specification { predefined_metric_type = \"ASGAverageCPUUtilization\" }"),
        );
        *ok = false;
        return None;
    };
    let mut f = Fields::new(m, problems);
    let metric = f.req("predefined_metric_type", |c, v| {
        c.one_of(
            v,
            &[
                "ASGAverageCPUUtilization",
                "ASGAverageNetworkIn",
                "ASGAverageNetworkOut",
                "ALBRequestCountPerTarget",
            ],
        )
    });
    let label = f.get("resource_label", |c, v| c.string(v));
    if metric.as_deref() == Some("ALBRequestCountPerTarget") && label.is_none() {
        f.problems.push(
            Problem::new("ALBRequestCountPerTarget needs a `resource_label`")
                .at(block_loc(m))
                .label("the load balancer and target group whose requests are counted")
                .help(
                    "add resource_label = \"app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>\"",
                ),
        );
        f.ok = false;
    }
    *ok &= f.ok;
    Some(PolicyKind::TargetTracking {
        predefined_metric_type: metric?,
        resource_label: label,
        target_value: target_value?,
        disable_scale_in,
    })
}

fn scheduled_action(
    a: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Option<ScheduledAction> {
    let mut f = Fields::new(a, problems);
    let time = |c: &mut Conv, v: &Value| {
        let s = c.string(v)?;
        if !is_unknown(&s) && humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).is_err() {
            c.invalid(
                format!("{s:?} is not a time"),
                "expected a UTC time such as \"2026-12-24T18:00:00Z\"",
            );
            return None;
        }
        Some(s)
    };
    let size = |c: &mut Conv, v: &Value| c.number(v, 0, 10_000).map(|n| n as u32);
    let action = ScheduledAction {
        name: a.block.label().to_string(),
        recurrence: f.get("recurrence", |c, v| {
            let s = c.string(v)?;
            if !is_unknown(&s) && s.split_whitespace().count() != 5 {
                c.invalid(
                    format!("{s:?} is not a cron expression"),
                    "expected five fields: minute hour day-of-month month day-of-week, such as \"0 18 * * 1-5\"",
                );
                return None;
            }
            Some(s)
        }),
        start_time: f.get("start_time", time),
        end_time: f.get("end_time", time),
        time_zone: f.get("time_zone", |c, v| c.string(v)),
        min_size: f.get("min_size", size),
        max_size: f.get("max_size", size),
        desired_capacity: f.get("desired_capacity", size),
    };
    let mut aok = f.ok;
    if aok && action.recurrence.is_none() && action.start_time.is_none() {
        problems.push(
            Problem::new(format!("scheduled action {:?} never runs", action.name))
                .at(block_loc(a))
                .label("it has neither `recurrence` nor `start_time`")
                .help("add recurrence = \"0 18 * * 1-5\" (cron), or start_time for once"),
        );
        aok = false;
    }
    if aok
        && action.min_size.is_none()
        && action.max_size.is_none()
        && action.desired_capacity.is_none()
    {
        problems.push(
            Problem::new(format!(
                "scheduled action {:?} changes nothing",
                action.name
            ))
            .at(block_loc(a))
            .label("it sets none of min_size, max_size, desired_capacity")
            .help("set the sizes the group should have from then on"),
        );
        aok = false;
    }
    *ok &= aok;
    aok.then_some(action)
}

fn lifecycle_hook(
    h: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Option<LifecycleHook> {
    let mut f = Fields::new(h, problems);
    let transition = f.req("lifecycle_transition", |c, v| {
        let s = c.one_of(
            v,
            &[
                "autoscaling:EC2_INSTANCE_LAUNCHING",
                "autoscaling:EC2_INSTANCE_TERMINATING",
            ],
        )?;
        Transition::from_aws(&s)
    });
    let hook = LifecycleHook {
        name: h.block.label().to_string(),
        transition: transition.unwrap_or(Transition::Launching),
        heartbeat_timeout: f
            .get("heartbeat_timeout", |c, v| seconds(c, v, 30, 7_200))
            .unwrap_or(DEFAULT_HEARTBEAT_SECONDS),
        default_result: f
            .get("default_result", |c, v| {
                c.one_of(v, &["ABANDON", "CONTINUE"])
            })
            .unwrap_or_else(|| "ABANDON".into()),
        notification_target_arn: f.get("notification_target_arn", |c, v| c.string(v)),
        role_arn: f.get("role_arn", |c, v| c.string(v)),
        notification_metadata: f.get("notification_metadata", |c, v| c.string(v)),
    };
    let mut hok = f.ok;
    if hook.notification_target_arn.is_some() != hook.role_arn.is_some() {
        let (has, lacks) = if hook.role_arn.is_some() {
            ("role_arn", "notification_target_arn")
        } else {
            ("notification_target_arn", "role_arn")
        };
        problems.push(
            Problem::new(format!("`{has}` without `{lacks}`"))
                .at_opt(attr_loc(h, has))
                .label("Auto Scaling notifies a target through a role")
                .help(format!("add `{lacks}`, or remove `{has}`")),
        );
        hok = false;
    }
    *ok &= hok;
    transition?;
    hok.then_some(hook)
}
