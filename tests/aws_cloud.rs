//! `AwsCloud` against the local emulator (moto server), one private emulator per test, plus
//! a few error paths against a stand-in server that answers with canned AWS errors.

mod common {
    pub mod emulator;
}

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::emulator::{free_port, Emulator};
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::stats::Stats;
use reroll::cloud::{
    tag, Cloud, CloudError, CopyImageRequest, Forward, GroupSpec, HealthCheckSpec, ImageFilter,
    InstanceState, LaunchSpec, ListenerSpec, LoadBalancerSpec, RunSpec, Tags, TargetGroupSpec,
    TargetState,
};
use serde_json::Value;

const REGION: &str = "us-east-1";
const STACK: &str = "shop";
const OTHER_STACK: &str = "other";

async fn connect(endpoint: &str, max_attempts: u32) -> (AwsCloud, Stats) {
    let stats = Stats::new();
    let opts = ConnectOptions {
        region: Some(REGION.to_string()),
        profile: None,
        endpoint_url: Some(endpoint.to_string()),
        max_attempts,
    };
    let cloud = AwsCloud::connect(&opts, stats.clone())
        .await
        .expect("connect to the emulator");
    (cloud, stats)
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn stack_tags(stack: &str) -> Tags {
    tags(&[(tag::STACK, stack)])
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v.as_str().expect("a JSON string").to_string())
        .collect()
}

fn str_of<'a>(seed: &'a Value, key: &str) -> &'a str {
    seed[key]
        .as_str()
        .unwrap_or_else(|| panic!("seed JSON has no {key}: {seed}"))
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items
}

fn target_group_spec(name: &str, vpc_id: &str) -> TargetGroupSpec {
    TargetGroupSpec {
        name: name.to_string(),
        port: 8080,
        protocol: "HTTP".to_string(),
        vpc_id: vpc_id.to_string(),
        target_type: "instance".to_string(),
        health_check: HealthCheckSpec {
            protocol: "HTTP".to_string(),
            port: "traffic-port".to_string(),
            path: Some("/healthz".to_string()),
            interval_seconds: 10,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            matcher: Some("200".to_string()),
        },
        deregistration_delay_seconds: 30,
    }
}

fn load_balancer_spec(name: &str, seed: &Value) -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: name.to_string(),
        kind: "application".to_string(),
        internal: false,
        subnet_ids: strings(&seed["subnet_ids"]),
        security_group_ids: vec![str_of(seed, "security_group_id").to_string()],
    }
}

