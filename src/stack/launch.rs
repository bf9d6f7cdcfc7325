//! The launch template settings beyond image, type, user data, security groups, profile and
//! key: instance metadata, block devices, monitoring, network interfaces, placement, CPU
//! credits and extra tag specifications. Plain data, shared by the stack, the plan (which
//! fingerprints it), every `Cloud` (which writes and reads it back) and the simulator.
//!
//! Every field has a default that is what a launch template without it gets, and
//! [`LaunchOptions::canonical`] leaves fields at their defaults out, so a stack that sets
//! none of them keeps the fingerprint it had before they existed.

use serde::{Deserialize, Serialize};

use super::tags::Tags;

/// `metadata { http_tokens, hop_limit }`: the instance metadata service. IMDSv2 with one hop
/// is the default, and what reroll writes when the block is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `required` (IMDSv2 only) or `optional`.
    pub http_tokens: String,
    /// `HttpPutResponseHopLimit`, 1 to 64.
    pub hop_limit: u32,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            http_tokens: "required".into(),
            hop_limit: 1,
        }
    }
}

/// One `block_device_mappings` entry: an EBS volume at a device name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    pub device_name: String,
    /// GiB; `None` keeps the image's size.
    pub volume_size: Option<u32>,
    /// `gp3`, `gp2`, `io1`, `io2`, `st1`, `sc1`, `standard`.
    pub volume_type: Option<String>,
    pub iops: Option<u32>,
    /// MiB/s (gp3 only).
    pub throughput: Option<u32>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
}

/// One `network_interfaces` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub device_index: u32,
    pub associate_public_ip_address: Option<bool>,
    pub delete_on_termination: Option<bool>,
    /// The interface's security groups. reroll puts the server group's `security_groups` on
    /// the interface at index 0 when one is declared (EC2 takes them in one place only).
    pub security_groups: Vec<String>,
    pub description: Option<String>,
}

/// `placement { group_name, tenancy, partition_number }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub group_name: Option<String>,
    /// `default`, `dedicated` or `host`.
    pub tenancy: Option<String>,
    pub partition_number: Option<u32>,
}

impl Placement {
    pub fn is_empty(&self) -> bool {
        self == &Placement::default()
    }
}

/// Everything a launch template holds besides the first fields of `cloud::LaunchSpec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchOptions {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub block_devices: Vec<BlockDevice>,
    /// Detailed (one-minute) CloudWatch monitoring.
    #[serde(default)]
    pub monitoring: bool,
    #[serde(default)]
    pub ebs_optimized: Option<bool>,
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub placement: Placement,
    /// `standard` or `unlimited` (burstable instance types).
    #[serde(default)]
    pub cpu_credits: Option<String>,
    /// Tags for launched instances only, on top of the group's tags.
    #[serde(default)]
    pub instance_tags: Tags,
    /// Tags for launched volumes only, on top of the group's tags.
    #[serde(default)]
    pub volume_tags: Tags,
}

impl LaunchOptions {
    /// The canonical `name=value` entries of the fingerprint, fields at their defaults left
    /// out. Block devices are keyed by device name and interfaces by index, so their order in
    /// the file is no change.
    pub fn canonical(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |name: String, value: String| out.push((name, value));
        let d = Metadata::default();
        if self.metadata.http_tokens != d.http_tokens {
            put(
                "metadata.http_tokens".into(),
                self.metadata.http_tokens.clone(),
            );
        }
        if self.metadata.hop_limit != d.hop_limit {
            put(
                "metadata.hop_limit".into(),
                self.metadata.hop_limit.to_string(),
            );
        }
        for b in &self.block_devices {
            put(
                format!("block_device.{}", b.device_name),
                or_default(b.describe()),
            );
        }
        if self.monitoring {
            put("monitoring".into(), "true".into());
        }
        if let Some(e) = self.ebs_optimized {
            put("ebs_optimized".into(), e.to_string());
        }
        for n in &self.network_interfaces {
            put(
                format!("network_interface.{}", n.device_index),
                or_default(n.describe()),
            );
        }
        let p = &self.placement;
        if let Some(g) = &p.group_name {
            put("placement.group_name".into(), g.clone());
        }
        if let Some(t) = &p.tenancy {
            put("placement.tenancy".into(), t.clone());
        }
        if let Some(n) = p.partition_number {
            put("placement.partition_number".into(), n.to_string());
        }
        if let Some(c) = &self.cpu_credits {
            put("cpu_credits".into(), c.clone());
        }
        for (k, v) in &self.instance_tags {
            put(format!("tag_specification.instance.{k}"), v.clone());
        }
        for (k, v) in &self.volume_tags {
            put(format!("tag_specification.volume.{k}"), v.clone());
        }
        out
    }

