//! Elastic Load Balancing (v2): target groups with their deregistration delay, load balancers,
//! listeners and their forward actions, target registrations, and the tags (read with
//! DescribeTags) that say which of them are the stack's.

use std::collections::{HashMap, HashSet};

use aws_sdk_elasticloadbalancingv2 as elb;

use super::client::{all_items, AwsCloud};
use super::convert::{
    in_stack, listener_info, load_balancer_info, non_empty, non_empty_vec, positive, tags_of,
    target_group_info, target_health_info, text, to_i32,
};
use super::errors::error_code;
use crate::cloud::{
    CloudError, CloudResult, Forward, HealthCheckSpec, Holder, ListenerInfo, ListenerSpec,
    LoadBalancerInfo, LoadBalancerSpec, Tags, TargetGroupInfo, TargetGroupSpec, TargetHealth,
};

/// DescribeTargetGroups, DescribeLoadBalancers, DescribeListeners.
const ELB_PAGE: i32 = 400;

/// ARNs per ELBv2 DescribeTags call.
const ELB_DESCRIBE_TAGS_MAX: usize = 20;

/// Targets per ELBv2 RegisterTargets / DeregisterTargets call.
const TARGETS_PER_CALL: usize = 200;

/// ELBv2's error for a target that does not exist (the emulator: that is not registered).
const INVALID_TARGET: &str = "InvalidTarget";

/// ELBv2's health reason for a target that is not registered.
const TARGET_NOT_REGISTERED: &str = "Target.NotRegistered";

/// The target group attribute holding the deregistration delay, and its AWS default.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

const DEFAULT_DEREGISTRATION_DELAY: u32 = 300;

/// Sets the health check fields shared by CreateTargetGroup and ModifyTargetGroup. Unset
/// fields (empty strings, zeros) are left to AWS's defaults.
macro_rules! with_health_check {
    ($req:expr, $hc:expr) => {{
        let hc: &HealthCheckSpec = $hc;
        $req.set_health_check_protocol(non_empty(&hc.protocol).map(Into::into))
            .set_health_check_port(non_empty(&hc.port).map(str::to_owned))
            .set_health_check_path(hc.path.clone())
            .set_health_check_interval_seconds(positive(hc.interval_seconds))
            .set_health_check_timeout_seconds(positive(hc.timeout_seconds))
            .set_healthy_threshold_count(positive(hc.healthy_threshold))
            .set_unhealthy_threshold_count(positive(hc.unhealthy_threshold))
            .set_matcher(
                hc.matcher
                    .as_ref()
                    .map(|m| elb::types::Matcher::builder().http_code(m).build()),
            )
    }};
}

/// Sets the fields shared by CreateListener and ModifyListener.
macro_rules! with_listener {
    ($req:expr, $spec:expr) => {{
        let spec: &ListenerSpec = $spec;
        $req.port(spec.port.into())
            .protocol(spec.protocol.as_str().into())
            .set_certificates(spec.certificate_arn.as_ref().map(|arn| {
                vec![elb::types::Certificate::builder()
                    .certificate_arn(arn)
                    .build()]
            }))
            .default_actions(forward_action(&spec.forward))
    }};
}

impl AwsCloud {
    pub(super) async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>> {
        let request = self.elb.describe_target_groups().page_size(ELB_PAGE);
        let all = self
            .call(
                "ELBv2.DescribeTargetGroups",
                "target groups",
                all_items!(request),
            )
            .await?;
        let candidates = named_with_prefix(all, |tg| tg.target_group_name(), name_prefix);
        let mut out = Vec::new();
        for (tg, tags) in self
            .stack_members(candidates, |tg| tg.target_group_arn(), stack)
            .await?
        {
            let delay = self
                .deregistration_delay(&text(tg.target_group_arn()))
                .await?;
            out.push(target_group_info(&tg, delay, tags));
        }
        Ok(out)
    }

