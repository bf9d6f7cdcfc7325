//! From evaluated values to the typed desired model, with an error per wrong value.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hcl::Value;

use super::diag::Problem;
use super::marks::Marks;
use super::parse::{RawAttr, RawBlock};
use crate::cloud::Tags;
use crate::names;
use crate::stack::{
    is_unknown, Canary, Capacity, GroupMode, HealthCheck, HealthGate, Hook, HookEvent, ImageLabel,
    Listener, LoadBalancer, OnFailure, Origin, Quantity, Rollout, ServerGroup, Strategy,
    TargetGroup,
};

/// A block after evaluation: values of the attributes that evaluated, and nested blocks.
pub struct Evaluated<'b> {
    pub block: &'b RawBlock,
    pub attrs: BTreeMap<&'b str, (Value, &'b RawAttr)>,
    /// Which parts of the attributes' values are sensitive (absent: nothing).
    pub marks: BTreeMap<&'b str, Marks>,
    pub blocks: Vec<Evaluated<'b>>,
}

impl<'b> Evaluated<'b> {
    /// The marks of attribute `name`'s value.
    pub fn marks_of(&self, name: &str) -> Marks {
        self.marks.get(name).cloned().unwrap_or_default()
    }

    pub(super) fn nested(&self, ident: &str) -> Option<&Evaluated<'b>> {
        self.blocks.iter().find(|b| b.block.ident == ident)
    }
}

/// Converts one attribute's value, reporting a problem at the attribute when it is of the
/// wrong shape.
pub struct Conv<'a> {
    attr: &'a RawAttr,
    problems: &'a mut Vec<Problem>,
    /// The value is (partly) sensitive: errors do not show it.
    sensitive: bool,
}

/// A value not known yet (a lookup in `validate`, a variable not given to `validate`):
/// typed conversions accept it, since the real value is checked when it is known.
pub(super) fn is_unknown_value(v: &Value) -> bool {
    matches!(v, Value::String(s) if is_unknown(s))
}

/// What kind of value `v` is, without its content.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn describe(v: &Value) -> String {
    let s = match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(o) => match (o.get("kind"), o.get("address")) {
            (Some(_), Some(Value::String(a))) => format!("a reference to {a}"),
            _ => "an object".to_string(),
        },
    };
    if s.len() > 60 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

impl<'a> Conv<'a> {
    pub fn new(attr: &'a RawAttr, problems: &'a mut Vec<Problem>) -> Self {
        Conv {
            attr,
            problems,
            sensitive: false,
        }
    }

    /// Whether the value is sensitive, so that errors describe only its kind.
    pub fn sensitive(mut self, sensitive: bool) -> Self {
        self.sensitive = sensitive;
        self
    }

    /// The attribute being converted.
    pub(super) fn name(&self) -> &str {
        &self.attr.name
    }

    pub(super) fn wrong(&mut self, expected: &str, v: &Value) {
        let found = match self.sensitive {
            true => format!("a sensitive {}", kind(v)),
            false => describe(v),
        };
        self.problems.push(
            Problem::new(format!(
                "`{}` must be {expected}, found {found}",
                self.attr.name
            ))
            .at(self.attr.value_loc.clone())
            .label(format!("expected {expected}")),
        );
    }

    pub(super) fn invalid(&mut self, message: String, label: &str) {
        self.problems.push(
            Problem::new(message)
                .at(self.attr.value_loc.clone())
                .label(label.to_string()),
        );
    }

