//! `reroll status`: the table, `--check` and the OpenMetrics exposition.

use std::path::Path;

use anyhow::Result;

use reroll::engine;
use reroll::observe;
use reroll::plan::Action;

use super::args::{self, VarArgs};
use super::context::{connect, inputs, load_offline, Ctx};
use super::exit::{EXIT_ERROR, EXIT_OK};

pub(super) async fn status(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    check: bool,
    format: args::StatusFormat,
) -> Result<u8> {
    let mut offline_inputs = inputs(vars, ctx.global.region.clone());
    offline_inputs.allow_missing = true;
    let (parsed, stack) = load_offline(path, &offline_inputs)?;
    let cloud = connect(ctx, &stack).await?;
    let observed = observe::observe(&*cloud, &stack.name).await?;
    if format == args::StatusFormat::Openmetrics {
        print!("{}", reroll::status::openmetrics(&stack, &observed));
    }
    if !check {
        if format == args::StatusFormat::Text {
            print!("{}", reroll::status::render(&stack, &observed));
        }
        return Ok(EXIT_OK);
    }
    // Drift: what a plan of the stack as it stands would change.
    let full = inputs(vars, ctx.global.region.clone());
    let planned = match engine::session(&*cloud, parsed, full, &stack.name).await {
        Ok(session) => session.plan(false).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let changes: Result<Vec<(String, String, String)>, String> = planned.map(|p| {
        p.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| {
                (
                    c.address.clone(),
                    c.action.name().to_string(),
                    c.reason.clone(),
                )
            })
            .collect()
    });
    let problems = reroll::status::problems(&observed, changes.as_deref().map_err(|e| e.as_str()));
    let out = |line: &str| {
        if format == args::StatusFormat::Text {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    if problems.is_empty() {
        out(&format!(
            "ok: stack \"{}\" in {}: every group serves its desired capacity healthy",
            stack.name, observed.region
        ));
        return Ok(EXIT_OK);
    }
    for p in &problems {
        out(p);
    }
    Ok(EXIT_ERROR)
}
