//! The crash campaign: the process dies at any point of a rollout, as under `kill -9` or a
//! lost CI runner, and the same command run again finishes the job.
//!
//! For a rolling, a canary and a blue/green rollout and for `reroll rollback` (rolling and
//! blue/green), the run dies at every position k of the calls it makes (the k-th call reaches
//! the account and takes effect; its answer, and every later one, never comes) and at
//! seeded random moments of virtual time. Nothing of the dead run carries on: no cleanup, no
//! retry, no further call. After a seeded pause (none, half a minute, five minutes), while
//! Auto Scaling and the load balancers go on, the command is run again on the same account,
//! and:
//!
//! - serving capacity never fell below the floor, across the crash, the pause and the resume;
//! - no instance was left running outside every generation;
//! - no generation was lost: the account converges on one generation of the image the command
//!   asked for, fully healthy, within that one more run, with nothing more planned after it;
//! - no scaling process is left suspended, and no `reroll:suspended` record.
//!
//! `REROLL_CRASH_TIMES` sets how many random moments each run dies at (default 40) and
//! `REROLL_CRASH_SEED` the seed; `cargo test --release --test sim_crashes -- --nocapture`
//! prints the figures RELIABILITY.md reports.

mod common {
    pub mod sim;
}

use std::sync::Arc;
use std::time::Duration;

use common::sim::*;
use reroll::cloud::fault::{FaultCloud, Faults};
use reroll::cloud::sim::SimCloud;
use reroll::cloud::stats::Stats;
use reroll::engine::EngineError;

/// Where a run dies.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// At its k-th call, once the account has acted on it.
    Call(u64),
    /// At this moment of virtual time after it started.
    At(Duration),
}

/// A small, seeded generator (SplitMix64): the campaign is the same on every machine.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How long the dead process stays dead before the command is run again.
const PAUSES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(30),
    Duration::from_secs(300),
];

/// What one crash point showed.
struct Outcome {
    /// The run finished before its crash point came.
    finished: bool,
    problems: Vec<String>,
}

/// Runs `run` on a copy of `base`, kills it at `crash`, waits `pause`, runs it again, and
/// checks the account.
async fn crash_once(
    s: &'static Strategy,
    run: Run,
    base: &str,
    image: &str,
    crash: Crash,
    pause: Duration,
) -> Outcome {
    let sim = Arc::new(SimCloud::from_json(base, Stats::new()).unwrap());
    let faults = Faults {
        crash_at: match crash {
            Crash::Call(k) => Some(k),
            Crash::At(_) => None,
        },
        ..Faults::default()
    };
    let dying = Arc::new(FaultCloud::new(sim.clone(), s.stack, faults));
    let killer = match crash {
        Crash::At(t) => {
            let dying = dying.clone();
            Some(tokio::spawn(async move {
                tokio::time::sleep(t).await;
                dying.kill();
            }))
        }
        Crash::Call(_) => None,
    };
    let w = watch(sim.clone(), s.stack);
    let first = tokio::select! {
        biased;
        () = dying.dead() => None,
        r = run.go(&*dying, s) => Some(r),
    };
    if let Some(k) = killer {
        k.abort();
    }
    // Whatever the dead run left in flight never answers; the account goes on.
    tokio::time::sleep(pause).await;
    let mut problems = Vec::new();
    let second = match (run, &first) {
        // A rollback that completed has nothing left to roll back.
        (Run::Rollback, Some(Ok(()))) => Ok(()),
        // Nor has one that died after its last step, and it says so.
        (Run::Rollback, None) => match run.go(&*sim, s).await {
            Err(e) if e.to_string().contains("the last rollback completed") => Ok(()),
            other => other,
        },
        _ => run.go(&*sim, s).await,
    };
    problems.extend(w.finish().await);
    match &second {
        Err(e) => problems.push(format!("running it again failed: {e}")),
        Ok(()) => {
            problems.extend(converged(&sim, s, image).await);
            problems.extend(suspensions(&sim, s).await);
            let left = orphans(&sim.snapshot(), s.stack);
            if !left.is_empty() {
                problems.push(format!("left running outside every generation: {left:?}"));
            }
            if run == Run::Apply && plans_changes(&*sim, s, "1.1.0").await {
                problems.push("a third plan still has changes".into());
            }
        }
    }
    if let Some(Err(e)) = &first {
        problems.push(format!("the run failed before it died: {e}"));
    }
    Outcome {
        finished: first.is_some(),
        problems,
    }
}

/// The calls and the virtual duration of `run` without a crash.
async fn clean_run(s: &Strategy, run: Run, base: &str) -> (usize, Duration) {
    let sim = Arc::new(SimCloud::from_json(base, Stats::new()).unwrap());
    let clean = FaultCloud::new(sim, s.stack, Faults::default());
    let started = tokio::time::Instant::now();
    run.go(&clean, s).await.unwrap();
    (clean.calls().len(), started.elapsed())
}

