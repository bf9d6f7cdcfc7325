//! Rollouts that cannot succeed stop at once with AWS's reason instead of waiting out the
//! health deadline (launches that keep failing, targets no listener serves), groups another
//! controller works on are left alone, and creates whose reply was lost are adopted — all on
//! the simulator, in simulated time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions, GroupReport};
use reroll::cloud::fault::{FaultCloud, Faults};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, Tags, TargetState};
use reroll::engine::{self, EngineError, Session};
use reroll::load::Inputs;
use reroll::plan::Plan;
use reroll::stack::Stack;

const STACK: &str = "simroll";
const TARGET_GROUP: &str = "simroll-web";
const DESIRED: usize = 12;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rolling() -> PathBuf {
    fixture("sim-rolling")
}

fn sim(config: SimConfig) -> Arc<SimCloud> {
    Arc::new(SimCloud::new(config, Stats::new()))
}

fn no_capacity() -> SimConfig {
    SimConfig {
        insufficient_capacity_azs: ZONES.iter().map(|z| z.to_string()).collect(),
        ..SimConfig::default()
    }
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

async fn session(cloud: &dyn Cloud, path: &Path, inputs: Inputs) -> (Session, Plan) {
    let session = engine::open(cloud, path, inputs).await.unwrap();
    let plan = session.plan(false).unwrap();
    (session, plan)
}

/// Plans and applies, as `reroll apply --auto-approve` does.
async fn apply(cloud: &dyn Cloud, path: &Path, inputs: Inputs) -> Applied {
    let (session, plan) = session(cloud, path, inputs).await;
    engine::execute(cloud, session, &plan, &options(), &Stop::new()).await
}

#[track_caller]
fn ok(applied: &Applied) {
    if let Err(e) = &applied.0 {
        panic!("apply failed: {e}\nreports: {:#?}", applied.1);
    }
}

async fn deploy_v1(cloud: &dyn Cloud, extra: &[(&str, &str)]) {
    ok(&apply(cloud, &rolling(), inputs("1.0.0", extra)).await);
}

fn healthy(cloud: &SimCloud) -> usize {
    cloud
        .snapshot()
        .targets_in(TARGET_GROUP, TargetState::Healthy)
}

/// Waits (in simulated time) until no group but `keep` is left, at most ten minutes.
async fn only_group_left(cloud: &SimCloud, keep: Option<&str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let names: Vec<String> = cloud
            .list_groups(STACK)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        if names.iter().map(String::as_str).eq(keep) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "groups left: {names:?}"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn rolled_back(applied: &Applied) -> String {
    match &applied.0 {
        Err(EngineError::Apply(ApplyError::RolledBack { message, .. })) => message.clone(),
        other => panic!(
            "expected a rollback, got {:?}\n{:#?}",
            other.as_ref().map(|s| &s.name),
            applied.1
        ),
    }
}

fn failure(applied: &Applied) -> String {
    match &applied.0 {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected apply to fail: {:#?}", applied.1),
    }
}

// ---------------------------------------------------------------------------------------------
// Launches that fail

/// What breaks the new generation's launches, for `launches_that_keep_failing_roll_back_at_once`.
#[derive(Debug, Clone, Copy)]
enum Breakage {
    /// No zone has capacity for the instance type.
    NoCapacity,
    /// The new image is deregistered after the plan was made.
    ImageGone,
    /// The account's On-Demand vCPU quota is what the old generation uses: no room to surge.
    VcpuQuota,
}

#[tokio::test(start_paused = true)]
async fn launches_that_keep_failing_roll_back_at_once() {
    // (mode, what breaks, what the message says)
    let cases: &[(&str, Breakage, &[&str])] = &[
        (
            "asg",
            Breakage::NoCapacity,
            &[
                "launches into simroll-web-v002 failed since",
                "and none succeeded: We currently do not have sufficient t3.micro capacity in \
                 the Availability Zone you requested (us-east-1a)",
                "(AWS has no spare capacity of this instance type there",
            ],
        ),
        (
            "asg",
            Breakage::ImageGone,
            &[
                "new instances cannot launch: Auto Scaling reports for simroll-web-v002: The \
                 image id '[ami-",
                "]' does not exist. Launching EC2 instance failed. (the image was deregistered",
            ],
        ),
        (
            "instances",
            Breakage::NoCapacity,
            &["new instances cannot launch: EC2.RunInstances failed \
                 (InsufficientInstanceCapacity): We currently do not have sufficient t3.micro \
                 capacity"],
        ),
        (
            "instances",
            Breakage::ImageGone,
            &["new instances cannot launch: EC2.RunInstances: image ami-"],
        ),
        (
            "asg",
            Breakage::VcpuQuota,
            &[
                "new instances cannot launch: Auto Scaling reports for simroll-web-v002: You have \
                 requested more vCPU capacity than your current vCPU limit of 24 allows",
                "(the account's EC2 quota is reached: request a higher limit in Service Quotas",
            ],
        ),
        (
            "instances",
            Breakage::VcpuQuota,
            &[
                "new instances cannot launch: EC2.RunInstances failed (VcpuLimitExceeded): You \
               have requested more vCPU capacity than your current vCPU limit of 24 allows",
            ],
        ),
    ];
    for (mode, breakage, says) in cases {
        let cloud = sim(SimConfig::default());
        let extra = [("mode", *mode)];
        deploy_v1(&*cloud, &extra).await;
        let (session, plan) = session(&*cloud, &rolling(), inputs("1.1.0", &extra)).await;
        cloud.configure(|c| match breakage {
            Breakage::NoCapacity => {
                c.insufficient_capacity_azs = no_capacity().insufficient_capacity_azs
            }
            Breakage::ImageGone => {
                c.missing_images.insert("demo-app-1.1.0".into());
            }
            // The old generation's 12 t3.micro instances use 24 vCPUs.
            Breakage::VcpuQuota => {
                c.service_quotas.insert("ec2/L-1216C47A".into(), 24);
            }
        });
        let started = cloud.elapsed();
        let applied = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
        let took = cloud.elapsed() - started;
        let message = rolled_back(&applied);
        eprintln!("{message}");
        for s in *says {
            assert!(message.contains(s), "{mode} {breakage:?}: {message}");
        }
        assert_eq!(applied.1[0].result, "rolled back");
        // Long before the 10 minute health deadline (the rollback included).
        assert!(
            took < Duration::from_secs(180),
            "{mode} {breakage:?} took {took:?}"
        );
        if *mode == "asg" {
            only_group_left(&cloud, Some("simroll-web-v001")).await;
        }
        assert_eq!(healthy(&cloud), DESIRED, "{mode} {breakage:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_launch_with_on_failure_pause_stops_part_way_at_once() {
    let cloud = sim(SimConfig::default());
    let extra = [("on_failure", "pause")];
    deploy_v1(&*cloud, &extra).await;
    cloud.configure(|c| c.insufficient_capacity_azs = no_capacity().insufficient_capacity_azs);
    let started = cloud.elapsed();
    let applied = apply(&*cloud, &rolling(), inputs("1.1.0", &extra)).await;
    match &applied.0 {
        Err(EngineError::Apply(ApplyError::Paused { message, .. })) => {
            eprintln!("{message}");
            assert!(
                message.contains("launches into simroll-web-v002 failed since"),
                "{message}"
            );
            assert!(message.contains("v001 and v002 both serve"), "{message}");
        }
        other => panic!(
            "expected a pause, got {:?}",
            other.as_ref().map(|s| &s.name)
        ),
    }
    assert!(cloud.elapsed() - started < Duration::from_secs(120));
    assert_eq!(healthy(&cloud), DESIRED);
}

/// Auto Scaling retries a launch that failed; one that succeeds on a retry is no failure.
#[tokio::test(start_paused = true)]
async fn a_launch_that_fails_and_then_succeeds_does_not_stop_the_wave() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&*cloud, &[]).await;
    cloud.configure(|c| c.insufficient_capacity_azs = no_capacity().insufficient_capacity_azs);
    // Capacity comes back once the new generation has seen a failed launch.
    let restorer = {
        let cloud = cloud.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let seen = cloud
                    .scaling_activities("simroll-web-v002", SystemTime::UNIX_EPOCH)
                    .await
                    .unwrap();
                if seen.iter().any(|a| a.failed()) {
                    cloud.configure(|c| c.insufficient_capacity_azs.clear());
                    return seen;
                }
            }
        }
    };
    let path = rolling();
    let (applied, seen) = tokio::join!(apply(&*cloud, &path, inputs("1.1.0", &[])), restorer);
    ok(&applied);
    let failed: Vec<_> = seen.iter().filter(|a| a.failed()).collect();
    assert!(!failed.is_empty(), "{seen:#?}");
    assert!(
        failed[0]
            .status_message
            .as_deref()
            .is_some_and(|m| m.contains("sufficient t3.micro capacity")),
        "{failed:#?}"
    );
    assert_eq!(healthy(&cloud), DESIRED);
}

/// A zone without capacity: Auto Scaling records the failure there and launches elsewhere.
#[tokio::test(start_paused = true)]
async fn a_failed_launch_in_one_zone_is_no_reason_to_stop() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&*cloud, &[]).await;
    cloud.configure(|c| c.insufficient_capacity_azs = ["us-east-1b".to_string()].into());
    ok(&apply(&*cloud, &rolling(), inputs("1.1.0", &[])).await);
    let activities = cloud
        .scaling_activities("simroll-web-v002", SystemTime::UNIX_EPOCH)
        .await
        .unwrap();
    let failed = activities.iter().filter(|a| a.failed()).count();
    let launched = activities
        .iter()
        .filter(|a| a.status == "Successful")
        .count();
    assert!(failed >= 3, "{activities:#?}");
    assert!(launched >= DESIRED, "{activities:#?}");
    assert_eq!(healthy(&cloud), DESIRED);
}

