//! The Auto Scaling settings of a server group that every new generation is created with:
//! health checks, warm-up, termination policies, capacity rebalancing, a mixed instances
//! policy, scaling policies, scheduled actions and lifecycle hooks. Plain data, shared by the
//! stack, the plan (which fingerprints it) and every `Cloud`.
//!
//! [`GroupSettings::canonical`] leaves what a stack does not set out, so a stack that sets
//! none of these keeps the fingerprint it had before they existed.

use serde::{Deserialize, Serialize};

/// `mixed_instances_policy { instances_distribution { … } override { … } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixedInstances {
    /// Instance types Auto Scaling may launch instead of the launch template's, in priority
    /// order, each with its weight (`None`: 1).
    pub overrides: Vec<InstanceOverride>,
    pub on_demand_base_capacity: Option<u32>,
    pub on_demand_percentage_above_base_capacity: Option<u32>,
    /// `price-capacity-optimized`, `capacity-optimized`, `lowest-price`, …
    pub spot_allocation_strategy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOverride {
    pub instance_type: String,
    pub weighted_capacity: Option<u32>,
}

/// A `scaling_policy "NAME"`: target tracking or step scaling (PutScalingPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    pub name: String,
    pub kind: PolicyKind,
    pub estimated_instance_warmup: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    TargetTracking {
        /// `ASGAverageCPUUtilization`, `ASGAverageNetworkIn`, `ASGAverageNetworkOut`,
        /// `ALBRequestCountPerTarget`.
        predefined_metric_type: String,
        resource_label: Option<String>,
        /// A number as written (`50`, `62.5`).
        target_value: String,
        disable_scale_in: bool,
    },
    Step {
        /// `ChangeInCapacity`, `ExactCapacity`, `PercentChangeInCapacity`.
        adjustment_type: String,
        /// `Average`, `Minimum`, `Maximum`.
        metric_aggregation_type: Option<String>,
        steps: Vec<StepAdjustment>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepAdjustment {
    pub scaling_adjustment: i64,
    /// Numbers as written.
    pub lower_bound: Option<String>,
    pub upper_bound: Option<String>,
}

/// A `scheduled_action "NAME"` (PutScheduledUpdateGroupAction).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledAction {
    pub name: String,
    /// Cron, in `time_zone` (UTC when absent).
    pub recurrence: Option<String>,
    /// ISO-8601 (`2026-12-24T18:00:00Z`).
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub time_zone: Option<String>,
    pub min_size: Option<u32>,
    pub max_size: Option<u32>,
    pub desired_capacity: Option<u32>,
}

/// When a lifecycle hook holds an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// `autoscaling:EC2_INSTANCE_LAUNCHING`: the instance waits in `Pending:Wait`.
    Launching,
    /// `autoscaling:EC2_INSTANCE_TERMINATING`: the instance waits in `Terminating:Wait`.
    Terminating,
}

impl Transition {
    pub fn as_aws(self) -> &'static str {
        match self {
            Transition::Launching => "autoscaling:EC2_INSTANCE_LAUNCHING",
            Transition::Terminating => "autoscaling:EC2_INSTANCE_TERMINATING",
        }
    }

    pub fn from_aws(s: &str) -> Option<Transition> {
        match s {
            "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(Transition::Launching),
            "autoscaling:EC2_INSTANCE_TERMINATING" => Some(Transition::Terminating),
            _ => None,
        }
    }
}

/// A `lifecycle_hook "NAME"` (PutLifecycleHook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleHook {
    pub name: String,
    pub transition: Transition,
    /// Seconds an instance waits for CompleteLifecycleAction before `default_result`.
    pub heartbeat_timeout: u32,
    /// `CONTINUE` or `ABANDON`.
    pub default_result: String,
    pub notification_target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub notification_metadata: Option<String>,
}

/// AWS's heartbeat timeout when a hook sets none.
pub const DEFAULT_HEARTBEAT_SECONDS: u32 = 3600;

