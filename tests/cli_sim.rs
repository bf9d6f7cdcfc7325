//! The binary against a simulated account (`--cloud sim`): a world kept in a `--sim-state`
//! file across commands, a rollout in simulated time, a forecast, and flag mistakes.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/sim-rolling")
}

/// Runs reroll with no terminal, no colour and no AWS settings that could leak in.
fn reroll(args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_POLL_SECONDS")
        .args(args)
        .output()
        .unwrap()
}

fn sim(state: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--cloud", "sim", "--sim-state", state.to_str().unwrap()];
    all.extend_from_slice(args);
    reroll(&all)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn code(o: &Output, want: i32) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

/// Simulated seconds from the `simulated time: 6m 12s (wall …)` line.
fn simulated_seconds(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("simulated time: "))
        .unwrap_or_else(|| panic!("no simulated time in:\n{stderr}"));
    let spent = line.split(" (wall").next().unwrap();
    spent
        .split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len() - 1);
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("{line}"));
            match unit {
                "h" => n * 3600,
                "m" => n * 60,
                "s" => n,
                _ => panic!("{line}"),
            }
        })
        .sum()
}

#[test]
fn a_world_kept_in_a_file_rolls_out_across_commands() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    let stack = fixture();
    let stack = stack.to_str().unwrap();

    let o = sim(&state, &["apply", stack, "--auto-approve"]);
    code(&o, 0);
    let (_, err) = text(&o);
    assert!(err.contains("Apply complete"), "{err}");
    // Twelve instances booting (30-60 s) and passing 3 health checks 10 s apart.
    let first = simulated_seconds(&err);
    assert!((60..600).contains(&first), "{first}s\n{err}");
    assert!(state.exists());

    let o = sim(&state, &["plan", stack, "--detailed-exitcode"]);
    code(&o, 0);
    assert!(text(&o).0.contains("no changes"), "{}", text(&o).0);

    let o = sim(&state, &["plan", stack, "-var", "app_version=1.1.0"]);
    code(&o, 0);
    assert!(text(&o).0.contains("1 to replace"), "{}", text(&o).0);

    let o = sim(
        &state,
        &[
            "apply",
            stack,
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
        ],
    );
    code(&o, 0);
    let (_, err) = text(&o);
    assert!(err.contains("v001 → v002"), "{err}");
    let rollout = simulated_seconds(&err);
    // At least one boot, three health checks and one 30 s deregistration delay; far less
    // than the 10 minute health timeout.
    assert!((100..900).contains(&rollout), "{rollout}s\n{err}");

    let o = sim(&state, &["status", stack, "-var", "app_version=1.1.0"]);
    code(&o, 0);
    let (out, _) = text(&o);
    assert!(out.contains("12 healthy of  12"), "{out}");
    assert!(out.contains("v002"), "{out}");
    let o = sim(
        &state,
        &[
            "plan",
            stack,
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ],
    );
    code(&o, 0);
}

#[test]
fn a_forecast_in_the_simulator_predicts_waves_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    let stack = fixture();
    let stack = stack.to_str().unwrap();
    code(&sim(&state, &["apply", stack, "--auto-approve"]), 0);

    let o = sim(
        &state,
        &["plan", stack, "-var", "app_version=1.1.0", "--forecast"],
    );
    code(&o, 0);
    let (out, _) = text(&o);
    assert!(out.contains("a prediction from a model"), "{out}");
    assert!(out.contains("v001 → v002, 12 instances: ok"), "{out}");
    assert!(out.contains("Predicted duration: "), "{out}");
    // 25% of 12: four waves of three.
    let waves = out
        .lines()
        .filter(|l| {
            let t: Vec<&str> = l.split_whitespace().take(3).collect();
            t.len() == 3 && t.iter().all(|x| x.parse::<u32>().is_ok())
        })
        .count();
    assert_eq!(waves, 4, "{out}");
    // Nothing was applied: the plan still replaces.
    let o = sim(
        &state,
        &[
            "plan",
            stack,
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ],
    );
    code(&o, 2);
}

#[test]
fn sim_state_without_the_simulator_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    let o = reroll(&[
        "--sim-state",
        state.to_str().unwrap(),
        "plan",
        fixture().to_str().unwrap(),
    ]);
    code(&o, 1);
    let (_, err) = text(&o);
    assert!(err.contains("--sim-state needs --cloud sim"), "{err}");
    assert!(!state.exists());
}

#[test]
fn a_saved_world_of_another_region_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    let stack = fixture();
    let stack = stack.to_str().unwrap();
    code(&sim(&state, &["plan", stack]), 0);
    let o = sim(&state, &["--region", "eu-west-1", "plan", stack]);
    code(&o, 1);
    let (_, err) = text(&o);
    assert!(
        err.contains("holds a simulated account in us-east-1"),
        "{err}"
    );
}

/// The rolling fixture, copied, with `edit` applied to its text.
fn edited_fixture(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(fixture().join("main.hcl")).unwrap();
    let edited = edit(src.clone());
    assert_ne!(edited, src, "the fixture changed shape");
    std::fs::write(dir.path().join("main.hcl"), edited).unwrap();
    dir
}

