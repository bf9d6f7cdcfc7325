//! Against a private emulator: a name held by a resource without the stack's tags is refused
//! with its owner, and an endpoint without DescribeInstanceRefreshes leaves the question
//! unknown instead of failing the plan.

mod common {
    pub mod emulator;
}

use std::path::PathBuf;
use std::process::{Command, Output};

use common::emulator::Emulator;
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::stats::Stats;
use reroll::cloud::{
    Cloud, GroupSpec, HealthCheckSpec, ImageFilter, LaunchSpec, LoadBalancerSpec, Tags,
    TargetGroupSpec,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rolling12")
}

fn run(emu: &Emulator, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reroll"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REROLL_POLL_SECONDS", "0.2")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn cloud(emu: &Emulator, stats: Stats) -> AwsCloud {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(emu.endpoint.clone()),
        max_attempts: 3,
    };
    AwsCloud::connect(&opts, stats).await.unwrap()
}

fn untagged() -> Tags {
    Tags::from([("team".to_string(), "legacy".to_string())])
}

/// Look-alikes of each kind the stack creates (an untagged target group, load balancer,
/// launch template and Auto Scaling group with the names the stack would give its own): `plan`
/// and `apply` refuse before creating anything, naming each with its id and owner; once they
/// are gone, the same apply goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_held_by_untagged_resources_are_refused_with_their_owner() {
    let emu = Emulator::start();
    let seed = emu.seed("us-east-1");
    let cloud = cloud(&emu, Stats::new()).await;
    let stack = fixture();
    let plan = ["plan", stack.to_str().unwrap()];
    let apply = ["apply", stack.to_str().unwrap(), "--auto-approve"];

    // The stack's target group name (with other settings than the stack's).
    let vpc = seed["vpc_id"].as_str().unwrap().to_string();
    let spec = TargetGroupSpec {
        name: "roll-web".into(),
        port: 80,
        protocol: "HTTP".into(),
        vpc_id: vpc,
        target_type: "instance".into(),
        health_check: HealthCheckSpec::default(),
        deregistration_delay_seconds: 300,
    };
    let foreign_tg = cloud.create_target_group(&spec, &untagged()).await.unwrap();
    // Its load balancer's, with no tags at all.
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let lb = LoadBalancerSpec {
        name: "roll-public".into(),
        kind: "application".into(),
        internal: false,
        subnet_ids: strings(&seed["subnet_ids"]),
        security_group_ids: vec![seed["security_group_id"].as_str().unwrap().to_string()],
    };
    let foreign_lb = cloud
        .create_load_balancer(&lb, &Tags::new())
        .await
        .unwrap()
        .arn;
    // Its launch template's and first Auto Scaling group's.
    let image = cloud
        .describe_images(&ImageFilter {
            owners: vec!["self".into()],
            name: Some("demo-app-1.0.0".into()),
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id
        .clone();
    let launch = LaunchSpec {
        options: Default::default(),
        image_id: image,
        instance_type: "t3.micro".into(),
        ..Default::default()
    };
    let (template, _) = cloud
        .create_launch_template("roll-web", &launch, &Tags::new())
        .await
        .unwrap();
    let (other_template, _) = cloud
        .create_launch_template("legacy-web", &launch, &untagged())
        .await
        .unwrap();
    cloud
        .create_group(&GroupSpec {
            name: "roll-web-v001".into(),
            launch_template_id: other_template.clone(),
            launch_template_version: "1".into(),
            min: 0,
            max: 1,
            desired: 0,
            subnet_ids: strings(&seed["subnet_ids"]),
            target_group_arns: Vec::new(),
            health_check_type: "EC2".into(),
            health_check_grace_seconds: 0,
            tags: untagged(),
            settings: Default::default(),
        })
        .await
        .unwrap();

    for args in [&plan[..], &apply[..]] {
        let o = run(&emu, args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        for want in [
            format!(
                "target_group.web: target group roll-web ({foreign_tg}) exists and is not this \
                 stack's: it has no reroll:stack tag (team=legacy)"
            ),
            format!(
                "load_balancer.public: load balancer roll-public ({foreign_lb}) exists and is \
                 not this stack's: it has no tags at all"
            ),
            format!(
                "server_group.web: launch template roll-web ({template}) exists and is not this \
                 stack's: it has no tags at all"
            ),
            "reroll never takes over or deletes a resource it did not create".to_string(),
        ] {
            assert!(err.contains(&want), "{want}\nnot in {}", text(&o));
        }
    }
    assert!(cloud.list_groups("roll").await.unwrap().is_empty());
    assert!(cloud
        .list_target_groups("roll", "roll")
        .await
        .unwrap()
        .is_empty());

    // The launch template out of the way, the Auto Scaling group is the one in the way.
    cloud.delete_launch_template(&template).await.unwrap();
    let o = run(&emu, &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "server_group.web: Auto Scaling group roll-web-v001 (roll-web-v001) exists and is \
             not this stack's: it has no reroll:stack tag (team=legacy)"
        ),
        "{}",
        text(&o)
    );

    // Out of the way, the same apply goes through.
    cloud.delete_group("roll-web-v001").await.unwrap();
    cloud.delete_launch_template(&other_template).await.unwrap();
    cloud.delete_load_balancer(&foreign_lb).await.unwrap();
    cloud.delete_target_group(&foreign_tg).await.unwrap();
    let o = run(&emu, &apply);
    assert!(o.status.success(), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_refreshes_are_unknown_where_the_endpoint_lacks_the_call() {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let stack = fixture();
    let o = run(&emu, &["apply", stack.to_str().unwrap(), "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));

    let stats = Stats::new();
    let cloud = cloud(&emu, stats.clone()).await;
    assert_eq!(
        cloud.instance_refreshes("roll-web-v001").await.unwrap(),
        None
    );
    // Asked once, without retries, and not asked again.
    assert_eq!(
        cloud.instance_refreshes("roll-web-v001").await.unwrap(),
        None
    );
    let counts = stats.snapshot()["AutoScaling.DescribeInstanceRefreshes"];
    assert_eq!((counts.calls, counts.attempts), (1, 1));

    // The plan works, says nothing about refreshes, and says why at debug level.
    let o = run(
        &emu,
        &["plan", stack.to_str().unwrap(), "--detailed-exitcode", "-v"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the endpoint does not implement DescribeInstanceRefreshes"),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("instance refresh"),
        "{}",
        text(&o)
    );
}
