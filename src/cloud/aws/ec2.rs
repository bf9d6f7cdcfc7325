//! EC2: images and their copies, the network lookups (VPCs, subnets, security groups), key
//! pairs and instances (listed, launched, tagged, terminated), with the filters and tags those
//! calls are sent. Launch templates are in `launch_templates.rs`.

use std::collections::HashSet;

use aws_sdk_ec2 as ec2;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::client::{all_items, AwsCloud};
use super::convert::{
    has_tags, image_info, in_stack, instance_info, non_empty_vec, security_group_info, subnet_info,
    text, to_i32, vpc_info,
};
use crate::cloud::{
    glob_match, tag, CloudResult, CopyImageRequest, ImageFilter, ImageInfo, InstanceInfo, RunSpec,
    SecurityGroupInfo, SubnetInfo, Tags, VpcInfo,
};

/// DescribeInstances, DescribeImages, DescribeVpcs, DescribeSubnets, DescribeSecurityGroups.
pub(super) const EC2_PAGE: i32 = 1000;

/// Instance ids per EC2 TerminateInstances call, resource ids per CreateTags call.
const EC2_IDS_PER_CALL: usize = 1000;
/// Values one EC2 filter takes.
const EC2_FILTER_VALUES: usize = 200;

/// Instances per RunInstances call: the burst of EC2's RunInstances rate limit.
const RUN_INSTANCES_PER_CALL: u32 = 1000;

/// Length limit of an EC2 idempotency token.
const CLIENT_TOKEN_MAX: usize = 64;

/// EC2's error for instance ids that do not exist; its message names them.
const INSTANCE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// Instance states that still count as part of a fleet (everything but `terminated`).
const LIVE_INSTANCE_STATES: [&str; 5] =
    ["pending", "running", "shutting-down", "stopping", "stopped"];

impl AwsCloud {
    pub(super) async fn describe_images(
        &self,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        let mut filters = ec2_tag_filters(&filter.tags);
        if let Some(name) = &filter.name {
            filters.push(ec2_filter("name", [name.as_str()]));
        }
        let mut request = self
            .ec2
            .describe_images()
            .set_owners(non_empty_vec(&filter.owners))
            .set_image_ids(non_empty_vec(&filter.ids))
            .set_filters(Some(filters));
        // EC2 refuses MaxResults together with ImageIds.
        if filter.ids.is_empty() {
            request = request.max_results(EC2_PAGE);
        }
        let what = images_what(filter);
        let images = self
            .call("EC2.DescribeImages", what, all_items!(request))
            .await?;
        Ok(images
            .iter()
            .map(image_info)
            .filter(|image| image_matches(image, filter))
            .collect())
    }

