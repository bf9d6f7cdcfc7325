//! The one narrow door to a cloud.
//!
//! Everything reroll does to an account goes through [`Cloud`]. The trait speaks in reroll's own
//! terms (groups, target groups, listeners) rather than raw SDK shapes, so that the AWS
//! implementation ([`aws::AwsCloud`]) stays a thin translation layer and other implementations
//! (an in-memory simulator, a fault-injecting wrapper) can stand in for it in tests.
//!
//! Rules every implementation follows:
//! - `list_*` calls return only resources carrying `reroll:stack = <stack>`; they page through
//!   results at the service's maximum page size and never make one call per instance.
//! - Errors are [`CloudError`]s with the service's error code kept, so callers can tell "does not
//!   exist" from "throttled" from "forbidden".

pub mod aws;
pub mod fault;
pub mod quota;
pub mod sim;
pub mod states;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use async_trait::async_trait;

/// The plain data of launch templates, Auto Scaling settings, tags, image filters and
/// snapshots belongs to the stack's model; the cloud speaks it too.
pub use crate::stack::{launch, scaling, ImageFilter, Snapshot, Tags};
pub use states::{InstanceHealth, InstanceState, Lifecycle, TargetState};

/// Tag keys reroll writes on everything it owns.
pub mod tag {
    /// The stack that owns the resource. reroll never touches a resource without it.
    pub const STACK: &str = "reroll:stack";
    /// The stack address of the resource (`target_group.web`, `module.api.server_group.main`).
    pub const ADDRESS: &str = "reroll:address";
    /// The server group a generation (or an instance, a launch template) belongs to.
    pub const GROUP: &str = "reroll:group";
    /// Generation number of an Auto Scaling group or instance, decimal.
    pub const GENERATION: &str = "reroll:generation";
    /// Fingerprint of the instance definition a generation was launched from.
    pub const FINGERPRINT: &str = "reroll:fingerprint";
    /// Lifecycle state of a generation: see [`crate::observe::GenerationState`].
    pub const STATE: &str = "reroll:state";
    /// The desired capacity the stack file asked for when the generation was last applied, so
    /// that capacity grown by autoscaling is not mistaken for a change in the file.
    pub const DESIRED: &str = "reroll:desired";
    /// On the serving generation: `<fingerprint> <time>` of the last definition whose rollout
    /// failed and was rolled back, so that the next plan does not simply try it again.
    pub const FAILED: &str = "reroll:failed";
    /// On a generation: when (RFC 3339) the rollout that made it the serving one committed;
    /// written with the state change, in the same call.
    pub const COMPLETED: &str = "reroll:completed";
    /// On a rolling generation: the group it replaces and that group's `min/desired/max`
    /// before the rollout, so that a rollback restores exactly that.
    pub const FROM: &str = "reroll:from";
    /// Auto Scaling processes reroll suspended on a group (comma-separated), to resume
    /// exactly those and never a user's own suspensions.
    pub const SUSPENDED: &str = "reroll:suspended";
    /// On a rolling generation: a short human summary of its progress.
    pub const PROGRESS: &str = "reroll:progress";
    /// On instances of a `mode = "instances"` generation: the generation's name. Such a
    /// generation has no Auto Scaling group; its instances carry the generation's tags.
    pub const FLEET: &str = "reroll:fleet";
    /// On instances of a fleet: the launch template and version they were launched from.
    pub const LAUNCH_TEMPLATE: &str = "reroll:launch-template";
    pub const LAUNCH_VERSION: &str = "reroll:launch-version";
    /// On a blue/green generation's own copy of a target group: the address of the stack's
    /// target group it copies (with `reroll:group` and `reroll:generation` naming its owner).
    pub const COPY_OF: &str = "reroll:copy-of";
    /// On an image reroll copied from another region: `<region>:<ami id>` of its source, so
    /// that a later plan finds the copy (pending or available) instead of copying again.
    pub const SOURCE_IMAGE: &str = "reroll:source-image";
    /// On a blue/green generation: the share of listener traffic (percent) moved to it.
    pub const TRAFFIC: &str = "reroll:traffic";
    /// On a canary generation: the largest checkpoint (new instances) whose bake passed.
    pub const BAKED: &str = "reroll:baked";
    /// On a generation that serves again through `reroll rollback`: `from vNNN at <time>`.
    pub const ROLLED_BACK: &str = "reroll:rolled-back";
    /// On an instance a rollout is taking out of its generation (drained, about to be
    /// detached and terminated): when. One found running outside every group is terminated.
    pub const RELEASED: &str = "reroll:released";
    /// On a generation: the image it launches, for people (`<ami id> <created> <name>`).
    pub const IMAGE: &str = "reroll:image";
    /// On a generation whose image a Packer manifest named: `Packer build <name>, run <uuid>`.
    pub const IMAGE_SOURCE: &str = "reroll:image-source";
}

