//! Telling early that new instances will not come up, instead of waiting out the health
//! deadline: Auto Scaling launches that keep failing (no capacity, the vCPU quota, a missing
//! image or launch template), RunInstances refusing an instance-mode launch, and targets that
//! their target group never health checks (`unused`, reason `Target.NotInUse`).
//!
//! A [`Watch`] follows one generation through the rounds of a rollout or a wait. Each look
//! costs at most one DescribeScalingActivities call (usually one page), and only while the
//! group has fewer instances than it asks for; the targets come from the health the round
//! read anyway.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::error::ApplyError;
use super::fleet::{Fleet, Generation};
use super::types::HealthWait;
use crate::cloud::states::TargetState;
use crate::cloud::{Cloud, CloudError, GroupInfo, ScalingActivity, TargetHealth};
use crate::stack::{OnFailure, ServerGroup};

/// Launch failures in a row, with no launch succeeding since, that stop a wave. Auto Scaling
/// retries a failed launch (in another zone, or a little later), and a failure it gets past
/// (capacity in one zone, a brief shortage) is no reason to stop; three in a row with nothing
/// launched in between is a pattern, reached within a minute or so of retries rather than the
/// ten minutes of a health deadline.
const REPEATED_FAILURES: usize = 3;

/// How long before a watch starts its scaling activities are read from. Auto Scaling starts
/// launching the moment a group is created or resized, before the call returns, and its
/// timestamps come from AWS's clock, not this machine's.
const SINCE_MARGIN: Duration = Duration::from_secs(60);

/// How long a new target may report `unused (Target.NotInUse)` before the wave stops. A
/// listener created or changed a moment ago may not count its target groups yet; one that
/// forwards nowhere never will.
const NOT_IN_USE_PATIENCE: Duration = Duration::from_secs(30);

/// Phrases of launch failures that a retry does not cure (lower case): a missing image,
/// launch template or security group, an invalid setting, a quota. Anything else (capacity,
/// internal errors) counts only when it repeats.
const PERMANENT: &[&str] = &[
    "does not exist",
    "vcpu limit",
    "instance limit",
    "is invalid",
    "not authorized",
    "you must use a valid",
];

/// What the launch activities since the last successful launch say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launches {
    /// Launches fail and waiting will not help: why.
    Failing(String),
    /// Nothing to stop for. The start of the newest launch that did not fail, if any: the
    /// next look need not read further back.
    Fine { newest_launch: Option<SystemTime> },
}

/// Decides from a group's scaling activities (any order) whether its launches are failing.
/// Only failures since the newest launch that did not fail count; one whose reason a retry
/// does not cure is enough, others must repeat [`REPEATED_FAILURES`] times.
pub(crate) fn launches(group: &str, activities: &[ScalingActivity]) -> Launches {
    let mut launches: Vec<&ScalingActivity> = activities.iter().filter(|a| a.is_launch()).collect();
    launches.sort_by_key(|a| std::cmp::Reverse(a.start_time));
    let newest_launch = launches
        .iter()
        .find(|a| !a.failed())
        .and_then(|a| a.start_time);
    let failures: Vec<&ScalingActivity> = launches
        .iter()
        .take_while(|a| a.failed())
        .copied()
        .collect();
    let reason = |a: &ScalingActivity| {
        a.status_message
            .clone()
            .unwrap_or_else(|| a.description.clone())
    };
    if let Some(permanent) = failures.iter().find(|a| is_permanent(&reason(a))) {
        let why = reason(permanent);
        return Launches::Failing(format!(
            "new instances cannot launch: Auto Scaling reports for {group}: {why}{}",
            hint(&why)
        ));
    }
    if failures.len() >= REPEATED_FAILURES {
        let why = reason(failures[0]);
        let first = failures
            .last()
            .and_then(|a| a.start_time)
            .map(|t| format!(" since {}", humantime::format_rfc3339_seconds(t)))
            .unwrap_or_default();
        return Launches::Failing(format!(
            "new instances cannot launch: {} launches into {group} failed{first} and none \
             succeeded: {why}{}",
            failures.len(),
            hint(&why)
        ));
    }
    Launches::Fine { newest_launch }
}

