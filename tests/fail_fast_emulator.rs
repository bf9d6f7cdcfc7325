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
use reroll::cloud::{Cloud, HealthCheckSpec, ImageFilter, LaunchSpec, Tags, TargetGroupSpec};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_held_by_untagged_resources_are_refused_with_their_owner() {
    let emu = Emulator::start();
    let seed = emu.seed("us-east-1");
    let cloud = cloud(&emu, Stats::new()).await;
    let stack = fixture();
    let apply = ["apply", stack.to_str().unwrap(), "--auto-approve"];

    // The stack's target group name, taken (with other settings than the stack's).
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
    let foreign = cloud.create_target_group(&spec, &untagged()).await.unwrap();
    let o = run(&emu, &apply);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "target group roll-web already exists and is not the one this stack would create: \
             it has no reroll:stack tag (team=legacy)"
        ),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("give the target group another `name` in the stack"),
        "{err}"
    );
    assert!(cloud.list_groups("roll").await.unwrap().is_empty());
    cloud.delete_target_group(&foreign).await.unwrap();

    // The launch template name, taken.
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
    let o = run(&emu, &apply);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "launch template roll-web already exists and is not the one this stack would \
             create: it has no tags at all"
        ),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("rename the stack or the server group"),
        "{err}"
    );
    eprintln!("{err}");
    cloud.delete_launch_template(&template).await.unwrap();

    // Out of the way, the same apply goes through.
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
