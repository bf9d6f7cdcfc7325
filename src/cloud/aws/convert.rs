//! SDK shapes into reroll's types (the `*_info` functions, [`tags_of`], [`forwards_of`],
//! [`launch_spec`]), and the small conversions and checks the request builders share.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_autoscaling as asg;
use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elb;
use base64::Engine as _;

use super::fleet;
use crate::cloud::states::{InstanceHealth, InstanceState, Lifecycle, TargetState};
use crate::cloud::{
    tag, Forward, GroupInfo, GroupInstance, HealthCheckSpec, ImageInfo, InstanceInfo,
    InstanceRefresh, LaunchSpec, LaunchTemplateInfo, ListenerInfo, ListenerSpec, LoadBalancerInfo,
    LoadBalancerSpec, ScalingActivity, SecurityGroupInfo, Snapshot, SubnetInfo, Tags,
    TargetGroupInfo, TargetGroupSpec, TargetHealth, VpcInfo,
};

/// Tag shapes of the three services, read alike.
pub(super) trait KeyValue {
    fn pair(&self) -> (Option<&str>, Option<&str>);
}

macro_rules! impl_key_value {
    ($($ty:ty),*) => {$(
        impl KeyValue for $ty {
            fn pair(&self) -> (Option<&str>, Option<&str>) {
                (self.key(), self.value())
            }
        }
    )*};
}

impl_key_value!(ec2::types::Tag, asg::types::TagDescription, elb::types::Tag);

pub(super) fn tags_of<T: KeyValue>(tags: &[T]) -> Tags {
    tags.iter()
        .filter_map(|t| match t.pair() {
            (Some(k), v) => Some((k.to_string(), text(v))),
            _ => None,
        })
        .collect::<BTreeMap<_, _>>()
}

pub(super) fn image_info(image: &ec2::types::Image) -> ImageInfo {
    ImageInfo {
        id: text(image.image_id()),
        name: text(image.name()),
        owner: text(image.owner_id()),
        creation_date: text(image.creation_date()),
        state: text(image.state().map(|s| s.as_str())),
        architecture: image.architecture().map(|a| a.as_str().to_string()),
        tags: tags_of(image.tags()),
        snapshots: image
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs())
            .map(|ebs| Snapshot {
                id: text(ebs.snapshot_id()),
                size_gib: ebs.volume_size().map_or(0, |s| s.max(0) as u64),
                encrypted: ebs.encrypted().unwrap_or(false),
            })
            .collect(),
    }
}

pub(super) fn vpc_info(vpc: &ec2::types::Vpc) -> VpcInfo {
    VpcInfo {
        id: text(vpc.vpc_id()),
        cidr: vpc.cidr_block().map(str::to_owned),
        tags: tags_of(vpc.tags()),
    }
}

pub(super) fn subnet_info(subnet: &ec2::types::Subnet) -> SubnetInfo {
    SubnetInfo {
        id: text(subnet.subnet_id()),
        vpc_id: text(subnet.vpc_id()),
        availability_zone: text(subnet.availability_zone()),
        cidr: subnet.cidr_block().map(str::to_owned),
        tags: tags_of(subnet.tags()),
    }
}

pub(super) fn security_group_info(sg: &ec2::types::SecurityGroup) -> SecurityGroupInfo {
    SecurityGroupInfo {
        id: text(sg.group_id()),
        name: text(sg.group_name()),
        vpc_id: sg.vpc_id().map(str::to_owned),
        tags: tags_of(sg.tags()),
    }
}

pub(super) fn group_info(group: &asg::types::AutoScalingGroup) -> GroupInfo {
    let template = group.launch_template().or_else(|| {
        group
            .mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification())
    });
    GroupInfo {
        name: text(group.auto_scaling_group_name()),
        min: count(group.min_size()),
        max: count(group.max_size()),
        desired: count(group.desired_capacity()),
        tags: tags_of(group.tags()),
        launch_template_id: template
            .and_then(|t| t.launch_template_id())
            .map(str::to_owned),
        launch_template_version: template.and_then(|t| t.version()).map(str::to_owned),
        target_group_arns: group.target_group_arns().to_vec(),
        subnet_ids: group
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        instances: group.instances().iter().map(group_instance).collect(),
        suspended_processes: group
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_owned))
            .collect(),
        status: group.status().map(str::to_owned),
        settings: Some(crate::cloud::scaling::AsgSettings {
            health_check_type: text(group.health_check_type()),
            health_check_grace_seconds: count(group.health_check_grace_period()),
            default_instance_warmup: group
                .default_instance_warmup()
                .and_then(|w| u32::try_from(w).ok()),
            termination_policies: group.termination_policies().to_vec(),
            capacity_rebalance: group.capacity_rebalance().unwrap_or(false),
        }),
    }
}