    pub(super) async fn target_health(
        &self,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        let request = self
            .elb
            .describe_target_health()
            .target_group_arn(target_group_arn);
        let what = format!("target group {target_group_arn}");
        let out = self
            .call("ELBv2.DescribeTargetHealth", what, request.send())
            .await?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(target_health_info)
            .collect())
    }

    pub(super) async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>> {
        let request = self.elb.describe_load_balancers().page_size(ELB_PAGE);
        let all = self
            .call(
                "ELBv2.DescribeLoadBalancers",
                "load balancers",
                all_items!(request),
            )
            .await?;
        let candidates = named_with_prefix(all, |lb| lb.load_balancer_name(), name_prefix);
        let members = self
            .stack_members(candidates, |lb| lb.load_balancer_arn(), stack)
            .await?;
        Ok(members
            .iter()
            .map(|(lb, tags)| load_balancer_info(lb, tags.clone()))
            .collect())
    }

    pub(super) async fn list_listeners(
        &self,
        load_balancer_arn: &str,
    ) -> CloudResult<Vec<ListenerInfo>> {
        let request = self
            .elb
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .page_size(ELB_PAGE);
        let what = format!("load balancer {load_balancer_arn}");
        let listeners = self
            .call("ELBv2.DescribeListeners", what, all_items!(request))
            .await?;
        Ok(listeners.iter().map(listener_info).collect())
    }

    pub(super) async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let target_type = non_empty(&spec.target_type).unwrap_or("instance");
        let request = self
            .elb
            .create_target_group()
            .name(&spec.name)
            .protocol(spec.protocol.as_str().into())
            .port(spec.port.into())
            .vpc_id(&spec.vpc_id)
            .target_type(target_type.into())
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let request = with_health_check!(request, &spec.health_check);
        let what = format!("target group {}", spec.name);
        let out = self
            .call("ELBv2.CreateTargetGroup", what, request.send())
            .await?;
        let arn = out
            .target_groups()
            .first()
            .map(|tg| text(tg.target_group_arn()))
            .unwrap_or_default();
        self.set_deregistration_delay(&arn, spec.deregistration_delay_seconds)
            .await?;
        Ok(arn)
    }

    pub(super) async fn modify_target_group(
        &self,
        arn: &str,
        spec: &TargetGroupSpec,
    ) -> CloudResult<()> {
        let request = self.elb.modify_target_group().target_group_arn(arn);
        let request = with_health_check!(request, &spec.health_check);
        let what = format!("target group {arn}");
        self.call("ELBv2.ModifyTargetGroup", what, request.send())
            .await?;
        self.set_deregistration_delay(arn, spec.deregistration_delay_seconds)
            .await
    }

    pub(super) async fn delete_target_group(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_target_group().target_group_arn(arn);
        let what = format!("target group {arn}");
        self.call("ELBv2.DeleteTargetGroup", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        const OP: &str = "ELBv2.CreateLoadBalancer";
        let scheme = if spec.internal {
            elb::types::LoadBalancerSchemeEnum::Internal
        } else {
            elb::types::LoadBalancerSchemeEnum::InternetFacing
        };
        let security_groups = if is_application(spec) {
            non_empty_vec(&spec.security_group_ids)
        } else {
            None
        };
        let request = self
            .elb
            .create_load_balancer()
            .name(&spec.name)
            .r#type(spec.kind.as_str().into())
            .scheme(scheme)
            .set_subnets(Some(spec.subnet_ids.clone()))
            .set_security_groups(security_groups)
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let what = format!("load balancer {}", spec.name);
        let out = self.call(OP, &what, request.send()).await?;
        out.load_balancers()
            .first()
            .map(|lb| load_balancer_info(lb, tags.clone()))
            .ok_or_else(|| CloudError::Service {
                operation: OP,
                code: None,
                message: format!("no {what} in the response"),
            })
    }

    pub(super) async fn modify_load_balancer(
        &self,
        arn: &str,
        spec: &LoadBalancerSpec,
    ) -> CloudResult<()> {
        let what = format!("load balancer {arn}");
        let request = self
            .elb
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(spec.subnet_ids.clone()));
        self.call("ELBv2.SetSubnets", &what, request.send()).await?;
        if is_application(spec) {
            let request = self
                .elb
                .set_security_groups()
                .load_balancer_arn(arn)
                .set_security_groups(Some(spec.security_group_ids.clone()));
            self.call("ELBv2.SetSecurityGroups", &what, request.send())
                .await?;
        }
        Ok(())
    }

    pub(super) async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_load_balancer().load_balancer_arn(arn);
        let what = format!("load balancer {arn}");
        self.call("ELBv2.DeleteLoadBalancer", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let request = self
            .elb
            .create_listener()
            .load_balancer_arn(load_balancer_arn)
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let request = with_listener!(request, spec);
        let what = format!("load balancer {load_balancer_arn}");
        let out = self
            .call("ELBv2.CreateListener", what, request.send())
            .await?;
        Ok(out
            .listeners()
            .first()
            .map(|l| text(l.listener_arn()))
            .unwrap_or_default())
    }

    pub(super) async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()> {
        let request = self.elb.modify_listener().listener_arn(arn);
        let request = with_listener!(request, spec);
        let what = format!("listener {arn}");
        self.call("ELBv2.ModifyListener", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn delete_listener(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_listener().listener_arn(arn);
        let what = format!("listener {arn}");
        self.call("ELBv2.DeleteListener", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        let what = format!("target group {target_group_arn}");
        self.in_batches(
            "ELBv2.RegisterTargets",
            &what,
            instance_ids,
            TARGETS_PER_CALL,
            |batch| {
                self.elb
                    .register_targets()
                    .target_group_arn(target_group_arn)
                    .set_targets(Some(instance_targets(batch)))
                    .send()
            },
        )
        .await?;
        Ok(())
    }

    pub(super) async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        for batch in instance_ids.chunks(TARGETS_PER_CALL) {
            match self
                .deregister_batch(target_group_arn, batch.to_vec())
                .await
            {
                Err(err) if error_code(&err) == Some(INVALID_TARGET) => {
                    // Some of the batch are not registered (or no longer exist), and the call
                    // may have stopped part-way: deregister those the target group still has.
                    let registered: HashSet<String> = self
                        .target_health(target_group_arn)
                        .await?
                        .into_iter()
                        .filter(|t| t.reason.as_deref() != Some(TARGET_NOT_REGISTERED))
                        .map(|t| t.id)
                        .collect();
                    let remaining: Vec<String> = batch
                        .iter()
                        .filter(|id| registered.contains(*id))
                        .cloned()
                        .collect();
                    if !remaining.is_empty() {
                        self.deregister_batch(target_group_arn, remaining).await?;
                    }
                }
                result => result?,
            }
        }
        Ok(())
    }

    /// The target group named `name`, with its tags; `None` when there is none.
    pub(super) async fn target_group_named(
        &self,
        name: &str,
        what: &str,
    ) -> CloudResult<Option<Holder>> {
        let request = self.elb.describe_target_groups().names(name);
        let arn = match self
            .call("ELBv2.DescribeTargetGroups", what, request.send())
            .await
        {
            Ok(out) => out
                .target_groups()
                .iter()
                .find(|t| t.target_group_name() == Some(name))
                .and_then(|t| t.target_group_arn().map(str::to_owned)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        self.holder(arn, what).await
    }

    /// The load balancer named `name`, with its tags; `None` when there is none.
    pub(super) async fn load_balancer_named(
        &self,
        name: &str,
        what: &str,
    ) -> CloudResult<Option<Holder>> {
        let request = self.elb.describe_load_balancers().names(name);
        let arn = match self
            .call("ELBv2.DescribeLoadBalancers", what, request.send())
            .await
        {
            Ok(out) => out
                .load_balancers()
                .iter()
                .find(|l| l.load_balancer_name() == Some(name))
                .and_then(|l| l.load_balancer_arn().map(str::to_owned)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        self.holder(arn, what).await
    }

    /// The resource `arn` with its tags (one DescribeTags call); `None` without an ARN.
    async fn holder(&self, arn: Option<String>, what: &str) -> CloudResult<Option<Holder>> {
        let Some(arn) = arn else {
            return Ok(None);
        };
        let request = self.elb.describe_tags().resource_arns(&arn);
        let out = self
            .call("ELBv2.DescribeTags", what, request.send())
            .await?;
        let tags = out
            .tag_descriptions()
            .iter()
            .find(|d| d.resource_arn() == Some(arn.as_str()))
            .map(|d| tags_of(d.tags()))
            .unwrap_or_default();
        Ok(Some(Holder { id: arn, tags }))
    }

    /// Keeps the `items` whose ARN carries `reroll:stack = stack`, with their tags. Reads tags
    /// with DescribeTags, at most [`ELB_DESCRIBE_TAGS_MAX`] ARNs a call.
    async fn stack_members<T>(
        &self,
        items: Vec<T>,
        arn_of: impl Fn(&T) -> Option<&str>,
        stack: &str,
    ) -> CloudResult<Vec<(T, Tags)>> {
        let arns: Vec<String> = items
            .iter()
            .filter_map(|i| arn_of(i).map(str::to_owned))
            .collect();
        let mut tags_by_arn = HashMap::new();
        for batch in arns.chunks(ELB_DESCRIBE_TAGS_MAX) {
            let request = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()));
            let out = self
                .call("ELBv2.DescribeTags", "tagged resources", request.send())
                .await?;
            for description in out.tag_descriptions() {
                tags_by_arn.insert(
                    text(description.resource_arn()),
                    tags_of(description.tags()),
                );
            }
        }
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let tags = tags_by_arn.remove(arn_of(&item)?)?;
                in_stack(&tags, stack).then_some((item, tags))
            })
            .collect())
    }

    async fn deregister_batch(
        &self,
        target_group_arn: &str,
        instance_ids: Vec<String>,
    ) -> CloudResult<()> {
        let request = self
            .elb
            .deregister_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(instance_targets(instance_ids)));
        let what = format!("target group {target_group_arn}");
        self.call("ELBv2.DeregisterTargets", what, request.send())
            .await?;
        Ok(())
    }

    async fn deregistration_delay(&self, target_group_arn: &str) -> CloudResult<u32> {
        let request = self
            .elb
            .describe_target_group_attributes()
            .target_group_arn(target_group_arn);
        let what = format!("target group {target_group_arn}");
        let out = self
            .call("ELBv2.DescribeTargetGroupAttributes", what, request.send())
            .await?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value()?.parse().ok())
            .unwrap_or(DEFAULT_DEREGISTRATION_DELAY))
    }

    async fn set_deregistration_delay(
        &self,
        target_group_arn: &str,
        seconds: u32,
    ) -> CloudResult<()> {
        let delay = elb::types::TargetGroupAttribute::builder()
            .key(DEREGISTRATION_DELAY)
            .value(seconds.to_string())
            .build();
        let request = self
            .elb
            .modify_target_group_attributes()
            .target_group_arn(target_group_arn)
            .attributes(delay);
        let what = format!("target group {target_group_arn}");
        self.call("ELBv2.ModifyTargetGroupAttributes", what, request.send())
            .await?;
        Ok(())
    }
}

