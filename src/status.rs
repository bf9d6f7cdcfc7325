//! `reroll status`: what runs, per server group and generation, as a table.

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
            if let Some(t) =
                gen.group.tags.get(crate::cloud::tag::TRAFFIC).filter(|t| {
                    gen.state == crate::observe::GenerationState::Rolling && !t.is_empty()
                })
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
            let healthy = c.health.iter().filter(|t| t.state == "healthy").count();
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
    out
}
