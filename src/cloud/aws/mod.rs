//! The AWS implementation of [`Cloud`].
//!
//! A thin translation layer over the official SDK crates: every method is one or a few SDK
//! calls, their results converted into reroll's own types by the small `*_info` functions of
//! `convert.rs`. The trait's methods hand over to one file per service, each an
//! `impl AwsCloud` block with that service's calls and request builders: `ec2.rs`,
//! `launch_templates.rs`, `autoscaling.rs`, `elbv2.rs`, `cloudwatch.rs`, `s3.rs` (the objects
//! of the shared lock) and `quotas.rs` (service quotas, account limits, the account's id).
//! Shared by all calls:
//!
//! - **Call counting.** Every service client (`client.rs`) carries a `CallCounter`
//!   interceptor (`intercept.rs`) that records each operation, each HTTP attempt and each
//!   throttled attempt in [`Stats`](crate::cloud::stats::Stats).
//! - **Error mapping.** Every SDK error goes through `AwsCloud::call`, which sorts it into a
//!   [`CloudError`](crate::cloud::CloudError) variant by its error code and keeps code and
//!   message (`errors.rs`).
//! - **Published limits.** Describe calls page at the service's maximum page size; batched
//!   calls respect the per-call limits (`DescribeTags` ≤ 20 ARNs, target group attachments
//!   ≤ 10, `DetachInstances` ≤ 20 ids, `RegisterTargets`/`DeregisterTargets` ≤ 200 targets,
//!   `DeleteLaunchTemplateVersions` ≤ 200 versions, `TerminateInstances`/`CreateTags` ≤ 1000
//!   ids and `RunInstances` ≤ 1000 instances per call). Each service file holds its own.
//! - **Idempotent clean-up.** Deregistering, terminating and deleting template versions treat
//!   "already gone" as done, so an interrupted rollout can simply repeat them; every other
//!   error is reported.
//!
//! Observing never trusts server-side filtering alone: whatever a filter asked the service for
//! is checked again on the results, so an endpoint that ignores a filter (an emulator, a proxy)
//! cannot make reroll touch another stack's resources.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::cloud::scaling::GroupSettings;
use crate::cloud::{
    Cloud, CloudResult, CopyImageRequest, ElbLimits, GroupInfo, GroupSpec, Holder, ImageFilter,
    ImageInfo, InstanceInfo, InstanceRefresh, LaunchSpec, LaunchTemplateInfo, Limit, ListenerInfo,
    ListenerSpec, LoadBalancerInfo, LoadBalancerSpec, NamedKind, ObjectRef, RunSpec,
    ScalingActivity, SecurityGroupInfo, StoredObject, SubnetInfo, Tags, TargetGroupInfo,
    TargetGroupSpec, TargetHealth, VpcInfo,
};

mod autoscaling;
mod client;
mod cloudwatch;
mod convert;
mod ec2;
mod elbv2;
mod errors;
mod fleet;
mod iam;
mod intercept;
mod launch_templates;
mod quotas;
mod s3;

pub use client::{AwsCloud, ConnectOptions};

// Each method calls the inherent method of the same name in its service file: method
// resolution prefers an inherent method to a trait's, so none of these calls itself.
#[async_trait]
impl Cloud for AwsCloud {
    fn region(&self) -> &str {
        &self.region
    }

