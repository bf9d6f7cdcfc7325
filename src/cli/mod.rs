//! Commands: each one loads, connects, observes, plans and applies by calling the library, and
//! maps the outcome to an exit code. anyhow lives here and nowhere else.

pub mod args;
pub mod events_file;
pub mod logging;
pub mod report_file;
pub mod view;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use reroll::apply::rollout::Stop;
use reroll::apply::{self, ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::Cloud;
use reroll::engine::{self, EngineError, Session};
use reroll::forecast;
use reroll::load::{self, Diagnostics, Inputs, Parsed};
use reroll::lock::{self as stack_lock, Held, LockKey, LockSetting, LockUrl, Unlocked};
use reroll::observe;
use reroll::plan::file::{self as planfile, SavedPlan};
use reroll::plan::render::{self, Style};
use reroll::plan::{self, Action, Plan};
use reroll::stack::Stack;

use args::{Cli, CloudKind, Command, Global, VarArgs};

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_ROLLED_BACK: u8 = 3;
pub const EXIT_PAUSED: u8 = 4;
pub const EXIT_INTERRUPTED: u8 = 130;

/// An error that already printed itself and carries its exit code.
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

pub async fn run(cli: Cli) -> u8 {
    let stats = Stats::new();
    let stop = Stop::new();
    let sim = Arc::new(OnceLock::new());
    let held: HeldLock = Arc::default();
    let report: report_file::Slot = Arc::default();
    let events: events_file::Slot = Arc::default();
    let ctx = Ctx {
        global: cli.global,
        stats: stats.clone(),
        stop: stop.clone(),
        sim: sim.clone(),
        sim_opened_at: OnceLock::new(),
        wall: std::time::Instant::now(),
        held: held.clone(),
        report: report.clone(),
        events: events.clone(),
    };
    let sim_state = ctx.global.sim_state.clone();
    // First Ctrl-C: stop launching, finish the step in flight, leave a consistent state.
    // Second Ctrl-C: leave at once (everything is tagged; apply again picks it up).
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nStopping: no new instances are launched; drains in flight finish. \
                 Press Ctrl-C again to leave at once."
            );
            stop.request();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nLeft at once. Everything reroll made is tagged: run apply again to continue."
            );
            if let Some(sim) = sim.get() {
                save_sim(sim, sim_state.as_deref());
            }
            let why = "left at once on a second Ctrl-C: steps in flight may not have finished";
            report_file::finish(&report, EXIT_INTERRUPTED, Some(why));
            events_file::finish(&events, EXIT_INTERRUPTED, Some(why));
            release_lock(&held, Duration::from_secs(5)).await;
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
    let result = dispatch(&ctx, cli.command).await;
    let lost = ctx.lock_lost();
    release_lock(&ctx.held, Duration::from_secs(30)).await;
    if ctx.global.stats {
        eprintln!("\nAWS API calls:\n{}", stats.render());
    }
    if let Some(sim) = ctx.sim.get() {
        // Saved whatever the outcome: a failed or interrupted apply continues from here.
        save_sim(sim, ctx.global.sim_state.as_deref());
        eprintln!(
            "simulated time: {} (wall {:.1?}, of which {:.1?} in the simulator)",
            human_elapsed(sim.elapsed().saturating_sub(ctx.sim_started())),
            ctx.wall.elapsed(),
            sim.busy()
        );
    }
    let mut error = None;
    let code = match result {
        Ok(code) => code,
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(Exit(code)) => *code,
            None => {
                eprintln!("error: {e:#}");
                error = Some(format!("{e:#}"));
                EXIT_ERROR
            }
        },
    };
    let code = match lost {
        // Another command may have been changing the stack at the same time: a person must
        // look, whatever this one reached.
        Some(_) if matches!(code, EXIT_OK | EXIT_INTERRUPTED) => {
            let lost = "this command lost its lock while it ran (see above); look at \
                        `reroll status` before applying again.";
            eprintln!("error: {lost}");
            error = Some(lost.into());
            if let Some(d) = ctx
                .report
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                d.result = Some("lost its lock".into());
                d.message = Some(lost.into());
            }
            events_file::with(&ctx.events, |log| {
                log.result = Some("lost its lock".into());
                log.message = Some(lost.into());
            });
            EXIT_PAUSED
        }
        _ => code,
    };
    report_file::finish(&ctx.report, code, error.as_deref());
    events_file::finish(&ctx.events, code, error.as_deref());
    code
}

/// The lock a command holds, shared with the Ctrl-C handler so that leaving at once still
/// gives it back.
type HeldLock = Arc<Mutex<Option<Held>>>;

