//! `apply --events FILE|-` on a simulated account: JSON Lines with a versioned schema, the
//! events of a rollout in order, a `done` line however the apply ends (Ctrl-C included), no
//! sensitive value; and on GitHub Actions, workflow commands and the step summary.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/sim-rolling")
}

fn reroll(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("reroll").unwrap();
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_POLL_SECONDS")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

fn sim(state: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut all = vec!["--cloud", "sim", "--sim-state", state.to_str().unwrap()];
    all.extend_from_slice(args);
    reroll(env, &all)
}

#[track_caller]
fn code(o: &Output, want: i32) -> (String, String) {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

/// A world with 1.0.0 of `stack` deployed, in a fresh directory.
fn deployed(stack: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    code(
        &sim(
            &state,
            &[],
            &["apply", stack.to_str().unwrap(), "--auto-approve"],
        ),
        0,
    );
    (dir, state)
}

fn make_bad(state: &Path, image_name: &str) {
    let mut world: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    world["world"]["config"]["bad_images"] = serde_json::json!([image_name]);
    std::fs::write(state, world.to_string()).unwrap();
}

/// Every line one JSON object of schema 1 with a time; returns them.
#[track_caller]
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["v"], 1, "{l}");
            assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
            assert!(v["elapsed"].is_number(), "{l}");
            v
        })
        .collect()
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// `wanted` appear in `got` in this order (others may come between).
#[track_caller]
fn in_order(got: &[String], wanted: &[&str]) {
    let mut rest = got.iter();
    for w in wanted {
        assert!(rest.any(|g| g == w), "no {w} (in order) in {got:?}");
    }
}

#[test]
fn a_rollout_writes_its_events_in_order_and_done_last() {
    let (dir, state) = deployed(&fixture());
    let file = dir.path().join("events.jsonl");
    let o = sim(
        &state,
        &[],
        &[
            "apply",
            fixture().to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
            "--events",
            file.to_str().unwrap(),
        ],
    );
    code(&o, 0);
    let events = lines(&std::fs::read_to_string(&file).unwrap());
    let got = names(&events);
    in_order(
        &got,
        &[
            "plan_made",
            "apply_started",
            "generation_created",
            "wave_started",
            "instances_launched",
            "instances_healthy",
            "instances_drained",
            "gate_passed",
            "rollout_finished",
            "done",
        ],
    );
    assert_eq!(got.last().map(String::as_str), Some("done"));
    let waves: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "wave_started")
        .map(|e| e["wave"].as_u64().unwrap())
        .collect();
    assert_eq!(waves, [1, 2, 3, 4], "the plan's four waves");
    let done = events.last().unwrap();
    assert_eq!(
        (done["result"].as_str(), done["exit_code"].as_u64()),
        (Some("ok"), Some(0))
    );
    let created = &events[got.iter().position(|n| n == "generation_created").unwrap()];
    assert_eq!(
        (
            created["address"].as_str(),
            created["generation"].as_u64(),
            created["from_generation"].as_u64()
        ),
        (Some("server_group.web"), Some(2), Some(1))
    );
    // Times follow the simulated clock: the rollout's minutes, not the wall's milliseconds.
    assert!(done["elapsed"].as_f64().unwrap() > 60.0, "{done}");
}

#[test]
fn events_to_stdout_leave_the_plan_on_stderr() {
    let (_dir, state) = deployed(&fixture());
    let o = sim(
        &state,
        &[],
        &[
            "apply",
            fixture().to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
            "--events",
            "-",
        ],
    );
    let (out, err) = code(&o, 0);
    let events = lines(&out);
    assert_eq!(
        names(&events).first().map(String::as_str),
        Some("plan_made")
    );
    assert!(err.contains("Plan: "), "{err}");
}