    async fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images(filter).await
    }

    async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images_in(region, filter).await
    }

    async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String> {
        self.copy_image(request).await
    }

    async fn service_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> CloudResult<Option<u64>> {
        self.service_quota(service_code, quota_code).await
    }

    async fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>> {
        self.instance_type_vcpus(types).await
    }

    async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>> {
        self.running_instance_types().await
    }

    async fn auto_scaling_limits(&self) -> CloudResult<Limit> {
        self.auto_scaling_limits().await
    }

    async fn elb_limits(&self) -> CloudResult<ElbLimits> {
        self.elb_limits().await
    }

    async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>> {
        self.missing_key_pairs(names).await
    }

    async fn missing_instance_profiles(&self, names: &[String]) -> CloudResult<Vec<String>> {
        self.missing_instance_profiles(names).await
    }

    async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>> {
        self.find_vpcs(tags).await
    }

    async fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>> {
        self.find_subnets(vpc_id, tags).await
    }

    async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>> {
        self.find_security_groups(vpc_id, names, tags).await
    }

    async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>> {
        self.list_groups(stack).await
    }

    async fn describe_groups(&self, stack: &str, names: &[String]) -> CloudResult<Vec<GroupInfo>> {
        self.describe_groups(stack, names).await
    }

    async fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>> {
        self.list_instances(stack, None).await
    }

    async fn live_instances(&self, ids: &[String]) -> CloudResult<BTreeSet<String>> {
        self.live_instances(ids).await
    }

    async fn list_instances_tagged(
        &self,
        stack: &str,
        key: &str,
    ) -> CloudResult<Vec<InstanceInfo>> {
        self.list_instances(stack, Some(key)).await
    }

    async fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>> {
        self.list_launch_templates(stack).await
    }

    async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        self.launch_template_version(template_id, version).await
    }

    async fn latest_launch_template_versions(&self) -> CloudResult<Vec<(String, i64, LaunchSpec)>> {
        self.latest_launch_template_versions().await
    }

    async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>> {
        self.list_target_groups(stack, name_prefix).await
    }

    async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
        self.target_health(target_group_arn).await
    }

    async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>> {
        self.list_load_balancers(stack, name_prefix).await
    }

    async fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>> {
        self.list_listeners(load_balancer_arn).await
    }

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.create_target_group(spec, tags).await
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()> {
        self.modify_target_group(arn, spec).await
    }

    async fn delete_target_group(&self, arn: &str) -> CloudResult<()> {
        self.delete_target_group(arn).await
    }

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        self.create_load_balancer(spec, tags).await
    }

    async fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()> {
        self.modify_load_balancer(arn, spec).await
    }

    async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()> {
        self.delete_load_balancer(arn).await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.create_listener(load_balancer_arn, spec, tags).await
    }

    async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()> {
        self.modify_listener(arn, spec).await
    }

    async fn delete_listener(&self, arn: &str) -> CloudResult<()> {
        self.delete_listener(arn).await
    }

    async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        self.create_launch_template(name, spec, tags).await
    }

    async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        self.create_launch_template_version(template_id, spec).await
    }

    async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()> {
        self.delete_launch_template(template_id).await
    }

    async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
        self.create_group(spec).await
    }

    async fn configure_group(&self, name: &str, settings: &GroupSettings) -> CloudResult<()> {
        self.configure_group(name, settings).await
    }

    async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        self.set_group_capacity(name, min, desired, max).await
    }

    async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        self.set_group_tags(name, tags).await
    }

    async fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.attach_target_groups(name, arns).await
    }

    async fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.detach_target_groups(name, arns).await
    }

    async fn delete_group(&self, name: &str) -> CloudResult<()> {
        self.delete_group(name).await
    }

    async fn scaling_activities(
        &self,
        group: &str,
        since: SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>> {
        self.scaling_activities(group, since).await
    }

    async fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>> {
        self.instance_refreshes(group).await
    }

    async fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>> {
        let what = format!("{} {name}", kind.noun());
        match kind {
            NamedKind::Group => self.group_named(name, &what).await,
            NamedKind::LaunchTemplate => self.launch_template_named(name, &what).await,
            NamedKind::TargetGroup => self.target_group_named(name, &what).await,
            NamedKind::LoadBalancer => self.load_balancer_named(name, &what).await,
        }
    }

    async fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        self.suspend_processes(group, processes).await
    }

    async fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        self.resume_processes(group, processes).await
    }

    async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()> {
        self.detach_instances(group, instance_ids, decrement).await
    }

    async fn terminate_in_group(&self, group: &str, instance_ids: &[String]) -> CloudResult<()> {
        self.terminate_in_group(group, instance_ids).await
    }

    async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.register_targets(target_group_arn, instance_ids).await
    }

    async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.deregister_targets(target_group_arn, instance_ids)
            .await
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()> {
        self.terminate_instances(instance_ids).await
    }

    async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>> {
        self.run_instances(spec).await
    }

    async fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()> {
        self.tag_instances(instance_ids, tags).await
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        self.delete_launch_template_versions(template_id, versions)
            .await
    }

    async fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>> {
        self.alarm_states(names).await
    }

    async fn account_id(&self) -> CloudResult<String> {
        self.account_id().await
    }

    async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>> {
        self.get_object(at).await
    }

    async fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String> {
        self.put_object_if_absent(at, body).await
    }

    async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String> {
        self.put_object_if_match(at, body, etag).await
    }

    async fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()> {
        self.delete_object_if_match(at, etag).await
    }
}
