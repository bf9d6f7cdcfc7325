//! The real engine rolling twelve instances on the simulator, in simulated time: capacity and
//! ownership invariants sampled every simulated second, a bad image rolled back, a throttling
//! storm, and a rollout stopped mid-wave and resumed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::sim::{ApiFaults, RateLimit, RateLimits, SimCloud, SimConfig, SimSnapshot};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, ImageFilter, RetryPolicy, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::stack::Stack;

const STACK: &str = "simroll";
const TARGET_GROUP: &str = "simroll-web";
const DESIRED: usize = 12;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim-rolling")
}

fn sim(config: SimConfig) -> Arc<SimCloud> {
    Arc::new(SimCloud::new(config, Stats::new()))
}

fn inputs(version: &str, extra: &[(&str, &str)]) -> Inputs {
    let mut cli = vec![("app_version".to_string(), version.to_string())];
    cli.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        poll: Duration::from_secs(5),
        parallelism: 10,
        ..ApplyOptions::default()
    }
}

type Applied = (Result<Stack, EngineError>, Vec<GroupReport>);

/// Plans and applies the fixture with `inputs`, as `reroll apply --auto-approve` does.
async fn apply(cloud: &SimCloud, inputs: Inputs, stop: &Stop) -> Applied {
    let session = engine::open(cloud, &fixture(), inputs).await.unwrap();
    let plan = session.plan(false).unwrap();
    assert!(plan.has_changes());
    engine::execute(cloud, session, &plan, &options(), stop).await
}

#[track_caller]
fn ok(applied: &Applied) {
    if let Err(e) = &applied.0 {
        panic!("apply failed: {e}\nreports: {:#?}", applied.1);
    }
}

