//! A listener never points at a target group with nothing healthy in it.
//!
//! When a listener change would send traffic to a target group that serves nothing yet (created
//! by this apply, or empty), the listener first keeps forwarding where it did and adds the new
//! target group at weight 0 (AWS health-checks only target groups a listener forwards to). The
//! change itself waits here until the server groups behind the new target group are attached
//! and healthy in it; only then is the listener switched, and only then are target groups the
//! stack no longer names detached from the groups.

use std::sync::Mutex;

use crate::cloud::states::TargetState;
use crate::cloud::{Cloud, Forward, ListenerSpec};
use crate::observe::Observed;

use super::error::ApplyError;

/// At most this many target groups in one weighted forward action (ELBv2).
const FORWARD_TARGET_GROUPS_MAX: usize = 5;

/// A listener change held back until its new target groups serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingListener {
    /// `load_balancer.public:80`, for messages.
    pub what: String,
    pub arn: String,
    /// What the listener forwarded to before this apply.
    pub have: ListenerSpec,
    /// What the stack asks the listener to forward to.
    pub want: ListenerSpec,
    /// Target groups that must have healthy targets first.
    pub waits_for: Vec<String>,
}

/// The listener changes held back in one apply, and the target groups to detach from a group
/// once no held-back listener forwards to them any more.
#[derive(Debug, Default)]
pub struct Deferred {
    listeners: Mutex<Vec<PendingListener>>,
    detaches: Mutex<Vec<(String, Vec<String>)>>,
}

