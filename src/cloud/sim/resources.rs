//! The simulated account's resources as stored (instances, launch templates, Auto Scaling
//! groups and their activities, target groups and registrations, load balancers, listeners),
//! with the states they work out from their transition times.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::time::{wall_time, Ms, SECOND};
use crate::cloud::{
    GroupSpec, LaunchSpec, ListenerSpec, LoadBalancerSpec, ScalingActivity, Tags, TargetGroupSpec,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Instance {
    pub(super) id: String,
    /// Launch order.
    pub(super) seq: u64,
    pub(super) image_id: String,
    pub(super) instance_type: String,
    pub(super) subnet_id: String,
    pub(super) availability_zone: String,
    pub(super) private_ip: String,
    pub(super) tags: Tags,
    /// Launch template id and version string the instance was launched from.
    pub(super) launch_template: Option<(String, String)>,
    /// The Auto Scaling group it is a member of now.
    pub(super) group: Option<String>,
    /// The Auto Scaling group it was launched into, kept after it leaves.
    pub(super) launched_by: Option<String>,
    /// EC2 knows it from here on (`pending`); later than the request when launches queue.
    pub(super) launch_at: Ms,
    /// Booted: `running`, and `InService` in its group (after `held_until`).
    pub(super) running_at: Ms,
    /// A launching lifecycle hook holds it in `Pending:Wait` until then (its heartbeat
    /// timeout, or the CompleteLifecycleAction that came first).
    #[serde(default)]
    pub(super) held_until: Option<Ms>,
    /// The hook's result when the hold ends by timeout is ABANDON: terminated, not InService.
    #[serde(default)]
    pub(super) abandon_on_timeout: bool,
    /// A terminating lifecycle hook holds it in `Terminating:Wait` until then.
    #[serde(default)]
    pub(super) terminate_held_until: Option<Ms>,
    /// Its group has handled the boot (registered it in the group's target groups).
    pub(super) booted: bool,
    /// Its group found it unhealthy (ELB health checks).
    pub(super) unhealthy_at: Option<Ms>,
    /// Its group started terminating it (`Terminating`), possibly draining it first.
    pub(super) terminating_at: Option<Ms>,
    /// EC2 shuts it down (`shutting-down`) from here on…
    pub(super) shutdown_at: Option<Ms>,
    /// …and it is `terminated` from here on.
    pub(super) terminated_at: Option<Ms>,
    /// The shutdown has been handled (target states recorded, targets deregistered).
    pub(super) shut_down: bool,
    /// The termination has been handled (left its group and target groups).
    pub(super) gone: bool,
    /// Its target states (by target group ARN) when EC2 began shutting it down.
    pub(super) terminated_with: BTreeMap<String, String>,
}

impl Instance {
    pub(super) fn visible(&self, t: Ms) -> bool {
        self.launch_at <= t
    }

    pub(super) fn state(&self, t: Ms) -> &'static str {
        match (self.shutdown_at, self.terminated_at) {
            (_, Some(x)) if x <= t => "terminated",
            (Some(s), _) if s <= t => "shutting-down",
            _ if self.running_at <= t => "running",
            _ => "pending",
        }
    }

    pub(super) fn terminated(&self, t: Ms) -> bool {
        self.terminated_at.is_some_and(|x| x <= t)
    }

    pub(super) fn shutting_down(&self, t: Ms) -> bool {
        self.shutdown_at.is_some_and(|s| s <= t)
    }

    /// Counts towards its group's capacity.
    pub(super) fn live_member_of(&self, group: &str) -> bool {
        self.group.as_deref() == Some(group) && self.terminating_at.is_none()
    }

    /// When it joins its group's service: booted, and let go by any launching hook.
    pub(super) fn in_service_at(&self) -> Ms {
        self.held_until
            .map_or(self.running_at, |h| h.max(self.running_at))
    }

    pub(super) fn lifecycle(&self, t: Ms) -> &'static str {
        if self.terminating_at.is_some_and(|x| x <= t) {
            if self.terminate_held_until.is_some_and(|h| t < h) {
                "Terminating:Wait"
            } else {
                "Terminating"
            }
        } else if self.running_at <= t && self.in_service_at() > t {
            "Pending:Wait"
        } else if self.running_at <= t {
            "InService"
        } else {
            "Pending"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Template {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) tags: Tags,
    pub(super) versions: BTreeMap<i64, LaunchSpec>,
    pub(super) latest: i64,
    pub(super) default: i64,
}

impl Template {
    pub(super) fn version(&self, version: &str) -> Option<(i64, &LaunchSpec)> {
        let number = match version {
            "$Latest" => *self.versions.keys().next_back()?,
            "$Default" => self.default,
            v => v.parse().ok()?,
        };
        self.versions.get(&number).map(|s| (number, s))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Group {
    pub(super) spec: GroupSpec,
    /// Suspended processes, in the order they were suspended.
    pub(super) suspended: Vec<String>,
    pub(super) deleting: bool,
    /// Launches failed (no capacity, no template): try again then.
    pub(super) retry_at: Option<Ms>,
}

impl Group {
    pub(super) fn suspended(&self, process: &str) -> bool {
        self.suspended.iter().any(|p| p == process)
    }
}

/// One launch attempt of an Auto Scaling group, as DescribeScalingActivities reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Activity {
    pub(super) id: String,
    /// Recording order, to sort activities that start at the same moment.
    pub(super) seq: u64,
    pub(super) start: Ms,
    /// `InProgress` until then, `Successful` after (failed ones end when they start).
    pub(super) end: Ms,
    pub(super) description: String,
    pub(super) cause: String,
    /// Why the launch failed; `None` for one that succeeded.
    pub(super) failure: Option<String>,
}

impl Activity {
    pub(super) fn info(&self, group: &str, t: Ms) -> ScalingActivity {
        let status = match (&self.failure, t < self.end) {
            (Some(_), _) => "Failed",
            (None, true) => "InProgress",
            (None, false) => "Successful",
        };
        ScalingActivity {
            id: self.id.clone(),
            group: group.to_string(),
            description: self.description.clone(),
            cause: self.cause.clone(),
            status: status.to_string(),
            status_message: self.failure.clone(),
            start_time: Some(wall_time(self.start)),
            end_time: (t >= self.end).then(|| wall_time(self.end)),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Registration {
    pub(super) registered_at: Ms,
    /// Deregistered: draining until then, gone after.
    pub(super) drain_until: Option<Ms>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TargetGroup {
    pub(super) arn: String,
    pub(super) spec: TargetGroupSpec,
    pub(super) tags: Tags,
    /// Since when a listener forwards to it (health checks run only then).
    pub(super) in_use_since: Option<Ms>,
    /// By instance id.
    pub(super) targets: BTreeMap<String, Registration>,
}

impl TargetGroup {
    pub(super) fn interval(&self) -> Ms {
        self.spec.health_check.interval_seconds as Ms * SECOND
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LoadBalancer {
    pub(super) arn: String,
    pub(super) dns_name: String,
    pub(super) spec: LoadBalancerSpec,
    pub(super) tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Listener {
    pub(super) arn: String,
    pub(super) load_balancer_arn: String,
    pub(super) spec: ListenerSpec,
    pub(super) tags: Tags,
}