async fn deploy_v1(cloud: &SimCloud, extra: &[(&str, &str)]) {
    ok(&apply(cloud, inputs("1.0.0", extra), &Stop::new()).await);
    let snap = cloud.snapshot();
    assert_eq!(
        snap.targets_in(TARGET_GROUP, TargetState::Healthy),
        DESIRED,
        "{snap:#?}"
    );
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

async fn plan_changes(cloud: &SimCloud, version: &str, extra: &[(&str, &str)]) -> bool {
    let session = engine::open(cloud, &fixture(), inputs(version, extra))
        .await
        .unwrap();
    session.plan(false).unwrap().has_changes()
}

// ---------------------------------------------------------------------------------------------
// The invariant sampler

/// What the sampler saw.
#[derive(Debug, Default)]
struct Samples {
    count: usize,
    min_healthy: usize,
    /// Capacity below the floor, orphans, instances terminated while serving.
    violations: Vec<String>,
    /// Instances seen running outside any generation for a moment (between a detach and the
    /// terminate that follows it).
    transient_orphans: usize,
}

struct Sampler {
    done: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Samples>,
}

/// Running instances of the stack that belong to no Auto Scaling group and no fleet.
fn orphans(snap: &SimSnapshot) -> BTreeSet<String> {
    snap.instances
        .iter()
        .filter(|i| i.stack.as_deref() == Some(STACK))
        .filter(|i| i.state.is_live())
        .filter(|i| i.group.is_none() && i.fleet.is_none())
        .map(|i| i.id.clone())
        .collect()
}

/// Checks the invariants every simulated second until stopped.
fn sample(cloud: Arc<SimCloud>, floor: usize) -> Sampler {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = tokio::spawn(async move {
        let mut s = Samples {
            min_healthy: usize::MAX,
            ..Default::default()
        };
        let mut orphaned_at: BTreeMap<String, Duration> = BTreeMap::new();
        let mut reported: BTreeSet<String> = BTreeSet::new();
        while !flag.load(Ordering::SeqCst) {
            let snap = cloud.snapshot();
            s.count += 1;
            let healthy = snap.targets_in(TARGET_GROUP, TargetState::Healthy);
            s.min_healthy = s.min_healthy.min(healthy);
            if healthy < floor {
                s.violations.push(format!(
                    "at {:?}: {healthy} healthy targets, below {floor}",
                    snap.at
                ));
            }
            let now = orphans(&snap);
            orphaned_at.retain(|id, _| now.contains(id));
            for id in &now {
                let since = *orphaned_at.entry(id.clone()).or_insert_with(|| {
                    s.transient_orphans += 1;
                    snap.at
                });
                if snap.at - since > ORPHAN_GRACE && reported.insert(format!("orphan {id}")) {
                    s.violations.push(format!(
                        "at {:?}: {id} runs outside every generation since {since:?}",
                        snap.at
                    ));
                }
            }
            for i in &snap.instances {
                if i.terminated_with
                    .values()
                    .any(|state| *state == TargetState::Healthy)
                    && reported.insert(format!("serving {}", i.id))
                {
                    s.violations.push(format!(
                        "{} was terminated while healthy in a target group: {:?}",
                        i.id, i.terminated_with
                    ));
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        s
    });
    Sampler { done, handle }
}

impl Sampler {
    /// Stops sampling; an instance left running outside every generation at the end is a
    /// violation too.
    async fn finish(self, cloud: &SimCloud) -> Samples {
        self.done.store(true, Ordering::SeqCst);
        let mut s = self.handle.await.unwrap();
        for id in orphans(&cloud.snapshot()) {
            s.violations
                .push(format!("{id} was left running outside every generation"));
        }
        s
    }
}

/// How long an instance may run outside every generation: between a detach and the terminate
/// that follows it, retries included.
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

#[track_caller]
fn held(s: &Samples) {
    assert!(s.count > 30, "too few samples: {s:?}");
    assert!(s.violations.is_empty(), "invariants broken: {s:#?}");
    assert!(s.min_healthy >= DESIRED, "{s:?}");
}

// ---------------------------------------------------------------------------------------------
// Convergence

/// One active generation of twelve on `image`, every other generation empty, the target group
/// holding exactly its instances, all healthy, and no other instance of the stack running.
async fn assert_converged(cloud: &SimCloud, image: &str, fleets: bool) {
    let groups = reroll::observe::generations(cloud, STACK, fleets)
        .await
        .unwrap();
    let active: Vec<_> = groups
        .iter()
        .filter(|g| g.tags.get(tag::STATE).map(String::as_str) == Some("active"))
        .collect();
    assert_eq!(active.len(), 1, "{groups:#?}");
    let active = active[0];
    assert_eq!(active.desired as usize, DESIRED);
    // Instances a retired generation's group is terminating (scaled in after they drained)
    // are on their way out; that none of them still runs is checked below.
    for g in groups.iter().filter(|g| g.name != active.name) {
        let staying = g
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.is_terminating())
            .count();
        assert_eq!((g.desired, staying), (0, 0), "{g:#?}");
    }
    let members: BTreeSet<String> = active.instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(members.len(), DESIRED);
    let snap = cloud.snapshot();
    let running: Vec<_> = snap
        .instances
        .iter()
        .filter(|i| i.state.is_live())
        .collect();
    assert_eq!(running.len(), DESIRED, "{running:#?}");
    assert!(running
        .iter()
        .all(|i| i.image_id == image && members.contains(&i.id)));
    let tg = snap
        .target_groups
        .iter()
        .find(|t| t.name == TARGET_GROUP)
        .unwrap();
    let targets: BTreeSet<String> = tg.targets.keys().cloned().collect();
    assert_eq!(targets, members);
    assert!(
        tg.targets.values().all(|s| *s == TargetState::Healthy),
        "{tg:#?}"
    );
}

fn report(name: &str, cloud: &SimCloud, simulated: Duration, wall: Duration, s: &Samples) {
    eprintln!(
        "{name}: {:.1} simulated minutes in {wall:.2?} of wall time; {} samples, minimum \
         {} healthy, {} transient orphan sightings\n{}",
        simulated.as_secs_f64() / 60.0,
        s.count,
        s.min_healthy,
        s.transient_orphans,
        cloud.stats().render()
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[tokio::test(start_paused = true)]
async fn rolling_twelve_keeps_capacity_and_converges() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    let v1 = image_id(&*cloud, "1.0.0").await;
    assert_converged(&cloud, &v1, false).await;

    let sampler = sample(cloud.clone(), DESIRED);
    let (started, wall) = (cloud.elapsed(), std::time::Instant::now());
    let applied = apply(&cloud, inputs("1.1.0", &[]), &Stop::new()).await;
    let (simulated, wall) = (cloud.elapsed() - started, wall.elapsed());
    let samples = sampler.finish(&cloud).await;
    ok(&applied);
    report("rolling 12", &cloud, simulated, wall, &samples);
    held(&samples);
    assert_eq!(applied.1[0].result, "ok");
    assert!(applied.1[0].waves >= 4, "{:?}", applied.1);
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    assert!(!plan_changes(&cloud, "1.1.0", &[]).await);
    // Observation stays cheap: no call per instance.
    let stats = cloud.stats().snapshot();
    assert!(
        stats["ELBv2.DescribeTargetHealth"].calls < 200,
        "{stats:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn instance_mode_rolls_twelve_without_losing_capacity() {
    let mode = [("mode", "instances")];
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &mode).await;
    assert!(cloud.list_groups(STACK).await.unwrap().is_empty());

    let sampler = sample(cloud.clone(), DESIRED);
    let applied = apply(&cloud, inputs("1.1.0", &mode), &Stop::new()).await;
    let samples = sampler.finish(&cloud).await;
    ok(&applied);
    held(&samples);
    assert!(cloud.list_groups(STACK).await.unwrap().is_empty());
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, true).await;
    assert!(!plan_changes(&cloud, "1.1.0", &mode).await);
}

#[tokio::test(start_paused = true)]
async fn bad_image_rolls_back_with_old_capacity_intact() {
    let cloud = sim(SimConfig {
        bad_images: ["demo-app-1.1.0".to_string()].into(),
        ..SimConfig::default()
    });
    deploy_v1(&cloud, &[]).await;

    let sampler = sample(cloud.clone(), DESIRED);
    let timeout = [("health_timeout", "5m")];
    let started = cloud.elapsed();
    let (result, reports) = apply(&cloud, inputs("1.1.0", &timeout), &Stop::new()).await;
    let simulated = cloud.elapsed() - started;
    let samples = sampler.finish(&cloud).await;
    match result {
        Err(EngineError::Apply(ApplyError::RolledBack { message, .. })) => {
            assert!(message.contains("healthy after 5m"), "{message}");
        }
        other => panic!("expected a rollback, got {:?}", other.map(|s| s.name)),
    }
    assert_eq!(reports[0].result, "rolled back");
    eprintln!("rollback took {simulated:?} of simulated time");
    held(&samples);

    // Like AWS, the removed generation is listed as being deleted until its instances are
    // gone (see `applying_right_after_a_rollback_does_not_resume_it`).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let groups = loop {
        let groups = cloud.list_groups(STACK).await.unwrap();
        if groups.len() == 1 || tokio::time::Instant::now() > deadline {
            break groups;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].name, "simroll-web-v001");
    assert_eq!((groups[0].min, groups[0].desired), (12, 12));
    assert!(groups[0].suspended_processes.is_empty());
    assert_converged(&cloud, &image_id(&*cloud, "1.0.0").await, false).await;

    let session = engine::open(&*cloud, &fixture(), inputs("1.1.0", &timeout))
        .await
        .unwrap();
    let err = session.plan(false).unwrap_err().to_string();
    assert!(err.contains("failed its rollout"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn throttling_storm_still_converges() {
    let tiny = RateLimit::new(3.0, 0.5);
    let cloud = sim(SimConfig {
        limits: RateLimits {
            ec2_describe: RateLimit::new(5.0, 1.0),
            ec2_mutate: tiny,
            run_instances: RateLimit::new(4.0, 0.2),
            elb: tiny,
            autoscaling: tiny,
        },
        ..SimConfig::default()
    });
    deploy_v1(&cloud, &[]).await;
    let sampler = sample(cloud.clone(), DESIRED);
    let started = cloud.elapsed();
    let applied = apply(&cloud, inputs("1.1.0", &[]), &Stop::new()).await;
    let simulated = cloud.elapsed() - started;
    let samples = sampler.finish(&cloud).await;
    ok(&applied);
    held(&samples);
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    let stats = cloud.stats().snapshot();
    let throttled: u64 = stats.values().map(|c| c.throttled).sum();
    eprintln!(
        "throttled rollout: {simulated:?} simulated, {throttled} throttled requests\n{}",
        cloud.stats().render()
    );
    for op in [
        "ELBv2.DescribeTargetHealth",
        "AutoScaling.DescribeAutoScalingGroups",
        "EC2.DescribeInstances",
    ] {
        assert!(stats[op].throttled > 0, "{op} never throttled: {stats:#?}");
    }
}

#[tokio::test(start_paused = true)]
async fn stopped_mid_wave_resumes_and_converges() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    let sampler = sample(cloud.clone(), DESIRED);

    let stop = Stop::new();
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(100)).await;
        stop.request();
    };
    let ((result, _), ()) = tokio::join!(apply(&cloud, inputs("1.1.0", &[]), &stop), stopper);
    match result {
        Err(EngineError::Apply(ApplyError::Interrupted { .. })) => {}
        other => panic!("expected an interruption, got {:?}", other.map(|s| s.name)),
    }
    // Both generations serve; the plan resumes.
    let groups = cloud.list_groups(STACK).await.unwrap();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    assert!(
        groups.iter().all(|g| !g.instances.is_empty()),
        "{groups:#?}"
    );
    let session = engine::open(&*cloud, &fixture(), inputs("1.1.0", &[]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    assert_eq!(plan.count(reroll::plan::Action::Resume), 1, "{plan:#?}");

    ok(&apply(&cloud, inputs("1.1.0", &[]), &Stop::new()).await);
    let samples = sampler.finish(&cloud).await;
    held(&samples);
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    assert!(!plan_changes(&cloud, "1.1.0", &[]).await);
}

#[tokio::test(start_paused = true)]
async fn a_saved_world_continues_the_rollout() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    let stop = Stop::new();
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(100)).await;
        stop.request();
    };
    let ((result, _), ()) = tokio::join!(apply(&cloud, inputs("1.1.0", &[]), &stop), stopper);
    assert!(result.is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.json");
    cloud.save(&path).unwrap();
    let loaded = Arc::new(SimCloud::load(&path, Stats::new()).unwrap());
    assert_eq!(loaded.snapshot(), cloud.snapshot());
    ok(&apply(&loaded, inputs("1.1.0", &[]), &Stop::new()).await);
    assert_converged(&loaded, &image_id(&*loaded, "1.1.0").await, false).await;
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_rolls_out_the_same_way() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let cloud = sim(SimConfig {
            seed: 7,
            ..SimConfig::default()
        });
        deploy_v1(&cloud, &[]).await;
        ok(&apply(&cloud, inputs("1.1.0", &[]), &Stop::new()).await);
        runs.push((cloud.snapshot(), cloud.stats().total_calls()));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(start_paused = true)]
async fn a_zone_without_capacity_is_avoided() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    cloud.configure(|c| c.insufficient_capacity_azs = ["us-east-1b".to_string()].into());
    let sampler = sample(cloud.clone(), DESIRED);
    ok(&apply(&cloud, inputs("1.1.0", &[]), &Stop::new()).await);
    held(&sampler.finish(&cloud).await);
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    let instances = cloud.list_instances(STACK).await.unwrap();
    // Running ones: the old generation's last, scaled in, may still be shutting down there.
    assert!(instances
        .iter()
        .filter(|i| i.state.is_live())
        .all(|i| i.availability_zone.as_deref() != Some("us-east-1b")));
}

#[tokio::test(start_paused = true)]
async fn four_hundred_instances_roll_in_simulated_minutes() {
    const N: &str = "400";
    let cloud = sim(SimConfig::default());
    ok(&apply(&cloud, inputs("1.0.0", &[("instances", N)]), &Stop::new()).await);
    let (started, wall) = (cloud.elapsed(), std::time::Instant::now());
    ok(&apply(&cloud, inputs("1.1.0", &[("instances", N)]), &Stop::new()).await);
    let simulated = cloud.elapsed() - started;
    eprintln!(
        "rolling 400: {:.1} simulated minutes in {:.2?} of wall time\n{}",
        simulated.as_secs_f64() / 60.0,
        wall.elapsed(),
        cloud.stats().render()
    );
    let snap = cloud.snapshot();
    assert_eq!(snap.targets_in(TARGET_GROUP, TargetState::Healthy), 400);
    // Observation costs calls per round, not per instance.
    let stats = cloud.stats().snapshot();
    assert!(stats["EC2.DescribeInstances"].calls < 50, "{stats:#?}");
}

/// After a rollback, the removed generation is still being deleted for a while (its group
/// drains and terminates its instances). Applying again in that window must not resume it.
#[tokio::test(start_paused = true)]
async fn applying_right_after_a_rollback_does_not_resume_it() {
    let cloud = sim(SimConfig {
        bad_images: ["demo-app-1.1.0".to_string()].into(),
        ..SimConfig::default()
    });
    deploy_v1(&cloud, &[]).await;
    let timeout = [("health_timeout", "5m")];
    let (result, _) = apply(&cloud, inputs("1.1.0", &timeout), &Stop::new()).await;
    assert!(matches!(
        result,
        Err(EngineError::Apply(ApplyError::RolledBack { .. }))
    ));
    let session = engine::open(&*cloud, &fixture(), inputs("1.1.0", &timeout))
        .await
        .unwrap();
    let err = session.plan(false).unwrap_err().to_string();
    assert!(err.contains("failed its rollout"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Faults that outlive nothing: throttles and 5xx at random

/// A fast account (instances boot in seconds, health checks every 5 s, a 5 s drain), so that
/// the rollout's own pace, its calls and their retries, decides how long it takes.
fn fast_account() -> SimConfig {
    SimConfig {
        boot_time: reroll::cloud::sim::Seconds { min: 2.0, max: 4.0 },
        ..SimConfig::default()
    }
}

const FAST: [(&str, &str); 2] = [("deregistration_delay", "5s"), ("health_interval", "5s")];

/// The simulated time of a rollout of twelve with `faults` on every API call, the client
/// retrying as `retry` says; and its calls.
async fn makespan(faults: ApiFaults, retry: RetryPolicy) -> (Duration, Samples, Stats) {
    let cloud = sim(fast_account());
    deploy_v1(&cloud, &FAST).await;
    cloud.configure(|c| {
        c.api_faults = faults;
        c.retry = retry;
    });
    let sampler = sample(cloud.clone(), DESIRED);
    let started = cloud.elapsed();
    let applied = apply(&cloud, inputs("1.1.0", &FAST), &Stop::new()).await;
    let simulated = cloud.elapsed() - started;
    let samples = sampler.finish(&cloud).await;
    ok(&applied);
    cloud.configure(|c| c.api_faults = ApiFaults::default());
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    (simulated, samples, cloud.stats().clone())
}

/// One in five attempts throttled or failed on AWS's side: the rollout is slower by about as
/// much, not by an order of magnitude. Run with `--nocapture` to see the makespans.
#[tokio::test(start_paused = true)]
async fn random_throttles_and_5xx_slow_a_rollout_in_proportion() {
    let faults = ApiFaults {
        throttle: 0.10,
        server_error: 0.10,
        ..ApiFaults::default()
    };
    let (calm, _, _) = makespan(ApiFaults::default(), RetryPolicy::REROLL).await;
    let (sdk, _, sdk_stats) = makespan(faults, RetryPolicy::sdk_default(8)).await;
    let (faulty, samples, stats) = makespan(faults, RetryPolicy::REROLL).await;
    eprintln!(
        "rolling 12, fast account: {:.0?} without faults; with 10% throttles and 10% 5xx: \
         {:.0?} with the SDK's default backoff, {:.0?} with reroll's\n\
         SDK default backoff:\n{}reroll's:\n{}",
        calm,
        sdk,
        faulty,
        sdk_stats.render(),
        stats.render()
    );
    held(&samples);
    let ratio = faulty.as_secs_f64() / calm.as_secs_f64();
    assert!(ratio < 1.75, "{faulty:?} against {calm:?} without faults");
}

/// A rollout from 1.0.0 to 1.1.0 stopped part-way, both generations serving.
async fn interrupted_at_1_1_0(cloud: &SimCloud) {
    deploy_v1(cloud, &[]).await;
    let stop = Stop::new();
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(100)).await;
        stop.request();
    };
    let ((result, _), ()) = tokio::join!(apply(cloud, inputs("1.1.0", &[]), &stop), stopper);
    assert!(
        matches!(
            result,
            Err(EngineError::Apply(ApplyError::Interrupted { .. }))
        ),
        "{:?}",
        result.map(|s| s.name)
    );
}

/// Interrupted on the way to 1.1.0, then the stack goes back to 1.0.0 (or on to 1.2.0): the
/// interrupted generation is rolled back, never finished, capacity holds throughout, and no
/// failure is recorded against 1.1.0.
#[tokio::test(start_paused = true)]
async fn a_reverted_stack_abandons_the_interrupted_rollout() {
    // (the stack asks for, generation serving at the end)
    for (version, serving) in [("1.0.0", "001"), ("1.2.0", "003")] {
        let cloud = sim(SimConfig::default());
        interrupted_at_1_1_0(&cloud).await;
        let session = engine::open(&*cloud, &fixture(), inputs(version, &[]))
            .await
            .unwrap();
        let plan = session.plan(false).unwrap();
        assert_eq!(plan.count(reroll::plan::Action::Resume), 0, "{plan:#?}");
        let sampler = sample(cloud.clone(), DESIRED);
        let applied = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
        ok(&applied);
        held(&sampler.finish(&cloud).await);
        // The removed generation's group is deleted in the background; give AWS the time.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_converged(&cloud, &image_id(&*cloud, version).await, false).await;
        let groups = cloud.list_groups(STACK).await.unwrap();
        let active = groups
            .iter()
            .find(|g| g.tags.get(tag::STATE).map(String::as_str) == Some("active"))
            .unwrap();
        assert!(active.name.ends_with(serving), "{version}: {groups:#?}");
        assert!(
            !groups.iter().any(|g| g.name.ends_with("v002")),
            "{version}: the interrupted generation is gone: {groups:#?}"
        );
        assert!(
            groups
                .iter()
                .all(|g| g.tags.get(tag::FAILED).is_none_or(|f| f.is_empty())),
            "{version}: nothing is recorded as failed: {groups:#?}"
        );
        assert!(!plan_changes(&cloud, version, &[]).await, "{version}");
        // 1.1.0 may be tried again: it did not fail, it was withdrawn.
        let session = engine::open(&*cloud, &fixture(), inputs("1.1.0", &[]))
            .await
            .unwrap();
        assert!(session.plan(false).is_ok(), "{version}");
    }
}

/// Exit 0 means the account matches the stack: an apply whose plan no longer fits what it finds
/// ends with an error naming what remains, not with success.
#[tokio::test(start_paused = true)]
async fn an_apply_that_leaves_differences_does_not_succeed() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    // Planned at 1.1.0; then, before it runs, someone scales the group by hand and the plan is
    // carried out as it was (a resize it no longer covers remains).
    let session = engine::open(&*cloud, &fixture(), inputs("1.0.0", &[("instances", "14")]))
        .await
        .unwrap();
    let mut plan = session.plan(false).unwrap();
    // A plan that forgets the server group: its resize remains after apply.
    plan.changes
        .retain(|c| c.kind != reroll::plan::Kind::ServerGroup);
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    let err = result.expect_err("a difference remains").to_string();
    assert!(
        err.contains("does not match the stack yet") && err.contains("server_group.web (resize)"),
        "{err}"
    );
}

/// Target health that lags deregistrations (still `healthy` for 15 s after one) neither makes
/// the rollout drain the same instances again and again, nor lets it count them as serving:
/// capacity holds, each old instance is deregistered once, and the rounds wait.
#[tokio::test(start_paused = true)]
async fn lagging_target_health_does_not_make_the_rollout_spin() {
    use reroll::cloud::fault::{FaultCloud, Faults};
    let cloud = sim(SimConfig::default());
    deploy_v1(&cloud, &[]).await;
    let lagging = FaultCloud::new(
        cloud.clone(),
        STACK,
        Faults {
            health_lag: Some(Duration::from_secs(15)),
            ..Faults::default()
        },
    );
    let sampler = sample(cloud.clone(), DESIRED);
    let session = engine::open(&lagging, &fixture(), inputs("1.1.0", &[]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let applied = engine::execute(&lagging, session, &plan, &options(), &Stop::new()).await;
    let samples = sampler.finish(&cloud).await;
    ok(&applied);
    held(&samples);
    assert_converged(&cloud, &image_id(&*cloud, "1.1.0").await, false).await;
    let calls = lagging.calls();
    let deregistrations = calls.iter().filter(|c| **c == "deregister_targets").count();
    // Each call deregisters at least one old instance, none twice: a spinning rollout would
    // deregister the same ones over and over.
    assert!(
        deregistrations <= DESIRED,
        "{deregistrations} deregistrations to replace {DESIRED} instances"
    );
    let looks = calls.iter().filter(|c| **c == "target_health").count();
    assert!(looks < 200, "{looks} health reads");
}
