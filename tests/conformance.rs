//! One conformance suite, two clouds: every check below is written once against `&dyn Cloud`
//! and runs against the simulator (`sim::…`, in paused time) and against the emulator through
//! the AWS implementation (`emulator::…`, in real time). The checks hold only what both share
//! and what reroll relies on, so the simulator cannot drift from the APIs' behaviour unnoticed.
//!
//! Where the two differ in timing (the emulator is healthy, drained and terminated at once;
//! the simulator takes its boot, health check and draining times), checks poll with a deadline
//! on tokio's clock, which works in paused and in real time alike.

mod common {
    pub mod emulator;
}

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use reroll::cloud::{
    tag, Cloud, Forward, GroupInfo, GroupSpec, HealthCheckSpec, ImageFilter, InstanceState,
    LaunchSpec, Lifecycle, ListenerSpec, LoadBalancerSpec, NamedKind, ObjectRef, RunSpec, Tags,
    TargetGroupSpec, TargetState,
};
use tokio::time::Instant;

const STACK: &str = "conf";
const OTHER: &str = "other";
/// The bucket of the object checks (every bucket exists in the simulator).
const BUCKET: &str = "conf-objects";

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn stack_tags(stack: &str) -> Tags {
    tags(&[(tag::STACK, stack)])
}

/// Polls until a condition holds, failing after a deadline (generous: the simulator's clock is
/// paused, and the emulator answers at once).
struct Deadline(Instant);

impl Deadline {
    fn new() -> Self {
        Deadline(Instant::now() + Duration::from_secs(600))
    }

