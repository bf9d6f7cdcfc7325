//! The stack's resources as plain data: the stack block, lookups, target groups, load
//! balancers and server groups, their outputs, and what the cloud told us (`Known`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::image::{ImageFilter, ImageLabel, PackerBuild, ResolvedImage};
use super::launch::LaunchOptions;
use super::lock::LockSetting;
use super::rollout::{Hook, HookEvent, Rollout};
use super::scaling::GroupSettings;
use super::sensitive::Sensitive;
use super::tags::Tags;

/// Shown in place of a value that exists only once apply created the resource.
pub const UNKNOWN_APPLY: &str = "(known after apply)";
/// Shown in place of a value that comes from a cloud lookup that has not run (`validate`).
pub const UNKNOWN_LOOKUP: &str = "(known after lookup)";

/// True when `s` holds (or was interpolated from) a value not known yet.
pub fn is_unknown(s: &str) -> bool {
    s.contains(UNKNOWN_APPLY) || s.contains(UNKNOWN_LOOKUP)
}

/// An AWS region name: lowercase words and a number, joined by hyphens (`us-east-1`,
/// `ap-southeast-2`, `us-gov-west-1`).
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// Where a block or attribute was written, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A fully evaluated stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub name: String,
    /// From the stack block (usually `var.region`); `--region` overrides it.
    pub region: Option<String>,
    /// `regions = [...]` of the stack block: plan and apply go region by region, in this
    /// order; `--regions` overrides it. Empty: the one region of `region`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// `region_bake`: how long apply waits after a region succeeds before the next starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_bake: Option<Duration>,
    /// The apply lock of the stack block (`lock = "s3://…"`, else a local file beside the
    /// stack); `--lock` overrides it.
    #[serde(default)]
    pub lock: LockSetting,
    pub tags: Tags,
    pub images: Vec<ImageLookup>,
    pub networks: Vec<NetworkLookup>,
    pub target_groups: Vec<TargetGroup>,
    pub load_balancers: Vec<LoadBalancer>,
    pub server_groups: Vec<ServerGroup>,
    pub outputs: Vec<Output>,
    /// Hooks of the `stack` block: they run for every server group's rollout, before the
    /// group's own hooks for the same event.
    pub hooks: Vec<Hook>,
    /// What in the stack is derived from a sensitive value.
    #[serde(default)]
    pub sensitive: Sensitive,
}

/// An `image` block: a lookup resolved at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLookup {
    pub address: String,
    pub filter: ImageFilter,
    pub most_recent: bool,
    /// Region to copy the image from when this region has no match (disaster recovery).
    pub copy_from: Option<String>,
    /// Set when the image comes from a Packer manifest (`packer_manifest`, `build`) rather
    /// than a search: the build the manifest names, read when the stack was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packer: Option<PackerBuild>,
    /// A KMS key in this region for the copy's snapshots: needed when the source's are
    /// encrypted.
    #[serde(default)]
    pub copy_kms_key: Option<String>,
    pub origin: Origin,
}

/// A `network` block: VPC, subnets and security groups found by tags and names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkLookup {
    pub address: String,
    pub vpc_id: Option<String>,
    pub vpc_tags: Tags,
    pub subnet_tags: Tags,
    pub security_group_names: Vec<String>,
    pub security_group_tags: Tags,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub protocol: String,
    /// `traffic-port` or a number.
    pub port: String,
    pub path: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub address: String,
    /// The AWS name (≤32 characters, letters, digits and hyphens).
    pub name: String,
    pub vpc_id: String,
    pub port: u16,
    pub protocol: String,
    pub deregistration_delay: Duration,
    pub health_check: HealthCheck,
    pub tags: Tags,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub label: String,
    pub port: u16,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    /// Target group addresses and weights of the default forward action.
    pub forward: Vec<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub address: String,
    pub name: String,
    /// `application` or `network`.
    pub kind: String,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub listeners: Vec<Listener>,
    pub tags: Tags,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    /// One Auto Scaling group per generation.
    Asg,
    /// Plain instances launched with RunInstances; reroll registers targets itself.
    Instances,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub address: String,
    /// Short unique key: the `reroll:group` tag and part of every AWS name.
    pub key: String,
    /// The image address (`image.app`) when the image came from a lookup.
    pub image_address: Option<String>,
    pub image_id: String,
    /// The image's name and creation date, when known (from the lookup, or from checking a
    /// literal AMI id).
    #[serde(default)]
    pub image: Option<ImageLabel>,
    pub instance_type: String,
    pub capacity: Capacity,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub user_data: Option<String>,
    pub instance_profile: Option<String>,
    pub key_name: Option<String>,
    /// Target group addresses.
    pub target_groups: Vec<String>,
    /// Server group addresses that must be rolled out first.
    pub depends_on: Vec<String>,
    pub mode: GroupMode,
    pub tags: Tags,
    /// The launch template settings beyond the fields above (`metadata`, block devices, …).
    #[serde(default)]
    pub launch: LaunchOptions,
    /// The Auto Scaling settings every new generation is created with.
    #[serde(default)]
    pub scaling: GroupSettings,
    pub rollout: Rollout,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub name: String,
    pub value: serde_json::Value,
    pub sensitive: bool,
    pub description: Option<String>,
}

impl Stack {
    pub fn target_group(&self, address: &str) -> Option<&TargetGroup> {
        self.target_groups.iter().find(|t| t.address == address)
    }

    pub fn server_group(&self, address: &str) -> Option<&ServerGroup> {
        self.server_groups.iter().find(|g| g.address == address)
    }

    /// The hooks to run for `event` in a rollout of `g`: the stack's, then the group's.
    pub fn hooks_for<'a>(&'a self, g: &'a ServerGroup, event: HookEvent) -> Vec<&'a Hook> {
        self.hooks
            .iter()
            .chain(&g.rollout.hooks)
            .filter(|h| h.event == event)
            .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedNetwork {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub availability_zones: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// Everything known from the cloud that evaluation may use.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub images: BTreeMap<String, ResolvedImage>,
    pub networks: BTreeMap<String, ResolvedNetwork>,
    /// Attributes of existing resources (`arn`, `dns_name`, …) by address.
    pub attributes: BTreeMap<String, BTreeMap<String, String>>,
}