fn launch_spec(image_id: &str, seed: &Value) -> LaunchSpec {
    LaunchSpec {
        options: Default::default(),
        image_id: image_id.to_string(),
        instance_type: "t3.micro".to_string(),
        user_data: Some("#cloud-config\nruncmd: [echo hello]\n".to_string()),
        security_group_ids: vec![str_of(seed, "security_group_id").to_string()],
        instance_profile: Some("web".to_string()),
        key_name: None,
        instance_tags: tags(&[(tag::STACK, STACK), (tag::GROUP, "web")]),
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

/// Creates the web group's launch template (version 1: the first seeded image); returns its id.
async fn web_template(cloud: &AwsCloud, seed: &Value) -> String {
    let amis = strings(&seed["ami_ids"]);
    let (id, _) = cloud
        .create_launch_template("shop-web", &launch_spec(&amis[0], seed), &stack_tags(STACK))
        .await
        .unwrap();
    id
}

fn run_spec(template: &str, subnet: &str, count: u32) -> RunSpec {
    RunSpec {
        launch_template_id: template.to_string(),
        launch_template_version: "1".to_string(),
        subnet_id: subnet.to_string(),
        count,
        tags: stack_tags(STACK),
        client_token: None,
    }
}

/// Launches `count` instances from a new web template into the first seeded subnet.
async fn launch_web(cloud: &AwsCloud, seed: &Value, count: u32) -> Vec<String> {
    let template = web_template(cloud, seed).await;
    let subnet = strings(&seed["subnet_ids"]).remove(0);
    let ids = cloud
        .run_instances(&run_spec(&template, &subnet, count))
        .await
        .unwrap();
    assert_eq!(ids.len(), count as usize, "{ids:?}");
    ids
}

/// Creates group `shop-web-v001` of `desired` instances (min 0) from a new web template,
/// attached to `target_groups`; returns its name.
async fn web_group(
    cloud: &AwsCloud,
    seed: &Value,
    desired: u32,
    target_groups: &[String],
) -> String {
    let spec = GroupSpec {
        settings: Default::default(),
        name: "shop-web-v001".to_string(),
        launch_template_id: web_template(cloud, seed).await,
        launch_template_version: "1".to_string(),
        min: 0,
        max: desired + 1,
        desired,
        subnet_ids: strings(&seed["subnet_ids"]),
        target_group_arns: target_groups.to_vec(),
        health_check_type: "EC2".to_string(),
        health_check_grace_seconds: 30,
        tags: tags(&[(tag::STACK, STACK), (tag::GROUP, "web")]),
    };
    cloud.create_group(&spec).await.unwrap();
    spec.name
}

async fn web_target_group(cloud: &AwsCloud, seed: &Value) -> String {
    let spec = target_group_spec("shop-web", str_of(seed, "vpc_id"));
    cloud
        .create_target_group(&spec, &stack_tags(STACK))
        .await
        .unwrap()
}

/// The ids a target group lists (registered, in any state).
async fn target_ids(cloud: &AwsCloud, target_group_arn: &str) -> BTreeSet<String> {
    let health = cloud.target_health(target_group_arn).await.unwrap();
    health.into_iter().map(|t| t.id).collect()
}

/// The ids of the stack's live instances.
async fn live_ids(cloud: &AwsCloud) -> BTreeSet<String> {
    let instances = cloud.list_instances(STACK).await.unwrap();
    instances.into_iter().map(|i| i.id).collect()
}

/// The suspended processes of the stack's only group, sorted.
async fn suspended(cloud: &AwsCloud) -> Vec<String> {
    let groups = cloud.list_groups(STACK).await.unwrap();
    sorted(&groups[0].suspended_processes)
}

/// The `reroll:state` tag of each of the instances `ids`.
async fn state_tags(cloud: &AwsCloud, ids: &[String]) -> Vec<Option<String>> {
    let instances = cloud.list_instances(STACK).await.unwrap();
    ids.iter()
        .map(|id| {
            let instance = instances.iter().find(|i| &i.id == id).unwrap();
            instance.tags.get(tag::STATE).cloned()
        })
        .collect()
}

fn calls(stats: &Stats, operation: &str) -> u64 {
    stats.snapshot().get(operation).map_or(0, |c| c.calls)
}

// ---------------------------------------------------------------------------------------------
// Lookups

#[tokio::test]
async fn images_by_owner_name_and_tags() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 3).await;

    let by_name = ImageFilter {
        owners: vec!["self".to_string()],
        name: Some("demo-app-*".to_string()),
        ..ImageFilter::default()
    };
    let images = cloud.describe_images(&by_name).await.unwrap();
    let names: BTreeSet<_> = images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["demo-app-1.0.0", "demo-app-1.1.0"]),
        "{images:#?}"
    );
    let account = str_of(&seed, "account_id");
    for image in &images {
        assert_eq!(image.owner, account);
        assert_eq!(image.state, "available");
        assert!(!image.creation_date.is_empty());
        assert_eq!(image.tags.get("app").map(String::as_str), Some("demo"));
    }
    // `most_recent` picks the latest creation date; the seeded images were registered in
    // version order (possibly within the same second, hence the name as tie-breaker).
    let newest = images
        .iter()
        .max_by(|a, b| (&a.creation_date, &a.name).cmp(&(&b.creation_date, &b.name)))
        .unwrap();
    assert_eq!(newest.name, "demo-app-1.1.0");

    let pinned = ImageFilter {
        owners: vec!["self".to_string()],
        name: Some("demo-app-1.?.0".to_string()),
        tags: tags(&[("version", "1.0.0")]),
        ..ImageFilter::default()
    };
    let images = cloud.describe_images(&pinned).await.unwrap();
    assert_eq!(images.len(), 1, "{images:#?}");
    assert_eq!(images[0].name, "demo-app-1.0.0");

    let by_id = ImageFilter {
        ids: vec![images[0].id.clone()],
        ..ImageFilter::default()
    };
    assert_eq!(cloud.describe_images(&by_id).await.unwrap(), images);

    let nothing = ImageFilter {
        owners: vec!["self".to_string()],
        name: Some("no-such-image-*".to_string()),
        ..ImageFilter::default()
    };
    assert!(cloud.describe_images(&nothing).await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_image_is_not_found_or_empty() {
    let emulator = Emulator::start();
    let (cloud, _) = connect(&emulator.endpoint, 3).await;
    let filter = ImageFilter {
        ids: vec!["ami-0123456789abcdef0".to_string()],
        ..ImageFilter::default()
    };
    match cloud.describe_images(&filter).await {
        Ok(images) => assert!(images.is_empty(), "{images:#?}"),
        Err(err) => assert!(err.is_not_found(), "{err:?}"),
    }
}

#[tokio::test]
async fn copies_an_image_across_regions() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 3).await;
    let source = strings(&seed["ami_ids"])[0].clone();
    let by_name = ImageFilter {
        owners: vec!["self".to_string()],
        name: Some("demo-app-*".to_string()),
        ..ImageFilter::default()
    };
    let target_region = "eu-west-1";
    assert!(cloud
        .describe_images_in(target_region, &by_name)
        .await
        .unwrap()
        .is_empty());

    let target = cloud.for_region(target_region);
    assert_eq!(target.region(), target_region);
    let copy_tags = tags(&[(tag::STACK, STACK), ("copied-from", &source)]);
    let copy = target
        .copy_image(&CopyImageRequest {
            source_region: REGION,
            source_image_id: &source,
            name: "demo-app-copy",
            kms_key: None,
            tags: &copy_tags,
        })
        .await
        .unwrap();
    assert_ne!(copy, source);
    let copied = cloud.describe_images_in(target_region, &by_name).await;
    let copied = copied.unwrap();
    assert_eq!(copied.len(), 1, "{copied:#?}");
    assert_eq!(copied[0].id, copy);
    assert_eq!(copied[0].tags, copy_tags);
}

#[tokio::test]
async fn network_lookup_by_tags_and_names() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 3).await;

    let vpcs = cloud.find_vpcs(&tags(&[("Name", "demo")])).await.unwrap();
    assert_eq!(vpcs.len(), 1, "{vpcs:#?}");
    let vpc_id = str_of(&seed, "vpc_id");
    assert_eq!(vpcs[0].id, vpc_id);
    assert_eq!(vpcs[0].cidr.as_deref(), Some("10.0.0.0/16"));
    assert!(cloud
        .find_vpcs(&tags(&[("Name", "nope")]))
        .await
        .unwrap()
        .is_empty());

    let subnets = cloud
        .find_subnets(vpc_id, &tags(&[("tier", "private")]))
        .await
        .unwrap();
    let ids: Vec<_> = subnets.iter().map(|s| s.id.clone()).collect();
    assert_eq!(sorted(&ids), sorted(&strings(&seed["subnet_ids"])));
    let zones: BTreeSet<_> = subnets
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    assert_eq!(zones, BTreeSet::from(["us-east-1a", "us-east-1b"]));

    let groups = cloud
        .find_security_groups(vpc_id, &["demo-web".to_string()], &Tags::new())
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].id, str_of(&seed, "security_group_id"));
    assert_eq!(groups[0].name, "demo-web");
    assert_eq!(groups[0].vpc_id.as_deref(), Some(vpc_id));
}

