//! `reroll apply` region by region: every region planned and shown before one confirmation,
//! then each applied in order under its own lock, exactly as shown, with the stack's
//! `region_bake` between two regions; the first region that does not succeed stops the rest.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use reroll::engine;
use reroll::plan::file::SavedPlan;
use reroll::plan::{self, render, Plan};

use super::apply::{apply_one, apply_options, rollout_failure, same_plan, ApplyFlags};
use super::args::VarArgs;
use super::context::{confirm, inputs, make_plan, release_lock, world, Ctx};
use super::exit::{Exit, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PAUSED};
use super::lock::lock;
use super::output::{print_outputs, print_plan, summary_table};
use super::plan::after_preflight;
use super::regions::{
    finish_region, in_region, plan_region, plans_json, region_heading, targets, Targets,
};

/// `reroll apply`: a saved plan or the command's region as always, else region by region.
pub(super) async fn apply_command(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    flags: &ApplyFlags,
) -> Result<u8> {
    if SavedPlan::is_plan_file(path) {
        if !flags.regions.is_empty() {
            bail!("a saved plan holds the one region it was made in; apply it without --regions");
        }
        return apply_one(ctx, path, vars, flags).await;
    }
    match targets(ctx, path, vars, &flags.regions)? {
        Targets::Here => apply_one(ctx, path, vars, flags).await,
        Targets::One(region) => {
            let rctx = in_region(ctx, &region, false);
            let code = apply_one(&rctx, path, vars, flags).await;
            finish_region(&rctx);
            code
        }
        Targets::Many(regions, bake) => apply_many(ctx, path, vars, flags, &regions, bake).await,
    }
}

/// What became of each region.
#[derive(Default)]
struct Outcomes {
    applied: Vec<String>,
    failed: Option<(String, u8)>,
    not_started: Vec<String>,
}

impl Outcomes {
    fn summary(&self, took: Duration) -> String {
        let list = |l: &[String]| match l.is_empty() {
            true => "none".to_string(),
            false => l.join(", "),
        };
        let failed = match &self.failed {
            Some((region, code)) => format!("{region} (exit {code})"),
            None => "none".into(),
        };
        format!(
            "Regions after {}: applied: {}; failed: {failed}; not started: {}",
            plan::human_duration(took.as_secs()),
            list(&self.applied),
            list(&self.not_started)
        )
    }
}

async fn apply_many(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    flags: &ApplyFlags,
    regions: &[String],
    bake: Duration,
) -> Result<u8> {
    if flags.report.is_some() || flags.events.is_some() {
        bail!(
            "--report and --events record one region's apply; with several regions, apply \
             each with --region R and its own --report or --events file"
        );
    }
    let started = tokio::time::Instant::now();
    let mut shown = Vec::new();
    for region in regions {
        let rctx = in_region(ctx, region, true);
        let (_, plan, found) = plan_region(&rctx, path, vars, flags.force).await?;
        if !flags.json {
            println!("{}", region_heading(region));
            print_plan(&plan, false);
        }
        after_preflight(found.as_ref(), flags.strict, flags.json, false)?;
        shown.push((rctx, plan));
    }
    if flags.json {
        println!(
            "{}",
            plans_json(&shown.iter().map(|(_, p)| p).collect::<Vec<_>>())
        );
    }
    if shown.iter().all(|(_, p)| !p.has_changes()) {
        eprintln!("No changes in any of {}.", regions.join(", "));
        return Ok(EXIT_OK);
    }
    let question = format!(
        "Apply these changes in {}, in this order?",
        regions.join(", ")
    );
    if !confirm(&question, flags.auto_approve)? {
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }
    let mut outcomes = Outcomes::default();
    let mut code = EXIT_OK;
    for (i, (rctx, plan)) in shown.iter().enumerate() {
        let region = &regions[i];
        if code != EXIT_OK {
            outcomes.not_started.push(region.clone());
            continue;
        }
        if i > 0 && !baked(ctx, bake, region).await {
            eprintln!(
                "Stopped before {region}: nothing was started there. Run the same `reroll \
                 apply` again to continue."
            );
            outcomes.not_started.push(region.clone());
            code = EXIT_INTERRUPTED;
            continue;
        }
        eprintln!("{}", region_heading(region));
        let result = apply_region(rctx, path, vars, flags, plan).await;
        release_lock(&ctx.held, Duration::from_secs(30)).await;
        finish_region(rctx);
        code = exit_of(result);
        match code {
            EXIT_OK => outcomes.applied.push(region.clone()),
            _ => outcomes.failed = Some((region.clone(), code)),
        }
    }
    eprintln!("\n{}", outcomes.summary(started.elapsed()));
    Ok(code)
}

