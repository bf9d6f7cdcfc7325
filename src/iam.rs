//! `reroll iam-policy`: the least-privilege IAM policy one command needs for one stack.
//!
//! Pure: a [`Stack`] and a [`Command`] in, a policy document out. Every action reroll can
//! call is in [`ACTIONS`] with the commands that call it and how its resources can be
//! narrowed; the stack decides which optional ones are needed (alarms, an S3 lock, image
//! copies, instance profiles, instance mode).
//!
//! - Reads (`Describe*`) cannot be narrowed by resource in EC2, Auto Scaling or ELBv2: they
//!   are on `*`.
//! - Creates carry the stack's tag in the request: `aws:RequestTag/reroll:stack` must be the
//!   stack's name, so reroll can only create what it will recognise as its own.
//! - Changes and deletes need the tag on the resource: `aws:ResourceTag/reroll:stack`.
//!   Listeners carry no tag of reroll's, so they are narrowed by the ARNs of the stack's load
//!   balancers instead.
//! - Where the stack names its region, every statement is limited to it (and to the regions
//!   images are copied from) with `aws:RequestedRegion`.
//!
//! `sts:GetCallerIdentity` (the account the lock is keyed on) needs no permission.

use serde_json::{json, Value};

use crate::lock::LockSetting;
use crate::stack::{GroupMode, Stack};

/// The command a policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `validate` needs nothing; `plan` (and `status`) read.
    Plan,
    /// `apply`, and `rollback` and `force-unlock`, which need a subset of it.
    Apply,
    /// `destroy`.
    Destroy,
    /// All of the above.
    All,
}

impl Command {
    fn includes(self, needed_by: &[Command]) -> bool {
        self == Command::All || needed_by.contains(&self)
    }
}

/// How an action's resources are narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No resource-level permission exists (reads): `*`.
    Any,
    /// A create: the request must tag what it creates with the stack's name.
    RequestTag,
    /// A change or delete of something that carries the stack's tag.
    ResourceTag,
    /// EC2 `RunInstances`: tagged instances and volumes, and the untagged things they use.
    Launch,
    /// EC2 `CreateTags` while creating (RunInstances, CreateLaunchTemplate, CopyImage), or on
    /// the stack's own resources.
    Tagging,
    /// The listeners of the stack's load balancers.
    Listeners,
    /// The objects of the stack's S3 lock.
    LockObjects,
    /// Passing an instance profile's role to EC2.
    PassRole,
    /// The KMS keys image copies encrypt with.
    CopyKeys,
}

/// When the stack needs an action at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Always,
    Alarms,
    SharedLock,
    Copies,
    EncryptedCopies,
    InstanceProfiles,
    InstanceMode,
    LoadBalancers,
}

use Command::{Apply, Destroy, Plan};

const READ: &[Command] = &[Plan, Apply, Destroy];
const APPLY: &[Command] = &[Apply];
const CHANGE: &[Command] = &[Apply, Destroy];

