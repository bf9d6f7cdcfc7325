//! Plan as text a person reads in ten seconds.

use owo_colors::OwoColorize;

use super::types::{Action, Change, Plan, RolloutPlan};

/// Text rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

fn paint(s: &str, action: Action, style: Style) -> String {
    if !style.color {
        return s.to_string();
    }
    match action {
        Action::Create => s.green().to_string(),
        Action::Delete => s.red().to_string(),
        Action::Replace => s.magenta().to_string(),
        Action::Resize | Action::Update | Action::Resume => s.yellow().to_string(),
        Action::NoOp => s.dimmed().to_string(),
    }
}

/// The plan as text. Unchanged resources are listed in one line at the end.
pub fn render(plan: &Plan, style: Style) -> String {
    let mut out = format!("Stack \"{}\" in {}:\n\n", plan.stack, plan.region);
    let width = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| c.address.len())
        .max()
        .unwrap_or(0);
    let width = plan
        .copies
        .iter()
        .map(|c| c.address.len())
        .fold(width, usize::max);
    for c in &plan.copies {
        let head = format!("+ {:<width$}", c.address);
        out.push_str(&format!(
            "  {}  {}\n",
            paint(&head, Action::Create, style),
            c.describe()
        ));
    }
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        render_change(&mut out, c, width, style);
    }
    let unchanged: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::NoOp)
        .map(|c| c.address.as_str())
        .collect();
    if !plan.has_changes() {
        out.push_str("  No changes: the account matches the stack.\n");
    }
    if !unchanged.is_empty() {
        out.push_str(&format!("\n  unchanged: {}\n", unchanged.join(", ")));
    }
    for w in &plan.warnings {
        let line = format!("\nWarning: {w}");
        out.push_str(&if style.color {
            line.yellow().to_string()
        } else {
            line
        });
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

fn render_change(out: &mut String, c: &Change, width: usize, style: Style) {
    let head = format!("{} {:<width$}", c.action.symbol(), c.address);
    out.push_str(&format!(
        "  {}  {}\n",
        paint(&head, c.action, style),
        c.reason
    ));
    let name_width = c
        .diffs
        .iter()
        .map(|d| d.name.len())
        .chain(c.rollout.as_ref().map(|_| "rollout".len()))
        .max()
        .unwrap_or(0);
    for d in &c.diffs {
        // An image is shown by its id and, when known, its name and creation date.
        let labelled =
            |value: &Option<String>, image: &Option<crate::stack::ImageLabel>| match (value, image)
            {
                (Some(v), Some(l)) => format!("{v} ({l})"),
                (Some(v), None) => v.clone(),
                (None, _) => "(none)".to_string(),
            };
        let (before, after) = (
            labelled(&d.before, &d.before_image),
            labelled(&d.after, &d.after_image),
        );
        let arrow = match (&d.before, &d.after) {
            (None, Some(_)) => after.to_string(),
            (Some(_), None) => format!("{before} → (removed)"),
            _ => format!("{before} → {after}"),
        };
        let forces = if d.forces_replacement && c.action == Action::Replace {
            "   (new generation)"
        } else {
            ""
        };
        out.push_str(&format!(
            "        {:<name_width$}  {arrow}{forces}\n",
            d.name
        ));
    }
    if let Some(r) = &c.rollout {
        let line = rollout_line(r);
        out.push_str(&format!("        {:<name_width$}  {line}\n", "rollout"));
    }
}

/// The rollout's line: its strategy and waves, the estimate, and what happens to a generation
/// an interrupted rollout left.
fn rollout_line(r: &RolloutPlan) -> String {
    let waves = r.waves.len();
    let line = match r.from_generation {
        Some(_) if r.strategy == crate::stack::Strategy::BlueGreen => format!(
            "blue/green: launch {} behind new target groups, traffic {}, keep blue {}, \
             about {}",
            r.desired,
            r.traffic_steps
                .iter()
                .map(|p| format!("{p}%"))
                .collect::<Vec<_>>()
                .join(" → "),
            human_duration(r.keep_blue_seconds),
            human_duration(r.estimate_seconds)
        ),
        Some(_) if r.strategy == crate::stack::Strategy::Canary => {
            let mut new = 0;
            let checkpoints: Vec<String> = r
                .waves
                .iter()
                .filter_map(|w| {
                    new += w.launch;
                    (w.bake_seconds > 0)
                        .then(|| format!("{new} new, bake {}", human_duration(w.bake_seconds)))
                })
                .collect();
            let rest = r
                .waves
                .iter()
                .rev()
                .take_while(|w| w.bake_seconds == 0)
                .count();
            format!(
                "canary: {} → the rest in {rest} wave{} (max_surge {}, max_unavailable {}), about {}",
                checkpoints.join(" → "),
                if rest == 1 { "" } else { "s" },
                r.max_surge,
                r.max_unavailable,
                human_duration(r.estimate_seconds)
            )
        }
        Some(_) => {
            let biggest = r.waves.iter().map(|w| w.launch).max().unwrap_or(0);
            format!(
                "{:?}, {waves} wave{} of up to {biggest} (max_surge {}, max_unavailable {}), about {}",
                r.strategy,
                if waves == 1 { "" } else { "s" },
                r.max_surge,
                r.max_unavailable,
                human_duration(r.estimate_seconds)
            )
            .to_lowercase()
        }
        None => format!(
            "launch {} instances, wait until healthy, about {}",
            r.desired,
            human_duration(r.estimate_seconds)
        ),
    };
    match r.abandon_generation {
        Some(n) if r.is_revert() => format!(
            "roll back: v{:03} is restored to {} instances and must be healthy, then \
             v{n:03} drains and is removed, about {}",
            r.to_generation,
            r.desired,
            human_duration(r.estimate_seconds)
        ),
        Some(n) if r.from_generation.is_none() => {
            format!("{line}, then v{n:03} drains and is removed")
        }
        Some(n) => format!("v{n:03} is rolled back first; then {line}"),
        None => line,
    }
}

/// `Plan: 2 to create, 1 to replace, …` — the line CI logs grep for.
pub fn summary(plan: &Plan) -> String {
    if !plan.has_changes() {
        return "Plan: no changes.".into();
    }
    let copies = (!plan.copies.is_empty()).then(|| {
        format!(
            "{} image{} to copy",
            plan.copies.len(),
            if plan.copies.len() == 1 { "" } else { "s" }
        )
    });
    let parts: Vec<String> = copies
        .into_iter()
        .chain(
            [
                (Action::Create, "to create"),
                (Action::Replace, "to replace"),
                (Action::Resize, "to resize"),
                (Action::Update, "to update"),
                (Action::Resume, "to resume"),
                (Action::Delete, "to destroy"),
            ]
            .iter()
            .filter(|(a, _)| plan.count(*a) > 0)
            .map(|(a, what)| format!("{} {what}", plan.count(*a))),
        )
        .collect();
    format!("Plan: {}.", parts.join(", "))
}

/// Durations as reroll prints them everywhere (plans, summaries, simulated time): `4m 30s`,
/// `1h 2m 5s`, whole seconds.
pub fn human_duration(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}
