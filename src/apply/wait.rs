//! Waiting on conditions, with an explicit timeout at every call site. Polling is per stack
//! (one group listing and one health call per target group), never per instance; waiting for
//! healthy instances looks through the apply's shared observer, when a look can find a change. A poll that
//! fails with a transient error is tried again after the [`Retry`]'s backoff; only the wait's
//! timeout, the retry's patience or an error that is not transient end a wait.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::activities;
use super::cadence::{Cadence, Checks, MAX_WAIT};
use super::context::checks;
use super::observer::Observer;
use super::retry::Retry;
use super::types::{HealthWait, WaitOutcome};
use crate::cloud::states::{Lifecycle, TargetState};
use crate::cloud::{Cloud, CloudResult, GroupInfo, GroupInstance, TargetHealth};
use crate::stack::Stack;

/// How far one wait has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Progress {
    in_service: u32,
    /// Healthy in every target group.
    healthy: u32,
    detail: String,
}

/// Waits, with a fresh look at the stack, for the one generation of `wait` to be healthy at
/// its size within the group's health timeout; returns why not, when it was not.
pub(crate) async fn one_healthy(
    cloud: &dyn Cloud,
    stack: &Stack,
    wait: HealthWait,
    timeout: Duration,
    poll: Duration,
    retry: &mut Retry,
) -> CloudResult<Option<String>> {
    let observer = Observer::new(cloud, &stack.name);
    let outcome = wait_healthy(&observer, stack, &[wait], timeout, poll, retry).await?;
    Ok(outcome.failures.into_iter().next().map(|(_, why)| why))
}

/// Waits until each generation has `desired` instances InService and healthy in all of its
/// target groups, or until `timeout`. Looks go through `observer`, shared with whatever else
/// looks at the stack, and come when the [`Cadence`] of one of the waits says a look can find
/// something new: not on a fixed beat.
pub async fn wait_healthy(
    observer: &Observer<'_>,
    stack: &Stack,
    waits: &[HealthWait],
    timeout: Duration,
    poll: Duration,
    retry: &mut Retry,
) -> CloudResult<WaitOutcome> {
    let cloud = observer.cloud();
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last: BTreeMap<String, Progress> = BTreeMap::new();
    let fleets = waits.iter().any(|w| w.fleet);
    let names: Vec<String> = waits.iter().map(|w| w.group_name.clone()).collect();
    let arns: Vec<String> = waits
        .iter()
        .flat_map(|w| w.target_group_arns.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let reg = observer.register(&names, &arns, fleets);
    let mut cadences: Vec<Cadence> = waits
        .iter()
        .map(|w| {
            let checks = stack
                .server_groups
                .iter()
                .find(|g| g.address == w.address)
                .map_or(Checks::default(), |g| checks(stack, g));
            let mut c = Cadence::new(poll, MAX_WAIT.max(poll), checks);
            c.asked(started, w.desired);
            c
        })
        .collect();
    let mut watches = activities::watches(cloud, waits);
    let mut since = started;
    let mut shared = None;
    loop {
        let snapshot = match shared.take() {
            Some(s) => s,
            None => match observer.look(&reg, since).await {
                Ok(s) => s,
                Err(e) => {
                    retry.pause(e).await?;
                    since = Instant::now();
                    continue;
                }
            },
        };
        retry.succeeded();
        let now = Instant::now();
        let health = &snapshot.health;
        // Indexed once per look, so a look stays linear in the number of instances.
        let index: BTreeMap<&String, BTreeMap<&str, &TargetHealth>> = health
            .iter()
            .map(|(arn, targets)| (arn, targets.iter().map(|t| (t.id.as_str(), t)).collect()))
            .collect();
        let mut done = true;
        let mut gone = Vec::new();
        for (w, cadence) in waits.iter().zip(cadences.iter_mut()) {
            if let Some(arn) = w
                .target_group_arns
                .iter()
                .find(|a| snapshot.missing.contains(*a))
            {
                gone.push((
                    w.clone(),
                    format!("its target group {arn} no longer exists"),
                ));
                continue;
            }
            let group = snapshot.groups.iter().find(|g| g.name == w.group_name);
            let p = progress_of(w, group, &index);
            if let Some(g) = group {
                cadence.saw(now, instances_seen(w, g, &index), w.desired, []);
            }
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
        if !gone.is_empty() {
            return Ok(WaitOutcome { failures: gone });
        }
        if done {
            return Ok(WaitOutcome::default());
        }
        let stuck = activities::check_waits(cloud, &mut watches, waits, &snapshot.groups, health);
        if let Some(failures) = stuck.await {
            return Ok(WaitOutcome { failures });
        }
        if now >= deadline {
            let failures = timed_out(waits, &last, timeout);
            return Ok(WaitOutcome { failures });
        }
        let due = cadences
            .iter()
            .map(|c| c.due(now, Some(deadline)))
            .min()
            .unwrap_or(now + poll);
        tracing::debug!(groups = ?names, wait = ?due.duration_since(now), "next look");
        // In the last quarter of the wait, a look another rollout takes is as good as one's own.
        let ride = due - due.duration_since(now) / 4;
        reg.ride_from(Some(ride));
        // Biased: a look published as the wait ends is taken, and runs repeat themselves.
        tokio::select! {
            biased;
            s = observer.next(&reg, ride) => shared = Some(s),
            () = tokio::time::sleep_until(due) => since = due,
        }
        reg.ride_from(None);
    }
}

/// Each instance of the generation a look listed that is not leaving it, and whether it
/// serves: what the cadence learns from.
fn instances_seen<'g>(
    w: &HealthWait,
    g: &'g GroupInfo,
    index: &BTreeMap<&String, BTreeMap<&str, &TargetHealth>>,
) -> Vec<(&'g str, bool)> {
    g.instances
        .iter()
        .filter(|i| !i.lifecycle_state.is_terminating())
        .map(|i| {
            let states = w.target_group_arns.iter().map(|arn| {
                index
                    .get(arn)
                    .and_then(|tg| tg.get(i.id.as_str()))
                    .map(|t| &t.state)
            });
            (i.id.as_str(), i.serving(states))
        })
        .collect()
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
    wait_groups(cloud, stack, names, false, timeout, poll, retry).await
}

/// Waits until the named Auto Scaling groups no longer exist, or with `emptied`, until
/// they (scaled to zero) have no instances left: each has left its target groups and passed
/// its terminating lifecycle hooks. Past `timeout` it says which are left and returns.
pub async fn wait_groups(
    cloud: &dyn Cloud,
    stack: &str,
    names: &[String],
    emptied: bool,
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
            .filter(|g| names.contains(&g.name) && !(emptied && g.instances.is_empty()))
            .map(|g| g.name.as_str())
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        let what = match emptied {
            true => "to terminate their instances",
            false => "to be deleted",
        };
        if Instant::now() > deadline {
            tracing::warn!(groups = ?left, "Auto Scaling groups still waiting {what}; continuing");
            return Ok(());
        }
        tracing::info!(groups = ?left, "waiting for Auto Scaling groups {what}");
        tokio::time::sleep(poll).await;
    }
}
