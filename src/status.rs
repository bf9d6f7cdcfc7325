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
        group_section(&mut out, g);
    }
    balancing_sections(&mut out, observed);
    out
}

/// A server group: its generations as a table, then what is under way or to know about them.
fn group_section(out: &mut String, g: &ObservedGroup) {
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
        if let Some(p) = gen.group.tags.get(crate::cloud::tag::PROGRESS) {
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
            let progress = gen
                .group
                .tags
                .get(crate::cloud::tag::PROGRESS)
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

/// `status --format openmetrics`: Prometheus' text exposition format (for node_exporter's
/// textfile collector): per group and generation desired, in service and healthy; per group
/// whether a rollout is in progress, and the last failed rollout's time.
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
                let t = humantime::parse_rfc3339_weak(at).ok()?;
                let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
                Some((group_labels(g), secs as f64))
            })
            .collect(),
    );
    out.push_str("# EOF\n");
    out
}
