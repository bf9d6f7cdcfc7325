//! Canary, blue/green, hooks and rollback on demand: the real binary against a private
//! emulator, with a background task watching the account while it works.
//!
//! The emulator has instances running and targets healthy at once, so these tests are about
//! order and duration: how big the new generation was and for how long, where the listener sent
//! traffic, what was left serving when a gate failed. Each test prints what it saw.

mod common {
    pub mod emulator;
}

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use common::emulator::Emulator;
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, Forward, GroupInfo, TargetState};

const REGION: &str = "us-east-1";
/// The alarm `localstack/seed.py` creates, in state OK.
const ALARM: &str = "demo-5xx";

// ---------------------------------------------------------------------------------------------
// Running the binary

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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
        .stdin(Stdio::null())
        .args(args);
    c
}

fn run(emu: &Emulator, args: &[&str]) -> Output {
    command(emu, args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

/// `[command, PATH, vars…, extra…]`
fn args<'a>(cmd: &'a str, path: &'a str, vars: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut out = vec![cmd, path];
    for v in vars {
        out.extend(["-var", v]);
    }
    out.extend(extra);
    out
}

/// A fresh emulator, seeded, with the fixture applied at its defaults (1.0.0) and `vars`.
fn deployed(name: &str, vars: &[&str]) -> Emulator {
    let emu = Emulator::start();
    emu.seed(REGION);
    let path = fixture(name);
    let o = run(
        &emu,
        &args("apply", path.to_str().unwrap(), vars, &["--auto-approve"]),
    );
    expect_exit(&o, 0, "deploying 1.0.0");
    emu
}

/// reroll running in the background; its stderr is collected line by line, so a test can act
/// when a given line appears.
struct Background {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Background {
    fn start(emu: &Emulator, args: &[&str]) -> Background {
        let mut child = command(emu, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Background { child, log, reader }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a line of the log contains `marker`.
    async fn wait_for_line(&mut self, marker: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(marker) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "reroll exited ({status}) before logging {marker:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} in the log within {limit:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) -> Output {
        let Background { child, log, reader } = self;
        let out = tokio::task::spawn_blocking(move || {
            let out = child.wait_with_output().unwrap();
            reader.join().unwrap();
            out
        })
        .await
        .unwrap();
        let all = log.lock().unwrap().clone();
        Output {
            stderr: all.into_bytes(),
            ..out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Looking at the account

async fn cloud(emu: &Emulator) -> Arc<dyn Cloud> {
    let opts = ConnectOptions {
        region: Some(REGION.into()),
        profile: None,
        endpoint_url: Some(emu.endpoint.clone()),
        max_attempts: 3,
    };
    Arc::new(AwsCloud::connect(&opts, Stats::new()).await.unwrap())
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = reroll::cloud::ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

async fn target_group_arn(cloud: &dyn Cloud, stack: &str, name: &str) -> String {
    cloud
        .list_target_groups(stack, stack)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.spec.name == name)
        .unwrap_or_else(|| panic!("no target group {name}"))
        .arn
}

async fn healthy_targets(cloud: &dyn Cloud, arn: &str) -> BTreeSet<String> {
    cloud
        .target_health(arn)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.state == TargetState::Healthy)
        .map(|t| t.id)
        .collect()
}

fn group<'a>(groups: &'a [GroupInfo], name: &str) -> Option<&'a GroupInfo> {
    groups.iter().find(|g| g.name == name)
}

/// `name (state, desired, launch template version)` of each generation, for messages.
fn generations(groups: &[GroupInfo]) -> String {
    groups
        .iter()
        .map(|g| {
            format!(
                "{} ({}, desired {}, template v{})",
                g.name,
                state(g),
                g.desired,
                g.launch_template_version.as_deref().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn state(g: &GroupInfo) -> &str {
    g.tags.get(tag::STATE).map_or("", String::as_str)
}

/// The running instances of the stack: `count` of them, all from `image`, each one a member of
/// `serving` (the only generation with capacity) and healthy in `target_group`. Returns their ids.
async fn assert_serving(
    cloud: &dyn Cloud,
    stack: &str,
    serving: &str,
    target_group: &str,
    count: usize,
    image: &str,
) -> BTreeSet<String> {
    let groups = cloud.list_groups(stack).await.unwrap();
    let active = group(&groups, serving).unwrap_or_else(|| panic!("{serving} is gone: {groups:?}"));
    assert_eq!(
        (active.desired as usize, active.instances.len()),
        (count, count),
        "{serving} should serve {count} instances"
    );
    for g in groups.iter().filter(|g| g.name != serving) {
        assert_eq!(
            (g.desired, g.instances.len()),
            (0, 0),
            "{} should have no capacity",
            g.name
        );
    }
    let running: Vec<_> = cloud
        .list_instances(stack)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.state.is_live())
        .collect();
    let ids: BTreeSet<String> = running.iter().map(|i| i.id.clone()).collect();
    let members: BTreeSet<String> = active.instances.iter().map(|i| i.id.clone()).collect();
    assert_eq!(
        ids, members,
        "running instances and the members of {serving} differ"
    );
    for i in &running {
        assert_eq!(
            i.image_id.as_deref(),
            Some(image),
            "{} of {serving} runs the wrong image; generations: {}",
            i.id,
            generations(&groups)
        );
    }
    // Every running instance of the stack is a member of `serving` (above), so any other
    // target is an instance that is gone: the emulator keeps instances an Auto Scaling group
    // scaled in registered (and "healthy"), where AWS deregisters them first.
    let tg = target_group_arn(cloud, stack, target_group).await;
    let healthy = healthy_targets(cloud, &tg).await;
    assert!(
        ids.is_subset(&healthy),
        "{target_group} should hold every serving instance, healthy\nhealthy: {healthy:?}\n\
         serving: {ids:?}\ngenerations: {}",
        generations(&groups)
    );
    ids
}

async fn set_alarm(emu: &Emulator, name: &str, value: StateValue) {
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&emu.endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(value)
        .state_reason("set by tests/strategies_emulator.rs")
        .send()
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Sampling in the background

/// Calls `look` until stopped, keeping what it returns with the time since `started`.
struct Sampler<T> {
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(Duration, T)>>,
}

impl<T: Send + 'static> Sampler<T> {
    fn start<F, Fut>(started: Instant, mut look: F) -> Sampler<T>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send,
    {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let task = tokio::spawn(async move {
            let mut out = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let sample = look().await;
                out.push((started.elapsed(), sample));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            out
        });
        Sampler { done, task }
    }

    async fn stop(self) -> Vec<(Duration, T)> {
        self.done.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// Consecutive samples with the same key, as (key, first seen, first seen of the next key).
fn runs<K: PartialEq + Clone>(samples: &[(Duration, K)]) -> Vec<(K, Duration, Duration)> {
    let mut out: Vec<(K, Duration, Duration)> = Vec::new();
    for (t, k) in samples {
        match out.last_mut() {
            Some(last) if last.0 == *k => last.2 = *t,
            _ => {
                if let Some(last) = out.last_mut() {
                    last.2 = *t;
                }
                out.push((k.clone(), *t, *t));
            }
        }
    }
    out
}

fn timeline<K: std::fmt::Display>(runs: &[(K, Duration, Duration)]) -> String {
    runs.iter()
        .map(|(k, from, to)| {
            format!(
                "  {:>6.2}s – {:>6.2}s  {k}",
                from.as_secs_f64(),
                to.as_secs_f64()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Both generations of a rolling or canary group, and the healthy targets of its target group.
#[derive(Debug, Clone, PartialEq)]
struct Fleet {
    /// (desired, instances) of the old generation.
    old: (u32, usize),
    /// max(desired, instances) of the new generation: what reroll asked for, or has.
    new: usize,
    healthy: BTreeSet<String>,
}

fn sample_fleet(
    cloud: Arc<dyn Cloud>,
    stack: &'static str,
    old: &'static str,
    new: &'static str,
    tg: String,
    started: Instant,
) -> Sampler<Fleet> {
    Sampler::start(started, move || {
        let (cloud, tg) = (cloud.clone(), tg.clone());
        async move {
            let groups = cloud.list_groups(stack).await.unwrap();
            let healthy = healthy_targets(&*cloud, &tg).await;
            Fleet {
                old: group(&groups, old).map_or((0, 0), |g| (g.desired, g.instances.len())),
                new: group(&groups, new).map_or(0, |g| (g.desired as usize).max(g.instances.len())),
                healthy,
            }
        }
    })
}

/// A blue/green group: the listener's forward action (by target group name), blue's capacity
/// and healthy targets.
#[derive(Debug, Clone, PartialEq)]
struct Traffic {
    forward: Vec<(String, u32)>,
    /// (desired, instances) of blue's and green's Auto Scaling groups.
    blue: (u32, usize),
    green: Option<(u32, usize)>,
    blue_healthy: usize,
}

const BG: &str = "bluegreen";
const BLUE: &str = "bluegreen-web-v001";
const GREEN: &str = "bluegreen-web-v002";
const BLUE_TG: &str = "bluegreen-web";
const GREEN_TG: &str = "bluegreen-web-web-v002";

/// "blue only", "green only", "blue 90 / green 10"
fn describe(forward: &[(String, u32)]) -> String {
    let label = |name: &str| match name {
        BLUE_TG => "blue".to_string(),
        GREEN_TG => "green".to_string(),
        other => other.to_string(),
    };
    match forward {
        [(only, _)] => format!("{} only", label(only)),
        _ => forward
            .iter()
            .map(|(n, w)| format!("{} {w}", label(n)))
            .collect::<Vec<_>>()
            .join(" / "),
    }
}

async fn listener_forward(cloud: &dyn Cloud, stack: &str) -> Vec<Forward> {
    let lb = cloud.list_load_balancers(stack, stack).await.unwrap();
    assert_eq!(lb.len(), 1, "{lb:?}");
    let listeners = cloud.list_listeners(&lb[0].arn).await.unwrap();
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    listeners[0].spec.forward.clone()
}

fn sample_traffic(cloud: Arc<dyn Cloud>, blue_tg: String, started: Instant) -> Sampler<Traffic> {
    let names: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    Sampler::start(started, move || {
        let (cloud, blue_tg, names) = (cloud.clone(), blue_tg.clone(), names.clone());
        async move {
            // Groups first: blue leaves the listener before it scales down, so a sample that
            // still sees blue in the listener saw blue's capacity from before that.
            let groups = cloud.list_groups(BG).await.unwrap();
            let blue_healthy = healthy_targets(&*cloud, &blue_tg).await.len();
            let forward = listener_forward(&*cloud, BG).await;
            let unknown = forward
                .iter()
                .any(|f| !names.lock().unwrap().contains_key(&f.target_group_arn));
            if unknown {
                let all = cloud.list_target_groups(BG, BG).await.unwrap();
                let mut names = names.lock().unwrap();
                for t in all {
                    names.insert(t.arn, t.spec.name);
                }
            }
            let names = names.lock().unwrap();
            Traffic {
                forward: forward
                    .iter()
                    .map(|f| {
                        let name = names
                            .get(&f.target_group_arn)
                            .cloned()
                            .unwrap_or_else(|| f.target_group_arn.clone());
                        (name, f.weight)
                    })
                    .collect(),
                blue: group(&groups, BLUE).map_or((0, 0), |g| (g.desired, g.instances.len())),
                green: group(&groups, GREEN).map(|g| (g.desired, g.instances.len())),
                blue_healthy,
            }
        }
    })
}

/// The distinct forward actions in the order they were seen, without the weight-0 join of
/// green (it may last a moment only).
fn traffic_sequence(samples: &[(Duration, Traffic)]) -> (Vec<String>, String) {
    let described: Vec<(Duration, String)> = samples
        .iter()
        .map(|(t, s)| (*t, describe(&s.forward)))
        .collect();
    let runs = runs(&described);
    let seq = runs
        .iter()
        .map(|r| r.0.clone())
        .filter(|d| d != "blue 100 / green 0")
        .collect();
    (seq, timeline(&runs))
}

// ---------------------------------------------------------------------------------------------
// Canary

const CANARY: &str = "canary";
const CANARY_OLD: &str = "canary-web-v001";
const CANARY_NEW: &str = "canary-web-v002";
const CANARY_TG: &str = "canary-web";

/// Six instances, a canary of one baked for 3 s, a checkpoint at three baked for 3 s, then the
/// rest: the new generation holds at each size for the bake, and serving capacity never dips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_bakes_and_proceeds() {
    let bake = Duration::from_secs(3);
    let emu = deployed("canary", &[]);
    let cloud = cloud(&emu).await;
    let tg = target_group_arn(&*cloud, CANARY, CANARY_TG).await;
    let path = fixture("canary");
    let started = Instant::now();
    let sampler = sample_fleet(cloud.clone(), CANARY, CANARY_OLD, CANARY_NEW, tg, started);
    let o = Background::start(
        &emu,
        &args(
            "apply",
            path.to_str().unwrap(),
            &["app_version=1.1.0", "bake=3s"],
            &["--auto-approve"],
        ),
    )
    .finish()
    .await;
    let samples = sampler.stop().await;
    expect_exit(&o, 0, "the canary rollout");
    let err = stderr(&o);

    let sizes: Vec<(Duration, usize)> = samples.iter().map(|(t, s)| (*t, s.new)).collect();
    let size_runs = runs(&sizes);
    eprintln!(
        "canary rollout took {:?}, {} samples; size of the new generation:\n{}",
        started.elapsed(),
        samples.len(),
        timeline(&size_runs)
    );
    assert!(samples.len() > 20, "too few samples ({})", samples.len());
    let min = samples.iter().map(|(_, s)| s.healthy.len()).min().unwrap();
    assert!(
        min >= 6,
        "serving capacity dropped to {min} healthy targets"
    );

    let grown: Vec<usize> = size_runs.iter().map(|r| r.0).filter(|&n| n > 0).collect();
    assert!(
        grown.windows(2).all(|w| w[0] < w[1]),
        "the new generation should only grow: {grown:?}"
    );
    assert_eq!(
        grown.first(),
        Some(&1),
        "the first step is the canary alone"
    );
    assert_eq!(grown.last(), Some(&6), "the rollout ends with all six new");
    for checkpoint in [1, 3] {
        let held = size_runs
            .iter()
            .find(|r| r.0 == checkpoint)
            .map(|r| r.2 - r.1)
            .unwrap_or_else(|| panic!("the new generation never held at {checkpoint}"));
        assert!(
            held >= bake,
            "the new generation held at {checkpoint} for {held:?}, less than the {bake:?} bake"
        );
    }

    let new_ami = image_id(&*cloud, "1.1.0").await;
    assert_serving(&*cloud, CANARY, CANARY_NEW, CANARY_TG, 6, &new_ami).await;
    let groups = cloud.list_groups(CANARY).await.unwrap();
    let old = group(&groups, CANARY_OLD).expect("the old generation is kept for rollback");
    assert_eq!(state(old), "retired");
    let new = group(&groups, CANARY_NEW).unwrap();
    assert_eq!(state(new), "active");
    assert_eq!(
        new.tags.get(tag::BAKED).map(String::as_str),
        Some("3"),
        "the last checkpoint baked is recorded on the new generation"
    );
    // The after_wave hook ran with the canary in its environment.
    assert!(err.contains("wave 1 healthy: i-"), "{err}");
}

/// The alarm fires while the canary bakes: the rollout stops at once, the old generation
/// serves at full size, the canary is gone and the definition is remembered as failed. (First,
/// a gate on an alarm that does not exist is refused before anything changes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_alarm_fires_during_the_bake_is_rolled_back() {
    let bake = Duration::from_secs(20);
    let emu = deployed("canary", &[]);
    let cloud = cloud(&emu).await;
    let old_ami = image_id(&*cloud, "1.0.0").await;
    let old_ids = assert_serving(&*cloud, CANARY, CANARY_OLD, CANARY_TG, 6, &old_ami).await;
    let tg = target_group_arn(&*cloud, CANARY, CANARY_TG).await;
    let path = fixture("canary");
    let vars = ["app_version=1.1.0", "bake=20s"];

    // A gate on an alarm that does not exist would pass whatever happens: refused up front.
    let before = snapshot(&*cloud, CANARY).await;
    let o = run(
        &emu,
        &args(
            "apply",
            path.to_str().unwrap(),
            &["app_version=1.1.0", "alarm=no-such-alarm"],
            &["--auto-approve"],
        ),
    );
    expect_exit(&o, 1, "a rollout gated on a missing alarm");
    let err = stderr(&o);
    assert!(
        err.contains("no-such-alarm") && err.contains("Nothing was changed"),
        "{err}"
    );
    assert_eq!(
        snapshot(&*cloud, CANARY).await,
        before,
        "the refusal changed the account"
    );

    let mut apply = Background::start(
        &emu,
        &args("apply", path.to_str().unwrap(), &vars, &["--auto-approve"]),
    );
    apply
        .wait_for_line("watching the canary", Duration::from_secs(60))
        .await;
    // The canary exists and serves.
    let groups = cloud.list_groups(CANARY).await.unwrap();
    let canary = group(&groups, CANARY_NEW).expect("the canary's generation exists");
    assert_eq!(canary.instances.len(), 1, "{canary:?}");
    assert!(
        healthy_targets(&*cloud, &tg)
            .await
            .contains(&canary.instances[0].id),
        "the canary should be healthy before the alarm fires"
    );
    set_alarm(&emu, ALARM, StateValue::Alarm).await;
    let fired = Instant::now();
    let o = apply.finish().await;
    let reaction = fired.elapsed();
    expect_exit(&o, 3, "a rollout whose alarm fired");
    let err = stderr(&o);
    eprintln!("stopped and rolled back {reaction:?} after the alarm fired");
    assert!(
        err.contains(ALARM),
        "the failure should name the alarm:\n{err}"
    );
    assert!(
        reaction < bake,
        "the rollout took {reaction:?} to react: the alarm was not checked during the bake"
    );

    let now = assert_serving(&*cloud, CANARY, CANARY_OLD, CANARY_TG, 6, &old_ami).await;
    assert_eq!(
        now.intersection(&old_ids).count(),
        5,
        "five old instances never left; one was drained for the canary and replaced"
    );
    let groups = cloud.list_groups(CANARY).await.unwrap();
    assert!(
        group(&groups, CANARY_NEW).is_none(),
        "the canary's generation should be gone: {groups:?}"
    );
    assert_eq!(state(group(&groups, CANARY_OLD).unwrap()), "active");

    // Even with the alarm quiet again, the failed definition is not simply tried again.
    set_alarm(&emu, ALARM, StateValue::Ok).await;
    let plan = args("plan", path.to_str().unwrap(), &vars, &[]);
    let o = run(&emu, &plan);
    expect_exit(&o, 1, "planning the failed definition again");
    let err = stderr(&o);
    assert!(
        err.contains("failed its rollout at") && err.contains("--force"),
        "{err}"
    );
    let o = run(
        &emu,
        &args(
            "plan",
            path.to_str().unwrap(),
            &vars,
            &["--force", "--detailed-exitcode"],
        ),
    );
    expect_exit(&o, 2, "planning it with --force");
}

/// An after_wave hook that fails stops the rollout before any old instance is drained for the
/// wave it checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_stops_the_rollout_before_anything_is_drained() {
    let emu = deployed("canary", &[]);
    let cloud = cloud(&emu).await;
    let old_ami = image_id(&*cloud, "1.0.0").await;
    let old_ids = assert_serving(&*cloud, CANARY, CANARY_OLD, CANARY_TG, 6, &old_ami).await;
    let tg = target_group_arn(&*cloud, CANARY, CANARY_TG).await;
    let path = fixture("canary");
    let hook = "after_wave=echo smoke test failed on $REROLL_NEW_INSTANCE_IDS >&2; exit 1";
    let started = Instant::now();
    let sampler = sample_fleet(cloud.clone(), CANARY, CANARY_OLD, CANARY_NEW, tg, started);
    let o = run(
        &emu,
        &args(
            "apply",
            path.to_str().unwrap(),
            &["app_version=1.1.0", hook],
            &["--auto-approve"],
        ),
    );
    let samples = sampler.stop().await;
    expect_exit(&o, 3, "a rollout whose hook failed");
    let err = stderr(&o);
    assert!(
        err.contains("after_wave hook") && err.contains("exit status: 1"),
        "the failure should name the hook and its exit:\n{err}"
    );
    assert!(
        err.contains("smoke test failed on i-"),
        "the hook's output is in the log:\n{err}"
    );

    let sizes: Vec<(Duration, usize)> = samples.iter().map(|(t, s)| (*t, s.new)).collect();
    eprintln!("size of the new generation:\n{}", timeline(&runs(&sizes)));
    let most = samples.iter().map(|(_, s)| s.new).max().unwrap_or(0);
    assert!(most <= 1, "the rollout went past the canary: {most} new");
    for (t, s) in &samples {
        assert!(
            old_ids.is_subset(&s.healthy),
            "at {t:?} an old instance was out of service: {s:?}"
        );
        assert_eq!(s.old, (6, 6), "at {t:?} the old generation shrank");
    }
    let now = assert_serving(&*cloud, CANARY, CANARY_OLD, CANARY_TG, 6, &old_ami).await;
    assert_eq!(now, old_ids, "the same six old instances serve");
    let groups = cloud.list_groups(CANARY).await.unwrap();
    assert!(group(&groups, CANARY_NEW).is_none(), "{groups:?}");
}

// ---------------------------------------------------------------------------------------------
// Blue/green

/// Green comes up beside blue, traffic moves 10% → 50% → 100% with a bake after each step, blue
/// stays at capacity through the rollback window and is then retired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_moves_traffic_in_weighted_steps() {
    let keep_blue = Duration::from_secs(2);
    let emu = deployed("bluegreen", &[]);
    let cloud = cloud(&emu).await;
    let blue_tg = target_group_arn(&*cloud, BG, BLUE_TG).await;
    let path = fixture("bluegreen");
    let vars = ["app_version=1.1.0", "step_bake=2s", "keep_blue=2s"];
    let started = Instant::now();
    let sampler = sample_traffic(cloud.clone(), blue_tg.clone(), started);
    let o = Background::start(
        &emu,
        &args("apply", path.to_str().unwrap(), &vars, &["--auto-approve"]),
    )
    .finish()
    .await;
    let samples = sampler.stop().await;
    expect_exit(&o, 0, "the blue/green rollout");
    let err = stderr(&o);
    let (seq, timeline) = traffic_sequence(&samples);
    eprintln!(
        "blue/green rollout took {:?}, {} samples; listener:\n{timeline}",
        started.elapsed(),
        samples.len()
    );
    assert_eq!(
        seq,
        [
            "blue only",
            "blue 90 / green 10",
            "blue 50 / green 50",
            "green only"
        ],
        "the listener's forward action, step by step"
    );

    // Blue keeps its full capacity while it has any traffic, and through the window after.
    for (t, s) in &samples {
        let blue_weight = s
            .forward
            .iter()
            .find(|(n, _)| n == BLUE_TG)
            .map_or(0, |f| f.1);
        if blue_weight > 0 {
            assert_eq!(
                (s.blue, s.blue_healthy),
                ((4, 4), 4),
                "at {t:?} blue had traffic but not its capacity: {s:?}"
            );
        }
        let green_weight = s
            .forward
            .iter()
            .find(|(n, _)| n == GREEN_TG)
            .map_or(0, |f| f.1);
        if green_weight > 0 {
            assert_eq!(
                s.green,
                Some((4, 4)),
                "at {t:?} green had traffic before it was at full size: {s:?}"
            );
        }
    }
    let green_only = samples
        .iter()
        .find(|(_, s)| describe(&s.forward) == "green only")
        .map(|s| s.0)
        .unwrap();
    let blue_shrinks = samples
        .iter()
        .find(|(_, s)| s.blue.0 < 4)
        .map(|s| s.0)
        .expect("blue scales to zero at the end");
    assert!(
        blue_shrinks - green_only >= keep_blue - Duration::from_millis(500),
        "blue was kept {:?} after traffic left it, less than keep_blue {keep_blue:?}",
        blue_shrinks - green_only
    );

    // Green serves alone, from its own copy of the target group.
    let new_ami = image_id(&*cloud, "1.1.0").await;
    assert_serving(&*cloud, BG, GREEN, GREEN_TG, 4, &new_ami).await;
    let forward = listener_forward(&*cloud, BG).await;
    let green_tg = target_group_arn(&*cloud, BG, GREEN_TG).await;
    assert_eq!(forward.len(), 1, "{forward:?}");
    assert_eq!(forward[0].target_group_arn, green_tg);
    let copy = cloud
        .list_target_groups(BG, BG)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.arn == green_tg)
        .unwrap();
    for (k, v) in [
        (tag::COPY_OF, "target_group.web"),
        (tag::GROUP, "web"),
        (tag::GENERATION, "2"),
    ] {
        assert_eq!(
            copy.tags.get(k).map(String::as_str),
            Some(v),
            "tag {k} of green's target group: {:?}",
            copy.tags
        );
    }
    let groups = cloud.list_groups(BG).await.unwrap();
    assert_eq!(state(group(&groups, BLUE).unwrap()), "retired");
    assert_eq!(state(group(&groups, GREEN).unwrap()), "active");
    // The stack-level hook saw each step.
    for p in [10, 50, 100] {
        let line = format!("moving {p}% of server_group.web to {GREEN}");
        assert!(err.contains(&line), "no {line:?} in:\n{err}");
    }

    let o = run(
        &emu,
        &args(
            "plan",
            path.to_str().unwrap(),
            &vars,
            &["--detailed-exitcode"],
        ),
    );
    expect_exit(&o, 0, "planning the applied stack again");
}

/// A before_traffic_shift hook refuses the 50% step: traffic goes back to blue, which never
/// lost capacity, and green with its target group is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_failing_after_the_first_step_moves_traffic_back() {
    let emu = deployed("bluegreen", &[]);
    let cloud = cloud(&emu).await;
    let old_ami = image_id(&*cloud, "1.0.0").await;
    let blue_ids = assert_serving(&*cloud, BG, BLUE, BLUE_TG, 4, &old_ami).await;
    let blue_tg = target_group_arn(&*cloud, BG, BLUE_TG).await;
    let path = fixture("bluegreen");
    let hook = "before_traffic_shift=echo asked for $REROLL_TRAFFIC_PERCENT%; \
                test $REROLL_TRAFFIC_PERCENT -lt 50";
    let started = Instant::now();
    let sampler = sample_traffic(cloud.clone(), blue_tg.clone(), started);
    let o = run(
        &emu,
        &args(
            "apply",
            path.to_str().unwrap(),
            &["app_version=1.1.0", "step_bake=1s", hook],
            &["--auto-approve"],
        ),
    );
    let samples = sampler.stop().await;
    expect_exit(&o, 3, "a blue/green rollout whose hook refused 50%");
    let err = stderr(&o);
    assert!(
        err.contains("before_traffic_shift hook"),
        "the failure should name the hook:\n{err}"
    );
    let (seq, timeline) = traffic_sequence(&samples);
    eprintln!(
        "failed blue/green took {:?}, {} samples; listener:\n{timeline}",
        started.elapsed(),
        samples.len()
    );
    assert_eq!(
        seq,
        ["blue only", "blue 90 / green 10", "blue only"],
        "traffic reached 10% on green, never 50%, and went back"
    );
    for (t, s) in &samples {
        assert_eq!(
            (s.blue, s.blue_healthy),
            ((4, 4), 4),
            "at {t:?} blue was not at full capacity: {s:?}"
        );
    }

    let forward = listener_forward(&*cloud, BG).await;
    assert_eq!(
        forward
            .iter()
            .map(|f| &f.target_group_arn)
            .collect::<Vec<_>>(),
        [&blue_tg],
        "the listener forwards to blue's target group only"
    );
    let now = assert_serving(&*cloud, BG, BLUE, BLUE_TG, 4, &old_ami).await;
    assert_eq!(now, blue_ids, "blue's own instances serve");
    let groups = cloud.list_groups(BG).await.unwrap();
    assert!(group(&groups, GREEN).is_none(), "green is gone: {groups:?}");
    let copies: Vec<String> = cloud
        .list_target_groups(BG, BG)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.tags.contains_key(tag::COPY_OF))
        .map(|t| t.spec.name)
        .collect();
    assert!(
        copies.is_empty(),
        "green's target group is left: {copies:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rollback on demand

const ROLL: &str = "roll";
const ROLL_TG: &str = "roll-web";

/// The group's single serving generation: the one with capacity.
async fn serving_generation(cloud: &dyn Cloud, stack: &str) -> GroupInfo {
    let groups = cloud.list_groups(stack).await.unwrap();
    let serving: Vec<&GroupInfo> = groups.iter().filter(|g| g.desired > 0).collect();
    assert_eq!(
        serving.len(),
        1,
        "one generation should have capacity: {groups:?}"
    );
    serving[0].clone()
}

/// What a refused command must leave alone: each group's capacity and instances.
async fn snapshot(cloud: &dyn Cloud, stack: &str) -> Vec<(String, u32, BTreeSet<String>)> {
    let mut groups: Vec<_> = cloud
        .list_groups(stack)
        .await
        .unwrap()
        .into_iter()
        .map(|g| {
            let ids = g.instances.iter().map(|i| i.id.clone()).collect();
            (g.name, g.desired, ids)
        })
        .collect();
    groups.sort();
    groups
}

/// Applies `rolling12` at 1.1.0 (`v2` holds the variables), which must succeed.
fn roll_forward(emu: &Emulator, v2: &[&str]) {
    let path = fixture("rolling12");
    let o = run(
        emu,
        &args("apply", path.to_str().unwrap(), v2, &["--auto-approve"]),
    );
    expect_exit(&o, 0, "rolling to 1.1.0");
}

/// A completed rolling rollout is taken back with `reroll rollback`: the previous image serves
/// again at full capacity, and the stack file at the new version now differs from the account.
/// Without a terminal, rollback needs --auto-approve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_demand_brings_the_previous_generation_back() {
    let v2 = ["instances=4", "app_version=1.1.0"];
    let emu = deployed("rolling12", &["instances=4"]);
    let cloud = cloud(&emu).await;
    let (old_ami, new_ami) = (
        image_id(&*cloud, "1.0.0").await,
        image_id(&*cloud, "1.1.0").await,
    );
    let path = fixture("rolling12");
    let path = path.to_str().unwrap();
    roll_forward(&emu, &v2);
    let serving = serving_generation(&*cloud, ROLL).await;
    assert_serving(&*cloud, ROLL, &serving.name, ROLL_TG, 4, &new_ami).await;

    // Without a terminal and without --auto-approve: refused, nothing changes.
    let before = snapshot(&*cloud, ROLL).await;
    let o = run(&emu, &args("rollback", path, &v2, &[]));
    expect_exit(&o, 1, "rollback without a terminal or --auto-approve");
    let err = stderr(&o);
    assert!(err.contains("--auto-approve"), "{err}");
    assert_eq!(
        snapshot(&*cloud, ROLL).await,
        before,
        "a refused rollback changed the account"
    );

    // With the same variables as the rollout.
    let started = Instant::now();
    let o = run(&emu, &args("rollback", path, &v2, &["--auto-approve"]));
    expect_exit(&o, 0, "rollback with the rollout's variables");
    eprintln!("rollback took {:?}", started.elapsed());
    let serving = serving_generation(&*cloud, ROLL).await;
    assert_serving(&*cloud, ROLL, &serving.name, ROLL_TG, 4, &old_ami).await;

    // The stack file still says 1.1.0: plan shows the way forward again (not a refusal: a
    // rollback on demand is not a failed rollout).
    let o = run(&emu, &args("plan", path, &v2, &["--detailed-exitcode"]));
    expect_exit(&o, 2, "planning 1.1.0 after the rollback");
    // And the stack file at 1.0.0 matches the account again.
    let o = run(
        &emu,
        &args("plan", path, &["instances=4"], &["--detailed-exitcode"]),
    );
    expect_exit(&o, 0, "planning 1.0.0 after rolling back to it");
}

/// Rollback needs no value for the stack's version variable, and still goes back to the image
/// that served before after a second rollout forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_without_the_version_variable_and_again_after_rolling_forward() {
    let size = ["instances=4"];
    let v2 = ["instances=4", "app_version=1.1.0"];
    let emu = deployed("rolling12", &size);
    let cloud = cloud(&emu).await;
    let (old_ami, new_ami) = (
        image_id(&*cloud, "1.0.0").await,
        image_id(&*cloud, "1.1.0").await,
    );
    let path = fixture("rolling12");
    let path = path.to_str().unwrap();
    roll_forward(&emu, &v2);

    let o = run(&emu, &args("rollback", path, &size, &["--auto-approve"]));
    expect_exit(&o, 0, "rollback without app_version");
    let serving = serving_generation(&*cloud, ROLL).await;
    assert_serving(&*cloud, ROLL, &serving.name, ROLL_TG, 4, &old_ami).await;

    // Forward again, then back: the image before this rollout is 1.0.0.
    roll_forward(&emu, &v2);
    let serving = serving_generation(&*cloud, ROLL).await;
    assert_serving(&*cloud, ROLL, &serving.name, ROLL_TG, 4, &new_ami).await;
    let before = generations(&cloud.list_groups(ROLL).await.unwrap());
    let o = run(&emu, &args("rollback", path, &size, &["--auto-approve"]));
    expect_exit(&o, 0, "the second rollback");
    eprintln!("generations before the second rollback: {before}");
    let serving = serving_generation(&*cloud, ROLL).await;
    assert_serving(&*cloud, ROLL, &serving.name, ROLL_TG, 4, &old_ami).await;
}

/// The usual reason to roll back: the new version's alarm fires after its rollout. The way
/// back must not be gated on that alarm (nor on hooks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_demand_works_while_the_alarm_fires() {
    let emu = deployed("canary", &[]);
    let cloud = cloud(&emu).await;
    let old_ami = image_id(&*cloud, "1.0.0").await;
    let path = fixture("canary");
    let path = path.to_str().unwrap();
    let v2 = ["app_version=1.1.0", "bake=1s"];
    let o = run(&emu, &args("apply", path, &v2, &["--auto-approve"]));
    expect_exit(&o, 0, "the canary rollout to 1.1.0");

    set_alarm(&emu, ALARM, StateValue::Alarm).await;
    let o = run(&emu, &args("rollback", path, &v2, &["--auto-approve"]));
    let after = generations(&cloud.list_groups(CANARY).await.unwrap());
    expect_exit(
        &o,
        0,
        &format!("rollback while the alarm fires (generations after: {after})"),
    );
    let serving = serving_generation(&*cloud, CANARY).await;
    assert_serving(&*cloud, CANARY, &serving.name, CANARY_TG, 6, &old_ami).await;
}

/// Blue/green goes back by one listener switch: the retained blue serves again, from one
/// target group, and the stack file at the old version matches the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_rollback_on_demand_switches_the_listener_back() {
    let emu = deployed("bluegreen", &[]);
    let cloud = cloud(&emu).await;
    let old_ami = image_id(&*cloud, "1.0.0").await;
    let path = fixture("bluegreen");
    let path = path.to_str().unwrap();
    let v2 = ["app_version=1.1.0", "step_bake=1s", "keep_blue=1s"];
    let o = run(&emu, &args("apply", path, &v2, &["--auto-approve"]));
    expect_exit(&o, 0, "the blue/green rollout to 1.1.0");

    // v001 is "blue" again here: its target group is the stack's own, v002's is the copy.
    let blue_tg = target_group_arn(&*cloud, BG, BLUE_TG).await;
    let started = Instant::now();
    let sampler = sample_traffic(cloud.clone(), blue_tg, started);
    let o = run(&emu, &args("rollback", path, &v2, &["--auto-approve"]));
    let samples = sampler.stop().await;
    let after = generations(&cloud.list_groups(BG).await.unwrap());
    expect_exit(
        &o,
        0,
        &format!("blue/green rollback (generations after: {after})"),
    );
    let (_, timeline) = traffic_sequence(&samples);
    eprintln!(
        "blue/green rollback took {:?}, {} samples; listener (blue = v001):\n{timeline}",
        started.elapsed(),
        samples.len()
    );
    let described: Vec<String> = samples.iter().map(|(_, s)| describe(&s.forward)).collect();
    assert_eq!(described.first().map(String::as_str), Some("green only"));
    assert_eq!(described.last().map(String::as_str), Some("blue only"));
    for (t, s) in &samples {
        let to_v001 = s.forward.iter().any(|(n, w)| n == BLUE_TG && *w > 0);
        if to_v001 {
            assert_eq!(
                s.blue,
                (4, 4),
                "at {t:?} v001 had traffic before it was back at full size: {s:?}"
            );
        }
    }
    let serving = serving_generation(&*cloud, BG).await;
    let forward = listener_forward(&*cloud, BG).await;
    assert_eq!(
        forward.len(),
        1,
        "one target group takes the traffic: {forward:?}"
    );
    let tg = cloud
        .list_target_groups(BG, BG)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.arn == forward[0].target_group_arn)
        .expect("the listener's target group is the stack's");
    eprintln!(
        "after the rollback the listener forwards to {}",
        tg.spec.name
    );
    assert_serving(&*cloud, BG, &serving.name, &tg.spec.name, 4, &old_ami).await;

    let o = run(&emu, &args("plan", path, &[], &["--detailed-exitcode"]));
    expect_exit(&o, 0, "planning 1.0.0 after rolling back to it");
}