/// The `items` whose name starts with `prefix`.
fn named_with_prefix<T>(
    items: Vec<T>,
    name_of: impl Fn(&T) -> Option<&str>,
    prefix: &str,
) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| name_of(item).unwrap_or_default().starts_with(prefix))
        .collect()
}

fn elb_tags(tags: &Tags) -> Vec<elb::types::Tag> {
    tags.iter()
        .map(|(k, v)| elb::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A forward default action: a plain forward for one target group, a weighted forward
/// config for several.
fn forward_action(forwards: &[Forward]) -> elb::types::Action {
    let action = elb::types::Action::builder().r#type(elb::types::ActionTypeEnum::Forward);
    match forwards {
        [single] => action.target_group_arn(&single.target_group_arn),
        _ => action.forward_config(
            elb::types::ForwardActionConfig::builder()
                .set_target_groups(Some(
                    forwards
                        .iter()
                        .map(|f| {
                            elb::types::TargetGroupTuple::builder()
                                .target_group_arn(&f.target_group_arn)
                                .weight(to_i32(f.weight))
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        ),
    }
    .build()
}

/// The targets of a RegisterTargets / DeregisterTargets call: instances, on the target
/// group's port.
fn instance_targets(instance_ids: Vec<String>) -> Vec<elb::types::TargetDescription> {
    instance_ids
        .into_iter()
        .map(|id| elb::types::TargetDescription::builder().id(id).build())
        .collect()
}

fn is_application(spec: &LoadBalancerSpec) -> bool {
    spec.kind.is_empty() || spec.kind == "application"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::aws::convert::forwards_of;

    fn forward(arn: &str, weight: u32) -> Forward {
        Forward {
            target_group_arn: arn.to_string(),
            weight,
        }
    }

    #[test]
    fn forward_actions_round_trip() {
        let single = vec![forward("arn:a", 1)];
        let action = forward_action(&single);
        assert_eq!(action.target_group_arn(), Some("arn:a"));
        assert_eq!(forwards_of(&[action]), single);

        let weighted = vec![forward("arn:a", 90), forward("arn:b", 10)];
        let action = forward_action(&weighted);
        assert!(action.target_group_arn().is_none());
        assert_eq!(forwards_of(&[action]), weighted);
    }
}