    pub(super) async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        if region == self.region {
            return self.describe_images(filter).await;
        }
        self.for_region(region).describe_images(filter).await
    }

    pub(super) async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String> {
        let mut call = self
            .ec2
            .copy_image()
            .source_region(request.source_region)
            .source_image_id(request.source_image_id)
            .name(request.name);
        if let Some(key) = request.kms_key {
            call = call.encrypted(true).kms_key_id(key);
        }
        let what = format!(
            "image {} in {}",
            request.source_image_id, request.source_region
        );
        let out = self.call("EC2.CopyImage", what, call.send()).await?;
        let image_id = text(out.image_id());
        if !request.tags.is_empty() {
            let call = self
                .ec2
                .create_tags()
                .resources(&image_id)
                .set_tags(Some(ec2_tags(request.tags)));
            let what = format!("image {image_id}");
            self.call("EC2.CreateTags", what, call.send()).await?;
        }
        Ok(image_id)
    }

    pub(super) async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.ec2.describe_key_pairs().send();
        let out = self
            .call("EC2.DescribeKeyPairs", "key pairs", request)
            .await?;
        let known: HashSet<&str> = out
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name())
            .collect();
        Ok(names
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .cloned()
            .collect())
    }

    pub(super) async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>> {
        let request = self
            .ec2
            .describe_vpcs()
            .set_filters(Some(ec2_tag_filters(tags)))
            .max_results(EC2_PAGE);
        let vpcs = self
            .call("EC2.DescribeVpcs", "VPCs", all_items!(request))
            .await?;
        Ok(vpcs
            .iter()
            .map(vpc_info)
            .filter(|vpc| has_tags(&vpc.tags, tags))
            .collect())
    }

    pub(super) async fn find_subnets(
        &self,
        vpc_id: &str,
        tags: &Tags,
    ) -> CloudResult<Vec<SubnetInfo>> {
        let request = self
            .ec2
            .describe_subnets()
            .set_filters(Some(ec2_vpc_filters(vpc_id, tags)))
            .max_results(EC2_PAGE);
        let what = format!("subnets of {vpc_id}");
        let subnets = self
            .call("EC2.DescribeSubnets", what, all_items!(request))
            .await?;
        Ok(subnets
            .iter()
            .map(subnet_info)
            .filter(|s| s.vpc_id == vpc_id && has_tags(&s.tags, tags))
            .collect())
    }

    pub(super) async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>> {
        let mut filters = ec2_vpc_filters(vpc_id, tags);
        if !names.is_empty() {
            filters.push(ec2_filter("group-name", names));
        }
        let request = self
            .ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .max_results(EC2_PAGE);
        let what = format!("security groups of {vpc_id}");
        let groups = self
            .call("EC2.DescribeSecurityGroups", what, all_items!(request))
            .await?;
        Ok(groups
            .iter()
            .map(security_group_info)
            .filter(|sg| {
                sg.vpc_id.as_deref() == Some(vpc_id)
                    && (names.is_empty() || names.contains(&sg.name))
                    && has_tags(&sg.tags, tags)
            })
            .collect())
    }

    /// The stack's live instances; with `key`, only those carrying that tag.
    pub(super) async fn list_instances(
        &self,
        stack: &str,
        key: Option<&str>,
    ) -> CloudResult<Vec<InstanceInfo>> {
        let mut request = self
            .ec2
            .describe_instances()
            .filters(ec2_stack_filter(stack))
            .filters(ec2_filter("instance-state-name", LIVE_INSTANCE_STATES))
            .max_results(EC2_PAGE);
        if let Some(key) = key {
            request = request.filters(ec2_filter("tag-key", [key]));
        }
        let reservations = self
            .call("EC2.DescribeInstances", "instances", all_items!(request))
            .await?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.instances())
            .map(instance_info)
            .filter(|i| {
                in_stack(&i.tags, stack)
                    && LIVE_INSTANCE_STATES.contains(&i.state.as_str())
                    && key.is_none_or(|k| i.tags.contains_key(k))
            })
            .collect())
    }

    /// Which of `ids` are live: filtered by id (a filter, unlike `InstanceIds`, does not fail
    /// on an id EC2 no longer knows), at most 200 values a filter.
    pub(super) async fn live_instances(
        &self,
        ids: &[String],
    ) -> CloudResult<std::collections::BTreeSet<String>> {
        let mut live = std::collections::BTreeSet::new();
        for batch in ids.chunks(EC2_FILTER_VALUES) {
            let request = self
                .ec2
                .describe_instances()
                .filters(ec2_filter("instance-id", batch.iter().cloned()))
                .filters(ec2_filter("instance-state-name", LIVE_INSTANCE_STATES))
                .max_results(EC2_PAGE);
            let reservations = self
                .call("EC2.DescribeInstances", "instances", all_items!(request))
                .await?;
            live.extend(
                reservations
                    .iter()
                    .flat_map(|r| r.instances())
                    .map(instance_info)
                    .filter(|i| LIVE_INSTANCE_STATES.contains(&i.state.as_str()))
                    .map(|i| i.id),
            );
        }
        Ok(live)
    }

    pub(super) async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()> {
        const OP: &str = "EC2.TerminateInstances";
        for batch in instance_ids.chunks(EC2_IDS_PER_CALL) {
            let mut batch = batch.to_vec();
            // Each round drops the ids EC2 says do not exist (already gone), so it ends.
            while !batch.is_empty() {
                let request = self
                    .ec2
                    .terminate_instances()
                    .set_instance_ids(Some(batch.clone()));
                let Err(err) = request.send().await else {
                    break;
                };
                let gone = missing_instances(&err, &batch);
                if gone.is_empty() {
                    return Err(self.error(OP, ids_what("instance", &batch), err));
                }
                batch.retain(|id| !gone.contains(id));
            }
        }
        Ok(())
    }

    pub(super) async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>> {
        let template = ec2::types::LaunchTemplateSpecification::builder()
            .launch_template_id(&spec.launch_template_id)
            .version(&spec.launch_template_version)
            .build();
        let tag_specs = launched_tag_specs(&spec.tags, |kind, tags| {
            ec2::types::TagSpecification::builder()
                .resource_type(kind)
                .set_tags(Some(tags))
                .build()
        });
        let what = format!(
            "launch template {} version {} in {}",
            spec.launch_template_id, spec.launch_template_version, spec.subnet_id
        );
        let mut ids = Vec::new();
        for (index, count) in launch_batches(spec.count).enumerate() {
            let request = self
                .ec2
                .run_instances()
                .launch_template(template.clone())
                .subnet_id(&spec.subnet_id)
                .min_count(to_i32(count))
                .max_count(to_i32(count))
                .set_tag_specifications(tag_specs.clone())
                .set_client_token(
                    spec.client_token
                        .as_deref()
                        .map(|token| batch_client_token(token, index)),
                );
            let out = self.call("EC2.RunInstances", &what, request.send()).await?;
            ids.extend(out.instances().iter().map(|i| text(i.instance_id())));
        }
        Ok(ids)
    }

    pub(super) async fn tag_instances(
        &self,
        instance_ids: &[String],
        tags: &Tags,
    ) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let what = ids_what("instance", instance_ids);
        self.in_batches(
            "EC2.CreateTags",
            &what,
            instance_ids,
            EC2_IDS_PER_CALL,
            |batch| {
                self.ec2
                    .create_tags()
                    .set_resources(Some(batch))
                    .set_tags(Some(ec2_tags(tags)))
                    .send()
            },
        )
        .await?;
        Ok(())
    }
}

