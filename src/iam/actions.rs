//! Every IAM action reroll calls, the commands that call it, how its resources are narrowed
//! and when a stack needs it.

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
    pub(super) fn includes(self, needed_by: &[Command]) -> bool {
        self == Command::All || needed_by.contains(&self)
    }
}

/// How an action's resources are narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
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
    /// The listeners of the stack's load balancers, by ARN (created, changed, deleted).
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
pub(super) enum Needs {
    Always,
    Alarms,
    SharedLock,
    Copies,
    EncryptedCopies,
    InstanceProfiles,
    InstanceMode,
    LoadBalancers,
    /// A server group with a terminating lifecycle hook: its old instances are terminated by
    /// their group.
    TerminatingHooks,
}

use Command::{Apply, Destroy, Plan};

/// Reads of what the stack owns (observe): every command.
const READ: &[Command] = &[Plan, Apply, Destroy];
/// Lookups and preflight: the commands that evaluate the stack against the account.
const LOOKUP: &[Command] = &[Plan, Apply];
const APPLY: &[Command] = &[Apply];
/// What a destroy does too: deleting groups (scaled in first), instances, launch templates,
/// load balancers, target groups. Everything else apply changes, destroy never calls
/// (deleting a load balancer deletes its listeners).
const CHANGE: &[Command] = &[Apply, Destroy];

/// Every IAM action reroll calls: (action, commands, scope, when).
pub(super) const ACTIONS: &[(&str, &[Command], Scope, Needs)] = &[
    // Reads: observe, lookups, preflight. Destroy only observes.
    ("ec2:DescribeImages", LOOKUP, Scope::Any, Needs::Always),
    ("ec2:DescribeInstances", READ, Scope::Any, Needs::Always),
    (
        "ec2:DescribeInstanceTypes",
        LOOKUP,
        Scope::Any,
        Needs::Always,
    ),
    ("ec2:DescribeKeyPairs", LOOKUP, Scope::Any, Needs::Always),
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
        LOOKUP,
        Scope::Any,
        Needs::Always,
    ),
    ("ec2:DescribeSubnets", LOOKUP, Scope::Any, Needs::Always),
    ("ec2:DescribeVpcs", LOOKUP, Scope::Any, Needs::Always),
    (
        "autoscaling:DescribeAccountLimits",
        LOOKUP,
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
        APPLY,
        Scope::Any,
        Needs::Always,
    ),
    (
        "elasticloadbalancing:DescribeAccountLimits",
        LOOKUP,
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
    // Elastic Load Balancing checks AddTags on every create that carries tags ("tag on
    // create", Elastic Load Balancing API reference, CreateLoadBalancer/CreateTargetGroup),
    // though reroll never calls it alone.
    (
        "elasticloadbalancing:AddTags",
        APPLY,
        Scope::RequestTag,
        Needs::Always,
    ),
    // Creating or updating a group with a launch template checks the caller's
    // ec2:RunInstances (and iam:PassRole for the template's instance profile): Amazon EC2 Auto
    // Scaling User Guide, "Permissions to use launch templates". The emulator does not check
    // it; instance mode calls RunInstances directly.
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
        APPLY,
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
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        APPLY,
        Scope::ResourceTag,
        Needs::TerminatingHooks,
    ),
    (
        "autoscaling:DetachLoadBalancerTargetGroups",
        APPLY,
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
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        "autoscaling:SuspendProcesses",
        APPLY,
        Scope::ResourceTag,
        Needs::Always,
    ),
    (
        // Destroy too: a group is scaled in before it is deleted, so that its instances drain
        // and pass its terminating hooks.
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
        APPLY,
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
        Scope::Listeners,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:ModifyListener",
        APPLY,
        Scope::Listeners,
        Needs::LoadBalancers,
    ),
    (
        "elasticloadbalancing:DeleteListener",
        APPLY,
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
    // Preflight: the instance profiles the stack names exist.
    (
        "iam:GetInstanceProfile",
        LOOKUP,
        Scope::Any,
        Needs::InstanceProfiles,
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
