//! `reroll plan`: the plan and its preflight, `--forecast`, and `-out` saved plans.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use reroll::cloud::sim::SimConfig;
use reroll::engine::Session;
use reroll::forecast;
use reroll::load;
use reroll::plan::file::{self as planfile, SavedPlan};
use reroll::plan::{self, Plan};

use super::args::VarArgs;
use super::context::{inputs, make_plan, world, Ctx, World};
use super::exit::{EXIT_CHANGES, EXIT_OK};
use super::output::{human_elapsed, print_plan};

pub(super) struct PlanFlags {
    pub(super) json: bool,
    pub(super) detailed: bool,
    pub(super) force: bool,
    pub(super) forecast: bool,
    pub(super) strict: bool,
    /// `--regions`: plan these regions in order.
    pub(super) regions: Vec<String>,
}

/// Preflight in the plan's region (quotas with surge included, key pairs, instance profiles):
/// shortfalls join the
/// plan's warnings. Nothing to check for a plan without changes.
pub(super) async fn preflight(w: &World, plan: &mut Plan) -> Option<reroll::preflight::Preflight> {
    if !plan.has_changes() {
        return None;
    }
    let account = reroll::preflight::gather(&*w.cloud, &w.session.stack, plan).await;
    let found = reroll::preflight::check(&w.session.stack, plan, &account);
    plan.warnings.extend(found.problems());
    Some(found)
}

/// After the plan: the preflight table (text mode), and with `--strict` an error for any
/// shortfall, before anything changes.
pub(super) fn after_preflight(
    found: Option<&reroll::preflight::Preflight>,
    strict: bool,
    json: bool,
    to_stderr: bool,
) -> Result<()> {
    let Some(found) = found else {
        return Ok(());
    };
    if to_stderr {
        eprintln!("{}", found.render());
    } else if !json {
        println!("{}", found.render());
    }
    let problems = found.problems();
    if strict && !problems.is_empty() {
        bail!(
            "preflight in {} found {} shortfall{} (--strict):\n  - {}\nNothing was changed. \
             Ask for a quota increase (Service Quotas), lower the stack's capacity or surge, or \
             create what is missing, then plan again",
            found.region,
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  - ")
        );
    }
    Ok(())
}