#[tokio::test(start_paused = true)]
async fn a_first_generation_that_cannot_launch_is_removed_at_once() {
    for mode in ["asg", "instances"] {
        let cloud = sim(no_capacity());
        let applied = apply(&*cloud, &rolling(), inputs("1.0.0", &[("mode", mode)])).await;
        let message = rolled_back(&applied);
        eprintln!("{message}");
        assert!(
            message.contains("new instances cannot launch"),
            "{mode}: {message}"
        );
        assert!(
            message.contains("sufficient t3.micro capacity"),
            "{mode}: {message}"
        );
        assert!(
            cloud.elapsed() < Duration::from_secs(120),
            "{mode}: {:?}",
            cloud.elapsed()
        );
        only_group_left(&cloud, None).await;
        assert!(cloud.list_instances(STACK).await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Targets no listener serves

#[tokio::test(start_paused = true)]
async fn a_target_group_no_listener_serves_is_warned_about_and_stops_the_first_wave() {
    // (mode, strategy)
    for (mode, strategy) in [
        ("asg", "rolling"),
        ("asg", "canary"),
        ("instances", "rolling"),
    ] {
        let cloud = sim(SimConfig::default());
        let vars = Inputs {
            cli: vec![
                ("mode".into(), mode.into()),
                ("strategy".into(), strategy.into()),
            ],
            ..Default::default()
        };
        let (session, plan) = session(&*cloud, &fixture("sim-unserved"), vars).await;
        let warning = plan
            .warnings
            .iter()
            .find(|w| w.contains("no listener forwards to target_group.web"))
            .unwrap_or_else(|| panic!("{mode} {strategy}: {:#?}", plan.warnings));
        assert!(warning.starts_with("server_group.web: "), "{warning}");
        assert!(warning.contains("Target.NotInUse"), "{warning}");
        let applied = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
        let message = rolled_back(&applied);
        eprintln!("{message}");
        assert!(
            message.contains(
                "new instances of unserved-web-v001 are never health checked: target group \
                 unserved-web reports 3 of them unused (Target.NotInUse)"
            ),
            "{mode} {strategy}: {message}"
        );
        assert!(message.contains("add a listener that forwards to the target group"));
        // Boot, then half a minute of `unused`: not the ten minute deadline.
        assert!(
            cloud.elapsed() < Duration::from_secs(180),
            "{mode} {strategy}: {:?}",
            cloud.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Another controller at work

#[tokio::test(start_paused = true)]
async fn an_instance_refresh_in_progress_blocks_rollouts_until_it_ends() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&*cloud, &[]).await;
    let id = cloud.start_instance_refresh("simroll-web-v001").unwrap();

    let (_, plan) = session(&*cloud, &rolling(), inputs("1.1.0", &[])).await;
    let warning = plan
        .warnings
        .iter()
        .find(|w| w.contains("instance refresh"))
        .unwrap_or_else(|| panic!("{:#?}", plan.warnings));
    assert_eq!(
        warning,
        &format!(
            "server_group.web: an instance refresh ({id}, InProgress, 0% done) is replacing the \
             instances of simroll-web-v001; apply will not roll or resize this group until it \
             stops. Wait for the refresh to end, or cancel it with `aws autoscaling \
             cancel-instance-refresh --auto-scaling-group-name simroll-web-v001`, then apply \
             again"
        )
    );
    let applied = apply(&*cloud, &rolling(), inputs("1.1.0", &[])).await;
    let message = failure(&applied);
    eprintln!("{message}");
    assert!(
        message.contains("reroll does not roll or resize a group another controller is working on"),
        "{message}"
    );
    assert!(message.ends_with("Nothing was changed."), "{message}");
    let groups = cloud.list_groups(STACK).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");

    cloud.set_instance_refresh("simroll-web-v001", "Successful");
    ok(&apply(&*cloud, &rolling(), inputs("1.1.0", &[])).await);
}

#[tokio::test(start_paused = true)]
async fn processes_suspended_by_someone_else_block_rollouts_and_resizes() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&*cloud, &[]).await;
    let launch = vec!["Launch".to_string(), "Terminate".to_string()];
    cloud
        .suspend_processes("simroll-web-v001", &launch)
        .await
        .unwrap();
    // (inputs, the change it plans)
    for (version, instances) in [("1.1.0", "12"), ("1.0.0", "14")] {
        let vars = inputs(version, &[("instances", instances)]);
        let (_, plan) = session(&*cloud, &rolling(), vars.clone()).await;
        assert!(
            plan.warnings.iter().any(|w| w.contains(
                "Auto Scaling processes Launch, Terminate are suspended on simroll-web-v001, \
                 and not by reroll"
            )),
            "{:#?}",
            plan.warnings
        );
        let message = failure(&apply(&*cloud, &rolling(), vars).await);
        eprintln!("{message}");
        assert!(
            message.contains(
                "Resume them with `aws autoscaling resume-processes --auto-scaling-group-name \
                 simroll-web-v001 --scaling-processes Launch Terminate`"
            ),
            "{message}"
        );
        let groups = cloud.list_groups(STACK).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].desired as usize, DESIRED);
    }
    cloud
        .resume_processes("simroll-web-v001", &launch)
        .await
        .unwrap();
    ok(&apply(&*cloud, &rolling(), inputs("1.1.0", &[])).await);
}

