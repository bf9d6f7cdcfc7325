//! `status --check` (one light: exit 0, or 1 with one line per problem) and `status --format
//! openmetrics` (parsed with Python's `prometheus_client`, pinned in
//! localstack/requirements.txt) on simulated accounts.

mod common {
    pub mod emulator;
}

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> String {
    root()
        .join("tests/fixtures/sim-rolling")
        .to_str()
        .unwrap()
        .to_string()
}

fn sim(state: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_POLL_SECONDS")
        .args(["--cloud", "sim", "--sim-state", state.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn code(o: &Output, want: i32) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// Four instances of 1.0.0 deployed, in a fresh directory.
fn deployed() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    let f = fixture();
    code(
        &sim(
            &state,
            &["apply", &f, "-var", "instances=4", "--auto-approve"],
        ),
        0,
    );
    (dir, state)
}

fn make_bad(state: &Path, image_name: &str) {
    let mut world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    world["world"]["config"]["bad_images"] = serde_json::json!([image_name]);
    std::fs::write(state, world.to_string()).unwrap();
}

#[test]
fn check_is_one_light_with_one_line_per_problem() {
    let f = fixture();
    // (what is done to the deployed account, the check's arguments, exit code, its lines)
    type Setup = fn(&Path, &str);
    let nothing: Setup = |_, _| {};
    let degrade: Setup = |state, _| make_bad(state, "demo-app-1.0.0");
    let roll_back: Setup = |state, f| {
        make_bad(state, "demo-app-1.1.0");
        let args = [
            "apply",
            f,
            "-var",
            "instances=4",
            "-var",
            "app_version=1.1.0",
        ];
        let more = ["-var", "health_timeout=3m", "--auto-approve"];
        code(&sim(state, &[&args[..], &more[..]].concat()), 3);
    };
    let pause: Setup = |state, f| {
        make_bad(state, "demo-app-1.1.0");
        let args = [
            "apply",
            f,
            "-var",
            "instances=4",
            "-var",
            "app_version=1.1.0",
        ];
        let more = [
            "-var",
            "health_timeout=3m",
            "-var",
            "on_failure=pause",
            "--auto-approve",
        ];
        code(&sim(state, &[&args[..], &more[..]].concat()), 4);
    };
    let cases: [(Setup, &[&str], i32, &[&str]); 5] = [
        (
            nothing,
            &[],
            0,
            &["ok: stack \"simroll\" in us-east-1: every group serves its desired capacity healthy"],
        ),
        (
            degrade,
            &[],
            1,
            &["degraded: server_group.web: 0 of 4 healthy in v001 (simroll-web-v001)"],
        ),
        (
            nothing,
            &["-var", "app_version=1.1.0"],
            1,
            &["drift: server_group.web: replace (image changed: v001 → v002)"],
        ),
        (
            roll_back,
            &["-var", "app_version=1.1.0"],
            1,
            &["failed definition pending: server_group.web: f1:", "drift: not checked: "],
        ),
        (
            pause,
            &["-var", "app_version=1.1.0", "-var", "on_failure=pause"],
            1,
            &[
                "interrupted rollout: server_group.web: v002 is rolling (new 0/4 healthy",
                "drift: server_group.web: resume (a rollout to generation v002 stopped part-way",
            ],
        ),
    ];
    for (setup, args, exit, lines) in cases {
        let (_dir, state) = deployed();
        setup(&state, &f);
        let mut all = vec!["status", f.as_str(), "-var", "instances=4", "--check"];
        all.extend_from_slice(args);
        let out = code(&sim(&state, &all), exit);
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got.len(), lines.len(), "{args:?}:\n{out}");
        for (g, want) in got.iter().zip(lines) {
            assert!(g.starts_with(want), "{args:?}: wanted {want:?}, got {g:?}");
        }
    }
}

/// The samples of `status --format openmetrics`, as Prometheus' parser reads them: type,
/// name, group, generation, result, value.
fn parsed_metrics(state: &Path, args: &[&str]) -> Vec<String> {
    let f = fixture();
    let mut all = vec!["status", f.as_str(), "--format", "openmetrics"];
    all.extend_from_slice(args);
    let out = code(&sim(state, &all), 0);
    let python = common::emulator::python();
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(family.type, s.name, s.labels.get("group", ""), s.labels.get("generation", ""), s.labels.get("result", ""), s.value)
"#;
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(out.as_bytes())
        .unwrap();
    let parsed = child.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "{}\n{out}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The last rollout's sample split off the others: its result label and how long after the
/// simulated account's first moment it was stamped (by the account's clock).
fn last_rollout(lines: &mut Vec<String>) -> (String, f64) {
    let i = lines
        .iter()
        .position(|l| l.starts_with("gauge reroll_last_rollout_timestamp_seconds "))
        .unwrap_or_else(|| panic!("no last rollout sample: {lines:?}"));
    let line = lines.remove(i);
    let fields: Vec<&str> = line.split(' ').collect();
    let at: f64 = fields[fields.len() - 1].parse().unwrap();
    let epoch = reroll::cloud::sim::wall_time(0)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    (fields[fields.len() - 2].to_string(), at - epoch)
}

#[test]
fn openmetrics_output_parses_as_prometheus_text() {
    let (_dir, state) = deployed();
    let mut got = parsed_metrics(&state, &[]);
    let (result, at) = last_rollout(&mut got);
    assert_eq!(result, "succeeded");
    assert!(
        (0.0..3600.0).contains(&at),
        "committed {at} s into the simulation"
    );
    let want = [
        "gauge reroll_desired_instances server_group.web v001  4.0",
        "gauge reroll_in_service_instances server_group.web v001  4.0",
        "gauge reroll_healthy_instances server_group.web v001  4.0",
        "gauge reroll_rollout_in_progress server_group.web   0.0",
    ];
    assert_eq!(got, want);
}

#[test]
fn openmetrics_shows_a_rolled_back_rollout_and_the_wave_of_a_paused_one() {
    let f = fixture();
    let apply = |state: &Path, more: &[&str], exit| {
        make_bad(state, "demo-app-1.1.0");
        let args = [
            "apply",
            f.as_str(),
            "-var",
            "instances=4",
            "-var",
            "app_version=1.1.0",
            "-var",
            "health_timeout=3m",
            "--auto-approve",
        ];
        code(&sim(state, &[&args[..], more].concat()), exit);
    };
    let (_dir, state) = deployed();
    apply(&state, &[], 3);
    let vars = ["-var", "instances=4", "-var", "app_version=1.1.0"];
    let mut got = parsed_metrics(&state, &vars);
    let (result, at) = last_rollout(&mut got);
    assert_eq!(result, "rolled_back");
    assert!(
        (0.0..7200.0).contains(&at),
        "rolled back {at} s into the simulation"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("gauge reroll_last_failed_rollout_timestamp_seconds ")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|l| l.contains("reroll_rollout_wave")),
        "{got:?}"
    );
    // Paused with no new instance healthy: wave 0 of the plan's 4 (max_surge 25% of 4).
    let (_dir, state) = deployed();
    apply(&state, &["-var", "on_failure=pause"], 4);
    let got = parsed_metrics(&state, &vars);
    for want in [
        "gauge reroll_rollout_in_progress server_group.web   1.0",
        "gauge reroll_rollout_wave server_group.web   0.0",
        "gauge reroll_rollout_waves server_group.web   4.0",
    ] {
        assert!(got.iter().any(|l| l == want), "{want:?} in {got:?}");
    }
}