/// Gives back the command's lock, if it holds one, waiting at most `patience`.
async fn release_lock(held: &HeldLock, patience: Duration) {
    let Some(lock) = held.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let id = lock.record().id.clone();
    match tokio::time::timeout(patience, lock.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("error: cannot release the lock {id}: {e}"),
        Err(_) => eprintln!(
            "error: releasing the lock {id} took longer than {patience:?}; its lease goes \
             stale by itself, then `reroll force-unlock PATH {id}` removes it"
        ),
    }
}

struct Ctx {
    global: Global,
    stats: Stats,
    stop: Stop,
    /// The simulated account, once a command asked for it (`--cloud sim`).
    sim: Arc<OnceLock<Arc<SimCloud>>>,
    sim_opened_at: OnceLock<Duration>,
    wall: std::time::Instant,
    /// The stack lock this command holds (`lock`), released when the command ends.
    held: HeldLock,
    /// `apply --report`: the page kept as the apply goes, written when it ends.
    report: report_file::Slot,
    /// `apply --events`: the event log, its `done` line written when the command ends.
    events: events_file::Slot,
}

impl Ctx {
    /// Set when the command's lock was lost while it ran.
    fn lock_lost(&self) -> Option<Arc<stack_lock::LockLost>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()?.lost()?.borrow().clone()
    }

    /// Simulated time of the account when this command opened it.
    fn sim_started(&self) -> Duration {
        self.sim_opened_at.get().copied().unwrap_or_default()
    }

    /// The simulated account: loaded from `--sim-state` when that file exists, else empty.
    fn sim_cloud(&self, stack: &Stack) -> Result<Arc<SimCloud>> {
        if let Some(sim) = self.sim.get() {
            return Ok(sim.clone());
        }
        let region = self
            .global
            .region
            .clone()
            .or_else(|| stack.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let sim = match &self.global.sim_state {
            Some(path) if path.exists() => {
                let sim = SimCloud::load(path, self.stats.clone()).with_context(|| {
                    format!("cannot read the simulated account in {}", path.display())
                })?;
                if reroll::cloud::Cloud::region(&sim) != region {
                    bail!(
                        "{} holds a simulated account in {}, not {region}; use another \
                         --sim-state file for another region",
                        path.display(),
                        reroll::cloud::Cloud::region(&sim)
                    );
                }
                sim
            }
            _ => SimCloud::new(
                SimConfig {
                    region,
                    ..SimConfig::default()
                },
                self.stats.clone(),
            ),
        };
        let _ = self.sim_opened_at.set(sim.elapsed());
        Ok(self.sim.get_or_init(|| Arc::new(sim)).clone())
    }
}

fn save_sim(sim: &SimCloud, path: Option<&Path>) {
    if let Some(path) = path {
        if let Err(e) = sim.save(path) {
            eprintln!(
                "error: cannot save the simulated account to {}: {e}",
                path.display()
            );
        }
    }
}

/// `41m 12s`: the one way durations are printed.
fn human_elapsed(d: Duration) -> String {
    plan::human_duration(d.as_secs())
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<u8> {
    match command {
        Command::Validate { path, vars } => validate(&path, &vars),
        Command::Plan {
            path,
            vars,
            out,
            json,
            detailed_exitcode,
            force,
            forecast,
            strict,
        } => {
            let flags = PlanFlags {
                json,
                detailed: detailed_exitcode,
                force,
                forecast,
                strict,
            };
            plan_command(ctx, &path, &vars, out.as_deref(), flags).await
        }
        Command::Apply {
            path,
            vars,
            auto_approve,
            parallelism,
            force,
            json,
            report,
            events,
            strict,
        } => {
            let flags = ApplyFlags {
                auto_approve,
                parallelism,
                force,
                json,
                report,
                events,
                strict,
            };
            apply_command(ctx, &path, &vars, &flags).await
        }
        Command::Status {
            path,
            vars,
            check,
            format,
        } => status(ctx, &path, &vars, check, format).await,
        Command::Rollback {
            path,
            vars,
            group,
            auto_approve,
        } => rollback_command(ctx, &path, &vars, group.as_deref(), auto_approve).await,
        Command::Destroy {
            path,
            vars,
            auto_approve,
        } => destroy(ctx, &path, &vars, auto_approve).await,
        Command::ForceUnlock {
            path,
            lock_id,
            vars,
        } => force_unlock(ctx, &path, lock_id.as_deref(), &vars).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut args::Cli::command(),
                "reroll",
                &mut std::io::stdout(),
            );
            Ok(EXIT_OK)
        }
    }
}

