//! `reroll status`: what runs, per server group and generation, as a table.

use crate::cloud::states::TargetState;
use crate::observe::{Generation, Observed, ObservedGroup};
use crate::stack::Stack;

/// What a generation runs: the AMI id with the image's name and creation date, as recorded
/// on it when it was created; a generation created before that was recorded shows its id
/// alone when it is the active one (read from its launch template), else `-`.
fn image(g: &ObservedGroup, gen: &Generation) -> String {
    match gen.image() {
        Some((id, label)) => format!("{id} ({label})"),
        None => match (&g.active_launch, g.active()) {
            (Some(spec), Some(active)) if active.number == gen.number => spec.image_id.clone(),
            _ => "-".into(),
        },
    }
}

/// Renders the observed state of a stack for people.
pub fn render(stack: &Stack, observed: &Observed) -> String {
    let mut out = format!("Stack \"{}\" in {}\n", stack.name, observed.region);
    if observed.groups.is_empty()
        && observed.target_groups.is_empty()
        && observed.load_balancers.is_empty()
    {
        out.push_str("\nNothing deployed.\n");
        return out;
    }
    for g in observed.groups.values() {
        group_section(&mut out, observed, g);
    }
    balancing_sections(&mut out, observed);
    out
}

/// A server group: its generations as a table, then what is under way or to know about them.
fn group_section(out: &mut String, observed: &Observed, g: &ObservedGroup) {
    let address = g
        .address
        .clone()
        .unwrap_or_else(|| format!("server_group.{}", g.key));
    out.push_str(&format!("\n{address}\n"));
    out.push_str(&format!(
        "  {:<4} {:<28} {:<8} {:>7} {:>5} {:>5} {:>10}  {:<19}  {}\n",
        "gen",
        "auto scaling group",
        "state",
        "desired",
        "min",
        "max",
        "in service",
        "fingerprint",
        "image"
    ));
    for gen in &g.generations {
        out.push_str(&format!(
            "  v{:03} {:<28} {:<8} {:>7} {:>5} {:>5} {:>10}  {:<19}  {}\n",
            gen.number,
            gen.group.name,
            gen.state.as_str(),
            gen.group.desired,
            gen.group.min,
            gen.group.max,
            gen.in_service(),
            gen.fingerprint.as_deref().unwrap_or("-"),
            image(g, gen),
        ));
    }
    for gen in g
        .generations
        .iter()
        .filter(|x| x.state == crate::observe::GenerationState::Rolling)
    {
        if let Some(p) = progress(observed, g, gen) {
            out.push_str(&format!("  v{:03} progress: {p}\n", gen.number));
        }
    }
    for gen in &g.generations {
        if let Some(t) = gen
            .group
            .tags
            .get(crate::cloud::tag::TRAFFIC)
            .filter(|t| gen.state == crate::observe::GenerationState::Rolling && !t.is_empty())
        {
            out.push_str(&format!(
                "  v{:03} has {t}% of listener traffic
",
                gen.number
            ));
        }
        if let Some(r) = gen
            .group
            .tags
            .get(crate::cloud::tag::ROLLED_BACK)
            .filter(|r| !r.is_empty() && gen.state == crate::observe::GenerationState::Active)
        {
            out.push_str(&format!(
                "  v{:03} serves again after `reroll rollback` ({r}); the stack file may ask for \
                 another definition\n",
                gen.number
            ));
        }
    }
    let retained = g
        .generations
        .iter()
        .filter(|x| x.state == crate::observe::GenerationState::Retired)
        .count();
    if retained > 0 {
        out.push_str(&format!(
            "  {retained} retained generation{} at zero capacity: `reroll rollback` returns to \
             the newest\n",
            if retained == 1 { "" } else { "s" }
        ));
    }
    if let Some((fp, at)) = g.active().and_then(|a| a.failed.as_ref()) {
        out.push_str(&format!(
            "  last failed definition: {fp}, rolled back at {at}\n"
        ));
    }
    if g.generations
        .iter()
        .any(|x| x.state == crate::observe::GenerationState::Rolling)
    {
        out.push_str(
            "  a rollout is in progress or stopped part-way: `reroll apply` continues it\n",
        );
    }
}

