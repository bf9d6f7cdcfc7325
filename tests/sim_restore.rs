//! Disaster recovery on the simulator: `stacks/dr` restored into a region that lacks its
//! image. The copy is a planned action with its source, snapshots and estimate; apply copies
//! exactly the planned image, waits for it and launches from it; a copy under way is waited
//! on, not started again; encrypted snapshots need `copy_kms_key`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::ApplyOptions;
use reroll::apply::Stop;
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{
    tag, Cloud, CopyImageRequest, ImageFilter, ImageInfo, InstanceState, Snapshot, Tags,
};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::plan::render::{render, Style};

const SOURCE: &str = "us-east-1";
const TARGET: &str = "us-west-2";
const IMAGE: &str = "demo-app-1.0.0";

fn stack() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stacks/dr")
}

/// A simulated account in the target region, where the image does not exist.
fn target() -> Arc<SimCloud> {
    Arc::new(SimCloud::new(
        SimConfig {
            region: TARGET.into(),
            missing_images: [IMAGE.to_string()].into(),
            ..SimConfig::default()
        },
        Stats::new(),
    ))
}

fn inputs(extra: &[(&str, &str)]) -> Inputs {
    let mut cli = vec![("region".to_string(), TARGET.to_string())];
    cli.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    }
}

async fn copies_in_target(cloud: &dyn Cloud) -> Vec<ImageInfo> {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(IMAGE.into()),
        ..Default::default()
    };
    let mut found = cloud.describe_images(&filter).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