// ---------------------------------------------------------------------------------------------
// Load balancing

#[tokio::test]
async fn target_groups_load_balancers_and_listeners() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let vpc_id = str_of(&seed, "vpc_id");

    // Ours, another stack's with our prefix, and ours without the prefix.
    let blue = target_group_spec("shop-web-blue", vpc_id);
    let green = target_group_spec("shop-web-green", vpc_id);
    let blue_arn = cloud
        .create_target_group(&blue, &stack_tags(STACK))
        .await
        .unwrap();
    let green_arn = cloud
        .create_target_group(&green, &stack_tags(STACK))
        .await
        .unwrap();
    let foreign_arn = cloud
        .create_target_group(
            &target_group_spec("shop-foreign", vpc_id),
            &stack_tags(OTHER_STACK),
        )
        .await
        .unwrap();
    let unprefixed_arn = cloud
        .create_target_group(
            &target_group_spec("web-unprefixed", vpc_id),
            &stack_tags(STACK),
        )
        .await
        .unwrap();

    let listed = cloud.list_target_groups(STACK, "shop-").await.unwrap();
    let names: BTreeSet<_> = listed.iter().map(|t| t.spec.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["shop-web-blue", "shop-web-green"]));
    let listed_blue = listed.iter().find(|t| t.arn == blue_arn).unwrap();
    assert_eq!(listed_blue.spec, blue);
    assert_eq!(listed_blue.tags, stack_tags(STACK));
    assert!(listed_blue.load_balancer_arns.is_empty());

    // Updated in place: health check and deregistration delay.
    let mut blue_v2 = blue.clone();
    blue_v2.health_check.path = Some("/ready".to_string());
    blue_v2.health_check.interval_seconds = 15;
    blue_v2.deregistration_delay_seconds = 5;
    cloud
        .modify_target_group(&blue_arn, &blue_v2)
        .await
        .unwrap();
    let listed = cloud
        .list_target_groups(STACK, "shop-web-blue")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec, blue_v2);

    // Load balancers: ours and another stack's.
    let lb_spec = load_balancer_spec("shop-public", &seed);
    let lb = cloud
        .create_load_balancer(&lb_spec, &stack_tags(STACK))
        .await
        .unwrap();
    assert!(lb.arn.starts_with("arn:"), "{lb:#?}");
    assert!(!lb.dns_name.is_empty(), "{lb:#?}");
    let foreign_lb = cloud
        .create_load_balancer(
            &load_balancer_spec("shop-foreign", &seed),
            &stack_tags(OTHER_STACK),
        )
        .await
        .unwrap();
    let lbs = cloud.list_load_balancers(STACK, "shop-").await.unwrap();
    assert_eq!(lbs.len(), 1, "{lbs:#?}");
    assert_eq!(lbs[0].arn, lb.arn);
    assert_eq!(lbs[0].dns_name, lb.dns_name);
    assert_eq!(lbs[0].tags, stack_tags(STACK));
    assert_eq!(lbs[0].spec.kind, "application");
    assert!(!lbs[0].spec.internal);
    assert_eq!(sorted(&lbs[0].spec.subnet_ids), sorted(&lb_spec.subnet_ids));
    assert_eq!(lbs[0].spec.security_group_ids, lb_spec.security_group_ids);
    cloud.modify_load_balancer(&lb.arn, &lb_spec).await.unwrap();

    // An internal network load balancer: no security groups.
    let nlb_spec = LoadBalancerSpec {
        kind: "network".to_string(),
        internal: true,
        security_group_ids: vec![],
        ..load_balancer_spec("shop-internal", &seed)
    };
    let nlb = cloud
        .create_load_balancer(&nlb_spec, &stack_tags(STACK))
        .await
        .unwrap();
    cloud
        .modify_load_balancer(&nlb.arn, &nlb_spec)
        .await
        .unwrap();
    let listed = cloud
        .list_load_balancers(STACK, "shop-internal")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].spec.kind, "network");
    assert!(listed[0].spec.internal);
    assert!(listed[0].spec.security_group_ids.is_empty());
    cloud.delete_load_balancer(&nlb.arn).await.unwrap();

    // A weighted listener, then a plain one.
    let weighted = ListenerSpec {
        port: 80,
        protocol: "HTTP".to_string(),
        certificate_arn: None,
        forward: vec![
            Forward {
                target_group_arn: blue_arn.clone(),
                weight: 90,
            },
            Forward {
                target_group_arn: green_arn.clone(),
                weight: 10,
            },
        ],
    };
    let listener_arn = cloud
        .create_listener(&lb.arn, &weighted, &stack_tags(STACK))
        .await
        .unwrap();
    let listeners = cloud.list_listeners(&lb.arn).await.unwrap();
    assert_eq!(listeners.len(), 1, "{listeners:#?}");
    assert_eq!(listeners[0].arn, listener_arn);
    assert_eq!(listeners[0].load_balancer_arn, lb.arn);
    assert_eq!(listeners[0].spec, weighted);

    let plain = ListenerSpec {
        forward: vec![Forward {
            target_group_arn: green_arn.clone(),
            weight: 1,
        }],
        ..weighted.clone()
    };
    cloud.modify_listener(&listener_arn, &plain).await.unwrap();
    let listeners = cloud.list_listeners(&lb.arn).await.unwrap();
    assert_eq!(listeners[0].spec, plain);

    let listed = cloud.list_target_groups(STACK, "shop-").await.unwrap();
    let listed_green = listed.iter().find(|t| t.arn == green_arn).unwrap();
    assert_eq!(listed_green.load_balancer_arns, vec![lb.arn.clone()]);

    // Tags were read in one DescribeTags call per page of candidates, not one per resource.
    let snapshot = stats.snapshot();
    assert!(snapshot["ELBv2.DescribeTags"].calls >= 1);
    assert_eq!(snapshot["ELBv2.CreateTargetGroup"].calls, 4);

    // Tear down.
    cloud.delete_listener(&listener_arn).await.unwrap();
    assert!(cloud.list_listeners(&lb.arn).await.unwrap().is_empty());
    cloud.delete_load_balancer(&lb.arn).await.unwrap();
    cloud.delete_load_balancer(&foreign_lb.arn).await.unwrap();
    for arn in [&blue_arn, &green_arn, &foreign_arn, &unprefixed_arn] {
        cloud.delete_target_group(arn).await.unwrap();
    }
    assert!(cloud
        .list_load_balancers(STACK, "")
        .await
        .unwrap()
        .is_empty());
    assert!(cloud
        .list_target_groups(STACK, "")
        .await
        .unwrap()
        .is_empty());
    let gone = cloud.delete_target_group(&blue_arn).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    let gone = cloud.list_listeners(&lb.arn).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
}