impl Deferred {
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<PendingListener>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn later(&self) -> std::sync::MutexGuard<'_, Vec<(String, Vec<String>)>> {
        self.detaches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Detaches `arns` from Auto Scaling group `group` now, except those a held-back listener
    /// still forwards to: they are detached once it has been switched.
    pub async fn detach(
        &self,
        cloud: &dyn Cloud,
        group: &str,
        arns: &[String],
    ) -> Result<(), ApplyError> {
        let in_use: Vec<String> = self
            .pending()
            .iter()
            .flat_map(|p| p.have.forward.iter().map(|f| f.target_group_arn.clone()))
            .collect();
        let (later, now): (Vec<String>, Vec<String>) =
            arns.iter().cloned().partition(|a| in_use.contains(a));
        if !now.is_empty() {
            tracing::info!(group, count = now.len(), "detaching target groups");
            cloud.detach_target_groups(group, &now).await?;
        }
        if !later.is_empty() {
            self.later().push((group.to_string(), later));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.pending().is_empty()
    }

    /// Target groups some held-back listener change waits for.
    pub fn awaited(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .pending()
            .iter()
            .flat_map(|p| p.waits_for.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Switches every held-back listener whose new target groups all have healthy targets now.
    /// Returns those still waiting.
    pub async fn switch_ready(
        &self,
        cloud: &dyn Cloud,
    ) -> Result<Vec<PendingListener>, ApplyError> {
        let todo: Vec<PendingListener> = self.pending().clone();
        let mut waiting = Vec::new();
        for p in todo {
            let mut ready = true;
            for arn in &p.waits_for {
                let health = cloud.target_health(arn).await?;
                if !health.iter().any(|t| t.state == TargetState::Healthy) {
                    ready = false;
                }
            }
            if !ready {
                waiting.push(p);
                continue;
            }
            tracing::info!(listener = %p.what, "the new target groups serve: switching the listener");
            cloud.modify_listener(&p.arn, &p.want).await?;
            self.pending().retain(|x| x.arn != p.arn);
        }
        Ok(waiting)
    }

    /// At the end of the server groups: every held-back change must have been made; then the
    /// detaches that waited for them.
    pub async fn finish(&self, cloud: &dyn Cloud) -> Result<(), ApplyError> {
        let waiting = self.switch_ready(cloud).await?;
        if waiting.is_empty() {
            let later: Vec<(String, Vec<String>)> = std::mem::take(&mut *self.later());
            for (group, arns) in later {
                tracing::info!(group = %group, count = arns.len(), "detaching target groups");
                cloud.detach_target_groups(&group, &arns).await?;
            }
            return Ok(());
        }
        let what: Vec<String> = waiting
            .iter()
            .map(|p| format!("{} (waiting for {})", p.what, p.waits_for.join(", ")))
            .collect();
        Err(ApplyError::Unsupported(format!(
            "not switched, because no healthy target serves behind the new target group yet: \
             {}. The listener still forwards where it did (the new target group joined it at \
             weight 0). Attach a server group to the target group (its `target_groups`) and \
             apply again",
            what.join("; ")
        )))
    }

    fn hold(&self, p: PendingListener) {
        self.pending().push(p);
    }
}

/// Whether traffic sent to `arn` would reach a healthy target: as observed, or read now when
/// the observation left target health out (a plan's).
async fn serves(cloud: &dyn Cloud, observed: &Observed, arn: &str) -> Result<bool, ApplyError> {
    let healthy =
        |h: &[crate::cloud::TargetHealth]| h.iter().any(|t| t.state == TargetState::Healthy);
    let ours = observed.target_groups.values().any(|t| t.info.arn == arn)
        || observed.copies.iter().any(|c| c.info.arn == arn);
    if !ours {
        return Ok(false);
    }
    if observed.health_unread {
        return match cloud.target_health(arn).await {
            Ok(h) => Ok(healthy(&h)),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
    Ok(observed
        .target_groups
        .values()
        .find(|t| t.info.arn == arn)
        .map(|t| healthy(&t.health))
        .or_else(|| {
            observed
                .copies
                .iter()
                .find(|c| c.info.arn == arn)
                .map(|c| healthy(&c.health))
        })
        .unwrap_or(false))
}

/// Updates a listener to `want`, unless that would send traffic to target groups that serve
/// nothing while it serves now: then the new ones join at weight 0, and the change is held in
/// `deferred` until they serve.
pub async fn update_listener(
    cloud: &dyn Cloud,
    observed: &Observed,
    deferred: &Deferred,
    what: String,
    arn: &str,
    have: &ListenerSpec,
    want: &ListenerSpec,
) -> Result<(), ApplyError> {
    let current = observed.canonical_listener(have);
    let mut unserved = Vec::new();
    for a in want.forward.iter().map(|f| &f.target_group_arn) {
        if !current.forward.iter().any(|f| &f.target_group_arn == a)
            && !serves(cloud, observed, a).await?
        {
            unserved.push(a.clone());
        }
    }
    let mut serving_now = false;
    for f in &have.forward {
        if (f.weight > 0 || have.forward.len() == 1)
            && serves(cloud, observed, &f.target_group_arn).await?
        {
            serving_now = true;
            break;
        }
    }
    if unserved.is_empty() || !serving_now {
        tracing::info!(listener = %what, "updating listener");
        cloud.modify_listener(arn, want).await?;
        return Ok(());
    }
    let mut interim = have.clone();
    if interim.forward.len() == 1 {
        // A lone target group's weight is not read; make it explicit before adding others.
        interim.forward[0].weight = interim.forward[0].weight.max(1);
    }
    interim.forward.extend(unserved.iter().map(|a| Forward {
        target_group_arn: a.clone(),
        weight: 0,
    }));
    if interim.forward.len() > FORWARD_TARGET_GROUPS_MAX {
        return Err(ApplyError::Unsupported(format!(
            "{what}: switching it to target groups that serve nothing yet would need them to \
             join the listener at weight 0 first, which makes {} target groups in one forward \
             action (AWS allows {FORWARD_TARGET_GROUPS_MAX}). Move fewer target groups at once",
            interim.forward.len()
        )));
    }
    tracing::info!(
        listener = %what, new = unserved.len(),
        "the listener's new target groups serve nothing yet: they join it at weight 0 until their targets are healthy"
    );
    cloud.modify_listener(arn, &interim).await?;
    deferred.hold(PendingListener {
        what,
        arn: arn.to_string(),
        have: have.clone(),
        want: want.clone(),
        waits_for: unserved,
    });
    Ok(())
}
