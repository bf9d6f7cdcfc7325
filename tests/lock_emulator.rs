//! The apply lock, with the real binary against a private emulator: ten applies racing for one
//! shared (S3) lock, a holder killed with kill -9 whose lease goes stale until `force-unlock`
//! names it, and the local lock, which `force-unlock` leaves to a live holder and which two
//! spellings of one endpoint share.
//!
//! Holders are held by the fixture's `before_rollout` hook, which waits for a file the test
//! creates when it is done with them, so nothing here depends on how fast the machine is.

mod common {
    pub mod emulator;
}

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::emulator::Emulator;
use reroll::cloud::aws::{AwsCloud, ConnectOptions};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, ObjectRef};
use reroll::lock::LockRecord;

const BUCKET: &str = "reroll-locks";
/// How long a test waits for something that should happen in moments; only a hung process
/// gets near it.
const PATIENCE: Duration = Duration::from_secs(180);

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lock")
}

fn fixture_arg() -> String {
    fixture().to_str().unwrap().to_string()
}

/// Releases held applies when dropped (also when the test fails).
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn new() -> Release {
        Release {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("go")
    }

    /// True once a held apply waits in its hook.
    fn held(&self) -> bool {
        self.dir.path().join("go.held").exists()
    }

    fn go(&self) {
        File::create(self.file()).unwrap();
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = File::create(self.file());
        // Give hooks orphaned by a kill -9 a moment to see the file before it goes.
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn command<S: AsRef<std::ffi::OsStr>>(endpoint: &str, release: &Release, args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reroll"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REROLL_POLL_SECONDS", "0.2")
        .env("NO_COLOR", "1")
        .env("LOCK_TEST_RELEASE", release.file())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run<S: AsRef<std::ffi::OsStr>>(endpoint: &str, release: &Release, args: &[S]) -> Output {
    command(endpoint, release, args).output().unwrap()
}

/// Starts reroll with its output going to files in `dir`, read with [`output_of`].
fn spawn<S: AsRef<std::ffi::OsStr>>(
    endpoint: &str,
    release: &Release,
    args: &[S],
    dir: &Path,
    name: &str,
) -> Child {
    let out = File::create(dir.join(format!("{name}.out"))).unwrap();
    let err = File::create(dir.join(format!("{name}.err"))).unwrap();
    command(endpoint, release, args)
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

fn output_of(dir: &Path, name: &str) -> String {
    let read = |ext| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
    format!("stdout:\n{}\nstderr:\n{}", read("out"), read("err"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
}

/// Waits until `done` holds, failing after [`PATIENCE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An emulator with the demo network and images, and the lock bucket.
fn started() -> Emulator {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    emu.create_bucket(BUCKET);
    emu
}

async fn cloud(endpoint: &str) -> AwsCloud {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(endpoint.into()),
        max_attempts: 3,
    };
    AwsCloud::connect(&opts, Stats::new()).await.unwrap()
}

/// The record in the stack's lock object under `prefix`, if there is one.
async fn lock_record(cloud: &AwsCloud, prefix: &str) -> Option<LockRecord> {
    let at = ObjectRef {
        bucket: BUCKET.into(),
        key: format!("{prefix}/123456789012/us-east-1/locked.lock"),
        region: None,
    };
    let object = cloud.get_object(&at).await.unwrap()?;
    Some(LockRecord::from_json(&object.body).expect("a lock record"))
}

/// The pid a refusal names: `(pid N,`.
fn pid_named(text: &str) -> Option<u32> {
    let rest = &text[text.find("(pid ")? + 5..];
    rest[..rest.find(',')?].parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_racing_applies_one_runs_and_nine_are_refused_naming_it() {
    let emu = started();
    let release = Release::new();
    let lock = format!("lock=s3://{BUCKET}/ci");
    let stack = fixture_arg();
    expect_code(
        &run(
            &emu.endpoint,
            &release,
            &["apply", &stack, "-var", &lock, "--auto-approve"],
        ),
        0,
    );
    let cloud = cloud(&emu.endpoint).await;
    assert_eq!(
        lock_record(&cloud, "ci").await,
        None,
        "released after the first apply"
    );

    let logs = tempfile::tempdir().unwrap();
    let args = [
        "apply",
        &stack,
        "-var",
        &lock,
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ];
    let mut racers: Vec<(String, Child)> = (0..10)
        .map(|i| {
            let name = format!("racer{i}");
            let child = spawn(&emu.endpoint, &release, &args, logs.path(), &name);
            (name, child)
        })
        .collect();
    // Nine finish on their own; the tenth waits in its hook, holding the lock.
    let mut refused = Vec::new();
    wait_until("nine applies to be refused", || {
        for (name, child) in racers.iter_mut() {
            if let Some(status) = child.try_wait().unwrap() {
                if !refused.iter().any(|(n, _)| n == name) {
                    refused.push((name.clone(), status.code()));
                }
            }
        }
        refused.len() >= 9
    });
    assert_eq!(refused.len(), 9, "all ten finished: {refused:?}");
    let (winner_name, winner) = racers
        .iter_mut()
        .find(|(name, _)| !refused.iter().any(|(n, _)| n == name))
        .unwrap();
    let winner_pid = winner.id();
    let record = lock_record(&cloud, "ci").await.expect("the winner's lock");
    assert_eq!(record.pid, winner_pid);
    assert_eq!(record.command, "reroll apply");
    assert_eq!(record.lease, Some(Duration::from_secs(60)));
    for (name, code) in &refused {
        let out = output_of(logs.path(), name);
        assert_eq!(*code, Some(1), "{name}: {out}");
        assert!(
            out.contains("stack \"locked\" in us-east-1 of account 123456789012 is locked by"),
            "{name}: {out}"
        );
        assert_eq!(pid_named(&out), Some(winner_pid), "{name}: {out}");
        assert!(out.contains(&record.holder), "{name}: {out}");
        assert!(
            out.contains(&format!("lock id {}", record.id)),
            "{name}: {out}"
        );
        assert!(out.contains("so the holder is running"), "{name}: {out}");
        assert!(
            out.contains(&format!("reroll force-unlock {stack} {}", record.id)),
            "{name}: {out}"
        );
        assert!(!out.contains("Plan:"), "{name} planned: {out}");
    }
    release.go();
    let status = winner.wait().unwrap();
    let winner_out = output_of(logs.path(), winner_name);
    assert!(status.success(), "{winner_out}");
    assert!(winner_out.contains("v001 → v002"), "{winner_out}");
    assert_eq!(lock_record(&cloud, "ci").await, None, "released at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_lease_goes_stale_and_force_unlock_needs_its_id() {
    let emu = started();
    let release = Release::new();
    let lock = format!("s3://{BUCKET}/stale?lease=2s");
    let stack = fixture_arg();
    let with_lock = |args: &[&str]| -> Vec<String> {
        ["--lock", lock.as_str()]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect()
    };
    expect_code(
        &run(
            &emu.endpoint,
            &release,
            &with_lock(&["apply", &stack, "--auto-approve"]),
        ),
        0,
    );
    let v2 = with_lock(&[
        "apply",
        &stack,
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ]);
    let logs = tempfile::tempdir().unwrap();
    let mut holder = spawn(&emu.endpoint, &release, &v2, logs.path(), "holder");
    wait_until("the holder to wait in its hook", || release.held());
    let cloud = cloud(&emu.endpoint).await;
    let record = lock_record(&cloud, "stale")
        .await
        .expect("the holder's lock");
    assert_eq!(record.pid, holder.id());
    assert_eq!(record.lease, Some(Duration::from_secs(2)));
    holder.kill().unwrap(); // SIGKILL: no release, no more renewals.
    holder.wait().unwrap();

    // Refused while the lease looks alive, then as stale once it is older than 2 s; never
    // taken over.
    let mut refusal = String::new();
    wait_until("the lease to go stale", || {
        let o = run(&emu.endpoint, &release, &v2);
        expect_code(&o, 1);
        refusal = stderr(&o);
        assert!(refusal.contains("is locked by"), "{refusal}");
        refusal.contains("Its lease is stale")
    });
    assert_eq!(pid_named(&refusal), Some(record.pid), "{refusal}");
    assert!(
        refusal.contains(&format!("lock id {}", record.id)),
        "{refusal}"
    );
    assert!(refusal.contains("longer than its 2s lease"), "{refusal}");
    assert!(
        refusal.contains("reroll does not take over a stale lock by itself"),
        "{refusal}"
    );
    assert!(
        refusal.contains(&format!("\n  reroll force-unlock {stack} {}\n", record.id)),
        "{refusal}"
    );
    assert_eq!(
        lock_record(&cloud, "stale").await.map(|r| r.id),
        Some(record.id.clone())
    );

    // force-unlock: the id is required, a wrong one is refused naming the real one.
    let o = run(
        &emu.endpoint,
        &release,
        &with_lock(&["force-unlock", &stack]),
    );
    expect_code(&o, 1);
    assert!(stderr(&o).contains("needs its id"), "{}", stderr(&o));
    assert!(stderr(&o).contains(&record.id), "{}", stderr(&o));
    let wrong = "6f9a3c1e-0000-4000-8000-000000000000";
    let o = run(
        &emu.endpoint,
        &release,
        &with_lock(&["force-unlock", &stack, wrong]),
    );
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains(&format!(
            "lock id {wrong} is not the lock of stack \"locked\""
        )),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&format!("that is {}", record.id)),
        "{}",
        stderr(&o)
    );
    assert!(lock_record(&cloud, "stale").await.is_some());
    let o = run(
        &emu.endpoint,
        &release,
        &with_lock(&["force-unlock", &stack, &record.id]),
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("Removed the lock of stack \"locked\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(lock_record(&cloud, "stale").await, None);
    let o = run(
        &emu.endpoint,
        &release,
        &with_lock(&["force-unlock", &stack, &record.id]),
    );
    expect_code(&o, 0);
    assert!(stderr(&o).contains("There is no lock"), "{}", stderr(&o));

    // The stack is the next apply's again: it continues the rollout the holder began.
    release.go();
    let o = run(&emu.endpoint, &release, &v2);
    expect_code(&o, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_lock_is_one_for_every_spelling_and_force_unlock_leaves_a_live_holder() {
    let emu = started();
    let release = Release::new();
    let stack = fixture_arg();
    let localhost = format!("http://localhost:{}", emu.port);
    let loopback = format!("http://127.0.0.1:{}", emu.port);
    expect_code(
        &run(&localhost, &release, &["apply", &stack, "--auto-approve"]),
        0,
    );
    let v2 = [
        "apply",
        stack.as_str(),
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ];
    let logs = tempfile::tempdir().unwrap();
    let mut holder = spawn(&localhost, &release, &v2, logs.path(), "holder");
    wait_until("the holder to wait in its hook", || release.held());

    let o = run(&loopback, &release, &v2);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("is locked by"), "{err}");
    assert_eq!(pid_named(&err), Some(holder.id()), "{err}");
    assert!(
        err.contains("`reroll force-unlock` refuses while it runs"),
        "{err}"
    );

    for endpoint in [&loopback, &localhost] {
        let o = run(endpoint, &release, &["force-unlock", &stack]);
        expect_code(&o, 1);
        let err = stderr(&o);
        assert!(
            err.contains("held by a live process on this machine"),
            "{err}"
        );
        assert_eq!(pid_named(&err), Some(holder.id()), "{err}");
    }

    release.go();
    let status = holder.wait().unwrap();
    assert!(status.success(), "{}", output_of(logs.path(), "holder"));
    let o = run(&loopback, &release, &["force-unlock", &stack]);
    expect_code(&o, 0);
    assert!(stderr(&o).contains("There is no lock"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lock_is_removed_stops_and_says_so() {
    let emu = started();
    let release = Release::new();
    let lock = format!("s3://{BUCKET}/lost?lease=1s");
    let stack = fixture_arg();
    let v1 = ["--lock", &lock, "apply", &stack, "--auto-approve"];
    expect_code(&run(&emu.endpoint, &release, &v1), 0);
    let v2 = [
        "--lock",
        &lock,
        "apply",
        &stack,
        "-var",
        "app_version=1.1.0",
        "--auto-approve",
    ];
    let logs = tempfile::tempdir().unwrap();
    let mut holder = spawn(&emu.endpoint, &release, &v2, logs.path(), "holder");
    wait_until("the holder to wait in its hook", || release.held());
    let cloud = cloud(&emu.endpoint).await;
    let record = lock_record(&cloud, "lost")
        .await
        .expect("the holder's lock");

    let o = run(
        &emu.endpoint,
        &release,
        &["--lock", &lock, "force-unlock", &stack, &record.id],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("Its lease was still being renewed"),
        "{}",
        stderr(&o)
    );
    // The holder notices at its next renewal (a third of a second), before it goes on.
    wait_until("the holder to notice", || {
        output_of(logs.path(), "holder").contains("was removed from")
    });
    release.go();
    let status = holder.wait().unwrap();
    let out = output_of(logs.path(), "holder");
    assert_eq!(status.code(), Some(4), "{out}");
    assert!(
        out.contains(&format!(
            "error: the lock of stack \"locked\" in us-east-1 of account 123456789012 (lock id {}) \
             was removed from s3://{BUCKET}/lost/123456789012/us-east-1/locked.lock while this \
             command held it (someone ran `reroll force-unlock`)",
            record.id
        )),
        "{out}"
    );
    assert!(out.contains("Stopping as after Ctrl-C"), "{out}");
    assert!(
        out.contains("this command lost its lock while it ran"),
        "{out}"
    );
    assert!(out.contains("  interrupted\n"), "{out}");
    assert!(!out.contains("Apply complete"), "rolled out anyway: {out}");
    // Nothing of the holder's is left behind to delete, and the stack can be applied again.
    assert_eq!(lock_record(&cloud, "lost").await, None);
    expect_code(&run(&emu.endpoint, &release, &v2), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_takes_the_lock_it_was_planned_with() {
    let emu = started();
    let release = Release::new();
    let lock = format!("lock=s3://{BUCKET}/planned");
    let stack = fixture_arg();
    expect_code(
        &run(
            &emu.endpoint,
            &release,
            &["apply", &stack, "-var", &lock, "--auto-approve"],
        ),
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("v2.plan");
    let plan_arg = plan.to_str().unwrap();
    let v2 = ["-var", lock.as_str(), "-var", "app_version=1.1.0"];
    let o = run(
        &emu.endpoint,
        &release,
        &[&["plan", &stack][..], &v2, &["--out", plan_arg]].concat(),
    );
    expect_code(&o, 0);
    let mut holder = spawn(
        &emu.endpoint,
        &release,
        &[&["apply", &stack][..], &v2, &["--auto-approve"]].concat(),
        dir.path(),
        "holder",
    );
    wait_until("the holder to wait in its hook", || release.held());
    // The plan's `lock` came from a saved variable: applying it takes that lock, not the
    // local one.
    let o = run(&emu.endpoint, &release, &["apply", plan_arg]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("is locked by"), "{}", stderr(&o));
    assert_eq!(pid_named(&stderr(&o)), Some(holder.id()), "{}", stderr(&o));
    release.go();
    assert!(
        holder.wait().unwrap().success(),
        "{}",
        output_of(dir.path(), "holder")
    );
}