// ---------------------------------------------------------------------------------------------
// Creates whose reply was lost

#[tokio::test(start_paused = true)]
async fn creates_whose_reply_was_lost_converge() {
    let operations = [
        ("ELBv2", "CreateTargetGroup"),
        ("ELBv2", "CreateLoadBalancer"),
        ("EC2", "CreateLaunchTemplate"),
        ("AutoScaling", "CreateAutoScalingGroup"),
    ];
    // retried: the client sent the call again at once (the SDK's retry); otherwise it timed
    // out and the apply failed, and apply runs again.
    for retried in [true, false] {
        for (service, op) in operations {
            let real = sim(SimConfig::default());
            let faulty = FaultCloud::new(
                real.clone(),
                STACK,
                Faults {
                    lost_replies: [(op.to_string(), 1)].into(),
                    retry_lost_replies: retried,
                    ..Faults::default()
                },
            );
            let first = apply(&faulty, &rolling(), inputs("1.0.0", &[])).await;
            if retried {
                ok(&first);
            } else {
                let message = failure(&first);
                eprintln!("{message}");
                eprintln!("{op}, reply lost: {message}");
                assert!(message.contains("timed out"), "{op}: {message}");
                ok(&apply(&faulty, &rolling(), inputs("1.0.0", &[])).await);
            }
            // Sent twice when retried (the second finds the first's resource), once otherwise
            // (the second apply sees what the first made).
            let calls = real.stats().snapshot()[&format!("{service}.{op}")].calls;
            assert_eq!(calls, if retried { 2 } else { 1 }, "{op} retried={retried}");
            assert_eq!(healthy(&real), DESIRED, "{op} retried={retried}");
            assert_eq!(real.list_groups(STACK).await.unwrap().len(), 1, "{op}");
            assert_eq!(
                real.list_launch_templates(STACK).await.unwrap().len(),
                1,
                "{op}"
            );
            let (_, plan) = session(&*real, &rolling(), inputs("1.0.0", &[])).await;
            assert!(!plan.has_changes(), "{op} retried={retried}: {plan:#?}");
        }
    }
    // The new generation of a rollout, too.
    let real = sim(SimConfig::default());
    deploy_v1(&*real, &[]).await;
    let faulty = FaultCloud::new(
        real.clone(),
        STACK,
        Faults {
            lost_replies: [("CreateAutoScalingGroup".to_string(), 1)].into(),
            retry_lost_replies: true,
            ..Faults::default()
        },
    );
    ok(&apply(&faulty, &rolling(), inputs("1.1.0", &[])).await);
    assert_eq!(healthy(&real), DESIRED);
}

