//! `image { packer_manifest = …  build = … }` through the binary, against simulated accounts
//! holding the AMIs a Packer manifest names: the AMI of the stack's region, the Packer source
//! shown beside it in `plan` and `status`, a copy from another region made once, the located
//! errors, and a saved plan that covers the manifest.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reroll(cwd: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_POLL_SECONDS")
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

const RUN: &str = "6c1e9f2a-0d4b-4e8f-9a7b-1c2d3e4f5a6b";
const OLD_RUN: &str = "0a0a0a0a-1111-2222-3333-444444444444";

/// Two runs: the old one built `app` and `legacy`; the last one `app` (in us-east-1 and
/// eu-west-1) and `worker` twice.
fn manifest() -> String {
    serde_json::json!({
        "builds": [
            { "name": "app", "builder_type": "amazon-ebs", "build_time": 1767225600,
              "files": null, "artifact_id": "us-east-1:ami-0old0000000000000",
              "packer_run_uuid": OLD_RUN, "custom_data": null },
            { "name": "legacy", "builder_type": "amazon-ebs", "build_time": 1767225600,
              "files": null, "artifact_id": "us-east-1:ami-0leg0000000000000",
              "packer_run_uuid": OLD_RUN, "custom_data": null },
            { "name": "app", "builder_type": "amazon-ebs", "build_time": 1767312000,
              "files": null,
              "artifact_id": "eu-west-1:ami-0eu00000000000001,us-east-1:ami-0us00000000000001",
              "packer_run_uuid": RUN, "custom_data": null },
            { "name": "worker", "builder_type": "amazon-ebs", "build_time": 1767312000,
              "files": null, "artifact_id": "us-east-1:ami-0w100000000000000",
              "packer_run_uuid": RUN, "custom_data": null },
            { "name": "worker", "builder_type": "amazon-ebs", "build_time": 1767312000,
              "files": null, "artifact_id": "us-east-1:ami-0w200000000000000",
              "packer_run_uuid": RUN, "custom_data": null }
        ],
        "last_run_uuid": RUN
    })
    .to_string()
}

/// The simulator's rolling fixture with its image from a Packer manifest beside it.
fn stack(image_block: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(root().join("tests/fixtures/sim-rolling/main.hcl")).unwrap();
    let search = "image \"app\" {\n  owners      = [\"self\"]\n  name        = \"demo-app-${var.app_version}\"\n  most_recent = true\n}\n";
    assert!(src.contains(search), "the fixture changed shape");
    let src = src.replace(search, image_block);
    std::fs::write(dir.path().join("main.hcl"), src).unwrap();
    std::fs::write(dir.path().join("packer-manifest.json"), manifest()).unwrap();
    dir
}

const PACKER: &str = "image \"app\" {\n  packer_manifest = \"packer-manifest.json\"\n  build           = \"app\"\n}\n";

/// A simulated account in `region` (kept in `dir/state.json`) that also holds these images,
/// as (region, id, name).
fn account(dir: &Path, region: &str, images: &[(&str, &str, &str)]) -> String {
    let state = dir.join("state.json");
    let fixture = root().join("tests/fixtures/sim-rolling");
    let o = reroll(
        dir,
        &[
            "--cloud",
            "sim",
            "--sim-state",
            state.to_str().unwrap(),
            "--region",
            region,
            "plan",
            fixture.to_str().unwrap(),
        ],
    );
    code(&o, 0);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    for (r, id, name) in images {
        json["world"]["images"][r][id] = serde_json::json!({
            "id": id, "name": name, "owner": "123456789012",
            "creation_date": "2026-01-02T00:00:00.000Z", "state": "available",
            "architecture": "x86_64", "tags": {}
        });
    }
    std::fs::write(&state, json.to_string()).unwrap();
    state.to_str().unwrap().to_string()
}

fn sim<'a>(state: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--cloud", "sim", "--sim-state", state];
    all.extend_from_slice(args);
    all
}

