//! Every way out of a rollout leaves the account consistent. For every position k of the
//! calls a rolling, a canary and a blue/green rollout make, the k-th call fails, once with a
//! refusal and once with a transient error, and afterwards:
//!
//! - the scaling processes reroll suspended are resumed: no `reroll:suspended` record is left,
//!   and no process is suspended;
//! - serving capacity never fell below `desired - max_unavailable`;
//! - no instance was left running outside every generation;
//! - a second apply converges: one generation on the new image, fully healthy, and no change
//!   planned after it.
//!
//! A transient error never ends a rollout once it has begun (the first suspension); a refusal
//! ends it with an error and the state above. `reroll rollback` (rolling and blue/green) is
//! swept with refusals the same way.
//!
//! `cargo test --test sim_faults -- --nocapture` prints the positions tried and how they
//! ended.

mod common {
    pub mod sim;
}

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::sim::*;
use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions};
use reroll::cloud::fault::{FailCall, FaultCloud, Faults};
use reroll::cloud::sim::SimCloud;
use reroll::cloud::stats::Stats;
use reroll::engine::{self, EngineError};

// ---------------------------------------------------------------------------------------------
// The sweep

/// How a run with one failed call ended.
fn ending(r: &Result<(), EngineError>) -> &'static str {
    match r {
        Ok(()) => "completed",
        Err(EngineError::Apply(ApplyError::Cleanup { .. })) => "cleanup failed",
        Err(EngineError::Apply(ApplyError::Paused { .. })) => "stopped part-way",
        Err(EngineError::Apply(ApplyError::RolledBack { .. })) => "rolled back",
        Err(EngineError::Apply(_)) => "failed (exit 1)",
        Err(_) => "failed before applying",
    }
}

/// Fails each call position of `run` in turn and checks the account after each; returns how
/// the runs ended, by ending.
async fn sweep(
    s: &'static Strategy,
    run: Run,
    transient: bool,
) -> BTreeMap<&'static str, Vec<u64>> {
    let base = base_world(s, run).await;
    let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
    let image = image_id(&*sim, run.version()).await;
    // The calls of a run without faults.
    let clean = FaultCloud::new(sim.clone(), s.stack, Faults::default());
    run.go(&clean, s).await.unwrap();
    let calls = clean.calls();
    let begins = calls
        .iter()
        .position(|c| *c == "suspend_processes")
        .expect("a rollout suspends processes") as u64;

    let mut endings: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in 1..=calls.len() as u64 + 1 {
        let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
        let fail = FailCall {
            transient,
            ..FailCall::at(k)
        };
        let faulty = FaultCloud::new(
            sim.clone(),
            s.stack,
            Faults {
                fail: Some(fail),
                ..Faults::default()
            },
        );
        let w = watch(sim.clone(), s.stack);
        let first = run.go(&faulty, s).await;
        let mut problems = w.finish().await;
        let failed_call = calls.get(k as usize - 1).copied().unwrap_or("none");
        let left = orphans(&sim.snapshot(), s.stack);
        if !left.is_empty() {
            problems.push(format!("left running outside every generation: {left:?}"));
        }
        if !matches!(first, Err(EngineError::Apply(ApplyError::Cleanup { .. }))) {
            problems.extend(suspensions(&sim, s).await);
        }
        if transient && first.is_err() && k > begins {
            problems.push(format!("a transient error ended the rollout: {first:?}"));
        }
        // The same command again finishes the job (a rollback that completed has nothing left
        // to roll back).
        let second = match (run, &first) {
            (Run::Rollback, Ok(())) => Ok(()),
            _ => run.go(&*sim, s).await,
        };
        if let Err(e) = &second {
            problems.push(format!("running it again failed: {e}"));
        } else {
            problems.extend(converged(&sim, s, &image).await);
            problems.extend(suspensions(&sim, s).await);
            if run == Run::Apply && plans_changes(&*sim, s, "1.1.0").await {
                problems.push("a third plan still has changes".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {run:?} k={k} ({failed_call}, first run {}): {problems:?}",
                s.name,
                match &first {
                    Ok(()) => "ok".to_string(),
                    Err(e) => e.to_string(),
                }
            ));
        }
        endings.entry(ending(&first)).or_default().push(k);
    }
    let summary: Vec<String> = endings
        .iter()
        .map(|(e, ks)| match ks.len() {
            n if n <= 3 => format!("{e}: {n} (at {ks:?})"),
            n => format!("{e}: {n}"),
        })
        .collect();
    eprintln!(
        "{} {run:?}, {}: {} positions tried ({} calls without faults, the rollout begins at \
         call {}); {}",
        s.name,
        if transient {
            "transient errors"
        } else {
            "refusals"
        },
        calls.len() + 1,
        calls.len(),
        begins + 1,
        summary.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    endings
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_rolling_rollout_leaves_it_consistent() {
    let endings = sweep(&ROLLING, Run::Apply, false).await;
    assert!(endings["failed (exit 1)"].len() > 20, "{endings:?}");
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_rolling_rollout_does_not_end_it() {
    sweep(&ROLLING, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_canary_rollout_leaves_it_consistent() {
    sweep(&CANARY, Run::Apply, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_canary_rollout_does_not_end_it() {
    sweep(&CANARY, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_blue_green_rollout_leaves_it_consistent() {
    sweep(&BLUE_GREEN, Run::Apply, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_anywhere_in_a_blue_green_rollout_does_not_end_it() {
    sweep(&BLUE_GREEN, Run::Apply, true).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_rollback_leaves_it_consistent() {
    sweep(&ROLLING, Run::Rollback, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_anywhere_in_a_blue_green_rollback_leaves_it_consistent() {
    sweep(&BLUE_GREEN, Run::Rollback, false).await;
}

/// A transient error in the middle of a rollout is waited out, logged and counted in
/// `--stats` as a retried call of its operation.
#[tokio::test(start_paused = true)]
async fn a_transient_error_is_retried_and_counted() {
    let base = base_world(&ROLLING, Run::Apply).await;
    let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
    let faulty = FaultCloud::new(
        sim.clone(),
        ROLLING.stack,
        Faults {
            // The fifth health read is well inside the rollout's rounds.
            fail: Some(FailCall {
                at: 5,
                operations: ["target_health".to_string()].into(),
                transient: true,
            }),
            ..Faults::default()
        },
    );
    let stats = Stats::new();
    let session = engine::open(&faulty, &fixture(&ROLLING), inputs(&ROLLING, "1.1.0"))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        stats: stats.clone(),
        ..ApplyOptions::default()
    };
    let (result, _) = engine::execute(&faulty, session, &plan, &opts, &Stop::new()).await;
    assert!(result.is_ok(), "{:?}", result.err());
    let counted = stats.snapshot();
    assert_eq!(counted["target_health"].retried, 1, "{counted:?}");
    assert_eq!(stats.total_retried(), 1);
}