#[tokio::test(start_paused = true)]
async fn a_name_held_by_an_untagged_resource_is_not_taken_over() {
    // (identical settings: ELBv2 answers with the existing target group; or different ones)
    for identical in [true, false] {
        let cloud = sim(SimConfig::default());
        // Planned while the name was free.
        let (s, planned) = session(&*cloud, &rolling(), inputs("1.0.0", &[])).await;
        let mut spec = reroll::plan::target_group_spec(&s.stack.target_groups[0]);
        if !identical {
            spec.port = 9090;
        }
        let foreign = cloud
            .create_target_group(&spec, &Tags::from([("team".into(), "legacy".into())]))
            .await
            .unwrap();
        // A plan now shows the collision, naming the resource.
        let refused = engine::open(&*cloud, &rolling(), inputs("1.0.0", &[]))
            .await
            .unwrap()
            .plan(false)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains(&format!(
                "cannot plan: target_group.web: target group simroll-web ({foreign}) exists and is not this \
                 stack's: it has no reroll:stack tag (team=legacy)\nreroll never takes over"
            )),
            "{refused}"
        );
        // The plan made before it appeared: the create finds it and refuses.
        let message =
            failure(&engine::execute(&*cloud, s, &planned, &options(), &Stop::new()).await);
        eprintln!("{message}");
        assert_eq!(
            message,
            "target group simroll-web already exists and is not the one this stack would \
             create: it has no reroll:stack tag (team=legacy). reroll never takes over a \
             resource it did not create: give the target group another `name` in the stack, \
             or delete the existing target group if nothing uses it, then apply again",
            "identical={identical}"
        );
        // Nothing was attached to it, and it still has only its own tags.
        assert!(cloud.list_groups(STACK).await.unwrap().is_empty());
        let tags = cloud
            .find_by_name(reroll::cloud::NamedKind::TargetGroup, "simroll-web")
            .await
            .unwrap()
            .unwrap()
            .tags;
        assert!(!tags.contains_key(tag::STACK), "{tags:?}");
        assert!(cloud.target_health(&foreign).await.unwrap().is_empty());
    }
}

