//! Images: names that resolve to made-up images, images put by tests, and copies between
//! regions that become available after their estimated time.

use super::time::Ms;
use super::util::{has_tags, hex, not_found};
use super::world::World;
use crate::cloud::{
    glob_match, CloudResult, CopyImageRequest, ImageFilter, ImageInfo, Snapshot, Tags,
};

pub(super) const IMAGE_CREATION_DATE: &str = "2026-01-01T00:00:00.000Z";
/// The root volume of an image the simulator makes up: 8 GiB, unencrypted.
const IMAGE_ROOT_GIB: u64 = 8;

fn default_snapshot(image_id: &str) -> Snapshot {
    Snapshot {
        id: format!("snap-{}", image_id.trim_start_matches("ami-")),
        size_gib: IMAGE_ROOT_GIB,
        encrypted: false,
    }
}

impl World {
    fn synthesize_image(&mut self, region: &str, name: &str, tags: &Tags) -> ImageInfo {
        let id = format!("ami-0{}", hex(&[region, name], 16));
        let account = self.config.account_id.clone();
        let images = self.images.entry(region.to_string()).or_default();
        let image = images.entry(id.clone()).or_insert_with(|| ImageInfo {
            snapshots: vec![default_snapshot(&id)],
            id,
            name: name.to_string(),
            owner: account,
            creation_date: IMAGE_CREATION_DATE.to_string(),
            state: "available".into(),
            architecture: Some("x86_64".into()),
            tags: Tags::new(),
        });
        image.tags.extend(tags.clone());
        image.clone()
    }

    /// Images in `region` matching `filter`; names that do not exist yet are made up (except in
    /// this region, for names in `missing_images`).
    pub fn describe_images(
        &mut self,
        operation: &'static str,
        region: &str,
        filter: &ImageFilter,
        now: Ms,
    ) -> CloudResult<Vec<ImageInfo>> {
        let known: Vec<ImageInfo> = self
            .images
            .get(region)
            .map(|r| r.values().map(|i| self.image_at(i, now)).collect())
            .unwrap_or_default();
        let matches = |img: &ImageInfo| {
            (filter.ids.is_empty() || filter.ids.contains(&img.id))
                && filter
                    .name
                    .as_deref()
                    .is_none_or(|p| glob_match(p, &img.name))
                && has_tags(&img.tags, &filter.tags)
        };
        if !filter.ids.is_empty() {
            let missing: Vec<&String> = filter
                .ids
                .iter()
                .filter(|id| !known.iter().any(|i| &i.id == *id))
                .collect();
            if !missing.is_empty() {
                return Err(not_found(
                    operation,
                    format!("image {}", filter.ids.join(", ")),
                    "InvalidAMIID.NotFound",
                ));
            }
            return Ok(known.into_iter().filter(matches).collect());
        }
        let Some(pattern) = filter.name.as_deref() else {
            return Ok(known.into_iter().filter(matches).collect());
        };
        let found: Vec<ImageInfo> = known.into_iter().filter(matches).collect();
        if !found.is_empty() {
            return Ok(found);
        }
        let name = pattern.replace(['*', '?'], "1");
        if region == self.region() && self.config.missing_images.contains(&name) {
            return Ok(Vec::new());
        }
        Ok(vec![self.synthesize_image(region, &name, &filter.tags)])
    }

    pub fn put_image(&mut self, region: &str, image: ImageInfo) {
        self.images
            .entry(region.to_string())
            .or_default()
            .insert(image.id.clone(), image);
    }

    /// An image as it is at `now`: a copy is `pending` until its copy time has passed.
    fn image_at(&self, image: &ImageInfo, now: Ms) -> ImageInfo {
        let mut image = image.clone();
        if self.image_ready.get(&image.id).is_some_and(|&t| now < t) {
            image.state = "pending".into();
        }
        image
    }

    /// CopyImage: the copy is `pending` for the copy time [`crate::plan::copy::copy_seconds`]
    /// models, then `available`.
    pub fn copy_image(
        &mut self,
        operation: &'static str,
        request: &CopyImageRequest<'_>,
        now: Ms,
    ) -> CloudResult<String> {
        let Some(source) = self
            .images
            .get(request.source_region)
            .and_then(|r| r.get(request.source_image_id))
            .cloned()
        else {
            return Err(not_found(
                operation,
                format!(
                    "image {} in {}",
                    request.source_image_id, request.source_region
                ),
                "InvalidAMIID.NotFound",
            ));
        };
        let id = self.new_id("ami");
        let region = self.region().to_string();
        let encrypt = request.kms_key.is_some();
        let image = ImageInfo {
            id: id.clone(),
            name: request.name.to_string(),
            owner: self.config.account_id.clone(),
            creation_date: IMAGE_CREATION_DATE.to_string(),
            state: "available".into(),
            architecture: source.architecture.clone(),
            tags: request.tags.clone(),
            snapshots: source
                .snapshots
                .iter()
                .map(|s| Snapshot {
                    id: format!("snap-copy-{}", &id[4..]),
                    size_gib: s.size_gib,
                    encrypted: s.encrypted || encrypt,
                })
                .collect(),
        };
        let seconds = crate::plan::copy::copy_seconds(&source.snapshots);
        self.image_ready.insert(id.clone(), now + seconds * 1000);
        self.images
            .entry(region)
            .or_default()
            .insert(id.clone(), image);
        Ok(id)
    }

    /// EC2 knows the image in this region, and it has not been deregistered (its name is not
    /// among the missing images).
    pub(super) fn image_exists(&self, id: &str) -> bool {
        self.images
            .get(self.region())
            .and_then(|r| r.get(id))
            .is_some_and(|img| {
                // A copy into this region is launchable once available, whatever its name.
                match self.image_ready.get(id) {
                    Some(&ready) => self.settled >= ready,
                    None => !self.config.missing_images.contains(&img.name),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_ec2_filters() {
        assert!(glob_match("demo-app-*", "demo-app-1.0.0"));
        assert!(glob_match("demo-app-1.?.0", "demo-app-1.1.0"));
        assert!(!glob_match("demo-app-*", "other-1.0.0"));
    }
}
