//! Restore into another region, against a private emulator: region A (us-east-1) holds the
//! baked image only, region B (us-west-2) the network only. `stacks/dr` applied with
//! `--region us-west-2` plans the copy, copies the image, creates everything in B from
//! nothing, and leaves A as it was.

mod common {
    pub mod emulator;
}

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use common::emulator::Emulator;

const A: &str = "us-east-1";
const B: &str = "us-west-2";

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

/// Everything a region holds that reroll could create or change, as sorted lines.
fn region_contents(emu: &Emulator, region: &str) -> String {
    emu.python(&format!(
        r#"
import boto3, os
kw = dict(region_name="{region}", endpoint_url=os.environ["ENDPOINT"])
ec2 = boto3.client("ec2", **kw)
asg = boto3.client("autoscaling", **kw)
elb = boto3.client("elbv2", **kw)
lines = []
for i in ec2.describe_images(Owners=["self"])["Images"]:
    tags = sorted((t["Key"], t["Value"]) for t in i.get("Tags", []))
    lines.append(f"image {{i['ImageId']}} {{i['Name']}} {{i['State']}} {{tags}}")
for r in ec2.describe_instances()["Reservations"]:
    for i in r["Instances"]:
        lines.append(f"instance {{i['InstanceId']}} {{i['State']['Name']}}")
for v in ec2.describe_vpcs()["Vpcs"]:
    if not v.get("IsDefault"):
        lines.append(f"vpc {{v['VpcId']}}")
for t in ec2.describe_launch_templates()["LaunchTemplates"]:
    lines.append(f"launch template {{t['LaunchTemplateName']}}")
for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
    lines.append(f"group {{g['AutoScalingGroupName']}} {{g['DesiredCapacity']}}")
for t in elb.describe_target_groups()["TargetGroups"]:
    lines.append(f"target group {{t['TargetGroupName']}}")
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    lines.append(f"load balancer {{lb['LoadBalancerName']}}")
print("\n".join(sorted(lines)))
"#
    ))
}

#[test]
fn a_stack_is_restored_into_a_region_that_holds_only_its_network() {
    let emu = Emulator::start();
    let seed = emu.seed_split(&[A, B]);
    let source = seed["ami_ids"][0].as_str().unwrap().to_string();
    let a_before = region_contents(&emu, A);
    let b_before = region_contents(&emu, B);
    assert!(
        a_before.contains(&format!("image {source} demo-app-1.0.0")),
        "{a_before}"
    );
    assert!(!a_before.contains("vpc "), "{a_before}");
    assert!(!b_before.contains("image "), "{b_before}");

    // The plan shows the copy: the source region, AMI id and name, its snapshots and an
    // estimate; the server group's image is known after the copy.
    let (plan, _) = code(&reroll(&emu, &["plan", "stacks/dr", "--region", B]), 0);
    let copy_line = plan
        .lines()
        .find(|l| l.contains("image.app"))
        .unwrap_or_else(|| panic!("no copy in the plan:\n{plan}"));
    for want in [
        "+ image.app".to_string(),
        format!("copy {source} (demo-app-1.0.0) from {A}: snap-"),
        " GiB; about ".to_string(),
    ] {
        assert!(copy_line.contains(&want), "{want:?} not in {copy_line:?}");
    }
    assert!(
        plan.contains("Plan: 1 image to copy, 3 to create."),
        "{plan}"
    );
    let (json, _) = code(
        &reroll(&emu, &["plan", "stacks/dr", "--region", B, "--json"]),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["copies"][0]["source_image_id"], source.as_str());
    assert_eq!(v["copies"][0]["source_region"], A);
    assert_eq!(v["summary"]["copy"], 1);

    let (_, log) = code(
        &reroll(
            &emu,
            &["apply", "stacks/dr", "--region", B, "--auto-approve"],
        ),
        0,
    );
    assert!(log.contains("copying image into this region"), "{log}");
    assert!(log.contains("image copy available"), "{log}");

    // Region B: one copy, tagged with the stack's tags and its source, serving 3 instances.
    let b_after = region_contents(&emu, B);
    let copies: Vec<&str> = b_after
        .lines()
        .filter(|l| l.starts_with("image "))
        .collect();
    assert_eq!(copies.len(), 1, "{b_after}");
    for want in [
        format!("('reroll:source-image', '{A}:{source}')"),
        "('reroll:stack', 'dr')".to_string(),
        "('reroll:address', 'image.app')".to_string(),
        "('team', 'demo')".to_string(),
        "('app', 'demo')".to_string(),
        " available ".to_string(),
    ] {
        assert!(copies[0].contains(&want), "{want:?} not in {}", copies[0]);
    }
    assert!(b_after.contains("group dr-web-v001 3"), "{b_after}");
    assert!(b_after.contains("target group dr-web"), "{b_after}");
    let (status, _) = code(&reroll(&emu, &["status", "stacks/dr", "--region", B]), 0);
    assert!(status.contains("dr-web-v001"), "{status}");

    // A second plan finds the copy: no changes, and no second copy.
    let (again, _) = code(&reroll(&emu, &["plan", "stacks/dr", "--region", B]), 0);
    assert!(again.contains("Plan: no changes."), "{again}");
    assert_eq!(
        region_contents(&emu, B)
            .lines()
            .filter(|l| l.starts_with("image "))
            .count(),
        1
    );

    // Region A is untouched.
    assert_eq!(region_contents(&emu, A), a_before);
}

