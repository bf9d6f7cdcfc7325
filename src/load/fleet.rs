//! The launch template and Auto Scaling blocks and attributes of a `server_group`, from
//! evaluated values to [`LaunchOptions`] and [`GroupSettings`], each wrong value a located
//! problem. Names follow Terraform's `aws_launch_template` and `aws_autoscaling_group` (and
//! `aws_autoscaling_policy`, `aws_autoscaling_schedule`, `initial_lifecycle_hook`), except
//! `metadata { http_tokens, hop_limit }`, which the stack language has always spelled so.

use std::collections::BTreeMap;
use std::time::Duration;

use hcl::Value;

use super::convert::{is_unknown_value, Conv, Evaluated, Fields};
use super::diag::{Loc, Problem};
use crate::cloud::launch::{BlockDevice, LaunchOptions, Metadata, NetworkInterface, Placement};
use crate::cloud::scaling::{
    GroupSettings, InstanceOverride, LifecycleHook, MixedInstances, PolicyKind, ScalingPolicy,
    ScheduledAction, StepAdjustment, Transition, DEFAULT_HEARTBEAT_SECONDS,
};
use crate::cloud::Tags;
use crate::stack::is_unknown;

/// Block kinds of a server group that configure its Auto Scaling group, for refusing them in
/// instance mode.
const GROUP_BLOCKS: &[&str] = &[
    "mixed_instances_policy",
    "scaling_policy",
    "scheduled_action",
    "lifecycle_hook",
];
const GROUP_ATTRS: &[&str] = &[
    "health_check_type",
    "health_check_grace_period",
    "default_instance_warmup",
    "termination_policies",
    "capacity_rebalance",
];

/// AWS's limit on instance type overrides in a mixed instances policy.
const MAX_OVERRIDES: usize = 40;

fn block_loc(e: &Evaluated) -> Loc {
    e.block.loc.clone()
}

fn attr_loc(e: &Evaluated, name: &str) -> Option<Loc> {
    e.attrs.get(name).map(|(_, a)| a.value_loc.clone())
}

/// A number with a fraction allowed (`62.5`), as written.
fn decimal(c: &mut Conv, v: &Value) -> Option<String> {
    match v {
        v if is_unknown_value(v) => Some("0".into()),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Some(n.to_string()),
        Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Some(s.trim().to_string())
        }
        _ => {
            c.wrong("a number", v);
            None
        }
    }
}

/// A whole number that may be negative (a scale-in step).
fn signed(c: &mut Conv, v: &Value) -> Option<i64> {
    match v {
        v if is_unknown_value(v) => Some(0),
        Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
        _ => {
            c.wrong("a whole number, such as 2 or -1", v);
            None
        }
    }
}

/// Seconds from a duration within `lo..=hi` seconds.
fn seconds(c: &mut Conv, v: &Value, lo: u64, hi: u64) -> Option<u32> {
    let d = c.duration(v)?;
    if is_unknown_value(v) {
        return Some(lo as u32);
    }
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || !(lo..=hi).contains(&s) {
        c.invalid(
            format!("`{}` is {}s, out of range", c.name(), d.as_secs_f64()),
            &format!(
                "expected whole seconds from {} to {}",
                humantime::format_duration(Duration::from_secs(lo)),
                humantime::format_duration(Duration::from_secs(hi))
            ),
        );
        return None;
    }
    Some(s as u32)
}

/// Nested blocks of one kind.
fn all<'e, 'b>(e: &'e Evaluated<'b>, ident: &'e str) -> impl Iterator<Item = &'e Evaluated<'b>> {
    e.blocks.iter().filter(move |b| b.block.ident == ident)
}

/// Refuses a second block of `ident` with the same key (a label, a device name, …).
fn unique(
    seen: &mut BTreeMap<String, Loc>,
    key: String,
    what: &str,
    at: Loc,
    problems: &mut Vec<Problem>,
) -> bool {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(e) => {
            problems.push(
                Problem::new(format!("duplicate {what} {:?}", e.key()))
                    .at(at)
                    .label("declared twice in this server group")
                    .help("each must be unique within its server group; rename or merge them"),
            );
            false
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(at);
            true
        }
    }
}