fn is_permanent(reason: &str) -> bool {
    let reason = reason.to_lowercase();
    PERMANENT.iter().any(|p| reason.contains(p))
}

/// What to do about a launch failure, when its reason says.
fn hint(reason: &str) -> &'static str {
    let r = reason.to_lowercase();
    if r.contains("capacity") && r.contains("sufficient") {
        " (AWS has no spare capacity of this instance type there: add subnets in other zones, \
         choose another instance type, or try again later)"
    } else if r.contains("vcpu") || r.contains("instance limit") {
        " (the account's EC2 quota is reached: request a higher limit in Service Quotas, or \
         lower max_surge)"
    } else if r.contains("invalidamiid") || (r.contains("image") && r.contains("does not exist")) {
        " (the image was deregistered, or is not shared with this account in this region)"
    } else if r.contains("launch template") && r.contains("does not exist") {
        " (the generation's launch template or version was deleted)"
    } else {
        ""
    }
}

/// A target of the new generation that its target group reports `unused (Target.NotInUse)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Unused {
    pub target_group_arn: String,
    pub instance_id: String,
}

/// The members of `group` that a target group reports `unused` with reason
/// `Target.NotInUse`: AWS does not health check them, so they never become healthy.
pub(crate) fn unused_targets<'h>(
    target_group_arns: &[String],
    health_of: impl Fn(&str) -> Option<&'h [TargetHealth]>,
    group: Option<&GroupInfo>,
) -> Vec<Unused> {
    let Some(group) = group else {
        return Vec::new();
    };
    let members: std::collections::HashSet<&str> =
        group.instances.iter().map(|i| i.id.as_str()).collect();
    let mut out = Vec::new();
    for arn in target_group_arns {
        for t in health_of(arn).unwrap_or_default() {
            if t.state == TargetState::Unused
                && t.reason.as_deref() == Some("Target.NotInUse")
                && members.contains(t.id.as_str())
            {
                out.push(Unused {
                    target_group_arn: arn.clone(),
                    instance_id: t.id.clone(),
                });
            }
        }
    }
    out
}

/// The name in a target group ARN (`…:targetgroup/NAME/0123…`).
fn target_group_name(arn: &str) -> &str {
    arn.split('/').nth(1).unwrap_or(arn)
}

/// Follows one generation for signs that it cannot come up.
pub(crate) struct Watch {
    /// The Auto Scaling group whose activities are read; `None` for an instance-mode
    /// generation (RunInstances reports its failures directly).
    group: Option<String>,
    name: String,
    since: SystemTime,
    unused_since: HashMap<Unused, Instant>,
    /// Reading activities failed once: said once, and the health deadline still applies.
    warned: bool,
    /// Live instances at the last look: while their number grows, launches work and the
    /// activities are not read.
    last_live: Option<usize>,
    /// When the activities were last read.
    last_read: Option<Instant>,
}

impl Watch {
    pub(crate) fn new(cloud: &dyn Cloud, name: &str, auto_scaling: bool) -> Watch {
        Watch {
            group: auto_scaling.then(|| name.to_string()),
            name: name.to_string(),
            since: cloud.now() - SINCE_MARGIN,
            unused_since: HashMap::new(),
            warned: false,
            last_live: None,
            last_read: None,
        }
    }

