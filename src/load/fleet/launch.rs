//! The launch template blocks of a `server_group` (`metadata`, `block_device_mappings`,
//! `monitoring`, `network_interfaces`, `placement`, `credit_specification`,
//! `tag_specifications`) into [`LaunchOptions`].

use std::collections::BTreeMap;

use crate::cloud::launch::{BlockDevice, LaunchOptions, Metadata, NetworkInterface, Placement};
use crate::cloud::Tags;
use crate::load::convert::conv::{Evaluated, Fields};
use crate::load::diag::Problem;
use crate::stack::is_unknown;

use super::common::*;

/// The launch template settings of a server group. `group_tags` are the group's `tags`,
/// which extra tag specifications may not repeat.
pub fn launch_options(
    e: &Evaluated,
    group_tags: &Tags,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> LaunchOptions {
    let mut o = LaunchOptions::default();
    let mut f = Fields::new(e, problems);
    o.ebs_optimized = f.get("ebs_optimized", |c, v| c.boolean(v));
    *ok &= f.ok;
    if let Some(m) = e.nested("metadata") {
        o.metadata = metadata(m, problems, ok);
    }
    o.block_devices = block_devices(e, problems, ok);
    if let Some(m) = e.nested("monitoring") {
        let mut f = Fields::new(m, problems);
        o.monitoring = f.get("enabled", |c, v| c.boolean(v)).unwrap_or(false);
        *ok &= f.ok;
    }
    o.network_interfaces = network_interfaces(e, problems, ok);
    if let Some(p) = e.nested("placement") {
        o.placement = placement(p, problems, ok);
    }
    if let Some(c) = e.nested("credit_specification") {
        let mut f = Fields::new(c, problems);
        o.cpu_credits = f.req("cpu_credits", |c, v| {
            c.one_of(v, &["standard", "unlimited"])
        });
        *ok &= f.ok;
    }
    tag_specifications(e, group_tags, &mut o, problems, ok);
    o
}

/// `metadata { http_tokens, hop_limit }`.
fn metadata(m: &Evaluated, problems: &mut Vec<Problem>, ok: &mut bool) -> Metadata {
    let mut f = Fields::new(m, problems);
    let d = Metadata::default();
    let metadata = Metadata {
        http_tokens: f
            .get("http_tokens", |c, v| c.one_of(v, &["required", "optional"]))
            .unwrap_or(d.http_tokens),
        hop_limit: f
            .get("hop_limit", |c, v| c.number(v, 1, 64))
            .map_or(d.hop_limit, |n| n as u32),
    };
    *ok &= f.ok;
    metadata
}

/// Every `block_device_mappings` block, each device name once.
fn block_devices(e: &Evaluated, problems: &mut Vec<Problem>, ok: &mut bool) -> Vec<BlockDevice> {
    let mut devices = BTreeMap::new();
    let mut out = Vec::new();
    for b in all(e, "block_device_mappings") {
        let mut f = Fields::new(b, problems);
        let device_name = f.req("device_name", |c, v| {
            let s = c.string(v)?;
            if !(is_unknown(&s) || s.starts_with("/dev/") || s.starts_with("xvd")) {
                c.invalid(
                    format!("device name {s:?} is not a device"),
                    "expected a device name such as \"/dev/xvda\" or \"xvdf\"",
                );
                return None;
            }
            Some(s)
        });
        let mut dev = BlockDevice {
            device_name: device_name.clone().unwrap_or_default(),
            ..BlockDevice::default()
        };
        let mut dok = f.ok;
        if let Some(ebs) = b.nested("ebs") {
            dok &= ebs_volume(ebs, &mut dev, problems);
        }
        if let Some(name) = device_name {
            dok &= unique(&mut devices, name, "block device", block_loc(b), problems);
        }
        *ok &= dok;
        out.push(dev);
    }
    out
}

/// A block device's `ebs` block, with the settings its volume type does not take refused.
/// Whether it converted without a problem.
fn ebs_volume(ebs: &Evaluated, dev: &mut BlockDevice, problems: &mut Vec<Problem>) -> bool {
    let mut f = Fields::new(ebs, problems);
    dev.volume_size = f
        .get("volume_size", |c, v| c.number(v, 1, 65_536))
        .map(|n| n as u32);
    dev.volume_type = f.get("volume_type", |c, v| {
        c.one_of(v, &["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"])
    });
    dev.iops = f
        .get("iops", |c, v| c.number(v, 100, 256_000))
        .map(|n| n as u32);
    dev.throughput = f
        .get("throughput", |c, v| c.number(v, 125, 2_000))
        .map(|n| n as u32);
    dev.encrypted = f.get("encrypted", |c, v| c.boolean(v));
    dev.kms_key_id = f.get("kms_key_id", |c, v| c.string(v));
    let ty = dev.volume_type.as_deref().unwrap_or("gp3");
    let mut refuse = |name: &str, message: String, label: &str, help: &str| {
        if let Some(at) = attr_loc(ebs, name) {
            f.problems
                .push(Problem::new(message).at(at).label(label).help(help));
            f.ok = false;
        }
    };
    if dev.iops.is_some() && !matches!(ty, "gp3" | "io1" | "io2") {
        refuse(
            "iops",
            format!("`iops` cannot be set on a {ty} volume"),
            "only gp3, io1 and io2 volumes take iops",
            "set volume_type = \"gp3\", or remove `iops`",
        );
    }
    if dev.throughput.is_some() && ty != "gp3" {
        refuse(
            "throughput",
            format!("`throughput` cannot be set on a {ty} volume"),
            "only gp3 volumes take a throughput",
            "set volume_type = \"gp3\", or remove `throughput`",
        );
    }
    if dev.kms_key_id.is_some() && dev.encrypted != Some(true) {
        refuse(
            "kms_key_id",
            "`kms_key_id` needs `encrypted = true`".into(),
            "a key encrypts only an encrypted volume",
            "add encrypted = true to this ebs block",
        );
    }
    f.ok
}

/// Every `network_interfaces` block, each device index once.
fn network_interfaces(
    e: &Evaluated,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) -> Vec<NetworkInterface> {
    let mut indexes = BTreeMap::new();
    let mut out = Vec::new();
    for n in all(e, "network_interfaces") {
        let mut f = Fields::new(n, problems);
        let ni = NetworkInterface {
            device_index: f
                .get("device_index", |c, v| c.number(v, 0, 31))
                .unwrap_or(0) as u32,
            associate_public_ip_address: f.get("associate_public_ip_address", |c, v| c.boolean(v)),
            delete_on_termination: f.get("delete_on_termination", |c, v| c.boolean(v)),
            security_groups: f
                .get("security_groups", |c, v| c.string_list(v))
                .unwrap_or_default(),
            description: f.get("description", |c, v| c.string(v)),
        };
        let mut nok = f.ok;
        nok &= unique(
            &mut indexes,
            ni.device_index.to_string(),
            "network interface device_index",
            block_loc(n),
            problems,
        );
        if ni.associate_public_ip_address.is_some() && ni.device_index != 0 {
            if let Some(at) = attr_loc(n, "associate_public_ip_address") {
                problems.push(
                    Problem::new("a public IP address is given on device_index 0 only")
                        .at(at)
                        .label("EC2 associates a public address with the primary interface")
                        .help("move associate_public_ip_address to the interface with device_index = 0"),
                );
                nok = false;
            }
        }
        *ok &= nok;
        out.push(ni);
    }
    out
}

/// `placement { group_name, tenancy, partition_number }`.
fn placement(p: &Evaluated, problems: &mut Vec<Problem>, ok: &mut bool) -> Placement {
    let mut f = Fields::new(p, problems);
    let placement = Placement {
        group_name: f.get("group_name", |c, v| c.string(v)),
        tenancy: f.get("tenancy", |c, v| {
            c.one_of(v, &["default", "dedicated", "host"])
        }),
        partition_number: f
            .get("partition_number", |c, v| c.number(v, 1, 7))
            .map(|n| n as u32),
    };
    if placement.partition_number.is_some() && placement.group_name.is_none() {
        if let Some(at) = attr_loc(p, "partition_number") {
            f.problems.push(
                Problem::new("`partition_number` needs a `group_name`")
                    .at(at)
                    .label("a partition belongs to a partition placement group")
                    .help("add group_name = \"…\" naming the placement group"),
            );
            f.ok = false;
        }
    }
    *ok &= f.ok;
    placement
}

/// Every `tag_specifications` block into `o`'s instance and volume tags: one per resource
/// type, none of reroll's own or the group's tags, none given to both with the same value.
fn tag_specifications(
    e: &Evaluated,
    group_tags: &Tags,
    o: &mut LaunchOptions,
    problems: &mut Vec<Problem>,
    ok: &mut bool,
) {
    let mut kinds = BTreeMap::new();
    for t in all(e, "tag_specifications") {
        let mut f = Fields::new(t, problems);
        let kind = f.req("resource_type", |c, v| c.one_of(v, &["instance", "volume"]));
        let tags = f.req("tags", |c, v| {
            let tags = c.string_map(v)?;
            for k in tags.keys() {
                if k.starts_with("reroll:") || k == "Name" {
                    c.invalid(
                        format!("tag `{k}` is reroll's own"),
                        "reroll sets Name and reroll:* on everything it launches",
                    );
                    return None;
                }
                if group_tags.contains_key(k) {
                    c.invalid(
                        format!("tag `{k}` is in the server group's `tags` already"),
                        "the group's tags go on instances and volumes alike",
                    );
                    return None;
                }
            }
            Some(tags)
        });
        let mut tok = f.ok;
        if let (Some(kind), Some(tags)) = (kind, tags) {
            tok &= unique(
                &mut kinds,
                kind.clone(),
                "tag_specifications for",
                block_loc(t),
                problems,
            );
            if kind == "instance" {
                o.instance_tags = tags;
            } else {
                o.volume_tags = tags;
            }
        }
        *ok &= tok;
    }
    if let Some((k, _)) = o
        .instance_tags
        .iter()
        .find(|(k, v)| o.volume_tags.get(*k) == Some(*v))
    {
        let at = all(e, "tag_specifications").last().map(block_loc);
        problems.push(
            Problem::new(format!(
                "tag `{k}` is given to instances and to volumes with the same value"
            ))
            .at_opt(at)
            .label("tags for both belong in the server group's `tags`")
            .help(format!("move `{k}` to the server group's `tags`")),
        );
        *ok = false;
    }
}
