//! `reroll apply`: from the stack or a saved plan, with `--report` and `--events`, and the
//! exit code of a rollout that failed.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::engine::{self, EngineError};
use reroll::load::{self, Inputs};
use reroll::plan::file::{self as planfile, SavedPlan};
use reroll::plan::render;
use reroll::plan::{self, Plan};

use super::args::{self, CloudKind, VarArgs};
use super::context::{confirm, engine_error, inputs, make_plan, world, Ctx, World};
use super::exit::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PAUSED, EXIT_ROLLED_BACK};
use super::lock::lock;
use super::output::{
    color_stderr, plan_text, print_outputs, print_plan, summary_table, waves_column,
};
use super::plan::{after_preflight, preflight, sources_digest};
use super::{events_file, report_file, view};

/// What `apply` was asked to do, besides the stack.
pub struct ApplyFlags {
    pub auto_approve: bool,
    pub parallelism: usize,
    pub force: bool,
    pub json: bool,
    /// `--report FILE`: the HTML page of the apply.
    pub report: Option<std::path::PathBuf>,
    /// `--events FILE|-`: the apply's events as JSON Lines.
    pub events: Option<std::path::PathBuf>,
    /// `--strict`: a preflight shortfall is an error.
    pub strict: bool,
    /// `--regions`: apply these regions one after another.
    pub regions: Vec<String>,
}

/// `apply` in the command's one region.
pub(super) async fn apply_one(
    ctx: &Ctx,
    path: &Path,
    vars: &VarArgs,
    flags: &ApplyFlags,
) -> Result<u8> {
    open_files(ctx, path, flags)?;
    let events_to_stdout = flags.events.as_deref() == Some(Path::new("-"));
    let (w, mut plan, saved) = if SavedPlan::is_plan_file(path) {
        let saved = SavedPlan::read(path)?;
        // The lock of the stack as planned: its `lock` may come from a saved variable.
        let planned = saved_inputs(&saved, vars);
        lock(ctx, &saved.stack_path, &planned, "reroll apply").await?;
        let (w, plan) = replan_saved(ctx, &saved, vars).await?;
        (w, plan, true)
    } else {
        lock(ctx, path, &inputs(vars, None), "reroll apply").await?;
        let w = world(ctx, path, inputs(vars, ctx.global.region.clone())).await?;
        let plan = make_plan(&w, flags.force)?;
        (w, plan, false)
    };
    report_file::with(&ctx.report, |d| {
        d.stack = plan.stack.clone();
        d.region = plan.region.clone();
        d.plan = Some(plan.clone());
    });
    let found = preflight(&w, &mut plan).await;
    events_file::with(&ctx.events, |log| {
        log.follow(&plan);
        log.write(&reroll::events::Event::plan_made(&plan));
    });
    if events_to_stdout {
        // stdout carries the events alone.
        let mut text = String::new();
        plan_text(&mut text, &plan, flags.json);
        eprintln!("{text}");
    } else {
        print_plan(&plan, flags.json);
    }
    after_preflight(found.as_ref(), flags.strict, flags.json, events_to_stdout)?;
    if !plan.has_changes() {
        report_file::with(&ctx.report, |d| d.result = Some("no changes".into()));
        events_file::with(&ctx.events, |log| log.result = Some("no changes".into()));
        print_outputs(&w.session.stack);
        return Ok(EXIT_OK);
    }
    if !saved && !confirm("Apply these changes?", flags.auto_approve)? {
        report_file::with(&ctx.report, |d| d.result = Some("cancelled".into()));
        events_file::with(&ctx.events, |log| log.result = Some("cancelled".into()));
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }
    let opts = with_files(ctx, flags, &plan, apply_options(ctx, flags.parallelism));
    // Virtual time on a simulated account.
    let started = tokio::time::Instant::now();
    let (result, reports) = engine::execute(&*w.cloud, w.session, &plan, &opts, &ctx.stop).await;
    report_file::with(&ctx.report, |d| d.reports = reports.clone());
    if !reports.is_empty() {
        eprint!("\n{}", summary_table(&reports));
    }
    match result {
        Ok(stack) => {
            eprintln!(
                "Apply complete in {}: {}",
                plan::human_duration(started.elapsed().as_secs()),
                render::summary(&plan).trim_start_matches("Plan: ")
            );
            print_outputs(&stack);
            github_summary(&plan, None, EXIT_OK, &reports);
            Ok(EXIT_OK)
        }
        Err(e) => apply_failed(ctx, &plan, &reports, e),
    }
}