/// `region_bake` before the next region, printed; false when Ctrl-C asked to stop.
async fn baked(ctx: &Ctx, bake: Duration, next: &str) -> bool {
    if !bake.is_zero() {
        eprintln!(
            "\nbaking {} before {next}",
            plan::human_duration(bake.as_secs())
        );
        let end = tokio::time::Instant::now() + bake;
        while tokio::time::Instant::now() < end && !ctx.stop.requested() {
            let left = end - tokio::time::Instant::now();
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
    }
    !ctx.stop.requested()
}

/// A region's outcome as an exit code; its errors are printed here.
fn exit_of(result: Result<u8>) -> u8 {
    match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(Exit(code)) => *code,
            None => {
                eprintln!("error: {e:#}");
                EXIT_ERROR
            }
        },
    }
}

/// One region under its lock: observed again, applied only when its plan is still the one
/// shown for it.
async fn apply_region(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    flags: &ApplyFlags,
    shown: &Plan,
) -> Result<u8> {
    let region = ctx.global.region.clone().unwrap_or_default();
    if !shown.has_changes() {
        eprintln!("{region}: no changes.");
        return Ok(EXIT_OK);
    }
    let here = inputs(vars, Some(region.clone()));
    lock(ctx, path, &here, "reroll apply").await?;
    let w = world(ctx, path, here).await?;
    let plan = make_plan(&w, flags.force)?;
    if !same_plan(&plan, shown) {
        bail!(
            "{region}: the account changed since its plan was shown, so it cannot be applied \
             as approved; run `reroll apply` again and review the new plan"
        );
    }
    let opts = apply_options(ctx, flags.parallelism);
    let started = tokio::time::Instant::now();
    let (result, reports) = engine::execute(&*w.cloud, w.session, &plan, &opts, &ctx.stop).await;
    if !reports.is_empty() {
        eprint!("\n{}", summary_table(&reports));
    }
    if ctx.lock_lost().is_some() {
        eprintln!(
            "error: {region}: this command lost its lock while it ran; look at `reroll status` \
             before applying again."
        );
        return Ok(EXIT_PAUSED);
    }
    match result {
        Ok(stack) => {
            eprintln!(
                "Apply complete in {region} in {}: {}",
                plan::human_duration(started.elapsed().as_secs()),
                render::summary(&plan).trim_start_matches("Plan: ")
            );
            print_outputs(&stack);
            Ok(EXIT_OK)
        }
        Err(e) => rollout_failure(e, "reroll apply"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn ctx() -> Ctx {
        let cli = super::super::args::Cli::parse_from(["reroll", "--cloud", "sim", "plan", "."]);
        Ctx {
            global: cli.global,
            stats: Default::default(),
            stop: Default::default(),
            sim: Default::default(),
            sim_opened_at: Default::default(),
            wall: std::time::Instant::now(),
            held: Default::default(),
            report: Default::default(),
            events: Default::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_bake_waits_its_whole_time() {
        let started = tokio::time::Instant::now();
        assert!(baked(&ctx(), Duration::from_secs(600), "eu-west-1").await);
        assert_eq!(started.elapsed().as_secs(), 600);
    }

    #[tokio::test(start_paused = true)]
    async fn ctrl_c_during_the_bake_stops_before_the_next_region() {
        let ctx = ctx();
        let stop = ctx.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(90)).await;
            stop.request();
        });
        let started = tokio::time::Instant::now();
        assert!(!baked(&ctx, Duration::from_secs(600), "eu-west-1").await);
        assert!(started.elapsed().as_secs() <= 91, "{:?}", started.elapsed());
    }
}