/// A failed cloud call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    /// The named resource does not exist (any of the services' many not-found codes).
    #[error("{operation}: {what} not found{}", code_suffix(.code))]
    NotFound {
        operation: &'static str,
        what: String,
        code: Option<String>,
    },
    /// The service refused because of request rate, after the retry policy gave up.
    #[error("{operation}: throttled by AWS after retries ({message})")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    /// Credentials missing, expired, or not allowed to do this.
    #[error("{operation}: not authorized: {message}")]
    Unauthorized {
        operation: &'static str,
        message: String,
    },
    /// The endpoint could not be reached, or the connection failed on the way: refused,
    /// reset, timed out.
    #[error("{operation}: cannot reach the AWS endpoint: {message}")]
    Unreachable {
        operation: &'static str,
        message: String,
    },
    /// The service failed on its side (HTTP 5xx: `InternalError`, `ServiceUnavailable`, …),
    /// after the retry policy gave up.
    #[error("{operation}: AWS failed on its side{} after retries: {message}", code_suffix(.code))]
    Unavailable {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
    /// A create found a resource of that name already there (`AlreadyExists`,
    /// `DuplicateTargetGroupName`, `DuplicateLoadBalancerName`,
    /// `InvalidLaunchTemplateName.AlreadyExistsException`): perhaps created by this very call
    /// whose reply was lost, perhaps someone else's.
    #[error("{operation}: {what} already exists{}", code_suffix(.code))]
    AlreadyExists {
        operation: &'static str,
        what: String,
        code: Option<String>,
    },
    /// A conditional request's condition did not hold: the object exists (`If-None-Match: *`)
    /// or has another ETag (`If-Match`).
    #[error("{operation}: {what} changed (its condition failed){}", code_suffix(.code))]
    PreconditionFailed {
        operation: &'static str,
        what: String,
        code: Option<String>,
    },
    /// Any other service error, with its code.
    #[error("{operation} failed{}: {message}", code_suffix(.code))]
    Service {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl CloudError {
    /// True when the error means the resource is already gone.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudError::NotFound { .. })
    }

    /// True when a create found the name taken.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, CloudError::AlreadyExists { .. })
    }

    /// The operation that failed (`EC2.RunInstances`, …).
    pub fn operation(&self) -> &'static str {
        match self {
            CloudError::NotFound { operation, .. }
            | CloudError::Throttled { operation, .. }
            | CloudError::Unauthorized { operation, .. }
            | CloudError::Unreachable { operation, .. }
            | CloudError::Unavailable { operation, .. }
            | CloudError::AlreadyExists { operation, .. }
            | CloudError::PreconditionFailed { operation, .. }
            | CloudError::Service { operation, .. } => operation,
        }
    }

    /// The service's error code, when the error kept one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CloudError::NotFound { code, .. }
            | CloudError::Unavailable { code, .. }
            | CloudError::AlreadyExists { code, .. }
            | CloudError::PreconditionFailed { code, .. }
            | CloudError::Service { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// True when a conditional request found the object not as the condition required.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, CloudError::PreconditionFailed { .. })
    }

    /// True when the same call may well succeed a moment later: throttling, a 5xx, a timeout
    /// or a broken connection that outlived the client's own retries. A rollout waits and
    /// tries again; everything else (not found, not authorized, a refused request) ends it.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. }
                | CloudError::Unreachable { .. }
                | CloudError::Unavailable { .. }
        )
    }
}