#[test]
fn a_failed_rollout_says_so_in_events_workflow_commands_and_the_step_summary() {
    let (dir, state) = deployed(&fixture());
    make_bad(&state, "demo-app-1.1.0");
    let file = dir.path().join("events.jsonl");
    let summary = dir.path().join("summary.md");
    let o = sim(
        &state,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
        &[
            "apply",
            fixture().to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "-var",
            "health_timeout=3m",
            "--auto-approve",
            "--events",
            file.to_str().unwrap(),
        ],
    );
    let (_, err) = code(&o, 3);
    let events = lines(&std::fs::read_to_string(&file).unwrap());
    in_order(
        &names(&events),
        &[
            "generation_created",
            "gate_failed",
            "rollback_started",
            "rollout_finished",
            "done",
        ],
    );
    let done = events.last().unwrap();
    assert_eq!(
        (done["result"].as_str(), done["exit_code"].as_u64()),
        (Some("rolled back"), Some(3))
    );
    assert!(
        done["message"]
            .as_str()
            .is_some_and(|m| m.contains("server_group.web")),
        "{done}"
    );
    assert!(
        err.lines().any(
            |l| l.starts_with("::error title=reroll apply::") && l.contains("server_group.web")
        ),
        "{err}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("**rolled back** (exit code 3)"), "{md}");
    assert!(
        md.contains("| group | action | generation | waves | duration | result |"),
        "{md}"
    );
    assert!(
        md.contains("| server_group.web | replace | v001 → v002 | 0/4 |"),
        "{md}"
    );
}

#[test]
fn stack_errors_on_github_are_workflow_commands_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        "stack \"x\" {\n  region = \"us-east-1\"\n}\n\nvariable \"a\" {\n  defualt = 1\n}\n",
    )
    .unwrap();
    let o = reroll(
        &[("GITHUB_ACTIONS", "true")],
        &["validate", dir.path().to_str().unwrap()],
    );
    let (_, err) = code(&o, 1);
    let command = err
        .lines()
        .find(|l| l.starts_with("::error file="))
        .unwrap_or_else(|| panic!("no workflow command in:\n{err}"));
    assert!(command.contains("main.hcl,line=6,col=3::"), "{command}");
    // Not on GitHub: no workflow commands.
    let (_, err) = code(&reroll(&[], &["validate", dir.path().to_str().unwrap()]), 1);
    assert!(!err.contains("::error"), "{err}");
}

#[test]
fn an_apply_that_ends_early_still_writes_done_and_no_secret() {
    // A sensitive variable: its value is in the stack (a tag), never in the events.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(fixture().join("main.hcl")).unwrap();
    let src = src.replace(
        "variable \"app_version\" {",
        "variable \"token\" {\n  sensitive = true\n  default   = \"s3cr3t-t0ken\"\n}\n\nvariable \"app_version\" {",
    )
    .replace("  mode            = var.mode\n", "  mode            = var.mode\n  tags            = { token = var.token }\n");
    assert!(src.contains("var.token"), "the fixture changed shape");
    std::fs::write(dir.path().join("main.hcl"), src).unwrap();
    let state = dir.path().join("world.json");
    let file = dir.path().join("events.jsonl");
    let stack = dir.path().to_str().unwrap();
    // (arguments, exit code, result of the done line)
    let cases: [(&[&str], i32, &str); 3] = [
        (&[], 0, "ok"),
        (&[], 0, "no changes"),
        (&["-var", "instances=many"], 1, "failed"),
    ];
    for (args, exit, result) in cases {
        let mut all = vec![
            "apply",
            stack,
            "--auto-approve",
            "--events",
            file.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        code(&sim(&state, &[], &all), exit);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("s3cr3t-t0ken"), "{text}");
        let events = lines(&text);
        let done = events.last().unwrap();
        assert_eq!(done["event"], "done", "{args:?}");
        assert_eq!(
            (done["result"].as_str(), done["exit_code"].as_i64()),
            (Some(result), Some(i64::from(exit))),
            "{args:?}"
        );
    }
}

/// Ctrl-C once or twice: the events end with `done`, interrupted, exit code 130.
#[test]
fn ctrl_c_still_ends_the_events_with_done() {
    // A hook that holds the rollout for a few seconds of real time, long enough to be
    // interrupted in.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(fixture().join("main.hcl")).unwrap();
    let edited = src.replace(
        "    max_unavailable = 0\n",
        "    max_unavailable = 0\n    hook \"before_rollout\" {\n      command = [\"sh\", \"-c\", \"touch hook-started && sleep 3\"]\n    }\n",
    );
    assert_ne!(edited, src, "the fixture changed shape");
    std::fs::write(dir.path().join("main.hcl"), edited).unwrap();
    for presses in [1, 2] {
        let (world, state) = deployed(dir.path());
        let marker = dir.path().join("hook-started");
        let _ = std::fs::remove_file(&marker);
        let file = world.path().join("events.jsonl");
        let mut child = Process::new(assert_cmd::cargo::cargo_bin("reroll"))
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env_remove("AWS_ENDPOINT_URL")
            .args(["--cloud", "sim", "--sim-state", state.to_str().unwrap()])
            .args([
                "apply",
                dir.path().to_str().unwrap(),
                "-var",
                "app_version=1.1.0",
            ])
            .args(["--auto-approve", "--events", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the hook never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        for press in 0..presses {
            if press > 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            let ok = Process::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot send SIGINT");
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130));
        let events = lines(&std::fs::read_to_string(&file).unwrap());
        let done = events.last().unwrap();
        assert_eq!(done["event"], "done", "{presses} Ctrl-C");
        assert_eq!(
            (done["result"].as_str(), done["exit_code"].as_u64()),
            (Some("interrupted"), Some(130)),
            "{presses} Ctrl-C"
        );
        let dones = events.iter().filter(|e| e["event"] == "done").count();
        assert_eq!(dones, 1, "{presses} Ctrl-C");
    }
}
