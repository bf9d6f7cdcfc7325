//! The [`Cloud`] trait on the simulated account: each call counted under the AWS
//! implementation's operation names, paged and batched as it is, then carried out on the world.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::instances::vcpus_of;
use super::simcloud::SimCloud;
use super::time::{sim_time, wall_time};
use crate::cloud::{
    Cloud, CloudResult, CopyImageRequest, ElbLimits, GroupInfo, GroupSpec, Holder, ImageFilter,
    ImageInfo, InstanceInfo, InstanceRefresh, LaunchSpec, LaunchTemplateInfo, Limit, ListenerInfo,
    ListenerSpec, LoadBalancerInfo, LoadBalancerSpec, NamedKind, ObjectRef, RunSpec,
    ScalingActivity, SecurityGroupInfo, StoredObject, SubnetInfo, Tags, TargetGroupInfo,
    TargetGroupSpec, TargetHealth, VpcInfo,
};

/// Page sizes and batch limits, the same as the AWS implementation's.
const EC2_PAGE: usize = 1000;
const LAUNCH_TEMPLATE_PAGE: usize = 200;
const ASG_PAGE: usize = 100;
const ACTIVITY_PAGE: usize = 100;
const ELB_PAGE: usize = 400;
const ELB_DESCRIBE_TAGS_MAX: usize = 20;
const ASG_TARGET_GROUPS_PER_CALL: usize = 10;
const ASG_INSTANCES_PER_CALL: usize = 20;
const TARGETS_PER_CALL: usize = 200;
const EC2_IDS_PER_CALL: usize = 1000;
const RUN_INSTANCES_PER_CALL: u32 = 1000;
const LAUNCH_TEMPLATE_VERSIONS_PER_CALL: usize = 200;

#[async_trait]
impl Cloud for SimCloud {
    fn region(&self) -> &str {
        &self.region
    }

    fn now(&self) -> std::time::SystemTime {
        wall_time(self.now_ms())
    }

    // --- lookups -----------------------------------------------------------------------------