/// How the client retries one call before its error reaches reroll: the AWS SDK's adaptive
/// mode (a client-side rate limiter shared per service, exponential backoff with jitter),
/// configured with these numbers. The simulator models the same client.
///
/// The backoff is kept short on purpose. Once the SDK's adaptive rate limiter has seen a
/// throttle, a retry (after a throttle or a 5xx alike) waits until the limiter holds 5 or 10
/// tokens at the adapted rate; at the low request rates of a rollout (a few calls a poll) that
/// rate is the limiter's floor, half a token a second, so the wait always reaches the cap. With
/// the SDK's default cap of 20 s, every failed attempt held its round, and the rollout, 20 s.
/// With a short cap, first attempts are still paced by the limiter, retries come quickly and
/// few, and what outlives them goes back to the rollout, which tries the round again with its
/// own backoff of seconds (`apply::retry`). Measured on the simulator
/// (`tests/sim_rollout.rs`, `random_throttles_and_5xx_slow_a_rollout_in_proportion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// The first backoff; doubled on each retry (times a random factor in 0..1).
    pub initial_backoff_ms: u64,
    /// No single backoff, and no wait for the adaptive rate limiter, is longer.
    pub max_backoff_ms: u64,
}

impl RetryPolicy {
    /// What reroll configures.
    pub const REROLL: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        initial_backoff_ms: 200,
        max_backoff_ms: 500,
    };

    /// The AWS SDK's defaults (adaptive mode), with `max_attempts` attempts.
    pub const fn sdk_default(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 20_000,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::REROLL
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// The account's time now, to the second, as reroll records it in tags (`reroll:completed`,
/// `reroll:failed`, `reroll:released`, `reroll:rolled-back`): the simulated clock in the
/// simulator.
pub fn timestamp(cloud: &dyn Cloud) -> String {
    humantime::format_rfc3339_seconds(cloud.now()).to_string()
}

/// The name of an instance profile given by name or by ARN
/// (`arn:aws:iam::123456789012:instance-profile/path/NAME`).
pub fn instance_profile_name(profile: &str) -> &str {
    if profile.starts_with("arn:") {
        profile.rsplit('/').next().unwrap_or(profile)
    } else {
        profile
    }
}

/// EC2 filter wildcards: `*` any run of characters, `?` exactly one.
pub(crate) fn glob_match(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, vi));
                pi += 1;
            }
            Some(&c) if c == '?' || c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    pi = star + 1;
                    vi = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------------
// Lookups

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// ISO-8601 as EC2 reports it; sorts chronologically.
    pub creation_date: String,
    /// `available`, `pending`, `failed`, …
    pub state: String,
    pub architecture: Option<String>,
    pub tags: Tags,
    /// The EBS snapshots behind the image's block devices.
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
}

/// An account limit in this region and how much of it is used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    pub max: u64,
    pub used: u64,
}

/// ELBv2's account limits in this region, and what counts against them now.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElbLimits {
    /// DescribeAccountLimits, by name (`target-groups`, `application-load-balancers`,
    /// `network-load-balancers`, …).
    pub limits: BTreeMap<String, u64>,
    /// Target groups in the region, anyone's.
    pub target_groups: u64,
    /// Load balancers in the region, anyone's, by type (`application`, `network`).
    pub load_balancers: BTreeMap<String, u64>,
}

