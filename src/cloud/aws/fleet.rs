//! Launch options and Auto Scaling group settings in the SDK's shapes, and back: what
//! CreateLaunchTemplate(Version), CreateAutoScalingGroup, PutScalingPolicy,
//! PutScheduledUpdateGroupAction and PutLifecycleHook are sent, and what
//! DescribeLaunchTemplateVersions reads back.

use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;

use crate::cloud::launch::{BlockDevice, LaunchOptions, Metadata, NetworkInterface, Placement};
use crate::cloud::scaling::{
    GroupSettings, LifecycleHook, MixedInstances, PolicyKind, ScalingPolicy, ScheduledAction,
};
use crate::cloud::{CloudError, Tags};

fn i32_of(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn u32_of(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// The launch options' part of a launch template version.
pub(super) fn request_data(
    builder: ec2::types::builders::RequestLaunchTemplateDataBuilder,
    o: &LaunchOptions,
) -> ec2::types::builders::RequestLaunchTemplateDataBuilder {
    use ec2::types::*;
    let metadata = LaunchTemplateInstanceMetadataOptionsRequest::builder()
        .http_tokens(LaunchTemplateHttpTokensState::from(
            o.metadata.http_tokens.as_str(),
        ))
        .http_put_response_hop_limit(i32_of(o.metadata.hop_limit))
        .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
        .build();
    let devices: Vec<LaunchTemplateBlockDeviceMappingRequest> = o
        .block_devices
        .iter()
        .map(|b| {
            let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
                .set_volume_size(b.volume_size.map(i32_of))
                .set_volume_type(b.volume_type.as_deref().map(VolumeType::from))
                .set_iops(b.iops.map(i32_of))
                .set_throughput(b.throughput.map(i32_of))
                .set_encrypted(b.encrypted)
                .set_kms_key_id(b.kms_key_id.clone())
                .build();
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&b.device_name)
                .ebs(ebs)
                .build()
        })
        .collect();
    let interfaces: Vec<LaunchTemplateInstanceNetworkInterfaceSpecificationRequest> = o
        .network_interfaces
        .iter()
        .map(|n| {
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(i32_of(n.device_index))
                .set_associate_public_ip_address(n.associate_public_ip_address)
                .set_delete_on_termination(n.delete_on_termination)
                .set_groups((!n.security_groups.is_empty()).then(|| n.security_groups.clone()))
                .set_description(n.description.clone())
                .build()
        })
        .collect();
    let p = &o.placement;
    let placement = (!p.is_empty()).then(|| {
        LaunchTemplatePlacementRequest::builder()
            .set_group_name(p.group_name.clone())
            .set_tenancy(p.tenancy.as_deref().map(Tenancy::from))
            .set_partition_number(p.partition_number.map(i32_of))
            .build()
    });
    builder
        .metadata_options(metadata)
        .set_block_device_mappings((!devices.is_empty()).then_some(devices))
        .set_monitoring(o.monitoring.then(|| {
            LaunchTemplatesMonitoringRequest::builder()
                .enabled(true)
                .build()
        }))
        .set_ebs_optimized(o.ebs_optimized)
        .set_network_interfaces((!interfaces.is_empty()).then_some(interfaces))
        .set_placement(placement)
        .set_credit_specification(
            o.cpu_credits
                .as_ref()
                .map(|c| CreditSpecificationRequest::builder().cpu_credits(c).build()),
        )
}

/// The tags each launched resource type gets: the definition's on both, the extra ones of
/// each type on top.
pub(super) fn launched_tags(
    base: &Tags,
    o: &LaunchOptions,
) -> [(ec2::types::ResourceType, Tags); 2] {
    let with = |extra: &Tags| {
        let mut t = extra.clone();
        t.extend(base.clone());
        t
    };
    [
        (ec2::types::ResourceType::Instance, with(&o.instance_tags)),
        (ec2::types::ResourceType::Volume, with(&o.volume_tags)),
    ]
}

/// The launch options a launch template version holds, and the tags common to instances and
/// volumes (the definition's own); the rest of each type's tags are its extra ones.
pub(super) fn response_options(
    data: &ec2::types::ResponseLaunchTemplateData,
) -> (LaunchOptions, Tags) {
    use ec2::types::ResourceType;
    let tags_of = |kind: ResourceType| -> Tags {
        data.tag_specifications()
            .iter()
            .find(|s| s.resource_type() == Some(&kind))
            .map(|s| {
                s.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let instance = tags_of(ResourceType::Instance);
    let volume = tags_of(ResourceType::Volume);
    let common: Tags = instance
        .iter()
        .filter(|(k, v)| volume.get(*k) == Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let only = |t: &Tags| -> Tags {
        t.iter()
            .filter(|(k, _)| !common.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let d = Metadata::default();
    let metadata = data.metadata_options().map_or(d.clone(), |m| Metadata {
        http_tokens: m
            .http_tokens()
            .map_or(d.http_tokens.clone(), |t| t.as_str().to_string()),
        hop_limit: u32_of(m.http_put_response_hop_limit()).unwrap_or(d.hop_limit),
    });
    let options = LaunchOptions {
        metadata,
        block_devices: data
            .block_device_mappings()
            .iter()
            .map(|b| {
                let ebs = b.ebs();
                BlockDevice {
                    device_name: b.device_name().unwrap_or_default().to_string(),
                    volume_size: u32_of(ebs.and_then(|e| e.volume_size())),
                    volume_type: ebs
                        .and_then(|e| e.volume_type())
                        .map(|t| t.as_str().to_string()),
                    iops: u32_of(ebs.and_then(|e| e.iops())),
                    throughput: u32_of(ebs.and_then(|e| e.throughput())),
                    encrypted: ebs.and_then(|e| e.encrypted()),
                    kms_key_id: ebs.and_then(|e| e.kms_key_id()).map(str::to_owned),
                }
            })
            .collect(),
        monitoring: data.monitoring().and_then(|m| m.enabled()).unwrap_or(false),
        ebs_optimized: data.ebs_optimized(),
        network_interfaces: data
            .network_interfaces()
            .iter()
            .map(|n| NetworkInterface {
                device_index: u32_of(n.device_index()).unwrap_or(0),
                associate_public_ip_address: n.associate_public_ip_address(),
                delete_on_termination: n.delete_on_termination(),
                security_groups: n.groups().to_vec(),
                description: n.description().map(str::to_owned),
            })
            .collect(),
        placement: data
            .placement()
            .map_or(Placement::default(), |p| Placement {
                group_name: p.group_name().filter(|g| !g.is_empty()).map(str::to_owned),
                tenancy: p.tenancy().map(|t| t.as_str().to_string()),
                partition_number: u32_of(p.partition_number()),
            }),
        cpu_credits: data
            .credit_specification()
            .and_then(|c| c.cpu_credits())
            .map(str::to_owned),
        instance_tags: only(&instance),
        volume_tags: only(&volume),
    };
    (options, common)
}

/// CreateAutoScalingGroup's settings: warm-up, termination policies, rebalancing, lifecycle
/// hooks (so that they hold the group's first instances), and the mixed instances policy,
/// which then carries the launch template in place of the request's own.
pub(super) fn create_group(
    builder: asg::operation::create_auto_scaling_group::builders::CreateAutoScalingGroupFluentBuilder,
    template: asg::types::LaunchTemplateSpecification,
    s: &GroupSettings,
) -> asg::operation::create_auto_scaling_group::builders::CreateAutoScalingGroupFluentBuilder {
    let builder = builder
        .set_default_instance_warmup(s.default_instance_warmup.map(i32_of))
        .set_termination_policies(
            (!s.termination_policies.is_empty()).then(|| s.termination_policies.clone()),
        )
        .set_capacity_rebalance(s.capacity_rebalance.then_some(true))
        .set_lifecycle_hook_specification_list(
            (!s.lifecycle_hooks.is_empty())
                .then(|| s.lifecycle_hooks.iter().map(hook_specification).collect()),
        );
    match &s.mixed_instances {
        None => builder.launch_template(template),
        Some(m) => builder.mixed_instances_policy(mixed_instances(template, m)),
    }
}

fn mixed_instances(
    template: asg::types::LaunchTemplateSpecification,
    m: &MixedInstances,
) -> asg::types::MixedInstancesPolicy {
    use asg::types::*;
    let overrides = m
        .overrides
        .iter()
        .map(|o| {
            LaunchTemplateOverrides::builder()
                .instance_type(&o.instance_type)
                .set_weighted_capacity(o.weighted_capacity.map(|w| w.to_string()))
                .build()
        })
        .collect();
    let distribution = InstancesDistribution::builder()
        .set_on_demand_base_capacity(m.on_demand_base_capacity.map(i32_of))
        .set_on_demand_percentage_above_base_capacity(
            m.on_demand_percentage_above_base_capacity.map(i32_of),
        )
        .set_spot_allocation_strategy(m.spot_allocation_strategy.clone())
        .build();
    MixedInstancesPolicy::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_specification(template)
                .set_overrides(Some(overrides))
                .build(),
        )
        .instances_distribution(distribution)
        .build()
}

fn hook_specification(h: &LifecycleHook) -> asg::types::LifecycleHookSpecification {
    asg::types::LifecycleHookSpecification::builder()
        .lifecycle_hook_name(&h.name)
        .lifecycle_transition(h.transition.as_aws())
        .heartbeat_timeout(i32_of(h.heartbeat_timeout))
        .default_result(&h.default_result)
        .set_notification_target_arn(h.notification_target_arn.clone())
        .set_role_arn(h.role_arn.clone())
        .set_notification_metadata(h.notification_metadata.clone())
        .build()
}

/// One PutScalingPolicy request.
pub(super) fn put_policy(
    builder: asg::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder,
    p: &ScalingPolicy,
) -> asg::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder {
    use asg::types::*;
    let number = |s: &str| s.parse::<f64>().ok();
    let builder = builder
        .policy_name(&p.name)
        .set_estimated_instance_warmup(p.estimated_instance_warmup.map(i32_of));
    match &p.kind {
        PolicyKind::TargetTracking {
            predefined_metric_type,
            resource_label,
            target_value,
            disable_scale_in,
        } => builder
            .policy_type("TargetTrackingScaling")
            .target_tracking_configuration(
                TargetTrackingConfiguration::builder()
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::from(
                                predefined_metric_type.as_str(),
                            ))
                            .set_resource_label(resource_label.clone())
                            .build(),
                    )
                    .set_target_value(number(target_value))
                    .disable_scale_in(*disable_scale_in)
                    .build(),
            ),
        PolicyKind::Step {
            adjustment_type,
            metric_aggregation_type,
            steps,
        } => builder
            .policy_type("StepScaling")
            .adjustment_type(adjustment_type)
            .set_metric_aggregation_type(metric_aggregation_type.clone())
            .set_step_adjustments(Some(
                steps
                    .iter()
                    .map(|s| {
                        StepAdjustment::builder()
                            .scaling_adjustment(i32::try_from(s.scaling_adjustment).unwrap_or(0))
                            .set_metric_interval_lower_bound(
                                s.lower_bound.as_deref().and_then(number),
                            )
                            .set_metric_interval_upper_bound(
                                s.upper_bound.as_deref().and_then(number),
                            )
                            .build()
                    })
                    .collect(),
            )),
    }
}

/// One PutScheduledUpdateGroupAction request; a time that does not parse is refused here
/// (the stack checked it already).
pub(super) fn put_scheduled(
    builder: asg::operation::put_scheduled_update_group_action::builders::PutScheduledUpdateGroupActionFluentBuilder,
    a: &ScheduledAction,
) -> Result<
    asg::operation::put_scheduled_update_group_action::builders::PutScheduledUpdateGroupActionFluentBuilder,
    CloudError,
>{
    let time = |s: &Option<String>| -> Result<Option<asg::primitives::DateTime>, CloudError> {
        s.as_deref()
            .map(|t| {
                asg::primitives::DateTime::from_str(t, asg::primitives::DateTimeFormat::DateTime)
                    .map_err(|e| CloudError::Service {
                        operation: "AutoScaling.PutScheduledUpdateGroupAction",
                        code: Some("ValidationError".into()),
                        message: format!("scheduled action {}: time {t:?}: {e}", a.name),
                    })
            })
            .transpose()
    };
    Ok(builder
        .scheduled_action_name(&a.name)
        .set_recurrence(a.recurrence.clone())
        .set_start_time(time(&a.start_time)?)
        .set_end_time(time(&a.end_time)?)
        .set_time_zone(a.time_zone.clone())
        .set_min_size(a.min_size.map(i32_of))
        .set_max_size(a.max_size.map(i32_of))
        .set_desired_capacity(a.desired_capacity.map(i32_of)))
}

/// One PutLifecycleHook request.
pub(super) fn put_hook(
    builder: asg::operation::put_lifecycle_hook::builders::PutLifecycleHookFluentBuilder,
    h: &LifecycleHook,
) -> asg::operation::put_lifecycle_hook::builders::PutLifecycleHookFluentBuilder {
    builder
        .lifecycle_hook_name(&h.name)
        .lifecycle_transition(h.transition.as_aws())
        .heartbeat_timeout(i32_of(h.heartbeat_timeout))
        .default_result(&h.default_result)
        .set_notification_target_arn(h.notification_target_arn.clone())
        .set_role_arn(h.role_arn.clone())
        .set_notification_metadata(h.notification_metadata.clone())
}