/// Every IAM action reroll calls: (action, commands, scope, when).
const ACTIONS: &[(&str, &[Command], Scope, Needs)] = &[
    // Reads: observe, lookups, preflight.
    ("ec2:DescribeImages", READ, Scope::Any, Needs::Always),
    ("ec2:DescribeInstances", READ, Scope::Any, Needs::Always),
    ("ec2:DescribeInstanceTypes", READ, Scope::Any, Needs::Always),
    ("ec2:DescribeKeyPairs", READ, Scope::Any, Needs::Always),
    (
        "ec2:DescribeLaunchTemplates",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "ec2:DescribeLaunchTemplateVersions",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "ec2:DescribeSecurityGroups",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    ("ec2:DescribeSubnets", READ, Scope::Any, Needs::Always),
    ("ec2:DescribeVpcs", READ, Scope::Any, Needs::Always),
    (
        "autoscaling:DescribeAccountLimits",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "autoscaling:DescribeAutoScalingGroups",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "autoscaling:DescribeInstanceRefreshes",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "autoscaling:DescribeScalingActivities",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeAccountLimits",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeListeners",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeTags",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeTargetGroups",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeTargetHealth",
        READ,
        Scope::Any,
        Needs::Always,
    ),
    (
        "servicequotas:GetServiceQuota",
        &[Plan, Apply],
        Scope::Any,
        Needs::Always,
    ),
    (
        "cloudwatch:DescribeAlarms",
        &[Plan, Apply],
        Scope::Any,
        Needs::Alarms,
    ),
    // Creates, tagged with the stack in the request.
    (
        "ec2:CreateLaunchTemplate",
        APPLY,
        Scope::RequestTag,
        Needs::Always,
    ),
    (
        "autoscaling:CreateAutoScalingGroup",
        APPLY,
        Scope::RequestTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:CreateTargetGroup",
        APPLY,
        Scope::RequestTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:CreateLoadBalancer",
        APPLY,
        Scope::RequestTag,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:AddTags",
        APPLY,
        Scope::RequestTag,
        Needs::Always,
    ),
    // Auto Scaling launches from a launch template with the caller's RunInstances (and
    // instance mode calls it directly).
    ("ec2:RunInstances", APPLY, Scope::Launch, Needs::Always),
    ("ec2:CreateTags", APPLY, Scope::Tagging, Needs::Always),
    ("ec2:CopyImage", APPLY, Scope::Any, Needs::Copies),
    // Changes and deletes of the stack's own resources.
    (
        "ec2:CreateLaunchTemplateVersion",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "ec2:DeleteLaunchTemplate",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "ec2:DeleteLaunchTemplateVersions",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "ec2:TerminateInstances",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:AttachLoadBalancerTargetGroups",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:CreateOrUpdateTags",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:DeleteAutoScalingGroup",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:DetachInstances",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:DetachLoadBalancerTargetGroups",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:PutLifecycleHook",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:PutScalingPolicy",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:PutScheduledUpdateGroupAction",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:ResumeProcesses",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:SuspendProcesses",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:UpdateAutoScalingGroup",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DeleteLoadBalancer",
        CHANGE,
        Scope::ResourceTag,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:DeleteTargetGroup",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DeregisterTargets",
        CHANGE,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroup",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:RegisterTargets",
        APPLY,
        Scope::ResourceTag,
        Needs::InstanceMode,
    ),
    (
        "elasticloadbalancing:SetSecurityGroups",
        APPLY,
        Scope::ResourceTag,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:SetSubnets",
        APPLY,
        Scope::ResourceTag,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:CreateListener",
        APPLY,
        Scope::ResourceTag,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:ModifyListener",
        CHANGE,
        Scope::Listeners,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:DeleteListener",
        CHANGE,
        Scope::Listeners,
        Needs::LoadBalancers,
    ),
    // The shared lock.
    (
        "s3:GetObject",
        CHANGE,
        Scope::LockObjects,
        Needs::SharedLock,
    ),
    (
        "s3:PutObject",
        CHANGE,
        Scope::LockObjects,
        Needs::SharedLock,
    ),
    (
        "s3:DeleteObject",
        CHANGE,
        Scope::LockObjects,
        Needs::SharedLock,
    ),
    // What launches with an instance profile, and encrypted copies.
    (
        "iam:PassRole",
        APPLY,
        Scope::PassRole,
        Needs::InstanceProfiles,
    ),
    (
        "kms:CreateGrant",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
    (
        "kms:Decrypt",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
    (
        "kms:DescribeKey",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
    (
        "kms:Encrypt",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
    (
        "kms:GenerateDataKeyWithoutPlaintext",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
    (
        "kms:ReEncrypt*",
        APPLY,
        Scope::CopyKeys,
        Needs::EncryptedCopies,
    ),
];

/// The IAM action an SDK operation named as in `--stats` (`EC2.DescribeImages`,
/// `S3.PutObject`) needs; `None` for one that needs no permission (`STS.GetCallerIdentity`).
pub fn action_of(operation: &str) -> Option<String> {
    let (service, op) = operation.split_once('.')?;
    let prefix = match service {
        "EC2" => "ec2",
        "AutoScaling" => "autoscaling",
        "ELBv2" => "elasticloadbalancing",
        "CloudWatch" => "cloudwatch",
        "ServiceQuotas" => "servicequotas",
        "S3" => "s3",
        "STS" if op == "GetCallerIdentity" => return None,
        other => other,
    };
    let op = match (prefix, op) {
        ("s3", "HeadObject") => "GetObject",
        (_, op) => op,
    };
    Some(format!("{prefix}:{op}"))
}

/// What the stack uses, for [`Needs`].
struct Uses {
    alarms: bool,
    lock: Option<(String, String)>,
    copy_regions: Vec<String>,
    copy_keys: Vec<String>,
    instance_profiles: bool,
    instance_mode: bool,
    load_balancers: Vec<String>,
}

impl Uses {
    fn of(stack: &Stack) -> Self {
        let mut copy_regions: Vec<String> = stack
            .images
            .iter()
            .filter_map(|i| i.copy_from.clone())
            .collect();
        copy_regions.sort();
        copy_regions.dedup();
        let mut copy_keys: Vec<String> = stack
            .images
            .iter()
            .filter(|i| i.copy_from.is_some())
            .filter_map(|i| i.copy_kms_key.clone())
            .collect();
        copy_keys.sort();
        copy_keys.dedup();
        Uses {
            alarms: stack
                .server_groups
                .iter()
                .any(|g| !g.rollout.health.alarms.is_empty()),
            lock: match &stack.lock {
                LockSetting::Shared(url) => Some((url.bucket.clone(), url.prefix.clone())),
                _ => None,
            },
            copy_regions,
            copy_keys,
            instance_profiles: stack
                .server_groups
                .iter()
                .any(|g| g.instance_profile.is_some()),
            instance_mode: stack
                .server_groups
                .iter()
                .any(|g| g.mode == GroupMode::Instances),
            load_balancers: stack
                .load_balancers
                .iter()
                .map(|l| l.name.clone())
                .collect(),
        }
    }

    fn needs(&self, needs: Needs) -> bool {
        match needs {
            Needs::Always => true,
            Needs::Alarms => self.alarms,
            Needs::SharedLock => self.lock.is_some(),
            Needs::Copies => !self.copy_regions.is_empty(),
            Needs::EncryptedCopies => !self.copy_keys.is_empty(),
            Needs::InstanceProfiles => self.instance_profiles,
            // Instance mode registers its targets; Auto Scaling does so for groups.
            Needs::InstanceMode => self.instance_mode,
            Needs::LoadBalancers => !self.load_balancers.is_empty(),
        }
    }
}

/// The policy document `command` needs for `stack` in `region` (the stack's own when
/// `None`).
pub fn policy(stack: &Stack, command: Command, region: Option<&str>) -> Value {
    let uses = Uses::of(stack);
    let region = region.or(stack.region.as_deref());
    let mut statements = Vec::new();
    let scopes = [
        Scope::Any,
        Scope::RequestTag,
        Scope::Launch,
        Scope::Tagging,
        Scope::ResourceTag,
        Scope::Listeners,
        Scope::LockObjects,
        Scope::PassRole,
        Scope::CopyKeys,
    ];
    for scope in scopes {
        let mut actions: Vec<&str> = ACTIONS
            .iter()
            .filter(|(_, by, s, needs)| *s == scope && command.includes(by) && uses.needs(*needs))
            .map(|(action, ..)| *action)
            .collect();
        if actions.is_empty() {
            continue;
        }
        actions.sort();
        statements.extend(statements_for(scope, &actions, stack, &uses, region));
    }
    if let Some(region) = region {
        let mut regions = vec![region.to_string()];
        regions.extend(uses.copy_regions.iter().cloned());
        regions.sort();
        regions.dedup();
        for s in &mut statements {
            // S3 and IAM are global here: the lock's bucket may be in another region, and
            // PassRole has none.
            let global = s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(is_global)));
            if !global {
                condition(s, "StringEquals", "aws:RequestedRegion", json!(regions));
            }
        }
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn is_global(action: &str) -> bool {
    action.starts_with("s3:") || action.starts_with("iam:")
}

fn condition(statement: &mut Value, op: &str, key: &str, value: Value) {
    let conditions = statement
        .as_object_mut()
        .expect("statements are objects")
        .entry("Condition")
        .or_insert_with(|| json!({}));
    conditions[op][key] = value;
}

fn statements_for(
    scope: Scope,
    actions: &[&str],
    stack: &Stack,
    uses: &Uses,
    region: Option<&str>,
) -> Vec<Value> {
    let region = region.unwrap_or("*");
    let stack_tag = json!({ "aws:RequestTag/reroll:stack": stack.name });
    let owned = json!({ "aws:ResourceTag/reroll:stack": stack.name });
    let one = |sid: &str, resource: Value, condition: Option<Value>| {
        let mut s =
            json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource });
        if let Some(c) = condition {
            s["Condition"] = c;
        }
        s
    };
    match scope {
        Scope::Any => vec![one("Read", json!("*"), None)],
        Scope::RequestTag => vec![one(
            "CreateTaggedWithTheStack",
            json!("*"),
            Some(json!({ "StringEquals": stack_tag })),
        )],
        Scope::ResourceTag => vec![one(
            "ChangeWhatTheStackOwns",
            json!("*"),
            Some(json!({ "StringEquals": owned })),
        )],
        Scope::Launch => vec![
            one(
                "LaunchTaggedWithTheStack",
                json!([
                    format!("arn:aws:ec2:{region}:*:instance/*"),
                    format!("arn:aws:ec2:{region}:*:volume/*"),
                ]),
                Some(json!({ "StringEquals": stack_tag })),
            ),
            one(
                "LaunchFromTheseResources",
                json!([
                    "image",
                    "subnet",
                    "security-group",
                    "network-interface",
                    "key-pair",
                    "launch-template",
                    "snapshot",
                    "placement-group"
                ]
                .iter()
                .map(|kind| if *kind == "image" || *kind == "snapshot" {
                    format!("arn:aws:ec2:{region}::{kind}/*")
                } else {
                    format!("arn:aws:ec2:{region}:*:{kind}/*")
                })
                .collect::<Vec<_>>()),
                None,
            ),
        ],
        Scope::Tagging => vec![
            one(
                "TagWhileCreating",
                json!("*"),
                Some(json!({ "StringEquals": {
                    "ec2:CreateAction": ["RunInstances", "CreateLaunchTemplate", "CopyImage"]
                }})),
            ),
            one(
                "RetagWhatTheStackOwns",
                json!("*"),
                Some(json!({ "StringEquals": owned })),
            ),
        ],
        Scope::Listeners => vec![one(
            "ListenersOfTheStacksLoadBalancers",
            json!(uses
                .load_balancers
                .iter()
                .flat_map(|name| ["app", "net"].map(|kind| format!(
                    "arn:aws:elasticloadbalancing:{region}:*:listener/{kind}/{name}/*"
                )))
                .collect::<Vec<_>>()),
            None,
        )],
        Scope::LockObjects => {
            let (bucket, prefix) = uses.lock.clone().unwrap_or_default();
            let objects = if prefix.is_empty() {
                format!("arn:aws:s3:::{bucket}/*")
            } else {
                format!("arn:aws:s3:::{bucket}/{prefix}/*")
            };
            vec![one("TheApplyLock", json!(objects), None)]
        }
        Scope::PassRole => vec![one(
            "PassInstanceProfileRolesToEc2",
            json!("*"),
            Some(json!({ "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } })),
        )],
        Scope::CopyKeys => vec![one(
            "EncryptImageCopies",
            json!(uses
                .copy_keys
                .iter()
                .map(|k| if k.starts_with("arn:") {
                    k.clone()
                } else {
                    format!("arn:aws:kms:{region}:*:key/*")
                })
                .collect::<Vec<_>>()),
            None,
        )],
    }
}

/// The actions a policy allows, in all its statements.
pub fn allowed(policy: &Value) -> Vec<String> {
    let mut out: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
