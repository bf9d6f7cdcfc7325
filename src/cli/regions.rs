//! Several regions in one command: which regions a `plan` or `apply` goes through (`--regions`,
//! else `--region`, else the stack's `regions`, else its `region`), the per-region context
//! (its own region and, on a simulated account, its own `--sim-state` file), and `plan` over
//! several regions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Result};

use reroll::plan::Plan;
use reroll::preflight::Preflight;

use super::args::VarArgs;
use super::context::{inputs, make_plan, save_sim, world, Ctx, World};
use super::exit::{EXIT_CHANGES, EXIT_OK};
use super::output::{human_elapsed, plan_json, print_plan};
use super::plan::{after_preflight, forecast_command, plan_one, preflight, PlanFlags};

/// The regions a command goes through.
pub(super) enum Targets {
    /// The command's own region, as it always was: `--region`, else the stack's `region`.
    Here,
    /// One region named by `--regions` or the stack's `regions`.
    One(String),
    /// Several regions, in order, and the bake between two of them.
    Many(Vec<String>, Duration),
}

/// `--regions` beats `--region`, which beats the stack's `regions`, which beats its `region`.
pub(super) fn targets(ctx: &Ctx, path: &Path, vars: &VarArgs, flag: &[String]) -> Result<Targets> {
    if flag.is_empty() && ctx.global.region.is_some() {
        return Ok(Targets::Here);
    }
    if !flag.is_empty() {
        check_flag(flag)?;
    }
    // A stack that does not load goes the usual way, which reports its problems.
    let stack = match reroll::load::load(path, &inputs(vars, None)) {
        Ok((_, stack)) => stack,
        Err(_) if flag.is_empty() => return Ok(Targets::Here),
        Err(_) => Default::default(),
    };
    let bake = stack.region_bake.unwrap_or_default();
    let list = match flag.is_empty() {
        true => stack.regions,
        false => flag.to_vec(),
    };
    Ok(match list.len() {
        0 => Targets::Here,
        1 => Targets::One(list[0].clone()),
        _ => Targets::Many(list, bake),
    })
}

fn check_flag(flag: &[String]) -> Result<()> {
    for (i, region) in flag.iter().enumerate() {
        if !reroll::stack::is_region_name(region) {
            bail!(
                "--regions: {region:?} is not an AWS region name; give names such as \
                 --regions us-east-1,eu-west-1"
            );
        }
        if flag[..i].contains(region) {
            bail!("--regions lists {region} twice; list each region once");
        }
    }
    Ok(())
}

/// The `--sim-state` file of one region when a command goes through several:
/// `state.json` → `state.eu-west-1.json`.
pub(super) fn region_file(path: &Path, region: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{region}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{region}"),
    };
    path.with_file_name(name)
}

/// The command's context in `region`: the same stop request, lock slot, statistics and files,
/// its own cloud. With `own_file`, a simulated account is kept in the region's own file.
pub(super) fn in_region(ctx: &Ctx, region: &str, own_file: bool) -> Ctx {
    let mut global = ctx.global.clone();
    global.region = Some(region.to_string());
    if own_file {
        global.sim_state = global.sim_state.map(|p| region_file(&p, region));
    }
    Ctx {
        global,
        stats: ctx.stats.clone(),
        stop: ctx.stop.clone(),
        sim: Arc::new(OnceLock::new()),
        sim_opened_at: OnceLock::new(),
        wall: ctx.wall,
        held: ctx.held.clone(),
        report: ctx.report.clone(),
        events: ctx.events.clone(),
    }
}

/// A region's simulated account saved to its file, and its simulated time.
pub(super) fn finish_region(ctx: &Ctx) {
    if let Some(sim) = ctx.sim.get() {
        save_sim(sim, ctx.global.sim_state.as_deref());
        eprintln!(
            "simulated time in {}: {}",
            reroll::cloud::Cloud::region(&**sim),
            human_elapsed(sim.elapsed().saturating_sub(ctx.sim_started()))
        );
    }
}

/// One region's world and plan, with its preflight.
pub(super) async fn plan_region(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    force: bool,
) -> Result<(World, Plan, Option<Preflight>)> {
    let w = world(ctx, path, inputs(vars, ctx.global.region.clone())).await?;
    let mut plan = make_plan(&w, force)?;
    let found = preflight(&w, &mut plan).await;
    Ok((w, plan, found))
}

/// The heading a region's plan is printed under.
pub(super) fn region_heading(region: &str) -> String {
    format!("\n=== Region {region} ===\n")
}

/// Every region's plan as `--json` prints it: a list of the single-region objects.
pub(super) fn plans_json(plans: &[&Plan]) -> String {
    let list: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| serde_json::from_str(&plan_json(p)).unwrap_or_default())
        .collect();
    serde_json::to_string_pretty(&list).expect("json")
}

/// `reroll plan`: in the command's region, or region by region.
pub(super) async fn plan_command(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    out: Option<&Path>,
    flags: PlanFlags,
) -> Result<u8> {
    match targets(ctx, path, vars, &flags.regions)? {
        Targets::Here => plan_one(ctx, path, vars, out, flags).await,
        Targets::One(region) => {
            let rctx = in_region(ctx, &region, false);
            let code = plan_one(&rctx, path, vars, out, flags).await;
            finish_region(&rctx);
            code
        }
        Targets::Many(regions, _) => plan_many(ctx, path, vars, out, &flags, &regions).await,
    }
}

/// `plan` over several regions: each planned in order and printed under its heading.
pub(super) async fn plan_many(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    out: Option<&Path>,
    flags: &PlanFlags,
    regions: &[String],
) -> Result<u8> {
    if out.is_some() {
        bail!(
            "a saved plan holds one region, and this plan covers {}: save one plan per region \
             (`reroll plan --regions R --out plan-R.bin`) and apply each",
            regions.join(", ")
        );
    }
    let mut plans = Vec::new();
    for region in regions {
        let rctx = in_region(ctx, region, true);
        let (w, plan, found) = plan_region(&rctx, path, vars, flags.force).await?;
        if !flags.json {
            println!("{}", region_heading(region));
            print_plan(&plan, false);
        }
        after_preflight(found.as_ref(), flags.strict, flags.json, false)?;
        if flags.forecast {
            forecast_command(&w, &plan, flags.force).await?;
        }
        finish_region(&rctx);
        plans.push(plan);
    }
    if flags.json {
        println!("{}", plans_json(&plans.iter().collect::<Vec<_>>()));
    }
    let changes = plans.iter().any(|p| p.has_changes());
    Ok(if flags.detailed && changes {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}
