//! The desired state: a stack after loading and evaluation.
//!
//! Everything here is plain data. Values that cannot be known before apply (an ARN, a DNS name)
//! or before the cloud lookups ran (an AMI id in `validate`) are carried as strings containing
//! an [`UNKNOWN_APPLY`] or [`UNKNOWN_LOOKUP`] marker, which the plan shows as such.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cloud::{ImageFilter, Tags};

/// Shown in place of a value that exists only once apply created the resource.
pub const UNKNOWN_APPLY: &str = "(known after apply)";
/// Shown in place of a value that comes from a cloud lookup that has not run (`validate`).
pub const UNKNOWN_LOOKUP: &str = "(known after lookup)";

/// True when `s` holds (or was interpolated from) a value not known yet.
pub fn is_unknown(s: &str) -> bool {
    s.contains(UNKNOWN_APPLY) || s.contains(UNKNOWN_LOOKUP)
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
    /// The apply lock of the stack block (`lock = "s3://…"`, else a local file beside the
    /// stack); `--lock` overrides it.
    #[serde(default)]
    pub lock: crate::lock::LockSetting,
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

/// The address [`Sensitive::tags`] files the `stack` block's tags under.
pub const STACK_TAGS: &str = "stack";

/// What in a stack is derived from a sensitive value, so that every output shows
/// `(sensitive)` in its place. Sensitive values are allowed only in these places (the loader
/// refuses them elsewhere, with the attribute's location); hook environments and output values
/// are sensitive by their own flags (`Output::sensitive`; a hook's `env` is never shown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sensitive {
    /// Tag keys whose values are sensitive, by the address of the block that sets them
    /// ([`STACK_TAGS`] for the stack block's).
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// Server groups (by address) whose user data is sensitive.
    pub user_data: BTreeSet<String>,
}

/// What outputs show in place of a sensitive value.
pub const REDACTED: &str = "(sensitive)";

impl Sensitive {
    /// Records the sensitive tag keys of the block at `address`.
    pub fn set_tags(&mut self, address: &str, keys: BTreeSet<String>) {
        if !keys.is_empty() {
            self.tags.insert(address.to_string(), keys);
        }
    }

