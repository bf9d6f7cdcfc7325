//! What a rollout undoes on every way out, whichever way it leaves: success, failure,
//! rollback, pause, Ctrl-C, an error in the middle of suspending.
//!
//! [`scoped`] is the one owner. It runs the rollout's body, then always:
//!
//! - resumes the Auto Scaling processes reroll suspended on the two generations, and only
//!   those: the ones listed in each group's `reroll:suspended` tag, read afresh from the
//!   account (a user's own suspensions are never listed there), and clears the tag;
//! - terminates the group's instances that a rollout took out of a generation (tagged
//!   `reroll:released` just before it detached them) but did not get to terminate.
//!
//! Transient errors are retried. A cleanup that still fails is reported in the returned error
//! next to the rollout's own outcome, never instead of it. A group that was deleted, or is no
//! longer tagged with the stack, is left alone. After a second Ctrl-C (the process leaves at
//! once) or a crash, the next rollout of the group cleans up the same way, from the tags.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use super::error::ApplyError;
use super::fleet::Fleet;
use super::retry::Retry;
use super::types::ApplyOptions;
use crate::cloud::{tag, CloudError, CloudResult, GroupInfo, Tags};

/// How long cleanup keeps retrying transient errors.
const PATIENCE: Duration = Duration::from_secs(300);

/// Runs `body`, then restores what it suspended on `groups` and terminates what it released,
/// whatever the body's outcome.
pub(super) async fn scoped<T>(
    fleet: &Fleet<'_>,
    address: &str,
    groups: &[&str],
    opts: &ApplyOptions,
    body: impl Future<Output = Result<T, ApplyError>>,
) -> Result<T, ApplyError> {
    let outcome = body.await;
    let mut retry = Retry::new(address, opts, PATIENCE);
    let restored = retry.persist(async || restore(fleet, groups).await).await;
    let swept = retry
        .persist(async || terminate_released(fleet).await)
        .await;
    let problem = match (restored, swept) {
        (Ok(()), Ok(())) => return outcome,
        (Err(e), _) => format!(
            "resuming the Auto Scaling processes reroll suspended on {} failed: {e}. Resume the \
             ones listed in their {} tag (aws autoscaling resume-processes), or run apply \
             again",
            groups.join(" and "),
            tag::SUSPENDED
        ),
        (Ok(()), Err(e)) => format!(
            "terminating instances taken out of a generation failed: {e}. They carry the {} \
             tag; run apply again, or terminate them",
            tag::RELEASED
        ),
    };
    tracing::error!(%address, "{problem}");
    Err(ApplyError::Cleanup {
        address: address.to_string(),
        outcome: outcome.err().map(Box::new),
        message: problem,
    })
}

/// Suspends the processes not already suspended, and records which ones we did (first, so
/// that a failure in between still leaves a record to restore from).
pub(super) async fn suspend(
    fleet: &Fleet<'_>,
    group: &GroupInfo,
    processes: &[&str],
) -> CloudResult<()> {
    if fleet.instances_mode() {
        return Ok(());
    }
    let mut ours = suspended_by_us(group);
    let todo: Vec<String> = processes
        .iter()
        .filter(|p| !group.suspended_processes.iter().any(|s| s == *p))
        .map(|p| p.to_string())
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    ours.extend(todo.iter().cloned());
    let mut t = Tags::new();
    t.insert(tag::SUSPENDED.into(), ours.join(","));
    fleet.cloud.set_group_tags(&group.name, &t).await?;
    fleet.cloud.suspend_processes(&group.name, &todo).await
}

/// The processes reroll suspended on a group, from its tag.
fn suspended_by_us(group: &GroupInfo) -> Vec<String> {
    let mut out: Vec<String> = group
        .tags
        .get(tag::SUSPENDED)
        .map(|s| {
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// Resumes what reroll suspended on the named groups and clears the record. Groups that are
/// gone, being deleted or no longer the stack's are skipped.
async fn restore(fleet: &Fleet<'_>, names: &[&str]) -> CloudResult<()> {
    if fleet.instances_mode() {
        return Ok(());
    }
    let cloud = fleet.cloud;
    let groups = cloud.list_groups(fleet.stack).await?;
    for g in groups
        .iter()
        .filter(|g| names.contains(&g.name.as_str()) && g.status.is_none())
    {
        let ours = suspended_by_us(g);
        if ours.is_empty() {
            continue;
        }
        tracing::info!(group = %g.name, processes = %ours.join(","), "resuming scaling processes");
        let mut t = Tags::new();
        t.insert(tag::SUSPENDED.into(), String::new());
        let r = async {
            cloud.resume_processes(&g.name, &ours).await?;
            cloud.set_group_tags(&g.name, &t).await
        }
        .await;
        match r {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    Ok(())
}

/// Terminates the stack's running instances that reroll released from a generation and that
/// no group holds any more.
async fn terminate_released(fleet: &Fleet<'_>) -> CloudResult<()> {
    if fleet.instances_mode() {
        return Ok(());
    }
    let cloud = fleet.cloud;
    let instances = cloud
        .list_instances_tagged(fleet.stack, tag::RELEASED)
        .await?;
    let released: Vec<String> = instances
        .iter()
        .filter(|i| i.tags.contains_key(tag::RELEASED))
        .filter(|i| i.state.is_live())
        .map(|i| i.id.clone())
        .collect();
    if released.is_empty() {
        return Ok(());
    }
    let held: HashSet<String> = cloud
        .list_groups(fleet.stack)
        .await?
        .into_iter()
        .flat_map(|g| g.instances.into_iter().map(|i| i.id))
        .collect();
    let orphans: Vec<String> = released
        .into_iter()
        .filter(|id| !held.contains(id))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        count = orphans.len(),
        "terminating instances detached earlier and left running"
    );
    match cloud.terminate_instances(&orphans).await {
        Err(CloudError::NotFound { .. }) => Ok(()),
        other => other,
    }
}
