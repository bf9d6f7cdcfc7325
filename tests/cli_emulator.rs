//! The real binary against a private emulator: deploy, plan, resize, saved plans, destroy.
//!
//! The emulator makes instances healthy at once, so these tests check what reroll asks AWS
//! to do and what it reads back — not timing, which belongs to the simulator.

mod common {
    pub mod emulator;
}

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use common::emulator::Emulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo() -> PathBuf {
    root().join("stacks/demo")
}

/// Runs reroll against the emulator, with no terminal and no colour.
fn reroll(emu: &Emulator, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
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
        stdout(o),
        stderr(o)
    );
}

fn started() -> Emulator {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    emu
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn deploy_then_no_changes_then_new_image_is_a_replace() {
    let emu = started();
    let d = demo();
    let o = reroll(&emu, &["apply", path(&d), "--auto-approve"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("url = http://"), "{}", stdout(&o));

    let o = reroll(&emu, &["plan", path(&d), "--detailed-exitcode"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("Plan: no changes."), "{}", stdout(&o));

    let o = reroll(
        &emu,
        &[
            "plan",
            path(&d),
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ],
    );
    expect_code(&o, 2);
    let out = stdout(&o);
    assert!(out.contains("± server_group.web"), "{out}");
    assert!(out.contains("(new generation)"), "{out}");
    assert!(out.contains("Plan: 2 to replace."), "{out}");

    // Rolled out: both groups on generation 2, generation 1 retired at zero.
    let v2 = ["-var", "app_version=1.1.0"];
    let o = reroll(
        &emu,
        &[&["apply", path(&d)][..], &v2, &["--auto-approve"]].concat(),
    );
    expect_code(&o, 0);
    assert!(stderr(&o).contains("v001 → v002"), "{}", stderr(&o));
    let o = reroll(
        &emu,
        &[&["plan", path(&d)][..], &v2, &["--detailed-exitcode"]].concat(),
    );
    expect_code(&o, 0);
    let status = stdout(&reroll(&emu, &["status", path(&d)]));
    assert!(
        status.contains("demo-web-v001                retired        0"),
        "{status}"
    );
    assert!(
        status.contains("demo-web-v002                active         3"),
        "{status}"
    );
}

#[test]
fn plan_json_is_versioned_and_summarised() {
    let emu = started();
    let o = reroll(&emu, &["plan", path(&demo()), "--json"]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["stack"], "demo");
    assert_eq!(v["summary"]["create"], 5);
    assert_eq!(v["summary"]["has_changes"], true);
    let web = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "server_group.web")
        .unwrap();
    assert_eq!(web["action"], "create");
    assert_eq!(web["rollout"]["desired"], 3);
}

#[test]
fn capacity_change_is_applied_as_a_resize() {
    let emu = started();
    let d = demo();
    expect_code(&reroll(&emu, &["apply", path(&d), "--auto-approve"]), 0);
    let o = reroll(&emu, &["plan", path(&d), "-var", "web_instances=5"]);
    assert!(stdout(&o).contains("~ server_group.web"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("capacity.desired  3 → 5"),
        "{}",
        stdout(&o)
    );
    let o = reroll(
        &emu,
        &[
            "apply",
            path(&d),
            "-var",
            "web_instances=5",
            "--auto-approve",
        ],
    );
    expect_code(&o, 0);
    let o = reroll(&emu, &["status", path(&d)]);
    let status = stdout(&o);
    let line = status
        .lines()
        .find(|l| l.contains("demo-web-v001"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[3], "5", "desired in: {line}");
    assert_eq!(cols[6], "5", "in service in: {line}");
    assert!(
        status.contains("target_group.web                   5 healthy of   5"),
        "{status}"
    );
    let o = reroll(
        &emu,
        &[
            "plan",
            path(&d),
            "-var",
            "web_instances=5",
            "--detailed-exitcode",
        ],
    );
    expect_code(&o, 0);
}

#[test]
fn destroy_removes_the_stack_and_nothing_else() {
    let emu = started();
    let d = demo();
    let other = root().join("tests/fixtures/other");
    expect_code(&reroll(&emu, &["apply", path(&other), "--auto-approve"]), 0);
    expect_code(&reroll(&emu, &["apply", path(&d), "--auto-approve"]), 0);
    let o = reroll(&emu, &["destroy", path(&d), "--auto-approve"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("Plan: 5 to destroy."), "{}", stdout(&o));
    let o = reroll(&emu, &["status", path(&d)]);
    assert!(stdout(&o).contains("Nothing deployed."), "{}", stdout(&o));
    // The other stack in the same account is untouched.
    let o = reroll(&emu, &["plan", path(&other), "--detailed-exitcode"]);
    expect_code(&o, 0);
    // Destroying again is a no-op.
    expect_code(&reroll(&emu, &["destroy", path(&d), "--auto-approve"]), 0);
}

#[test]
fn saved_plan_applies_exactly_and_is_refused_after_the_world_changed() {
    let emu = started();
    let d = demo();
    let dir = tempfile::tempdir().unwrap();
    let f1 = dir.path().join("first.plan");
    expect_code(&reroll(&emu, &["plan", path(&d), "--out", path(&f1)]), 0);
    let o = reroll(&emu, &["apply", path(&f1)]);
    expect_code(&o, 0);
    expect_code(&reroll(&emu, &["plan", path(&d), "--detailed-exitcode"]), 0);

    // A plan to grow, then somebody else grows it differently first.
    let f2 = dir.path().join("grow.plan");
    expect_code(
        &reroll(
            &emu,
            &[
                "plan",
                path(&d),
                "-var",
                "web_instances=4",
                "--out",
                path(&f2),
            ],
        ),
        0,
    );
    expect_code(
        &reroll(
            &emu,
            &[
                "apply",
                path(&d),
                "-var",
                "web_instances=6",
                "--auto-approve",
            ],
        ),
        0,
    );
    let o = reroll(&emu, &["apply", path(&f2)]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("changed since the plan was saved"),
        "{}",
        stderr(&o)
    );

    // Not a plan file at all.
    let junk = dir.path().join("junk.plan");
    std::fs::write(&junk, "{}").unwrap();
    let o = reroll(&emu, &["apply", path(&junk), "--auto-approve"]);
    expect_code(&o, 1);
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let emu = started();
    let o = reroll(&emu, &["apply", path(&demo())]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("--auto-approve"), "{}", stderr(&o));
    let o = reroll(&emu, &["status", path(&demo())]);
    assert!(stdout(&o).contains("Nothing deployed."), "{}", stdout(&o));
}

#[test]
fn missing_image_and_empty_network_are_located_errors() {
    let emu = started();
    let o = reroll(&emu, &["plan", path(&demo()), "-var", "app_version=9.9.9"]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("stacks/demo/main.hcl:28:1"), "{err}");
    assert!(
        err.contains("no image in us-east-1 matches name \"demo-app-9.9.9\""),
        "{err}"
    );

    let o = reroll(
        &emu,
        &["plan", path(&root().join("tests/fixtures/no-network"))],
    );
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("no VPC in us-east-1 has tags Name=nowhere"),
        "{err}"
    );
    assert!(err.contains("main.hcl:"), "{err}");
}

/// Observing costs the same number of calls for 1 or 50 instances a group.
#[test]
fn plan_calls_do_not_grow_with_instances() {
    let emu = started();
    let stack = root().join("tests/fixtures/three-groups");
    let calls = |n: &str| -> (u64, String) {
        let o = reroll(
            &emu,
            &[
                "plan",
                path(&stack),
                "-var",
                &format!("instances={n}"),
                "--stats",
            ],
        );
        let err = stderr(&o);
        let total = err
            .lines()
            .find(|l| l.starts_with("total"))
            .unwrap_or_else(|| panic!("{err}"));
        let total = total.split_whitespace().nth(1).unwrap().parse().unwrap();
        (total, err)
    };
    expect_code(
        &reroll(
            &emu,
            &[
                "apply",
                path(&stack),
                "-var",
                "instances=1",
                "--auto-approve",
            ],
        ),
        0,
    );
    let small = calls("1");
    expect_code(
        &reroll(
            &emu,
            &[
                "apply",
                path(&stack),
                "-var",
                "instances=50",
                "--auto-approve",
            ],
        ),
        0,
    );
    let large = calls("50");
    assert_eq!(
        small.0, large.0,
        "plan made {} calls at 3×1 and {} at 3×50\n{}\n{}",
        small.0, large.0, small.1, large.1
    );
}