fn inputs(vars: &VarArgs, region: Option<String>) -> Inputs {
    Inputs {
        cli: vars.vars.clone(),
        files: vars.var_files.clone(),
        region_override: region,
        ..Default::default()
    }
    .with_process_env()
}

/// Prints stack problems and turns them into an exit.
fn report(d: &Diagnostics) -> anyhow::Error {
    eprint!("{}", d.render(color_stderr()));
    if events_file::github() {
        eprint!("{}", events_file::error_commands(d));
    }
    anyhow::Error::new(Exit(EXIT_ERROR))
}

/// Parses and evaluates with nothing known from the cloud: every static problem, no AWS.
fn load_offline(path: &Path, inputs: &Inputs) -> Result<(Parsed, Stack)> {
    load::load(path, inputs).map_err(|d| report(&d))
}

fn validate(path: &Path, vars: &VarArgs) -> Result<u8> {
    let mut inputs = inputs(vars, None);
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    println!(
        "The stack \"{}\" is valid: {} server group{}, {} target group{}, {} load balancer{}, {} image and {} network lookup{}.",
        stack.name,
        stack.server_groups.len(),
        plural(stack.server_groups.len()),
        stack.target_groups.len(),
        plural(stack.target_groups.len()),
        stack.load_balancers.len(),
        plural(stack.load_balancers.len()),
        stack.images.len(),
        stack.networks.len(),
        plural(stack.networks.len()),
    );
    Ok(EXIT_OK)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The cloud a command works on: AWS, or the simulated account of `--cloud sim`.
async fn connect(ctx: &Ctx, stack: &Stack) -> Result<Arc<dyn Cloud>> {
    match ctx.global.cloud {
        CloudKind::Aws => Ok(Arc::new(connect_aws(ctx, stack).await?)),
        CloudKind::Sim => Ok(ctx.sim_cloud(stack)?),
    }
}

async fn connect_aws(ctx: &Ctx, stack: &Stack) -> Result<AwsCloud> {
    let opts = ConnectOptions {
        region: ctx.global.region.clone().or_else(|| stack.region.clone()),
        profile: ctx.global.profile.clone(),
        endpoint_url: ctx.global.endpoint_url.clone(),
        max_attempts: reroll::cloud::RetryPolicy::REROLL.max_attempts,
    };
    AwsCloud::connect(&opts, ctx.stats.clone())
        .await
        .context("cannot connect to AWS")
}

/// A session and the cloud it was observed in.
struct World {
    session: Session,
    cloud: Arc<dyn Cloud>,
}

/// Load, connect, observe, resolve: the desired and the observed state.
async fn world(ctx: &Ctx, path: &Path, inputs: Inputs) -> Result<World> {
    let (parsed, offline) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &offline).await?;
    let session = engine::session(&*cloud, parsed, inputs, &offline.name)
        .await
        .map_err(engine_error)?;
    Ok(World { session, cloud })
}

/// Stack problems print with their locations; everything else goes up as an error.
fn engine_error(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Stack(d) => report(&d),
        other => anyhow::Error::new(other),
    }
}

fn make_plan(w: &World, force: bool) -> Result<Plan> {
    w.session.plan(force).map_err(engine_error)
}

fn print_plan(plan: &Plan, json: bool) {
    let mut text = String::new();
    plan_text(&mut text, plan, json);
    println!("{text}");
}

