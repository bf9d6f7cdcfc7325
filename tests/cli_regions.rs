//! Region by region on the simulator (`--cloud sim`, one `--sim-state` file per region:
//! `w.json` → `w.us-east-1.json`, `w.eu-west-1.json`): `plan` shows every region under its
//! heading, `apply` goes in order with the stack's `region_bake` between regions, and the first
//! region that fails stops the command with its exit code, the regions after it untouched.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The simulator's rolling fixture in two regions: `regions = ["us-east-1", "eu-west-1"]`,
/// `region_bake = "10m"`, four instances. Written once per test run.
fn fixture() -> String {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let src = std::fs::read_to_string(root().join("tests/fixtures/sim-rolling/main.hcl"))
            .unwrap();
        let (stack, count) = (
            "stack \"simroll\" {\n  region = \"us-east-1\"\n",
            "  default = 12\n",
        );
        assert!(
            src.contains(stack) && src.contains(count),
            "the fixture changed shape"
        );
        let src = src.replacen(
            stack,
            "stack \"simregions\" {\n  regions     = [\"us-east-1\", \"eu-west-1\"]\n  region_bake = \"10m\"\n",
            1,
        );
        let src = src.replacen(count, "  default = 4\n", 1);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sim-regions");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.hcl"), src).unwrap();
        dir
    })
    .to_string_lossy()
    .into_owned()
}

/// Runs reroll with no terminal, no colour and no AWS settings that could leak in.
fn sim(state: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_REGION")
        .env_remove("REROLL_POLL_SECONDS")
        .args(["--cloud", "sim", "--sim-state", state.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
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

/// Where `what` first appears in `text`.
#[track_caller]
fn at(text: &str, what: &str) -> usize {
    text.find(what)
        .unwrap_or_else(|| panic!("no {what:?} in:\n{text}"))
}

/// Seconds of a `41m 12s` duration.
fn seconds(d: &str) -> u64 {
    d.split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len() - 1);
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("{d}"));
            match unit {
                "h" => n * 3600,
                "m" => n * 60,
                "s" => n,
                _ => panic!("{d}"),
            }
        })
        .sum()
}

#[test]
fn plan_shows_every_region_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.json");
    let (out, _) = code(
        &sim(&state, &["plan", &fixture(), "--detailed-exitcode"]),
        2,
    );
    let (east, west) = (
        at(&out, "=== Region us-east-1 ==="),
        at(&out, "=== Region eu-west-1 ==="),
    );
    assert!(east < west, "{out}");
    assert_eq!(out.matches("Plan: 3 to create.").count(), 2, "{out}");

    let (out, _) = code(&sim(&state, &["plan", &fixture(), "--json"]), 0);
    let plans: Value = serde_json::from_str(&out).unwrap();
    let regions: Vec<&str> = plans
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {out}"))
        .iter()
        .map(|p| p["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1"]);
    assert_eq!(plans[1]["summary"]["create"], 3, "{out}");

    // `--regions` overrides the stack's list; one region prints as a single-region plan.
    let (out, _) = code(
        &sim(
            &state,
            &["plan", &fixture(), "--regions", "eu-west-1", "--json"],
        ),
        0,
    );
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["region"], "eu-west-1", "{out}");

    let (_, err) = code(&sim(&state, &["plan", &fixture(), "--out", "p.bin"]), 1);
    assert!(err.contains("a saved plan holds one region"), "{err}");
    let (_, err) = code(
        &sim(
            &state,
            &["plan", &fixture(), "--regions", "us-east-1,us-east-1"],
        ),
        1,
    );
    assert!(err.contains("--regions lists us-east-1 twice"), "{err}");
    // Planning changed nothing.
    let (out, _) = code(
        &sim(&state, &["plan", &fixture(), "--detailed-exitcode"]),
        2,
    );
    assert_eq!(out.matches("Plan: 3 to create.").count(), 2, "{out}");
}

