//! One look at both generations of a rollout: the groups and the target health, read at once,
//! classified for the wave decision. An instance is healthy when it is serving
//! ([`GroupInstance::serving`]): Auto Scaling has it `InService` and `Healthy` and every
//! target group it belongs to reports it `healthy`; an instance held by a launching lifecycle
//! hook (`Pending:Wait`) is neither.

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use super::pair::Pair;
use crate::apply::activities::{self, LaunchError};
use crate::apply::decide::{OldInstance, OldState, View};
use crate::apply::fleet::Fleet;
use crate::apply::gates::GateFailure;
use crate::apply::observer::Snapshot;
use crate::cloud::states::TargetState;
use crate::cloud::{tag, CloudError, GroupInfo, GroupInstance, TargetHealth};

pub(crate) enum Failure {
    Cloud(CloudError),
    /// New instances did not become healthy in time.
    Unhealthy(String),
    /// Something the rollout works on was deleted or retagged outside reroll: what.
    Changed(String),
}

impl From<CloudError> for Failure {
    fn from(e: CloudError) -> Self {
        Failure::Cloud(e)
    }
}

impl From<LaunchError> for Failure {
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::Cloud(e) => Failure::Cloud(e),
            LaunchError::Failed(m) => Failure::Unhealthy(m),
        }
    }
}

impl From<GateFailure> for Failure {
    fn from(e: GateFailure) -> Self {
        match e {
            GateFailure::Cloud(e) => Failure::Cloud(e),
            GateFailure::Failed(m) => Failure::Unhealthy(m),
            GateFailure::Changed(m) => Failure::Changed(m),
        }
    }
}

/// What one round sees.
pub(crate) struct Look {
    pub(crate) view: View,
    pub(crate) new: GroupInfo,
    /// The old generation as listed (absent: an instance-mode generation with none left).
    pub(crate) old: Option<GroupInfo>,
    /// Old instances the old group itself is taking out (scaled in, detached, or about to be:
    /// it has more than its desired capacity): in the view while they drain from a target
    /// group, never acted on.
    pub(crate) leaving: HashSet<String>,
    /// Per target group of the rollout, the targets registered that are not the new
    /// generation's and not draining: what its end checks for instances gone.
    pub(crate) others: Vec<(String, Vec<String>)>,
    pub(crate) new_unhealthy: Vec<String>,
    /// The new instances healthy now.
    pub(crate) healthy_new: Vec<String>,
    /// New targets their target group does not health check.
    pub(crate) unused: Vec<activities::Unused>,
}

/// The capacity bounds a rollout keeps: its desired size, the surge above it and the
/// unavailability below it that it allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) desired: u32,
    pub(crate) surge: u32,
    pub(crate) unavailable: u32,
}

/// One look at both generations, from a snapshot of the groups and the target health read
/// at once; a target group that no longer exists is a change to the account, not a cloud
/// error. `deregistered` are old instances this rollout deregistered moments ago: they count
/// as draining even while target health still reports them healthy.
pub(crate) async fn look(
    fleet: &Fleet<'_>,
    pair: &Pair,
    bounds: Bounds,
    stopping: bool,
    deregistered: &HashMap<String, Instant>,
    snapshot: &Snapshot,
) -> Result<Look, Failure> {
    if let Some(arn) = pair
        .target_group_arns
        .iter()
        .find(|a| snapshot.missing.contains(*a))
    {
        return Err(Failure::Changed(format!(
            "its target group {arn} no longer exists"
        )));
    }
    let (groups, health) = (&snapshot.groups, &snapshot.health);
    if let Some(new) = groups.iter().find(|g| g.name == pair.new_name) {
        let registered = |arn: &str, id: &str| {
            health.get(arn).is_some_and(|h| {
                h.iter()
                    .any(|t| t.id == id && t.state != TargetState::Unused)
            })
        };
        fleet.heal_registration(new, &registered).await?;
    }
    let gone = |name: &str, which: &str| {
        Failure::Changed(format!(
            "its {which} generation {name} is no longer in the account (deleted, or its {} tag \
             changed)",
            tag::STACK
        ))
    };
    // A group being deleted is as good as gone.
    let old = groups
        .iter()
        .find(|g| g.name == pair.old.name && g.status.is_none());
    // An instance-mode generation whose instances are all gone is not listed: that is normal.
    if old.is_none() && !fleet.instances_mode() {
        return Err(gone(&pair.old.name, "old"));
    }
    let new = groups
        .iter()
        .find(|g| g.name == pair.new_name && g.status.is_none())
        .cloned()
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(|| gone(&pair.new_name, "new"))?;
    let index = Index::new(&pair.target_group_arns, health);
    let (old_instances, leaving) = old
        .map(|o| old_view(o, &index, deregistered, !fleet.instances_mode()))
        .unwrap_or_default();
    let (healthy_new, new_unhealthy) = index.new_health(&new, &pair.target_group_arns);
    let new_healthy = healthy_new.len() as u32;
    let members: HashSet<&str> = new.instances.iter().map(|i| i.id.as_str()).collect();
    let others = pair
        .target_group_arns
        .iter()
        .map(|arn| {
            let ids = health
                .get(arn)
                .into_iter()
                .flatten()
                .filter(|t| !members.contains(t.id.as_str()) && !t.state.is_draining())
                .map(|t| t.id.clone())
                .collect();
            (arn.clone(), ids)
        })
        .collect();
    Ok(Look {
        old: old.cloned(),
        leaving,
        others,
        view: View {
            desired: bounds.desired,
            max_surge: bounds.surge,
            max_unavailable: bounds.unavailable,
            new_desired: new.desired,
            new_healthy,
            new_waiting: new.desired.saturating_sub(new.instances.len() as u32),
            old: old_instances,
            stopping,
            cap: None,
        },
        unused: activities::unused_targets(
            &pair.target_group_arns,
            |arn| health.get(arn).map(Vec::as_slice),
            Some(&new),
        ),
        new,
        new_unhealthy,
        healthy_new,
    })
}

