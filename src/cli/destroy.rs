//! `reroll destroy`: everything the stack owns, deleted.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use reroll::apply::{self, ApplyOptions};
use reroll::observe;
use reroll::plan::{self, Action};
use reroll::stack::Stack;

use super::args::VarArgs;
use super::context::{confirm, connect, inputs, load_offline, Ctx};
use super::exit::{EXIT_ERROR, EXIT_OK};
use super::lock::lock;
use super::output::print_plan;

pub(super) async fn destroy(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    auto_approve: bool,
) -> Result<u8> {
    let mut inputs = inputs(vars, ctx.global.region.clone());
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &stack).await?;
    lock(ctx, path, &inputs, "reroll destroy").await?;
    let observed = observe::observe(&*cloud, &stack.name).await?;
    let empty = Stack {
        name: stack.name.clone(),
        region: stack.region.clone(),
        ..Default::default()
    };
    let plan = plan::destroy_plan(plan::plan(&empty, &observed, true)?);
    print_plan(&plan, false);
    if !plan.has_changes() {
        return Ok(EXIT_OK);
    }
    if !confirm(
        &format!(
            "Destroy everything stack \"{}\" owns in {}?",
            stack.name,
            cloud.region()
        ),
        auto_approve,
    )? {
        eprintln!("Destroy cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }
    let opts = ApplyOptions {
        poll: Duration::from_secs_f64(ctx.global.poll_seconds.max(0.05)),
        stats: ctx.stats.clone(),
        ..Default::default()
    };
    apply::deletions(&*cloud, &plan, &observed, &opts).await?;
    eprintln!(
        "Destroy complete: {} resources removed.",
        plan.count(Action::Delete)
    );
    Ok(EXIT_OK)
}