/// The launch template settings of a server group. `group_tags` are the group's `tags`,
/// which extra tag specifications may not repeat.
pub fn launch_options(
    e: &Evaluated,
    group_tags: &Tags,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> LaunchOptions {
    let mut o = LaunchOptions::default();
    let mut f = Fields::new(e, problems);
    o.ebs_optimized = f.get("ebs_optimized", |c, v| c.boolean(v));
    *ok &= f.ok;

    if let Some(m) = e.nested("metadata") {
        let mut f = Fields::new(m, problems);
        let d = Metadata::default();
        o.metadata = Metadata {
            http_tokens: f
                .get("http_tokens", |c, v| c.one_of(v, &["required", "optional"]))
                .unwrap_or(d.http_tokens),
            hop_limit: f
                .get("hop_limit", |c, v| c.number(v, 1, 64))
                .map_or(d.hop_limit, |n| n as u32),
        };
        *ok &= f.ok;
    }

    let mut devices = BTreeMap::new();
    for b in all(e, "block_device_mappings") {
        let mut f = Fields::new(b, problems);
        let device_name = f.req("device_name", |c, v| {
            let s = c.string(v)?;
            if !(is_unknown(&s) || s.starts_with("/dev/") || s.starts_with("xvd")) {
                c.invalid(
                    format!("device name {s:?} is not a device"),
                    "expected a device name such as \"/dev/xvda\" or \"xvdf\"",
                );
                return None;
            }
            Some(s)
        });
        let mut dev = BlockDevice {
            device_name: device_name.clone().unwrap_or_default(),
            ..BlockDevice::default()
        };
        let mut dok = f.ok;
        if let Some(ebs) = b.nested("ebs") {
            let mut f = Fields::new(ebs, problems);
            dev.volume_size = f
                .get("volume_size", |c, v| c.number(v, 1, 65_536))
                .map(|n| n as u32);
            dev.volume_type = f.get("volume_type", |c, v| {
                c.one_of(v, &["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"])
            });
            dev.iops = f
                .get("iops", |c, v| c.number(v, 100, 256_000))
                .map(|n| n as u32);
            dev.throughput = f
                .get("throughput", |c, v| c.number(v, 125, 2_000))
                .map(|n| n as u32);
            dev.encrypted = f.get("encrypted", |c, v| c.boolean(v));
            dev.kms_key_id = f.get("kms_key_id", |c, v| c.string(v));
            let ty = dev.volume_type.as_deref().unwrap_or("gp3");
            let mut refuse = |name: &str, message: String, label: &str, help: &str| {
                if let Some(at) = attr_loc(ebs, name) {
                    f.problems
                        .push(Problem::new(message).at(at).label(label).help(help));
                    f.ok = false;
                }
            };
            if dev.iops.is_some() && !matches!(ty, "gp3" | "io1" | "io2") {
                refuse(
                    "iops",
                    format!("`iops` cannot be set on a {ty} volume"),
                    "only gp3, io1 and io2 volumes take iops",
                    "set volume_type = \"gp3\", or remove `iops`",
                );
            }
            if dev.throughput.is_some() && ty != "gp3" {
                refuse(
                    "throughput",
                    format!("`throughput` cannot be set on a {ty} volume"),
                    "only gp3 volumes take a throughput",
                    "set volume_type = \"gp3\", or remove `throughput`",
                );
            }
            if dev.kms_key_id.is_some() && dev.encrypted != Some(true) {
                refuse(
                    "kms_key_id",
                    "`kms_key_id` needs `encrypted = true`".into(),
                    "a key encrypts only an encrypted volume",
                    "add encrypted = true to this ebs block",
                );
            }
            dok &= f.ok;
        }
        if let Some(name) = device_name {
            dok &= unique(&mut devices, name, "block device", block_loc(b), problems);
        }
        *ok &= dok;
        o.block_devices.push(dev);
    }

    if let Some(m) = e.nested("monitoring") {
        let mut f = Fields::new(m, problems);
        o.monitoring = f.get("enabled", |c, v| c.boolean(v)).unwrap_or(false);
        *ok &= f.ok;
    }

    let mut indexes = BTreeMap::new();
    for n in all(e, "network_interfaces") {
        let mut f = Fields::new(n, problems);
        let ni = NetworkInterface {
            device_index: f
                .get("device_index", |c, v| c.number(v, 0, 31))
                .unwrap_or(0) as u32,
            associate_public_ip_address: f.get("associate_public_ip_address", |c, v| c.boolean(v)),
            delete_on_termination: f.get("delete_on_termination", |c, v| c.boolean(v)),
            security_groups: f
                .get("security_groups", |c, v| c.string_list(v))
                .unwrap_or_default(),
            description: f.get("description", |c, v| c.string(v)),
        };
        let mut nok = f.ok;
        nok &= unique(
            &mut indexes,
            ni.device_index.to_string(),
            "network interface device_index",
            block_loc(n),
            problems,
        );
        if ni.associate_public_ip_address.is_some() && ni.device_index != 0 {
            if let Some(at) = attr_loc(n, "associate_public_ip_address") {
                problems.push(
                    Problem::new("a public IP address is given on device_index 0 only")
                        .at(at)
                        .label("EC2 associates a public address with the primary interface")
                        .help("move associate_public_ip_address to the interface with device_index = 0"),
                );
                nok = false;
            }
        }
        *ok &= nok;
        o.network_interfaces.push(ni);
    }

    if let Some(p) = e.nested("placement") {
        let mut f = Fields::new(p, problems);
        o.placement = Placement {
            group_name: f.get("group_name", |c, v| c.string(v)),
            tenancy: f.get("tenancy", |c, v| {
                c.one_of(v, &["default", "dedicated", "host"])
            }),
            partition_number: f
                .get("partition_number", |c, v| c.number(v, 1, 7))
                .map(|n| n as u32),
        };
        if o.placement.partition_number.is_some() && o.placement.group_name.is_none() {
            if let Some(at) = attr_loc(p, "partition_number") {
                f.problems.push(
                    Problem::new("`partition_number` needs a `group_name`")
                        .at(at)
                        .label("a partition belongs to a partition placement group")
                        .help("add group_name = \"…\" naming the placement group"),
                );
                f.ok = false;
            }
        }
        *ok &= f.ok;
    }

    if let Some(c) = e.nested("credit_specification") {
        let mut f = Fields::new(c, problems);
        o.cpu_credits = f.req("cpu_credits", |c, v| {
            c.one_of(v, &["standard", "unlimited"])
        });
        *ok &= f.ok;
    }

    let mut kinds = BTreeMap::new();
    for t in all(e, "tag_specifications") {
        let mut f = Fields::new(t, problems);
        let kind = f.req("resource_type", |c, v| c.one_of(v, &["instance", "volume"]));
        let tags = f.req("tags", |c, v| {
            let tags = c.string_map(v)?;
            for k in tags.keys() {
                if k.starts_with("reroll:") || k == "Name" {
                    c.invalid(
                        format!("tag `{k}` is reroll's own"),
                        "reroll sets Name and reroll:* on everything it launches",
                    );
                    return None;
                }
                if group_tags.contains_key(k) {
                    c.invalid(
                        format!("tag `{k}` is in the server group's `tags` already"),
                        "the group's tags go on instances and volumes alike",
                    );
                    return None;
                }
            }
            Some(tags)
        });
        let mut tok = f.ok;
        if let (Some(kind), Some(tags)) = (kind, tags) {
            tok &= unique(
                &mut kinds,
                kind.clone(),
                "tag_specifications for",
                block_loc(t),
                problems,
            );
            if kind == "instance" {
                o.instance_tags = tags;
            } else {
                o.volume_tags = tags;
            }
        }
        *ok &= tok;
    }
    if let Some((k, _)) = o
        .instance_tags
        .iter()
        .find(|(k, v)| o.volume_tags.get(*k) == Some(*v))
    {
        let at = all(e, "tag_specifications").last().map(block_loc);
        problems.push(
            Problem::new(format!(
                "tag `{k}` is given to instances and to volumes with the same value"
            ))
            .at_opt(at)
            .label("tags for both belong in the server group's `tags`")
            .help(format!("move `{k}` to the server group's `tags`")),
        );
        *ok = false;
    }
    o
}

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
    let tracking = p.nested("target_tracking_configuration");
    let steps: Vec<&Evaluated> = all(p, "step_adjustment").collect();
    let misplaced = |what: &str, at: Option<Loc>, wants: &str, problems: &mut Vec<Problem>| {
        let Some(at) = at else { return true };
        problems.push(
            Problem::new(format!("`{what}` belongs to policy_type = \"{wants}\""))
                .at(at)
                .label(format!("only for {wants}"))
                .help(format!("set policy_type = \"{wants}\", or remove `{what}`")),
        );
        false
    };
    let kind = match policy_type.as_deref() {
        Some("TargetTrackingScaling") => {
            pok &= misplaced(
                "adjustment_type",
                p.attrs.get("adjustment_type").map(|(_, a)| a.loc.clone()),
                "StepScaling",
                problems,
            );
            pok &= misplaced(
                "metric_aggregation_type",
                p.attrs
                    .get("metric_aggregation_type")
                    .map(|(_, a)| a.loc.clone()),
                "StepScaling",
                problems,
            );
            pok &= misplaced(
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
                    pok = false;
                    None
                }
                Some(t) => target_tracking(t, problems, &mut pok),
            }
        }
        Some("StepScaling") => {
            pok &= misplaced(
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
                pok &= f.ok;
                if lower.is_none() && upper.is_none() && f.ok {
                    problems.push(
                        Problem::new("a step adjustment with neither bound")
                            .at(block_loc(s))
                            .label("a step covers an interval of the alarm's breach")
                            .help("set metric_interval_lower_bound, metric_interval_upper_bound, or both"),
                    );
                    pok = false;
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
                pok = false;
            }
            adjustment_type
                .clone()
                .map(|adjustment_type| PolicyKind::Step {
                    adjustment_type,
                    metric_aggregation_type: aggregation,
                    steps: out,
                })
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