    /// The entries of [`LaunchOptions::canonical`] as `name = value` lines, for plan diffs:
    /// each setting by its name.
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut all = self.canonical();
        // The metadata defaults are shown too: a change to them is a change of a setting.
        for (name, value) in [
            ("metadata.http_tokens", self.metadata.http_tokens.clone()),
            ("metadata.hop_limit", self.metadata.hop_limit.to_string()),
        ] {
            if !all.iter().any(|(n, _)| n == name) {
                all.push((name.into(), value));
            }
        }
        all.sort();
        all
    }
}

/// A device or interface declared with nothing set is still declared.
fn or_default(s: String) -> String {
    if s.is_empty() {
        "default".into()
    } else {
        s
    }
}

/// `key=value` pairs of the set fields, in a fixed order.
fn fields(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

impl BlockDevice {
    pub fn describe(&self) -> String {
        fields(&[
            ("size", self.volume_size.map(|n| n.to_string())),
            ("type", self.volume_type.clone()),
            ("iops", self.iops.map(|n| n.to_string())),
            ("throughput", self.throughput.map(|n| n.to_string())),
            ("encrypted", self.encrypted.map(|b| b.to_string())),
            ("kms_key_id", self.kms_key_id.clone()),
        ])
    }
}

impl NetworkInterface {
    pub fn describe(&self) -> String {
        let mut sgs = self.security_groups.clone();
        sgs.sort();
        sgs.dedup();
        fields(&[
            (
                "public_ip",
                self.associate_public_ip_address.map(|b| b.to_string()),
            ),
            (
                "delete_on_termination",
                self.delete_on_termination.map(|b| b.to_string()),
            ),
            ("security_groups", (!sgs.is_empty()).then(|| sgs.join(" "))),
            ("description", self.description.clone()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_nothing_in_the_canonical_form() {
        assert!(LaunchOptions::default().canonical().is_empty());
        let o = LaunchOptions {
            metadata: Metadata {
                http_tokens: "optional".into(),
                hop_limit: 2,
            },
            monitoring: true,
            ..LaunchOptions::default()
        };
        assert_eq!(
            o.canonical(),
            vec![
                ("metadata.http_tokens".to_string(), "optional".to_string()),
                ("metadata.hop_limit".to_string(), "2".to_string()),
                ("monitoring".to_string(), "true".to_string()),
            ]
        );
    }

    #[test]
    fn block_devices_and_interfaces_read_as_one_entry_each() {
        let b = BlockDevice {
            device_name: "/dev/xvda".into(),
            volume_size: Some(50),
            volume_type: Some("gp3".into()),
            throughput: Some(250),
            encrypted: Some(true),
            ..BlockDevice::default()
        };
        assert_eq!(
            b.describe(),
            "size=50,type=gp3,throughput=250,encrypted=true"
        );
        let n = NetworkInterface {
            device_index: 0,
            associate_public_ip_address: Some(true),
            security_groups: vec!["sg-b".into(), "sg-a".into()],
            ..NetworkInterface::default()
        };
        assert_eq!(n.describe(), "public_ip=true,security_groups=sg-a sg-b");
    }
}