pub(super) fn ec2_filter<I, S>(name: &str, values: I) -> ec2::types::Filter
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    ec2::types::Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// One `tag:K = V` filter per tag.
fn ec2_tag_filters(tags: &Tags) -> Vec<ec2::types::Filter> {
    tags.iter()
        .map(|(k, v)| ec2_filter(&format!("tag:{k}"), [v.as_str()]))
        .collect()
}

pub(super) fn ec2_stack_filter(stack: &str) -> ec2::types::Filter {
    ec2_filter(&format!("tag:{}", tag::STACK), [stack])
}

fn ec2_vpc_filters(vpc_id: &str, tags: &Tags) -> Vec<ec2::types::Filter> {
    let mut filters = vec![ec2_filter("vpc-id", [vpc_id])];
    filters.extend(ec2_tag_filters(tags));
    filters
}

pub(super) fn ec2_tags(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// One tag specification per kind of resource a launch creates (instances and their volumes),
/// built by `spec`; `None` when there are no tags.
fn launched_tag_specs<T>(
    tags: &Tags,
    spec: impl Fn(ec2::types::ResourceType, Vec<ec2::types::Tag>) -> T,
) -> Option<Vec<T>> {
    (!tags.is_empty()).then(|| {
        [
            ec2::types::ResourceType::Instance,
            ec2::types::ResourceType::Volume,
        ]
        .into_iter()
        .map(|kind| spec(kind, ec2_tags(tags)))
        .collect()
    })
}

/// The number of instances each RunInstances call launches: `count` in order, at most
/// [`RUN_INSTANCES_PER_CALL`] a call.
fn launch_batches(count: u32) -> impl Iterator<Item = u32> {
    (0..count.div_ceil(RUN_INSTANCES_PER_CALL))
        .map(move |i| (count - i * RUN_INSTANCES_PER_CALL).min(RUN_INSTANCES_PER_CALL))
}

/// The idempotency token of the `index`th RunInstances call of one launch: the caller's token
/// for the first, a distinct token derived from it for the others (within EC2's 64 characters).
fn batch_client_token(token: &str, index: usize) -> String {
    if index == 0 {
        return token.to_string();
    }
    let suffix = format!("-{index}");
    let keep = token
        .char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .take_while(|end| end + suffix.len() <= CLIENT_TOKEN_MAX)
        .last()
        .unwrap_or(0);
    format!("{}{suffix}", &token[..keep])
}

/// The ids of `batch` that a failed TerminateInstances says do not exist. EC2 names them in
/// the message: `The instance IDs 'i-1, i-2' do not exist`.
fn missing_instances<E, R>(err: &SdkError<E, R>, batch: &[String]) -> HashSet<String>
where
    E: ProvideErrorMetadata,
{
    if err.code() != Some(INSTANCE_NOT_FOUND) {
        return HashSet::new();
    }
    let named: HashSet<&str> = err
        .message()
        .unwrap_or_default()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .collect();
    batch
        .iter()
        .filter(|id| named.contains(id.as_str()))
        .cloned()
        .collect()
}

/// `instance i-1, i-2, i-3` or, for longer lists, `instance i-1, i-2, i-3 and 997 more`.
fn ids_what(kind: &str, ids: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown = ids[..ids.len().min(SHOWN)].join(", ");
    match ids.len().saturating_sub(SHOWN) {
        0 => format!("{kind} {shown}"),
        more => format!("{kind} {shown} and {more} more"),
    }
}

fn images_what(filter: &ImageFilter) -> String {
    if filter.ids.is_empty() {
        format!("image {}", filter.name.as_deref().unwrap_or("*"))
    } else {
        format!("image {}", filter.ids.join(", "))
    }
}

/// The client-side check of an image filter (owners excepted: `self` needs the account id).
fn image_matches(image: &ImageInfo, filter: &ImageFilter) -> bool {
    (filter.ids.is_empty() || filter.ids.contains(&image.id))
        && filter
            .name
            .as_deref()
            .is_none_or(|pattern| glob_match(pattern, &image.name))
        && has_tags(&image.tags, &filter.tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_ec2_filters() {
        assert!(glob_match("demo-app-*", "demo-app-1.0.0"));
        assert!(glob_match("demo-app-1.?.0", "demo-app-1.1.0"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("demo-app-*", "other-1.0.0"));
        assert!(!glob_match("demo-app-1.?.0", "demo-app-1.10.0"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact2"));
    }

    #[test]
    fn launches_in_batches_with_distinct_tokens() {
        let batches = |count| launch_batches(count).collect::<Vec<_>>();
        assert_eq!(batches(0), Vec::<u32>::new());
        assert_eq!(batches(3), vec![3]);
        assert_eq!(batches(1000), vec![1000]);
        assert_eq!(batches(2500), vec![1000, 1000, 500]);

        assert_eq!(batch_client_token("wave-1", 0), "wave-1");
        assert_eq!(batch_client_token("wave-1", 2), "wave-1-2");
        let long = "x".repeat(CLIENT_TOKEN_MAX);
        assert_eq!(batch_client_token(&long, 0), long);
        let derived = batch_client_token(&long, 12);
        assert_eq!(derived.len(), CLIENT_TOKEN_MAX);
        assert!(derived.ends_with("x-12"), "{derived}");
    }

    #[test]
    fn names_a_few_ids() {
        let ids: Vec<String> = (1..=5).map(|i| format!("i-{i}")).collect();
        assert_eq!(ids_what("instance", &ids[..2]), "instance i-1, i-2");
        assert_eq!(
            ids_what("instance", &ids),
            "instance i-1, i-2, i-3 and 2 more"
        );
    }
}