    pub fn string(&mut self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong("a string", v);
                None
            }
        }
    }

    pub fn boolean(&mut self, v: &Value) -> Option<bool> {
        match v {
            v if is_unknown_value(v) => Some(false),
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.wrong("true or false", v);
                None
            }
        }
    }

    pub fn number(&mut self, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = match v {
            v if is_unknown_value(v) => Some(min),
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.invalid(
                    format!("`{}` is {n}, out of range", self.attr.name),
                    &format!("expected a whole number from {min} to {max}"),
                );
                None
            }
            None => {
                self.wrong("a whole number", v);
                None
            }
        }
    }

    pub fn one_of(&mut self, v: &Value, choices: &[&str]) -> Option<String> {
        let s = self.string(v)?;
        if is_unknown(&s) {
            return Some(choices[0].to_string());
        }
        if choices.contains(&s.as_str()) {
            Some(s)
        } else {
            let list = choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            self.invalid(
                format!("`{}` cannot be {s:?}", self.attr.name),
                &format!("expected one of {list}"),
            );
            None
        }
    }

    pub fn string_list(&mut self, v: &Value) -> Option<Vec<String>> {
        if is_unknown_value(v) {
            return Some(vec![crate::stack::UNKNOWN_LOOKUP.to_string()]);
        }
        let Value::Array(items) = v else {
            self.wrong("a list of strings", v);
            return None;
        };
        items.iter().map(|i| self.string(i)).collect()
    }

    pub fn string_map(&mut self, v: &Value) -> Option<Tags> {
        if is_unknown_value(v) {
            return Some(Tags::new());
        }
        let Value::Object(map) = v else {
            self.wrong("a map of strings, such as { team = \"shop\" }", v);
            return None;
        };
        map.iter()
            .map(|(k, v)| self.string(v).map(|s| (k.clone(), s)))
            .collect()
    }

    /// `"30s"`, `"10m"`, `"1h30m"` or a number of seconds.
    /// A lock URL (`s3://bucket/prefix`); `null` is the local lock.
    pub fn lock(&mut self, v: &Value) -> Option<crate::lock::LockSetting> {
        use crate::lock::LockSetting;
        if v.is_null() {
            return Some(LockSetting::Local);
        }
        let s = self.string(v)?;
        if is_unknown(&s) {
            return Some(LockSetting::Unknown);
        }
        match crate::lock::LockUrl::parse(&s) {
            Ok(url) => Some(LockSetting::Shared(url)),
            Err(e) => {
                self.problems.push(
                    Problem::new(format!("`{}` is not a usable lock: {e}", self.attr.name))
                        .at(self.attr.value_loc.clone())
                        .label("expected s3://BUCKET/PREFIX")
                        .help(e.help()),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, v: &Value) -> Option<Duration> {
        match v {
            v if is_unknown_value(v) => Some(Duration::ZERO),
            Value::Number(n) if n.as_u64().is_some() => Some(Duration::from_secs(n.as_u64()?)),
            Value::String(s) => match humantime::parse_duration(s) {
                Ok(d) => Some(d),
                Err(_) => {
                    self.invalid(
                        format!("`{}`: {s:?} is not a duration", self.attr.name),
                        "expected a duration such as \"30s\", \"10m\" or \"1h\"",
                    );
                    None
                }
            },
            _ => {
                self.wrong("a duration such as \"30s\"", v);
                None
            }
        }
    }

    /// `2` or `"25%"`.
    pub fn quantity(&mut self, v: &Value) -> Option<Quantity> {
        match v {
            v if is_unknown_value(v) => Some(Quantity::Count(1)),
            Value::Number(n) => match n.as_u64() {
                Some(n) if n <= u64::from(u32::MAX) => Some(Quantity::Count(n as u32)),
                _ => {
                    self.wrong("a count or a percentage", v);
                    None
                }
            },
            Value::String(s) => {
                let parsed = match s.strip_suffix('%') {
                    Some(p) => p
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|p| *p <= 100)
                        .map(Quantity::Percent),
                    None => s.trim().parse::<u32>().ok().map(Quantity::Count),
                };
                if parsed.is_none() {
                    self.invalid(
                        format!(
                            "`{}`: {s:?} is neither a count nor a percentage",
                            self.attr.name
                        ),
                        "expected a count such as 2, or a percentage such as \"25%\"",
                    );
                }
                parsed
            }
            _ => {
                self.wrong("a count or a percentage", v);
                None
            }
        }
    }

    /// A reference object of the given kind (`target_group.web`); returns its address.
    pub fn reference(&mut self, v: &Value, kind: &str) -> Option<String> {
        if let Value::Object(o) = v {
            if let (Some(Value::String(k)), Some(Value::String(a))) =
                (o.get("kind"), o.get("address"))
            {
                if k == kind {
                    return Some(a.clone());
                }
            }
        }
        self.wrong(&format!("a reference to a {kind}, such as {kind}.web"), v);
        None
    }

    /// `depends_on`: server group references, and module references standing for every
    /// server group in the module.
    pub fn group_references(&mut self, v: &Value) -> Option<Vec<String>> {
        let Value::Array(items) = v else {
            return self.references(v, "server_group");
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                Value::Object(o) if o.get("kind") == Some(&Value::from("module")) => {
                    let groups = o.get("server_groups").and_then(Value::as_array);
                    out.extend(
                        groups
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(String::from),
                    );
                }
                other => out.push(self.reference(other, "server_group")?),
            }
        }
        Some(out)
    }

    pub fn references(&mut self, v: &Value, kind: &str) -> Option<Vec<String>> {
        match v {
            Value::Array(items) => items.iter().map(|i| self.reference(i, kind)).collect(),
            _ => {
                self.wrong(
                    &format!("a list of {kind} references, such as [{kind}.web]"),
                    v,
                );
                None
            }
        }
    }
}

