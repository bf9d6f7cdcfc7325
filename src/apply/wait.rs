//! Waiting on conditions, with an explicit timeout at every call site. Polling is per stack
//! (one group listing and one health call per target group), never per instance. A poll that
//! fails with a transient error is tried again after the [`Retry`]'s backoff; only the wait's
//! timeout, the retry's patience or an error that is not transient end a wait.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::activities;
use super::retry::Retry;
use super::types::{HealthWait, WaitOutcome};
use crate::cloud::states::{Lifecycle, TargetState};
use crate::cloud::{Cloud, CloudResult, GroupInfo, GroupInstance, TargetHealth};

/// How far one wait has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Progress {
    in_service: u32,
    /// Healthy in every target group.
    healthy: u32,
    detail: String,
}

/// Waits until each generation has `desired` instances InService and healthy in all of its
/// target groups, or until `timeout`.
pub async fn wait_healthy(
    cloud: &dyn Cloud,
    stack: &str,
    waits: &[HealthWait],
    timeout: Duration,
    poll: Duration,
    retry: &mut Retry,
) -> CloudResult<WaitOutcome> {
    let deadline = Instant::now() + timeout;
    let mut last: BTreeMap<String, Progress> = BTreeMap::new();
    let fleets = waits.iter().any(|w| w.fleet);
    let arns: BTreeSet<&String> = waits.iter().flat_map(|w| &w.target_group_arns).collect();
    let mut watches = activities::watches(cloud, waits);
    loop {
        let read = async {
            let groups = crate::observe::generations(cloud, stack, fleets).await?;
            let mut health = BTreeMap::new();
            for arn in &arns {
                health.insert((*arn).clone(), cloud.target_health(arn).await?);
            }
            Ok::<_, crate::cloud::CloudError>((groups, health))
        };
        let (groups, health) = match read.await {
            Ok(r) => r,
            Err(e) => {
                retry.pause(e).await?;
                continue;
            }
        };
        retry.succeeded();
        // Indexed once per poll, so a poll stays linear in the number of instances.
        let index: BTreeMap<&String, BTreeMap<&str, &TargetHealth>> = health
            .iter()
            .map(|(arn, targets)| (arn, targets.iter().map(|t| (t.id.as_str(), t)).collect()))
            .collect();
        let mut done = true;
        for w in waits {
            let p = progress_of(w, groups.iter().find(|g| g.name == w.group_name), &index);
            if p.healthy < w.desired {
                done = false;
            }
            if last.get(&w.group_name) != Some(&p) {
                tracing::info!(
                    address = %w.address, group = %w.group_name,
                    in_service = p.in_service, healthy = p.healthy, desired = w.desired,
                    "waiting for healthy instances"
                );
            }
            last.insert(w.group_name.clone(), p);
        }
        if done {
            return Ok(WaitOutcome::default());
        }
        let stuck = activities::check_waits(cloud, &mut watches, waits, &groups, &health);
        if let Some(failures) = stuck.await {
            return Ok(WaitOutcome { failures });
        }
        if Instant::now() + poll > deadline {
            let failures = timed_out(waits, &last, timeout);
            return Ok(WaitOutcome { failures });
        }
        tokio::time::sleep(poll).await;
    }
}

/// How far one wait has come, from its group (if listed) and the target health index.
fn progress_of(
    w: &HealthWait,
    group: Option<&GroupInfo>,
    index: &BTreeMap<&String, BTreeMap<&str, &TargetHealth>>,
) -> Progress {
    match group {
        None => Progress {
            detail: "the Auto Scaling group is gone".into(),
            ..Default::default()
        },
        Some(g) => {
            let in_service: Vec<&GroupInstance> =
                g.instances.iter().filter(|i| i.in_service()).collect();
            let targets = |id: &str| {
                w.target_group_arns
                    .iter()
                    .map(|arn| index.get(arn).and_then(|tg| tg.get(id)).copied())
                    .collect::<Vec<Option<&TargetHealth>>>()
            };
            let mut unhealthy = Vec::new();
            let mut healthy: u32 = 0;
            for i in &in_service {
                let targets = targets(&i.id);
                if i.serving(targets.iter().map(|t| t.map(|t| &t.state))) {
                    healthy += 1;
                    continue;
                }
                let first = targets
                    .iter()
                    .find(|t| t.is_none_or(|t| t.state != TargetState::Healthy));
                unhealthy.push(match first {
                    Some(Some(t)) => format!(
                        "{} is {}{}",
                        i.id,
                        t.state,
                        t.reason
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ),
                    _ => format!("{} is not registered", i.id),
                });
            }
            let pending: Vec<String> = g
                .instances
                .iter()
                .filter(|i| i.lifecycle_state != Lifecycle::InService)
                .map(|i| format!("{} is {}", i.id, i.lifecycle_state))
                .collect();
            let mut detail: Vec<String> = pending.into_iter().chain(unhealthy).collect();
            detail.truncate(5);
            Progress {
                in_service: in_service.len() as u32,
                healthy,
                detail: detail.join(", "),
            }
        }
    }
}

/// The waits short of healthy at their deadline, with what was seen last.
fn timed_out(
    waits: &[HealthWait],
    last: &BTreeMap<String, Progress>,
    timeout: Duration,
) -> Vec<(HealthWait, String)> {
    waits
        .iter()
        .filter_map(|w| {
            let p = last.get(&w.group_name)?;
            (p.healthy < w.desired).then(|| {
                let detail = if p.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.detail)
                };
                (
                    w.clone(),
                    format!(
                        "{} of {} instances healthy after {}{detail}",
                        p.healthy,
                        w.desired,
                        humantime::format_duration(timeout)
                    ),
                )
            })
        })
        .collect()
}

/// Waits until none of `ids` is still draining in the target groups, at most `limit`.
pub async fn drained(
    cloud: &dyn Cloud,
    target_group_arns: &[String],
    ids: &[String],
    limit: Duration,
    poll: Duration,
    retry: &mut Retry,
) -> CloudResult<()> {
    let deadline = Instant::now() + limit;
    let ids: BTreeSet<&String> = ids.iter().collect();
    loop {
        let count = async {
            let mut draining = 0;
            for arn in target_group_arns {
                draining += cloud
                    .target_health(arn)
                    .await?
                    .iter()
                    .filter(|t| ids.contains(&t.id) && t.state.is_draining())
                    .count();
            }
            CloudResult::Ok(draining)
        };
        match count.await {
            Ok(0) => return Ok(()),
            Ok(_) => retry.succeeded(),
            Err(e) => {
                retry.pause(e).await?;
                continue;
            }
        }
        if Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(poll).await;
    }
}

/// Waits until the named Auto Scaling groups no longer exist.
pub async fn wait_groups_gone(
    cloud: &dyn Cloud,
    stack: &str,
    names: &[String],
    timeout: Duration,
    poll: Duration,
    retry: &mut Retry,
) -> CloudResult<()> {
    if names.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    loop {
        let groups = match cloud.list_groups(stack).await {
            Ok(g) => g,
            Err(e) => {
                retry.pause(e).await?;
                continue;
            }
        };
        retry.succeeded();
        let left: Vec<&str> = groups
            .iter()
            .filter(|g| names.contains(&g.name))
            .map(|g| g.name.as_str())
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            tracing::warn!(groups = ?left, "groups still being deleted; continuing");
            return Ok(());
        }
        tracing::info!(groups = ?left, "waiting for Auto Scaling groups to be deleted");
        tokio::time::sleep(poll).await;
    }
}