// ---------------------------------------------------------------------------------------------
// Launch templates and Auto Scaling groups

#[tokio::test]
async fn launch_templates_and_versions() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 3).await;
    let amis = strings(&seed["ami_ids"]);

    let v1 = launch_spec(&amis[0], &seed);
    let (id, version) = cloud
        .create_launch_template("shop-web", &v1, &stack_tags(STACK))
        .await
        .unwrap();
    assert_eq!(version, 1);
    let v2 = LaunchSpec {
        options: Default::default(),
        image_id: amis[1].clone(),
        instance_type: "t3.small".to_string(),
        instance_profile: Some("arn:aws:iam::123456789012:instance-profile/web".to_string()),
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
        .create_launch_template("other-web", &v1, &stack_tags(OTHER_STACK))
        .await
        .unwrap();
    let templates = cloud.list_launch_templates(STACK).await.unwrap();
    assert_eq!(templates.len(), 1, "{templates:#?}");
    assert_eq!(templates[0].id, id);
    assert_eq!(templates[0].name, "shop-web");
    assert_eq!(templates[0].latest_version, 2);
    assert_eq!(templates[0].tags, stack_tags(STACK));

    cloud.delete_launch_template(&id).await.unwrap();
    cloud.delete_launch_template(&foreign).await.unwrap();
    assert!(cloud.list_launch_templates(STACK).await.unwrap().is_empty());
    let gone = cloud.launch_template_version(&id, "1").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
}