/// A cross-region image copy (CopyImage) as reroll asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyImageRequest<'a> {
    pub source_region: &'a str,
    pub source_image_id: &'a str,
    pub name: &'a str,
    /// A KMS key in this region: the copy's snapshots are encrypted with it.
    pub kms_key: Option<&'a str>,
    pub tags: &'a Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VpcInfo {
    pub id: String,
    pub cidr: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubnetInfo {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidr: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroupInfo {
    pub id: String,
    pub name: String,
    pub vpc_id: Option<String>,
    pub tags: Tags,
}

// ---------------------------------------------------------------------------------------------
// Observed resources

/// An Auto Scaling group as reroll sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub tags: Tags,
    pub launch_template_id: Option<String>,
    pub launch_template_version: Option<String>,
    pub target_group_arns: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub instances: Vec<GroupInstance>,
    pub suspended_processes: Vec<String>,
    /// Set while AWS deletes the group (`Delete in progress`).
    pub status: Option<String>,
    /// Its own settings, as DescribeAutoScalingGroups shows them (absent: not read, as for
    /// an instance-mode generation).
    #[serde(default)]
    pub settings: Option<scaling::AsgSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupInstance {
    pub id: String,
    /// Auto Scaling lifecycle state: `Pending`, `InService`, `Terminating`, …
    pub lifecycle_state: Lifecycle,
    /// Auto Scaling health: `Healthy` or `Unhealthy`.
    pub health_status: InstanceHealth,
    pub availability_zone: Option<String>,
    pub launch_template_version: Option<String>,
}

impl GroupInstance {
    /// In service: Auto Scaling has it `InService` and `Healthy` (an instance held by a
    /// launching lifecycle hook, `Pending:Wait`, is not).
    pub fn in_service(&self) -> bool {
        self.lifecycle_state == Lifecycle::InService
            && self.health_status == InstanceHealth::Healthy
    }

    /// Serving: in service, and `healthy` in every target group of its generation. `targets`
    /// is its state in each of them, `None` where it is not registered.
    pub fn serving<'a>(&self, targets: impl IntoIterator<Item = Option<&'a TargetState>>) -> bool {
        self.in_service()
            && targets
                .into_iter()
                .all(|t| t == Some(&TargetState::Healthy))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    /// EC2 state name: `pending`, `running`, `shutting-down`, `terminated`, …
    pub state: InstanceState,
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub launch_time: Option<SystemTime>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchTemplateInfo {
    pub id: String,
    pub name: String,
    pub latest_version: i64,
    pub tags: Tags,
}

/// What an instance is launched from: the content of one launch template version.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchSpec {
    pub image_id: String,
    pub instance_type: String,
    /// Plain text; implementations base64-encode it for EC2.
    pub user_data: Option<String>,
    pub security_group_ids: Vec<String>,
    pub instance_profile: Option<String>,
    pub key_name: Option<String>,
    /// Tags applied to instances and volumes launched from this version.
    pub instance_tags: Tags,
    /// Metadata, block devices, monitoring, interfaces, placement, credits, extra tags.
    #[serde(default)]
    pub options: launch::LaunchOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheckSpec {
    pub protocol: String,
    pub port: String,
    pub path: Option<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Option<String>,
}

/// Desired (and observed) configuration of a target group.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroupSpec {
    pub name: String,
    pub port: u16,
    pub protocol: String,
    pub vpc_id: String,
    /// `instance` (the only type reroll manages).
    pub target_type: String,
    pub health_check: HealthCheckSpec,
    pub deregistration_delay_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroupInfo {
    pub arn: String,
    pub spec: TargetGroupSpec,
    pub load_balancer_arns: Vec<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<u16>,
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`.
    pub state: TargetState,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancerSpec {
    pub name: String,
    /// `application` or `network`.
    pub kind: String,
    pub internal: bool,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancerInfo {
    pub arn: String,
    pub dns_name: String,
    pub spec: LoadBalancerSpec,
    pub state: Option<String>,
    pub tags: Tags,
}

/// One target group in a (possibly weighted) forward action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Forward {
    pub target_group_arn: String,
    pub weight: u32,
}

/// A forward action with each target group mapped by `to` (`None` drops it), entries that land
/// on the same target group merged and their weights summed, in first-seen order.
pub fn remap_forward(
    forward: &[Forward],
    mut to: impl FnMut(&str) -> Option<String>,
) -> Vec<Forward> {
    let mut out: Vec<Forward> = Vec::new();
    for f in forward {
        let Some(arn) = to(&f.target_group_arn) else {
            continue;
        };
        match out.iter_mut().find(|x| x.target_group_arn == arn) {
            Some(x) => x.weight += f.weight,
            None => out.push(Forward {
                target_group_arn: arn,
                weight: f.weight,
            }),
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListenerSpec {
    pub port: u16,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    /// Default action: forward to these target groups.
    pub forward: Vec<Forward>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListenerInfo {
    pub arn: String,
    pub load_balancer_arn: String,
    pub spec: ListenerSpec,
}

/// One Auto Scaling scaling activity: a launch, a termination, …
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScalingActivity {
    pub id: String,
    pub group: String,
    /// `Launching a new EC2 instance: i-…`, `Launching a new EC2 instance.  Status Reason: …`,
    /// `Terminating EC2 instance: i-…`, …
    pub description: String,
    pub cause: String,
    /// `Successful`, `Failed`, `Cancelled`, `InProgress`, `PreInService`, `WaitingFor…`, …
    pub status: String,
    /// Why the activity failed or was cancelled, as AWS words it.
    pub status_message: Option<String>,
    pub start_time: Option<SystemTime>,
    pub end_time: Option<SystemTime>,
}

impl ScalingActivity {
    /// An attempt to launch an instance into the group.
    pub fn is_launch(&self) -> bool {
        self.description.starts_with("Launching a new EC2 instance")
    }

    /// Ended without doing what it set out to do.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "Failed" | "Cancelled")
    }
}

/// One instance refresh of an Auto Scaling group: another controller replacing its instances.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceRefresh {
    pub id: String,
    /// `Pending`, `InProgress`, `Baking`, `Cancelling`, `RollbackInProgress`, `Successful`,
    /// `Failed`, `Cancelled`, `RollbackFailed`, `RollbackSuccessful`.
    pub status: String,
    pub status_reason: Option<String>,
    pub percentage_complete: Option<u32>,
    pub start_time: Option<SystemTime>,
}

impl InstanceRefresh {
    /// Still at work on the group: it may launch, terminate or roll back instances. `Baking`
    /// (the wait after the last replacement) counts: the refresh can still roll back.
    pub fn in_progress(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Baking" | "Cancelling" | "RollbackInProgress"
        )
    }
}

/// The kinds of resource reroll creates by name, for finding who holds a name.
/// A resource found by its name: its id (an ARN for target groups and load balancers, the
/// template id for launch templates, the name for Auto Scaling groups) and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NamedKind {
    Group,
    LaunchTemplate,
    TargetGroup,
    LoadBalancer,
}

impl NamedKind {
    pub fn noun(self) -> &'static str {
        match self {
            NamedKind::Group => "Auto Scaling group",
            NamedKind::LaunchTemplate => "launch template",
            NamedKind::TargetGroup => "target group",
            NamedKind::LoadBalancer => "load balancer",
        }
    }
}

/// Everything needed to create one generation's Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupSpec {
    pub name: String,
    pub launch_template_id: String,
    pub launch_template_version: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub subnet_ids: Vec<String>,
    pub target_group_arns: Vec<String>,
    /// `ELB` when the group has target groups, else `EC2`.
    pub health_check_type: String,
    pub health_check_grace_seconds: u32,
    /// Tags on the group; those in `propagate` are copied to instances at launch.
    pub tags: Tags,
    /// Warm-up, termination policies, rebalancing, mixed instances, policies, scheduled
    /// actions and lifecycle hooks (`health_check_type` and `health_check_grace_seconds`
    /// above are already resolved from them).
    #[serde(default)]
    pub settings: scaling::GroupSettings,
}

/// The narrow interface between reroll and a cloud account (one region).
#[async_trait]
pub trait Cloud: Send + Sync {
    /// The region this client talks to.
    fn region(&self) -> &str;

    /// The time now, on the clock the cloud's timestamps (scaling activities, launch times)
    /// are on: the system clock for AWS, simulated time for a simulator.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    // --- lookups -----------------------------------------------------------------------------
    async fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>>;
    /// Like [`Cloud::describe_images`], in another region of the same account.
    async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>>;
    /// Starts copying an image from another region into this one (the copy is `pending`
    /// until it is `available`) and tags it; returns the new image id.
    async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String>;
    async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>>;

    // --- quotas (plan's preflight) -------------------------------------------------------------
    /// A quota's applied value from Service Quotas (GetServiceQuota), `None` when Service
    /// Quotas does not know it here (NoSuchResourceException): unknown, not zero.
    async fn service_quota(&self, service_code: &str, quota_code: &str)
        -> CloudResult<Option<u64>>;
    /// The vCPUs of each instance type (DescribeInstanceTypes); types EC2 does not know are
    /// left out.
    async fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>>;
    /// Pending and running instances in the region, anyone's, counted by instance type: what
    /// the On-Demand vCPU quotas count.
    async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>>;
    /// Auto Scaling groups allowed and in use (Auto Scaling's DescribeAccountLimits).
    async fn auto_scaling_limits(&self) -> CloudResult<Limit>;
    /// ELBv2's DescribeAccountLimits and the target groups and load balancers in use.
    async fn elb_limits(&self) -> CloudResult<ElbLimits>;
    /// Which of `names` are not key pairs in this region (DescribeKeyPairs).
    async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>>;
    /// Which of `profiles` (names or ARNs) are not IAM instance profiles of the account
    /// (GetInstanceProfile; IAM is global).
    async fn missing_instance_profiles(&self, profiles: &[String]) -> CloudResult<Vec<String>>;
    async fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>>;
    /// Security groups in `vpc_id` whose name is in `names` (when non-empty) and that carry `tags`.
    async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>>;

    // --- observing a stack (tag-filtered, paginated) -----------------------------------------
    async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>>;
    /// The stack's groups among `names` (up to 100 a call): what a rollout in flight looks
    /// at, without listing every group of the stack. A name that does not exist, or whose
    /// group is not the stack's, is left out.
    async fn describe_groups(&self, stack: &str, names: &[String]) -> CloudResult<Vec<GroupInfo>>;
    async fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>>;
    /// Which of `ids` are live instances (pending or running), whoever owns them; an id EC2
    /// does not know is not.
    async fn live_instances(&self, ids: &[String]) -> CloudResult<BTreeSet<String>>;
    /// The stack's live instances that carry the tag `key` (filtered by the service, so a
    /// look for the few released instances does not page through the whole fleet).
    async fn list_instances_tagged(&self, stack: &str, key: &str)
        -> CloudResult<Vec<InstanceInfo>>;
    async fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>>;
    /// The content of one launch template version.
    async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec>;
    /// The latest version of every launch template in the region, anyone's, as
    /// (template id, version number, content): DescribeLaunchTemplateVersions with `$Latest`
    /// and no template, 200 a page. One read for many templates.
    async fn latest_launch_template_versions(&self) -> CloudResult<Vec<(String, i64, LaunchSpec)>>;
    /// Target groups tagged with the stack. `name_prefix` narrows the candidates before tags
    /// are read (reroll names everything it creates with the stack's prefix).
    async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>>;
    async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>>;
    async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>>;
    async fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>>;

    // --- changes -----------------------------------------------------------------------------
    async fn create_target_group(&self, spec: &TargetGroupSpec, tags: &Tags)
        -> CloudResult<String>;
    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()>;
    async fn delete_target_group(&self, arn: &str) -> CloudResult<()>;

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo>;
    /// Updates subnets and security groups of an existing load balancer.
    async fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()>;
    async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()>;

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String>;
    async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()>;
    async fn delete_listener(&self, arn: &str) -> CloudResult<()>;

    /// Creates a launch template with `spec` as version 1; returns (id, version).
    async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)>;
    /// Adds a version to an existing launch template; returns the new version number.
    async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64>;
    async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()>;

    async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()>;
    /// Puts a group's scaling policies, scheduled actions and lifecycle hooks (each call
    /// creates or overwrites one by name, so it can be repeated). Called on every new
    /// generation after its create, before it launches anything from a rollout.
    async fn configure_group(
        &self,
        name: &str,
        settings: &scaling::GroupSettings,
    ) -> CloudResult<()>;
    async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()>;
    async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()>;
    async fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()>;
    async fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()>;
    /// Deletes the group and terminates its instances.
    async fn delete_group(&self, name: &str) -> CloudResult<()>;
    /// The group's scaling activities that started at or after `since`, newest first. Pages
    /// (100 a page) only as far back as `since`.
    async fn scaling_activities(
        &self,
        group: &str,
        since: SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>>;
    /// The group's most recent instance refreshes, newest first (one page: at most one refresh
    /// runs at a time, and it is the newest). `None` when the service does not implement the
    /// call (an emulator): unknown, not "none".
    async fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>>;
    /// The resource of `kind` named `name` (its id and tags), whoever owns it; `None` when no
    /// such resource exists. For telling whose a taken name is.
    async fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>>;
    /// Suspends Auto Scaling processes (`AZRebalance`, `AlarmNotification`, …) on a group.
    async fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()>;
    async fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()>;
    /// Removes instances from a group (in batches of 20), lowering its desired capacity
    /// when `decrement`. The instances keep running.
    async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()>;

    /// Has the group terminate its instances (TerminateInstanceInAutoScalingGroup, one call
    /// each), lowering its desired capacity: its terminating lifecycle hooks hold each one in
    /// `Terminating:Wait` first, as they do for a scale-in.
    async fn terminate_in_group(&self, group: &str, instance_ids: &[String]) -> CloudResult<()>;

    // --- targets and instances ---------------------------------------------------------------
    /// Registers instances in a target group (in batches of 200).
    async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()>;
    /// Deregisters instances (in batches of 200); targets that are not registered are
    /// ignored, so the call can be repeated.
    async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()>;
    /// Terminates instances (in batches of 1000); already-gone ones are ignored.
    async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()>;
    /// Launches instances from a launch template version into one subnet; returns their ids.
    async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>>;
    /// Adds or overwrites tags on instances (in batches of 1000 ids).
    async fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()>;
    /// Deletes versions of a launch template (in batches of 200); missing ones are ignored.
    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()>;

    // --- alarms ------------------------------------------------------------------------------

    /// The state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of each named CloudWatch alarm, metric
    /// or composite, in batches of 100 names. Names that do not exist are absent from the map.
    async fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>>;

    // --- the account and its objects (the shared lock) ---------------------------------------

    /// The id of the account the credentials act in (STS GetCallerIdentity).
    async fn account_id(&self) -> CloudResult<String>;
    /// An object's content and ETag; `None` when there is no such object (a missing bucket is
    /// an error).
    async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>>;
    /// Creates an object only if there is none (`If-None-Match: *`); returns its ETag.
    /// [`CloudError::PreconditionFailed`] when one exists.
    async fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String>;
    /// Replaces an object only if its ETag is `etag` (`If-Match`); returns the new ETag.
    /// [`CloudError::PreconditionFailed`] when it has another, `NotFound` when it is gone.
    async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String>;
    /// Deletes an object only if its ETag is `etag` (`If-Match`).
    /// [`CloudError::PreconditionFailed`] when it has another, `NotFound` when it is gone.
    async fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()>;
}

/// An S3 object: bucket, key, and the bucket's region when it is not the client's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// An object's content and the ETag that conditional requests name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub etag: String,
}

/// A RunInstances request: `count` instances of one launch template version in one subnet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub launch_template_id: String,
    pub launch_template_version: String,
    pub subnet_id: String,
    pub count: u32,
    /// Tags for the instances (on top of the launch template's).
    pub tags: Tags,
    /// Idempotency token: a retried call with the same token launches nothing new.
    pub client_token: Option<String>,
}
