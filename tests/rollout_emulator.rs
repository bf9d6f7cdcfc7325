//! Rolling replacement against a private emulator: capacity sampled while the real binary
//! rolls, a rollback forced by a fault layer, kill -9 and resume, and the apply lock.

mod common {
    pub mod emulator;
}

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::emulator::Emulator;
use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions};
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::fault::{FaultCloud, Faults};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, TargetState};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;

const STACK: &str = "roll";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rolling12")
}

fn command(emu: &Emulator, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reroll"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REROLL_POLL_SECONDS", "0.2")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .args(args);
    c
}

fn run(emu: &Emulator, args: &[&str]) -> Output {
    command(emu, args).output().unwrap()
}

#[track_caller]
fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

async fn cloud(emu: &Emulator) -> Arc<dyn Cloud> {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(emu.endpoint.clone()),
        max_attempts: 3,
    };
    Arc::new(AwsCloud::connect(&opts, Stats::new()).await.unwrap())
}

fn deployed_v1() -> Emulator {
    deployed_v1_with(&[])
}

fn deployed_v1_with(vars: &[&str]) -> Emulator {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let stack = fixture();
    let args = [
        &["apply", stack.to_str().unwrap(), "--auto-approve"][..],
        vars,
    ]
    .concat();
    ok(&run(&emu, &args));
    emu
}

/// Samples the number of healthy targets until `done` is set; returns the smallest seen.
fn sample_healthy(
    cloud: Arc<dyn Cloud>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let tg = cloud.list_target_groups(STACK, "roll").await.unwrap()[0]
            .arn
            .clone();
        let (mut min, mut samples) = (usize::MAX, 0);
        while !done.load(Ordering::SeqCst) {
            let healthy = cloud
                .target_health(&tg)
                .await
                .unwrap()
                .iter()
                .filter(|t| t.state == TargetState::Healthy)
                .count();
            min = min.min(healthy);
            samples += 1;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        (min, samples)
    })
}

/// Runs reroll with `args` while sampling healthy targets; returns its output and the
/// (minimum, number) of samples.
async fn apply_while_sampling(
    emu: &Emulator,
    cloud: Arc<dyn Cloud>,
    args: &[&str],
) -> (Output, usize, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_healthy(cloud, done.clone());
    let o = tokio::task::spawn_blocking({
        let mut c = command(emu, args);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    done.store(true, Ordering::SeqCst);
    let (min, samples) = sampler.await.unwrap();
    (o, min, samples)
}

/// Starts reroll with `args` in the background, polling every `poll` seconds, and watches its
/// log for `marker`.
fn spawn_watched(
    emu: &Emulator,
    args: &[&str],
    poll: &str,
    marker: &'static str,
) -> (Child, Arc<AtomicUsize>, std::thread::JoinHandle<String>) {
    let mut child = command(emu, args)
        .env("REROLL_POLL_SECONDS", poll)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (seen, log) = watch(&mut child, marker);
    (child, seen, log)
}

/// Every instance ends on the new image, the target group holds exactly the new generation,
/// and the old generation is at zero.
async fn assert_converged(cloud: &dyn Cloud, new_image: &str) {
    let groups = reroll::observe::generations(cloud, STACK, true)
        .await
        .unwrap();
    let active = groups
        .iter()
        .find(|g| g.tags.get("reroll:state").map(String::as_str) == Some("active"))
        .unwrap();
    assert_eq!(active.desired, 12);
    for g in groups.iter().filter(|g| g.name != active.name) {
        assert_eq!(
            (g.desired, g.instances.len()),
            (0, 0),
            "{} not at zero",
            g.name
        );
    }
    let running: Vec<_> = cloud
        .list_instances(STACK)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.state.is_live())
        .collect();
    assert_eq!(
        running.len(),
        12,
        "orphans or missing instances: {running:?}"
    );
    assert!(running
        .iter()
        .all(|i| i.image_id.as_deref() == Some(new_image)));
    let members: std::collections::BTreeSet<&str> =
        active.instances.iter().map(|i| i.id.as_str()).collect();
    assert!(
        running.iter().all(|i| members.contains(i.id.as_str())),
        "an instance outside the active group"
    );
    let tg = cloud.list_target_groups(STACK, "roll").await.unwrap()[0]
        .arn
        .clone();
    let targets: std::collections::BTreeSet<String> = cloud
        .target_health(&tg)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let members: std::collections::BTreeSet<String> =
        members.into_iter().map(String::from).collect();
    assert_eq!(
        targets, members,
        "the target group holds exactly the new instances"
    );
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = reroll::cloud::ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_twelve_never_drops_below_twelve_healthy() {
    let emu = deployed_v1();
    let cloud = cloud(&emu).await;
    let stack = fixture();
    let started = std::time::Instant::now();
    let args = [
        "apply",
        stack.to_str().unwrap(),
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
        "--stats",
    ];
    let (o, min, samples) = apply_while_sampling(&emu, cloud.clone(), &args).await;
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("v001 → v002"), "{err}");
    eprintln!(
        "rollout took {:?}; {samples} samples, minimum {min} healthy\n{err}",
        started.elapsed()
    );
    assert!(samples > 10, "too few samples ({samples}) to say anything");
    assert!(
        min >= 12,
        "serving capacity dropped to {min} healthy targets"
    );
    assert_converged(&*cloud, &image_id(&*cloud, "1.1.0").await).await;
}

/// The same rollout with `mode = "instances"`: no Auto Scaling group, reroll launches,
/// registers and terminates instances itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_mode_rolls_twelve_without_dropping_capacity() {
    let mode = ["-var", "mode=instances"];
    let emu = deployed_v1_with(&mode);
    let cloud = cloud(&emu).await;
    assert!(
        cloud.list_groups(STACK).await.unwrap().is_empty(),
        "instance mode made an Auto Scaling group"
    );
    assert_converged(&*cloud, &image_id(&*cloud, "1.0.0").await).await;
    let stack = fixture();
    let args = [
        &[
            "apply",
            stack.to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
        ][..],
        &mode,
    ]
    .concat();
    let (o, min, samples) = apply_while_sampling(&emu, cloud.clone(), &args).await;
    ok(&o);
    assert!(samples > 10, "too few samples ({samples})");
    assert!(
        min >= 12,
        "serving capacity dropped to {min} healthy targets"
    );
    assert!(cloud.list_groups(STACK).await.unwrap().is_empty());
    assert_converged(&*cloud, &image_id(&*cloud, "1.1.0").await).await;
    let plan = [
        &[
            "plan",
            stack.to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ][..],
        &mode,
    ]
    .concat();
    let o = run(&emu, &plan);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_new_instances_roll_back_and_are_remembered() {
    let emu = deployed_v1();
    let real = cloud(&emu).await;
    let bad = image_id(&*real, "1.1.0").await;
    let faulty = FaultCloud::new(
        real.clone(),
        STACK,
        Faults {
            unhealthy_images: [bad.clone()].into(),
            ..Faults::default()
        },
    );
    let inputs = |version: &str| Inputs {
        cli: vec![
            ("app_version".into(), version.into()),
            ("health_timeout".into(), "2s".into()),
        ],
        ..Default::default()
    };
    let session = engine::open(&faulty, &fixture(), inputs("1.1.0"))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let opts = ApplyOptions {
        parallelism: 10,
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let (result, reports) = engine::execute(&faulty, session, &plan, &opts, &Stop::new()).await;
    match result {
        Err(EngineError::Apply(ApplyError::RolledBack { message, .. })) => {
            assert!(
                message.contains("new instances healthy after 2s"),
                "{message}"
            );
            assert!(message.contains("unhealthy"), "{message}");
        }
        other => panic!("expected a rollback, got {:?}", other.map(|s| s.name)),
    }
    assert_eq!(reports[0].result, "rolled back");

    // The old generation serves at full capacity; the new one is gone.
    let groups = real.list_groups(STACK).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].name, "roll-web-v001");
    assert_eq!((groups[0].min, groups[0].desired), (12, 12));
    assert!(
        groups[0].suspended_processes.is_empty(),
        "{:?}",
        groups[0].suspended_processes
    );
    assert_converged(&*real, &image_id(&*real, "1.0.0").await).await;

    // The next plan says the definition failed, and --force is the way to try again.
    let session = engine::open(&*real, &fixture(), inputs("1.1.0"))
        .await
        .unwrap();
    let err = session.plan(false).unwrap_err().to_string();
    assert!(
        err.contains("failed its rollout at") && err.contains("--force"),
        "{err}"
    );
    assert!(session.plan(true).unwrap().has_changes());
}

