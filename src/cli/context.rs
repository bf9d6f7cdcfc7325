//! What every command works with: the `Ctx` of the run (global flags, stats, the stop
//! request, the simulated account, the held lock, the report and event files), loading,
//! connecting, the observed `World`, and how stack problems are printed.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use reroll::apply::Stop;
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::Cloud;
use reroll::engine::{self, EngineError, Session};
use reroll::load::{self, Diagnostics, Inputs, Parsed};
use reroll::lock::{self as stack_lock, Held};
use reroll::plan::Plan;
use reroll::stack::Stack;

use super::args::{CloudKind, Global, VarArgs};
use super::exit::{Exit, EXIT_ERROR};
use super::output::color_stderr;
use super::{events_file, report_file};

/// The lock a command holds, shared with the Ctrl-C handler so that leaving at once still
/// gives it back.
pub(super) type HeldLock = Arc<Mutex<Option<Held>>>;

/// Gives back the command's lock, if it holds one, waiting at most `patience`.
pub(super) async fn release_lock(held: &HeldLock, patience: Duration) {
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

pub(super) struct Ctx {
    pub(super) global: Global,
    pub(super) stats: Stats,
    pub(super) stop: Stop,
    /// The simulated account, once a command asked for it (`--cloud sim`).
    pub(super) sim: Arc<OnceLock<Arc<SimCloud>>>,
    pub(super) sim_opened_at: OnceLock<Duration>,
    pub(super) wall: std::time::Instant,
    /// The stack lock this command holds (`lock`), released when the command ends.
    pub(super) held: HeldLock,
    /// `apply --report`: the page kept as the apply goes, written when it ends.
    pub(super) report: report_file::Slot,
    /// `apply --events`: the event log, its `done` line written when the command ends.
    pub(super) events: events_file::Slot,
}

impl Ctx {
    /// Set when the command's lock was lost while it ran.
    pub(super) fn lock_lost(&self) -> Option<Arc<stack_lock::LockLost>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()?.lost()?.borrow().clone()
    }

    /// Simulated time of the account when this command opened it.
    pub(super) fn sim_started(&self) -> Duration {
        self.sim_opened_at.get().copied().unwrap_or_default()
    }

    /// The simulated account: loaded from `--sim-state` when that file exists, else empty.
    pub(super) fn sim_cloud(&self, stack: &Stack) -> Result<Arc<SimCloud>> {
        if let Some(sim) = self.sim.get() {
            return Ok(sim.clone());
        }
        let region = chosen_region(&self.global, stack)?.unwrap_or_else(|| "us-east-1".into());
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

pub(super) fn save_sim(sim: &SimCloud, path: Option<&Path>) {
    if let Some(path) = path {
        if let Err(e) = sim.save(path) {
            eprintln!(
                "error: cannot save the simulated account to {}: {e}",
                path.display()
            );
        }
    }
}

pub(super) fn inputs(vars: &VarArgs, region: Option<String>) -> Inputs {
    Inputs {
        cli: vars.vars.clone(),
        files: vars.var_files.clone(),
        region_override: region,
        ..Default::default()
    }
    .with_process_env()
}

/// Prints stack problems and turns them into an exit.
pub(super) fn report(d: &Diagnostics) -> anyhow::Error {
    eprint!("{}", d.render(color_stderr()));
    if events_file::github() {
        eprint!("{}", events_file::error_commands(d));
    }
    anyhow::Error::new(Exit(EXIT_ERROR))
}

/// Parses and evaluates with nothing known from the cloud: every static problem, no AWS.
pub(super) fn load_offline(path: &Path, inputs: &Inputs) -> Result<(Parsed, Stack)> {
    load::load(path, inputs).map_err(|d| report(&d))
}

/// The region a command works in: `--region`, else the stack's `region`, else its one entry
/// of `regions`. A stack that lists several regions names none of them by itself: a command
/// that works in one region (`status`, `rollback`, `destroy`, `force-unlock`) is refused
/// rather than sent to the credentials' default region.
pub(super) fn chosen_region(global: &Global, stack: &Stack) -> Result<Option<String>> {
    if let Some(region) = global.region.clone().or_else(|| stack.region.clone()) {
        return Ok(Some(region));
    }
    match stack.regions.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => bail!(
            "stack {:?} lists the regions {}: name the one to work in with --region (plan and \
             apply also take --regions)",
            stack.name,
            many.join(", ")
        ),
    }
}

/// The cloud a command works on: AWS, or the simulated account of `--cloud sim`.
pub(super) async fn connect(ctx: &Ctx, stack: &Stack) -> Result<Arc<dyn Cloud>> {
    match ctx.global.cloud {
        CloudKind::Aws => Ok(Arc::new(connect_aws(ctx, stack).await?)),
        CloudKind::Sim => Ok(ctx.sim_cloud(stack)?),
    }
}

pub(super) async fn connect_aws(ctx: &Ctx, stack: &Stack) -> Result<AwsCloud> {
    let opts = ConnectOptions {
        region: chosen_region(&ctx.global, stack)?,
        profile: ctx.global.profile.clone(),
        endpoint_url: ctx.global.endpoint_url.clone(),
        max_attempts: reroll::cloud::RetryPolicy::REROLL.max_attempts,
    };
    AwsCloud::connect(&opts, ctx.stats.clone())
        .await
        .context("cannot connect to AWS")
}

/// A session and the cloud it was observed in.
pub(super) struct World {
    pub(super) session: Session,
    pub(super) cloud: Arc<dyn Cloud>,
}

/// Load, connect, observe, resolve: the desired and the observed state.
pub(super) async fn world(ctx: &Ctx, path: &Path, inputs: Inputs) -> Result<World> {
    let (parsed, offline) = load_offline(path, &inputs)?;
    let cloud = connect(ctx, &offline).await?;
    let session = engine::session(&*cloud, parsed, inputs, &offline.name)
        .await
        .map_err(engine_error)?;
    Ok(World { session, cloud })
}

/// Stack problems print with their locations; everything else goes up as an error.
pub(super) fn engine_error(e: EngineError) -> anyhow::Error {
    match e {
        EngineError::Stack(d) => report(&d),
        other => anyhow::Error::new(other),
    }
}

pub(super) fn make_plan(w: &World, force: bool) -> Result<Plan> {
    w.session.plan(force).map_err(engine_error)
}

/// Asks on the terminal; without one, `--auto-approve` is required.
pub(super) fn confirm(question: &str, auto_approve: bool) -> Result<bool> {
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
