//! Auto Scaling: groups (listed, created and configured, resized, tagged, attached to target
//! groups, deleted), their scaling activities and instance refreshes, scaling processes, and
//! detaching instances.

use std::error::Error as StdError;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use aws_config::retry::RetryConfig;
use aws_sdk_autoscaling as asg;

use super::client::{all_items, AwsCloud};
use super::convert::{
    group_info, in_stack, instance_refresh, non_empty, non_empty_vec, scaling_activity, tags_of,
    to_i32,
};
use super::errors::{error_chain, not_implemented};
use super::fleet;
use crate::cloud::scaling::GroupSettings;
use crate::cloud::{
    tag, CloudResult, GroupInfo, GroupSpec, Holder, InstanceRefresh, ScalingActivity, Tags,
};

/// DescribeAutoScalingGroups.
const ASG_PAGE: i32 = 100;

/// Target groups per AttachLoadBalancerTargetGroups / DetachLoadBalancerTargetGroups call.
const ASG_TARGET_GROUPS_PER_CALL: usize = 10;

/// Instance ids per Auto Scaling AttachInstances / DetachInstances call.
const ASG_INSTANCES_PER_CALL: usize = 20;

/// Calls with no per-call limit of their own (SuspendProcesses, ResumeProcesses): one call,
/// and none for an empty list.
const ONE_CALL: usize = usize::MAX;

/// DescribeScalingActivities.
const ACTIVITY_PAGE: i32 = 100;

/// DescribeInstanceRefreshes: the newest few are all that matter.
const REFRESH_PAGE: i32 = 10;

/// Sends SuspendProcesses or ResumeProcesses (the SDK method `$method`), which take the same
/// input, for `processes` of `group`. An empty list sends nothing: to the API, no processes
/// means all of them.
macro_rules! scaling_processes {
    ($cloud:expr, $method:ident, $operation:expr, $group:expr, $processes:expr) => {{
        let (cloud, group): (&AwsCloud, &str) = ($cloud, $group);
        let what = format!("group {group}");
        cloud
            .in_batches($operation, &what, $processes, ONE_CALL, |batch| {
                cloud
                    .asg
                    .$method()
                    .auto_scaling_group_name(group)
                    .set_scaling_processes(Some(batch))
                    .send()
            })
            .await?;
        Ok(())
    }};
}

impl AwsCloud {
    pub(super) async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>> {
        let stack_filter = asg::types::Filter::builder()
            .name(format!("tag:{}", tag::STACK))
            .values(stack)
            .build();
        let request = self
            .asg
            .describe_auto_scaling_groups()
            .filters(stack_filter);
        self.stack_groups(request, stack).await
    }