/// Reads the child's stderr line by line, signalling once a line contains `marker`.
fn watch(
    child: &mut Child,
    marker: &'static str,
) -> (Arc<AtomicUsize>, std::thread::JoinHandle<String>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let stderr = child.stderr.take().unwrap();
    let flag = seen.clone();
    let handle = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(marker) {
                flag.fetch_add(1, Ordering::SeqCst);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (seen, handle)
}

async fn wait_for(seen: &AtomicUsize, n: usize) {
    for _ in 0..600 {
        if seen.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("marker not seen in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_rollout_then_apply_converges() {
    let emu = deployed_v1();
    let cloud = cloud(&emu).await;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_healthy(cloud.clone(), done.clone());
    let stack = fixture();
    let args = [
        "apply",
        stack.to_str().unwrap(),
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ];
    let (mut child, seen, log) = spawn_watched(&emu, &args, "0.5", "draining old instances");
    wait_for(&seen, 2).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first = log.join().unwrap();

    let o = run(
        &emu,
        &["plan", stack.to_str().unwrap(), "-var", "app_version=1.1.0"],
    );
    ok(&o);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("1 to resume"),
        "{plan}\n--- first run:\n{first}"
    );

    let o = run(&emu, &args);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming rollout"));
    done.store(true, Ordering::SeqCst);
    let (min, _) = sampler.await.unwrap();
    assert!(
        min >= 12,
        "serving capacity dropped to {min} across the kill and resume"
    );
    assert_converged(&*cloud, &image_id(&*cloud, "1.1.0").await).await;
    let o = run(
        &emu,
        &[
            "plan",
            stack.to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_is_refused_with_the_holders_name() {
    let emu = deployed_v1();
    let stack = fixture();
    let args = [
        "apply",
        stack.to_str().unwrap(),
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ];
    let (mut first, seen, log) = spawn_watched(&emu, &args, "1", "launching new instances");
    wait_for(&seen, 1).await;
    let o = run(&emu, &args);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(err.contains("force-unlock"), "{err}");
    assert!(first.wait().unwrap().success(), "{}", log.join().unwrap());
}