#[tokio::test]
async fn groups_register_instances_and_resize() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let vpc_id = str_of(&seed, "vpc_id");
    let amis = strings(&seed["ami_ids"]);
    let subnets = strings(&seed["subnet_ids"]);

    let tg = cloud
        .create_target_group(&target_group_spec("shop-web", vpc_id), &stack_tags(STACK))
        .await
        .unwrap();
    let spare_tg = cloud
        .create_target_group(&target_group_spec("shop-spare", vpc_id), &stack_tags(STACK))
        .await
        .unwrap();
    let (template, version) = cloud
        .create_launch_template(
            "shop-web",
            &launch_spec(&amis[0], &seed),
            &stack_tags(STACK),
        )
        .await
        .unwrap();

    let group_tags = tags(&[
        (tag::STACK, STACK),
        (tag::GROUP, "web"),
        (tag::GENERATION, "1"),
    ]);
    let spec = GroupSpec {
        settings: Default::default(),
        name: "shop-web-v001".to_string(),
        launch_template_id: template.clone(),
        launch_template_version: version.to_string(),
        min: 1,
        max: 4,
        desired: 2,
        subnet_ids: subnets.clone(),
        target_group_arns: vec![tg.clone()],
        health_check_type: "ELB".to_string(),
        health_check_grace_seconds: 30,
        tags: group_tags.clone(),
    };
    cloud.create_group(&spec).await.unwrap();
    // Another stack's group in the same account, from its own template (the emulator lets a
    // template's instance tags win over the group's propagated tags; AWS does the opposite).
    let other_launch = LaunchSpec {
        options: Default::default(),
        instance_tags: stack_tags(OTHER_STACK),
        ..launch_spec(&amis[0], &seed)
    };
    let (other_template, _) = cloud
        .create_launch_template("other-web", &other_launch, &stack_tags(OTHER_STACK))
        .await
        .unwrap();
    cloud
        .create_group(&GroupSpec {
            settings: Default::default(),
            name: "other-web-v001".to_string(),
            launch_template_id: other_template.clone(),
            desired: 1,
            target_group_arns: vec![],
            tags: stack_tags(OTHER_STACK),
            ..spec.clone()
        })
        .await
        .unwrap();

    let groups = cloud.list_groups(STACK).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let group = &groups[0];
    assert_eq!(group.name, spec.name);
    assert_eq!((group.min, group.desired, group.max), (1, 2, 4));
    assert_eq!(group.tags, group_tags);
    assert_eq!(group.launch_template_id.as_deref(), Some(template.as_str()));
    assert_eq!(group.launch_template_version.as_deref(), Some("1"));
    assert_eq!(group.target_group_arns, vec![tg.clone()]);
    assert_eq!(sorted(&group.subnet_ids), sorted(&subnets));
    assert_eq!(group.instances.len(), 2, "{group:#?}");
    assert!(group.suspended_processes.is_empty());
    let group_ids: BTreeSet<_> = group.instances.iter().map(|i| i.id.clone()).collect();

    // The emulator registers the group's instances in its target groups (healthy at once).
    let health = cloud.target_health(&tg).await.unwrap();
    let registered: BTreeSet<_> = health.iter().map(|h| h.id.clone()).collect();
    assert_eq!(registered, group_ids, "{health:#?}");

    // Instances carry the propagated tags; only ours are listed.
    let before = stats
        .snapshot()
        .get("EC2.DescribeInstances")
        .map_or(0, |c| c.calls);
    let instances = cloud.list_instances(STACK).await.unwrap();
    let after = stats.snapshot()["EC2.DescribeInstances"];
    assert_eq!(after.calls, before + 1, "one page, one call");
    assert!(after.attempts >= after.calls);
    assert_eq!(after.throttled, 0);
    let instance_ids: BTreeSet<_> = instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(instance_ids, group_ids);
    for instance in &instances {
        assert_eq!(instance.state, InstanceState::Running);
        assert_eq!(instance.image_id.as_deref(), Some(amis[0].as_str()));
        assert_eq!(instance.instance_type.as_deref(), Some("t3.micro"));
        assert_eq!(
            instance.tags.get(tag::GROUP).map(String::as_str),
            Some("web")
        );
        assert!(instance.launch_time.is_some());
    }

    // Resize, retag, attach and detach.
    cloud.set_group_capacity(&spec.name, 0, 3, 4).await.unwrap();
    cloud
        .set_group_tags(&spec.name, &tags(&[(tag::STATE, "active")]))
        .await
        .unwrap();
    cloud
        .attach_target_groups(&spec.name, std::slice::from_ref(&spare_tg))
        .await
        .unwrap();
    let group = cloud.list_groups(STACK).await.unwrap().remove(0);
    assert_eq!((group.min, group.desired, group.max), (0, 3, 4));
    assert_eq!(group.instances.len(), 3);
    assert_eq!(
        group.tags.get(tag::STATE).map(String::as_str),
        Some("active")
    );
    assert_eq!(
        sorted(&group.target_group_arns),
        sorted(&[tg.clone(), spare_tg.clone()])
    );
    cloud
        .detach_target_groups(&spec.name, std::slice::from_ref(&spare_tg))
        .await
        .unwrap();
    let group = cloud.list_groups(STACK).await.unwrap().remove(0);
    assert_eq!(group.target_group_arns, vec![tg.clone()]);

    // Delete everything; deleting a gone group is fine.
    cloud.delete_group(&spec.name).await.unwrap();
    cloud.delete_group(&spec.name).await.unwrap();
    cloud.delete_group("other-web-v001").await.unwrap();
    assert!(cloud.list_groups(STACK).await.unwrap().is_empty());
    assert!(cloud.list_instances(STACK).await.unwrap().is_empty());
    let missing = cloud
        .set_group_capacity(&spec.name, 0, 0, 0)
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
    cloud.delete_launch_template(&template).await.unwrap();
    cloud.delete_launch_template(&other_template).await.unwrap();
    cloud.delete_target_group(&tg).await.unwrap();
    cloud.delete_target_group(&spare_tg).await.unwrap();

    let snapshot = stats.snapshot();
    for op in [
        "AutoScaling.CreateAutoScalingGroup",
        "AutoScaling.DescribeAutoScalingGroups",
        "AutoScaling.DeleteAutoScalingGroup",
        "EC2.CreateLaunchTemplate",
        "ELBv2.DescribeTargetHealth",
    ] {
        assert!(
            snapshot.contains_key(op),
            "{op} missing from\n{}",
            stats.render()
        );
    }
    assert_eq!(snapshot["AutoScaling.DeleteAutoScalingGroup"].calls, 3);
}

// ---------------------------------------------------------------------------------------------
// Rollout calls

#[tokio::test]
async fn suspends_and_resumes_processes() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let group = web_group(&cloud, &seed, 1, &[]).await;

    cloud
        .suspend_processes(&group, &owned(&["AZRebalance", "AlarmNotification"]))
        .await
        .unwrap();
    assert_eq!(
        suspended(&cloud).await,
        owned(&["AZRebalance", "AlarmNotification"])
    );

    // An empty list changes nothing (to the API, no processes means all of them).
    cloud.suspend_processes(&group, &[]).await.unwrap();
    cloud.resume_processes(&group, &[]).await.unwrap();
    assert_eq!(
        suspended(&cloud).await,
        owned(&["AZRebalance", "AlarmNotification"])
    );

    cloud
        .resume_processes(&group, &owned(&["AZRebalance"]))
        .await
        .unwrap();
    assert_eq!(suspended(&cloud).await, owned(&["AlarmNotification"]));
    assert_eq!(calls(&stats, "AutoScaling.SuspendProcesses"), 1);
    assert_eq!(calls(&stats, "AutoScaling.ResumeProcesses"), 1);
}

#[tokio::test]
async fn detached_instances_keep_running() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let tg = web_target_group(&cloud, &seed).await;
    let group = web_group(&cloud, &seed, 3, std::slice::from_ref(&tg)).await;
    let members: Vec<String> = cloud.list_groups(STACK).await.unwrap()[0]
        .instances
        .iter()
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(members.len(), 3);
    let (detached, kept) = members.split_at(2);

    cloud
        .detach_instances(&group, detached, true)
        .await
        .unwrap();
    let after = cloud.list_groups(STACK).await.unwrap().remove(0);
    assert_eq!(after.desired, 1);
    let ids: Vec<String> = after.instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, kept);
    let instances = cloud.list_instances(STACK).await.unwrap();
    assert_eq!(instances.len(), 3, "{instances:#?}");
    assert!(
        instances.iter().all(|i| i.state == InstanceState::Running),
        "{instances:#?}"
    );

    // AWS deregisters detached instances from the group's target groups; the emulator leaves
    // them registered. A rollout deregisters them itself, which is safe on both.
    cloud.deregister_targets(&tg, detached).await.unwrap();
    assert_eq!(
        target_ids(&cloud, &tg).await,
        BTreeSet::from([kept[0].clone()])
    );

    cloud.detach_instances(&group, &[], true).await.unwrap();
    assert_eq!(calls(&stats, "AutoScaling.DetachInstances"), 1);
}

