//! The plan a person approved is the plan that runs: files edited while `apply` waits for its
//! `yes`, or after `plan --out`, never reach the account; a saved plan applies from wherever it
//! is given. Against a simulated account kept in a `--sim-state` file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Std, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::Command;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The simulator's rolling fixture, copied, with user data read from a file beside it.
fn stack_dir(user_data: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(root().join("tests/fixtures/sim-rolling/main.hcl")).unwrap();
    let src = src.replace(
        "  mode            = var.mode\n",
        "  mode            = var.mode\n  user_data       = file(\"user-data.sh\")\n",
    );
    assert!(src.contains("user-data.sh"), "the fixture changed shape");
    std::fs::write(dir.path().join("main.hcl"), src).unwrap();
    std::fs::write(dir.path().join("user-data.sh"), user_data).unwrap();
    dir
}

fn reroll(cwd: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("REROLL_POLL_SECONDS")
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn code(o: &Output, want: i32) -> String {
    let out = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(want), "{out}");
    out
}

/// How a plan shows user data: the start of its sha256.
fn shown(user_data: &str) -> String {
    format!(
        "sha256:{}…",
        &hex::encode(Sha256::digest(user_data.as_bytes()))[..12]
    )
}

/// The user data the serving generation was launched from, as the next plan's diff shows it
/// (the stack's file now says something else).
fn launched_user_data(dir: &Path, state: &str) -> Option<String> {
    let o = reroll(
        dir,
        &[
            "--cloud",
            "sim",
            "--sim-state",
            state,
            "plan",
            ".",
            "--json",
        ],
    );
    code(&o, 0);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["diffs"].as_array().cloned().unwrap_or_default())
        .find(|d| d["name"] == "user_data")
        .and_then(|d| d["before"].as_str().map(String::from))
}

/// `reroll apply` on a terminal (through `script`), with the user data file rewritten while
/// the prompt waits, then `yes`.
fn apply_editing_at_the_prompt(dir: &Path, state: &str, extra: &[&str], edited: &str) -> String {
    let mut cmd = format!(
        "{} --cloud sim --sim-state {state} apply .",
        assert_cmd::cargo::cargo_bin("reroll").display()
    );
    for a in extra {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let mut child = Std::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("REROLL_POLL_SECONDS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs a command on a terminal");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b':', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    seen.push_str(&String::from_utf8_lossy(&buf));
                    if seen.contains("Only 'yes' is accepted:") {
                        let _ = tx.send(());
                    }
                }
            }
        }
        seen
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("apply asks for confirmation on a terminal");
    std::fs::write(dir.join("user-data.sh"), edited).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"yes\n").unwrap();
    stdin.flush().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_file_edited_while_apply_waits_for_yes_is_not_what_lands() {
    let dir = stack_dir("#!/bin/sh\necho reviewed-v1\n");
    let state = "world.json";
    // The first generation: the edit made at the prompt does not land.
    apply_editing_at_the_prompt(dir.path(), state, &[], "#!/bin/sh\necho edited-v1\n");
    assert_eq!(
        launched_user_data(dir.path(), state),
        Some(shown("#!/bin/sh\necho reviewed-v1\n")),
        "the first generation runs the reviewed user data"
    );
    // A replacement: the same with a new image and reviewed user data.
    std::fs::write(
        dir.path().join("user-data.sh"),
        "#!/bin/sh\necho reviewed-v2\n",
    )
    .unwrap();
    apply_editing_at_the_prompt(
        dir.path(),
        state,
        &["-var", "app_version=1.1.0"],
        "#!/bin/sh\necho edited-v2\n",
    );
    let o = reroll(
        dir.path(),
        &[
            "--cloud",
            "sim",
            "--sim-state",
            state,
            "plan",
            ".",
            "--json",
            "-var",
            "app_version=1.1.0",
        ],
    );
    code(&o, 0);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let user_data = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["diffs"].as_array().cloned().unwrap_or_default())
        .find(|d| d["name"] == "user_data")
        .expect("the edited file differs from what was launched");
    assert_eq!(
        user_data["before"].as_str(),
        Some(shown("#!/bin/sh\necho reviewed-v2\n").as_str())
    );
}

#[test]
fn a_saved_plan_applies_from_a_relative_path_and_refuses_edited_files() {
    let dir = stack_dir("#!/bin/sh\necho one\n");
    let d = dir.path();
    let sim = ["--cloud", "sim", "--sim-state", "world.json"];
    fn with<'a>(sim: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
        [sim, args].concat()
    }
    code(
        &reroll(d, &with(&sim, &["apply", ".", "--auto-approve"])),
        0,
    );
    // Planned with a relative path, applied from the stack's directory.
    let o = reroll(
        d,
        &with(
            &sim,
            &["plan", ".", "-var", "app_version=1.1.0", "--out", "p.bin"],
        ),
    );
    code(&o, 0);
    let out = code(&reroll(d, &with(&sim, &["apply", "p.bin"])), 0);
    assert!(out.contains("Apply complete"), "{out}");
    // …and from elsewhere, by another spelling of the same path.
    let o = reroll(
        d,
        &with(
            &sim,
            &["plan", "./", "-var", "app_version=1.2.0", "--out", "q.bin"],
        ),
    );
    code(&o, 0);
    let parent = d.parent().unwrap();
    let state = d.join("world.json");
    let plan_file = d.join("q.bin");
    let o = reroll(
        parent,
        &[
            "--cloud",
            "sim",
            "--sim-state",
            state.to_str().unwrap(),
            "apply",
            plan_file.to_str().unwrap(),
        ],
    );
    code(&o, 0);
    // A file the stack reads, edited after the plan was saved: refused, nothing changed.
    let o = reroll(
        d,
        &with(
            &sim,
            &["plan", ".", "-var", "app_version=1.0.0", "--out", "r.bin"],
        ),
    );
    code(&o, 0);
    std::fs::write(d.join("user-data.sh"), "#!/bin/sh\necho sneaked-in\n").unwrap();
    let out = code(&reroll(d, &with(&sim, &["apply", "r.bin"])), 1);
    assert!(
        out.contains("or files they read, changed since the plan was saved"),
        "{out}"
    );
}