/// Look-alikes of every kind the stack creates: an untagged load balancer and an untagged
/// Auto Scaling group with the names the stack would give its own. `plan` refuses, naming each
/// with its id, before anything is created.
#[tokio::test(start_paused = true)]
async fn plan_shows_names_held_by_look_alikes_with_their_ids() {
    let cloud = sim(SimConfig::default());
    let (s, _) = session(&*cloud, &rolling(), inputs("1.0.0", &[])).await;
    let legacy = Tags::from([("team".to_string(), "legacy".to_string())]);
    let lb = &s.stack.load_balancers[0];
    let lb_spec = reroll::cloud::LoadBalancerSpec {
        name: lb.name.clone(),
        kind: lb.kind.clone(),
        internal: lb.internal,
        subnet_ids: lb.subnets.clone(),
        security_group_ids: lb.security_groups.clone(),
    };
    let lb_arn = cloud
        .create_load_balancer(&lb_spec, &Tags::new())
        .await
        .unwrap()
        .arn;
    let g = &s.stack.server_groups[0];
    let launch = reroll::plan::launch_spec(&s.stack, g);
    let (template, _) = cloud
        .create_launch_template("legacy-web", &launch, &legacy)
        .await
        .unwrap();
    cloud
        .create_group(&reroll::cloud::GroupSpec {
            name: "simroll-web-v001".into(),
            launch_template_id: template,
            launch_template_version: "1".into(),
            min: 0,
            max: 1,
            desired: 0,
            subnet_ids: g.subnets.clone(),
            target_group_arns: Vec::new(),
            health_check_type: "EC2".into(),
            health_check_grace_seconds: 0,
            tags: legacy.clone(),
            settings: Default::default(),
        })
        .await
        .unwrap();
    let refused = engine::open(&*cloud, &rolling(), inputs("1.0.0", &[]))
        .await
        .unwrap()
        .plan(false)
        .unwrap_err()
        .to_string();
    for want in [
        format!(
            "load_balancer.public: load balancer simroll-public ({lb_arn}) exists and is not \
             this stack's: it has no tags at all"
        ),
        "server_group.web: Auto Scaling group simroll-web-v001 (simroll-web-v001) exists and \
         is not this stack's: it has no reroll:stack tag (team=legacy)"
            .to_string(),
    ] {
        assert!(refused.contains(&want), "{want}\nnot in:\n{refused}");
    }
    // Nothing of the stack's was created.
    assert!(cloud
        .list_target_groups(STACK, "simroll")
        .await
        .unwrap()
        .is_empty());
}

/// A resource that lost the stack's tag after the plan is not deleted.
#[tokio::test(start_paused = true)]
async fn a_delete_checks_the_stack_tag_first() {
    let cloud = sim(SimConfig::default());
    deploy_v1(&*cloud, &[]).await;
    let observed = reroll::observe::observe(&*cloud, STACK).await.unwrap();
    let empty = Stack {
        name: STACK.into(),
        ..Stack::default()
    };
    let plan = reroll::plan::destroy_plan(reroll::plan::plan(&empty, &observed, true).unwrap());
    let group = observed.groups.values().next().unwrap().generations[0]
        .group
        .name
        .clone();
    let other = Tags::from([(tag::STACK.to_string(), "other".to_string())]);
    cloud.set_group_tags(&group, &other).await.unwrap();
    let e = reroll::apply::deletions(&*cloud, &plan, &observed, &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "Auto Scaling group {group} ({group}) no longer carries this stack's reroll:stack \
             tag, so it is not deleted"
        )),
        "{e}"
    );
    assert!(cloud
        .find_by_name(reroll::cloud::NamedKind::Group, &group)
        .await
        .unwrap()
        .is_some());
}
