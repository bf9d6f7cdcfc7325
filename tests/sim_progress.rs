//! What a rollout reports while it runs, on the simulator in simulated time: counts that are
//! right the moment an action is taken, an interrupted rollout that ends where it really
//! stands, and waves counted as the plan counts them, in the progress reports and in the
//! summary, for rolling, canary and blue/green rollouts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reroll::apply::progress::{Progress, RolloutProgress};
use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::TargetState;
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::plan::{self, Plan};
use reroll::stack::Stack;

const ALARM: &str = "shop-5xx";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn sim() -> Arc<SimCloud> {
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    cloud.set_alarm_state(ALARM, "OK");
    cloud
}

fn inputs(version: &str) -> Inputs {
    Inputs {
        cli: vec![("app_version".into(), version.into())],
        ..Default::default()
    }
}

/// Every progress report of an apply, in order.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<RolloutProgress>>>);

impl Recorded {
    fn progress(&self) -> Progress {
        let seen = self.0.clone();
        Progress::new(move |p| seen.lock().unwrap().push(p.clone()))
    }

    fn all(&self) -> Vec<RolloutProgress> {
        self.0.lock().unwrap().clone()
    }
}

struct Applied {
    plan: Plan,
    result: Result<Stack, EngineError>,
    reports: Vec<GroupReport>,
    progress: Vec<RolloutProgress>,
}

/// Plans and applies `stack` at `version`, as `apply --auto-approve` does, recording progress.
async fn apply(cloud: &SimCloud, stack: &str, version: &str, stop: &Stop) -> Applied {
    let session = engine::open(cloud, &fixture(stack), inputs(version))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    assert!(plan.has_changes());
    let recorded = Recorded::default();
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        progress: recorded.progress(),
        ..ApplyOptions::default()
    };
    let (result, reports) = engine::execute(cloud, session, &plan, &opts, stop).await;
    Applied {
        plan,
        result,
        reports,
        progress: recorded.all(),
    }
}

#[track_caller]
fn ok(applied: &Applied) {
    if let Err(e) = &applied.result {
        panic!("apply failed: {e}\nreports: {:#?}", applied.reports);
    }
}

/// The plan's schedule of the one rolled-out group.
fn planned(plan: &Plan) -> Vec<plan::Wave> {
    plan.changes
        .iter()
        .find_map(|c| c.rollout.clone().filter(|r| r.from_generation.is_some()))
        .expect("a rollout in the plan")
        .waves
}

/// The plan's waves, the summary's and the last progress report's are the same number, for
/// every strategy.
#[tokio::test(start_paused = true)]
async fn plan_waves_are_summary_waves_for_every_strategy() {
    // (fixture, waves the plan shows: 12 by 25%; a canary of 1 baked, a checkpoint at 6, the
    // rest by 3; blue/green in one)
    let cases = [("sim-rolling", 4), ("sim-canary", 5), ("sim-bluegreen", 1)];
    for (stack, want) in cases {
        let cloud = sim();
        ok(&apply(&cloud, stack, "1.0.0", &Stop::new()).await);
        let applied = apply(&cloud, stack, "1.1.0", &Stop::new()).await;
        ok(&applied);
        let schedule = planned(&applied.plan);
        assert_eq!(schedule.len(), want, "{stack}: {schedule:?}");
        let [report] = applied.reports.as_slice() else {
            panic!("{stack}: {:#?}", applied.reports);
        };
        assert_eq!(
            (report.waves, report.planned_waves),
            (want as u32, want as u32),
            "{stack}: {report:#?}"
        );
        let last = applied.progress.last().expect("progress reported");
        assert_eq!(last.finished.as_deref(), Some("ok"), "{stack}");
        assert_eq!(
            (
                last.waves,
                last.planned_waves,
                last.healthy,
                last.old_left()
            ),
            (want as u32, want as u32, 12, 0),
            "{stack}: {last:#?}"
        );
        // Waves only ever go up, one report at a time, never past the plan.
        for pair in applied.progress.windows(2) {
            assert!(
                pair[0].waves <= pair[1].waves && pair[1].waves <= want as u32,
                "{stack}: {pair:#?}"
            );
        }
    }
}