#[tokio::test]
async fn registers_and_deregisters_targets() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 3).await;
    let tg = web_target_group(&cloud, &seed).await;
    let ids = launch_web(&cloud, &seed, 3).await;

    cloud.register_targets(&tg, &ids[..2]).await.unwrap();
    let health = cloud.target_health(&tg).await.unwrap();
    assert_eq!(health.len(), 2, "{health:#?}");
    for target in &health {
        assert!(ids[..2].contains(&target.id), "{health:#?}");
        // On the target group's port; the emulator reports `healthy` at once (AWS: `initial`).
        assert_eq!(target.port, Some(8080), "{health:#?}");
        assert_eq!(target.state, TargetState::Healthy, "{health:#?}");
    }

    cloud.deregister_targets(&tg, &ids[..1]).await.unwrap();
    assert_eq!(
        target_ids(&cloud, &tg).await,
        BTreeSet::from([ids[1].clone()])
    );
    // Again, and a target that was never registered: nothing to do, no error.
    cloud.deregister_targets(&tg, &ids[..1]).await.unwrap();
    cloud.deregister_targets(&tg, &ids[2..]).await.unwrap();
    // A batch mixing registered and unregistered targets deregisters the registered ones.
    cloud.deregister_targets(&tg, &ids).await.unwrap();
    assert!(target_ids(&cloud, &tg).await.is_empty());
}

#[tokio::test]
async fn terminates_instances_idempotently() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let ids = launch_web(&cloud, &seed, 3).await;

    cloud.terminate_instances(&ids[..2]).await.unwrap();
    assert_eq!(live_ids(&cloud).await, BTreeSet::from([ids[2].clone()]));
    cloud.terminate_instances(&ids[..2]).await.unwrap();
    assert_eq!(calls(&stats, "EC2.TerminateInstances"), 2);

    // Ids EC2 does not know are left out and the rest retried.
    let unknown = "i-0123456789abcdef0".to_string();
    cloud
        .terminate_instances(&[unknown.clone(), ids[2].clone()])
        .await
        .unwrap();
    assert!(live_ids(&cloud).await.is_empty());
    assert_eq!(calls(&stats, "EC2.TerminateInstances"), 4);
    cloud.terminate_instances(&[unknown]).await.unwrap();
    cloud.terminate_instances(&[]).await.unwrap();
    assert_eq!(calls(&stats, "EC2.TerminateInstances"), 5);
}

#[tokio::test]
async fn runs_tagged_instances_into_a_subnet() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let template = web_template(&cloud, &seed).await;
    let subnet = strings(&seed["subnet_ids"])[1].clone();
    let run_tags = tags(&[(tag::STACK, STACK), (tag::GENERATION, "2")]);
    let spec = RunSpec {
        tags: run_tags.clone(),
        client_token: Some("shop-web-v002-wave-1".to_string()),
        ..run_spec(&template, &subnet, 3)
    };

    let ids = cloud.run_instances(&spec).await.unwrap();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let instances = cloud.list_instances(STACK).await.unwrap();
    let listed: BTreeSet<String> = instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(listed, ids.iter().cloned().collect());
    let amis = strings(&seed["ami_ids"]);
    for instance in &instances {
        assert_eq!(instance.state, InstanceState::Running);
        assert_eq!(instance.subnet_id.as_deref(), Some(subnet.as_str()));
        assert_eq!(instance.image_id.as_deref(), Some(amis[0].as_str()));
        // The request's tags and the template's instance tags.
        let wanted = tags(&[
            (tag::STACK, STACK),
            (tag::GENERATION, "2"),
            (tag::GROUP, "web"),
        ]);
        for (key, value) in &wanted {
            assert_eq!(instance.tags.get(key), Some(value), "{instance:#?}");
        }
    }

    assert!(cloud
        .run_instances(&run_spec(&template, &subnet, 0))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(calls(&stats, "EC2.RunInstances"), 1);
}

#[tokio::test]
async fn tags_instances() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let ids = launch_web(&cloud, &seed, 3).await;

    cloud
        .tag_instances(&ids[..2], &tags(&[(tag::STATE, "draining")]))
        .await
        .unwrap();
    let draining = Some("draining".to_string());
    assert_eq!(
        state_tags(&cloud, &ids).await,
        vec![draining.clone(), draining.clone(), None]
    );
    cloud
        .tag_instances(&ids[..1], &tags(&[(tag::STATE, "retired")]))
        .await
        .unwrap();
    assert_eq!(
        state_tags(&cloud, &ids).await,
        vec![Some("retired".to_string()), draining, None]
    );

    cloud.tag_instances(&ids, &Tags::new()).await.unwrap();
    cloud
        .tag_instances(&[], &tags(&[(tag::STATE, "x")]))
        .await
        .unwrap();
    assert_eq!(calls(&stats, "EC2.CreateTags"), 2);
}

