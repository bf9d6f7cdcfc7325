//! The real binary deploys and rolls a fleet with launch template options and Auto Scaling
//! settings on a private emulator; boto3 reads the launch template and the group of the new
//! generation back, and the test asserts what AWS was asked to hold.
//!
//! moto (5.2.5) stores launch template data as sent, and Auto Scaling's termination policies,
//! capacity rebalance, mixed instances policy, scaling policies, scheduled actions and
//! lifecycle hooks. It ignores `DefaultInstanceWarmup` and the `LifecycleHookSpecificationList`
//! of CreateAutoScalingGroup (reroll puts hooks again with PutLifecycleHook, which it keeps),
//! and never holds an instance in `Pending:Wait`: those are tested on the simulator
//! (`tests/sim_fleet.rs`). Its UpdateAutoScalingGroup also drops a group's
//! `MixedInstancesPolicy` (and with it the launch template) when the request does not repeat
//! it, which AWS does not: the policy is read from the first generation before any update,
//! and each generation's launch template version by the template's name.

mod common {
    pub mod emulator;
}

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use common::emulator::Emulator;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> String {
    root().join("tests/fixtures/fleet").display().to_string()
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
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What boto3 reads back of Auto Scaling group `group` and of version `version` of the
/// stack's launch template, the one the group launches from.
fn read_back(emu: &Emulator, group: &str, version: &str) -> Value {
    let script = r#"
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
asg = boto3.client("autoscaling", **kw)
ec2 = boto3.client("ec2", **kw)
name = sys.argv[2]
g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
data = ec2.describe_launch_template_versions(
    LaunchTemplateName=sys.argv[3], Versions=[sys.argv[4]]
)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
print(json.dumps({
    "group": g,
    "template": data,
    "policies": asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"],
    "scheduled": asg.describe_scheduled_actions(
        AutoScalingGroupName=name)["ScheduledUpdateGroupActions"],
    "hooks": asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"],
}, default=str))
"#;
    let out = std::process::Command::new(root().join("localstack/.venv/bin/python"))
        .args(["-c", script, &emu.endpoint, group, "fleet-web", version])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tags_of(specs: &Value, kind: &str) -> Vec<(String, String)> {
    let spec = specs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ResourceType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} tag specification in {specs}"));
    let mut tags: Vec<(String, String)> = spec["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().to_string(),
                t["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tags.sort();
    tags
}

fn has(tags: &[(String, String)], k: &str, v: &str) -> bool {
    tags.iter().any(|(a, b)| a == k && b == v)
}

#[test]
fn a_new_generation_carries_every_launch_option_and_group_setting() {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let stack = fixture();
    expect_code(&reroll(&emu, &["apply", &stack, "--auto-approve"]), 0);
    let first = read_back(&emu, "fleet-web-v001", "1");
    let mixed = &first["group"]["MixedInstancesPolicy"];
    let spec = &mixed["LaunchTemplate"]["LaunchTemplateSpecification"];
    assert_eq!(spec["LaunchTemplateName"], "fleet-web", "{mixed}");
    assert_eq!(spec["Version"], "1");
    let types: Vec<&str> = mixed["LaunchTemplate"]["Overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["InstanceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["t3.micro", "t3a.micro"], "{mixed}");
    let d = &mixed["InstancesDistribution"];
    assert_eq!(d["OnDemandBaseCapacity"], 1, "{d}");
    assert_eq!(d["OnDemandPercentageAboveBaseCapacity"], 0);
    assert_eq!(d["SpotAllocationStrategy"], "price-capacity-optimized");

    let o = reroll(
        &emu,
        &[
            "apply",
            &stack,
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
        ],
    );
    expect_code(&o, 0);
    let o = reroll(
        &emu,
        &[
            "plan",
            &stack,
            "-var",
            "app_version=1.1.0",
            "--detailed-exitcode",
        ],
    );
    expect_code(&o, 0);

    let v = read_back(&emu, "fleet-web-v002", "2");
    let t = &v["template"];
    // Item by item, as the stack wrote them.
    assert_eq!(t["MetadataOptions"]["HttpTokens"], "required", "{t}");
    assert_eq!(t["MetadataOptions"]["HttpPutResponseHopLimit"], 2);
    assert_eq!(t["KeyName"], "ops");
    assert_eq!(t["EbsOptimized"], true);
    assert_eq!(t["Monitoring"]["Enabled"], true);
    assert_eq!(t["CreditSpecification"]["CpuCredits"], "unlimited");
    assert_eq!(t["Placement"]["Tenancy"], "default");
    let bd = &t["BlockDeviceMappings"][0];
    assert_eq!(bd["DeviceName"], "/dev/xvda");
    let ebs = &bd["Ebs"];
    assert_eq!(
        (
            &ebs["VolumeSize"],
            &ebs["VolumeType"],
            &ebs["Iops"],
            &ebs["Throughput"],
            &ebs["Encrypted"],
            &ebs["KmsKeyId"]
        ),
        (
            &Value::from(30),
            &Value::from("gp3"),
            &Value::from(4000),
            &Value::from(250),
            &Value::from(true),
            &Value::from("alias/shop")
        ),
        "{bd}"
    );
    let ni = &t["NetworkInterfaces"][0];
    assert_eq!(ni["DeviceIndex"], 0, "{ni}");
    assert_eq!(ni["AssociatePublicIpAddress"], true);
    assert_eq!(ni["DeleteOnTermination"], true);
    assert_eq!(
        ni["Groups"].as_array().map(Vec::len),
        Some(1),
        "the group's security group moves onto the primary interface: {ni}"
    );
    assert!(
        t.get("SecurityGroupIds").is_none(),
        "security groups in one place only: {t}"
    );
    let instance = tags_of(&t["TagSpecifications"], "instance");
    let volume = tags_of(&t["TagSpecifications"], "volume");
    assert!(has(&instance, "patch-group", "web"), "{instance:?}");
    assert!(!has(&volume, "patch-group", "web"), "{volume:?}");
    assert!(has(&volume, "backup", "daily"), "{volume:?}");
    assert!(!has(&instance, "backup", "daily"), "{instance:?}");
    for tags in [&instance, &volume] {
        assert!(has(tags, "team", "shop") && has(tags, "reroll:stack", "fleet"));
    }

    let g = &v["group"];
    assert_eq!(g["HealthCheckType"], "ELB", "{g}");
    assert_eq!(g["HealthCheckGracePeriod"], 90);
    assert_eq!(
        g["TerminationPolicies"],
        serde_json::json!(["OldestLaunchTemplate", "Default"])
    );
    assert_eq!(g["CapacityRebalance"], true);
    let policy = |name: &str| {
        v["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["PolicyName"] == name)
            .unwrap_or_else(|| panic!("no policy {name}: {}", v["policies"]))
            .clone()
    };
    let cpu = policy("cpu");
    assert_eq!(cpu["PolicyType"], "TargetTrackingScaling");
    let tt = &cpu["TargetTrackingConfiguration"];
    assert_eq!(
        tt["PredefinedMetricSpecification"]["PredefinedMetricType"], "ASGAverageCPUUtilization",
        "{tt}"
    );
    assert_eq!(tt["TargetValue"], 55.5);
    let steps = policy("steps");
    assert_eq!(steps["PolicyType"], "StepScaling");
    assert_eq!(steps["AdjustmentType"], "ChangeInCapacity");
    assert_eq!(steps["MetricAggregationType"], "Average");
    let adj = steps["StepAdjustments"].as_array().unwrap();
    assert_eq!(adj.len(), 2, "{adj:?}");
    assert_eq!(adj[0]["ScalingAdjustment"], 1);
    assert_eq!(adj[0]["MetricIntervalLowerBound"], 0.0);
    assert_eq!(adj[0]["MetricIntervalUpperBound"], 20.0);
    assert_eq!(adj[1]["ScalingAdjustment"], 2);

    let night = &v["scheduled"][0];
    assert_eq!(night["ScheduledActionName"], "night", "{}", v["scheduled"]);
    assert_eq!(night["Recurrence"], "0 22 * * *");
    assert_eq!(
        (&night["MinSize"], &night["MaxSize"]),
        (&Value::from(2), &Value::from(2))
    );

    let mut hooks: Vec<(String, String, i64, String)> = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["LifecycleHookName"].as_str().unwrap().to_string(),
                h["LifecycleTransition"].as_str().unwrap().to_string(),
                h["HeartbeatTimeout"].as_i64().unwrap(),
                h["DefaultResult"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    hooks.sort();
    assert_eq!(
        hooks,
        [
            (
                "boot".to_string(),
                "autoscaling:EC2_INSTANCE_LAUNCHING".to_string(),
                600,
                "CONTINUE".to_string()
            ),
            (
                "drain".to_string(),
                "autoscaling:EC2_INSTANCE_TERMINATING".to_string(),
                300,
                "CONTINUE".to_string()
            ),
        ]
    );
}

/// `count` and `for_each` on the emulator: each copy gets its own Auto Scaling group, target
/// group and load balancer, tagged with an address load balancing accepts; a second plan
/// finds every copy; fewer copies delete only those; destroy removes the rest.
#[test]
fn copies_are_deployed_found_again_and_removed_on_their_own() {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let stack = root().join("tests/fixtures/copies").display().to_string();
    expect_code(&reroll(&emu, &["apply", &stack, "--auto-approve"]), 0);
    let read = r#"
import boto3, json, os
kw = dict(endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
asg = boto3.client("autoscaling", **kw)
elb = boto3.client("elbv2", **kw)
groups = sorted(g["AutoScalingGroupName"] for g in
                asg.describe_auto_scaling_groups()["AutoScalingGroups"])
tgs = elb.describe_target_groups()["TargetGroups"]
tags = elb.describe_tags(ResourceArns=[t["TargetGroupArn"] for t in tgs])["TagDescriptions"] if tgs else []
addresses = sorted(next(t["Value"] for t in d["Tags"] if t["Key"] == "reroll:address") for d in tags)
lbs = sorted(l["LoadBalancerName"] for l in elb.describe_load_balancers()["LoadBalancers"])
print(json.dumps({"groups": groups, "target_groups": addresses, "load_balancers": lbs}))
"#;
    let account = || -> Value { serde_json::from_str(&emu.python(read)).unwrap() };
    assert_eq!(
        account(),
        serde_json::json!({
            "groups": ["copies-shard-0-v001", "copies-shard-1-v001", "copies-zone-a-v001", "copies-zone-b-v001"],
            "target_groups": ["target_group.shard/0", "target_group.shard/1"],
            "load_balancers": ["copies-shard-0", "copies-shard-1"],
        })
    );
    expect_code(&reroll(&emu, &["plan", &stack, "--detailed-exitcode"]), 0);

    let fewer = ["-var", "shards=1", "-var", "zones=[\"a\"]"];
    let o = reroll(&emu, &[&["plan", &stack][..], &fewer].concat());
    expect_code(&o, 0);
    let text = String::from_utf8_lossy(&o.stdout);
    for removed in [
        "- server_group.shard[1]",
        "- server_group.zone[\"b\"]",
        "- target_group.shard[1]",
        "- load_balancer.shard[1]",
    ] {
        assert!(text.contains(removed), "{removed} in:\n{text}");
    }
    expect_code(
        &reroll(
            &emu,
            &[&["apply", &stack, "--auto-approve"][..], &fewer].concat(),
        ),
        0,
    );
    assert_eq!(
        account(),
        serde_json::json!({
            "groups": ["copies-shard-0-v001", "copies-zone-a-v001"],
            "target_groups": ["target_group.shard/0"],
            "load_balancers": ["copies-shard-0"],
        })
    );
    expect_code(
        &reroll(
            &emu,
            &[&["plan", &stack, "--detailed-exitcode"][..], &fewer].concat(),
        ),
        0,
    );
    expect_code(
        &reroll(
            &emu,
            &[&["destroy", &stack, "--auto-approve"][..], &fewer].concat(),
        ),
        0,
    );
    assert_eq!(
        account(),
        serde_json::json!({"groups": [], "target_groups": [], "load_balancers": []})
    );
}