/// `--report` and `--events`: opened before anything else, so that a path that cannot be
/// written stops the apply before it changes anything. The report is written again however
/// the apply ends.
fn open_files(ctx: &Ctx, path: &Path, flags: &ApplyFlags) -> Result<()> {
    if let Some(file) = &flags.report {
        let stack = path.display().to_string();
        let draft = report_file::Draft::start(file, &stack, ctx.global.cloud == CloudKind::Sim)?;
        *ctx.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(draft);
    }
    if let Some(file) = &flags.events {
        let log = events_file::EventLog::open(file)?;
        *ctx.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(log);
    }
    Ok(())
}

/// The apply's progress also goes to the report and the event log, when they are kept; the
/// event log says the apply started.
fn with_files(ctx: &Ctx, flags: &ApplyFlags, plan: &Plan, mut opts: ApplyOptions) -> ApplyOptions {
    if let Some(d) = ctx
        .report
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        opts.progress = opts.progress.and(d.begin());
    }
    if flags.events.is_some() {
        events_file::with(&ctx.events, |log| {
            log.write(&reroll::events::Event::apply_started(plan))
        });
        opts.progress = opts.progress.and(events_file::progress(&ctx.events));
    }
    opts
}

/// An apply that failed: its outcome into the report and the event log, its exit code, and
/// on GitHub Actions the step summary and an error annotation.
fn apply_failed(ctx: &Ctx, plan: &Plan, reports: &[GroupReport], e: EngineError) -> Result<u8> {
    report_file::with(&ctx.report, |d| {
        if let EngineError::Apply(a) = &e {
            d.result = Some(a.outcome().into());
        }
        d.message = Some(e.to_string());
    });
    events_file::with(&ctx.events, |log| {
        if let EngineError::Apply(a) = &e {
            log.result = Some(a.outcome().into());
        }
        log.message = Some(e.to_string());
    });
    let said = match &e {
        EngineError::Apply(a) => Some(a.outcome()),
        _ => None,
    };
    let message = e.to_string();
    let code = rollout_failure(e, "reroll apply");
    let exit = *code.as_ref().unwrap_or(&EXIT_ERROR);
    github_summary(plan, said, exit, reports);
    if events_file::github() {
        eprint!("{}", events_file::error_command("reroll apply", &message));
    }
    code
}

/// On GitHub Actions, the apply's outcome and per-group table in the step summary.
pub(super) fn github_summary(
    plan: &Plan,
    said: Option<&str>,
    exit_code: u8,
    reports: &[GroupReport],
) {
    if !events_file::github() {
        return;
    }
    let outcome = report_file::result_name(said, exit_code);
    let summary =
        events_file::step_summary(&plan.stack, &outcome, exit_code, reports, waves_column);
    events_file::append_step_summary(&summary);
}

pub(super) fn apply_options(ctx: &Ctx, parallelism: usize) -> ApplyOptions {
    let live = color_stderr() && ctx.global.log_format == args::LogFormat::Text;
    ApplyOptions {
        parallelism,
        stats: ctx.stats.clone(),
        poll: Duration::from_secs_f64(ctx.global.poll_seconds.max(0.05)),
        progress: if live {
            // Simulated time moves only when the rollout waits: the view shows it as reported.
            std::sync::Arc::new(view::LiveView::new(ctx.global.cloud != CloudKind::Sim)).progress()
        } else {
            Default::default()
        },
    }
}