/// The target groups with their health, and the load balancers with their DNS names.
fn balancing_sections(out: &mut String, observed: &Observed) {
    if !observed.target_groups.is_empty() {
        out.push_str("\ntarget groups\n");
        for tg in observed.target_groups.values() {
            out.push_str(&format!(
                "  {:<32} {:>3} healthy of {:>3} registered  {}\n",
                tg.address,
                tg.healthy(),
                tg.health.len(),
                tg.info.spec.name
            ));
        }
        for c in &observed.copies {
            let copy = format!("{} (v{:03} copy)", c.of, c.generation);
            let healthy = c
                .health
                .iter()
                .filter(|t| t.state == TargetState::Healthy)
                .count();
            out.push_str(&format!(
                "  {copy:<32} {healthy:>3} healthy of {:>3} registered  {}\n",
                c.health.len(),
                c.info.spec.name
            ));
        }
    }
    if !observed.load_balancers.is_empty() {
        out.push_str("\nload balancers\n");
        for lb in observed.load_balancers.values() {
            out.push_str(&format!("  {:<32} {}\n", lb.address, lb.info.dns_name));
        }
    }
}

/// Where a rolling generation stands: what its rollout last wrote on it (a blue/green step, a
/// roll back), else what the account shows — a rolling rollout writes no progress as it goes,
/// so that a look at its serving instances is always current and costs no writes.
fn progress(observed: &Observed, g: &ObservedGroup, gen: &Generation) -> Option<String> {
    if let Some(p) = gen.group.tags.get(crate::cloud::tag::PROGRESS) {
        return Some(p.clone());
    }
    let old = g.active()?;
    // What the rollout replaces: the capacity the old generation had when it began.
    let of = crate::apply::parse_from(gen.group.tags.get(crate::cloud::tag::FROM))
        .map_or(old.group.desired, |(_, desired, _)| desired);
    let serving = observed.serving(old);
    Some(format!(
        "new {}/{of} healthy, old {serving} serving, {} on the way out",
        observed.serving(gen),
        old.group.instances.len().saturating_sub(serving),
    ))
}

fn address(g: &ObservedGroup) -> String {
    g.address
        .clone()
        .unwrap_or_else(|| format!("server_group.{}", g.key))
}

/// `status --check`: one line per problem, none when every group serves its desired capacity
/// healthy with no rollout interrupted, no failed definition pending and nothing the stack
/// asks for left to do. `changes` are the plan's changes (address, action, reason), or why
/// the stack could not be planned.
pub fn problems(
    observed: &Observed,
    changes: Result<&[(String, String, String)], &str>,
) -> Vec<String> {
    use crate::observe::GenerationState;
    let mut out = Vec::new();
    for g in observed.groups.values() {
        let address = address(g);
        if let Some(active) = g.active() {
            let healthy = observed.serving(active);
            let desired = active.group.desired as usize;
            if healthy < desired {
                out.push(format!(
                    "degraded: {address}: {healthy} of {desired} healthy in v{:03} ({})",
                    active.number, active.group.name
                ));
            }
            if let Some((fp, at)) = &active.failed {
                out.push(format!(
                    "failed definition pending: {address}: {fp} failed its rollout and was rolled \
                     back at {at}; `reroll plan` refuses it until the stack changes (or --force)"
                ));
            }
        } else if !g
            .generations
            .iter()
            .any(|x| x.state == GenerationState::Rolling)
        {
            out.push(format!("degraded: {address}: no generation serves"));
        }
        for gen in g
            .generations
            .iter()
            .filter(|x| x.state == GenerationState::Rolling)
        {
            let progress = progress(observed, g, gen)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            out.push(format!(
                "interrupted rollout: {address}: v{:03} is rolling{progress}; `reroll apply` \
                 continues it",
                gen.number
            ));
        }
    }
    match changes {
        Ok(changes) => {
            for (address, action, reason) in changes {
                out.push(format!("drift: {address}: {action} ({reason})"));
            }
        }
        Err(why) => out.push(format!("drift: not checked: {why}")),
    }
    out
}

