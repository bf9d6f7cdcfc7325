//! Server groups: image, capacity, rollout and strategy, hooks, and the launch template and
//! Auto Scaling settings (`load/fleet.rs`).

use std::path::Path;
use std::time::Duration;

use hcl::Value;

use crate::load::diag::Problem;
use crate::stack::{
    is_unknown, Canary, Capacity, GroupMode, HealthGate, Hook, HookEvent, ImageLabel, OnFailure,
    Origin, Quantity, Rollout, ServerGroup, Strategy,
};

use super::conv::{is_unknown_value, Conv, Evaluated, Fields};

pub fn server_group(
    e: &Evaluated,
    key: &str,
    address: String,
    origin: Origin,
    dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<ServerGroup> {
    let mut f = Fields::new(e, problems);
    let image = f.req("image", image);
    let instance_type = f.req("instance_type", |c, v| c.string(v));
    let capacity = f.req("capacity", capacity);
    let subnets = f.req("subnets", |c, v| c.string_list(v));
    let security_groups = f
        .get("security_groups", |c, v| c.string_list(v))
        .unwrap_or_default();
    let user_data = f.get("user_data", |c, v| c.string(v));
    let instance_profile = f.get("instance_profile", |c, v| c.string(v));
    let key_name = f.get("key_name", |c, v| c.string(v));
    let target_groups = f
        .get("target_groups", |c, v| c.references(v, "target_group"))
        .unwrap_or_default();
    let depends_on = f
        .get("depends_on", |c, v| c.group_references(v))
        .unwrap_or_default();
    let mode = match f
        .get("mode", |c, v| c.one_of(v, &["asg", "instances"]))
        .as_deref()
    {
        Some("instances") => GroupMode::Instances,
        _ => GroupMode::Asg,
    };
    let tags = f.get("tags", |c, v| c.string_map(v)).unwrap_or_default();
    let rollout_block = e.nested("rollout");
    let mut ok = f.ok;
    let launch = crate::load::fleet::launch_options(e, &tags, problems, &mut ok);
    let scaling =
        crate::load::fleet::group_settings(e, mode == GroupMode::Instances, problems, &mut ok);
    let rollout = rollout(rollout_block, dir, problems, &mut ok);
    if let Some(r) = rollout_block {
        ok &= check_strategy(
            r,
            &rollout,
            mode,
            e.attrs
                .contains_key("target_groups")
                .then_some(&target_groups),
            problems,
        );
    }
    if let (Some(s), Some(empty)) = (&subnets, e.attrs.get("subnets")) {
        if s.is_empty() {
            problems.push(
                Problem::new("`subnets` is empty")
                    .at(empty.1.value_loc.clone())
                    .label("a server group needs at least one subnet"),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let (image_address, image_id, image) = image?;
    Some(ServerGroup {
        address,
        key: key.to_string(),
        image_address,
        image_id,
        image,
        instance_type: instance_type?,
        capacity: capacity?,
        subnets: subnets?,
        security_groups,
        user_data,
        instance_profile,
        key_name,
        target_groups,
        depends_on,
        mode,
        tags,
        launch,
        scaling,
        rollout,
        origin,
    })
}

/// What `image = …` names: the lookup's address, the AMI id, and the image's name and
/// creation date when a lookup found them.
type ImageRef = (Option<String>, String, Option<ImageLabel>);

/// `image = image.app` or `image = "ami-0123…"`.
fn image(c: &mut Conv, v: &Value) -> Option<ImageRef> {
    match v {
        Value::String(s) => Some((None, s.clone(), None)),
        Value::Object(o) if o.get("kind") == Some(&Value::from("image")) => {
            let address = o.get("address").and_then(Value::as_str).map(String::from);
            let id = o.get("id").and_then(Value::as_str)?.to_string();
            let text = |k: &str| o.get(k).and_then(Value::as_str);
            // Before the lookup ran, `name` is its pattern, not an image's name.
            let found = text("creation_date").is_some_and(|d| !is_unknown(d));
            let label = text("name")
                .filter(|n| found && !n.is_empty() && !is_unknown(n))
                .map(|name| ImageLabel {
                    name: name.to_string(),
                    created: text("creation_date").unwrap_or_default().to_string(),
                    source: text("source").map(String::from),
                });
            Some((address, id, label))
        }
        _ => {
            c.wrong("an image reference (image.app) or an AMI id", v);
            None
        }
    }
}

/// `capacity = { min = 2, desired = 4, max = 8 }`, or a number for all three.
fn capacity(c: &mut Conv, v: &Value) -> Option<Capacity> {
    if is_unknown_value(v) {
        // A variable not given to `validate`: checked once it is known.
        return Some(Capacity {
            min: 0,
            desired: 0,
            max: 0,
        });
    }
    let cap = match v {
        Value::Number(_) => {
            let n = c.number(v, 0, 10_000)? as u32;
            Capacity {
                min: n,
                desired: n,
                max: n,
            }
        }
        Value::Object(o) => {
            for k in o.keys() {
                if !["min", "desired", "max"].contains(&k.as_str()) {
                    c.invalid(
                        format!("`capacity` has an unknown key `{k}`"),
                        "expected min, desired and max",
                    );
                    return None;
                }
            }
            let get = |c: &mut Conv, k: &str| -> Option<u32> {
                o.get(k)
                    .map(|x| c.number(x, 0, 10_000).map(|n| n as u32))
                    .unwrap_or(None)
            };
            let desired = get(c, "desired");
            let Some(desired) = desired else {
                if !o.contains_key("desired") {
                    c.invalid(
                        "`capacity` needs `desired`".into(),
                        "expected { min, desired, max }",
                    );
                }
                return None;
            };
            let min = if o.contains_key("min") {
                get(c, "min")?
            } else {
                desired
            };
            let max = if o.contains_key("max") {
                get(c, "max")?
            } else {
                desired
            };
            Capacity { min, desired, max }
        }
        _ => {
            c.wrong("{ min = …, desired = …, max = … }", v);
            return None;
        }
    };
    let unknown = matches!(v, Value::Object(o) if o.values().any(is_unknown_value));
    if !unknown && (cap.min > cap.desired || cap.desired > cap.max) {
        c.invalid(
            format!(
                "`capacity` must satisfy min ≤ desired ≤ max, got min {} desired {} max {}",
                cap.min, cap.desired, cap.max
            ),
            "min ≤ desired ≤ max",
        );
        return None;
    }
    Some(cap)
}

fn rollout(
    e: Option<&Evaluated>,
    dir: &Path,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Rollout {
    let mut r = Rollout::default();
    let Some(e) = e else { return r };
    let mut f = Fields::new(e, problems);
    if let Some(s) = f.get("strategy", |c, v| {
        c.one_of(v, &["rolling", "canary", "blue_green"])
    }) {
        r.strategy = match s.as_str() {
            "canary" => Strategy::Canary,
            "blue_green" => Strategy::BlueGreen,
            _ => Strategy::Rolling,
        };
    }
    if let Some(q) = f.get("max_surge", |c, v| c.quantity(v)) {
        r.max_surge = q;
    }
    if let Some(q) = f.get("max_unavailable", |c, v| c.quantity(v)) {
        r.max_unavailable = q;
    }
    if let Some(s) = f.get("on_failure", |c, v| c.one_of(v, &["rollback", "pause"])) {
        r.on_failure = if s == "pause" {
            OnFailure::Pause
        } else {
            OnFailure::Rollback
        };
    }
    if let Some(n) = f.get("keep_previous", |c, v| c.number(v, 0, 20)) {
        r.keep_previous = n as u32;
    }
    let zero = |q: Quantity| matches!(q, Quantity::Count(0) | Quantity::Percent(0));
    if zero(r.max_surge) && zero(r.max_unavailable) {
        let at = e
            .attrs
            .get("max_surge")
            .or_else(|| e.attrs.get("max_unavailable"))
            .map(|(_, a)| a.loc.clone())
            .unwrap_or_else(|| e.block.loc.clone());
        f.problems.push(
            Problem::new("rollout can never make progress: max_surge and max_unavailable are both 0")
                .at(at)
                .label("at least one must be above zero")
                .help("max_surge = \"25%\" launches extra instances first; max_unavailable = 1 replaces in place"),
        );
        f.ok = false;
    }
    if let Some(h) = f.nested("health") {
        let mut hf = Fields::new(h, f.problems);
        let mut gate = HealthGate { ..r.health.clone() };
        if let Some(d) = hf.get("grace", |c, v| c.duration(v)) {
            gate.grace = d;
        }
        if let Some(d) = hf.get("timeout", |c, v| c.duration(v)) {
            gate.timeout = d;
        }
        if let Some(a) = hf.get("alarms", |c, v| c.string_list(v)) {
            gate.alarms = a;
        }
        f.ok &= hf.ok;
        r.health = gate;
    }
    if let Some(steps) = f.get("traffic_steps", traffic_steps) {
        r.traffic_steps = steps;
    }
    if let Some(d) = f.get("step_bake", |c, v| c.duration(v)) {
        r.step_bake = d;
    }
    if let Some(d) = f.get("keep_blue", |c, v| c.duration(v)) {
        r.keep_blue = d;
    }
    if let Some(c) = f.nested("canary") {
        let mut cf = Fields::new(c, f.problems);
        let mut canary = Canary::default();
        if let Some(q) = cf.get("instances", |c, v| {
            let q = c.quantity(v)?;
            if matches!(q, Quantity::Count(0) | Quantity::Percent(0)) {
                c.invalid(
                    "a canary of no instances tests nothing".into(),
                    "expected at least 1 instance or 1%",
                );
                return None;
            }
            Some(q)
        }) {
            canary.instances = q;
        }
        if let Some(d) = cf.get("bake", |c, v| c.duration(v)) {
            canary.bake = d;
        }
        if let Some(steps) = cf.get("steps", canary_steps) {
            canary.steps = steps;
        }
        f.ok &= cf.ok;
        r.canary = canary;
    }
    for h in e.blocks.iter().filter(|b| b.block.ident == "hook") {
        if let Some(hook) = hook(h, dir, f.problems) {
            r.hooks.push(hook);
        } else {
            f.ok = false;
        }
    }
    *ok &= f.ok;
    r
}

/// `traffic_steps = [10, 50, 100]`: increasing percentages that end at 100.
fn traffic_steps(c: &mut Conv, v: &Value) -> Option<Vec<u32>> {
    let Value::Array(items) = v else {
        c.wrong("a list of percentages, such as [10, 50, 100]", v);
        return None;
    };
    let steps: Vec<u32> = items
        .iter()
        .map(|i| c.number(i, 1, 100).map(|n| n as u32))
        .collect::<Option<_>>()?;
    if steps.is_empty() || steps.windows(2).any(|w| w[0] >= w[1]) || steps.last() != Some(&100) {
        c.invalid(
            format!("`traffic_steps` must increase and end at 100, got {steps:?}"),
            "expected increasing percentages ending at 100, such as [10, 50, 100]",
        );
        return None;
    }
    Some(steps)
}

/// `steps = ["10%", "50%"]`: increasing checkpoints after the canary.
fn canary_steps(c: &mut Conv, v: &Value) -> Option<Vec<Quantity>> {
    let Value::Array(items) = v else {
        c.wrong(
            "a list of counts or percentages, such as [\"10%\", \"50%\"]",
            v,
        );
        return None;
    };
    let steps: Vec<Quantity> = items.iter().map(|i| c.quantity(i)).collect::<Option<_>>()?;
    let percents: Option<Vec<u32>> = steps
        .iter()
        .map(|q| match q {
            Quantity::Percent(p) => Some(*p),
            Quantity::Count(_) => None,
        })
        .collect();
    let counts: Option<Vec<u32>> = steps
        .iter()
        .map(|q| match q {
            Quantity::Count(n) => Some(*n),
            Quantity::Percent(_) => None,
        })
        .collect();
    let increasing = |xs: &[u32]| xs.windows(2).all(|w| w[0] < w[1]);
    let ok = match (percents, counts) {
        (Some(p), _) => increasing(&p),
        (_, Some(n)) => increasing(&n),
        _ => true,
    };
    if !ok {
        c.invalid(
            "canary `steps` must increase".into(),
            "expected increasing checkpoints, such as [\"10%\", \"50%\"]",
        );
        return None;
    }
    Some(steps)
}

/// `hook "after_wave" { command = ["./smoke.sh"], timeout = "5m" }`.
pub fn hook(e: &Evaluated, dir: &Path, problems: &mut Vec<Problem>) -> Option<Hook> {
    let event = HookEvent::parse(e.block.label());
    if event.is_none() {
        let names: Vec<&str> = HookEvent::ALL.iter().map(|e| e.as_str()).collect();
        let mut p = Problem::new(format!("there is no hook event {:?}", e.block.label()))
            .at(e.block.loc.clone())
            .label(format!("expected one of {}", names.join(", ")));
        if let Some(s) = crate::load::diag::did_you_mean(e.block.label(), names.iter().copied()) {
            p = p.help(format!("did you mean \"{s}\"?"));
        }
        problems.push(p);
    }
    let mut f = Fields::new(e, problems);
    let command = f.req("command", |c, v| {
        let list = c.string_list(v)?;
        if list.is_empty() || list[0].trim().is_empty() {
            c.invalid(
                "a hook's `command` needs a program to run".into(),
                "expected a list such as [\"./smoke.sh\", \"--quick\"]",
            );
            return None;
        }
        Some(list)
    });
    let timeout = f
        .get("timeout", |c, v| c.duration(v))
        .unwrap_or(Duration::from_secs(300));
    let env = f
        .get("env", |c, v| {
            let env = c.string_map(v)?;
            match env.keys().find(|k| !is_env_name(k)) {
                Some(bad) => {
                    c.invalid(
                        format!("`env` name {bad:?} is not an environment variable name"),
                        "expected names of letters, digits and underscores, not starting with a digit",
                    );
                    None
                }
                None => Some(env),
            }
        })
        .unwrap_or_default();
    if !f.ok {
        return None;
    }
    Some(Hook {
        event: event?,
        command: command?,
        timeout,
        dir: dir.to_path_buf(),
        env,
    })
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Settings that belong to another strategy are errors rather than silently ignored, and each
/// strategy's needs are checked here, before anything touches AWS.
fn check_strategy(
    e: &Evaluated,
    r: &Rollout,
    mode: GroupMode,
    target_groups: Option<&Vec<String>>,
    problems: &mut Vec<Problem>,
) -> bool {
    let mut ok = true;
    let strategy = match r.strategy {
        Strategy::Rolling => "rolling",
        Strategy::Canary => "canary",
        Strategy::BlueGreen => "blue_green",
    };
    let loc_of = |name: &str| {
        e.attrs
            .get(name)
            .map(|(_, a)| a.loc.clone())
            .or_else(|| e.nested(name).map(|b| b.block.loc.clone()))
    };
    let mut misplaced = |name: &str, wants: &str| {
        if let Some(at) = loc_of(name) {
            problems.push(
                Problem::new(format!(
                    "`{name}` applies to strategy = \"{wants}\", but this rollout is \"{strategy}\""
                ))
                .at(at)
                .label(format!("only for {wants}"))
                .help(format!("set strategy = \"{wants}\", or remove `{name}`")),
            );
            ok = false;
        }
    };
    if r.strategy != Strategy::Canary {
        misplaced("canary", "canary");
    }
    if r.strategy != Strategy::BlueGreen {
        for name in ["traffic_steps", "step_bake", "keep_blue"] {
            misplaced(name, "blue_green");
        }
        for h in e.blocks.iter().filter(|b| {
            b.block.ident == "hook" && b.block.label() == HookEvent::BeforeTrafficShift.as_str()
        }) {
            problems.push(
                Problem::new(
                    "a before_traffic_shift hook never runs in a rolling or canary rollout",
                )
                .at(h.block.loc.clone())
                .label("only blue/green rollouts shift listener traffic")
                .help("use after_wave to check each wave, or set strategy = \"blue_green\""),
            );
            ok = false;
        }
    }
    if r.strategy == Strategy::BlueGreen {
        let at = loc_of("strategy").unwrap_or_else(|| e.block.loc.clone());
        if mode == GroupMode::Instances {
            problems.push(
                Problem::new("blue/green needs mode = \"asg\"")
                    .at(at.clone())
                    .label("each generation of a blue/green group is its own Auto Scaling group")
                    .help("remove mode = \"instances\", or use strategy = \"rolling\""),
            );
            ok = false;
        }
        if target_groups.is_none_or(|t| t.is_empty()) {
            problems.push(
                Problem::new(
                    "blue/green moves listener traffic, but this group has no target groups",
                )
                .at(at)
                .label("nothing to shift")
                .help(
                    "attach the group to a target group that a load balancer listener forwards to",
                ),
            );
            ok = false;
        }
    }
    ok
}
