//! `reroll rollback`: the previous retained generation serves again.

use std::path::Path;

use anyhow::Result;

use reroll::observe;
use reroll::plan::{self, Action};

use super::apply::{apply_options, rollout_failure};
use super::args::VarArgs;
use super::context::{confirm, inputs, world, Ctx, World};
use super::exit::{EXIT_ERROR, EXIT_OK};
use super::lock::lock;
use super::output::summary_table;

/// What the stack file says now that a rollback is done: whether `apply` would roll forward
/// again. Only said when it is known (the stack's variables were given).
pub(super) async fn stack_after_rollback(w: &World) -> String {
    let unknown_definition = w
        .session
        .stack
        .server_groups
        .iter()
        .any(|g| plan::LaunchDefinition::of(&w.session.stack, g).is_none());
    if unknown_definition {
        return "Run `reroll plan` with the stack's variables to compare the stack file with what \
                runs now."
            .into();
    }
    let ahead = match observe::observe(&*w.cloud, &w.session.stack.name).await {
        Ok(observed) => plan::plan(&w.session.stack, &observed, true).map(|p| {
            p.changes
                .iter()
                .filter(|c| c.action == Action::Replace)
                .map(|c| c.address.clone())
                .collect::<Vec<_>>()
        }),
        Err(_) => return "`reroll plan` compares the stack file with what runs now.".into(),
    };
    match ahead {
        Ok(groups) if groups.is_empty() => {
            "The stack file describes what runs now: `reroll plan` has nothing to roll forward."
                .into()
        }
        Ok(groups) => format!(
            "The stack file still describes a newer definition of {}: `reroll plan` shows the \
             difference, and `reroll apply` would roll forward again.",
            groups.join(", ")
        ),
        Err(_) => "`reroll plan` compares the stack file with what runs now.".into(),
    }
}

/// `reroll rollback`: the previous retained generation of each group (or of `--group`)
/// serves again.
pub(super) async fn rollback_command(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    group: Option<&str>,
    auto_approve: bool,
) -> Result<u8> {
    lock(ctx, path, &inputs(vars, None), "reroll rollback").await?;
    let mut allow_missing = inputs(vars, ctx.global.region.clone());
    // The stack's variables do not matter for going back: only its names and groups do.
    allow_missing.allow_missing = true;
    let w = world(ctx, path, allow_missing).await?;
    let targets = reroll::rollback::targets(&w.session.stack, &w.session.observed, group)
        .map_err(|e| anyhow::anyhow!("cannot roll back: {e}"))?;
    println!("reroll will roll back:\n");
    for t in &targets {
        println!("  ↶ {}", t.describe());
    }
    println!();
    if !confirm("Roll back?", auto_approve)? {
        eprintln!("Rollback cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }
    let opts = apply_options(ctx, 1);
    let started = tokio::time::Instant::now();
    let (result, reports) =
        reroll::rollback::execute(&*w.cloud, &w.session, &targets, &opts, &ctx.stop).await;
    if !reports.is_empty() {
        eprint!("\n{}", summary_table(&reports));
    }
    match result {
        Ok(()) => {
            let took = plan::human_duration(started.elapsed().as_secs());
            let after = stack_after_rollback(&w).await;
            eprintln!("Rollback complete in {took}. {after}");
            Ok(EXIT_OK)
        }
        Err(e) => rollout_failure(e, "reroll rollback"),
    }
}