    /// The tag keys whose values are sensitive on what `addresses` tag together (a server
    /// group's instances carry the stack's tags and the group's).
    pub fn tag_keys<'a>(&'a self, addresses: &[&str]) -> BTreeSet<&'a str> {
        addresses
            .iter()
            .filter_map(|a| self.tags.get(*a))
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// `tags` with the values of sensitive keys replaced by [`REDACTED`].
    pub fn redact_tags(&self, addresses: &[&str], tags: &Tags) -> Tags {
        let keys = self.tag_keys(addresses);
        tags.iter()
            .map(|(k, v)| {
                let v = match keys.contains(k.as_str()) {
                    true => REDACTED.to_string(),
                    false => v.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }
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

/// The build of a Packer manifest an `image` block names: its AMI per region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackerBuild {
    /// The manifest's path as the stack wrote it, for messages.
    pub manifest: String,
    /// `builds[].name`.
    pub build: String,
    /// `builds[].packer_run_uuid` (the manifest's `last_run_uuid`).
    pub run_uuid: String,
    /// Region → AMI id, from `builds[].artifact_id` (`region:ami-…,region:ami-…`).
    pub amis: BTreeMap<String, String>,
}

impl PackerBuild {
    /// How people see where the image came from: `Packer build app, run 1b2c…`.
    pub fn source(&self) -> String {
        format!("Packer build {}, run {}", self.build, self.run_uuid)
    }
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

/// A count or a percentage of desired capacity, as in `max_surge = "25%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quantity {
    Count(u32),
    Percent(u32),
}

impl Quantity {
    /// Resolves against `desired`: a surge rounds up, an unavailability rounds down
    /// (Kubernetes' rule, so that a percentage never blocks progress nor over-drains).
    pub fn resolve(self, desired: u32, round_up: bool) -> u32 {
        match self {
            Quantity::Count(n) => n,
            Quantity::Percent(p) => {
                let scaled = u64::from(desired) * u64::from(p);
                let v = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                v as u32
            }
        }
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Rolling,
    Canary,
    BlueGreen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    Rollback,
    Pause,
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
pub struct HealthGate {
    pub grace: Duration,
    pub timeout: Duration,
    pub alarms: Vec<String>,
}

/// `canary { instances, bake, steps }`: checkpoints that bake before the rollout goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Size of the first wave, the canary.
    pub instances: Quantity,
    /// How long the canary (and each step) must stay healthy with its alarms quiet.
    pub bake: Duration,
    /// Further checkpoints, as shares of desired capacity, each baked in turn.
    pub steps: Vec<Quantity>,
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            instances: Quantity::Count(1),
            bake: Duration::from_secs(600),
            steps: Vec::new(),
        }
    }
}

impl Canary {
    /// The numbers of new instances at which the rollout stops to bake, increasing, each below
    /// `desired` (the last stretch needs no checkpoint: it is the end).
    pub fn checkpoints(&self, desired: u32) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for q in std::iter::once(&self.instances).chain(&self.steps) {
            let n = q.resolve(desired, true).max(1);
            if n < desired && out.last().is_none_or(|&l| n > l) {
                out.push(n);
            }
        }
        out
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// Once the new generation exists, before its first instance is launched.
    BeforeRollout,
    /// Each time a wave of new instances is healthy, before old instances are drained for it.
    AfterWave,
    /// Blue/green: before each move of listener traffic.
    BeforeTrafficShift,
    /// When every new instance serves, before the old generation is retired.
    AfterRollout,
}

impl HookEvent {
    pub const ALL: [HookEvent; 4] = [
        HookEvent::BeforeRollout,
        HookEvent::AfterWave,
        HookEvent::BeforeTrafficShift,
        HookEvent::AfterRollout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::BeforeRollout => "before_rollout",
            HookEvent::AfterWave => "after_wave",
            HookEvent::BeforeTrafficShift => "before_traffic_shift",
            HookEvent::AfterRollout => "after_rollout",
        }
    }

    pub fn parse(s: &str) -> Option<HookEvent> {
        HookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// `hook "after_wave" { command = [...], timeout = "5m" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub event: HookEvent,
    /// Program and arguments; no shell unless the command names one.
    pub command: Vec<String>,
    pub timeout: Duration,
    /// The directory the command runs in: the one of the file that declares the hook.
    pub dir: std::path::PathBuf,
    /// `env = { NAME = value }`: added to the command's environment, the one way a hook
    /// receives sensitive values. Never logged, never serialized.
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub strategy: Strategy,
    pub max_surge: Quantity,
    pub max_unavailable: Quantity,
    pub health: HealthGate,
    pub on_failure: OnFailure,
    pub keep_previous: u32,
    /// Canary checkpoints (`strategy = "canary"`).
    pub canary: Canary,
    /// Blue/green: the percentages of listener traffic sent to the new generation, in turn.
    pub traffic_steps: Vec<u32>,
    /// Blue/green: how long each traffic step must stay healthy before the next.
    pub step_bake: Duration,
    /// Blue/green: how long the old generation stays at capacity once traffic has moved.
    pub keep_blue: Duration,
    pub hooks: Vec<Hook>,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            strategy: Strategy::Rolling,
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Count(0),
            health: HealthGate {
                grace: Duration::from_secs(30),
                timeout: Duration::from_secs(600),
                alarms: Vec::new(),
            },
            on_failure: OnFailure::Rollback,
            keep_previous: 1,
            canary: Canary::default(),
            traffic_steps: vec![100],
            step_bake: Duration::from_secs(300),
            keep_blue: Duration::from_secs(600),
            hooks: Vec::new(),
        }
    }
}

/// What an image is, for people: its name and when it was created, shown beside its AMI id.
/// Not part of the instance definition (the id is): it changes no fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLabel {
    pub name: String,
    /// As EC2 reports it (`2026-01-01T00:00:00.000Z`); empty when not known.
    pub created: String,
    /// Where the image came from, when a Packer manifest named it (`Packer build app, run
    /// <uuid>`); recorded in `reroll:image-source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl ImageLabel {
    /// The value of a generation's `reroll:image` tag: the AMI id, the creation date (`-`
    /// when not known) and the name, which may hold spaces, last.
    pub fn tag_value(&self, image_id: &str) -> String {
        let created = if self.created.is_empty() {
            "-"
        } else {
            &self.created
        };
        format!("{image_id} {created} {}", self.name)
    }

    /// The AMI id and label a `reroll:image` tag holds.
    pub fn from_tag(value: &str) -> Option<(String, ImageLabel)> {
        let mut parts = value.splitn(3, ' ');
        let (id, created, name) = (parts.next()?, parts.next()?, parts.next()?);
        if id.is_empty() || name.is_empty() {
            return None;
        }
        let created = if created == "-" { "" } else { created };
        Some((
            id.to_string(),
            ImageLabel {
                name: name.to_string(),
                created: created.to_string(),
                source: None,
            },
        ))
    }
}

