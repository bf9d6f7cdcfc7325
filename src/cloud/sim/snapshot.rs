//! A consistent look at the world, for invariant checks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::resources::Instance;
use super::time::Ms;
use super::world::World;
use crate::cloud::states::{InstanceState, Lifecycle, TargetState};
use crate::cloud::{tag, Forward};

/// One consistent look at the world, for invariant checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimSnapshot {
    /// Simulated time since the world was created.
    pub at: Duration,
    /// Every instance launched so far, terminated ones included, in launch order.
    pub instances: Vec<SimInstance>,
    pub groups: Vec<SimGroup>,
    pub target_groups: Vec<SimTargetGroup>,
    pub listeners: Vec<SimListener>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimInstance {
    pub id: String,
    /// Its `reroll:stack` tag.
    pub stack: Option<String>,
    /// The Auto Scaling group it is a member of now.
    pub group: Option<String>,
    /// The Auto Scaling group that launched it, if any (kept after it leaves).
    pub launched_by: Option<String>,
    /// Its `reroll:fleet` tag (instance-mode generations).
    pub fleet: Option<String>,
    pub image_id: String,
    /// EC2 state: `pending`, `running`, `shutting-down`, `terminated`.
    pub state: InstanceState,
    /// Auto Scaling lifecycle state while in a group.
    pub lifecycle: Option<Lifecycle>,
    /// Its target states (by target group ARN) at the moment EC2 began shutting it down: a
    /// `healthy` here means it was terminated while serving.
    pub terminated_with: BTreeMap<String, TargetState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimGroup {
    pub name: String,
    pub stack: Option<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Member instance ids.
    pub instances: Vec<String>,
    pub deleting: bool,
    /// What it was created with (and put since: policies, scheduled actions, hooks).
    pub spec: crate::cloud::GroupSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTargetGroup {
    pub arn: String,
    pub name: String,
    pub stack: Option<String>,
    /// Listed targets and their states, by instance id.
    pub targets: BTreeMap<String, TargetState>,
}

/// A listener and where it forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimListener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub forward: Vec<Forward>,
}

impl SimSnapshot {
    /// Healthy targets in the target groups listeners forward traffic to (weight above 0),
    /// counted once per target group: what serves.
    pub fn serving(&self) -> usize {
        let forwarded: BTreeSet<&str> = self
            .listeners
            .iter()
            .flat_map(|l| l.forward.iter())
            .filter(|f| f.weight > 0)
            .map(|f| f.target_group_arn.as_str())
            .collect();
        self.target_groups
            .iter()
            .filter(|tg| forwarded.contains(tg.arn.as_str()))
            .flat_map(|tg| tg.targets.values())
            .filter(|s| **s == TargetState::Healthy)
            .count()
    }

    pub fn instance(&self, id: &str) -> Option<&SimInstance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Targets of a target group (by name) in `state`.
    pub fn targets_in(&self, target_group: &str, state: TargetState) -> usize {
        self.target_groups
            .iter()
            .filter(|tg| tg.name == target_group)
            .flat_map(|tg| tg.targets.values())
            .filter(|s| **s == state)
            .count()
    }
}

impl World {
    pub fn snapshot(&self, t: Ms) -> SimSnapshot {
        let members = self.members_by_group(t);
        let mut instances: Vec<&Instance> =
            self.instances.values().filter(|i| i.visible(t)).collect();
        instances.sort_by_key(|i| i.seq);
        SimSnapshot {
            at: Duration::from_millis(t),
            instances: instances
                .into_iter()
                .map(|i| SimInstance {
                    id: i.id.clone(),
                    stack: i.tags.get(tag::STACK).cloned(),
                    group: i.group.clone(),
                    launched_by: i.launched_by.clone(),
                    fleet: i.tags.get(tag::FLEET).cloned(),
                    image_id: i.image_id.clone(),
                    state: InstanceState::parse(i.state(t)),
                    lifecycle: i.group.as_ref().map(|_| Lifecycle::parse(i.lifecycle(t))),
                    terminated_with: i
                        .terminated_with
                        .iter()
                        .map(|(arn, state)| (arn.clone(), TargetState::parse(state)))
                        .collect(),
                })
                .collect(),
            groups: self
                .groups
                .values()
                .map(|g| SimGroup {
                    name: g.spec.name.clone(),
                    stack: g.spec.tags.get(tag::STACK).cloned(),
                    min: g.spec.min,
                    desired: g.spec.desired,
                    max: g.spec.max,
                    instances: members
                        .get(g.spec.name.as_str())
                        .into_iter()
                        .flatten()
                        .map(|i| i.id.clone())
                        .collect(),
                    deleting: g.deleting,
                    spec: g.spec.clone(),
                })
                .collect(),
            target_groups: self
                .target_groups
                .values()
                .map(|tg| SimTargetGroup {
                    arn: tg.arn.clone(),
                    name: tg.spec.name.clone(),
                    stack: tg.tags.get(tag::STACK).cloned(),
                    targets: tg
                        .targets
                        .iter()
                        .filter_map(|(id, reg)| {
                            let (state, _) = self.target_state(tg, id, reg, t)?;
                            Some((id.clone(), TargetState::parse(state)))
                        })
                        .collect(),
                })
                .collect(),
            listeners: self
                .listeners
                .values()
                .map(|l| SimListener {
                    arn: l.arn.clone(),
                    load_balancer_arn: l.load_balancer_arn.clone(),
                    port: l.spec.port,
                    forward: l.spec.forward.clone(),
                })
                .collect(),
        }
    }
}