    /// Waits a second before the next look; panics with `what` once past the deadline.
    async fn tick(&self, what: impl Display) {
        assert!(Instant::now() < self.0, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/// The demo network, found by its tags and names.
struct Network {
    vpc_id: String,
    subnet_ids: Vec<String>,
    security_group_id: String,
}

async fn network(cloud: &dyn Cloud) -> Network {
    let vpcs = cloud.find_vpcs(&tags(&[("Name", "demo")])).await.unwrap();
    assert_eq!(vpcs.len(), 1, "{vpcs:#?}");
    let vpc_id = vpcs[0].id.clone();
    let subnets = cloud
        .find_subnets(&vpc_id, &tags(&[("tier", "private")]))
        .await
        .unwrap();
    let groups = cloud
        .find_security_groups(&vpc_id, &["demo-web".to_string()], &Tags::new())
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    Network {
        vpc_id,
        subnet_ids: subnets.into_iter().map(|s| s.id).collect(),
        security_group_id: groups[0].id.clone(),
    }
}

async fn image(cloud: &dyn Cloud, name: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(name.into()),
        ..Default::default()
    };
    let images = cloud.describe_images(&filter).await.unwrap();
    assert_eq!(images.len(), 1, "{images:#?}");
    images[0].id.clone()
}

fn target_group_spec(name: &str, vpc_id: &str) -> TargetGroupSpec {
    TargetGroupSpec {
        name: name.into(),
        port: 8080,
        protocol: "HTTP".into(),
        vpc_id: vpc_id.into(),
        target_type: "instance".into(),
        health_check: HealthCheckSpec {
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: Some("/healthz".into()),
            interval_seconds: 5,
            timeout_seconds: 2,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: Some("200".into()),
        },
        deregistration_delay_seconds: 5,
    }
}

/// A target group of `stack` that a load balancer's listener forwards to (on AWS, targets of a
/// target group no listener uses are never health checked).
async fn served_target_group(cloud: &dyn Cloud, net: &Network, stack: &str) -> String {
    let tg = cloud
        .create_target_group(
            &target_group_spec(&format!("{stack}-web"), &net.vpc_id),
            &stack_tags(stack),
        )
        .await
        .unwrap();
    let lb = cloud
        .create_load_balancer(
            &LoadBalancerSpec {
                name: format!("{stack}-public"),
                kind: "application".into(),
                internal: false,
                subnet_ids: net.subnet_ids.clone(),
                security_group_ids: vec![net.security_group_id.clone()],
            },
            &stack_tags(stack),
        )
        .await
        .unwrap();
    let listener = ListenerSpec {
        port: 80,
        protocol: "HTTP".into(),
        certificate_arn: None,
        forward: vec![Forward {
            target_group_arn: tg.clone(),
            weight: 1,
        }],
    };
    cloud
        .create_listener(&lb.arn, &listener, &stack_tags(stack))
        .await
        .unwrap();
    tg
}

fn launch_spec(image_id: &str, net: &Network, stack: &str) -> LaunchSpec {
    LaunchSpec {
        options: Default::default(),
        image_id: image_id.into(),
        instance_type: "t3.micro".into(),
        user_data: Some("#cloud-config\n".into()),
        security_group_ids: vec![net.security_group_id.clone()],
        instance_profile: None,
        key_name: None,
        instance_tags: tags(&[(tag::STACK, stack), (tag::GROUP, "web")]),
    }
}

async fn template(cloud: &dyn Cloud, net: &Network, stack: &str) -> String {
    let image = image(cloud, "demo-app-1.0.0").await;
    let (id, version) = cloud
        .create_launch_template(
            &format!("{stack}-web"),
            &launch_spec(&image, net, stack),
            &stack_tags(stack),
        )
        .await
        .unwrap();
    assert_eq!(version, 1);
    id
}

async fn launch(cloud: &dyn Cloud, net: &Network, count: u32) -> Vec<String> {
    let template = template(cloud, net, STACK).await;
    let ids = cloud
        .run_instances(&RunSpec {
            launch_template_id: template,
            launch_template_version: "1".into(),
            subnet_id: net.subnet_ids[0].clone(),
            count,
            tags: tags(&[(tag::STACK, STACK), ("batch", "one")]),
            client_token: None,
        })
        .await
        .unwrap();
    assert_eq!(ids.len(), count as usize);
    ids
}

async fn live_ids(cloud: &dyn Cloud) -> BTreeSet<String> {
    let instances = cloud.list_instances(STACK).await.unwrap();
    instances.into_iter().map(|i| i.id).collect()
}

/// The health states of `ids` in a target group (absent ones left out).
async fn target_states(cloud: &dyn Cloud, tg: &str, ids: &[String]) -> Vec<TargetState> {
    cloud
        .target_health(tg)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| ids.contains(&t.id))
        .map(|t| t.state)
        .collect()
}

async fn the_group(cloud: &dyn Cloud, name: &str) -> Option<GroupInfo> {
    let groups = cloud.list_groups(STACK).await.unwrap();
    groups.into_iter().find(|g| g.name == name)
}

// ---------------------------------------------------------------------------------------------
// The checks

/// Images, VPC, subnets and security group of the demo stack resolve.
async fn lookups(cloud: &dyn Cloud) {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some("demo-app-1.0.0".into()),
        ..Default::default()
    };
    let images = cloud.describe_images(&filter).await.unwrap();
    assert_eq!(images.len(), 1, "{images:#?}");
    assert_eq!(images[0].name, "demo-app-1.0.0");
    assert_eq!(images[0].state, "available");
    assert!(images[0].id.starts_with("ami-"));
    assert!(!images[0].creation_date.is_empty());
    let by_id = ImageFilter {
        ids: vec![images[0].id.clone()],
        ..Default::default()
    };
    assert_eq!(cloud.describe_images(&by_id).await.unwrap(), images);