/// `demo-app-1.1.0, created 2026-01-01 00:00 UTC`.
impl std::fmt::Display for ImageLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        let c = self.created.as_str();
        let iso = c.len() >= 16
            && c.is_char_boundary(16)
            && c.as_bytes()[4] == b'-'
            && c.as_bytes()[10] == b'T';
        match c {
            "" => Ok(()),
            _ if iso && c.ends_with('Z') => {
                write!(f, ", created {} {} UTC", &c[..10], &c[11..16])
            }
            _ if iso => write!(f, ", created {} {}", &c[..10], &c[11..16]),
            _ => write!(f, ", created {c}"),
        }?;
        match &self.source {
            Some(source) => write!(f, ", from {source}"),
            None => Ok(()),
        }
    }
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
    pub launch: crate::cloud::launch::LaunchOptions,
    /// The Auto Scaling settings every new generation is created with.
    #[serde(default)]
    pub scaling: crate::cloud::scaling::GroupSettings,
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

/// Resolved lookups, by address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    pub id: String,
    pub name: String,
    pub creation_date: String,
    /// Where the image came from, for people (a Packer build); see [`ImageLabel::source`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Set when the image was found in another region and must be copied here on apply.
    pub copy: Option<crate::plan::copy::ImageCopy>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_labels_read_back_from_their_tag_and_show_the_date() {
        let label = |name: &str, created: &str, source: Option<&str>| ImageLabel {
            name: name.into(),
            created: created.into(),
            source: source.map(String::from),
        };
        let cases = [
            (
                label("demo-app-1.1.0", "2026-01-01T09:30:12.000Z", None),
                "demo-app-1.1.0, created 2026-01-01 09:30 UTC",
            ),
            (
                label("web (nightly) build 7", "", None),
                "web (nightly) build 7",
            ),
            (label("odd", "yesterday", None), "odd, created yesterday"),
            (
                label(
                    "app-7",
                    "2026-01-01T09:30:12.000Z",
                    Some("Packer build app, run 6c1e"),
                ),
                "app-7, created 2026-01-01 09:30 UTC, from Packer build app, run 6c1e",
            ),
        ];
        for (label, shown) in cases {
            assert_eq!(label.to_string(), shown);
            // The source has a tag of its own (`reroll:image-source`).
            let tag = label.tag_value("ami-0123");
            let without_source = ImageLabel {
                source: None,
                ..label.clone()
            };
            assert_eq!(
                ImageLabel::from_tag(&tag),
                Some(("ami-0123".to_string(), without_source)),
                "{tag}"
            );
        }
        assert_eq!(ImageLabel::from_tag(""), None);
        assert_eq!(ImageLabel::from_tag("ami-1 -"), None);
    }

    #[test]
    fn quantities_round_like_kubernetes() {
        let cases = [
            (Quantity::Percent(25), 12, true, 3),
            (Quantity::Percent(25), 10, true, 3),
            (Quantity::Percent(25), 10, false, 2),
            (Quantity::Percent(10), 5000, true, 500),
            (Quantity::Percent(1), 5, false, 0),
            (Quantity::Count(2), 100, true, 2),
        ];
        for (q, desired, up, want) in cases {
            assert_eq!(q.resolve(desired, up), want, "{q} of {desired}");
        }
    }

    #[test]
    fn canary_checkpoints_increase_and_stop_short_of_desired() {
        let c = |instances, steps: Vec<Quantity>| Canary {
            instances,
            bake: Duration::ZERO,
            steps,
        };
        let cases = [
            (c(Quantity::Count(1), vec![]), 20, vec![1]),
            (
                c(
                    Quantity::Count(1),
                    vec![Quantity::Percent(10), Quantity::Percent(50)],
                ),
                20,
                vec![1, 2, 10],
            ),
            // 10% of 5 rounds up to the canary itself: one checkpoint, not two
            (
                c(Quantity::Count(1), vec![Quantity::Percent(10)]),
                5,
                vec![1],
            ),
            // a canary as large as the group is no checkpoint at all
            (c(Quantity::Percent(100), vec![]), 4, vec![]),
            (c(Quantity::Count(1), vec![]), 1, vec![]),
            (
                c(Quantity::Percent(5), vec![Quantity::Percent(100)]),
                40,
                vec![2],
            ),
        ];
        for (canary, desired, want) in cases {
            assert_eq!(canary.checkpoints(desired), want, "{canary:?} of {desired}");
        }
    }
}
