//! The policy document: the actions a command and a stack need, in statements by scope.

use serde_json::{json, Value};

use super::actions::{Command, Needs, Scope, ACTIONS};
use crate::lock::LockSetting;
use crate::stack::{GroupMode, Stack};

/// What the stack uses, for [`Needs`].
struct Uses {
    alarms: bool,
    lock: Option<(String, String)>,
    copy_regions: Vec<String>,
    copy_keys: Vec<String>,
    instance_profiles: bool,
    instance_mode: bool,
    terminating_hooks: bool,
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
            terminating_hooks: stack.server_groups.iter().any(|g| {
                g.mode == GroupMode::Asg
                    && g.scaling
                        .hooks(crate::stack::scaling::Transition::Terminating)
                        .next()
                        .is_some()
            }),
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
            Needs::TerminatingHooks => self.terminating_hooks,
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
                json!(launch_resources(region)),
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

/// What RunInstances launches from or attaches, untagged by reroll: the images, subnets,
/// security groups, launch templates and so on of the region.
fn launch_resources(region: &str) -> Vec<String> {
    [
        "image",
        "subnet",
        "security-group",
        "network-interface",
        "key-pair",
        "launch-template",
        "snapshot",
        "placement-group",
    ]
    .iter()
    .map(|kind| {
        if *kind == "image" || *kind == "snapshot" {
            format!("arn:aws:ec2:{region}::{kind}/*")
        } else {
            format!("arn:aws:ec2:{region}:*:{kind}/*")
        }
    })
    .collect()
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