    let vpcs = cloud.find_vpcs(&tags(&[("Name", "demo")])).await.unwrap();
    assert_eq!(vpcs.len(), 1, "{vpcs:#?}");
    assert_eq!(vpcs[0].tags.get("Name").map(String::as_str), Some("demo"));
    let subnets = cloud
        .find_subnets(&vpcs[0].id, &tags(&[("tier", "private")]))
        .await
        .unwrap();
    assert!(subnets.len() >= 2, "{subnets:#?}");
    let zones: BTreeSet<&str> = subnets
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    assert_eq!(zones.len(), subnets.len(), "one subnet per zone");
    for s in &subnets {
        assert_eq!(s.vpc_id, vpcs[0].id);
        assert!(s.availability_zone.starts_with(cloud.region()));
        assert_eq!(s.tags.get("tier").map(String::as_str), Some("private"));
    }
    let groups = cloud
        .find_security_groups(&vpcs[0].id, &["demo-web".to_string()], &Tags::new())
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].name, "demo-web");
    assert_eq!(groups[0].vpc_id.as_deref(), Some(vpcs[0].id.as_str()));
}

/// Launch templates: created, versioned, read back, listed by stack, deleted.
async fn launch_templates(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let image = image(cloud, "demo-app-1.0.0").await;
    let v1 = launch_spec(&image, &net, STACK);
    let (id, version) = cloud
        .create_launch_template("conf-web", &v1, &stack_tags(STACK))
        .await
        .unwrap();
    assert_eq!(version, 1);
    let v2 = LaunchSpec {
        options: Default::default(),
        instance_type: "t3.small".into(),
        user_data: Some("#cloud-config\nruncmd: [echo v2]\n".into()),
        ..v1.clone()
    };
    assert_eq!(
        cloud
            .create_launch_template_version(&id, &v2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(cloud.launch_template_version(&id, "1").await.unwrap(), v1);
    assert_eq!(cloud.launch_template_version(&id, "2").await.unwrap(), v2);
    assert_eq!(
        cloud.launch_template_version(&id, "$Latest").await.unwrap(),
        v2
    );

    let (foreign, _) = cloud
        .create_launch_template("other-web", &v1, &stack_tags(OTHER))
        .await
        .unwrap();
    let listed = cloud.list_launch_templates(STACK).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(
        (listed[0].id.as_str(), listed[0].name.as_str()),
        (id.as_str(), "conf-web")
    );
    assert_eq!(listed[0].latest_version, 2);
    assert_eq!(listed[0].tags, stack_tags(STACK));
    // Every template's latest version at once, anyone's.
    let latest = cloud.latest_launch_template_versions().await.unwrap();
    let ours: Vec<&(String, i64, LaunchSpec)> = latest.iter().filter(|l| l.0 == id).collect();
    assert_eq!(ours, [&(id.clone(), 2, v2.clone())]);
    assert!(
        latest.iter().any(|l| l.0 == foreign && l.1 == 1),
        "{latest:#?}"
    );

    cloud.delete_launch_template(&id).await.unwrap();
    assert!(cloud.list_launch_templates(STACK).await.unwrap().is_empty());
    let gone = cloud.launch_template_version(&id, "1").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    cloud.delete_launch_template(&foreign).await.unwrap();
}

/// A group of two behind a served target group: in service and healthy, tagged, listed alone;
/// an instance deregistered, detached with decrement and terminated, the other terminated by
/// its group; the group deleted.
async fn group_lifecycle(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let tg = served_target_group(cloud, &net, STACK).await;
    let template = template(cloud, &net, STACK).await;
    let group_tags = tags(&[
        (tag::STACK, STACK),
        (tag::GROUP, "web"),
        (tag::GENERATION, "1"),
    ]);
    let spec = GroupSpec {
        settings: Default::default(),
        name: "conf-web-v001".into(),
        launch_template_id: template.clone(),
        launch_template_version: "1".into(),
        min: 0,
        max: 3,
        desired: 2,
        subnet_ids: net.subnet_ids.clone(),
        target_group_arns: vec![tg.clone()],
        health_check_type: "ELB".into(),
        health_check_grace_seconds: 0,
        tags: group_tags.clone(),
    };
    cloud.create_group(&spec).await.unwrap();
    // Another stack's group, not to be listed.
    let other_template = template_for_other(cloud, &net).await;
    cloud
        .create_group(&GroupSpec {
            settings: Default::default(),
            name: "other-web-v001".into(),
            launch_template_id: other_template,
            desired: 0,
            target_group_arns: vec![],
            tags: stack_tags(OTHER),
            ..spec.clone()
        })
        .await
        .unwrap();

    // Two in service and healthy in the target group.
    let deadline = Deadline::new();
    let ids: Vec<String> = loop {
        let g = the_group(cloud, &spec.name).await.expect("group listed");
        let in_service: Vec<String> = g
            .instances
            .iter()
            .filter(|i| i.in_service())
            .map(|i| i.id.clone())
            .collect();
        let healthy = target_states(cloud, &tg, &in_service).await;
        if in_service.len() == 2
            && healthy
                .iter()
                .filter(|s| **s == TargetState::Healthy)
                .count()
                == 2
        {
            break in_service;
        }
        deadline
            .tick(format!("2 in service and healthy: {g:#?}, {healthy:?}"))
            .await;
    };

    // What the group lists: its spec and tags; only this stack's groups.
    let groups = cloud.list_groups(STACK).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let g = &groups[0];
    assert_eq!((g.min, g.desired, g.max), (0, 2, 3));
    assert_eq!(g.tags, group_tags);
    assert_eq!(g.launch_template_id.as_deref(), Some(template.as_str()));
    assert_eq!(g.launch_template_version.as_deref(), Some("1"));
    assert_eq!(g.target_group_arns, vec![tg.clone()]);
    let mut subnets = g.subnet_ids.clone();
    subnets.sort();
    let mut want = net.subnet_ids.clone();
    want.sort();
    assert_eq!(subnets, want);
    let instances = cloud.list_instances(STACK).await.unwrap();
    let listed: BTreeSet<String> = instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(listed, ids.iter().cloned().collect());
    for i in &instances {
        assert_eq!(i.tags.get(tag::STACK).map(String::as_str), Some(STACK));
        assert_eq!(i.instance_type.as_deref(), Some("t3.micro"));
    }

    // Tags and processes round-trip.
    cloud
        .set_group_tags(&spec.name, &tags(&[(tag::PROGRESS, "halfway")]))
        .await
        .unwrap();
    let suspend = vec!["AZRebalance".to_string(), "AlarmNotification".to_string()];
    cloud.suspend_processes(&spec.name, &suspend).await.unwrap();
    let g = the_group(cloud, &spec.name).await.unwrap();
    assert_eq!(
        g.tags.get(tag::PROGRESS).map(String::as_str),
        Some("halfway")
    );
    let mut suspended = g.suspended_processes.clone();
    suspended.sort();
    assert_eq!(suspended, suspend);
    cloud.resume_processes(&spec.name, &suspend).await.unwrap();
    let g = the_group(cloud, &spec.name).await.unwrap();
    assert!(g.suspended_processes.is_empty(), "{g:#?}");

    // Deregistered: out of service at once (draining or gone), gone later.
    let (out, kept) = (ids[0].clone(), ids[1].clone());
    cloud
        .deregister_targets(&tg, std::slice::from_ref(&out))
        .await
        .unwrap();
    let states = target_states(cloud, &tg, std::slice::from_ref(&out)).await;
    assert!(
        states.iter().all(|s| *s != TargetState::Healthy),
        "{states:?}"
    );
    let deadline = Deadline::new();
    while !target_states(cloud, &tg, std::slice::from_ref(&out))
        .await
        .is_empty()
    {
        deadline.tick("the deregistered target to go").await;
    }
    // Deregistering again, or what was never registered, changes nothing.
    cloud
        .deregister_targets(&tg, std::slice::from_ref(&out))
        .await
        .unwrap();

    // Detached with decrement: the group shrinks, the instance keeps running.
    cloud
        .detach_instances(&spec.name, std::slice::from_ref(&out), true)
        .await
        .unwrap();
    let g = the_group(cloud, &spec.name).await.unwrap();
    assert_eq!(g.desired, 1);
    assert_eq!(
        g.instances.iter().map(|i| &i.id).collect::<Vec<_>>(),
        vec![&kept]
    );
    let detached = cloud
        .list_instances(STACK)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == out)
        .expect("a detached instance keeps running");
    assert_eq!(detached.state, InstanceState::Running);
    assert_eq!(
        target_states(cloud, &tg, std::slice::from_ref(&kept)).await,
        [TargetState::Healthy]
    );

    // Terminated (twice: the second is no error), it leaves the listing.
    cloud
        .terminate_instances(std::slice::from_ref(&out))
        .await
        .unwrap();
    cloud
        .terminate_instances(std::slice::from_ref(&out))
        .await
        .unwrap();
    let deadline = Deadline::new();
    while live_ids(cloud).await.contains(&out) {
        deadline.tick("the terminated instance to go").await;
    }

    // Terminated by its group: one fewer desired, and it leaves.
    cloud
        .terminate_in_group(&spec.name, std::slice::from_ref(&kept))
        .await
        .unwrap();
    assert_eq!(the_group(cloud, &spec.name).await.unwrap().desired, 0);
    let deadline = Deadline::new();
    while live_ids(cloud).await.contains(&kept) {
        deadline
            .tick("the instance its group terminated to go")
            .await;
    }

    // Deleted with its instances.
    cloud.delete_group(&spec.name).await.unwrap();
    let deadline = Deadline::new();
    while the_group(cloud, &spec.name).await.is_some() || !live_ids(cloud).await.is_empty() {
        deadline.tick("the group and its instances to go").await;
    }
    // Deleting what is gone is no error.
    cloud.delete_group(&spec.name).await.unwrap();
    cloud.delete_group("other-web-v001").await.unwrap();
}

async fn template_for_other(cloud: &dyn Cloud, net: &Network) -> String {
    template(cloud, net, OTHER).await
}

/// Instances registered by hand become healthy; deregistering is idempotent.
async fn targets_register_and_deregister(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let tg = served_target_group(cloud, &net, STACK).await;
    let ids = launch(cloud, &net, 3).await;
    let deadline = Deadline::new();
    loop {
        let instances = cloud.list_instances(STACK).await.unwrap();
        if instances
            .iter()
            .filter(|i| i.state == InstanceState::Running)
            .count()
            == 3
        {
            break;
        }
        deadline.tick("3 running instances").await;
    }
    cloud.register_targets(&tg, &ids[..2]).await.unwrap();
    let deadline = Deadline::new();
    loop {
        let health = cloud.target_health(&tg).await.unwrap();
        let listed: BTreeSet<&str> = health.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            listed,
            ids[..2].iter().map(String::as_str).collect(),
            "{health:#?}"
        );
        assert!(health.iter().all(|t| t.port == Some(8080)), "{health:#?}");
        if health.iter().all(|t| t.state == TargetState::Healthy) {
            break;
        }
        deadline
            .tick(format!("2 healthy targets: {health:#?}"))
            .await;
    }
    // Registering again changes nothing.
    cloud.register_targets(&tg, &ids[..2]).await.unwrap();
    assert_eq!(
        target_states(cloud, &tg, &ids).await,
        [TargetState::Healthy, TargetState::Healthy]
    );

    // A batch mixing registered and unregistered targets deregisters the registered ones.
    cloud.deregister_targets(&tg, &ids).await.unwrap();
    let states = target_states(cloud, &tg, &ids).await;
    assert!(
        states.iter().all(|s| *s != TargetState::Healthy),
        "{states:?}"
    );
    let deadline = Deadline::new();
    while !cloud.target_health(&tg).await.unwrap().is_empty() {
        deadline.tick("the deregistered targets to go").await;
    }
    cloud.deregister_targets(&tg, &ids).await.unwrap();
    cloud.terminate_instances(&ids).await.unwrap();
}

