//! `plan --forecast` against a private emulator: the observed account is copied into a
//! simulated one, the plan is played forward there, and the real account does not change.

mod common {
    pub mod emulator;
}

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use common::emulator::Emulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

#[track_caller]
fn ok(o: &Output) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    out
}

/// What the account holds, as reroll reads it: the observed digest of a plan, and the
/// status table (generations, capacities, health).
fn account(emu: &Emulator, stack: &str) -> (String, String) {
    let plan = ok(&reroll(emu, &["plan", stack, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let status = ok(&reroll(emu, &["status", stack]));
    (v["observed_digest"].as_str().unwrap().to_string(), status)
}

#[test]
fn a_forecast_prints_a_timeline_and_leaves_the_account_alone() {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let stack = root().join("tests/fixtures/sim-rolling");
    let stack = stack.to_str().unwrap();
    let small = ["-var", "instances=4"];
    ok(&reroll(
        &emu,
        &[&["apply", stack][..], &small, &["--auto-approve"]].concat(),
    ));
    let before = account(&emu, stack);
    let instances_before = emu_instances(&emu);

    let o = reroll(
        &emu,
        &[
            &["plan", stack][..],
            &small,
            &["-var", "app_version=1.1.0", "--forecast"],
        ]
        .concat(),
    );
    let out = ok(&o);
    assert!(out.contains("Plan: 1 to replace."), "{out}");
    assert!(out.contains("a prediction from a model"), "{out}");
    assert!(
        out.contains("server_group.web  v001 → v002, 4 instances: ok"),
        "{out}"
    );
    assert!(!out.contains("planned server_group.web as"), "{out}");
    // 25% of 4: four waves of one, each with a start, a healthy and a drained time.
    let waves: Vec<&str> = out
        .lines()
        .filter(|l| {
            let t: Vec<&str> = l.split_whitespace().take(3).collect();
            t.len() == 3 && t.iter().all(|x| x.parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(waves.len(), 4, "{out}");
    assert!(waves.iter().all(|w| !w.contains(" - ")), "{out}");
    let duration = out
        .lines()
        .find_map(|l| l.strip_prefix("Predicted duration: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        duration.contains('m'),
        "minutes of simulated time: {duration}"
    );

    assert_eq!(
        account(&emu, stack),
        before,
        "the forecast changed the account"
    );
    assert_eq!(emu_instances(&emu), instances_before);
}

/// Every instance id and state in the emulator, whoever owns it.
fn emu_instances(emu: &Emulator) -> String {
    let script = "import boto3,sys\n\
        ec2=boto3.client('ec2',endpoint_url=sys.argv[1],region_name='us-east-1',\
        aws_access_key_id='test',aws_secret_access_key='test')\n\
        ids=sorted((i['InstanceId'],i['State']['Name']) for p in \
        ec2.get_paginator('describe_instances').paginate() for r in p['Reservations'] \
        for i in r['Instances'])\n\
        print(ids)\n";
    let out = std::process::Command::new(root().join("localstack/.venv/bin/python"))
        .args(["-c", script, &emu.endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
