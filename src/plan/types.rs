//! The plan's types: what a plan holds (changes, their actions and diffs, rollout schedules,
//! image copies) and why one cannot be made.

use serde::{Deserialize, Serialize};

use super::launch::LaunchDefinition;
use crate::observe::Taken;
use crate::stack::{ImageCopy, ImageLabel, Strategy};

/// Version of the plan's JSON form. Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    /// A new generation: launch from the new definition, drain the old one.
    Replace,
    /// Change the capacity of the active generation.
    Resize,
    /// Change settings in place (target groups, load balancers, listeners, attachments).
    Update,
    Delete,
    /// Continue a rollout that stopped part-way.
    Resume,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Replace => "±",
            Action::Resize | Action::Update | Action::Resume => "~",
            Action::Delete => "-",
        }
    }

    /// The action's name, as in the plan's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Action::NoOp => "no_op",
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Resize => "resize",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Resume => "resume",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "created",
            Action::Replace => "replaced by a new generation",
            Action::Resize => "resized",
            Action::Update => "updated in place",
            Action::Delete => "destroyed",
            Action::Resume => "resumed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    TargetGroup,
    LoadBalancer,
    ServerGroup,
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrDiff {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// True when this difference alone requires a new generation.
    pub forces_replacement: bool,
    /// For an image: the name and creation date of the image before, when known (recorded on
    /// the generation that launched it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_image: Option<ImageLabel>,
    /// For an image: the name and creation date of the image after, from the lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_image: Option<ImageLabel>,
}

/// One wave of a rollout: how many new instances to launch and old ones to drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub launch: u32,
    pub drain: u32,
    /// A canary checkpoint: the wave then bakes this long before the rollout goes on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bake_seconds: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub from_generation: Option<u32>,
    pub to_generation: u32,
    pub strategy: Strategy,
    pub desired: u32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub waves: Vec<Wave>,
    /// Blue/green: shares of listener traffic moved to the new generation, in turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic_steps: Vec<u32>,
    /// Blue/green: how long the old generation stays at capacity once traffic has moved.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_blue_seconds: u64,
    /// Estimated duration, from boot, health-check and deregistration settings (and bakes).
    pub estimate_seconds: u64,
    /// A generation left part-way by an interrupted rollout whose definition the stack no
    /// longer asks for: apply drains and removes it first (its instances are replaced by the
    /// serving generation's, or by the new one's when none serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandon_generation: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    /// For people; never used for decisions.
    pub reason: String,
    pub diffs: Vec<AttrDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPlan>,
    /// Create and Replace: the fingerprint of the instance definition the new generation is
    /// launched from (absent while the definition depends on values known only after apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Create and Replace: the whole resolved definition, which apply launches as it is. Kept
    /// in memory only (it holds user data in full); a saved plan keeps the fingerprint, and
    /// applying it re-derives the definition and refuses unless the fingerprints are equal.
    #[serde(skip)]
    pub launch: Option<LaunchDefinition>,
}

impl RolloutPlan {
    /// An interrupted rollout abandoned for the generation that served before it: nothing new
    /// is launched.
    pub fn is_revert(&self) -> bool {
        self.abandon_generation.is_some() && self.abandon_generation == self.from_generation
    }
}

impl Change {
    /// Whether applying this change launches a new generation from a definition.
    pub fn launches(&self) -> bool {
        matches!(self.action, Action::Create | Action::Replace)
            && self.kind == Kind::ServerGroup
            && !self.rollout.as_ref().is_some_and(RolloutPlan::is_revert)
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub region: String,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// Digest of the observed state this plan was computed from.
    pub observed_digest: String,
    /// Images to copy into this region before anything else (disaster recovery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<ImageCopy>,
}

impl Plan {
    /// The one place that decides whether applying would do anything.
    pub fn has_changes(&self) -> bool {
        !self.copies.is_empty() || self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{address}: {message}")]
    Unsupported { address: String, message: String },
    /// Names the stack would create are held by resources that are not the stack's.
    #[error("{}", taken_message(.0))]
    Taken(Vec<(String, Taken)>),
}

fn taken_message(taken: &[(String, Taken)]) -> String {
    let lines: Vec<String> = taken
        .iter()
        .map(|(address, t)| {
            format!(
                "{address}: {} {} ({}) exists and is not this stack's: {}",
                t.noun, t.name, t.id, t.owner
            )
        })
        .collect();
    format!(
        "{}\nreroll never takes over or deletes a resource it did not create: give each one \
         another name in the stack (a target group's or load balancer's `name`; for a server \
         group, rename the stack or the group), or delete the existing resource if nothing uses \
         it, then plan again",
        lines.join("\n")
    )
}