/// A label value in the text exposition format: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An RFC 3339 time as Unix seconds.
fn unix_seconds(at: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(at).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

/// How the group's last rollout ended and when (Unix seconds): `succeeded` when the serving
/// generation's commit (`reroll:completed`) is the newer, `rolled_back` when the failure
/// recorded on it (`reroll:failed`) is; `None` when it records neither.
pub fn last_result(g: &ObservedGroup) -> Option<(&'static str, u64)> {
    let active = g.active()?;
    let completed = active
        .group
        .tags
        .get(crate::cloud::tag::COMPLETED)
        .and_then(|at| unix_seconds(at))
        .map(|t| ("succeeded", t));
    let failed = active
        .failed
        .as_ref()
        .and_then(|(_, at)| unix_seconds(at))
        .map(|t| ("rolled_back", t));
    match (completed, failed) {
        (Some(c), Some(f)) => Some(if f.1 >= c.1 { f } else { c }),
        (c, f) => c.or(f),
    }
}

/// Where a rollout of `og` in progress or stopped part-way stands: the waves got through and
/// the waves planned, counted with [`crate::plan::waves_through`] over the schedule the plan
/// makes for the group (the stack's desired capacity, from the serving generation), as the
/// executor, the live view and the events count them. New instances count once healthy,
/// old ones once gone from the serving generation. Blue/green counts the traffic steps its
/// plan shows, reached once the generation has that share of traffic. `None`: no rollout,
/// or the stack no longer declares the group.
pub fn wave(stack: &Stack, observed: &Observed, og: &ObservedGroup) -> Option<(u32, u32)> {
    let rolling = og
        .generations
        .iter()
        .rev()
        .find(|x| x.state == crate::observe::GenerationState::Rolling)?;
    let g = stack.server_groups.iter().find(|g| g.key == og.key)?;
    let desired = g.capacity.desired;
    let old = og.active();
    let plan = crate::plan::rollout_plan(stack, g, desired, old.map(|a| a.number), rolling.number);
    if !plan.traffic_steps.is_empty() {
        let traffic: u32 = rolling
            .group
            .tags
            .get(crate::cloud::tag::TRAFFIC)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let reached = plan.traffic_steps.iter().filter(|&&s| s <= traffic).count();
        return Some((reached as u32, plan.traffic_steps.len() as u32));
    }
    let left = old.map_or(0, |a| {
        a.group
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.is_terminating())
            .count() as u32
    });
    let through = crate::plan::waves_through(
        &plan.waves,
        observed.serving(rolling) as u32,
        desired.saturating_sub(left),
    );
    Some((through, plan.waves.len() as u32))
}

/// `status --format openmetrics`: Prometheus' text exposition format (for node_exporter's
/// textfile collector): per group and generation desired, in service and healthy; per group
/// whether a rollout is in progress, its wave and the waves planned, the last rollout's
/// result and time, and the last failed rollout's time.
pub fn openmetrics(stack: &Stack, observed: &Observed) -> String {
    let mut out = String::new();
    let stack_label = label(&stack.name);
    let mut family = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{{{labels}}} {v}\n"));
        }
    };
    let gen_labels = |g: &ObservedGroup, gen: &Generation| {
        format!(
            "stack=\"{stack_label}\",group=\"{}\",generation=\"v{:03}\",state=\"{}\"",
            label(&address(g)),
            gen.number,
            gen.state.as_str()
        )
    };
    let per_gen = |f: &dyn Fn(&Generation) -> f64| {
        observed
            .groups
            .values()
            .flat_map(|g| g.generations.iter().map(move |gen| (g, gen)))
            .map(|(g, gen)| (gen_labels(g, gen), f(gen)))
            .collect::<Vec<_>>()
    };
    family(
        "reroll_desired_instances",
        "Desired capacity of a server group's generation.",
        per_gen(&|gen| f64::from(gen.group.desired)),
    );
    family(
        "reroll_in_service_instances",
        "Instances of the generation in service and healthy as Auto Scaling knows them.",
        per_gen(&|gen| gen.in_service() as f64),
    );
    family(
        "reroll_healthy_instances",
        "Instances of the generation in service and healthy in every target group.",
        per_gen(&|gen| observed.serving(gen) as f64),
    );
    let group_labels =
        |g: &ObservedGroup| format!("stack=\"{stack_label}\",group=\"{}\"", label(&address(g)));
    family(
        "reroll_rollout_in_progress",
        "1 while a rollout of the group is in progress or stopped part-way.",
        observed
            .groups
            .values()
            .map(|g| {
                let rolling = g
                    .generations
                    .iter()
                    .any(|x| x.state == crate::observe::GenerationState::Rolling);
                (group_labels(g), if rolling { 1.0 } else { 0.0 })
            })
            .collect(),
    );
    family(
        "reroll_last_failed_rollout_timestamp_seconds",
        "When the group's last failed rollout was rolled back (Unix time).",
        observed
            .groups
            .values()
            .filter_map(|g| {
                let (_, at) = g.active()?.failed.as_ref()?;
                Some((group_labels(g), unix_seconds(at)? as f64))
            })
            .collect(),
    );
    rollout_families(&mut family, stack, observed, &group_labels);
    out.push_str("# EOF\n");
    out
}