/// The old instances as the wave decision sees them, and those the old group itself is taking
/// out. An instance on its way out by the group's hand (scaled in, by this rollout or anyone,
/// or detached) is not the rollout's to act on: it counts as draining while a target group
/// still drains it, and not at all once none does: it serves nothing, and what takes it out
/// terminates it (a terminating lifecycle hook may hold it for long first). A group above its
/// desired capacity is about to scale in the difference:
/// that many of its instances count as draining already, so that a look taken before Auto
/// Scaling starts never drains them twice.
fn old_view(
    old: &GroupInfo,
    index: &Index<'_>,
    deregistered: &HashMap<String, Instant>,
    auto_scaling: bool,
) -> (Vec<OldInstance>, HashSet<String>) {
    let mut leaving = HashSet::new();
    let mut view = Vec::new();
    for i in &old.instances {
        if i.lifecycle_state.is_leaving() {
            if index.draining(&i.id) {
                leaving.insert(i.id.clone());
                view.push(OldInstance {
                    id: i.id.clone(),
                    state: OldState::Draining,
                });
            }
            continue;
        }
        view.push(OldInstance {
            id: i.id.clone(),
            state: index.old_state(i, deregistered),
        });
    }
    let staying = view.iter().filter(|o| !leaving.contains(&o.id)).count();
    let mut excess = if auto_scaling {
        staying.saturating_sub(old.desired as usize)
    } else {
        0
    };
    for o in view.iter_mut().rev() {
        if excess == 0 {
            break;
        }
        if matches!(o.state, OldState::Serving | OldState::Registered) && !leaving.contains(&o.id) {
            o.state = OldState::Draining;
            leaving.insert(o.id.clone());
            excess -= 1;
        }
    }
    (view, leaving)
}

/// Target states by instance, per target group of the rollout (in its order). Indexed once
/// per round, so a round stays linear in the number of instances.
struct Index<'h> {
    by_group: Vec<HashMap<&'h str, &'h TargetState>>,
}

impl<'h> Index<'h> {
    fn new(arns: &[String], health: &'h HashMap<String, Vec<TargetHealth>>) -> Self {
        let by_group = arns
            .iter()
            .map(|arn| {
                health
                    .get(arn)
                    .into_iter()
                    .flatten()
                    .map(|t| (t.id.as_str(), &t.state))
                    .collect()
            })
            .collect();
        Index { by_group }
    }

