//! The examples for pipelines: `stacks/environments` (one stack, a var file per environment)
//! plans on a simulated account for each, with its own size and strategy; `stacks/ci`'s GitHub
//! Actions workflow is valid YAML with the steps the README describes (read with the PyYAML
//! in localstack/.venv).

mod common {
    pub mod emulator;
}

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reroll(args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn each_environment_validates_and_plans_with_its_size_and_strategy() {
    // (var file, strategy, desired, instance type)
    let cases = [
        ("dev", "rolling", 2, "t3.micro"),
        ("staging", "canary", 4, "c7g.large"),
        ("prod", "blue_green", 12, "c7g.large"),
    ];
    for (env, strategy, desired, instance_type) in cases {
        let file = format!("stacks/environments/env/{env}.hcl");
        let valid = ok(&reroll(&[
            "validate",
            "stacks/environments",
            "-var-file",
            &file,
        ]));
        assert!(valid.contains("is valid"), "{env}: {valid}");
        let out = ok(&reroll(&[
            "--cloud",
            "sim",
            "plan",
            "stacks/environments",
            "-var-file",
            &file,
            "--json",
        ]));
        let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
        let web = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == "server_group.web")
            .unwrap_or_else(|| panic!("{env}: no server group in {out}"));
        assert_eq!(web["action"], "create", "{env}");
        assert_eq!(web["rollout"]["strategy"], strategy, "{env}");
        assert_eq!(web["rollout"]["desired"], desired, "{env}");
        let shown = ok(&reroll(&[
            "--cloud",
            "sim",
            "plan",
            "stacks/environments",
            "-var-file",
            &file,
        ]));
        assert!(shown.contains(instance_type), "{env}: {shown}");
    }
}

#[test]
fn the_workflow_bakes_plans_waits_for_approval_and_applies_the_plan() {
    let python = common::emulator::python();
    let script = r#"
import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1]))))
"#;
    let o = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(root().join("stacks/ci/deploy.yml"))
        .output()
        .unwrap();
    let text = ok(&o);
    let w: serde_json::Value = serde_json::from_str(&text).unwrap();
    let jobs = &w["jobs"];
    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("no steps in job {job}"))
            .iter()
            .filter_map(|s| s["run"].as_str().map(String::from))
            .collect()
    };
    let uploads = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            })
            .map(|s| s["with"]["path"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Bake, then plan, then apply, each after the one before.
    assert_eq!(jobs["plan"]["needs"], "bake");
    assert_eq!(jobs["apply"]["needs"], "plan");
    assert!(runs("bake").iter().any(|r| r.contains("packer build")));
    assert!(uploads("bake")
        .iter()
        .any(|p| p.contains("packer-manifest.json")));
    assert!(runs("plan").iter().any(|r| r.contains("reroll")
        && r.contains(" plan ")
        && r.contains("--out plan.bin")
        && r.contains("--detailed-exitcode")));
    assert!(uploads("plan").iter().any(|p| p.contains("plan.bin")));
    // An environment's reviewers approve before the apply, which applies the saved plan under
    // the shared lock and keeps the events.
    assert_eq!(jobs["apply"]["environment"], "production");
    let apply = runs("apply");
    assert!(
        apply.iter().any(|r| r.contains("apply plan.bin")
            && r.contains("--lock")
            && r.contains("--events events.jsonl")),
        "{apply:?}"
    );
    assert!(w["env"]["REROLL_LOCK"]
        .as_str()
        .is_some_and(|l| l.starts_with("s3://")));
    assert!(uploads("apply").iter().any(|p| p.contains("events.jsonl")));
}