#[test]
fn the_ami_of_the_stacks_region_is_planned_applied_and_shown_with_its_packer_build() {
    let dir = stack(PACKER);
    let state = account(
        dir.path(),
        "us-east-1",
        &[("us-east-1", "ami-0us00000000000001", "app-2026-01-02")],
    );
    let o = reroll(dir.path(), &sim(&state, &["plan", ".", "--json"]));
    let (out, _) = code(&o, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let image = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "server_group.web")
        .and_then(|c| {
            c["diffs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["name"] == "image")
        })
        .cloned()
        .expect("an image diff");
    assert_eq!(image["after"], "ami-0us00000000000001");
    assert_eq!(image["after_image"]["name"], "app-2026-01-02");
    assert_eq!(
        image["after_image"]["source"],
        format!("Packer build app, run {RUN}")
    );
    let o = reroll(dir.path(), &sim(&state, &["apply", ".", "--auto-approve"]));
    let (out, _) = code(&o, 0);
    let shown = format!(
        "ami-0us00000000000001 (app-2026-01-02, created 2026-01-02 00:00 UTC, from Packer build app, run {RUN})"
    );
    assert!(out.contains(&shown), "apply's plan:\n{out}");
    let (out, _) = code(&reroll(dir.path(), &sim(&state, &["status", "."])), 0);
    assert!(out.contains(&shown), "status:\n{out}");
    let (out, _) = code(&reroll(dir.path(), &sim(&state, &["plan", "."])), 0);
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn an_ami_built_elsewhere_is_copied_once_with_copy_from() {
    let block = PACKER.replace("}\n", "  copy_from       = \"us-east-1\"\n}\n");
    let dir = stack(&block);
    let state = account(
        dir.path(),
        "eu-west-2",
        &[("us-east-1", "ami-0us00000000000001", "app-2026-01-02")],
    );
    let (out, _) = code(
        &reroll(
            dir.path(),
            &sim(&state, &["--region", "eu-west-2", "plan", "."]),
        ),
        0,
    );
    assert!(
        out.contains("(known after apply)"),
        "the copy's id is not known yet:\n{out}"
    );
    let o = reroll(
        dir.path(),
        &sim(
            &state,
            &["--region", "eu-west-2", "apply", ".", "--auto-approve"],
        ),
    );
    code(&o, 0);
    // The next plan finds the copy by the original it records, rather than copying again.
    let (out, _) = code(
        &reroll(
            dir.path(),
            &sim(&state, &["--region", "eu-west-2", "plan", "."]),
        ),
        0,
    );
    assert!(out.contains("No changes"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let copies: Vec<&serde_json::Value> = json["world"]["images"]["eu-west-2"]
        .as_object()
        .map(|m| {
            m.values()
                .filter(|i| i["name"] == "app-2026-01-02")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(
        copies[0]["tags"]["reroll:source-image"],
        "us-east-1:ami-0us00000000000001"
    );
}

#[test]
fn a_manifest_that_cannot_give_the_image_is_a_located_error() {
    // (image block, command, what the error says, where)
    let cases: [(String, &[&str], &str, &str); 7] = [
        (
            PACKER.replace("packer-manifest.json", "missing.json"),
            &["validate", "."],
            "image \"app\": the Packer manifest ",
            "main.hcl:37:21",
        ),
        (
            PACKER.replace("\"app\"\n", "\"nope\"\n"),
            &["validate", "."],
            "packer-manifest.json: no Packer build is named \"nope\"",
            "main.hcl:38:21",
        ),
        (
            PACKER.replace("\"app\"\n", "\"legacy\"\n"),
            &["validate", "."],
            "has no build \"legacy\" (an earlier run has one)",
            "main.hcl:38:21",
        ),
        (
            PACKER.replace("\"app\"\n", "\"worker\"\n"),
            &["validate", "."],
            "has 2 builds named \"worker\"",
            "main.hcl:38:21",
        ),
        (
            PACKER.replace("}\n", "  name = \"x\"\n}\n"),
            &["validate", "."],
            "`name` searches for an image, and `packer_manifest` already names it",
            "main.hcl:39:3",
        ),
        (
            PACKER.to_string(),
            &["--region", "ap-south-1", "plan", "."],
            "has no AMI for ap-south-1: it has eu-west-1, us-east-1",
            "main.hcl:36:1",
        ),
        (
            PACKER.to_string(),
            &["--region", "eu-west-1", "plan", "."],
            "names ami-0eu00000000000001 for eu-west-1, and there is no such available image there",
            "main.hcl:36:1",
        ),
    ];
    for (block, args, says, at) in cases {
        let dir = stack(&block);
        let region = args
            .iter()
            .position(|a| *a == "--region")
            .map(|i| args[i + 1])
            .unwrap_or("us-east-1");
        let state = account(dir.path(), region, &[]);
        let (_, err) = code(&reroll(dir.path(), &sim(&state, args)), 1);
        assert!(err.contains(says), "{args:?}: wanted {says:?} in:\n{err}");
        assert!(err.contains(at), "{args:?}: wanted {at} in:\n{err}");
    }
}

#[test]
fn a_saved_plan_covers_the_manifest() {
    let dir = stack(PACKER);
    let state = account(
        dir.path(),
        "us-east-1",
        &[("us-east-1", "ami-0us00000000000001", "app-2026-01-02")],
    );
    code(
        &reroll(
            dir.path(),
            &sim(&state, &["plan", ".", "--out", "plan.bin"]),
        ),
        0,
    );
    // A newer bake after the plan was made: the plan no longer says what would run.
    let newer = manifest().replace(RUN, "ffffffff-0000-0000-0000-000000000000");
    std::fs::write(dir.path().join("packer-manifest.json"), newer).unwrap();
    let (_, err) = code(&reroll(dir.path(), &sim(&state, &["apply", "plan.bin"])), 1);
    assert!(
        err.contains("or files they read, changed since the plan was saved"),
        "{err}"
    );
}