#[test]
fn apply_goes_region_by_region_with_the_bake_between() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.json");
    let (_, err) = code(&sim(&state, &["apply", &fixture(), "--auto-approve"]), 0);
    let east = at(&err, "Apply complete in us-east-1");
    let bake = at(&err, "baking 10m before eu-west-1");
    let west = at(&err, "=== Region eu-west-1 ===\n\nsim");
    let west_done = at(&err, "Apply complete in eu-west-1");
    assert!(east < bake && bake < west && west < west_done, "{err}");
    assert!(
        err.contains("applied: us-east-1, eu-west-1; failed: none; not started: none"),
        "{err}"
    );
    // Simulated time shows the bake: two rollouts of about a minute and ten minutes between.
    let took = err
        .lines()
        .find_map(|l| l.strip_prefix("Regions after "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no summary in:\n{err}"));
    assert!((600 + 60..1800).contains(&seconds(took)), "{took}\n{err}");
    assert!(dir.path().join("w.us-east-1.json").exists());
    assert!(dir.path().join("w.eu-west-1.json").exists());

    let (out, _) = code(
        &sim(&state, &["plan", &fixture(), "--detailed-exitcode"]),
        0,
    );
    assert_eq!(out.matches("no changes").count(), 2, "{out}");
}

#[test]
fn the_first_region_failing_stops_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.json");
    // A world in us-east-1 whose image never passes a health check.
    let east = dir.path().join("w.us-east-1.json");
    code(
        &sim(&east, &["--region", "us-east-1", "plan", &fixture()]),
        0,
    );
    let mut world: Value = serde_json::from_str(&std::fs::read_to_string(&east).unwrap()).unwrap();
    world["world"]["config"]["bad_images"] = serde_json::json!(["demo-app-1.0.0"]);
    std::fs::write(&east, world.to_string()).unwrap();

    let o = sim(
        &state,
        &[
            "apply",
            &fixture(),
            "-var",
            "health_timeout=3m",
            "--auto-approve",
        ],
    );
    let failed = o.status.code().unwrap();
    let (_, err) = code(&o, failed);
    assert_ne!(failed, 0, "{err}");
    assert!(
        err.contains(&format!(
            "applied: none; failed: us-east-1 (exit {failed}); not started: eu-west-1"
        )),
        "{err}"
    );
    assert!(!err.contains("baking"), "{err}");
    assert!(!err.contains("Apply complete"), "{err}");
    // Nothing was made, or even saved, in eu-west-1.
    assert!(!dir.path().join("w.eu-west-1.json").exists());
}

#[test]
fn region_and_regions_together_are_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.json");
    let stack = root().join("tests/fixtures/bad/stack_region_and_regions");
    let (_, err) = code(&sim(&state, &["plan", stack.to_str().unwrap()]), 1);
    assert!(err.contains("main.hcl:3:3"), "{err}");
    assert!(
        err.contains("the stack block sets both `region` and `regions`"),
        "{err}"
    );
    assert!(err.contains("keep one"), "{err}");
}

/// Commands that work in one region do not pick one of the stack's regions for the user, nor
/// fall back to the credentials' default region: they ask for `--region`.
#[test]
fn one_region_commands_ask_which_region() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("w.json");
    let f = fixture();
    for args in [
        vec!["status", f.as_str()],
        vec!["destroy", f.as_str(), "--auto-approve"],
        vec!["rollback", f.as_str(), "--auto-approve"],
    ] {
        let (_, err) = code(&sim(&state, &args), 1);
        assert!(
            err.contains(
                "lists the regions us-east-1, eu-west-1: name the one to work in with --region"
            ),
            "{args:?}: {err}"
        );
    }
    // With --region, status works there.
    let (out, _) = code(&sim(&state, &["--region", "eu-west-1", "status", &f]), 0);
    assert!(out.contains("eu-west-1"), "{out}");
}
