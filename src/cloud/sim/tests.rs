use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::{RateLimit, RateLimits, SimCloud, SimConfig};
use crate::cloud::states::{InstanceHealth, InstanceState, Lifecycle, TargetState};
use crate::cloud::stats::Stats;
use crate::cloud::{
    tag, Cloud, GroupSpec, HealthCheckSpec, ImageFilter, LaunchSpec, ListenerSpec,
    LoadBalancerSpec, RunSpec, Tags, TargetGroupSpec, TargetHealth,
};

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn sleep(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

struct Fixture {
    cloud: SimCloud,
    tg: String,
    template: String,
    subnets: Vec<String>,
}

async fn fixture(config: SimConfig) -> Fixture {
    let cloud = SimCloud::new(config, Stats::new());
    let vpc = cloud.find_vpcs(&tags(&[("Name", "x")])).await.unwrap()[0]
        .id
        .clone();
    let subnets: Vec<String> = cloud
        .find_subnets(&vpc, &Tags::new())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let spec = TargetGroupSpec {
        name: "s-web".into(),
        port: 80,
        protocol: "HTTP".into(),
        vpc_id: vpc,
        health_check: HealthCheckSpec {
            interval_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            ..Default::default()
        },
        deregistration_delay_seconds: 10,
        ..Default::default()
    };
    let stack = tags(&[(tag::STACK, "s")]);
    let tg = cloud.create_target_group(&spec, &stack).await.unwrap();
    let lb = cloud
        .create_load_balancer(
            &LoadBalancerSpec {
                name: "s-lb".into(),
                subnet_ids: subnets.clone(),
                ..Default::default()
            },
            &stack,
        )
        .await
        .unwrap();
    let listener = ListenerSpec {
        port: 80,
        protocol: "HTTP".into(),
        certificate_arn: None,
        forward: vec![super::super::Forward {
            target_group_arn: tg.clone(),
            weight: 1,
        }],
    };
    cloud
        .create_listener(&lb.arn, &listener, &stack)
        .await
        .unwrap();
    let image = cloud
        .describe_images(&ImageFilter {
            name: Some("app-1".into()),
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id
        .clone();
    let launch = LaunchSpec {
        image_id: image,
        instance_type: "t3.micro".into(),
        instance_tags: stack.clone(),
        ..Default::default()
    };
    let (template, _) = cloud
        .create_launch_template("s-web", &launch, &stack)
        .await
        .unwrap();
    Fixture {
        cloud,
        tg,
        template,
        subnets,
    }
}

fn group(f: &Fixture, desired: u32) -> GroupSpec {
    GroupSpec {
        name: "s-web-v001".into(),
        launch_template_id: f.template.clone(),
        launch_template_version: "1".into(),
        min: 0,
        max: 10,
        desired,
        subnet_ids: f.subnets.clone(),
        target_group_arns: vec![f.tg.clone()],
        health_check_type: "ELB".into(),
        health_check_grace_seconds: 0,
        tags: tags(&[(tag::STACK, "s")]),
        settings: Default::default(),
    }
}

fn states(health: &[TargetHealth]) -> Vec<TargetState> {
    health.iter().map(|h| h.state.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn group_instances_boot_register_and_become_healthy() {
    let f = fixture(SimConfig::default()).await;
    f.cloud.create_group(&group(&f, 3)).await.unwrap();
    let g = &f.cloud.list_groups("s").await.unwrap()[0];
    assert_eq!(g.instances.len(), 3);
    assert!(g
        .instances
        .iter()
        .all(|i| i.lifecycle_state == Lifecycle::Pending));
    let zones: BTreeSet<_> = g
        .instances
        .iter()
        .map(|i| i.availability_zone.clone())
        .collect();
    assert_eq!(zones.len(), 3, "balanced across zones");
    assert!(f.cloud.target_health(&f.tg).await.unwrap().is_empty());

    sleep(61).await;
    let g = &f.cloud.list_groups("s").await.unwrap()[0];
    assert!(g
        .instances
        .iter()
        .all(|i| i.lifecycle_state == Lifecycle::InService));
    let health = f.cloud.target_health(&f.tg).await.unwrap();
    assert_eq!(health.len(), 3);
    sleep(10).await;
    let health = f.cloud.target_health(&f.tg).await.unwrap();
    assert_eq!(states(&health), vec![TargetState::Healthy; 3]);
    let instances = f.cloud.list_instances("s").await.unwrap();
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| i.state == InstanceState::Running
        && i.tags.get("aws:autoscaling:groupName").map(String::as_str) == Some("s-web-v001")));
}

#[tokio::test(start_paused = true)]
async fn scale_in_drains_before_terminating() {
    let f = fixture(SimConfig::default()).await;
    f.cloud.create_group(&group(&f, 2)).await.unwrap();
    sleep(80).await;
    f.cloud
        .set_group_capacity("s-web-v001", 0, 1, 10)
        .await
        .unwrap();
    let health = f.cloud.target_health(&f.tg).await.unwrap();
    let s = states(&health);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(
        s.contains(&TargetState::Draining) && s.contains(&TargetState::Healthy),
        "{s:?}"
    );
    let victim = health
        .iter()
        .find(|h| h.state == TargetState::Draining)
        .unwrap();
    let snap = f.cloud.snapshot();
    assert_eq!(
        snap.instance(&victim.id).unwrap().state,
        InstanceState::Running
    );
    sleep(11).await;
    let snap = f.cloud.snapshot();
    let i = snap.instance(&victim.id).unwrap();
    assert_eq!(i.state, InstanceState::ShuttingDown);
    assert!(i.terminated_with.is_empty(), "{i:?}");
    sleep(6).await;
    assert_eq!(f.cloud.list_instances("s").await.unwrap().len(), 1);
    assert_eq!(f.cloud.target_health(&f.tg).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_images_fail_health_checks_and_are_replaced() {
    let config = SimConfig {
        bad_images: ["app-1".to_string()].into(),
        ..SimConfig::default()
    };
    let f = fixture(config).await;
    f.cloud.create_group(&group(&f, 1)).await.unwrap();
    let (mut seen, mut unhealthy_members) = (HashSet::new(), 0);
    for _ in 0..150 {
        sleep(1).await;
        let health = f.cloud.target_health(&f.tg).await.unwrap();
        seen.extend(health.iter().map(|h| h.state.clone()));
        let g = &f.cloud.list_groups("s").await.unwrap()[0];
        unhealthy_members += g
            .instances
            .iter()
            .filter(|i| i.health_status == InstanceHealth::Unhealthy)
            .count();
    }
    assert!(!seen.contains(&TargetState::Healthy), "{seen:?}");
    assert!(
        seen.contains(&TargetState::Unhealthy) && seen.contains(&TargetState::Draining),
        "{seen:?}"
    );
    assert!(unhealthy_members > 0);
    let snap = f.cloud.snapshot();
    assert!(snap.instances.len() >= 3, "replaced: {snap:#?}");
    assert!(snap.instances.iter().all(|i| i.terminated_with.is_empty()
        || i.terminated_with
            .values()
            .all(|s| *s != TargetState::Healthy)));
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_wait_and_are_counted() {
    let config = SimConfig {
        limits: RateLimits {
            elb: RateLimit::new(2.0, 1.0),
            ..RateLimits::default()
        },
        call_latency_ms: 0,
        ..SimConfig::default()
    };
    let f = fixture(config).await;
    let started = Instant::now();
    for _ in 0..5 {
        f.cloud.target_health(&f.tg).await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_secs(4));
    let s = f.cloud.stats().snapshot();
    assert!(s["ELBv2.DescribeTargetHealth"].throttled >= 4, "{s:?}");
    assert_eq!(s["ELBv2.DescribeTargetHealth"].calls, 5);
}

#[tokio::test(start_paused = true)]
async fn run_instances_waits_beyond_the_burst_and_fails_without_capacity() {
    let config = SimConfig {
        limits: RateLimits {
            run_instances: RateLimit::new(4.0, 2.0),
            ..RateLimits::default()
        },
        insufficient_capacity_azs: ["us-east-1b".to_string()].into(),
        ..SimConfig::default()
    };
    let f = fixture(config).await;
    let run = |subnet: &str, count| RunSpec {
        launch_template_id: f.template.clone(),
        launch_template_version: "$Latest".into(),
        subnet_id: subnet.to_string(),
        count,
        tags: tags(&[("extra", "1")]),
        client_token: Some("t".into()),
    };
    let started = Instant::now();
    let ids = f
        .cloud
        .run_instances(&run(&f.subnets[0], 10))
        .await
        .unwrap();
    assert_eq!(ids.len(), 10);
    assert!(started.elapsed() >= Duration::from_secs(3));
    // Same token: the same instances.
    let again = f
        .cloud
        .run_instances(&run(&f.subnets[0], 10))
        .await
        .unwrap();
    assert_eq!(again, ids);
    let err = f
        .cloud
        .run_instances(&RunSpec {
            client_token: None,
            ..run(&f.subnets[1], 1)
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("InsufficientInstanceCapacity"),
        "{err}"
    );
    let listed = f.cloud.list_instances("s").await.unwrap();
    assert_eq!(listed.len(), 10);
    assert_eq!(listed[0].tags.get("extra").map(String::as_str), Some("1"));
}

#[tokio::test(start_paused = true)]
async fn saved_worlds_continue_where_they_stopped() {
    let f = fixture(SimConfig::default()).await;
    f.cloud.create_group(&group(&f, 2)).await.unwrap();
    sleep(20).await;
    let json = f.cloud.to_json();
    let loaded = SimCloud::from_json(&json, Stats::new()).unwrap();
    assert_eq!(loaded.elapsed(), f.cloud.elapsed());
    sleep(60).await;
    assert_eq!(loaded.snapshot(), f.cloud.snapshot());
    assert_eq!(
        loaded.snapshot().targets_in("s-web", TargetState::Healthy),
        2
    );
}
