//! Canary and blue/green rollouts on the simulator, in simulated time, with AWS-like health
//! checks (a target group is health-checked only once a listener forwards to it): the canary
//! holds at its checkpoints for the whole bake, an alarm during the bake rolls back, and
//! blue/green moves listener weights step by step without losing serving capacity.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, ImageFilter, InstanceState, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::stack::Stack;

const DESIRED: usize = 12;
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

type Applied = (Result<Stack, EngineError>, Vec<GroupReport>);

async fn apply(cloud: &SimCloud, stack: &str, version: &str) -> Applied {
    let session = engine::open(cloud, &fixture(stack), inputs(version))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    assert!(plan.has_changes());
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    engine::execute(cloud, session, &plan, &opts, &Stop::new()).await
}

#[track_caller]
fn ok(applied: &Applied) {
    if let Err(e) = &applied.0 {
        panic!("apply failed: {e}\nreports: {:#?}", applied.1);
    }
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

/// Running instances of the stack, by image.
fn running_by_image(cloud: &SimCloud, stack: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in cloud.snapshot().instances {
        if i.stack.as_deref() == Some(stack) && i.state == InstanceState::Running {
            *out.entry(i.image_id).or_default() += 1;
        }
    }
    out
}

/// What one look every 10 simulated seconds saw.
#[derive(Debug, Default, Clone)]
struct Look {
    at: Duration,
    /// Instances of the new generation (group name ends in `-v002`).
    new_instances: usize,
    /// Healthy targets across every target group a listener forwards to with weight > 0.
    serving: usize,
    /// The listener's forward action as `name=weight` pairs.
    weights: String,
}

struct Watch {
    done: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<Look>>,
}

fn watch(cloud: Arc<SimCloud>, stack: &'static str) -> Watch {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = tokio::spawn(async move {
        let mut looks = Vec::new();
        while !flag.load(Ordering::SeqCst) {
            let snap = cloud.snapshot();
            let new_instances = snap
                .instances
                .iter()
                .filter(|i| i.state.is_live())
                .filter(|i| i.group.as_deref().is_some_and(|g| g.ends_with("-v002")))
                .count();
            let mut serving = 0;
            let mut weights = Vec::new();
            let tgs = cloud
                .list_target_groups(stack, "")
                .await
                .unwrap_or_default();
            let name_of = |arn: &str| {
                tgs.iter()
                    .find(|t| t.arn == arn)
                    .map_or(arn.to_string(), |t| t.spec.name.clone())
            };
            for lb in cloud
                .list_load_balancers(stack, "")
                .await
                .unwrap_or_default()
            {
                for l in cloud.list_listeners(&lb.arn).await.unwrap_or_default() {
                    let alone = l.spec.forward.len() == 1;
                    for f in &l.spec.forward {
                        let name = name_of(&f.target_group_arn);
                        // A lone forward takes all traffic, whatever its weight.
                        weights.push(if alone {
                            name.clone()
                        } else {
                            format!("{name}={}", f.weight)
                        });
                        if f.weight > 0 {
                            serving += snap.targets_in(&name, TargetState::Healthy);
                        }
                    }
                }
            }
            looks.push(Look {
                at: cloud.elapsed(),
                new_instances,
                serving,
                weights: weights.join(" "),
            });
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        looks
    });
    Watch { done, handle }
}

impl Watch {
    async fn finish(self) -> Vec<Look> {
        self.done.store(true, Ordering::SeqCst);
        self.handle.await.unwrap()
    }
}

/// How long the new generation stayed at exactly `n` instances, in one stretch.
fn held_at(looks: &[Look], n: usize) -> Duration {
    let mut best = Duration::ZERO;
    let mut since: Option<Duration> = None;
    for l in looks {
        match (l.new_instances == n, since) {
            (true, None) => since = Some(l.at),
            (true, Some(s)) => best = best.max(l.at - s),
            (false, _) => since = None,
        }
    }
    best
}

