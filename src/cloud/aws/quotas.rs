//! What the plan's preflight weighs a stack against — service quotas, the vCPUs of instance
//! types and the instances running, the Auto Scaling and ELBv2 account limits — and the
//! account's id (STS).

use std::collections::BTreeMap;

use aws_config::retry::RetryConfig;
use aws_sdk_autoscaling as asg;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::client::{all_items, AwsCloud};
use super::ec2::{ec2_filter, EC2_PAGE};
use super::errors::not_implemented;
use crate::cloud::{CloudError, CloudResult, ElbLimits, Limit};

impl AwsCloud {
    pub(super) async fn service_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> CloudResult<Option<u64>> {
        let request = self
            .quotas
            .get_service_quota()
            .service_code(service_code)
            .quota_code(quota_code)
            .send();
        let what = format!("quota {service_code}/{quota_code}");
        match request.await {
            Ok(out) => Ok(out
                .quota()
                .and_then(|q| q.value())
                .map(|v| v.max(0.0) as u64)),
            Err(err) if err.code() == Some("NoSuchResourceException") => Ok(None),
            Err(err) => Err(self.error("ServiceQuotas.GetServiceQuota", what, err)),
        }
    }

    pub(super) async fn instance_type_vcpus(
        &self,
        types: &[String],
    ) -> CloudResult<BTreeMap<String, u32>> {
        let mut out = BTreeMap::new();
        // DescribeInstanceTypes takes up to 100 types a call.
        for chunk in types.chunks(100) {
            let request = self
                .ec2
                .describe_instance_types()
                .set_instance_types(Some(chunk.iter().map(|t| t.as_str().into()).collect()));
            let page = self
                .call(
                    "EC2.DescribeInstanceTypes",
                    "instance types",
                    request.send(),
                )
                .await?;
            for t in page.instance_types() {
                let (Some(name), Some(vcpus)) = (
                    t.instance_type(),
                    t.v_cpu_info().and_then(|v| v.default_v_cpus()),
                ) else {
                    continue;
                };
                out.insert(name.as_str().to_string(), vcpus.max(0) as u32);
            }
        }
        Ok(out)
    }

    pub(super) async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>> {
        let request = self
            .ec2
            .describe_instances()
            .filters(ec2_filter("instance-state-name", ["pending", "running"]))
            .max_results(EC2_PAGE);
        let reservations = self
            .call("EC2.DescribeInstances", "instances", all_items!(request))
            .await?;
        let mut out = BTreeMap::new();
        for i in reservations.iter().flat_map(|r| r.instances()) {
            let state = i.state().and_then(|s| s.name()).map(|n| n.as_str());
            if !matches!(state, Some("pending" | "running")) {
                continue;
            }
            if let Some(t) = i.instance_type() {
                *out.entry(t.as_str().to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }

    pub(super) async fn auto_scaling_limits(&self) -> CloudResult<Limit> {
        const OP: &str = "AutoScaling.DescribeAccountLimits";
        let request = || self.asg.describe_account_limits();
        // Asked once without retries first, as DescribeInstanceRefreshes is: an endpoint that
        // lacks the operation answers with a server error the retry policy would repeat for
        // seconds on every plan. Any other failure is asked again under the usual policy.
        let once = asg::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        let out = match request().customize().config_override(once).send().await {
            Ok(out) => out,
            Err(err) if not_implemented(&err) => return Err(self.error(OP, "account limits", err)),
            Err(_) => self.call(OP, "account limits", request().send()).await?,
        };
        Ok(Limit {
            max: out.max_number_of_auto_scaling_groups().unwrap_or(0).max(0) as u64,
            used: out.number_of_auto_scaling_groups().unwrap_or(0).max(0) as u64,
        })
    }

    pub(super) async fn elb_limits(&self) -> CloudResult<ElbLimits> {
        let request = self.elb.describe_account_limits().send();
        let out = self
            .call("ELBv2.DescribeAccountLimits", "account limits", request)
            .await?;
        let limits = out
            .limits()
            .iter()
            .filter_map(|l| {
                let max = l.max()?.parse::<f64>().ok()?;
                Some((l.name()?.to_string(), max.max(0.0) as u64))
            })
            .collect();
        let request = self.elb.describe_target_groups().page_size(400);
        let target_groups = self
            .call(
                "ELBv2.DescribeTargetGroups",
                "target groups",
                all_items!(request),
            )
            .await?;
        let request = self.elb.describe_load_balancers().page_size(400);
        let lbs = self
            .call(
                "ELBv2.DescribeLoadBalancers",
                "load balancers",
                all_items!(request),
            )
            .await?;
        let mut load_balancers = BTreeMap::new();
        for lb in &lbs {
            let kind = lb.r#type().map_or("application", |t| t.as_str());
            *load_balancers.entry(kind.to_string()).or_default() += 1;
        }
        Ok(ElbLimits {
            limits,
            target_groups: target_groups.len() as u64,
            load_balancers,
        })
    }

    pub(super) async fn account_id(&self) -> CloudResult<String> {
        let identity = self
            .call(
                "STS.GetCallerIdentity",
                "caller identity",
                self.sts.get_caller_identity().send(),
            )
            .await?;
        identity
            .account()
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| CloudError::Service {
                operation: "STS.GetCallerIdentity",
                code: None,
                message: "the answer names no account".into(),
            })
    }
}