fn group_instance(instance: &asg::types::Instance) -> GroupInstance {
    GroupInstance {
        id: text(instance.instance_id()),
        lifecycle_state: Lifecycle::parse(instance.lifecycle_state().map_or("", |s| s.as_str())),
        health_status: InstanceHealth::parse(instance.health_status().unwrap_or_default()),
        availability_zone: instance.availability_zone().map(str::to_owned),
        launch_template_version: instance
            .launch_template()
            .and_then(|t| t.version())
            .map(str::to_owned),
    }
}

pub(super) fn scaling_activity(a: &asg::types::Activity) -> ScalingActivity {
    ScalingActivity {
        id: text(a.activity_id()),
        group: text(a.auto_scaling_group_name()),
        description: text(a.description()),
        cause: text(a.cause()),
        status: text(a.status_code().map(|c| c.as_str())),
        status_message: a.status_message().map(str::to_owned),
        start_time: a.start_time().and_then(|t| SystemTime::try_from(*t).ok()),
        end_time: a.end_time().and_then(|t| SystemTime::try_from(*t).ok()),
    }
}

pub(super) fn instance_refresh(r: &asg::types::InstanceRefresh) -> InstanceRefresh {
    InstanceRefresh {
        id: text(r.instance_refresh_id()),
        status: text(r.status().map(|s| s.as_str())),
        status_reason: r.status_reason().map(str::to_owned),
        percentage_complete: r.percentage_complete().map(count_i32),
        start_time: r.start_time().and_then(|t| SystemTime::try_from(*t).ok()),
    }
}

pub(super) fn instance_info(instance: &ec2::types::Instance) -> InstanceInfo {
    InstanceInfo {
        id: text(instance.instance_id()),
        state: InstanceState::parse(
            instance
                .state()
                .and_then(|s| s.name())
                .map_or("", |n| n.as_str()),
        ),
        image_id: instance.image_id().map(str::to_owned),
        instance_type: instance.instance_type().map(|t| t.as_str().to_string()),
        subnet_id: instance.subnet_id().map(str::to_owned),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_owned),
        private_ip: instance.private_ip_address().map(str::to_owned),
        launch_time: instance
            .launch_time()
            .and_then(|t| SystemTime::try_from(*t).ok()),
        tags: tags_of(instance.tags()),
    }
}

pub(super) fn launch_template_info(template: &ec2::types::LaunchTemplate) -> LaunchTemplateInfo {
    LaunchTemplateInfo {
        id: text(template.launch_template_id()),
        name: text(template.launch_template_name()),
        latest_version: template.latest_version_number().unwrap_or_default(),
        tags: tags_of(template.tags()),
    }
}

pub(super) fn launch_spec(data: &ec2::types::ResponseLaunchTemplateData) -> LaunchSpec {
    let (options, instance_tags) = fleet::response_options(data);
    let user_data = data.user_data().map(|encoded| {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|_| encoded.to_string())
    });
    LaunchSpec {
        image_id: text(data.image_id()),
        instance_type: text(data.instance_type().map(|t| t.as_str())),
        user_data,
        security_group_ids: data.security_group_ids().to_vec(),
        instance_profile: data
            .iam_instance_profile()
            .and_then(|p| p.arn().or(p.name()))
            .map(str::to_owned),
        key_name: data.key_name().map(str::to_owned),
        instance_tags,
        options,
    }
}

