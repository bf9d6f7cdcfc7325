//! Canonical, versioned fingerprints of launch definitions, and the legacy form they replaced.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cloud::{LaunchSpec, Tags};
use crate::stack::is_unknown;
use crate::stack::scaling::GroupSettings;

/// The version of the fingerprint's canonical form, the prefix of every fingerprint.
pub const FINGERPRINT_FORMAT: &str = "f1";

/// The fingerprint of everything that defines an instance; `None` while any of it is unknown.
///
/// It hashes a canonical form, never a serialized struct: one `name=value` entry per field in
/// name order, security groups and subnets as sorted sets, tags by key, user data as its
/// digest, and fields at their defaults (absent, empty) left out. So a field added in a later
/// release changes no existing fingerprint until a stack sets it, and reordering subnets or
/// security groups is no change. The result is `f1:` and 16 hex digits.
pub fn fingerprint(spec: &LaunchSpec, subnets: &[String]) -> Option<String> {
    fingerprint_of(spec, subnets, &GroupSettings::default())
}

/// [`fingerprint`] of a definition that includes its group's Auto Scaling settings (under
/// `group.…` names, what the stack does not set left out).
pub fn fingerprint_of(
    spec: &LaunchSpec,
    subnets: &[String],
    settings: &GroupSettings,
) -> Option<String> {
    let set = |v: &[String]| {
        let s: BTreeSet<&str> = v.iter().map(String::as_str).collect();
        s.into_iter().collect::<Vec<_>>().join(",")
    };
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        if !value.is_empty() {
            fields.insert(name.to_string(), value);
        }
    };
    put("image_id", spec.image_id.clone());
    put("instance_type", spec.instance_type.clone());
    put(
        "user_data.sha256",
        spec.user_data
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| hex::encode(Sha256::digest(u.as_bytes())))
            .unwrap_or_default(),
    );
    put("security_groups", set(&spec.security_group_ids));
    put("subnets", set(subnets));
    put(
        "instance_profile",
        spec.instance_profile.clone().unwrap_or_default(),
    );
    put("key_name", spec.key_name.clone().unwrap_or_default());
    for (k, v) in &spec.instance_tags {
        put(&format!("tag.{k}"), v.clone());
    }
    for (k, v) in spec
        .options
        .canonical()
        .into_iter()
        .chain(settings.canonical())
    {
        put(&k, v);
    }
    let mut h = Sha256::new();
    h.update(format!("reroll launch definition {FINGERPRINT_FORMAT}\n"));
    for (name, value) in &fields {
        if is_unknown(value) {
            return None;
        }
        // Length-prefixed, so that no value can pose as another field.
        h.update(format!("{name}:{}={value}\n", value.len()));
    }
    Some(format!(
        "{FINGERPRINT_FORMAT}:{}",
        hex::encode(&h.finalize()[..8])
    ))
}

/// The fingerprint of releases before [`FINGERPRINT_FORMAT`] (the JSON of the launch spec and
/// the subnets in file order): generations tagged with it still count as the same definition.
pub fn legacy_fingerprint(spec: &LaunchSpec, subnets: &[String]) -> Option<String> {
    /// The launch spec as it was serialized then, field for field.
    #[derive(Serialize)]
    struct Legacy<'a> {
        image_id: &'a str,
        instance_type: &'a str,
        user_data: &'a Option<String>,
        security_group_ids: &'a [String],
        instance_profile: &'a Option<String>,
        key_name: &'a Option<String>,
        instance_tags: &'a Tags,
    }
    let legacy = Legacy {
        image_id: &spec.image_id,
        instance_type: &spec.instance_type,
        user_data: &spec.user_data,
        security_group_ids: &spec.security_group_ids,
        instance_profile: &spec.instance_profile,
        key_name: &spec.key_name,
        instance_tags: &spec.instance_tags,
    };
    let json = serde_json::to_string(&(legacy, subnets)).ok()?;
    if is_unknown(&json) {
        return None;
    }
    Some(hex::encode(&Sha256::digest(json.as_bytes())[..8]))
}