/// The plan as `plan` prints it. It holds no sensitive value: `plan::plan` shows each as
/// `(sensitive)`.
fn plan_text(out: &mut String, plan: &Plan, json: bool) {
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
fn plan_json(plan: &Plan) -> String {
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

struct PlanFlags {
    json: bool,
    detailed: bool,
    force: bool,
    forecast: bool,
    strict: bool,
}

/// Preflight in the plan's region (quotas with surge included, key pairs): shortfalls join the
/// plan's warnings. Nothing to check for a plan without changes.
async fn preflight(w: &World, plan: &mut Plan) -> Option<reroll::preflight::Preflight> {
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
fn after_preflight(
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

async fn plan_command(
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
async fn forecast_command(w: &World, plan: &Plan, force: bool) -> Result<()> {
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

fn render_forecast(f: &forecast::Forecast, wall: Duration) -> String {
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

fn sources_digest(session: &Session) -> String {
    planfile::sources_digest(&session.parsed, &session.inputs.files)
}

fn save_plan(w: &World, plan: &Plan, path: &Path, force: bool, out: &Path) -> Result<()> {
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

/// Asks on the terminal; without one, `--auto-approve` is required.
fn confirm(question: &str, auto_approve: bool) -> Result<bool> {
    if auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to confirm on: pass --auto-approve to go ahead without asking");
    }
    eprint!("{question} Only 'yes' is accepted: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

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
}

async fn apply_command(ctx: &Ctx, path: &Path, vars: &VarArgs, flags: &ApplyFlags) -> Result<u8> {
    if let Some(file) = &flags.report {
        // Written once now, so that a path that cannot be written stops the apply before it
        // changes anything; written again however the apply ends.
        let stack = path.display().to_string();
        let draft = report_file::Draft::start(file, &stack, ctx.global.cloud == CloudKind::Sim)?;
        *ctx.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(draft);
    }
    if let Some(file) = &flags.events {
        let log = events_file::EventLog::open(file)?;
        *ctx.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(log);
    }
    let events_to_stdout = flags.events.as_deref() == Some(Path::new("-"));
    let draft = |f: &dyn Fn(&mut report_file::Draft)| {
        if let Some(d) = ctx
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            f(d);
        }
    };
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
    draft(&|d| {
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
        draft(&|d| d.result = Some("no changes".into()));
        events_file::with(&ctx.events, |log| log.result = Some("no changes".into()));
        print_outputs(&w.session.stack);
        return Ok(EXIT_OK);
    }
    if !saved && !confirm("Apply these changes?", flags.auto_approve)? {
        draft(&|d| d.result = Some("cancelled".into()));
        events_file::with(&ctx.events, |log| log.result = Some("cancelled".into()));
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }
    let mut opts = apply_options(ctx, flags.parallelism);
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
            log.write(&reroll::events::Event::apply_started(&plan))
        });
        opts.progress = opts.progress.and(events_file::progress(&ctx.events));
    }
    // Virtual time on a simulated account.
    let started = tokio::time::Instant::now();
    let (result, reports) = engine::execute(&*w.cloud, w.session, &plan, &opts, &ctx.stop).await;
    draft(&|d| d.reports = reports.clone());
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
        Err(e) => {
            draft(&|d| {
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
            github_summary(&plan, said, exit, &reports);
            if events_file::github() {
                eprint!("{}", events_file::error_command("reroll apply", &message));
            }
            code
        }
    }
}

/// On GitHub Actions, the apply's outcome and per-group table in the step summary.
fn github_summary(plan: &Plan, said: Option<&str>, exit_code: u8, reports: &[GroupReport]) {
    if !events_file::github() {
        return;
    }
    let outcome = report_file::result_name(said, exit_code);
    let summary =
        events_file::step_summary(&plan.stack, &outcome, exit_code, reports, waves_column);
    events_file::append_step_summary(&summary);
}

fn apply_options(ctx: &Ctx, parallelism: usize) -> ApplyOptions {
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
fn rollout_failure(e: EngineError, command: &str) -> Result<u8> {
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

/// What the stack file says now that a rollback is done: whether `apply` would roll forward
/// again. Only said when it is known (the stack's variables were given).
async fn stack_after_rollback(w: &World) -> String {
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
async fn rollback_command(
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

/// Rebuilds the world a saved plan was made in and checks that nothing moved since.
/// The inputs a saved plan was made with: its saved values win over everything but the
/// sensitive ones, which must be given again.
fn saved_inputs(saved: &SavedPlan, vars: &VarArgs) -> Inputs {
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

async fn replan_saved(ctx: &Ctx, saved: &SavedPlan, vars: &VarArgs) -> Result<(World, Plan)> {
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
    // Compared as saved: every change's action, diffs, schedule and instance fingerprint, and
    // every image copy's source.
    let as_saved = |p: &Plan| serde_json::to_value((&p.changes, &p.copies)).ok();
    if plan.observed_digest != saved.plan.observed_digest
        || as_saved(&plan) != as_saved(&saved.plan)
    {
        bail!(
            "the account changed since the plan was saved, so it cannot be applied as shown; \
             run `reroll plan` again and review the new plan"
        );
    }
    Ok((w, plan))
}

/// Per group: the generation change, waves, duration and result.
fn summary_table(reports: &[GroupReport]) -> String {
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
fn waves_column(r: &GroupReport) -> String {
    match (r.waves, r.planned_waves) {
        (0, 0) => "-".into(),
        (done, planned) if done >= planned => done.to_string(),
        (done, planned) => format!("{done}/{planned}"),
    }
}

fn print_outputs(stack: &Stack) {
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

async fn status(
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

/// `reroll force-unlock PATH [LOCK_ID]`: removes a lock whose holder is gone.
async fn force_unlock(ctx: &Ctx, path: &Path, id: Option<&str>, vars: &VarArgs) -> Result<u8> {
    let mut inputs = inputs(vars, ctx.global.region.clone());
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &stack).await?;
    let Some(key) = lock_key(ctx, &stack, &*cloud).await? else {
        eprintln!("A simulated account without --sim-state has no lock; nothing to remove.");
        return Ok(EXIT_OK);
    };
    let unlocked = match lock_url(ctx, &stack)? {
        Some(url) => {
            let clock = stack_lock::Clock::new();
            stack_lock::s3::force_unlock(&*cloud, url, &key, id, path, &clock).await?
        }
        None => stack_lock::local::force_unlock(path, &key, id)?,
    };
    match unlocked {
        Unlocked::Nothing { place } => {
            eprintln!("There is no lock of {key} in {place}; nothing to remove.");
        }
        Unlocked::Removed {
            place,
            record,
            live,
        } => {
            let holder = record
                .map(|r| format!(", held by {r}, lock id {}", r.id))
                .unwrap_or_default();
            eprintln!("Removed the lock of {key} from {place}{holder}.");
            if live {
                eprintln!(
                    "Its lease was still being renewed: if that command still runs, it notices \
                     at its next renewal and stops."
                );
            }
        }
    }
    Ok(EXIT_OK)
}

/// Where the stack's lock lives: `--lock`, else the stack's `lock`; `None`: a local file. A
/// simulated account is always locked locally, on the file it is kept in.
fn lock_url<'a>(ctx: &'a Ctx, stack: &'a Stack) -> Result<Option<&'a LockUrl>> {
    if ctx.global.cloud == CloudKind::Sim {
        return Ok(None);
    }
    if let Some(url) = &ctx.global.lock {
        return Ok(Some(url));
    }
    match &stack.lock {
        LockSetting::Local => Ok(None),
        LockSetting::Shared(url) => Ok(Some(url)),
        LockSetting::Unknown => bail!(
            "the stack's `lock` depends on a value that is not known here (a variable with no \
             value?); give it (-var, -var-file or REROLL_VAR_…) or pass --lock, so that the \
             right lock is taken"
        ),
    }
}

/// What the lock excludes: the stack in the region and account the cloud says it is in, not
/// the endpoint's spelling (for a local lock behind an endpoint override, also where that
/// endpoint is: every emulator is account 123456789012). A simulated account: its
/// `--sim-state` file; `None` for one held in memory only, which no other command can reach.
async fn lock_key(ctx: &Ctx, stack: &Stack, cloud: &dyn Cloud) -> Result<Option<LockKey>> {
    if ctx.global.cloud == CloudKind::Sim && ctx.global.sim_state.is_none() {
        return Ok(None);
    }
    let account = cloud
        .account_id()
        .await
        .context("cannot tell which AWS account the credentials act in, to lock the stack there")?;
    let key = LockKey::new(&stack.name, cloud.region(), &account);
    Ok(Some(
        match (
            ctx.global.cloud,
            &ctx.global.sim_state,
            &ctx.global.endpoint_url,
        ) {
            (CloudKind::Sim, Some(state), _) => key.simulated(state),
            // The shared lock lives behind the endpoint already.
            (CloudKind::Aws, _, Some(endpoint)) if lock_url(ctx, stack)?.is_none() => {
                key.at_endpoint(stack_lock::endpoint_identity(endpoint).await)
            }
            _ => key,
        },
    ))
}

/// Takes the stack's apply lock for the rest of the command, before anything is observed. It
/// is released when the command ends, whatever the outcome. A shared lock lost while held is
/// reported at once, and the command is asked to stop.
async fn lock(ctx: &Ctx, path: &Path, inputs: &Inputs, command: &str) -> Result<()> {
    let mut inputs = inputs.clone();
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &stack).await?;
    let Some(key) = lock_key(ctx, &stack, &*cloud).await? else {
        return Ok(());
    };
    let held = match lock_url(ctx, &stack)? {
        Some(url) => {
            let options = stack_lock::s3::Options {
                clock: stack_lock::Clock::new(),
                stop: ctx.stop.clone(),
            };
            let held = stack_lock::s3::acquire(cloud, url, &key, command, path, options).await?;
            Held::S3(Box::new(held))
        }
        None => Held::Local(stack_lock::local::acquire(path, &key, command)?),
    };
    if let Some(mut lost) = held.lost() {
        tokio::spawn(async move {
            while lost.changed().await.is_ok() {
                if let Some(lost) = lost.borrow_and_update().clone() {
                    eprintln!("\nerror: {lost}");
                    break;
                }
            }
        });
    }
    *ctx.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
    Ok(())
}

async fn destroy(ctx: &Ctx, path: &Path, vars: &VarArgs, auto_approve: bool) -> Result<u8> {
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