#[test]
fn a_saved_plan_copies_the_image_it_named_or_nothing() {
    let emu = Emulator::start();
    emu.seed_split(&[A, B]);
    let dir = tempfile::tempdir().unwrap();
    let planfile = dir.path().join("dr.plan");
    let planfile = planfile.to_str().unwrap();
    code(
        &reroll(
            &emu,
            &["plan", "stacks/dr", "--region", B, "--out", planfile],
        ),
        0,
    );
    // A newer bake of the same name in the source region: the approved plan named the old one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    emu.python(&format!(
        r#"
import boto3, os
ec2 = boto3.client("ec2", region_name="{A}", endpoint_url=os.environ["ENDPOINT"])
ec2.register_image(Name="demo-app-1.0.0", Architecture="x86_64", RootDeviceName="/dev/xvda",
    VirtualizationType="hvm", BlockDeviceMappings=[{{"DeviceName": "/dev/xvda", "Ebs": {{"VolumeSize": 8}}}}])
"#
    ));
    let (_, err) = code(&reroll(&emu, &["apply", planfile, "--auto-approve"]), 1);
    assert!(err.contains("run `reroll plan` again"), "{err}");
    let b = region_contents(&emu, B);
    assert!(!b.contains("image "), "nothing may be copied: {b}");
}

#[test]
fn preflight_names_an_instance_profile_the_account_lacks() {
    let emu = Emulator::start();
    emu.seed_split(&[A, B]);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("stacks/dr/main.hcl"))
        .unwrap()
        .replace(
            "  target_groups   = [target_group.web]\n",
            "  target_groups   = [target_group.web]\n  instance_profile = \"dr-web\"\n",
        );
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    let stack = dir.path().to_str().unwrap();
    let warning = "instance profile \"dr-web\" does not exist in this account";

    let (plan, _) = code(&reroll(&emu, &["plan", stack, "--region", B]), 0);
    assert!(plan.contains(&format!("Warning: {warning}")), "{plan}");
    assert!(
        plan.contains("  missing  instance profile \"dr-web\""),
        "{plan}"
    );
    let (_, err) = code(
        &reroll(&emu, &["plan", stack, "--region", B, "--strict"]),
        1,
    );
    assert!(err.contains(warning), "{err}");

    emu.python(
        r#"
import boto3, os
iam = boto3.client("iam", region_name="us-east-1", endpoint_url=os.environ["ENDPOINT"])
iam.create_instance_profile(InstanceProfileName="dr-web")
"#,
    );
    let (plan, _) = code(
        &reroll(&emu, &["plan", stack, "--region", B, "--strict"]),
        0,
    );
    assert!(!plan.contains("instance profile"), "{plan}");
}