/// Everything about a generation's Auto Scaling group beyond its size, subnets and target
/// groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSettings {
    /// `EC2` or `ELB`; `None`: `ELB` when the group has target groups, else `EC2`.
    #[serde(default)]
    pub health_check_type: Option<String>,
    /// Seconds; `None`: the rollout's `health.grace`.
    #[serde(default)]
    pub health_check_grace_period: Option<u32>,
    #[serde(default)]
    pub default_instance_warmup: Option<u32>,
    #[serde(default)]
    pub termination_policies: Vec<String>,
    #[serde(default)]
    pub capacity_rebalance: bool,
    #[serde(default)]
    pub mixed_instances: Option<MixedInstances>,
    #[serde(default)]
    pub scaling_policies: Vec<ScalingPolicy>,
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
    #[serde(default)]
    pub lifecycle_hooks: Vec<LifecycleHook>,
}

/// The settings of an Auto Scaling group that DescribeAutoScalingGroups shows, so that a plan
/// names the ones a new generation changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsgSettings {
    pub health_check_type: String,
    pub health_check_grace_seconds: u32,
    pub default_instance_warmup: Option<u32>,
    /// As AWS lists them: `["Default"]` when none was given.
    pub termination_policies: Vec<String>,
    pub capacity_rebalance: bool,
}

impl GroupSettings {
    /// The health check type a group gets: the stack's, else `ELB` when it has target groups
    /// and `EC2` when it has none.
    pub fn health_check_type_for(&self, has_target_groups: bool) -> String {
        self.health_check_type.clone().unwrap_or_else(|| {
            match has_target_groups {
                true => "ELB",
                false => "EC2",
            }
            .into()
        })
    }

    /// The termination policies as AWS lists them: `["Default"]` when none were given.
    pub fn termination_policies_or_default(&self) -> Vec<String> {
        match self.termination_policies.is_empty() {
            true => vec!["Default".to_string()],
            false => self.termination_policies.clone(),
        }
    }

    /// What DescribeAutoScalingGroups shows of a group created with these settings: AWS's
    /// defaults filled in, `grace` (seconds) when the stack sets no grace period.
    pub fn as_created(&self, has_target_groups: bool, grace: u32) -> AsgSettings {
        AsgSettings {
            health_check_type: self.health_check_type_for(has_target_groups),
            health_check_grace_seconds: self.health_check_grace_period.unwrap_or(grace),
            default_instance_warmup: self.default_instance_warmup,
            termination_policies: self.termination_policies_or_default(),
            capacity_rebalance: self.capacity_rebalance,
        }
    }
    /// The canonical `name=value` entries of the fingerprint, what the stack does not set left
    /// out. Termination policies keep their order (AWS applies them in turn), as do instance
    /// type overrides (their priority); policies, actions and hooks are keyed by name.
    pub fn canonical(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |name: String, value: String| out.push((name, value));
        let opt = |v: Option<u32>| v.map(|n| n.to_string());
        if let Some(t) = &self.health_check_type {
            put("group.health_check_type".into(), t.clone());
        }
        if let Some(g) = self.health_check_grace_period {
            put("group.health_check_grace_period".into(), g.to_string());
        }
        if let Some(w) = self.default_instance_warmup {
            put("group.default_instance_warmup".into(), w.to_string());
        }
        if !self.termination_policies.is_empty() {
            put(
                "group.termination_policies".into(),
                self.termination_policies.join(","),
            );
        }
        if self.capacity_rebalance {
            put("group.capacity_rebalance".into(), "true".into());
        }
        if let Some(m) = &self.mixed_instances {
            let overrides = m
                .overrides
                .iter()
                .map(|o| match o.weighted_capacity {
                    Some(w) => format!("{}*{w}", o.instance_type),
                    None => o.instance_type.clone(),
                })
                .collect::<Vec<_>>()
                .join(",");
            put(
                "group.mixed_instances".into(),
                format!(
                    "overrides={overrides};on_demand_base={};on_demand_above_base={};spot={}",
                    opt(m.on_demand_base_capacity).unwrap_or_default(),
                    opt(m.on_demand_percentage_above_base_capacity).unwrap_or_default(),
                    m.spot_allocation_strategy.clone().unwrap_or_default()
                ),
            );
        }
        for p in &self.scaling_policies {
            put(format!("group.scaling_policy.{}", p.name), p.describe());
        }
        for a in &self.scheduled_actions {
            put(format!("group.scheduled_action.{}", a.name), a.describe());
        }
        for h in &self.lifecycle_hooks {
            put(format!("group.lifecycle_hook.{}", h.name), h.describe());
        }
        out
    }