/// The exit code and message of a failed rollout, whichever command ran it.
pub(super) fn rollout_failure(e: EngineError, command: &str) -> Result<u8> {
    match e {
        EngineError::Apply(ApplyError::Cleanup {
            address,
            outcome,
            message,
        }) => {
            // The rollout's own outcome first, with its own code; then what is left to undo.
            let code = match outcome {
                Some(outcome) => match rollout_failure(EngineError::Apply(*outcome), command) {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        EXIT_ERROR
                    }
                },
                None => EXIT_PAUSED,
            };
            eprintln!(
                "error: {address}: {message}\nA person must look: `reroll status` shows both \
                 generations."
            );
            Ok(code)
        }
        EngineError::Apply(ApplyError::RolledBack { address, message }) => {
            eprintln!("error: {address}: rollout failed and was rolled back: {message}");
            Ok(EXIT_ROLLED_BACK)
        }
        EngineError::Apply(ApplyError::Paused { address, message }) => {
            eprintln!(
                "error: {address}: rollout stopped part-way: {message}\n\
                 A person must look: `reroll status` shows both generations."
            );
            Ok(EXIT_PAUSED)
        }
        EngineError::Apply(ApplyError::Interrupted { address, message }) => {
            eprintln!("{address}: {message}.\nRun the same `{command}` again to continue.");
            Ok(EXIT_INTERRUPTED)
        }
        e => Err(engine_error(e)),
    }
}

/// The inputs a saved plan was made with: its saved values win over everything but the
/// sensitive ones, which must be given again.
pub(super) fn saved_inputs(saved: &SavedPlan, vars: &VarArgs) -> Inputs {
    let mut inputs = inputs(vars, Some(saved.region.clone()));
    let given = std::mem::take(&mut inputs.cli);
    inputs.values = saved
        .variables
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_value(v.clone()).unwrap_or(hcl::Value::Null),
            )
        })
        .collect();
    inputs.cli = given
        .into_iter()
        .filter(|(k, _)| saved.sensitive_digests.contains_key(k))
        .collect();
    inputs
}

/// Whether `now` is the plan `shown` was, compared as saved: what was observed, every
/// change's action, diffs, schedule and instance fingerprint, and every image copy's source.
pub(super) fn same_plan(now: &Plan, shown: &Plan) -> bool {
    let as_saved = |p: &Plan| serde_json::to_value((&p.changes, &p.copies)).ok();
    now.observed_digest == shown.observed_digest && as_saved(now) == as_saved(shown)
}

/// Rebuilds the world a saved plan was made in and checks that nothing moved since.
pub(super) async fn replan_saved(
    ctx: &Ctx,
    saved: &SavedPlan,
    vars: &VarArgs,
) -> Result<(World, Plan)> {
    let w = world(ctx, &saved.stack_path, saved_inputs(saved, vars)).await?;
    if sources_digest(&w.session) != saved.sources_digest {
        bail!(
            "the stack files under {}, or files they read, changed since the plan was saved; \
             run `reroll plan` again",
            saved.stack_path.display()
        );
    }
    let values = load::vars::root_values(&w.session.parsed, &w.session.inputs, &mut Vec::new());
    for (name, digest) in &saved.sensitive_digests {
        let now = values
            .get(name)
            .map(|v| planfile::value_digest(&serde_json::to_value(&v.value).unwrap_or_default()));
        if now.as_ref() != Some(digest) {
            bail!(
                "sensitive variable \"{name}\" is not the value the plan was made with; give it \
                 again (-var, -var-file or REROLL_VAR_{name}) as when planning"
            );
        }
    }
    let plan = make_plan(&w, saved.force)?;
    if !same_plan(&plan, &saved.plan) {
        bail!(
            "the account changed since the plan was saved, so it cannot be applied as shown; \
             run `reroll plan` again and review the new plan"
        );
    }
    Ok((w, plan))
}
