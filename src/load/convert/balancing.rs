//! Target groups (with their health checks) and load balancers (with their listeners).

use std::time::Duration;

use hcl::Value;

use crate::load::diag::Problem;
use crate::names;
use crate::stack::{HealthCheck, Listener, LoadBalancer, Origin, TargetGroup};

use super::conv::{Conv, Evaluated, Fields};

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