    /// One look at the generation (`group` as just listed) and its `unused` targets: why it
    /// cannot come up, if that is clear now.
    pub(crate) async fn check(
        &mut self,
        cloud: &dyn Cloud,
        group: Option<&GroupInfo>,
        unused: &[Unused],
    ) -> Option<String> {
        if let Some(why) = self.not_in_use(unused) {
            return Some(why);
        }
        let (Some(name), Some(g)) = (&self.group, group) else {
            return None;
        };
        let live = g
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.is_terminating())
            .count();
        let grew = self.last_live.is_none_or(|l| live > l);
        self.last_live = Some(live);
        // Launches that stall are read about at once when none came up at all, else at most
        // once a minute.
        let recently = self
            .last_read
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        if live >= g.desired as usize || grew || (live > 0 && recently) {
            return None;
        }
        self.last_read = Some(Instant::now());
        match cloud.scaling_activities(name, self.since).await {
            Ok(activities) => match launches(name, &activities) {
                Launches::Failing(why) => Some(why),
                Launches::Fine { newest_launch } => {
                    if let Some(t) = newest_launch {
                        self.since = self.since.max(t);
                    }
                    None
                }
            },
            Err(e) => {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(
                        group = %name, error = %e,
                        "cannot read the group's scaling activities; failed launches are noticed \
                         only at the health deadline"
                    );
                }
                None
            }
        }
    }

    fn not_in_use(&mut self, unused: &[Unused]) -> Option<String> {
        let now = Instant::now();
        self.unused_since.retain(|u, _| unused.contains(u));
        for u in unused {
            self.unused_since.entry(u.clone()).or_insert(now);
        }
        // A target group with a target unused for long enough, and how many are unused now.
        let mut per_tg: BTreeMap<&str, (bool, usize)> = BTreeMap::new();
        for (u, since) in &self.unused_since {
            let e = per_tg
                .entry(target_group_name(&u.target_group_arn))
                .or_default();
            e.0 |= now.duration_since(*since) >= NOT_IN_USE_PATIENCE;
            e.1 += 1;
        }
        let (tg, (_, n)) = per_tg.into_iter().find(|(_, (stuck, _))| *stuck)?;
        Some(format!(
            "new instances of {} are never health checked: target group {tg} reports {n} of \
             them unused (Target.NotInUse). No listener forwards to {tg}, or their \
             Availability Zone is not enabled on its load balancer: add a listener that \
             forwards to the target group (or enable the zone on the load balancer)",
            self.name
        ))
    }
}

/// One watch per wait, in order.
pub(crate) fn watches(cloud: &dyn Cloud, waits: &[HealthWait]) -> Vec<Watch> {
    waits
        .iter()
        .map(|w| Watch::new(cloud, &w.group_name, !w.fleet))
        .collect()
}

/// Looks at every wait's generation (`groups` and `health` as the poll read them); the waits
/// that cannot succeed, with why.
pub(crate) async fn check_waits(
    cloud: &dyn Cloud,
    watches: &mut [Watch],
    waits: &[HealthWait],
    groups: &[GroupInfo],
    health: &HashMap<String, Vec<TargetHealth>>,
) -> Option<Vec<(HealthWait, String)>> {
    let mut failures = Vec::new();
    for (w, watch) in waits.iter().zip(watches.iter_mut()) {
        let group = groups.iter().find(|g| g.name == w.group_name);
        let unused = unused_targets(
            &w.target_group_arns,
            |arn| health.get(arn).map(Vec::as_slice),
            group,
        );
        if let Some(why) = watch.check(cloud, group, &unused).await {
            failures.push((w.clone(), why));
        }
    }
    (!failures.is_empty()).then_some(failures)
}

/// A failed attempt to grow a generation.
#[derive(Debug)]
pub(crate) enum LaunchError {
    Cloud(CloudError),
    /// RunInstances refused to launch (instance mode): why.
    Failed(String),
}

/// Sorts an error of growing a generation: RunInstances refusing the launch (no capacity, a
/// quota, a missing image, not allowed) is the generation failing; a transient error
/// (throttling, a 5xx, an unreachable endpoint) is an error of the call.
pub(crate) fn launch_error(e: CloudError) -> LaunchError {
    let refused = e.operation() == "EC2.RunInstances" && !e.is_transient();
    if !refused {
        return LaunchError::Cloud(e);
    }
    let why = e.to_string();
    let hint = hint(&why);
    LaunchError::Failed(format!("new instances cannot launch: {why}{hint}"))
}

/// Launches a first instance-mode generation; a launch EC2 refuses is handled like new
/// instances that do not become healthy (removed, or kept with `on_failure = "pause"`).
pub(crate) async fn launch_first(
    fleet: &Fleet<'_>,
    gen: &Generation,
    desired: u32,
    g: &ServerGroup,
    w: &HealthWait,
) -> Result<(), ApplyError> {
    match fleet.set_capacity(gen, 0, desired, desired).await {
        Ok(()) => Ok(()),
        Err(e) => match launch_error(e) {
            LaunchError::Cloud(e) => Err(e.into()),
            LaunchError::Failed(why) => Err(fail_new_generation(fleet, g, w, why).await),
        },
    }
}