#[tokio::test]
async fn batches_respect_published_limits() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, stats) = connect(&emulator.endpoint, 3).await;
    let tg = web_target_group(&cloud, &seed).await;
    // The emulator registers, tags and looks up instance ids it does not know.
    let fake_ids = |n: u64| (0..n).map(|i| format!("i-{i:017x}")).collect::<Vec<_>>();

    let targets = fake_ids(450);
    cloud.register_targets(&tg, &targets).await.unwrap();
    assert_eq!(target_ids(&cloud, &tg).await.len(), 450);
    cloud.deregister_targets(&tg, &targets).await.unwrap();
    assert!(target_ids(&cloud, &tg).await.is_empty());

    let instances = fake_ids(1001);
    cloud
        .tag_instances(&instances, &tags(&[(tag::STATE, "draining")]))
        .await
        .unwrap();
    // Every id of both batches is unknown: each call fails, naming them all, and is done.
    cloud.terminate_instances(&instances).await.unwrap();

    let snapshot = stats.snapshot();
    let calls_of = |op: &str| snapshot[op].calls;
    assert_eq!(calls_of("ELBv2.RegisterTargets"), 3);
    assert_eq!(calls_of("ELBv2.DeregisterTargets"), 3);
    assert_eq!(
        calls_of("ELBv2.DescribeTargetHealth"),
        2,
        "no fallback needed"
    );
    assert_eq!(calls_of("EC2.CreateTags"), 2);
    assert_eq!(calls_of("EC2.TerminateInstances"), 2);
}