/// Listings return only the stack's resources, whatever else the account holds.
async fn listings_hold_only_the_stack(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let ours = served_target_group(cloud, &net, STACK).await;
    // Another stack's, with our prefix.
    let foreign = cloud
        .create_target_group(
            &target_group_spec("conf-foreign", &net.vpc_id),
            &stack_tags(OTHER),
        )
        .await
        .unwrap();
    let tgs = cloud.list_target_groups(STACK, "conf-").await.unwrap();
    assert_eq!(
        tgs.iter().map(|t| t.arn.as_str()).collect::<Vec<_>>(),
        [ours.as_str()]
    );
    assert_eq!(tgs[0].tags, stack_tags(STACK));
    assert_eq!(tgs[0].spec, target_group_spec("conf-web", &net.vpc_id));
    assert_eq!(tgs[0].load_balancer_arns.len(), 1);
    let lbs = cloud.list_load_balancers(STACK, "conf-").await.unwrap();
    assert_eq!(lbs.len(), 1, "{lbs:#?}");
    assert_eq!(lbs[0].tags, stack_tags(STACK));
    assert!(!lbs[0].dns_name.is_empty());
    assert_eq!(tgs[0].load_balancer_arns, [lbs[0].arn.clone()]);
    let listeners = cloud.list_listeners(&lbs[0].arn).await.unwrap();
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].spec.forward[0].target_group_arn, ours);

    // Instances: ours and another stack's.
    let ours = launch(cloud, &net, 2).await;
    let other_template = template_for_other(cloud, &net).await;
    cloud
        .run_instances(&RunSpec {
            launch_template_id: other_template,
            launch_template_version: "1".into(),
            subnet_id: net.subnet_ids[1].clone(),
            count: 1,
            tags: stack_tags(OTHER),
            client_token: None,
        })
        .await
        .unwrap();
    let listed = cloud.list_instances(STACK).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id.clone()).collect::<BTreeSet<_>>(),
        ours.iter().cloned().collect()
    );
    for i in &listed {
        assert_eq!(i.tags.get("batch").map(String::as_str), Some("one"));
        assert_eq!(i.tags.get(tag::GROUP).map(String::as_str), Some("web"));
        assert_eq!(i.subnet_id.as_deref(), Some(net.subnet_ids[0].as_str()));
    }
    cloud.delete_target_group(&foreign).await.unwrap();
}