/// Pulls typed attributes out of an [`Evaluated`] block.
pub(super) struct Fields<'e, 'b> {
    pub(super) e: &'e Evaluated<'b>,
    pub(super) problems: &'e mut Vec<Problem>,
    pub(super) ok: bool,
}

impl<'e, 'b> Fields<'e, 'b> {
    pub(super) fn new(e: &'e Evaluated<'b>, problems: &'e mut Vec<Problem>) -> Self {
        Fields {
            e,
            problems,
            ok: true,
        }
    }

    /// Converts attribute `name` with `f` when present; `None` when absent or invalid.
    pub(super) fn get<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Conv, &Value) -> Option<T>,
    ) -> Option<T> {
        let (v, attr) = self.e.attrs.get(name)?;
        let before = self.problems.len();
        let sensitive = self.e.marks.contains_key(name);
        let out = f(&mut Conv::new(attr, self.problems).sensitive(sensitive), v);
        if out.is_none() || self.problems.len() > before {
            self.ok = false;
        }
        out
    }

    /// Like [`Fields::get`], for required attributes: absence was reported by the parser.
    pub(super) fn req<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Conv, &Value) -> Option<T>,
    ) -> Option<T> {
        let out = self.get(name, f);
        if out.is_none() {
            self.ok = false;
        }
        out
    }

    fn nested(&self, ident: &str) -> Option<&'e Evaluated<'b>> {
        self.e.nested(ident)
    }
}