    pub(super) async fn describe_groups(
        &self,
        stack: &str,
        names: &[String],
    ) -> CloudResult<Vec<GroupInfo>> {
        let mut found = Vec::new();
        // As many names a call as a page holds (the API refuses more names than MaxRecords).
        for chunk in names.chunks(ASG_PAGE as usize) {
            let request = self
                .asg
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()));
            found.extend(self.stack_groups(request, stack).await?);
        }
        Ok(found)
    }

    /// Every page of one DescribeAutoScalingGroups request, the stack's groups among them.
    async fn stack_groups(
        &self,
        request: asg::operation::describe_auto_scaling_groups::builders::DescribeAutoScalingGroupsFluentBuilder,
        stack: &str,
    ) -> CloudResult<Vec<GroupInfo>> {
        let request = request.max_records(ASG_PAGE);
        let groups = self
            .call(
                "AutoScaling.DescribeAutoScalingGroups",
                "groups",
                all_items!(request),
            )
            .await?;
        Ok(groups
            .iter()
            .map(group_info)
            .filter(|g| in_stack(&g.tags, stack))
            .collect())
    }

    pub(super) async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
        let template = asg::types::LaunchTemplateSpecification::builder()
            .launch_template_id(&spec.launch_template_id)
            .version(&spec.launch_template_version)
            .build();
        let request = fleet::create_group(
            self.asg.create_auto_scaling_group(),
            template,
            &spec.settings,
        )
        .auto_scaling_group_name(&spec.name)
        .min_size(to_i32(spec.min))
        .max_size(to_i32(spec.max))
        .desired_capacity(to_i32(spec.desired))
        .vpc_zone_identifier(spec.subnet_ids.join(","))
        .set_target_group_arns(non_empty_vec(&spec.target_group_arns))
        .set_health_check_type(non_empty(&spec.health_check_type).map(str::to_owned))
        .health_check_grace_period(to_i32(spec.health_check_grace_seconds))
        .set_tags(non_empty_vec(&asg_tags(&spec.name, &spec.tags)));
        let what = format!("group {}", spec.name);
        self.call("AutoScaling.CreateAutoScalingGroup", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn configure_group(
        &self,
        name: &str,
        settings: &GroupSettings,
    ) -> CloudResult<()> {
        for p in &settings.scaling_policies {
            let request =
                fleet::put_policy(self.asg.put_scaling_policy(), p).auto_scaling_group_name(name);
            let what = format!("scaling policy {} of group {name}", p.name);
            self.call("AutoScaling.PutScalingPolicy", what, request.send())
                .await?;
        }
        for a in &settings.scheduled_actions {
            let request = fleet::put_scheduled(self.asg.put_scheduled_update_group_action(), a)?
                .auto_scaling_group_name(name);
            let what = format!("scheduled action {} of group {name}", a.name);
            self.call(
                "AutoScaling.PutScheduledUpdateGroupAction",
                what,
                request.send(),
            )
            .await?;
        }
        for h in &settings.lifecycle_hooks {
            let request =
                fleet::put_hook(self.asg.put_lifecycle_hook(), h).auto_scaling_group_name(name);
            let what = format!("lifecycle hook {} of group {name}", h.name);
            self.call("AutoScaling.PutLifecycleHook", what, request.send())
                .await?;
        }
        Ok(())
    }

    pub(super) async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        let request = self
            .asg
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(to_i32(min))
            .max_size(to_i32(max))
            .desired_capacity(to_i32(desired));
        let what = format!("group {name}");
        self.call("AutoScaling.UpdateAutoScalingGroup", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let request = self
            .asg
            .create_or_update_tags()
            .set_tags(Some(asg_tags(name, tags)));
        let what = format!("group {name}");
        self.call("AutoScaling.CreateOrUpdateTags", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn attach_target_groups(
        &self,
        name: &str,
        arns: &[String],
    ) -> CloudResult<()> {
        let op = "AutoScaling.AttachLoadBalancerTargetGroups";
        let what = format!("group {name}");
        self.in_batches(op, &what, arns, ASG_TARGET_GROUPS_PER_CALL, |batch| {
            self.asg
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(batch))
                .send()
        })
        .await?;
        Ok(())
    }

    pub(super) async fn detach_target_groups(
        &self,
        name: &str,
        arns: &[String],
    ) -> CloudResult<()> {
        let op = "AutoScaling.DetachLoadBalancerTargetGroups";
        let what = format!("group {name}");
        self.in_batches(op, &what, arns, ASG_TARGET_GROUPS_PER_CALL, |batch| {
            self.asg
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(batch))
                .send()
        })
        .await?;
        Ok(())
    }

    pub(super) async fn delete_group(&self, name: &str) -> CloudResult<()> {
        let request = self
            .asg
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true);
        let what = format!("group {name}");
        match self
            .call("AutoScaling.DeleteAutoScalingGroup", what, request.send())
            .await
        {
            Err(err) if !err.is_not_found() => Err(err),
            _ => Ok(()),
        }
    }

    pub(super) async fn scaling_activities(
        &self,
        group: &str,
        since: SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>> {
        const OP: &str = "AutoScaling.DescribeScalingActivities";
        let what = format!("group {group}");
        let mut pages = self
            .asg
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(ACTIVITY_PAGE)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        // Newest first: once a page reaches back past `since`, later pages are older still.
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error(OP, &what, err))?;
            let mut older = false;
            for a in page.activities() {
                let activity = scaling_activity(a);
                match activity.start_time {
                    Some(t) if t < since => older = true,
                    _ => out.push(activity),
                }
            }
            if older {
                break;
            }
        }
        Ok(out)
    }

    pub(super) async fn instance_refreshes(
        &self,
        group: &str,
    ) -> CloudResult<Option<Vec<InstanceRefresh>>> {
        const OP: &str = "AutoScaling.DescribeInstanceRefreshes";
        if self.refreshes_unsupported.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let what = format!("group {group}");
        let request = || {
            self.asg
                .describe_instance_refreshes()
                .auto_scaling_group_name(group)
                .max_records(REFRESH_PAGE)
        };
        // Asked once without retries: an endpoint that lacks the operation answers with a
        // server error, which the retry policy would repeat for seconds. Any other failure is
        // asked again under the usual policy.
        let once = asg::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        let unsupported = |err: &(dyn StdError + 'static)| {
            self.refreshes_unsupported.store(true, Ordering::Relaxed);
            tracing::debug!(
                %group, error = %error_chain(err),
                "the endpoint does not implement DescribeInstanceRefreshes; whether an \
                 instance refresh is in progress is unknown"
            );
            Ok(None)
        };
        let out = match request().customize().config_override(once).send().await {
            Ok(out) => out,
            Err(err) if not_implemented(&err) => return unsupported(&err),
            // A throttle or a dropped connection hid the answer: asked again under the usual
            // policy, whose last answer may still be that the operation is not there.
            Err(_) => match request().send().await {
                Ok(out) => out,
                Err(err) if not_implemented(&err) => return unsupported(&err),
                Err(err) => return Err(self.error(OP, &what, err)),
            },
        };
        Ok(Some(
            out.instance_refreshes()
                .iter()
                .map(instance_refresh)
                .collect(),
        ))
    }

    pub(super) async fn suspend_processes(
        &self,
        group: &str,
        processes: &[String],
    ) -> CloudResult<()> {
        scaling_processes!(
            self,
            suspend_processes,
            "AutoScaling.SuspendProcesses",
            group,
            processes
        )
    }

    pub(super) async fn resume_processes(
        &self,
        group: &str,
        processes: &[String],
    ) -> CloudResult<()> {
        scaling_processes!(
            self,
            resume_processes,
            "AutoScaling.ResumeProcesses",
            group,
            processes
        )
    }

    pub(super) async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()> {
        let op = "AutoScaling.DetachInstances";
        let what = format!("group {group}");
        self.in_batches(op, &what, instance_ids, ASG_INSTANCES_PER_CALL, |batch| {
            self.asg
                .detach_instances()
                .auto_scaling_group_name(group)
                .set_instance_ids(Some(batch))
                .should_decrement_desired_capacity(decrement)
                .send()
        })
        .await?;
        Ok(())
    }

    pub(super) async fn terminate_in_group(
        &self,
        group: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        let op = "AutoScaling.TerminateInstanceInAutoScalingGroup";
        let what = format!("group {group}");
        self.in_batches(op, &what, instance_ids, 1, |batch| {
            self.asg
                .terminate_instance_in_auto_scaling_group()
                .instance_id(batch.concat())
                .should_decrement_desired_capacity(true)
                .send()
        })
        .await?;
        Ok(())
    }

    /// The group named `name`, with its tags; `None` when there is none.
    pub(super) async fn group_named(&self, name: &str, what: &str) -> CloudResult<Option<Holder>> {
        let request = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name);
        let out = self
            .call(
                "AutoScaling.DescribeAutoScalingGroups",
                what,
                request.send(),
            )
            .await?;
        Ok(out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(name))
            .map(|g| Holder {
                id: name.to_string(),
                tags: tags_of(g.tags()),
            }))
    }
}

/// Group tags, all copied to instances at launch.
fn asg_tags(group: &str, tags: &Tags) -> Vec<asg::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            asg::types::Tag::builder()
                .resource_id(group)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        })
        .collect()
}
