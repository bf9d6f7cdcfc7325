//! What commands print: colour on terminals only, durations, the plan as text or JSON, the
//! per-group summary table and the stack's outputs.

use std::io::IsTerminal;
use std::time::Duration;

use reroll::apply::GroupReport;
use reroll::plan::render::{self, Style};
use reroll::plan::{self, Action, Plan};
use reroll::stack::Stack;

pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// `41m 12s`: the one way durations are printed.
pub(super) fn human_elapsed(d: Duration) -> String {
    plan::human_duration(d.as_secs())
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(super) fn print_plan(plan: &Plan, json: bool) {
    let mut text = String::new();
    plan_text(&mut text, plan, json);
    println!("{text}");
}

/// The plan as `plan` prints it. It holds no sensitive value: `plan::plan` shows each as
/// `(sensitive)`.
pub(super) fn plan_text(out: &mut String, plan: &Plan, json: bool) {
    let text = if json {
        plan_json(plan)
    } else {
        render::render(
            plan,
            Style {
                color: color_stdout(),
            },
        )
    };
    out.push_str(&text);
}

/// The plan's JSON form (documented in the README): the plan plus a summary.
pub(super) fn plan_json(plan: &Plan) -> String {
    let mut v = serde_json::to_value(plan).expect("plan serializes");
    let summary = serde_json::json!({
        "create": plan.count(Action::Create),
        "replace": plan.count(Action::Replace),
        "resize": plan.count(Action::Resize),
        "update": plan.count(Action::Update),
        "resume": plan.count(Action::Resume),
        "delete": plan.count(Action::Delete),
        "copy": plan.copies.len(),
        "has_changes": plan.has_changes(),
    });
    v["summary"] = summary;
    serde_json::to_string_pretty(&v).expect("json")
}

/// Per group: the generation change, waves, duration and result.
pub(super) fn summary_table(reports: &[GroupReport]) -> String {
    let width = reports
        .iter()
        .map(|r| r.address.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:<width$}  {:<8}  {:<12}  {:>5}  {:>9}  result\n",
        "group", "action", "generation", "waves", "duration"
    );
    for r in reports {
        let gen = r.generations();
        out.push_str(&format!(
            "{:<width$}  {:<8}  {:<12}  {:>5}  {:>9}  {}\n",
            r.address,
            format!("{:?}", r.action).to_lowercase(),
            gen,
            waves_column(r),
            plan::human_duration(r.duration.as_secs()),
            r.result
        ));
    }
    out
}

/// Waves as the plan counts them: all of them, or the ones got through of the plan's when a
/// change ended early (`2/4`); `-` for a change that has none (a resize).
pub(super) fn waves_column(r: &GroupReport) -> String {
    match (r.waves, r.planned_waves) {
        (0, 0) => "-".into(),
        (done, planned) if done >= planned => done.to_string(),
        (done, planned) => format!("{done}/{planned}"),
    }
}

pub(super) fn print_outputs(stack: &Stack) {
    if stack.outputs.is_empty() {
        return;
    }
    println!("\nOutputs:");
    for o in &stack.outputs {
        let value = if o.sensitive {
            "(sensitive)".to_string()
        } else {
            match &o.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        };
        println!("  {} = {value}", o.name);
    }
}