    async fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images_of(&self.region, filter).await
    }

    async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images_of(region, filter).await
    }

    async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String> {
        let id = self
            .call("EC2.CopyImage", |w, op, t| w.copy_image(op, request, t))
            .await?;
        if !request.tags.is_empty() {
            self.request("EC2.CreateTags").await?;
        }
        Ok(id)
    }

    async fn service_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> CloudResult<Option<u64>> {
        let key = format!("{service_code}/{quota_code}");
        self.call("ServiceQuotas.GetServiceQuota", |w, _, _| {
            Ok(w.config.service_quotas.get(&key).copied())
        })
        .await
    }

    async fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>> {
        self.call("EC2.DescribeInstanceTypes", |_, _, _| {
            Ok(types
                .iter()
                .filter_map(|t| Some((t.clone(), vcpus_of(t)?)))
                .collect())
        })
        .await
    }

    async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>> {
        let counts = self
            .call("EC2.DescribeInstances", |w, _, t| {
                Ok(w.running_instance_types(t))
            })
            .await?;
        let n: u64 = counts.values().sum();
        self.more_pages("EC2.DescribeInstances", n as usize, EC2_PAGE)
            .await?;
        Ok(counts)
    }

    async fn auto_scaling_limits(&self) -> CloudResult<Limit> {
        self.call("AutoScaling.DescribeAccountLimits", |w, _, _| {
            Ok(Limit {
                max: w.config.max_auto_scaling_groups,
                used: w.group_count() as u64,
            })
        })
        .await
    }

    async fn elb_limits(&self) -> CloudResult<ElbLimits> {
        let limits = self
            .call("ELBv2.DescribeAccountLimits", |w, _, _| {
                Ok(w.config.elb_limits.clone())
            })
            .await?;
        let target_groups = self
            .call("ELBv2.DescribeTargetGroups", |w, _, _| {
                Ok(w.target_group_count() as u64)
            })
            .await?;
        let load_balancers = self
            .call("ELBv2.DescribeLoadBalancers", |w, _, _| {
                Ok(w.load_balancer_kinds())
            })
            .await?;
        Ok(ElbLimits {
            limits,
            target_groups,
            load_balancers,
        })
    }

    async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.call("EC2.DescribeKeyPairs", |w, _, _| {
            Ok(names
                .iter()
                .filter(|n| w.config.missing_key_pairs.contains(*n))
                .cloned()
                .collect())
        })
        .await
    }

    async fn missing_instance_profiles(&self, profiles: &[String]) -> CloudResult<Vec<String>> {
        let mut missing = Vec::new();
        for p in profiles {
            let name = crate::cloud::instance_profile_name(p);
            let gone = self
                .call("IAM.GetInstanceProfile", |w, _, _| {
                    Ok(w.config.missing_instance_profiles.contains(name))
                })
                .await?;
            if gone {
                missing.push(p.clone());
            }
        }
        Ok(missing)
    }

    async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>> {
        self.call("EC2.DescribeVpcs", |w, _, _| Ok(w.find_vpcs(tags)))
            .await
    }

    async fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>> {
        self.call("EC2.DescribeSubnets", |w, _, _| {
            Ok(w.find_subnets(vpc_id, tags))
        })
        .await
    }

    async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>> {
        self.call("EC2.DescribeSecurityGroups", |w, _, _| {
            Ok(w.find_security_groups(vpc_id, names, tags))
        })
        .await
    }

    // --- observing a stack -------------------------------------------------------------------

    async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>> {
        const OP: &str = "AutoScaling.DescribeAutoScalingGroups";
        self.request(OP).await?;
        let groups = self.with(|w, t| w.list_groups(stack, t));
        self.more_pages(OP, groups.len(), ASG_PAGE).await?;
        Ok(groups)
    }

    async fn describe_groups(&self, stack: &str, names: &[String]) -> CloudResult<Vec<GroupInfo>> {
        const OP: &str = "AutoScaling.DescribeAutoScalingGroups";
        let mut found = Vec::new();
        for chunk in names.chunks(ASG_PAGE) {
            self.request(OP).await?;
            found.extend(self.with(|w, t| w.describe_groups(stack, chunk, t)));
        }
        Ok(found)
    }

    async fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>> {
        const OP: &str = "EC2.DescribeInstances";
        self.request(OP).await?;
        let instances = self.with(|w, t| w.list_instances(stack, None, t));
        self.more_pages(OP, instances.len(), EC2_PAGE).await?;
        Ok(instances)
    }

    async fn live_instances(&self, ids: &[String]) -> CloudResult<BTreeSet<String>> {
        let mut live = BTreeSet::new();
        for batch in ids.chunks(200) {
            self.request("EC2.DescribeInstances").await?;
            live.extend(self.with(|w, t| w.live_among(batch, t)));
        }
        Ok(live)
    }

    async fn list_instances_tagged(
        &self,
        stack: &str,
        key: &str,
    ) -> CloudResult<Vec<InstanceInfo>> {
        const OP: &str = "EC2.DescribeInstances";
        self.request(OP).await?;
        let instances = self.with(|w, t| w.list_instances(stack, Some(key), t));
        self.more_pages(OP, instances.len(), EC2_PAGE).await?;
        Ok(instances)
    }

    async fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>> {
        const OP: &str = "EC2.DescribeLaunchTemplates";
        self.request(OP).await?;
        let templates = self.with(|w, _| w.list_launch_templates(stack));
        self.more_pages(OP, templates.len(), LAUNCH_TEMPLATE_PAGE)
            .await?;
        Ok(templates)
    }

    async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        self.call("EC2.DescribeLaunchTemplateVersions", |w, op, _| {
            w.launch_template_version(op, template_id, version)
        })
        .await
    }

    async fn latest_launch_template_versions(&self) -> CloudResult<Vec<(String, i64, LaunchSpec)>> {
        let all = self
            .call("EC2.DescribeLaunchTemplateVersions", |w, _, _| {
                Ok(w.latest_launch_template_versions())
            })
            .await?;
        // 200 versions a page: the pages after the first are calls too.
        for _ in 1..all.len().div_ceil(200) {
            self.call("EC2.DescribeLaunchTemplateVersions", |_, _, _| Ok(()))
                .await?;
        }
        Ok(all)
    }

    async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>> {
        const OP: &str = "ELBv2.DescribeTargetGroups";
        self.request(OP).await?;
        let (total, (candidates, listed)) = self.with(|w, _| {
            (
                w.count_target_groups(),
                w.list_target_groups(stack, name_prefix),
            )
        });
        self.more_pages(OP, total, ELB_PAGE).await?;
        for _ in 0..candidates.div_ceil(ELB_DESCRIBE_TAGS_MAX) {
            self.request("ELBv2.DescribeTags").await?;
        }
        for _ in &listed {
            self.request("ELBv2.DescribeTargetGroupAttributes").await?;
        }
        Ok(listed)
    }

    async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
        self.call("ELBv2.DescribeTargetHealth", |w, op, t| {
            w.target_health(op, target_group_arn, t)
        })
        .await
    }

    async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>> {
        const OP: &str = "ELBv2.DescribeLoadBalancers";
        self.request(OP).await?;
        let (total, (candidates, listed)) = self.with(|w, _| {
            (
                w.count_load_balancers(),
                w.list_load_balancers(stack, name_prefix),
            )
        });
        self.more_pages(OP, total, ELB_PAGE).await?;
        for _ in 0..candidates.div_ceil(ELB_DESCRIBE_TAGS_MAX) {
            self.request("ELBv2.DescribeTags").await?;
        }
        Ok(listed)
    }

    async fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>> {
        const OP: &str = "ELBv2.DescribeListeners";
        let listeners = self
            .call(OP, |w, op, _| w.list_listeners(op, load_balancer_arn))
            .await?;
        self.more_pages(OP, listeners.len(), ELB_PAGE).await?;
        Ok(listeners)
    }

    // --- changes: target groups --------------------------------------------------------------

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let arn = self
            .call("ELBv2.CreateTargetGroup", |w, op, _| {
                w.create_target_group(op, spec, tags)
            })
            .await?;
        self.set_deregistration_delay(&arn, spec.deregistration_delay_seconds)
            .await?;
        Ok(arn)
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()> {
        self.call("ELBv2.ModifyTargetGroup", |w, op, _| {
            w.modify_target_group(op, arn, spec)
        })
        .await?;
        self.set_deregistration_delay(arn, spec.deregistration_delay_seconds)
            .await
    }

    async fn delete_target_group(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteTargetGroup", |w, op, _| {
            w.delete_target_group(op, arn)
        })
        .await
    }

    // --- changes: load balancers and listeners -----------------------------------------------

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        self.call("ELBv2.CreateLoadBalancer", |w, op, _| {
            w.create_load_balancer(op, spec, tags)
        })
        .await
    }

    async fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()> {
        self.call("ELBv2.SetSubnets", |w, op, _| {
            w.modify_load_balancer(op, arn, spec)
        })
        .await?;
        if spec.kind.is_empty() || spec.kind == "application" {
            self.request("ELBv2.SetSecurityGroups").await?;
        }
        Ok(())
    }

    async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteLoadBalancer", |w, _, t| {
            w.delete_load_balancer(arn, t);
            Ok(())
        })
        .await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.call("ELBv2.CreateListener", |w, op, t| {
            w.create_listener(op, load_balancer_arn, spec, tags, t)
        })
        .await
    }

    async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()> {
        self.call("ELBv2.ModifyListener", |w, op, t| {
            w.modify_listener(op, arn, spec, t)
        })
        .await
    }

    async fn delete_listener(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteListener", |w, op, t| {
            w.delete_listener(op, arn, t)
        })
        .await
    }

    // --- changes: launch templates -----------------------------------------------------------

    async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        self.call("EC2.CreateLaunchTemplate", |w, op, _| {
            w.create_launch_template(op, name, spec, tags)
        })
        .await
    }

    async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        self.call("EC2.CreateLaunchTemplateVersion", |w, op, _| {
            w.create_launch_template_version(op, template_id, spec)
        })
        .await
    }

    async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()> {
        self.call("EC2.DeleteLaunchTemplate", |w, op, _| {
            w.delete_launch_template(op, template_id)
        })
        .await
    }

    // --- changes: Auto Scaling groups --------------------------------------------------------

    async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
        self.call("AutoScaling.CreateAutoScalingGroup", |w, op, t| {
            w.create_group(op, spec, t)
        })
        .await
    }

    async fn configure_group(
        &self,
        name: &str,
        settings: &crate::cloud::scaling::GroupSettings,
    ) -> CloudResult<()> {
        self.call("AutoScaling.PutScalingPolicy", |w, op, _| {
            w.configure_group(op, name, settings)
        })
        .await
    }

    async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        self.call("AutoScaling.UpdateAutoScalingGroup", |w, op, t| {
            w.set_group_capacity(op, name, (min, desired, max), t)
        })
        .await
    }

    async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.CreateOrUpdateTags", |w, op, _| {
            w.set_group_tags(op, name, tags)
        })
        .await
    }

    async fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.batches(
            "AutoScaling.AttachLoadBalancerTargetGroups",
            arns,
            ASG_TARGET_GROUPS_PER_CALL,
            |w, op, batch, t| w.attach_target_groups(op, name, batch, t),
        )
        .await
    }

    async fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.batches(
            "AutoScaling.DetachLoadBalancerTargetGroups",
            arns,
            ASG_TARGET_GROUPS_PER_CALL,
            |w, op, batch, t| w.detach_target_groups(op, name, batch, t),
        )
        .await
    }

    async fn delete_group(&self, name: &str) -> CloudResult<()> {
        self.call("AutoScaling.DeleteAutoScalingGroup", |w, _, t| {
            w.delete_group(name, t);
            Ok(())
        })
        .await
    }

    async fn scaling_activities(
        &self,
        group: &str,
        since: std::time::SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>> {
        const OP: &str = "AutoScaling.DescribeScalingActivities";
        self.request(OP).await?;
        let since = sim_time(since);
        let activities = self.with(|w, t| w.scaling_activities(group, since, t));
        self.more_pages(OP, activities.len(), ACTIVITY_PAGE).await?;
        Ok(activities)
    }

    async fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>> {
        self.call("AutoScaling.DescribeInstanceRefreshes", |w, _, _| {
            Ok(Some(w.instance_refreshes(group)))
        })
        .await
    }

    async fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>> {
        let (operation, pages) = match kind {
            NamedKind::Group => ("AutoScaling.DescribeAutoScalingGroups", 1),
            NamedKind::LaunchTemplate => ("EC2.DescribeLaunchTemplates", 1),
            // DescribeTargetGroups / DescribeLoadBalancers, then DescribeTags.
            NamedKind::TargetGroup => ("ELBv2.DescribeTargetGroups", 2),
            NamedKind::LoadBalancer => ("ELBv2.DescribeLoadBalancers", 2),
        };
        self.request(operation).await?;
        let found = self.with(|w, _| w.find_by_name(kind, name));
        if pages == 2 && found.is_some() {
            self.request("ELBv2.DescribeTags").await?;
        }
        Ok(found)
    }

    async fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        if processes.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.SuspendProcesses", |w, op, _| {
            w.set_processes(op, group, processes, true)
        })
        .await
    }

    async fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        if processes.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.ResumeProcesses", |w, op, _| {
            w.set_processes(op, group, processes, false)
        })
        .await
    }

    async fn terminate_in_group(&self, group: &str, instance_ids: &[String]) -> CloudResult<()> {
        self.batches(
            "AutoScaling.TerminateInstanceInAutoScalingGroup",
            instance_ids,
            1,
            |w, op, batch, t| w.terminate_in_group(op, group, batch, t),
        )
        .await
    }

    async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()> {
        self.batches(
            "AutoScaling.DetachInstances",
            instance_ids,
            ASG_INSTANCES_PER_CALL,
            |w, op, batch, t| w.detach_instances(op, group, batch, decrement, t),
        )
        .await
    }

    // --- targets and instances ---------------------------------------------------------------

    async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.batches(
            "ELBv2.RegisterTargets",
            instance_ids,
            TARGETS_PER_CALL,
            |w, op, batch, t| w.register_targets(op, target_group_arn, batch, t),
        )
        .await
    }

    async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.batches(
            "ELBv2.DeregisterTargets",
            instance_ids,
            TARGETS_PER_CALL,
            |w, op, batch, t| w.deregister_targets(op, target_group_arn, batch, t),
        )
        .await
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()> {
        const OP: &str = "EC2.TerminateInstances";
        for batch in instance_ids.chunks(EC2_IDS_PER_CALL) {
            self.request(OP).await?;
            let unknown = self.with(|w, t| w.terminate_instances(batch, t));
            // EC2 refuses a batch naming unknown ids; the AWS implementation drops them and
            // sends the rest again.
            if unknown > 0 && unknown < batch.len() {
                self.request(OP).await?;
            }
        }
        Ok(())
    }

    async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>> {
        const OP: &str = "EC2.RunInstances";
        let mut ids = Vec::new();
        let mut remaining = spec.count;
        let mut index = 0;
        while remaining > 0 {
            let count = remaining.min(RUN_INSTANCES_PER_CALL);
            self.request(OP).await?;
            let token = spec.client_token.as_ref().map(|k| {
                if index == 0 {
                    k.clone()
                } else {
                    format!("{k}-{index}")
                }
            });
            let (batch, start) =
                self.with(|w, t| w.run_instances(OP, spec, count, token.as_deref(), t))?;
            if start > self.now_ms() {
                // Beyond the RunInstances burst: the call is throttled until the bucket allows.
                self.stats.record_throttle(OP);
                self.stats.record_attempt(OP);
                tokio::time::sleep_until(self.instant(start)).await;
            }
            ids.extend(batch);
            remaining -= count;
            index += 1;
        }
        Ok(ids)
    }

    async fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.batches(
            "EC2.CreateTags",
            instance_ids,
            EC2_IDS_PER_CALL,
            |w, op, batch, t| w.tag_instances(op, batch, tags, t),
        )
        .await
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        self.batches(
            "EC2.DeleteLaunchTemplateVersions",
            versions,
            LAUNCH_TEMPLATE_VERSIONS_PER_CALL,
            |w, op, batch, _| w.delete_launch_template_versions(op, template_id, batch),
        )
        .await
    }

    async fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for batch in names.chunks(100) {
            let found = self
                .call("CloudWatch.DescribeAlarms", |w, _, _| {
                    Ok(w.alarm_states(batch))
                })
                .await?;
            out.extend(found);
        }
        Ok(out)
    }

    // --- the account and its objects ---------------------------------------------------------

    async fn account_id(&self) -> CloudResult<String> {
        self.call("STS.GetCallerIdentity", |w, _, _| {
            Ok(w.config.account_id.clone())
        })
        .await
    }

    async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>> {
        self.call("S3.GetObject", |w, _, _| Ok(w.get_object(at)))
            .await
    }

    async fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String> {
        self.call("S3.PutObject", |w, op, _| w.put_object(op, at, body, None))
            .await
    }

    async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String> {
        self.call("S3.PutObject", |w, op, _| {
            w.put_object(op, at, body, Some(etag))
        })
        .await
    }

    async fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()> {
        self.call("S3.DeleteObject", |w, op, _| w.delete_object(op, at, etag))
            .await
    }
}

impl SimCloud {
    /// The second request of a target group's create or modify, as on AWS.
    async fn set_deregistration_delay(&self, arn: &str, seconds: u32) -> CloudResult<()> {
        self.call("ELBv2.ModifyTargetGroupAttributes", |w, op, _| {
            w.set_deregistration_delay(op, arn, seconds)
        })
        .await
    }

    async fn describe_images_of(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        const OP: &str = "EC2.DescribeImages";
        self.request(OP).await?;
        let images = self.with(|w, t| w.describe_images(OP, region, filter, t))?;
        self.more_pages(OP, images.len(), EC2_PAGE).await?;
        Ok(images)
    }
}
