//! Image copies: disaster recovery's first step, a planned action like any other.
//!
//! An `image` block with `copy_from` that finds nothing in the stack's region but finds the
//! image in `copy_from` plans an [`ImageCopy`]: the source region, AMI id and name, the
//! snapshots to move and an estimate. The source AMI is fixed in the plan: `apply` copies
//! exactly that image, and a saved plan whose source changed is refused. The copy is plain data
//! of the stack's model ([`crate::stack::ImageCopy`], found by `resolve`); here are its
//! estimate and its line in the plan.

use super::render::human_duration;
use crate::stack::Snapshot;
pub use crate::stack::{source_tag, ImageCopy};

/// Fixed part of a cross-region copy: AWS starts the copy and registers the image.
pub const COPY_BASE_SECONDS: u64 = 120;
/// Transfer time per GiB of snapshot data. AWS publishes no copy rate; this is a model (about
/// 4 GiB a minute), used by the plan's estimate and by the simulator alike.
pub const COPY_SECONDS_PER_GIB: u64 = 15;

/// How long copying `snapshots` into another region is expected to take.
pub fn copy_seconds(snapshots: &[Snapshot]) -> u64 {
    COPY_BASE_SECONDS + COPY_SECONDS_PER_GIB * snapshots.iter().map(|s| s.size_gib).sum::<u64>()
}

impl ImageCopy {
    /// The plan's line for this copy.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self
            .snapshots
            .iter()
            .map(|s| {
                format!(
                    "{} {} GiB{}",
                    s.id,
                    s.size_gib,
                    if s.encrypted { " encrypted" } else { "" }
                )
            })
            .collect();
        let snapshots = if sizes.is_empty() {
            "no snapshots listed".to_string()
        } else {
            sizes.join(", ")
        };
        let how = match &self.in_progress {
            Some(id) => format!("wait for {id}, already copying"),
            None => "copy".to_string(),
        };
        format!(
            "{how} {} ({}) from {}: {snapshots}; about {}",
            self.source_image_id,
            self.name,
            self.source_region,
            human_duration(self.estimate_seconds)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Tags;

    fn snap(size_gib: u64, encrypted: bool) -> Snapshot {
        Snapshot {
            id: format!("snap-{size_gib}"),
            size_gib,
            encrypted,
        }
    }

    #[test]
    fn the_estimate_grows_with_the_snapshots() {
        let cases: [(&[Snapshot], u64); 3] = [
            (&[], 120),
            (&[snap(8, false)], 120 + 8 * 15),
            (&[snap(8, false), snap(100, true)], 120 + 108 * 15),
        ];
        for (snapshots, want) in cases {
            assert_eq!(copy_seconds(snapshots), want, "{snapshots:?}");
        }
    }

    #[test]
    fn a_copy_reads_as_what_it_moves() {
        let mut c = ImageCopy {
            address: "image.app".into(),
            source_region: "us-east-1".into(),
            source_image_id: "ami-1".into(),
            name: "app-1.0".into(),
            snapshots: vec![snap(8, false), snap(20, true)],
            kms_key: Some("alias/dr".into()),
            in_progress: None,
            source_tags: Tags::new(),
            estimate_seconds: 540,
        };
        assert_eq!(
            c.describe(),
            "copy ami-1 (app-1.0) from us-east-1: snap-8 8 GiB, snap-20 20 GiB encrypted; about 9m"
        );
        assert!(c.encrypted());
        assert_eq!(c.total_gib(), 28);
        c.in_progress = Some("ami-2".into());
        assert!(c
            .describe()
            .starts_with("wait for ami-2, already copying ami-1 (app-1.0) from us-east-1"));
    }
}