    fn states(&self, id: &str) -> Vec<Option<&'h TargetState>> {
        self.by_group.iter().map(|tg| tg.get(id).copied()).collect()
    }

    /// Whether a target group of the rollout is draining `id`.
    fn draining(&self, id: &str) -> bool {
        self.states(id).iter().flatten().any(|t| t.is_draining())
    }

    /// Where an old instance stands. What this rollout just deregistered drains, whatever
    /// target health says yet (it may lag a deregistration).
    fn old_state(&self, i: &GroupInstance, deregistered: &HashMap<String, Instant>) -> OldState {
        let s = self.states(&i.id);
        let state = if i.serving(s.iter().copied()) {
            OldState::Serving
        } else if self.by_group.is_empty() {
            OldState::Registered
        } else if s.iter().flatten().any(|t| t.is_draining()) {
            // `draining`, or `unhealthy.draining`: leaving the target group either way.
            OldState::Draining
        } else if s
            .iter()
            .all(|x| matches!(x, None | Some(TargetState::Unused)))
        {
            if i.lifecycle_state.is_pending() {
                OldState::Registered
            } else {
                OldState::Drained
            }
        } else {
            OldState::Registered
        };
        match state {
            OldState::Serving | OldState::Registered if deregistered.contains_key(&i.id) => {
                OldState::Draining
            }
            state => state,
        }
    }

    /// Which of the new generation's instances are healthy, and why the others are not.
    fn new_health(&self, new: &GroupInfo, arns: &[String]) -> (Vec<String>, Vec<String>) {
        let mut healthy = Vec::new();
        let mut unhealthy = Vec::new();
        for i in &new.instances {
            let s = self.states(&i.id);
            if i.serving(s.iter().copied()) {
                healthy.push(i.id.clone());
            } else {
                let why = s
                    .iter()
                    .zip(arns)
                    .find(|(x, _)| **x != Some(&TargetState::Healthy))
                    .map(|(x, _)| x.map_or("not registered", TargetState::as_str).to_string())
                    .unwrap_or_else(|| i.lifecycle_state.to_string());
                unhealthy.push(format!("{} is {why}", i.id));
            }
        }
        (healthy, unhealthy)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::cloud::states::{InstanceHealth, Lifecycle};

    fn instance(id: &str) -> GroupInstance {
        GroupInstance {
            id: id.into(),
            lifecycle_state: Lifecycle::InService,
            health_status: InstanceHealth::Healthy,
            availability_zone: None,
            launch_template_version: None,
        }
    }

    /// An old instance is draining while its target says so, healthy or not.
    #[test]
    fn old_instances_drain_while_their_targets_drain() {
        let arns = vec!["tg".to_string()];
        for (state, want) in [
            ("healthy", OldState::Serving),
            ("draining", OldState::Draining),
            ("unhealthy.draining", OldState::Draining),
            ("unused", OldState::Drained),
            ("unhealthy", OldState::Registered),
        ] {
            let health: HashMap<String, Vec<TargetHealth>> = [(
                "tg".to_string(),
                vec![TargetHealth {
                    id: "i-1".into(),
                    port: None,
                    state: TargetState::parse(state),
                    reason: None,
                }],
            )]
            .into();
            let index = Index::new(&arns, &health);
            assert_eq!(
                index.old_state(&instance("i-1"), &HashMap::new()),
                want,
                "{state}"
            );
        }
    }

    /// What the old group takes out itself: counted as draining while a target group drains
    /// it, not at all after; above its desired capacity, the difference is about to go.
    /// (lifecycle and target state of each old instance, the group's desired capacity, the
    /// states the decision sees, how many of them are the group's own to finish)
    #[test]
    fn what_the_old_group_takes_out_is_never_acted_on() {
        let arns = vec!["tg".to_string()];
        type Case<'a> = (Vec<(&'a str, &'a str)>, u32, Vec<OldState>, usize);
        let cases: Vec<Case> = vec![
            // scaled in and draining: draining, the group's
            (
                vec![("InService", "healthy"), ("Terminating", "draining")],
                1,
                vec![OldState::Serving, OldState::Draining],
                1,
            ),
            // scaled in and drained (a terminating hook may hold it): gone from the view
            (
                vec![("InService", "healthy"), ("Terminating:Wait", "")],
                1,
                vec![OldState::Serving],
                0,
            ),
            // desired lowered, the scale-in not started yet: the last one counts as draining
            (
                vec![("InService", "healthy"), ("InService", "healthy")],
                1,
                vec![OldState::Serving, OldState::Draining],
                1,
            ),
            // at its desired capacity: nothing leaves
            (
                vec![("InService", "healthy"), ("InService", "healthy")],
                2,
                vec![OldState::Serving, OldState::Serving],
                0,
            ),
        ];
        for (i, (instances, desired, want, leaving)) in cases.into_iter().enumerate() {
            let mut targets = Vec::new();
            let mut old = GroupInfo {
                desired,
                ..GroupInfo::default()
            };
            for (n, (lifecycle, target)) in instances.iter().enumerate() {
                let id = format!("i-{n}");
                old.instances.push(GroupInstance {
                    lifecycle_state: Lifecycle::parse(lifecycle),
                    ..instance(&id)
                });
                if !target.is_empty() {
                    targets.push(TargetHealth {
                        id,
                        port: None,
                        state: TargetState::parse(target),
                        reason: None,
                    });
                }
            }
            let health: HashMap<String, Vec<TargetHealth>> = [("tg".to_string(), targets)].into();
            let index = Index::new(&arns, &health);
            let (view, out) = old_view(&old, &index, &HashMap::new(), true);
            let states: Vec<OldState> = view.iter().map(|o| o.state).collect();
            assert_eq!(states, want, "case {i}");
            assert_eq!(out.len(), leaving, "case {i}");
        }
    }
}
