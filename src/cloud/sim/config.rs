//! How the simulated account behaves.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::client::ApiFaults;
use super::limits::RateLimits;
use crate::cloud::RetryPolicy;

/// A range of seconds; values are drawn uniformly from it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Seconds {
    pub min: f64,
    pub max: f64,
}

/// How the simulated account behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub region: String,
    pub account_id: String,
    /// Seeds boot times and resource ids.
    pub seed: u64,
    /// From launch to `running` (and `InService`).
    pub boot_time: Seconds,
    /// From TerminateInstances to `terminated`.
    pub shutdown_seconds: f64,
    /// Simulated time every request takes, on top of any wait for a rate limit.
    pub call_latency_ms: u64,
    /// Images (ids or names) whose instances never pass a health check.
    pub bad_images: BTreeSet<String>,
    /// Image names that do not exist in this region (other regions, and copies into this one,
    /// still have them). An image of such a name found before is deregistered: launches of it
    /// fail, as does any launch of an image id the region does not know.
    pub missing_images: BTreeSet<String>,
    /// Availability zones (`us-east-1b`) without capacity: launches there fail.
    pub insufficient_capacity_azs: BTreeSet<String>,
    pub limits: RateLimits,
    /// Targets of a target group no listener forwards to are `unused` and never health
    /// checked, as on AWS. Off: every target group is health checked.
    pub unused_without_load_balancer: bool,
    /// How long an Auto Scaling group waits before retrying a launch that failed.
    pub asg_retry_seconds: f64,
    /// How long after its load balancer an Auto Scaling group (health check type `ELB`)
    /// notices that an instance fails its health checks.
    pub asg_health_check_seconds: f64,
    /// Attempts that fail at random (throttles, 5xx, timeouts, resets), on top of the rate
    /// limits; the client retries them as the AWS SDK would (see [`SimConfig::retry`]).
    pub api_faults: ApiFaults,
    /// How the client retries a failed attempt: reroll's policy unless changed.
    pub retry: RetryPolicy,
    /// Service Quotas values this account answers for (`ec2/L-1216C47A`: running On-Demand
    /// Standard vCPUs); any other quota is unknown (NoSuchResourceException).
    pub service_quotas: BTreeMap<String, u64>,
    /// Auto Scaling's MaxNumberOfAutoScalingGroups.
    pub max_auto_scaling_groups: u64,
    /// ELBv2's DescribeAccountLimits, by name.
    pub elb_limits: BTreeMap<String, u64>,
    /// Key pairs that do not exist (every other name does).
    pub missing_key_pairs: BTreeSet<String>,
    /// Instance profiles (by name) that do not exist in the account.
    pub missing_instance_profiles: BTreeSet<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            seed: 1,
            boot_time: Seconds {
                min: 30.0,
                max: 60.0,
            },
            shutdown_seconds: 5.0,
            call_latency_ms: 50,
            bad_images: BTreeSet::new(),
            missing_images: BTreeSet::new(),
            insufficient_capacity_azs: BTreeSet::new(),
            limits: RateLimits::default(),
            unused_without_load_balancer: true,
            asg_retry_seconds: 10.0,
            asg_health_check_seconds: 10.0,
            api_faults: ApiFaults::default(),
            retry: RetryPolicy::default(),
            // AWS's defaults for an established account; the vCPU quota is one a restore of
            // thousands of instances can exceed.
            service_quotas: [("ec2/L-1216C47A".to_string(), 10_000)].into(),
            max_auto_scaling_groups: 500,
            elb_limits: [
                ("target-groups".to_string(), 3000),
                ("application-load-balancers".to_string(), 50),
                ("network-load-balancers".to_string(), 50),
            ]
            .into(),
            missing_key_pairs: BTreeSet::new(),
            missing_instance_profiles: BTreeSet::new(),
        }
    }
}
