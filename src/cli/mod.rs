//! Commands: each one loads, connects, observes, plans and applies by calling the library, and
//! maps the outcome to an exit code. anyhow lives here and nowhere else.
//!
//! One file per command (`validate.rs`, `plan.rs`, `apply.rs`, `status.rs`, `rollback.rs`,
//! `destroy.rs`, `lock.rs` with `force-unlock`, `iam_policy.rs`); what they share is in `context.rs` (the run's
//! `Ctx`, loading and connecting), `output.rs` (what is printed) and `exit.rs` (exit codes).

mod apply;
mod apply_regions;
pub mod args;
mod context;
mod destroy;
pub mod events_file;
mod exit;
mod iam_policy;
mod lock;
pub mod logging;
mod output;
mod plan;
mod regions;
pub mod report_file;
mod rollback;
mod status;
mod validate;
pub mod view;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Result;

use reroll::apply::Stop;
use reroll::cloud::stats::Stats;

use apply::ApplyFlags;
use apply_regions::apply_command;
use args::{Cli, Command};
use context::{release_lock, save_sim, Ctx, HeldLock};
use destroy::destroy;
use exit::Exit;
use iam_policy::iam_policy;
use lock::force_unlock;
use output::human_elapsed;
use plan::PlanFlags;
use regions::plan_command;
use rollback::rollback_command;
use status::status;
use validate::validate;

pub use exit::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PAUSED};

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
    // One listener for both, registered now: a second press right after the first is never
    // lost between two listeners.
    let mut presses = Interrupts::listen();
    tokio::spawn(async move {
        if presses.next().await {
            eprintln!(
                "\nStopping: no new instances are launched; drains in flight finish. \
                 Press Ctrl-C again to leave at once."
            );
            stop.request();
        }
        if presses.next().await {
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
            "simulated time: {} (wall {:.1?}; simulator CPU {:.1?})",
            human_elapsed(sim.elapsed().saturating_sub(ctx.sim_started())),
            ctx.wall.elapsed(),
            sim.busy()
        );
        if let Some((own, simulator)) = reroll::cloud::sim::memory::peaks() {
            eprintln!(
                "heap peak: reroll {:.1} MB, simulator {:.1} MB",
                own as f64 / 1e6,
                simulator as f64 / 1e6
            );
        }
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
            regions,
        } => {
            let flags = PlanFlags {
                json,
                detailed: detailed_exitcode,
                force,
                forecast,
                strict,
                regions,
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
            regions,
        } => {
            let flags = ApplyFlags {
                auto_approve,
                parallelism,
                force,
                json,
                report,
                events,
                strict,
                regions,
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
        Command::IamPolicy {
            path,
            vars,
            command,
        } => iam_policy(&path, &vars, command, ctx.global.region.as_deref()),
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

/// Ctrl-C presses, from one listener for the whole run (SIGINT on Unix).
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn listen() -> Self {
        Interrupts {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// The next press; false when none can come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(s) = self.signal.as_mut() {
            return s.recv().await.is_some();
        }
        tokio::signal::ctrl_c().await.is_ok()
    }
}
