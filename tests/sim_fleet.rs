//! A fleet with launch template options, Auto Scaling settings and a launching lifecycle hook,
//! deployed and rolled by the real engine on the simulator, in simulated time: every new
//! generation gets the settings, and an instance held in `Pending:Wait` is not counted until
//! its hook lets it go.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::fault::{FailCall, FaultCloud, Faults};
use reroll::cloud::launch::{BlockDevice, LaunchOptions, Metadata, Placement};
use reroll::cloud::scaling::{GroupSettings, PolicyKind, Transition};
use reroll::cloud::sim::{SimCloud, SimConfig, SimGroup};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, InstanceState, Lifecycle, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::stack::Stack;

const STACK: &str = "simfleet";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim-fleet")
}

fn inputs(vars: &[(&str, &str)]) -> Inputs {
    Inputs {
        cli: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

type Applied = (Result<Stack, EngineError>, Vec<GroupReport>);

async fn apply(cloud: &SimCloud, vars: &[(&str, &str)]) -> Applied {
    let session = engine::open(cloud, &fixture(), inputs(vars)).await.unwrap();
    let plan = session.plan(false).unwrap();
    assert!(plan.has_changes());
    let options = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    engine::execute(cloud, session, &plan, &options, &Stop::new()).await
}

#[track_caller]
fn ok(applied: &Applied) {
    if let Err(e) = &applied.0 {
        panic!("apply failed: {e}\nreports: {:#?}", applied.1);
    }
}

/// The stack's groups, oldest generation first, deleted ones left out.
fn generations(cloud: &SimCloud) -> Vec<SimGroup> {
    let mut groups: Vec<SimGroup> = cloud
        .snapshot()
        .groups
        .into_iter()
        .filter(|g| g.stack.as_deref() == Some(STACK) && !g.deleting)
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    groups
}

/// Completes the launching lifecycle action of every instance held in `Pending:Wait` for
/// `after`, as an instance's bootstrap would once it is ready, until stopped.
fn bootstrap(
    cloud: Arc<SimCloud>,
    after: Duration,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<usize>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let handle = tokio::spawn(async move {
        let mut seen: std::collections::BTreeMap<String, Duration> = Default::default();
        let mut completed = 0;
        while !flag.load(Ordering::SeqCst) {
            let snap = cloud.snapshot();
            for i in &snap.instances {
                if i.lifecycle != Some(Lifecycle::PendingWait) {
                    continue;
                }
                let since = *seen.entry(i.id.clone()).or_insert(snap.at);
                if snap.at - since >= after {
                    let group = i.group.clone().unwrap();
                    cloud
                        .complete_lifecycle_action(&group, &i.id, "CONTINUE")
                        .unwrap();
                    completed += 1;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        completed
    });
    (done, handle)
}

fn expected_options() -> LaunchOptions {
    LaunchOptions {
        metadata: Metadata {
            http_tokens: "required".into(),
            hop_limit: 2,
        },
        block_devices: vec![BlockDevice {
            device_name: "/dev/xvda".into(),
            volume_size: Some(30),
            volume_type: Some("gp3".into()),
            iops: Some(4000),
            throughput: Some(250),
            encrypted: Some(true),
            kms_key_id: Some("alias/shop".into()),
        }],
        monitoring: true,
        ebs_optimized: Some(true),
        network_interfaces: Vec::new(),
        placement: Placement {
            tenancy: Some("default".into()),
            ..Placement::default()
        },
        cpu_credits: Some("unlimited".into()),
        instance_tags: Default::default(),
        volume_tags: [("backup".to_string(), "daily".to_string())].into(),
    }
}

fn check_settings(g: &SimGroup) {
    let s: &GroupSettings = &g.spec.settings;
    assert_eq!(g.spec.health_check_type, "ELB", "{}", g.name);
    assert_eq!(g.spec.health_check_grace_seconds, 90, "{}", g.name);
    assert_eq!(s.default_instance_warmup, Some(120));
    assert_eq!(s.termination_policies, ["OldestLaunchTemplate", "Default"]);
    assert!(s.capacity_rebalance);
    assert_eq!(s.scaling_policies.len(), 1);
    assert!(matches!(
        &s.scaling_policies[0].kind,
        PolicyKind::TargetTracking { predefined_metric_type, target_value, .. }
            if predefined_metric_type == "ASGAverageCPUUtilization" && target_value == "55.5"
    ));
    assert_eq!(
        s.scheduled_actions[0].recurrence.as_deref(),
        Some("0 22 * * *")
    );
    assert_eq!(s.lifecycle_hooks.len(), 1);
    assert_eq!(s.lifecycle_hooks[0].transition, Transition::Launching);
}

#[tokio::test(start_paused = true)]
async fn every_new_generation_gets_the_launch_options_and_group_settings() {
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(20));
    ok(&apply(&cloud, &[]).await);
    ok(&apply(&cloud, &[("app_version", "1.1.0")]).await);
    stop.store(true, Ordering::SeqCst);
    assert!(boot.await.unwrap() >= 6, "each launch was held and let go");

    let gens = generations(&cloud);
    assert_eq!(gens.len(), 2, "the new generation and the one retained");
    for g in &gens {
        check_settings(g);
        let spec = cloud
            .launch_template_version(&g.spec.launch_template_id, &g.spec.launch_template_version)
            .await
            .unwrap();
        assert_eq!(spec.options, expected_options(), "{}", g.name);
        assert_eq!(spec.key_name.as_deref(), Some("ops"));
    }
    let session = engine::open(&*cloud, &fixture(), inputs(&[("app_version", "1.1.0")]))
        .await
        .unwrap();
    assert!(
        !session.plan(false).unwrap().has_changes(),
        "what was launched is what the stack asks for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_launch_held_by_its_hook_is_counted_once_it_continues() {
    // Let go after a minute by the instance's bootstrap: the deploy waits that long, not for
    // the heartbeat timeout.
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(60));
    let started = cloud.elapsed();
    ok(&apply(&cloud, &[]).await);
    let took = cloud.elapsed() - started;
    stop.store(true, Ordering::SeqCst);
    assert_eq!(boot.await.unwrap(), 3);
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(600),
        "{took:?}"
    );

    // Nobody completes the action: the heartbeat (20 minutes, far longer than a boot and its
    // health checks) runs out and CONTINUE lets the instances in.
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let started = cloud.elapsed();
    ok(&apply(&cloud, &[("heartbeat", "20m")]).await);
    let took = cloud.elapsed() - started;
    assert!(took >= Duration::from_secs(1200), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn instances_abandoned_by_their_hook_never_count_and_the_rollout_rolls_back() {
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(10));
    ok(&apply(&cloud, &[]).await);
    stop.store(true, Ordering::SeqCst);
    boot.await.unwrap();
    let v1 = generations(&cloud);

    // v1.1.0's launches wait for an action nobody sends; at the heartbeat's end they are
    // abandoned (terminated), so the rollout never sees them healthy.
    let vars = [
        ("app_version", "1.1.0"),
        ("hook_result", "ABANDON"),
        ("heartbeat", "1m"),
        ("health_timeout", "5m"),
    ];
    let (result, _) = apply(&cloud, &vars).await;
    assert!(
        matches!(
            result,
            Err(EngineError::Apply(ApplyError::RolledBack { .. }))
        ),
        "{result:?}"
    );
    let snap = cloud.snapshot();
    let serving = snap
        .groups
        .iter()
        .find(|g| g.name == v1[0].name)
        .expect("v1 is kept");
    assert_eq!(serving.desired, 3);
    assert_eq!(
        snap.targets_in("simfleet-web", TargetState::Healthy),
        3,
        "{snap:#?}"
    );
    let _ = cloud.list_groups(STACK).await.unwrap();
}

/// An apply stopped between creating a new generation's group and putting its scaling
/// policies and scheduled actions: the next apply resumes the rollout and puts them.
#[tokio::test(start_paused = true)]
async fn a_resumed_generation_gets_the_settings_an_interrupted_apply_did_not_put() {
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(20));
    ok(&apply(&cloud, &[]).await);
    let faulty = FaultCloud::new(
        cloud.clone(),
        STACK,
        Faults {
            fail: Some(FailCall {
                at: 1,
                operations: ["configure_group".to_string()].into(),
                transient: false,
            }),
            ..Faults::default()
        },
    );
    let session = engine::open(&faulty, &fixture(), inputs(&[("app_version", "1.1.0")]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let options = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let (stopped, _) = engine::execute(&faulty, session, &plan, &options, &Stop::new()).await;
    assert!(stopped.is_err(), "the injected refusal stops the apply");
    let new = generations(&cloud).pop().unwrap();
    assert!(new.name.ends_with("-v002"), "{}", new.name);
    assert!(
        new.spec.settings.scaling_policies.is_empty(),
        "the group was created and not configured"
    );

    ok(&apply(&cloud, &[("app_version", "1.1.0")]).await);
    stop.store(true, Ordering::SeqCst);
    boot.await.unwrap();
    let gens = generations(&cloud);
    let new = gens.iter().find(|g| g.name.ends_with("-v002")).unwrap();
    check_settings(new);
}

/// A terminating lifecycle hook is honoured while old instances are released: their group
/// terminates them (its own scale-in, never a detach and a terminate), so each is held in
/// `Terminating:Wait`, after its drain, until the hook's heartbeat runs out.
#[tokio::test(start_paused = true)]
async fn old_instances_go_through_the_terminating_hook() {
    let dir = with_terminating_hook();
    let stats = Stats::new();
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), stats.clone()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(20));
    let options = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let apply = |version: &'static str| {
        let cloud = cloud.clone();
        let path = dir.path().to_path_buf();
        let options = options.clone();
        async move {
            let session = engine::open(&*cloud, &path, inputs(&[("app_version", version)]))
                .await
                .unwrap();
            let plan = session.plan(false).unwrap();
            engine::execute(&*cloud, session, &plan, &options, &Stop::new()).await
        }
    };
    ok(&apply("1.0.0").await);
    let old: BTreeSet<String> = generations(&cloud)[0].instances.iter().cloned().collect();
    assert!(!old.is_empty());

    let (sampling, held, sampler) = sample_held(cloud.clone());
    ok(&apply("1.1.0").await);
    // The hook's heartbeat (2 min) runs out, then EC2 terminates them.
    tokio::time::sleep(Duration::from_secs(240)).await;
    sampling.store(false, Ordering::SeqCst);
    sampler.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    boot.await.unwrap();
    check_held_and_drained(&cloud, &held.lock().unwrap(), &old);

    let calls = |op: &str| stats.snapshot().get(op).map_or(0, |c| c.calls);
    // Serving old instances go by the group's scale-in: no call names them.
    assert_eq!(calls("AutoScaling.TerminateInstanceInAutoScalingGroup"), 0);
    assert_eq!(calls("AutoScaling.DetachInstances"), 0);
    assert_eq!(calls("EC2.TerminateInstances"), 0);
}

/// Which instances are ever seen held by a terminating hook, sampled every second until the
/// flag is cleared.
#[allow(clippy::type_complexity)]
fn sample_held(
    cloud: Arc<SimCloud>,
) -> (
    Arc<AtomicBool>,
    Arc<std::sync::Mutex<BTreeSet<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let held = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let (h, s) = (held.clone(), sampling.clone());
    let sampler = tokio::spawn(async move {
        while s.load(Ordering::SeqCst) {
            for i in cloud.snapshot().instances {
                if i.lifecycle == Some(Lifecycle::TerminatingWait) {
                    h.lock().unwrap().insert(i.id);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    (sampling, held, sampler)
}

/// The sim-fleet stack with a terminating lifecycle hook whose heartbeat is 2 minutes.
fn with_terminating_hook() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture().join("main.hcl"))
        .unwrap()
        .replace(
            "  rollout {\n    max_surge       = 1",
            "  lifecycle_hook \"drain\" {\n    lifecycle_transition = \
             \"autoscaling:EC2_INSTANCE_TERMINATING\"\n    heartbeat_timeout    = \"2m\"\n    \
             default_result       = \"CONTINUE\"\n  }\n\n  rollout {\n    max_surge       = 1",
        );
    assert!(text.contains("EC2_INSTANCE_TERMINATING"));
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    dir
}

/// Every instance of `ids` was seen held by the terminating hook, and none was terminated
/// while it served.
#[track_caller]
fn check_held_and_drained(cloud: &SimCloud, held: &BTreeSet<String>, ids: &BTreeSet<String>) {
    assert_eq!(held, ids, "every instance waited on the hook");
    let snap = cloud.snapshot();
    for id in ids {
        let i = snap.instance(id).unwrap();
        assert_eq!(i.state, InstanceState::Terminated, "{id}");
        assert!(
            i.terminated_with
                .values()
                .all(|s| *s != TargetState::Healthy),
            "{id} was terminated while serving: {:?}",
            i.terminated_with
        );
    }
}

/// Destroying the stack (or removing a server group from it) scales each generation in
/// before deleting it, as Auto Scaling scales in: every instance leaves its target groups
/// and passes the terminating hook, which deleting the group with its instances would skip.
#[tokio::test(start_paused = true)]
async fn destroy_passes_every_instance_through_the_terminating_hook() {
    let dir = with_terminating_hook();
    let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    let (stop, boot) = bootstrap(cloud.clone(), Duration::from_secs(20));
    let options = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let session = engine::open(&*cloud, dir.path(), inputs(&[]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    ok(&engine::execute(&*cloud, session, &plan, &options, &Stop::new()).await);
    let serving: BTreeSet<String> = generations(&cloud)[0].instances.iter().cloned().collect();
    assert_eq!(serving.len(), 3);

    let (sampling, held, sampler) = sample_held(cloud.clone());
    let observed = reroll::observe::observe(&*cloud, STACK).await.unwrap();
    let empty = Stack {
        name: STACK.into(),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let plan = reroll::plan::destroy_plan(reroll::plan::plan(&empty, &observed, true).unwrap());
    reroll::apply::deletions(&*cloud, &plan, &observed, &options)
        .await
        .unwrap();
    sampling.store(false, Ordering::SeqCst);
    sampler.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    boot.await.unwrap();
    assert!(generations(&cloud).is_empty(), "the group is deleted");
    check_held_and_drained(&cloud, &held.lock().unwrap(), &serving);
}