pub(super) fn target_group_info(
    tg: &elb::types::TargetGroup,
    deregistration_delay_seconds: u32,
    tags: Tags,
) -> TargetGroupInfo {
    let spec = TargetGroupSpec {
        name: text(tg.target_group_name()),
        port: tg
            .port()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default(),
        protocol: text(tg.protocol().map(|p| p.as_str())),
        vpc_id: text(tg.vpc_id()),
        target_type: text(tg.target_type().map(|t| t.as_str())),
        health_check: HealthCheckSpec {
            protocol: text(tg.health_check_protocol().map(|p| p.as_str())),
            port: text(tg.health_check_port()),
            path: tg.health_check_path().map(str::to_owned),
            interval_seconds: count(tg.health_check_interval_seconds()),
            timeout_seconds: count(tg.health_check_timeout_seconds()),
            healthy_threshold: count(tg.healthy_threshold_count()),
            unhealthy_threshold: count(tg.unhealthy_threshold_count()),
            matcher: tg.matcher().and_then(|m| m.http_code()).map(str::to_owned),
        },
        deregistration_delay_seconds,
    };
    TargetGroupInfo {
        arn: text(tg.target_group_arn()),
        spec,
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
        tags,
    }
}

pub(super) fn target_health_info(
    description: &elb::types::TargetHealthDescription,
) -> TargetHealth {
    let health = description.target_health();
    TargetHealth {
        id: text(description.target().and_then(|t| t.id())),
        port: description
            .target()
            .and_then(|t| t.port())
            .and_then(|p| u16::try_from(p).ok()),
        state: TargetState::parse(health.and_then(|h| h.state()).map_or("", |s| s.as_str())),
        reason: health
            .and_then(|h| h.reason())
            .map(|r| r.as_str().to_string()),
    }
}

pub(super) fn load_balancer_info(lb: &elb::types::LoadBalancer, tags: Tags) -> LoadBalancerInfo {
    LoadBalancerInfo {
        arn: text(lb.load_balancer_arn()),
        dns_name: text(lb.dns_name()),
        spec: LoadBalancerSpec {
            name: text(lb.load_balancer_name()),
            kind: text(lb.r#type().map(|t| t.as_str())),
            internal: lb.scheme() == Some(&elb::types::LoadBalancerSchemeEnum::Internal),
            subnet_ids: lb
                .availability_zones()
                .iter()
                .filter_map(|az| az.subnet_id().map(str::to_owned))
                .collect(),
            security_group_ids: lb.security_groups().to_vec(),
        },
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string()),
        tags,
    }
}

pub(super) fn listener_info(listener: &elb::types::Listener) -> ListenerInfo {
    ListenerInfo {
        arn: text(listener.listener_arn()),
        load_balancer_arn: text(listener.load_balancer_arn()),
        spec: ListenerSpec {
            port: listener
                .port()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_default(),
            protocol: text(listener.protocol().map(|p| p.as_str())),
            certificate_arn: listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_owned),
            forward: forwards_of(listener.default_actions()),
        },
    }
}

/// The target groups the forward actions among `actions` send traffic to. A weighted forward
/// config wins over the plain target group ARN (AWS reports both for a single target group).
pub(super) fn forwards_of(actions: &[elb::types::Action]) -> Vec<Forward> {
    actions
        .iter()
        .filter(|a| a.r#type() == Some(&elb::types::ActionTypeEnum::Forward))
        .flat_map(|action| {
            let weighted: Vec<Forward> = action
                .forward_config()
                .map(|c| c.target_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|t| {
                    Some(Forward {
                        target_group_arn: t.target_group_arn()?.to_string(),
                        weight: t.weight().map_or(1, count_i32),
                    })
                })
                .collect();
            if weighted.is_empty() {
                action
                    .target_group_arn()
                    .map(|arn| Forward {
                        target_group_arn: arn.to_string(),
                        weight: 1,
                    })
                    .into_iter()
                    .collect()
            } else {
                weighted
            }
        })
        .collect()
}

pub(super) fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

pub(super) fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

pub(super) fn non_empty_vec<T: Clone>(values: &[T]) -> Option<Vec<T>> {
    (!values.is_empty()).then(|| values.to_vec())
}

/// A count the services report as i32; negative or missing reads as 0.
fn count(value: Option<i32>) -> u32 {
    value.map_or(0, count_i32)
}

fn count_i32(value: i32) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

pub(super) fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A setting where 0 means "leave it to AWS".
pub(super) fn positive(value: u32) -> Option<i32> {
    (value > 0).then(|| to_i32(value))
}

pub(super) fn in_stack(tags: &Tags, stack: &str) -> bool {
    tags.get(tag::STACK).map(String::as_str) == Some(stack)
}

pub(super) fn has_tags(tags: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}
