use std::path::Path;

use serde_json::Value;

use super::actions::{action_of, Command, ACTIONS};
use super::policy::{allowed, policy};
use crate::load::{load, Inputs};
use crate::stack::Stack;

/// A stack of one server group; `extra` goes into its `stack` block, `image` into its image,
/// `group` into its server group and `health` into its rollout's health block.
fn stack(stack: &str, image: &str, group: &str, health: &str, with_lb: bool) -> Stack {
    let lb = if with_lb {
        r#"
load_balancer "public" {
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  listener "http" {
    port    = 80
    forward = target_group.web
  }
}
"#
    } else {
        ""
    };
    let src = format!(
        r#"
stack "shop" {{
  region = "eu-west-1"
  {stack}
}}

image "app" {{
  owners      = ["self"]
  name        = "shop-app"
  most_recent = true
  {image}
}}

network "main" {{
  vpc_tags             = {{ Name = "shop" }}
  security_group_names = ["shop-web"]
}}

target_group "web" {{
  vpc_id = network.main.vpc_id
  port   = 8080
  health_check {{
    path = "/healthz"
  }}
}}
{lb}
server_group "web" {{
  image           = image.app
  instance_type   = "t3.micro"
  capacity        = {{ min = 1, desired = 1, max = 2 }}
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups   = [target_group.web]
  {group}
  rollout {{
    strategy = "rolling"
    health {{
      grace   = "0s"
      timeout = "5m"
      {health}
    }}
  }}
}}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), src).unwrap();
    let inputs = Inputs {
        allow_missing: true,
        ..Default::default()
    };
    match load(dir.path(), &inputs) {
        Ok((_, stack)) => stack,
        Err(d) => panic!("{}", d.render(false)),
    }
}

fn plain() -> Stack {
    stack("", "", "", "", true)
}

/// The statements of `policy` that allow `action`.
fn statements_with<'a>(policy: &'a Value, action: &str) -> Vec<&'a Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
        .collect()
}

fn allows(stack: &Stack, command: Command, action: &str) -> bool {
    allowed(&policy(stack, command, None))
        .iter()
        .any(|a| a == action)
}

#[test]
fn operations_map_to_actions() {
    for (op, action) in [
        ("EC2.DescribeImages", Some("ec2:DescribeImages")),
        (
            "AutoScaling.SuspendProcesses",
            Some("autoscaling:SuspendProcesses"),
        ),
        (
            "ELBv2.ModifyListener",
            Some("elasticloadbalancing:ModifyListener"),
        ),
        ("S3.HeadObject", Some("s3:GetObject")),
        ("STS.GetCallerIdentity", None),
    ] {
        assert_eq!(action_of(op).as_deref(), action, "{op}");
    }
}

#[test]
fn every_action_is_listed_once() {
    let mut seen = std::collections::BTreeSet::new();
    for (action, ..) in ACTIONS {
        assert!(seen.insert(*action), "{action} twice");
    }
}

#[test]
fn an_s3_lock_gets_its_objects_for_apply_and_destroy_only() {
    let locked = stack(r#"lock = "s3://shop-locks/reroll""#, "", "", "", true);
    for command in [Command::Apply, Command::Destroy] {
        let p = policy(&locked, command, None);
        for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
            let statements = statements_with(&p, action);
            assert_eq!(statements.len(), 1, "{command:?} {action}");
            assert_eq!(
                statements[0]["Resource"], "arn:aws:s3:::shop-locks/reroll/*",
                "{command:?} {action}"
            );
        }
    }
    let plan = allowed(&policy(&locked, Command::Plan, None));
    assert!(!plan.iter().any(|a| a.starts_with("s3:")), "{plan:?}");
    let unlocked = allowed(&policy(&plain(), Command::All, None));
    assert!(
        !unlocked.iter().any(|a| a.starts_with("s3:")),
        "{unlocked:?}"
    );
}

#[test]
fn alarms_add_describe_alarms() {
    let watched = stack("", "", "", r#"alarms = ["shop-5xx"]"#, true);
    for command in [Command::Plan, Command::Apply] {
        assert!(allows(&watched, command, "cloudwatch:DescribeAlarms"));
    }
    assert!(!allows(&plain(), Command::All, "cloudwatch:DescribeAlarms"));
}

#[test]
fn an_instance_profile_adds_pass_role_to_ec2_only() {
    let profiled = stack("", "", r#"instance_profile = "web""#, "", true);
    let p = policy(&profiled, Command::Apply, None);
    let statements = statements_with(&p, "iam:PassRole");
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["iam:PassedToService"],
        "ec2.amazonaws.com"
    );
    // IAM is global: no region condition.
    assert!(statements[0]["Condition"]["StringEquals"]
        .get("aws:RequestedRegion")
        .is_none());
    assert!(!allows(&profiled, Command::Plan, "iam:PassRole"));
    assert!(!allows(&plain(), Command::All, "iam:PassRole"));
}

#[test]
fn copy_from_adds_copy_image_and_the_source_region() {
    let copied = stack("", r#"copy_from = "us-east-1""#, "", "", true);
    let p = policy(&copied, Command::Apply, None);
    assert!(!statements_with(&p, "ec2:CopyImage").is_empty());
    for s in p["Statement"].as_array().unwrap() {
        let global = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("iam:"));
        if !global {
            assert_eq!(
                s["Condition"]["StringEquals"]["aws:RequestedRegion"],
                serde_json::json!(["eu-west-1", "us-east-1"]),
                "{s}"
            );
        }
    }
    assert!(!allows(&plain(), Command::All, "ec2:CopyImage"));
}

#[test]
fn the_region_flag_replaces_the_stacks() {
    let p = policy(&plain(), Command::Plan, Some("ap-south-1"));
    assert_eq!(
        p["Statement"][0]["Condition"]["StringEquals"]["aws:RequestedRegion"],
        serde_json::json!(["ap-south-1"])
    );
}

#[test]
fn listeners_are_scoped_by_the_stacks_load_balancers() {
    let p = policy(&plain(), Command::Apply, None);
    let listeners = statements_with(&p, "elasticloadbalancing:ModifyListener");
    assert_eq!(listeners.len(), 1);
    assert_eq!(
        listeners[0]["Resource"],
        serde_json::json!([
            "arn:aws:elasticloadbalancing:eu-west-1:*:listener/app/shop-public/*",
            "arn:aws:elasticloadbalancing:eu-west-1:*:listener/net/shop-public/*",
        ])
    );
}

#[test]
fn a_stack_without_load_balancers_gets_no_listener_statement() {
    let bare = stack("", "", "", "", false);
    let p = policy(&bare, Command::All, None);
    for s in p["Statement"].as_array().unwrap() {
        assert_ne!(s["Sid"], "ListenersOfTheStacksLoadBalancers", "{s}");
    }
    let actions = allowed(&p);
    for action in [
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:CreateLoadBalancer",
    ] {
        assert!(!actions.iter().any(|a| a == action), "{action}");
    }
}

#[test]
fn the_demo_stacks_policy() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/demo");
    let inputs = Inputs {
        allow_missing: true,
        ..Default::default()
    };
    let (_, stack) = load(&demo, &inputs).unwrap_or_else(|d| panic!("{}", d.render(false)));
    let text = serde_json::to_string_pretty(&policy(&stack, Command::All, None)).unwrap();
    insta::assert_snapshot!(text);
}