/// `plan` in the command's one region.
pub(super) async fn plan_one(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    out: Option<&Path>,
    flags: PlanFlags,
) -> Result<u8> {
    let PlanFlags {
        json,
        detailed,
        force,
        forecast,
        strict,
        regions: _,
    } = flags;
    let w = world(ctx, path, inputs(vars, ctx.global.region.clone())).await?;
    let mut plan = make_plan(&w, force)?;
    let found = preflight(&w, &mut plan).await;
    print_plan(&plan, json);
    after_preflight(found.as_ref(), strict, json, false)?;
    if forecast {
        forecast_command(&w, &plan, force).await?;
    }
    if let Some(out) = out {
        save_plan(&w, &plan, path, force, out)?;
        eprintln!(
            "Saved the plan to {}; apply exactly it with: reroll apply {}",
            out.display(),
            out.display()
        );
    }
    Ok(if detailed && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// `plan --forecast`: the plan played forward in a simulated copy of what was observed.
pub(super) async fn forecast_command(w: &World, plan: &Plan, force: bool) -> Result<()> {
    if !plan.changes.iter().any(|c| c.rollout.is_some()) {
        eprintln!("\nForecast: nothing to roll out.");
        return Ok(());
    }
    let seed = forecast::seed(&*w.cloud, &w.session)
        .await
        .context("cannot read the account for the forecast")?;
    let config = SimConfig {
        region: w.cloud.region().to_string(),
        ..SimConfig::default()
    };
    let input = forecast::ForecastInput {
        parsed: w.session.parsed.clone(),
        inputs: w.session.inputs.clone(),
        known: w.session.known.clone(),
        seed,
        plan: plan.clone(),
        config,
        force,
        parallelism: 10,
    };
    let wall = std::time::Instant::now();
    let f = tokio::task::spawn_blocking(move || forecast::forecast(input))
        .await
        .context("the forecast stopped")??;
    println!("{}", render_forecast(&f, wall.elapsed()));
    Ok(())
}

pub(super) fn render_forecast(f: &forecast::Forecast, wall: Duration) -> String {
    let c = &f.config;
    let mut out = format!(
        "\nForecast: a prediction from a model, not a measurement. The plan was played forward\n\
         in a simulated copy of what was observed: instances boot in {}-{}s, health checks and\n\
         deregistration delays are each target group's own, AWS's published rate limits apply.\n\
         Nothing real was changed.\n",
        c.boot_time.min, c.boot_time.max
    );
    for (address, action) in &f.differences {
        out.push_str(&format!(
            "  note: the model planned {address} as {action:?}, unlike the plan above\n"
        ));
    }
    let t = |d: Option<Duration>| {
        d.map_or_else(|| "-".to_string(), |d| plan::human_duration(d.as_secs()))
    };
    for (address, from, took) in &f.copies {
        out.push_str(&format!(
            "\n{address}  copy from {from}: {} (the copy-time model), before any group starts\n",
            plan::human_duration(took.as_secs())
        ));
    }
    for g in &f.groups {
        let gen = match g.from {
            Some(from) => format!("v{from:03} → v{:03}", g.to),
            None => format!("v{:03}", g.to),
        };
        out.push_str(&format!(
            "\n{}  {gen}, {} instances: {} at {}\n",
            g.address,
            g.desired,
            g.result,
            human_elapsed(g.finished)
        ));
        out.push_str(&format!(
            "  {:>4}  {:>6}  {:>5}  {:>9}  {:>9}  {:>9}\n",
            "wave", "launch", "drain", "start", "healthy", "drained"
        ));
        for (n, w) in g.waves.iter().enumerate() {
            out.push_str(&format!(
                "  {:>4}  {:>6}  {:>5}  {:>9}  {:>9}  {:>9}\n",
                n + 1,
                w.launch,
                w.drain,
                t(w.start),
                t(w.healthy),
                t(w.drained)
            ));
        }
    }
    for (address, desired, took, result) in &f.created {
        out.push_str(&format!(
            "\n{address}  v001, {desired} instances: {result}, launched and healthy in {}\n",
            plan::human_duration(took.as_secs())
        ));
    }
    if let Some(failure) = &f.failure {
        out.push_str(&format!("\nIn the model, the apply failed: {failure}\n"));
    }
    out.push_str(&format!(
        "\nPredicted duration: {} ({} API calls in the model; forecast computed in {:.1?})",
        human_elapsed(f.total),
        f.calls,
        wall
    ));
    out
}

pub(super) fn sources_digest(session: &Session) -> String {
    planfile::sources_digest(&session.parsed, &session.inputs.files)
}

pub(super) fn save_plan(
    w: &World,
    plan: &Plan,
    path: &Path,
    force: bool,
    out: &Path,
) -> Result<()> {
    let values = load::vars::root_values(&w.session.parsed, &w.session.inputs, &mut Vec::new());
    let mut variables = std::collections::BTreeMap::new();
    let mut sensitive_digests = std::collections::BTreeMap::new();
    for (name, v) in values {
        let json = serde_json::to_value(&v.value).unwrap_or(serde_json::Value::Null);
        if v.sensitive {
            sensitive_digests.insert(name, planfile::value_digest(&json));
        } else {
            variables.insert(name, json);
        }
    }
    let saved = SavedPlan {
        kind: planfile::MAGIC.into(),
        format_version: plan::FORMAT_VERSION,
        stack_path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        sources_digest: sources_digest(&w.session),
        region: plan.region.clone(),
        variables,
        sensitive_digests,
        force,
        plan: plan.clone(),
    };
    saved.write(out)?;
    Ok(())
}