/// A family's samples: labels and value.
type Samples = Vec<(String, f64)>;

/// The families of a group's rollout: the wave a rollout in progress has got through and the
/// waves planned (no sample for a group not rolling), and the last rollout's result and time.
fn rollout_families(
    family: &mut dyn FnMut(&str, &str, Samples),
    stack: &Stack,
    observed: &Observed,
    group_labels: &dyn Fn(&ObservedGroup) -> String,
) {
    let waves: Vec<(String, (u32, u32))> = observed
        .groups
        .values()
        .filter_map(|g| Some((group_labels(g), wave(stack, observed, g)?)))
        .collect();
    family(
        "reroll_rollout_wave",
        "Waves of the plan's schedule a rollout in progress or stopped part-way has got \
         through (blue/green: traffic steps reached).",
        waves
            .iter()
            .map(|(l, (w, _))| (l.clone(), f64::from(*w)))
            .collect(),
    );
    family(
        "reroll_rollout_waves",
        "Waves the plan schedules for a rollout in progress or stopped part-way (blue/green: \
         traffic steps).",
        waves
            .iter()
            .map(|(l, (_, n))| (l.clone(), f64::from(*n)))
            .collect(),
    );
    family(
        "reroll_last_rollout_timestamp_seconds",
        "When the group's last rollout ended (Unix time): committed (result succeeded) or \
         rolled back (result rolled_back), whichever is newer.",
        observed
            .groups
            .values()
            .filter_map(|g| {
                let (result, secs) = last_result(g)?;
                Some((
                    format!("{},result=\"{result}\"", group_labels(g)),
                    secs as f64,
                ))
            })
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{tag, GroupInfo, GroupInstance};
    use crate::load::{evaluate, parse_stack, Inputs};
    use crate::observe::GenerationState;
    use crate::stack::{Known, ResolvedImage, ResolvedNetwork};

    fn stack(rollout: &str) -> Stack {
        let src = format!(
            r#"
stack "shop" {{
  region = "us-east-1"
}}
image "app" {{
  owners      = ["self"]
  name        = "shop-app"
  most_recent = true
}}
network "main" {{
  vpc_tags             = {{ Name = "demo" }}
  subnet_tags          = {{ tier = "private" }}
  security_group_names = ["demo-web"]
}}
target_group "web" {{
  vpc_id = network.main.vpc_id
  port   = 8080
}}
load_balancer "public" {{
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  listener "http" {{
    port    = 80
    forward = target_group.web
  }}
}}
server_group "web" {{
  target_groups   = [target_group.web]
  image           = image.app
  instance_type   = "t3.micro"
  capacity        = {{ min = 1, desired = 4, max = 8 }}
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  rollout {{
{rollout}
  }}
}}
"#
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.hcl"), src).unwrap();
        let parsed = parse_stack(dir.path()).unwrap();
        let mut known = Known::default();
        known.images.insert(
            "image.app".into(),
            ResolvedImage {
                id: "ami-1".into(),
                name: "shop-app".into(),
                creation_date: "2026-01-01T00:00:00.000Z".into(),
                copy: None,
                source: None,
            },
        );
        known.networks.insert(
            "network.main".into(),
            ResolvedNetwork {
                vpc_id: "vpc-1".into(),
                subnet_ids: vec!["subnet-a".into()],
                availability_zones: vec!["us-east-1a".into()],
                security_group_ids: vec!["sg-1".into()],
            },
        );
        evaluate(&parsed, &Inputs::default(), &known).unwrap()
    }

    /// A generation of `web` with `instances` healthy in service.
    fn generation(
        number: u32,
        state: GenerationState,
        instances: u32,
        tags: &[(&str, &str)],
    ) -> Generation {
        Generation {
            number,
            fingerprint: None,
            state,
            applied_desired: Some(4),
            failed: None,
            instance_refresh: None,
            group: GroupInfo {
                name: format!("shop-web-v{number:03}"),
                min: 0,
                max: 8,
                desired: instances,
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                launch_template_id: None,
                launch_template_version: None,
                target_group_arns: vec![],
                subnet_ids: vec!["subnet-a".into()],
                instances: (0..instances)
                    .map(|i| GroupInstance {
                        id: format!("i-{number}-{i}"),
                        lifecycle_state: "InService".into(),
                        health_status: "Healthy".into(),
                        availability_zone: None,
                        launch_template_version: None,
                    })
                    .collect(),
                suspended_processes: vec![],
                status: None,
                settings: None,
            },
        }
    }

    fn observed(generations: Vec<Generation>) -> Observed {
        let mut observed = Observed {
            stack: "shop".into(),
            region: "us-east-1".into(),
            ..Default::default()
        };
        observed.groups.insert(
            "web".into(),
            ObservedGroup {
                key: "web".into(),
                address: Some("server_group.web".into()),
                generations,
                launch_template: None,
                active_launch: None,
                deleting: Vec::new(),
            },
        );
        observed
    }

    fn sample(out: &str, family: &str) -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_rollout_stopped_part_way_reports_its_wave_and_the_waves_planned() {
        let s = stack("    max_surge       = 1\n    max_unavailable = 0");
        // Two of four new instances healthy, two of the old ones gone: wave 2 of 4.
        let o = observed(vec![
            generation(1, GenerationState::Active, 2, &[]),
            generation(2, GenerationState::Rolling, 2, &[]),
        ]);
        assert_eq!(wave(&s, &o, &o.groups["web"]), Some((2, 4)));
        let out = openmetrics(&s, &o);
        let labels = "{stack=\"shop\",group=\"server_group.web\"}";
        assert_eq!(
            sample(&out, "reroll_rollout_wave"),
            [format!("reroll_rollout_wave{labels} 2")]
        );
        assert_eq!(
            sample(&out, "reroll_rollout_waves"),
            [format!("reroll_rollout_waves{labels} 4")]
        );
        // Three healthy but two old still there: the third wave has not drained yet.
        let o = observed(vec![
            generation(1, GenerationState::Active, 2, &[]),
            generation(2, GenerationState::Rolling, 3, &[]),
        ]);
        assert_eq!(wave(&s, &o, &o.groups["web"]), Some((2, 4)));
        // Nothing rolling: no sample.
        let o = observed(vec![generation(1, GenerationState::Active, 4, &[])]);
        assert_eq!(wave(&s, &o, &o.groups["web"]), None);
        assert!(sample(&openmetrics(&s, &o), "reroll_rollout_wave").is_empty());
    }

    #[test]
    fn blue_green_counts_the_traffic_steps_reached() {
        let s = stack("    strategy      = \"blue_green\"\n    traffic_steps = [10, 50, 100]");
        let o = observed(vec![
            generation(1, GenerationState::Active, 4, &[]),
            generation(2, GenerationState::Rolling, 4, &[(tag::TRAFFIC, "50")]),
        ]);
        assert_eq!(wave(&s, &o, &o.groups["web"]), Some((2, 3)));
    }

    #[test]
    fn the_last_result_is_the_newer_of_the_commit_and_the_rollback() {
        let s = stack("    max_surge = 1");
        let committed = "2026-03-01T10:00:00Z";
        let mut active = generation(
            1,
            GenerationState::Active,
            4,
            &[(tag::COMPLETED, committed)],
        );
        let o = observed(vec![active.clone()]);
        assert_eq!(
            last_result(&o.groups["web"]),
            Some(("succeeded", 1772359200))
        );
        let out = openmetrics(&s, &o);
        assert_eq!(
            sample(&out, "reroll_last_rollout_timestamp_seconds"),
            [
                "reroll_last_rollout_timestamp_seconds{stack=\"shop\",group=\"server_group.web\",\
              result=\"succeeded\"} 1772359200"
            ]
        );
        active.failed = Some(("f1:abc".into(), "2026-03-02T10:00:00Z".into()));
        let o = observed(vec![active.clone()]);
        assert_eq!(
            last_result(&o.groups["web"]),
            Some(("rolled_back", 1772445600))
        );
        assert_eq!(
            sample(
                &openmetrics(&s, &o),
                "reroll_last_failed_rollout_timestamp_seconds"
            )
            .len(),
            1
        );
        active.failed = Some(("f1:abc".into(), "2026-02-01T10:00:00Z".into()));
        let o = observed(vec![active.clone()]);
        assert_eq!(
            last_result(&o.groups["web"]),
            Some(("succeeded", 1772359200))
        );
        active.group.tags.clear();
        active.failed = None;
        let o = observed(vec![active]);
        assert_eq!(last_result(&o.groups["web"]), None);
    }
}