/// The emulator does not implement DeleteLaunchTemplateVersions (it answers HTTP 500, which
/// reads as AWS failing on its side): the stand-in test below covers the call. When this
/// fails, the emulator has learned it.
#[tokio::test]
async fn emulator_lacks_delete_launch_template_versions() {
    let emulator = Emulator::start();
    let seed = emulator.seed(REGION);
    let (cloud, _) = connect(&emulator.endpoint, 1).await;
    let template = web_template(&cloud, &seed).await;
    let amis = strings(&seed["ami_ids"]);
    for _ in 0..2 {
        cloud
            .create_launch_template_version(&template, &launch_spec(&amis[1], &seed))
            .await
            .unwrap();
    }
    let err = cloud
        .delete_launch_template_versions(&template, &[2])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn unreachable_endpoint_fails_fast() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let (cloud, stats) = connect(&endpoint, 1).await;
    let started = Instant::now();
    let err = cloud.list_instances(STACK).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    match &err {
        CloudError::Unreachable { operation, message } => {
            assert_eq!(*operation, "EC2.DescribeInstances");
            assert!(message.contains(&endpoint), "{message}");
            assert!(message.contains("localstack/start.sh"), "{message}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let counts = stats.snapshot()["EC2.DescribeInstances"];
    assert_eq!((counts.calls, counts.attempts), (1, 1));
}

/// A stand-in endpoint: answers each request with `respond(request text)`, an HTTP status
/// line (`400 Bad Request`) and an XML body.
async fn stand_in_server<F>(respond: F) -> String
where
    F: Fn(&str) -> (&'static str, String) + Send + Sync + 'static,
{
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let respond = Arc::new(respond);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read headers and the (small, form-encoded) body.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let (status, body) = respond(&String::from_utf8_lossy(&request));
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    endpoint
}

/// A stand-in endpoint that answers every request with a canned AWS error: Auto Scaling
/// calls are throttled, EC2 DescribeInstances hits EC2's request limit, ELBv2
/// DescribeTargetHealth fails on AWS's side, other calls fail authentication.
async fn canned_error_server() -> String {
    stand_in_server(|request| {
        let (status, body) = if request.contains("Action=DescribeTargetHealth") {
            (
                "500 Internal Server Error",
                "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>\
                 <Message>We encountered an internal error.</Message></Error>\
                 <RequestId>4</RequestId></ErrorResponse>",
            )
        } else if request.contains("Action=DescribeAutoScalingGroups") {
            (
                "400 Bad Request",
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                 <Message>Rate exceeded</Message></Error><RequestId>1</RequestId>\
                 </ErrorResponse>",
            )
        } else if request.contains("Action=DescribeInstances") {
            (
                "503 Service Unavailable",
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
                 <Message>Request limit exceeded.</Message></Error></Errors>\
                 <RequestID>2</RequestID></Response>",
            )
        } else {
            (
                "401 Unauthorized",
                "<Response><Errors><Error><Code>AuthFailure</Code>\
                 <Message>AWS was not able to validate the provided access \
                 credentials</Message></Error></Errors><RequestID>3</RequestID>\
                 </Response>",
            )
        };
        (status, body.to_string())
    })
    .await
}

/// A 5xx that outlives the SDK's retries is a transient error: a rollout waits and tries
/// again rather than ending.
#[tokio::test]
async fn a_server_side_failure_is_transient_after_retries() {
    let endpoint = canned_error_server().await;
    let (cloud, stats) = connect(&endpoint, 2).await;
    let err = cloud
        .target_health("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, CloudError::Unavailable { .. }),
        "expected Unavailable, got {err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.code(), Some("InternalFailure"));
    let counts = stats.snapshot()["ELBv2.DescribeTargetHealth"];
    assert_eq!(
        (counts.calls, counts.attempts),
        (1, 2),
        "{}",
        stats.render()
    );
}

#[tokio::test]
async fn throttling_is_retried_counted_and_reported() {
    let endpoint = canned_error_server().await;
    let (cloud, stats) = connect(&endpoint, 2).await;

    let err = cloud.list_groups(STACK).await.unwrap_err();
    assert!(
        matches!(err, CloudError::Throttled { .. }),
        "expected Throttled, got {err:?}"
    );
    assert!(err.to_string().contains("Throttling"), "{err}");
    let counts = stats.snapshot()["AutoScaling.DescribeAutoScalingGroups"];
    assert_eq!(
        (counts.calls, counts.attempts, counts.throttled),
        (1, 2, 2),
        "{}",
        stats.render()
    );

    let err = cloud.list_instances(STACK).await.unwrap_err();
    assert!(
        matches!(err, CloudError::Throttled { .. }),
        "expected Throttled, got {err:?}"
    );
    let counts = stats.snapshot()["EC2.DescribeInstances"];
    assert_eq!((counts.calls, counts.attempts, counts.throttled), (1, 2, 2));

    let err = cloud.find_vpcs(&Tags::new()).await.unwrap_err();
    match &err {
        CloudError::Unauthorized { operation, message } => {
            assert_eq!(*operation, "EC2.DescribeVpcs");
            assert!(message.contains("AuthFailure"), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    let counts = stats.snapshot()["EC2.DescribeVpcs"];
    assert_eq!((counts.calls, counts.attempts, counts.throttled), (1, 1, 0));
}

/// A stand-in for DeleteLaunchTemplateVersions: template `lt-1` has the versions `existing`,
/// version 1 its default (which cannot be deleted); any other template does not exist.
async fn launch_template_versions_server(existing: &[i64]) -> String {
    let existing = std::sync::Mutex::new(existing.iter().copied().collect::<BTreeSet<i64>>());
    stand_in_server(move |request| {
        let body = request.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let template_exists = body.contains("LaunchTemplateId=lt-1&");
        let versions = body.split('&').filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.starts_with("LaunchTemplateVersion.")
                .then(|| value.parse::<i64>().ok())?
        });
        let mut existing = existing.lock().unwrap();
        let (mut deleted, mut failed) = (String::new(), String::new());
        for version in versions {
            let failure = if !template_exists {
                Some(("launchTemplateIdDoesNotExist", "The launch template does not exist"))
            } else if version == 1 {
                Some(("unexpectedError", "Cannot delete the default version"))
            } else if !existing.remove(&version) {
                Some(("launchTemplateVersionDoesNotExist", "The version does not exist"))
            } else {
                None
            };
            match failure {
                Some((code, message)) => failed.push_str(&format!(
                    "<item><launchTemplateId>lt-1</launchTemplateId><versionNumber>{version}\
                     </versionNumber><responseError><code>{code}</code><message>{message}\
                     </message></responseError></item>"
                )),
                None => deleted.push_str(&format!(
                    "<item><launchTemplateId>lt-1</launchTemplateId><versionNumber>{version}\
                     </versionNumber></item>"
                )),
            }
        }
        let body = format!(
            "<DeleteLaunchTemplateVersionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>4</requestId>\
             <successfullyDeletedLaunchTemplateVersionSet>{deleted}\
             </successfullyDeletedLaunchTemplateVersionSet>\
             <unsuccessfullyDeletedLaunchTemplateVersionSet>{failed}\
             </unsuccessfullyDeletedLaunchTemplateVersionSet>\
             </DeleteLaunchTemplateVersionsResponse>"
        );
        ("200 OK", body)
    })
    .await
}

#[tokio::test]
async fn deletes_launch_template_versions_ignoring_missing_ones() {
    let endpoint = launch_template_versions_server(&[1, 2, 3]).await;
    let (cloud, stats) = connect(&endpoint, 1).await;

    cloud
        .delete_launch_template_versions("lt-1", &[2])
        .await
        .unwrap();
    cloud
        .delete_launch_template_versions("lt-1", &[2])
        .await
        .unwrap();
    cloud
        .delete_launch_template_versions("lt-1", &[])
        .await
        .unwrap();
    assert_eq!(calls(&stats, "EC2.DeleteLaunchTemplateVersions"), 2);
    // At most 200 versions a call.
    let many: Vec<i64> = (3..453).collect();
    cloud
        .delete_launch_template_versions("lt-1", &many)
        .await
        .unwrap();
    assert_eq!(calls(&stats, "EC2.DeleteLaunchTemplateVersions"), 5);

    // Other failures are errors that name the versions; a missing template is not found.
    let err = cloud
        .delete_launch_template_versions("lt-1", &[1, 5])
        .await
        .unwrap_err();
    match &err {
        CloudError::Service { code, message, .. } => {
            assert_eq!(code.as_deref(), Some("unexpectedError"));
            assert!(message.contains("version 1: Cannot delete"), "{message}");
            assert!(!message.contains("version 5"), "{message}");
        }
        other => panic!("expected Service, got {other:?}"),
    }
    let err = cloud
        .delete_launch_template_versions("lt-gone", &[2])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn terminating_reports_errors_other_than_missing_instances() {
    let endpoint = canned_error_server().await;
    let (cloud, stats) = connect(&endpoint, 1).await;
    let err = cloud
        .terminate_instances(&["i-0123456789abcdef0".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::Unauthorized { .. }), "{err:?}");
    assert_eq!(calls(&stats, "EC2.TerminateInstances"), 1);
}

/// An endpoint without DescribeInstanceRefreshes whose first answer is a throttle: the
/// operation's absence is still recognised (by the answers under the usual retries) and the
/// refreshes are unknown, not an error that stops the plan. Found with the fault proxy.
#[tokio::test]
async fn a_throttle_does_not_hide_that_instance_refreshes_are_not_implemented() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let answered = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = answered.clone();
    let endpoint = stand_in_server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            (
                "400 Bad Request",
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                 <Message>Rate exceeded</Message></Error><RequestId>1</RequestId>\
                 </ErrorResponse>"
                    .to_string(),
            )
        } else {
            (
                "500 Internal Server Error",
                "<!DOCTYPE html><html><title>500 Internal Server Error</title></html>".to_string(),
            )
        }
    })
    .await;
    let (cloud, stats) = connect(&endpoint, 2).await;
    assert_eq!(cloud.instance_refreshes("web-v001").await.unwrap(), None);
    assert_eq!(cloud.instance_refreshes("web-v001").await.unwrap(), None);
    // The probe, then one call under the policy (2 attempts); not asked again.
    assert_eq!(answered.load(Ordering::SeqCst), 3, "{}", stats.render());
}