/// A first generation that did not become healthy: remove it (rollback) or leave it (pause).
pub(super) async fn fail_new_generation(
    fleet: &Fleet<'_>,
    g: &ServerGroup,
    w: &HealthWait,
    message: String,
) -> ApplyError {
    if !w.is_new {
        return ApplyError::Paused {
            address: g.address.clone(),
            message,
        };
    }
    match g.rollout.on_failure {
        OnFailure::Pause => ApplyError::Paused {
            address: g.address.clone(),
            message,
        },
        OnFailure::Rollback => {
            tracing::warn!(address = %g.address, group = %w.group_name, "removing the unhealthy new generation");
            match fleet.delete(&w.group_name).await {
                Ok(()) => ApplyError::RolledBack {
                    address: g.address.clone(),
                    message,
                },
                Err(e) => ApplyError::Paused {
                    address: g.address.clone(),
                    message: format!("{message}; removing it failed too: {e}"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::states::{InstanceHealth, Lifecycle};

    const T0: u64 = 1_767_225_600;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + s)
    }

    /// A launch activity at second `s`: `ok`, `run` (in progress), or a failure reason.
    fn launch(s: u64, outcome: &str) -> ScalingActivity {
        let (status, message) = match outcome {
            "ok" => ("Successful", None),
            "run" => ("PreInService", None),
            "cancelled" => ("Cancelled", Some("Launch cancelled".to_string())),
            why => (
                "Failed",
                Some(format!("{why}. Launching EC2 instance failed.")),
            ),
        };
        ScalingActivity {
            id: format!("a-{s}"),
            group: "g".into(),
            description: if status == "Failed" {
                "Launching a new EC2 instance.  Status Reason: …".into()
            } else {
                format!("Launching a new EC2 instance: i-{s}")
            },
            cause: String::new(),
            status: status.into(),
            status_message: message,
            start_time: Some(at(s)),
            end_time: None,
        }
    }

    fn terminate(s: u64) -> ScalingActivity {
        ScalingActivity {
            description: format!("Terminating EC2 instance: i-{s}"),
            status: "Failed".into(),
            ..launch(s, "ok")
        }
    }

    const CAPACITY: &str = "We currently do not have sufficient t3.micro capacity in the \
                            Availability Zone you requested (us-east-1b)";
    const NO_IMAGE: &str = "The image id '[ami-0123]' does not exist";
    const VCPU: &str = "You have requested more vCPU capacity than your current vCPU limit of 32 \
                        allows for the instance bucket that the specified instance type belongs to";

    /// (activities, stops?, text the message holds)
    #[test]
    fn launch_failures_stop_only_on_evidence() {
        let cases: Vec<(Vec<ScalingActivity>, bool, &str)> = vec![
            (vec![], false, ""),
            (vec![launch(1, "ok"), launch(2, "run")], false, ""),
            // A capacity failure Auto Scaling got past: launched elsewhere right after.
            (
                vec![launch(1, CAPACITY), launch(1, "ok"), launch(2, "ok")],
                false,
                "",
            ),
            // Two in a row may still be a brief shortage.
            (vec![launch(1, CAPACITY), launch(11, CAPACITY)], false, ""),
            // Three in a row with nothing launched in between is not.
            (
                vec![
                    launch(1, CAPACITY),
                    launch(11, CAPACITY),
                    launch(21, CAPACITY),
                ],
                true,
                "3 launches into g failed since 2026-01-01T00:00:01Z and none succeeded",
            ),
            // Failures before a launch that worked do not count.
            (
                vec![
                    launch(1, CAPACITY),
                    launch(11, CAPACITY),
                    launch(15, "run"),
                    launch(21, CAPACITY),
                ],
                false,
                "",
            ),
            // Cancelled launches count like failed ones.
            (
                vec![
                    launch(1, "cancelled"),
                    launch(2, CAPACITY),
                    launch(3, "cancelled"),
                ],
                true,
                "3 launches",
            ),
            // A reason a retry does not cure stops at once.
            (vec![launch(1, "ok"), launch(5, NO_IMAGE)], true, "ami-0123"),
            (vec![launch(5, VCPU)], true, "Service Quotas"),
            // Only launches count.
            (vec![terminate(1), terminate(2), terminate(3)], false, ""),
        ];
        for (activities, stops, text) in cases {
            // Order does not matter: sorted by start time.
            let mut newest_first = activities.clone();
            newest_first.reverse();
            for list in [&activities, &newest_first] {
                match launches("g", list) {
                    Launches::Failing(why) => {
                        assert!(stops, "stopped on {activities:#?}: {why}");
                        assert!(why.contains(text), "{why}");
                        assert!(why.starts_with("new instances cannot launch"), "{why}");
                    }
                    Launches::Fine { .. } => assert!(!stops, "did not stop: {activities:#?}"),
                }
            }
        }
    }

    #[test]
    fn the_newest_launch_that_did_not_fail_moves_the_window() {
        let list = [launch(1, "ok"), launch(7, "run"), launch(9, CAPACITY)];
        assert_eq!(
            launches("g", &list),
            Launches::Fine {
                newest_launch: Some(at(7))
            }
        );
        assert_eq!(
            launches("g", &[launch(9, CAPACITY)]),
            Launches::Fine {
                newest_launch: None
            }
        );
    }

    fn health(id: &str, state: TargetState, reason: Option<&str>) -> TargetHealth {
        TargetHealth {
            id: id.into(),
            port: Some(80),
            state,
            reason: reason.map(String::from),
        }
    }

    fn group(ids: &[&str]) -> GroupInfo {
        GroupInfo {
            name: "s-web-v002".into(),
            min: 0,
            max: 4,
            desired: ids.len() as u32,
            tags: Default::default(),
            launch_template_id: None,
            launch_template_version: None,
            target_group_arns: Vec::new(),
            subnet_ids: Vec::new(),
            instances: ids
                .iter()
                .map(|id| crate::cloud::GroupInstance {
                    id: id.to_string(),
                    lifecycle_state: Lifecycle::InService,
                    health_status: InstanceHealth::Healthy,
                    availability_zone: None,
                    launch_template_version: None,
                })
                .collect(),
            suspended_processes: Vec::new(),
            status: None,
            settings: None,
        }
    }

    #[test]
    fn only_members_not_in_use_count() {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/s-web/0abc".to_string();
        let targets = vec![
            health("i-new", TargetState::Unused, Some("Target.NotInUse")),
            health("i-old", TargetState::Unused, Some("Target.NotInUse")),
            health("i-gone", TargetState::Unused, Some("Target.NotRegistered")),
            health("i-fine", TargetState::Healthy, None),
        ];
        let g = group(&["i-new", "i-gone", "i-fine"]);
        let unused = unused_targets(
            std::slice::from_ref(&arn),
            |a| (a == arn).then_some(targets.as_slice()),
            Some(&g),
        );
        assert_eq!(
            unused,
            vec![Unused {
                target_group_arn: arn.clone(),
                instance_id: "i-new".into()
            }]
        );
        assert_eq!(target_group_name(&arn), "s-web");
    }

    #[tokio::test(start_paused = true)]
    async fn targets_not_in_use_stop_after_a_while() {
        let cloud = crate::cloud::sim::SimCloud::new(
            crate::cloud::sim::SimConfig::default(),
            crate::cloud::stats::Stats::new(),
        );
        let mut watch = Watch::new(&cloud, "s-web-v002", false);
        let unused = vec![Unused {
            target_group_arn: "arn:x:targetgroup/s-web/1".into(),
            instance_id: "i-1".into(),
        }];
        assert_eq!(watch.check(&cloud, None, &unused).await, None);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(watch.check(&cloud, None, &unused).await, None);
        // Seen in use once: the clock starts again.
        assert_eq!(watch.check(&cloud, None, &[]).await, None);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(watch.check(&cloud, None, &unused).await, None);
        tokio::time::sleep(Duration::from_secs(31)).await;
        let why = watch.check(&cloud, None, &unused).await.unwrap();
        assert!(
            why.contains("target group s-web reports 1 of them unused (Target.NotInUse)"),
            "{why}"
        );
    }
}
