//! Images: what an `image` block asks for, the Packer build it may name, what a lookup found
//! (`ResolvedImage`), the label people see beside an AMI id, and a copy from another region.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::tags::Tags;

/// What an `image` block asks for. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageFilter {
    /// Exact image ids.
    pub ids: Vec<String>,
    /// Owners: account ids, `self`, `amazon`, …
    pub owners: Vec<String>,
    /// Name pattern, `*` and `?` wildcards as in EC2's `name` filter.
    pub name: Option<String>,
    /// Tags that must all be present with these values.
    pub tags: Tags,
}

/// One EBS snapshot of an image: what a cross-region copy has to move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub size_gib: u64,
    pub encrypted: bool,
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
    pub copy: Option<ImageCopy>,
}

/// One image to copy into the plan's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCopy {
    /// The `image` block (`image.app`).
    pub address: String,
    pub source_region: String,
    /// The AMI copied: fixed when planned.
    pub source_image_id: String,
    pub name: String,
    pub snapshots: Vec<Snapshot>,
    /// The stack's `copy_kms_key`, for encrypted snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// A copy already started (found by its `reroll:source-image` tag, still pending): apply
    /// waits on it instead of starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// The source image's own tags, carried to the copy so that the lookup finds it.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub source_tags: Tags,
    pub estimate_seconds: u64,
}

impl ImageCopy {
    pub fn total_gib(&self) -> u64 {
        self.snapshots.iter().map(|s| s.size_gib).sum()
    }

    pub fn encrypted(&self) -> bool {
        self.snapshots.iter().any(|s| s.encrypted)
    }

    /// `reroll:source-image` of the copy.
    pub fn source_tag(&self) -> String {
        source_tag(&self.source_region, &self.source_image_id)
    }
}

/// `<region>:<ami id>`, the form of Packer's artifact ids.
pub fn source_tag(region: &str, image_id: &str) -> String {
    format!("{region}:{image_id}")
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
}