#[tokio::test(start_paused = true)]
async fn a_canary_holds_for_its_bake_at_each_checkpoint_then_rolls_on() {
    let cloud = sim();
    ok(&apply(&cloud, "sim-canary", "1.0.0").await);
    let w = watch(cloud.clone(), "simcanary");
    let applied = apply(&cloud, "sim-canary", "1.1.0").await;
    let looks = w.finish().await;
    ok(&applied);
    let bake = Duration::from_secs(600);
    assert!(
        held_at(&looks, 1) >= bake - Duration::from_secs(20),
        "canary: {looks:#?}"
    );
    assert!(
        held_at(&looks, 6) >= bake - Duration::from_secs(20),
        "checkpoint: {looks:#?}"
    );
    let min = looks.iter().map(|l| l.serving).min().unwrap();
    assert!(min >= DESIRED, "serving capacity fell to {min}");
    let v2 = image_id(&*cloud, "1.1.0").await;
    assert_eq!(
        running_by_image(&cloud, "simcanary"),
        BTreeMap::from([(v2, DESIRED)])
    );
    eprintln!(
        "canary 12: {} simulated, canary held {:?}, checkpoint held {:?}, min serving {min}",
        humantime::format_duration(Duration::from_secs(looks.last().unwrap().at.as_secs())),
        held_at(&looks, 1),
        held_at(&looks, 6)
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_the_canary_bake_rolls_back_with_old_capacity_intact() {
    let cloud = sim();
    ok(&apply(&cloud, "sim-canary", "1.0.0").await);
    let fire = {
        let cloud = cloud.clone();
        tokio::spawn(async move {
            // Well inside the canary's 10-minute bake.
            tokio::time::sleep(Duration::from_secs(300)).await;
            cloud.set_alarm_state(ALARM, "ALARM");
        })
    };
    let applied = apply(&cloud, "sim-canary", "1.1.0").await;
    fire.await.unwrap();
    match &applied.0 {
        Err(EngineError::Apply(ApplyError::RolledBack { message, .. })) => {
            assert!(message.contains(ALARM), "{message}")
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    let v1 = image_id(&*cloud, "1.0.0").await;
    assert_eq!(
        running_by_image(&cloud, "simcanary"),
        BTreeMap::from([(v1, DESIRED)])
    );
}

#[tokio::test(start_paused = true)]
async fn blue_green_moves_weights_in_steps_without_losing_capacity() {
    let cloud = sim();
    ok(&apply(&cloud, "sim-bluegreen", "1.0.0").await);
    let w = watch(cloud.clone(), "simbg");
    let applied = apply(&cloud, "sim-bluegreen", "1.1.0").await;
    let looks = w.finish().await;
    ok(&applied);
    let mut sequence: Vec<String> = Vec::new();
    for l in &looks {
        if sequence.last() != Some(&l.weights) {
            sequence.push(l.weights.clone());
        }
    }
    let expected = [
        "simbg-web",
        "simbg-web=100 simbg-web-web-v002=0",
        "simbg-web=90 simbg-web-web-v002=10",
        "simbg-web=50 simbg-web-web-v002=50",
        "simbg-web-web-v002",
    ];
    assert_eq!(sequence, expected, "listener weights over time");
    // Once blue's window has passed, the listener forwards to green alone.
    let lb = &cloud.list_load_balancers("simbg", "").await.unwrap()[0];
    let forward = &cloud.list_listeners(&lb.arn).await.unwrap()[0].spec.forward;
    let tgs = cloud.list_target_groups("simbg", "").await.unwrap();
    let green = tgs
        .iter()
        .find(|t| t.spec.name == "simbg-web-web-v002")
        .unwrap();
    assert_eq!(forward.len(), 1, "{forward:?}");
    assert_eq!(forward[0].target_group_arn, green.arn);
    let min = looks.iter().map(|l| l.serving).min().unwrap();
    assert!(min >= DESIRED, "serving capacity fell to {min}: {looks:#?}");
    let v2 = image_id(&*cloud, "1.1.0").await;
    assert_eq!(
        running_by_image(&cloud, "simbg"),
        BTreeMap::from([(v2, DESIRED)])
    );
    eprintln!(
        "blue/green 12: {} simulated; weights: {}",
        humantime::format_duration(Duration::from_secs(looks.last().unwrap().at.as_secs())),
        sequence.join(" → ")
    );
}