    /// The hooks for one transition.
    pub fn hooks(&self, t: Transition) -> impl Iterator<Item = &LifecycleHook> {
        self.lifecycle_hooks
            .iter()
            .filter(move |h| h.transition == t)
    }
}

fn join(parts: &[(&str, Option<String>)]) -> String {
    parts
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

impl ScalingPolicy {
    pub fn describe(&self) -> String {
        let warmup = (
            "warmup",
            self.estimated_instance_warmup.map(|n| n.to_string()),
        );
        match &self.kind {
            PolicyKind::TargetTracking {
                predefined_metric_type,
                resource_label,
                target_value,
                disable_scale_in,
            } => join(&[
                ("target_tracking", Some(predefined_metric_type.clone())),
                ("label", resource_label.clone()),
                ("target", Some(target_value.clone())),
                ("disable_scale_in", disable_scale_in.then(|| "true".into())),
                warmup,
            ]),
            PolicyKind::Step {
                adjustment_type,
                metric_aggregation_type,
                steps,
            } => {
                let steps = steps
                    .iter()
                    .map(|s| {
                        format!(
                            "[{}..{}]{:+}",
                            s.lower_bound.as_deref().unwrap_or(""),
                            s.upper_bound.as_deref().unwrap_or(""),
                            s.scaling_adjustment
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                join(&[
                    ("step", Some(adjustment_type.clone())),
                    ("aggregation", metric_aggregation_type.clone()),
                    ("steps", Some(steps)),
                    warmup,
                ])
            }
        }
    }
}

impl ScheduledAction {
    pub fn describe(&self) -> String {
        let n = |v: Option<u32>| v.map(|n| n.to_string());
        join(&[
            ("recurrence", self.recurrence.clone()),
            ("start", self.start_time.clone()),
            ("end", self.end_time.clone()),
            ("time_zone", self.time_zone.clone()),
            ("min", n(self.min_size)),
            ("max", n(self.max_size)),
            ("desired", n(self.desired_capacity)),
        ])
    }
}

impl LifecycleHook {
    pub fn describe(&self) -> String {
        join(&[
            (
                "transition",
                Some(
                    match self.transition {
                        Transition::Launching => "launching",
                        Transition::Terminating => "terminating",
                    }
                    .into(),
                ),
            ),
            ("heartbeat", Some(self.heartbeat_timeout.to_string())),
            ("default", Some(self.default_result.clone())),
            ("target", self.notification_target_arn.clone()),
            ("role", self.role_arn.clone()),
            ("metadata", self.notification_metadata.clone()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_is_nothing_in_the_canonical_form() {
        assert!(GroupSettings::default().canonical().is_empty());
    }

    #[test]
    fn each_setting_reads_as_one_entry() {
        let s = GroupSettings {
            termination_policies: vec!["OldestLaunchTemplate".into(), "Default".into()],
            mixed_instances: Some(MixedInstances {
                overrides: vec![
                    InstanceOverride {
                        instance_type: "c7g.large".into(),
                        weighted_capacity: None,
                    },
                    InstanceOverride {
                        instance_type: "c6g.xlarge".into(),
                        weighted_capacity: Some(2),
                    },
                ],
                on_demand_base_capacity: Some(1),
                on_demand_percentage_above_base_capacity: Some(25),
                spot_allocation_strategy: Some("price-capacity-optimized".into()),
            }),
            scaling_policies: vec![ScalingPolicy {
                name: "steps".into(),
                kind: PolicyKind::Step {
                    adjustment_type: "ChangeInCapacity".into(),
                    metric_aggregation_type: None,
                    steps: vec![
                        StepAdjustment {
                            scaling_adjustment: 1,
                            lower_bound: Some("0".into()),
                            upper_bound: Some("10".into()),
                        },
                        StepAdjustment {
                            scaling_adjustment: 3,
                            lower_bound: Some("10".into()),
                            upper_bound: None,
                        },
                    ],
                },
                estimated_instance_warmup: None,
            }],
            ..GroupSettings::default()
        };
        let c: Vec<String> = s
            .canonical()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            c,
            [
                "group.termination_policies=OldestLaunchTemplate,Default",
                "group.mixed_instances=overrides=c7g.large,c6g.xlarge*2;on_demand_base=1;\
                 on_demand_above_base=25;spot=price-capacity-optimized",
                "group.scaling_policy.steps=step=ChangeInCapacity,steps=[0..10]+1 [10..]+3",
            ]
        );
    }
}