pub fn target_group(
    e: &Evaluated,
    stack: &str,
    key: &str,
    address: String,
    origin: Origin,
    problems: &mut Vec<Problem>,
) -> Option<TargetGroup> {
    let mut f = Fields::new(e, problems);
    let name = f
        .get("name", |c, v| c.string(v))
        .unwrap_or_else(|| names::elb_name(stack, key));
    let vpc_id = f.req("vpc_id", |c, v| c.string(v));
    let port = f.req("port", |c, v| c.number(v, 1, 65535));
    let protocol = f
        .get("protocol", |c, v| {
            c.one_of(v, &["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP"])
        })
        .unwrap_or_else(|| "HTTP".into());
    let deregistration_delay = f
        .get("deregistration_delay", |c, v| c.duration(v))
        .unwrap_or(Duration::from_secs(300));
    let tags = f.get("tags", |c, v| c.string_map(v)).unwrap_or_default();
    let health_check = health_check(f.nested("health_check"), &protocol, f.problems, &mut f.ok);
    let ok = f.ok;
    if name.len() > names::ELB_NAME_MAX {
        problems.push(
            Problem::new(format!(
                "target group name {name:?} is longer than 32 characters"
            ))
            .at(e.block.loc.clone())
            .label("AWS allows at most 32"),
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some(TargetGroup {
        address,
        name,
        vpc_id: vpc_id?,
        port: port? as u16,
        protocol,
        deregistration_delay,
        health_check,
        tags,
        origin,
    })
}

fn health_check(
    e: Option<&Evaluated>,
    protocol: &str,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> HealthCheck {
    // AWS's defaults for an application load balancer's target group.
    let mut hc = HealthCheck {
        protocol: if protocol == "HTTPS" {
            "HTTPS"
        } else if protocol.starts_with("HTTP") {
            "HTTP"
        } else {
            "TCP"
        }
        .into(),
        port: "traffic-port".into(),
        path: if protocol.starts_with("HTTP") {
            Some("/".into())
        } else {
            None
        },
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        healthy_threshold: 5,
        unhealthy_threshold: 2,
        matcher: None,
    };
    let Some(e) = e else { return hc };
    let mut f = Fields::new(e, problems);
    if let Some(p) = f.get("path", |c, v| c.string(v)) {
        if !p.starts_with('/') {
            let (_, attr) = &e.attrs["path"];
            f.problems.push(
                Problem::new(format!("health check path {p:?} must start with /"))
                    .at(attr.value_loc.clone())
                    .label("expected a path such as \"/healthz\""),
            );
            f.ok = false;
        }
        hc.path = Some(p);
    }
    if let Some(p) = f.get("port", |c, v| c.string(v)) {
        hc.port = p;
    }
    if let Some(p) = f.get("protocol", |c, v| c.one_of(v, &["HTTP", "HTTPS", "TCP"])) {
        hc.protocol = p;
    }
    if let Some(d) = f.get("interval", |c, v| c.duration(v)) {
        hc.interval = d;
    }
    match f.get("timeout", |c, v| c.duration(v)) {
        Some(d) => hc.timeout = d,
        // AWS's 5 s default must stay below the interval.
        None => {
            hc.timeout = hc
                .timeout
                .min(hc.interval.saturating_sub(Duration::from_secs(1)))
                .max(Duration::from_secs(2))
        }
    }
    let secs = |d: Duration| d.as_secs_f64();
    let range = |name: &str, d: Duration, lo: u64, hi: u64, f: &mut Fields| {
        if let (true, Some((_, attr))) = (
            !(lo as f64..=hi as f64).contains(&secs(d)),
            f.e.attrs.get(name),
        ) {
            f.problems.push(
                Problem::new(format!("health check `{name}` is {}s", secs(d)))
                    .at(attr.value_loc.clone())
                    .label(format!("AWS allows {lo}s to {hi}s")),
            );
            f.ok = false;
        }
    };
    range("interval", hc.interval, 5, 300, &mut f);
    range("timeout", hc.timeout, 2, 120, &mut f);
    if hc.timeout >= hc.interval && f.ok {
        let at = f.e.attrs.get("timeout").or(f.e.attrs.get("interval"));
        if let Some((_, attr)) = at {
            f.problems.push(
                Problem::new(format!(
                    "health check timeout ({}s) must be shorter than its interval ({}s)",
                    secs(hc.timeout),
                    secs(hc.interval)
                ))
                .at(attr.value_loc.clone())
                .label("AWS requires timeout < interval"),
            );
            f.ok = false;
        }
    }
    if let Some(n) = f.get("healthy_threshold", |c, v| c.number(v, 2, 10)) {
        hc.healthy_threshold = n as u32;
    }
    if let Some(n) = f.get("unhealthy_threshold", |c, v| c.number(v, 2, 10)) {
        hc.unhealthy_threshold = n as u32;
    }
    hc.matcher = f.get("matcher", |c, v| c.string(v));
    *ok &= f.ok;
    hc
}

pub fn load_balancer(
    e: &Evaluated,
    stack: &str,
    key: &str,
    address: String,
    origin: Origin,
    problems: &mut Vec<Problem>,
) -> Option<LoadBalancer> {
    let mut f = Fields::new(e, problems);
    let name = f
        .get("name", |c, v| c.string(v))
        .unwrap_or_else(|| names::elb_name(stack, key));
    let subnets = f.req("subnets", |c, v| c.string_list(v));
    let security_groups = f
        .get("security_groups", |c, v| c.string_list(v))
        .unwrap_or_default();
    let internal = f.get("internal", |c, v| c.boolean(v)).unwrap_or(false);
    let kind = f
        .get("type", |c, v| c.one_of(v, &["application", "network"]))
        .unwrap_or_else(|| "application".into());
    let tags = f.get("tags", |c, v| c.string_map(v)).unwrap_or_default();
    let mut ok = f.ok;
    let mut listeners = Vec::new();
    for l in e.blocks.iter().filter(|b| b.block.ident == "listener") {
        match listener(l, problems) {
            Some(l) => listeners.push(l),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(LoadBalancer {
        address,
        name,
        kind,
        internal,
        subnets: subnets?,
        security_groups,
        listeners,
        tags,
        origin,
    })
}

fn listener(e: &Evaluated, problems: &mut Vec<Problem>) -> Option<Listener> {
    let mut f = Fields::new(e, problems);
    let port = f.req("port", |c, v| c.number(v, 1, 65535));
    let protocol = f
        .get("protocol", |c, v| {
            c.one_of(v, &["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP"])
        })
        .unwrap_or_else(|| "HTTP".into());
    let certificate_arn = f.get("certificate_arn", |c, v| c.string(v));
    let forward = f.req("forward", forward);
    if !f.ok {
        return None;
    }
    Some(Listener {
        label: e.block.label().to_string(),
        port: port? as u16,
        protocol,
        certificate_arn,
        forward: forward?,
    })
}

/// `forward = target_group.web`, `[target_group.a, target_group.b]`, or weighted:
/// `[{ target_group = target_group.a, weight = 90 }, …]`.
fn forward(c: &mut Conv, v: &Value) -> Option<Vec<(String, u32)>> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() || items.len() > 5 {
        c.invalid(
            format!("`forward` names {} target groups", items.len()),
            "expected 1 to 5 target groups (the AWS limit for one forward action)",
        );
        return None;
    }
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Object(o) if o.contains_key("target_group") => {
                let tg = c.reference(&o["target_group"], "target_group")?;
                let weight = match o.get("weight") {
                    Some(w) => c.number(w, 0, 999)? as u32,
                    None => 1,
                };
                out.push((tg, weight));
            }
            other => out.push((c.reference(other, "target_group")?, 1)),
        }
    }
    Some(out)
}

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
    let launch = super::fleet::launch_options(e, &tags, problems, &mut ok);
    let scaling = super::fleet::group_settings(e, mode == GroupMode::Instances, problems, &mut ok);
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
        if let Some(s) = super::diag::did_you_mean(e.block.label(), names.iter().copied()) {
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