/// A round that asks for new instances reports them as launching at once, not a poll later;
/// healthy plus launching never exceeds what the surge allows.
#[tokio::test(start_paused = true)]
async fn instances_asked_for_are_launching_at_once() {
    let cloud = sim();
    ok(&apply(&cloud, "sim-rolling", "1.0.0", &Stop::new()).await);
    let applied = apply(&cloud, "sim-rolling", "1.1.0", &Stop::new()).await;
    ok(&applied);
    let first = &applied.progress[0];
    assert_eq!(
        (first.launching, first.healthy, first.old_serving),
        (3, 0, 12),
        "{first:#?}"
    );
    for p in &applied.progress {
        // 12 + 25% surge in rotation at most.
        assert!(
            p.healthy + p.launching + p.old_serving + p.old_unhealthy <= 15,
            "{p:#?}"
        );
    }
}

/// Interrupted part-way: the last report says so, with the new instances healthy and the old
/// ones serving as last seen (not a full bar), and the waves got through, which the summary
/// repeats.
#[tokio::test(start_paused = true)]
async fn an_interrupted_rollout_reports_where_it_stopped() {
    let cloud = sim();
    ok(&apply(&cloud, "sim-rolling", "1.0.0", &Stop::new()).await);
    let stop = Stop::new();
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(150)).await;
        stop.request();
    };
    let (applied, ()) = tokio::join!(apply(&cloud, "sim-rolling", "1.1.0", &stop), stopper);
    match &applied.result {
        Err(EngineError::Apply(ApplyError::Interrupted { .. })) => {}
        other => panic!("expected an interruption, got {:?}", other.as_ref().err()),
    }
    let schedule = planned(&applied.plan);
    let last = applied.progress.last().expect("progress reported").clone();
    assert_eq!(last.finished.as_deref(), Some("interrupted"), "{last:#?}");
    assert!(0 < last.healthy && last.healthy < 12, "{last:#?}");
    assert!(last.old_serving > 0, "{last:#?}");
    assert_eq!(last.planned_waves as usize, schedule.len());
    assert_eq!(
        last.waves,
        plan::waves_through(&schedule, last.healthy, 12 - last.old_left()),
        "{last:#?}"
    );
    assert!(0 < last.waves && last.waves < 4, "{last:#?}");
    // Nothing is draining any more: a stopped rollout lets its drains finish.
    assert_eq!(last.draining, 0, "{last:#?}");
    // The account agrees: the old generation serves with what the report says.
    let snap = cloud.snapshot();
    let old: Vec<&String> = snap
        .groups
        .iter()
        .filter(|g| g.name.ends_with("-v001"))
        .flat_map(|g| &g.instances)
        .collect();
    let new: Vec<&String> = snap
        .groups
        .iter()
        .filter(|g| g.name.ends_with("-v002"))
        .flat_map(|g| &g.instances)
        .collect();
    let healthy = |ids: &[&String]| {
        snap.target_groups
            .iter()
            .flat_map(|tg| &tg.targets)
            .filter(|(id, state)| ids.contains(id) && **state == TargetState::Healthy)
            .count() as u32
    };
    assert_eq!(healthy(&old), last.old_serving, "{snap:#?}");
    assert_eq!(new.len() as u32, last.healthy + last.launching, "{snap:#?}");
    assert!(healthy(&new) >= last.healthy, "{snap:#?}");
    // No report of this rollout ever showed it complete.
    assert!(
        applied.progress.iter().all(|p| p.healthy < 12),
        "{:#?}",
        applied.progress
    );
    let [report] = applied.reports.as_slice() else {
        panic!("{:#?}", applied.reports);
    };
    assert_eq!(report.result, "interrupted");
    assert_eq!(
        (report.waves, report.planned_waves),
        (last.waves, 4),
        "{report:#?}"
    );
}