/// `rollback` needs no value for a variable without a default (the README says so), and no
/// placeholder for the missing value reaches a lookup or a message.
#[test]
fn rollback_needs_no_value_for_a_required_variable() {
    let stack = edited_fixture(|s| {
        s.replace(
            "variable \"app_version\" {\n  default = \"1.0.0\"\n}",
            "variable \"app_version\" {\n  description = \"set by CI\"\n}",
        )
    });
    let state = stack.path().join("world.json");
    let path = stack.path().to_str().unwrap();
    for version in ["1.0.0", "1.1.0"] {
        let v = format!("app_version={version}");
        code(
            &sim(&state, &["apply", path, "-var", &v, "--auto-approve"]),
            0,
        );
    }
    let o = sim(&state, &["rollback", path, "--auto-approve"]);
    code(&o, 0);
    let (out, err) = text(&o);
    assert!(
        !out.contains("known after") && !err.contains("known after"),
        "{out}\n{err}"
    );
    let o = sim(&state, &["status", path]);
    code(&o, 0);
    assert!(!text(&o).0.contains("known after"), "{}", text(&o).0);
    // The simulated account makes up an image for any name it is asked about: none was asked
    // about with a placeholder in its name.
    let world = std::fs::read_to_string(&state).unwrap();
    assert!(!world.contains("known after"), "a lookup saw a placeholder");
}

/// A literal AMI id that does not exist is a located error at plan time, before any change.
#[test]
fn a_literal_image_that_does_not_exist_is_refused_at_plan_time() {
    let stack = edited_fixture(|s| {
        s.replace(
            "  image           = image.app\n",
            "  image           = \"ami-0123456789abcdef0\"\n",
        )
    });
    let state = stack.path().join("world.json");
    let path = stack.path().to_str().unwrap();
    for command in [&["plan", path][..], &["apply", path, "--auto-approve"][..]] {
        let o = sim(&state, command);
        code(&o, 1);
        let (_, err) = text(&o);
        assert!(
            err.contains("server_group.web: there is no image ami-0123456789abcdef0 in us-east-1")
                && err.contains("main.hcl:")
                && err.contains("AMI ids differ per region"),
            "{err}"
        );
    }
    // Nothing was created.
    let o = sim(&state, &["status", path]);
    code(&o, 0);
    assert!(!text(&o).0.contains("v001"), "{}", text(&o).0);
}

/// Usage errors exit 1: exit 2 means "there are changes" to `plan --detailed-exitcode`, and a
/// CI script that mistypes a flag must not read that.
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let path = fixture();
    let path = path.to_str().unwrap();
    // (arguments, exit code)
    let cases: &[(&[&str], i32)] = &[
        (&[], 1),
        (&["plna", path], 1),
        (&["plan"], 1),
        (&["plan", path, "--detailed-exitcodes"], 1),
        (&["plan", path, "-var", "no-equals-sign"], 1),
        (&["apply", path, "--parallelism", "many"], 1),
        (&["--log-format", "yaml", "plan", path], 1),
        (&["--help"], 0),
        (&["plan", "--help"], 0),
        (&["--version"], 0),
    ];
    for (args, want) in cases {
        let o = reroll(args);
        assert_eq!(
            o.status.code(),
            Some(*want),
            "reroll {}: {:?}",
            args.join(" "),
            text(&o)
        );
    }
}

/// Every argument and option is described; `-var` shows as the README teaches it; global
/// options come once, under their own heading.
#[test]
fn help_describes_everything() {
    for command in [
        "plan",
        "apply",
        "rollback",
        "destroy",
        "status",
        "validate",
        "force-unlock",
    ] {
        let o = reroll(&[command, "--help"]);
        code(&o, 0);
        let (out, _) = text(&o);
        let headings = out.matches("Global options:").count();
        assert_eq!(headings, 1, "{command}:\n{out}");
        assert!(
            out.contains("  <PATH>\n          The stack")
                || out.contains("  <PATH>\n          A stack"),
            "{command}:\n{out}"
        );
        if out.contains("NAME=VALUE") {
            assert!(
                out.contains("-var <NAME=VALUE>") && !out.contains("--var"),
                "{out}"
            );
        }
        // No option without a description: an option line is followed by an indented text.
        let lines: Vec<&str> = out.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let opt = l.trim_start();
            if opt.starts_with('-') && l.starts_with("  ") && !l.starts_with("          ") {
                let next = lines.get(i + 1).copied().unwrap_or("");
                assert!(
                    next.starts_with("          ") && !next.trim().is_empty(),
                    "{command}: {opt} has no description:\n{out}"
                );
            }
        }
        assert!(
            out.contains(&format!("Examples:\n  reroll {command} ")),
            "{command}: no examples:\n{out}"
        );
        if command == "plan" {
            insta::assert_snapshot!("plan_help", out);
        }
    }
}

/// `reroll completions SHELL` prints a script that knows every command.
#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = reroll(&["completions", shell]);
        code(&o, 0);
        let (out, _) = text(&o);
        for command in [
            "validate",
            "plan",
            "apply",
            "status",
            "rollback",
            "force-unlock",
        ] {
            assert!(out.contains(command), "{shell}: {command} missing:\n{out}");
        }
    }
    let o = reroll(&["completions", "tcsh"]);
    code(&o, 1);
}