async fn source_image(cloud: &dyn Cloud) -> ImageInfo {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(IMAGE.into()),
        ..Default::default()
    };
    cloud
        .describe_images_in(SOURCE, &filter)
        .await
        .unwrap()
        .pop()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_copy_is_planned_applied_and_found_again() {
    let cloud = target();
    let source = source_image(&*cloud).await;
    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();

    // The plan names what is copied, from where, how much and how long.
    assert_eq!(plan.copies.len(), 1, "{plan:#?}");
    let copy = &plan.copies[0];
    assert_eq!(
        (
            copy.address.as_str(),
            copy.source_region.as_str(),
            copy.source_image_id.as_str(),
            copy.name.as_str(),
            copy.total_gib(),
            copy.estimate_seconds,
            copy.in_progress.as_deref(),
        ),
        ("image.app", SOURCE, source.id.as_str(), IMAGE, 8, 240, None)
    );
    let text = render(&plan, Style::default());
    let line = format!(
        "+ image.app             copy {} ({IMAGE}) from {SOURCE}: snap-",
        source.id
    );
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("8 GiB; about 4m"), "{text}");
    assert!(
        text.contains("Plan: 1 image to copy, 3 to create."),
        "{text}"
    );

    let started = cloud.elapsed();
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    // Nothing launched before the copy was available.
    assert!(cloud.elapsed() - started >= Duration::from_secs(240));

    let copies = copies_in_target(&*cloud).await;
    assert_eq!(copies.len(), 1, "{copies:#?}");
    let copied = &copies[0];
    assert_eq!(copied.state, "available");
    assert_eq!(
        copied.tags.get(tag::SOURCE_IMAGE).map(String::as_str),
        Some(format!("{SOURCE}:{}", source.id).as_str())
    );
    assert_eq!(copied.tags.get(tag::STACK).map(String::as_str), Some("dr"));
    assert_eq!(copied.tags.get("team").map(String::as_str), Some("demo"));
    let snap = cloud.snapshot();
    assert!(
        snap.instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .all(|i| i.image_id == copied.id),
        "{snap:#?}"
    );

    // A second plan finds the copy: nothing to do, no second copy.
    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let again = session.plan(false).unwrap();
    assert!(!again.has_changes(), "{again:#?}");
    assert_eq!(copies_in_target(&*cloud).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_copy_under_way_is_waited_on_not_started_again() {
    let cloud = target();
    let source = source_image(&*cloud).await;
    let tags: Tags = [(
        tag::SOURCE_IMAGE.to_string(),
        format!("{SOURCE}:{}", source.id),
    )]
    .into();
    let under_way = cloud
        .copy_image(&CopyImageRequest {
            source_region: SOURCE,
            source_image_id: &source.id,
            name: IMAGE,
            kms_key: None,
            tags: &tags,
        })
        .await
        .unwrap();

    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();
    assert_eq!(plan.copies.len(), 1, "{plan:#?}");
    assert_eq!(
        plan.copies[0].in_progress.as_deref(),
        Some(under_way.as_str())
    );
    let text = render(&plan, Style::default());
    assert!(
        text.contains(&format!(
            "wait for {under_way}, already copying {}",
            source.id
        )),
        "{text}"
    );
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    let copies = copies_in_target(&*cloud).await;
    assert_eq!(
        copies.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [under_way.as_str()]
    );
}

fn encrypted_bake(cloud: &SimCloud) -> ImageInfo {
    let image = ImageInfo {
        id: "ami-0encrypted00000001".into(),
        name: IMAGE.into(),
        owner: "123456789012".into(),
        creation_date: "2026-02-01T00:00:00.000Z".into(),
        state: "available".into(),
        architecture: Some("x86_64".into()),
        tags: Tags::new(),
        snapshots: vec![Snapshot {
            id: "snap-0secret".into(),
            size_gib: 20,
            encrypted: true,
        }],
    };
    cloud.put_image(SOURCE, image.clone());
    image
}

#[tokio::test(start_paused = true)]
async fn encrypted_snapshots_need_a_key_in_the_target_region() {
    let cloud = target();
    encrypted_bake(&cloud);
    let err = match engine::open(&*cloud, &stack(), inputs(&[])).await {
        Err(EngineError::Stack(d)) => format!("{}\n{}", d.short(), d.render(false)),
        Err(other) => panic!("expected a stack error, got {other}"),
        Ok(_) => panic!("an encrypted copy without a key was planned"),
    };
    for want in [
        "main.hcl:",
        "image.app: image ami-0encrypted00000001 (demo-app-1.0.0) in us-east-1 has encrypted \
         snapshots (snap-0secret); copying it into us-west-2 needs a KMS key in us-west-2",
        "copy_kms_key",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }

    let session = engine::open(&*cloud, &stack(), inputs(&[("copy_kms_key", "alias/dr")]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let copy = &plan.copies[0];
    assert_eq!(
        (
            copy.kms_key.as_deref(),
            copy.encrypted(),
            copy.estimate_seconds
        ),
        (Some("alias/dr"), true, 120 + 20 * 15)
    );
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    let copies = copies_in_target(&*cloud).await;
    assert_eq!(copies.len(), 1);
    assert!(copies[0].snapshots.iter().all(|s| s.encrypted));
}

/// Preflight as `plan` runs it, on a simulated target region configured by `config`.
async fn preflight_of(
    config: impl FnOnce(&mut SimConfig),
    instances: &str,
) -> reroll::preflight::Preflight {
    let mut c = SimConfig {
        region: TARGET.into(),
        ..SimConfig::default()
    };
    config(&mut c);
    let cloud = SimCloud::new(c, Stats::new());
    let session = engine::open(&cloud, &stack(), inputs(&[("web_instances", instances)]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let account = reroll::preflight::gather(&cloud, &session.stack, &plan).await;
    reroll::preflight::check(&session.stack, &plan, &account)
}

#[tokio::test(start_paused = true)]
async fn preflight_compares_quotas_with_the_plan_and_never_fails_on_an_unknown_one() {
    const VCPU: &str =
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (L-1216C47A)";
    // (web instances, Service Quotas answers, vCPU line, targets line, shortfalls)
    let cases: [(&str, bool, String, &str, usize); 5] = [
        (
            "1000",
            true,
            format!("{VCPU}: need 2000 more vCPUs, 0 in use, limit 10000"),
            "need 1000 more targets, 0 in use, limit 1000",
            0,
        ),
        (
            "1001",
            true,
            format!("{VCPU}: need 2002 more vCPUs, 0 in use, limit 10000"),
            "need 1001 more targets, 0 in use, limit 1000",
            1,
        ),
        (
            "5000",
            true,
            format!("{VCPU}: need 10000 more vCPUs, 0 in use, limit 10000"),
            "need 5000 more targets, 0 in use, limit 1000",
            1,
        ),
        (
            "5001",
            true,
            format!("{VCPU}: need 10002 more vCPUs, 0 in use, limit 10000"),
            "need 5001 more targets, 0 in use, limit 1000",
            2,
        ),
        (
            "5001",
            false,
            format!("{VCPU}: need 10002 more vCPUs, 0 in use, limit unknown"),
            "need 5001 more targets, 0 in use, limit 1000",
            1,
        ),
    ];
    for (instances, answers, vcpu_line, targets, shortfalls) in cases {
        let found = preflight_of(
            |c| {
                if !answers {
                    c.service_quotas.clear();
                }
            },
            instances,
        )
        .await;
        let lines: Vec<String> = found.checks.iter().map(|c| c.describe()).collect();
        assert_eq!(
            lines,
            [
                vcpu_line.as_str(),
                "Auto Scaling groups: need 1 more group, 0 in use, limit 500",
                "Target groups: need 1 more target group, 0 in use, limit 3000",
                "Application load balancers: need 1 more load balancer, 0 in use, limit 50",
                &format!("Targets in target group dr-web: {targets}"),
            ],
            "{instances} instances, quotas answered: {answers}"
        );
        assert_eq!(found.problems().len(), shortfalls, "{:?}", found.problems());
    }
}

#[tokio::test(start_paused = true)]
async fn preflight_counts_what_runs_already_and_names_missing_key_pairs_and_profiles() {
    let cloud = SimCloud::new(
        SimConfig {
            region: TARGET.into(),
            max_auto_scaling_groups: 1,
            ..SimConfig::default()
        },
        Stats::new(),
    );
    // Something else runs in the region: one Auto Scaling group, its instances' vCPUs.
    let other = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim-rolling");
    let session = engine::open(&cloud, &other, Inputs::default())
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let (r, _) = engine::execute(&cloud, session, &plan, &options(), &Stop::new()).await;
    r.unwrap();
    let session = engine::open(&cloud, &stack(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();
    let account = reroll::preflight::gather(&cloud, &session.stack, &plan).await;
    let found = reroll::preflight::check(&session.stack, &plan, &account);
    assert_eq!(
        found.problems(),
        ["quota shortfall in us-west-2: Auto Scaling groups: need 1 more group, 1 in use, limit 1"]
    );
    assert!(
        found.checks[0]
            .describe()
            .contains("need 6 more vCPUs, 24 in use"),
        "{:?}",
        found.checks
    );

    let cloud = SimCloud::new(
        SimConfig {
            region: TARGET.into(),
            missing_key_pairs: ["ops".to_string()].into(),
            missing_instance_profiles: ["web-ops".to_string()].into(),
            ..SimConfig::default()
        },
        Stats::new(),
    );
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(stack().join("main.hcl"))
        .unwrap()
        .replace(
            "  target_groups   = [target_group.web]\n",
            "  target_groups   = [target_group.web]\n  key_name        = \"ops\"\n  \
             instance_profile = \"arn:aws:iam::123456789012:instance-profile/app/web-ops\"\n",
        );
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    let session = engine::open(&cloud, dir.path(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();
    let account = reroll::preflight::gather(&cloud, &session.stack, &plan).await;
    let found = reroll::preflight::check(&session.stack, &plan, &account);
    assert_eq!(
        found.problems(),
        [
            "key pair \"ops\" does not exist in us-west-2: import or create it there first",
            "instance profile \"arn:aws:iam::123456789012:instance-profile/app/web-ops\" does \
             not exist in this account: create it (IAM CreateInstanceProfile, with a role \
             added) or name one that does"
        ]
    );
    assert!(
        found
            .render()
            .contains("  missing  instance profile \"arn:aws:iam::123456789012:instance-profile/app/web-ops\"\n"),
        "{}",
        found.render()
    );
    // One that exists is not reported.
    let cloud = SimCloud::new(
        SimConfig {
            region: TARGET.into(),
            ..SimConfig::default()
        },
        Stats::new(),
    );
    let session = engine::open(&cloud, dir.path(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();
    let account = reroll::preflight::gather(&cloud, &session.stack, &plan).await;
    assert_eq!(account.missing_instance_profiles, Some(Vec::new()));
    assert!(reroll::preflight::check(&session.stack, &plan, &account)
        .problems()
        .is_empty());
}

#[test]
fn plan_strict_makes_a_shortfall_an_error() {
    let run = |strict: bool| {
        let mut args = vec![
            "--cloud",
            "sim",
            "plan",
            "stacks/dr",
            "--region",
            TARGET,
            "-var",
            "web_instances=5001",
        ];
        if strict {
            args.push("--strict");
        }
        assert_cmd::Command::cargo_bin("reroll")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap()
    };
    let shortfall = "quota shortfall in us-west-2: Running On-Demand Standard (A, C, D, H, I, M, \
                     R, T, Z) instances (L-1216C47A): need 10002 more vCPUs, 0 in use, limit 10000";
    let warned = run(false);
    let out = String::from_utf8_lossy(&warned.stdout);
    assert_eq!(warned.status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("Warning: {shortfall}")), "{out}");
    assert!(out.contains("  short    Running On-Demand"), "{out}");

    let refused = run(true);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("preflight in us-west-2 found 2 shortfalls (--strict)"),
        "{err}"
    );
    assert!(
        err.contains(
            "quota shortfall in us-west-2: Targets in target group dr-web: need 5001 more \
             targets, 0 in use, limit 1000"
        ),
        "{err}"
    );
    assert!(err.contains(shortfall), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
}

/// What a rollout adds at its peak: a rolling one its surge in the target group it shares with
/// the old generation, blue/green a whole green fleet in target groups of its own.
#[tokio::test(start_paused = true)]
async fn preflight_counts_a_rollouts_surge_and_a_green_fleet() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // (fixture, the checks that name targets or target groups)
    let cases: [(&str, &[&str]); 2] = [
        (
            "sim-rolling",
            &["Targets in target group simroll-web: need 3 more targets, 12 in use, limit 1000"],
        ),
        (
            "sim-bluegreen",
            &[
                "Target groups: need 1 more target group, 1 in use, limit 3000",
                "Targets in each green target group of server_group.web: need 12 more targets, \
                 0 in use, limit 1000",
            ],
        ),
    ];
    for (fixture, want) in cases {
        let cloud = SimCloud::new(SimConfig::default(), Stats::new());
        let version = |v: &str| Inputs {
            cli: vec![("app_version".into(), v.into())],
            ..Default::default()
        };
        let session = engine::open(&cloud, &fixtures.join(fixture), version("1.0.0"))
            .await
            .unwrap();
        let plan = session.plan(false).unwrap();
        let (r, _) = engine::execute(&cloud, session, &plan, &options(), &Stop::new()).await;
        r.unwrap();
        let session = engine::open(&cloud, &fixtures.join(fixture), version("1.1.0"))
            .await
            .unwrap();
        let plan = session.plan(false).unwrap();
        let account = reroll::preflight::gather(&cloud, &session.stack, &plan).await;
        let found = reroll::preflight::check(&session.stack, &plan, &account);
        let lines: Vec<String> = found
            .checks
            .iter()
            .map(|c| c.describe())
            .filter(|l| l.starts_with("Target"))
            .collect();
        assert_eq!(lines, want, "{fixture}");
    }
}
