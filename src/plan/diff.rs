//! Attribute differences, as the plan shows them.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::types::{Action, AttrDiff, Change, Kind};
use crate::cloud::Tags;
use crate::stack::launch::LaunchOptions;
use crate::stack::{ImageLabel, REDACTED};

/// The launch template settings that differ, each by its name (`metadata.http_tokens`,
/// `block_device./dev/xvda`, `placement.tenancy`, …).
pub(super) fn launch_option_diffs(before: &LaunchOptions, after: &LaunchOptions) -> Vec<AttrDiff> {
    let (have, want) = (before.settings(), after.settings());
    let value = |all: &[(String, String)], name: &str| {
        all.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    let names: BTreeSet<&String> = have.iter().chain(&want).map(|(n, _)| n).collect();
    names
        .into_iter()
        .filter_map(|n| diff(n, value(&have, n), value(&want, n), true))
        .collect()
}

pub(super) fn deletion(address: &str, kind: Kind, reason: &str) -> Change {
    Change {
        address: address.to_string(),
        kind,
        action: Action::Delete,
        reason: reason.to_string(),
        diffs: Vec::new(),
        rollout: None,
        fingerprint: None,
        launch: None,
    }
}

pub(super) fn diff(
    name: &str,
    before: Option<String>,
    after: Option<String>,
    forces: bool,
) -> Option<AttrDiff> {
    (before != after).then(|| AttrDiff {
        name: name.to_string(),
        before,
        after,
        forces_replacement: forces,
        before_image: None,
        after_image: None,
    })
}

/// The image diff: AMI ids, each with its name and creation date when known.
pub(super) fn image_diff(
    before: Option<(String, Option<ImageLabel>)>,
    after: (String, Option<ImageLabel>),
    forces: bool,
) -> Option<AttrDiff> {
    let (before, before_image) = before.unzip();
    let d = diff("image", before, Some(after.0), forces)?;
    Some(AttrDiff {
        before_image: before_image.flatten(),
        after_image: after.1,
        ..d
    })
}

/// An in-place resource: an Update when settings differ, else a NoOp.
pub(super) fn settings_change(address: &str, kind: Kind, diffs: Vec<AttrDiff>) -> Change {
    let (action, reason) = if diffs.is_empty() {
        (Action::NoOp, "matches the stack")
    } else {
        (Action::Update, "settings differ")
    };
    Change {
        address: address.to_string(),
        kind,
        action,
        reason: reason.into(),
        diffs,
        rollout: None,
        fingerprint: None,
        launch: None,
    }
}

/// A difference in a sensitive value: found on the values, shown as `(sensitive)`.
pub(super) fn redacted(d: AttrDiff) -> AttrDiff {
    AttrDiff {
        before: d.before.map(|_| REDACTED.to_string()),
        after: d.after.map(|_| REDACTED.to_string()),
        ..d
    }
}

pub(super) fn short_hash(s: &str) -> String {
    format!(
        "sha256:{}…",
        &hex::encode(Sha256::digest(s.as_bytes()))[..12]
    )
}

pub(super) fn tags_text(t: &Tags) -> String {
    t.iter()
        .filter(|(k, _)| !k.starts_with("reroll:"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