/// Thirty instances list in full, and terminate in one go, idempotently.
async fn pagination_is_invisible(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let ids = launch(cloud, &net, 30).await;
    assert_eq!(live_ids(cloud).await, ids.iter().cloned().collect());
    cloud.terminate_instances(&ids).await.unwrap();
    cloud.terminate_instances(&ids).await.unwrap();
    let deadline = Deadline::new();
    while !live_ids(cloud).await.is_empty() {
        deadline.tick("30 terminated instances to go").await;
    }
    cloud.terminate_instances(&ids).await.unwrap();
    cloud.terminate_instances(&[]).await.unwrap();
}

/// Missing resources are `NotFound`, never another kind of error.
async fn missing_resources_are_not_found(cloud: &dyn Cloud) {
    let region = cloud.region().to_string();
    let tg = format!(
        "arn:aws:elasticloadbalancing:{region}:123456789012:targetgroup/conf-nope/0123456789abcdef"
    );
    let err = cloud.target_health(&tg).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = cloud.delete_target_group(&tg).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = cloud
        .launch_template_version("lt-0123456789abcdef0", "1")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let lb = format!(
        "arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/app/conf-nope/0123456789abcdef"
    );
    let err = cloud.list_listeners(&lb).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = cloud
        .set_group_capacity("conf-nope-v001", 0, 1, 1)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

/// A create of a taken name is `AlreadyExists` (a launch template; a target group with other
/// settings: an identical one is answered with the existing target group); `find_by_name`
/// finds the holder's tags whoever it is, and nothing for a free name.
async fn creates_of_a_taken_name_are_already_exists(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let image = image(cloud, "demo-app-1.0.0").await;
    let mine = tags(&[(tag::STACK, STACK), (tag::ADDRESS, "target_group.dup")]);
    let foreign = tags(&[("team", "legacy")]);

    let spec = target_group_spec("conf-dup", &net.vpc_id);
    cloud.create_target_group(&spec, &foreign).await.unwrap();
    let other = TargetGroupSpec {
        port: 9090,
        ..spec.clone()
    };
    let err = cloud.create_target_group(&other, &mine).await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    assert_eq!(
        cloud
            .find_by_name(NamedKind::TargetGroup, "conf-dup")
            .await
            .unwrap()
            .map(|h| h.tags),
        Some(foreign.clone())
    );

    let launch = launch_spec(&image, &net, STACK);
    cloud
        .create_launch_template("conf-dup", &launch, &foreign)
        .await
        .unwrap();
    let err = cloud
        .create_launch_template("conf-dup", &launch, &mine)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    assert_eq!(
        cloud
            .find_by_name(NamedKind::LaunchTemplate, "conf-dup")
            .await
            .unwrap()
            .map(|h| h.tags),
        Some(foreign.clone())
    );

    let lb = LoadBalancerSpec {
        name: "conf-dup".into(),
        kind: "application".into(),
        internal: false,
        subnet_ids: net.subnet_ids.clone(),
        security_group_ids: vec![net.security_group_id.clone()],
    };
    cloud.create_load_balancer(&lb, &mine).await.unwrap();
    assert_eq!(
        cloud
            .find_by_name(NamedKind::LoadBalancer, "conf-dup")
            .await
            .unwrap()
            .map(|h| h.tags),
        Some(mine.clone())
    );
    for kind in [
        NamedKind::Group,
        NamedKind::LaunchTemplate,
        NamedKind::TargetGroup,
        NamedKind::LoadBalancer,
    ] {
        let free = cloud.find_by_name(kind, "conf-free").await.unwrap();
        assert_eq!(free, None, "{kind:?}");
    }
}

/// A group that launches without trouble reports no failed launch; activities are the
/// group's own and no older than asked for, and a group that does not exist has none.
async fn launch_activities_of_a_healthy_group(cloud: &dyn Cloud) {
    let net = network(cloud).await;
    let tg = served_target_group(cloud, &net, STACK).await;
    let template = template(cloud, &net, STACK).await;
    let since = cloud.now() - Duration::from_secs(1);
    let spec = GroupSpec {
        settings: Default::default(),
        name: "conf-web-v001".into(),
        launch_template_id: template,
        launch_template_version: "1".into(),
        min: 0,
        max: 2,
        desired: 2,
        subnet_ids: net.subnet_ids.clone(),
        target_group_arns: vec![tg],
        health_check_type: "ELB".into(),
        health_check_grace_seconds: 0,
        tags: stack_tags(STACK),
    };
    cloud.create_group(&spec).await.unwrap();
    let deadline = Deadline::new();
    loop {
        let g = the_group(cloud, &spec.name).await.expect("group listed");
        if g.instances
            .iter()
            .filter(|i| i.lifecycle_state == Lifecycle::InService)
            .count()
            == 2
        {
            break;
        }
        deadline.tick(format!("2 in service: {g:#?}")).await;
    }
    let activities = cloud.scaling_activities(&spec.name, since).await.unwrap();
    for a in &activities {
        assert_eq!(a.group, spec.name, "{a:#?}");
        assert!(!(a.is_launch() && a.failed()), "{a:#?}");
        assert!(a.start_time.is_none_or(|t| t >= since), "{a:#?}");
    }
    let none = cloud
        .scaling_activities("conf-nope-v001", since)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:#?}");
    cloud.delete_group(&spec.name).await.unwrap();
}

/// The account and conditional object writes, as the shared lock uses them: create only if
/// absent, replace and delete only on the ETag last seen, a failed condition told apart from
/// a missing object.
async fn conditional_objects(cloud: &dyn Cloud) {
    assert_eq!(cloud.account_id().await.unwrap(), "123456789012");
    let at = ObjectRef {
        bucket: BUCKET.into(),
        key: "locks/123456789012/us-east-1/conf.lock".into(),
        region: None,
    };
    assert_eq!(cloud.get_object(&at).await.unwrap(), None);
    let first = cloud.put_object_if_absent(&at, b"{\"n\":1}").await.unwrap();
    let err = cloud
        .put_object_if_absent(&at, b"{\"n\":2}")
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    let got = cloud.get_object(&at).await.unwrap().unwrap();
    assert_eq!(
        (got.body.as_slice(), got.etag.as_str()),
        (&b"{\"n\":1}"[..], first.as_str())
    );

    let second = cloud
        .put_object_if_match(&at, b"{\"n\":3}", &first)
        .await
        .unwrap();
    assert_ne!(second, first);
    let err = cloud
        .put_object_if_match(&at, b"{\"n\":4}", &first)
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    let err = cloud.delete_object_if_match(&at, &first).await.unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    let got = cloud.get_object(&at).await.unwrap().unwrap();
    assert_eq!(
        (got.body.as_slice(), got.etag.as_str()),
        (&b"{\"n\":3}"[..], second.as_str())
    );

    cloud.delete_object_if_match(&at, &second).await.unwrap();
    assert_eq!(cloud.get_object(&at).await.unwrap(), None);
    let err = cloud
        .put_object_if_match(&at, b"{}", &second)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = cloud
        .delete_object_if_match(&at, &second)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    // Absent again: it can be created again.
    cloud.put_object_if_absent(&at, b"{}").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The two clouds

/// Every check, as a test on the simulator (paused time) and one on the emulator.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sim {
            $(
                #[tokio::test(start_paused = true)]
                async fn $check() {
                    let cloud = super::simulator();
                    super::$check(&cloud).await;
                }
            )*
        }
        mod emulator {
            $(
                #[tokio::test]
                async fn $check() {
                    let emulator = super::common::emulator::Emulator::start();
                    emulator.seed("us-east-1");
                    emulator.create_bucket(super::BUCKET);
                    let cloud = super::aws(&emulator).await;
                    super::$check(&cloud).await;
                }
            )*
        }
    };
}

conformance!(
    lookups,
    launch_templates,
    group_lifecycle,
    targets_register_and_deregister,
    listings_hold_only_the_stack,
    pagination_is_invisible,
    missing_resources_are_not_found,
    creates_of_a_taken_name_are_already_exists,
    launch_activities_of_a_healthy_group,
    conditional_objects,
);

fn simulator() -> reroll::cloud::sim::SimCloud {
    use reroll::cloud::sim::{Seconds, SimCloud, SimConfig};
    let config = SimConfig {
        boot_time: Seconds { min: 1.0, max: 3.0 },
        ..SimConfig::default()
    };
    SimCloud::new(config, reroll::cloud::stats::Stats::new())
}

async fn aws(emulator: &common::emulator::Emulator) -> reroll::cloud::aws::AwsCloud {
    use reroll::cloud::aws::{AwsCloud, ConnectOptions};
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(emulator.endpoint.clone()),
        max_attempts: 3,
    };
    AwsCloud::connect(&opts, reroll::cloud::stats::Stats::new())
        .await
        .expect("connect to the emulator")
}