/// Kills `run` at every call and at `REROLL_CRASH_TIMES` random moments; returns the number
/// of crash points tried.
async fn campaign(s: &'static Strategy, run: Run) -> usize {
    let base = base_world(s, run).await;
    let image = {
        let sim = SimCloud::from_json(&base, Stats::new()).unwrap();
        image_id(&sim, run.version()).await
    };
    let (calls, duration) = clean_run(s, run, &base).await;
    let seed = env_number("REROLL_CRASH_SEED", 1);
    let mut draw = Draw(seed ^ s.stack.len() as u64 ^ ((run == Run::Rollback) as u64) << 32);
    let mut points: Vec<Crash> = (1..=calls as u64).map(Crash::Call).collect();
    for _ in 0..env_number("REROLL_CRASH_TIMES", 64) {
        let ms = draw.below(duration.as_millis() as u64);
        points.push(Crash::At(Duration::from_millis(ms)));
    }
    let mut failures = Vec::new();
    let mut finished = 0;
    for crash in &points {
        let pause = PAUSES[draw.below(PAUSES.len() as u64) as usize];
        let outcome = crash_once(s, run, &base, &image, *crash, pause).await;
        finished += usize::from(outcome.finished);
        if !outcome.problems.is_empty() {
            failures.push(format!(
                "{} {run:?} killed at {crash:?}, resumed after {pause:?}: {:?}",
                s.name, outcome.problems
            ));
        }
    }
    eprintln!(
        "crash campaign: {} {run:?}: {} crash points ({calls} calls, {} random moments in \
         {duration:?}), {} held, {} finished before their crash point; seed {seed}",
        s.name,
        points.len(),
        points.len() - calls,
        points.len() - failures.len(),
        finished,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    points.len()
}

#[tokio::test(start_paused = true)]
async fn a_rolling_rollout_killed_anywhere_converges_in_one_more_apply() {
    campaign(&ROLLING, Run::Apply).await;
}

#[tokio::test(start_paused = true)]
async fn a_canary_rollout_killed_anywhere_converges_in_one_more_apply() {
    campaign(&CANARY, Run::Apply).await;
}

#[tokio::test(start_paused = true)]
async fn a_blue_green_rollout_killed_anywhere_converges_in_one_more_apply() {
    campaign(&BLUE_GREEN, Run::Apply).await;
}

#[tokio::test(start_paused = true)]
async fn a_rollback_killed_anywhere_converges_in_one_more_rollback() {
    campaign(&ROLLING, Run::Rollback).await;
}

#[tokio::test(start_paused = true)]
async fn a_blue_green_rollback_killed_anywhere_converges_in_one_more_rollback() {
    campaign(&BLUE_GREEN, Run::Rollback).await;
}

/// A dead process makes no call and answers none: what it had in flight when it died stays
/// unanswered, and nothing it would have done next reaches the account.
#[tokio::test(start_paused = true)]
async fn a_killed_run_makes_no_more_calls() {
    let base = base_world(&ROLLING, Run::Apply).await;
    let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
    let dying = FaultCloud::new(
        sim.clone(),
        ROLLING.stack,
        Faults {
            crash_at: Some(12),
            ..Faults::default()
        },
    );
    let first = tokio::select! {
        biased;
        () = dying.dead() => None,
        r = Run::Apply.go(&dying, &ROLLING) => Some(r),
    };
    assert!(
        first.is_none(),
        "{:?}",
        first.map(|r| r.map_err(|e: EngineError| e.to_string()))
    );
    assert_eq!(dying.calls().len(), 12);
    // A call made after death never returns.
    let after = tokio::time::timeout(Duration::from_secs(3600), async {
        use reroll::cloud::Cloud;
        dying.list_groups(ROLLING.stack).await
    })
    .await;
    assert!(after.is_err());
    assert_eq!(dying.calls().len(), 12);
}

/// Killed after the new generation committed (tagged serving) but before the old one was
/// retired and the processes resumed, the account plans a Resume that launches nothing and
/// says what is left; applying it retires the old generation and resumes the processes.
#[tokio::test(start_paused = true)]
async fn a_rollout_killed_past_its_commit_point_is_finished_by_the_next_apply() {
    let base = base_world(&ROLLING, Run::Apply).await;
    let (calls, _) = clean_run(&ROLLING, Run::Apply, &base).await;
    let mut seen = 0;
    for k in (1..=calls as u64).rev() {
        let sim = Arc::new(SimCloud::from_json(&base, Stats::new()).unwrap());
        let dying = FaultCloud::new(
            sim.clone(),
            ROLLING.stack,
            Faults {
                crash_at: Some(k),
                ..Faults::default()
            },
        );
        tokio::select! {
            biased;
            () = dying.dead() => {}
            r = Run::Apply.go(&dying, &ROLLING) => panic!("finished before call {k}: {:?}", r.err()),
        }
        let session = reroll::engine::open(&*sim, &fixture(&ROLLING), inputs(&ROLLING, "1.1.0"))
            .await
            .unwrap();
        let plan = session.plan(false).unwrap();
        let Some(change) = plan
            .changes
            .iter()
            .find(|c| c.address == "server_group.web")
        else {
            continue;
        };
        match (change.action, &change.rollout) {
            // Killed after everything that matters: nothing left.
            (reroll::plan::Action::NoOp, _) => continue,
            (reroll::plan::Action::Resume, None) => {}
            // Before the commit point: an ordinary resume.
            _ => break,
        }
        seen += 1;
        assert!(change.launch.is_none(), "{change:?}");
        assert!(
            change.reason.contains("stopped before finishing"),
            "{}",
            change.reason
        );
        apply(&*sim, &ROLLING, "1.1.0").await.unwrap();
        let image = image_id(&*sim, "1.1.0").await;
        assert_eq!(
            converged(&sim, &ROLLING, &image).await,
            Vec::<String>::new()
        );
        assert_eq!(suspensions(&sim, &ROLLING).await, Vec::<String>::new());
        assert!(!plans_changes(&*sim, &ROLLING, "1.1.0").await);
    }
    assert!(seen >= 2, "only {seen} crash points past the commit point");
}
