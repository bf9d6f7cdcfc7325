//! The plan: a value that says what apply will do, computed without IO.
//!
//! `plan(desired, observed)` compares each resource of the stack with what runs and decides
//! one [`Action`] per address. The human-readable reason is for display only; decisions look
//! at the action and the data.

pub mod copy;
pub mod file;
pub mod render;
mod warnings;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cloud::scaling::GroupSettings;
use crate::cloud::{tag, LaunchSpec, ListenerSpec, Tags, TargetGroupSpec};
use crate::observe::{GenerationState, Observed, ObservedGroup};
use crate::stack::{
    is_unknown, ImageLabel, LoadBalancer, ServerGroup, Stack, TargetGroup, REDACTED, STACK_TAGS,
    UNKNOWN_APPLY,
};

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
    pub strategy: crate::stack::Strategy,
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

/// Everything that defines the instances of a new generation, resolved when the plan was
/// made: what apply launches, exactly as the plan showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchDefinition {
    pub spec: LaunchSpec,
    pub subnets: Vec<String>,
    /// The Auto Scaling settings the generation's group is created with.
    pub settings: GroupSettings,
    pub fingerprint: String,
    /// The image's name and creation date, for people: recorded on the generation (tag
    /// `reroll:image`), outside the fingerprint.
    pub image: Option<ImageLabel>,
}

impl LaunchDefinition {
    /// The definition of `g`'s instances; `None` while any of it is unknown.
    pub fn of(stack: &Stack, g: &ServerGroup) -> Option<LaunchDefinition> {
        let spec = launch_spec(stack, g);
        let fingerprint = fingerprint_of(&spec, &g.subnets, &g.scaling)?;
        Some(LaunchDefinition {
            spec,
            subnets: g.subnets.clone(),
            settings: g.scaling.clone(),
            fingerprint,
            image: g.image.clone(),
        })
    }

    /// The tags that record, on a generation launched from this definition, what it runs for
    /// people to read: `reroll:image` when the image's name is known.
    pub fn image_tags(&self) -> Tags {
        let mut tags = Tags::new();
        if let Some(l) = &self.image {
            tags.insert(tag::IMAGE.to_string(), l.tag_value(&self.spec.image_id));
            if let Some(source) = &l.source {
                tags.insert(tag::IMAGE_SOURCE.to_string(), source.clone());
            }
        }
        tags
    }

    /// Whether a generation tagged with `observed` (a fingerprint in this or an earlier
    /// format) was launched from this definition.
    pub fn matches(&self, observed: Option<&str>) -> bool {
        // The legacy form knows nothing of launch options or group settings: it stands for a
        // definition that sets none of them.
        let legacy = || {
            self.spec.options.canonical().is_empty()
                && self.settings.canonical().is_empty()
                && observed.is_some_and(|o| {
                    Some(o) == legacy_fingerprint(&self.spec, &self.subnets).as_deref()
                })
        };
        observed.is_some_and(|o| o == self.fingerprint) || legacy()
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
    pub copies: Vec<copy::ImageCopy>,
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
    Taken(Vec<(String, crate::observe::Taken)>),
}

fn taken_message(taken: &[(String, crate::observe::Taken)]) -> String {
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

/// What instances of a server group are launched from: the launch template's content.
pub fn launch_spec(stack: &Stack, g: &ServerGroup) -> LaunchSpec {
    let mut instance_tags: Tags = stack.tags.clone();
    instance_tags.extend(g.tags.clone());
    instance_tags.insert("Name".into(), format!("{}-{}", stack.name, g.key));
    instance_tags.insert(tag::STACK.into(), stack.name.clone());
    instance_tags.insert(tag::GROUP.into(), g.key.clone());
    instance_tags.insert(tag::ADDRESS.into(), g.address.clone());
    let mut options = g.launch.clone();
    let mut security_group_ids = g.security_groups.clone();
    // EC2 takes security groups either on the template or on its interfaces: with interfaces
    // declared, the group's go on the primary one unless it lists its own.
    if let Some(primary) = options
        .network_interfaces
        .iter_mut()
        .find(|n| n.device_index == 0)
    {
        if primary.security_groups.is_empty() {
            primary.security_groups = std::mem::take(&mut security_group_ids);
        } else {
            security_group_ids.clear();
        }
    } else if !options.network_interfaces.is_empty() {
        security_group_ids.clear();
    }
    LaunchSpec {
        image_id: g.image_id.clone(),
        instance_type: g.instance_type.clone(),
        user_data: g.user_data.clone(),
        security_group_ids,
        instance_profile: g.instance_profile.clone(),
        key_name: g.key_name.clone(),
        instance_tags,
        options,
    }
}

/// The version of the fingerprint's canonical form, the prefix of every fingerprint.
pub const FINGERPRINT_FORMAT: &str = "f1";

/// The fingerprint of everything that defines an instance; `None` while any of it is unknown.
///
/// It hashes a canonical form, never a serialized struct: one `name=value` entry per field in
/// name order, security groups and subnets as sorted sets, tags by key, user data as its
/// digest, and fields at their defaults (absent, empty) left out. So a field added in a later
/// release changes no existing fingerprint until a stack sets it, and reordering subnets or
/// security groups is no change. The result is `f1:` and 16 hex digits.
pub fn fingerprint(spec: &LaunchSpec, subnets: &[String]) -> Option<String> {
    fingerprint_of(spec, subnets, &GroupSettings::default())
}

/// [`fingerprint`] of a definition that includes its group's Auto Scaling settings (under
/// `group.…` names, what the stack does not set left out).
pub fn fingerprint_of(
    spec: &LaunchSpec,
    subnets: &[String],
    settings: &GroupSettings,
) -> Option<String> {
    let set = |v: &[String]| {
        let s: BTreeSet<&str> = v.iter().map(String::as_str).collect();
        s.into_iter().collect::<Vec<_>>().join(",")
    };
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        if !value.is_empty() {
            fields.insert(name.to_string(), value);
        }
    };
    put("image_id", spec.image_id.clone());
    put("instance_type", spec.instance_type.clone());
    put(
        "user_data.sha256",
        spec.user_data
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| hex::encode(Sha256::digest(u.as_bytes())))
            .unwrap_or_default(),
    );
    put("security_groups", set(&spec.security_group_ids));
    put("subnets", set(subnets));
    put(
        "instance_profile",
        spec.instance_profile.clone().unwrap_or_default(),
    );
    put("key_name", spec.key_name.clone().unwrap_or_default());
    for (k, v) in &spec.instance_tags {
        put(&format!("tag.{k}"), v.clone());
    }
    for (k, v) in spec
        .options
        .canonical()
        .into_iter()
        .chain(settings.canonical())
    {
        put(&k, v);
    }
    let mut h = Sha256::new();
    h.update(format!("reroll launch definition {FINGERPRINT_FORMAT}\n"));
    for (name, value) in &fields {
        if is_unknown(value) {
            return None;
        }
        // Length-prefixed, so that no value can pose as another field.
        h.update(format!("{name}:{}={value}\n", value.len()));
    }
    Some(format!(
        "{FINGERPRINT_FORMAT}:{}",
        hex::encode(&h.finalize()[..8])
    ))
}

/// The fingerprint of releases before [`FINGERPRINT_FORMAT`] (the JSON of the launch spec and
/// the subnets in file order): generations tagged with it still count as the same definition.
pub fn legacy_fingerprint(spec: &LaunchSpec, subnets: &[String]) -> Option<String> {
    /// The launch spec as it was serialized then, field for field.
    #[derive(Serialize)]
    struct Legacy<'a> {
        image_id: &'a str,
        instance_type: &'a str,
        user_data: &'a Option<String>,
        security_group_ids: &'a [String],
        instance_profile: &'a Option<String>,
        key_name: &'a Option<String>,
        instance_tags: &'a Tags,
    }
    let legacy = Legacy {
        image_id: &spec.image_id,
        instance_type: &spec.instance_type,
        user_data: &spec.user_data,
        security_group_ids: &spec.security_group_ids,
        instance_profile: &spec.instance_profile,
        key_name: &spec.key_name,
        instance_tags: &spec.instance_tags,
    };
    let json = serde_json::to_string(&(legacy, subnets)).ok()?;
    if is_unknown(&json) {
        return None;
    }
    Some(hex::encode(&Sha256::digest(json.as_bytes())[..8]))
}

/// The rolling wave schedule for replacing `desired` instances with surge `s` and
/// unavailability `u` (both already resolved to counts, at least one non-zero).
///
/// A wave launches new instances into the headroom the surge allows, waits until they are
/// healthy, then drains old ones as far as `desired - u` serving instances allows. When there
/// is no headroom (no surge), a wave first drains what the unavailability allows.
pub fn waves(desired: u32, surge: u32, unavailable: u32) -> Vec<Wave> {
    checkpointed_waves(desired, surge, unavailable, &[], 0)
}

/// Waves that stop at canary checkpoints (numbers of new instances), each baked for `bake`
/// seconds, before the rest rolls with the usual surge and unavailability.
pub fn checkpointed_waves(
    desired: u32,
    surge: u32,
    unavailable: u32,
    checkpoints: &[u32],
    bake: u64,
) -> Vec<Wave> {
    let mut out = Vec::new();
    let floor = desired.saturating_sub(unavailable);
    let (mut old, mut new) = (desired, 0u32);
    for cap in checkpoints.iter().copied().chain([desired]) {
        let keep = desired - cap.min(desired);
        while old > keep || new < cap {
            let headroom = (desired + surge).saturating_sub(old + new);
            let launch = headroom.min(cap - new);
            let drainable = |old: u32, new: u32| {
                old.min((old + new).saturating_sub(floor))
                    .min(old.saturating_sub(keep))
            };
            if launch == 0 {
                let drain = drainable(old, new);
                if drain == 0 {
                    break; // cannot progress; validation rejects such settings
                }
                old -= drain;
                out.push(Wave {
                    launch: 0,
                    drain,
                    bake_seconds: 0,
                });
                continue;
            }
            new += launch;
            let drain = drainable(old, new);
            old -= drain;
            out.push(Wave {
                launch,
                drain,
                bake_seconds: 0,
            });
        }
        if cap < desired {
            if let Some(w) = out.last_mut() {
                w.bake_seconds = bake;
            }
        }
    }
    out
}

/// How many waves of a schedule a rollout has got through, from what it sees: `healthy` new
/// instances and `drained` old ones (out of rotation, their drain finished). A wave is got
/// through once every instance it and the waves before it launch is healthy and every old
/// instance they drain is gone. The one definition of a wave, shared by the plan, the executor,
/// the live view, the forecast, the summary and the report: a rollout that ends well has got
/// through every wave of its plan, one stopped part-way through the ones it finished.
pub fn waves_through(waves: &[Wave], healthy: u32, drained: u32) -> u32 {
    let (mut launched, mut gone) = (0u32, 0u32);
    let mut through = 0;
    for w in waves {
        launched += w.launch;
        gone += w.drain;
        if healthy < launched || drained < gone {
            break;
        }
        through += 1;
    }
    through
}

/// Rough duration of a rollout: each wave boots, passes health checks, and drains.
fn estimate(waves: &[Wave], g: &ServerGroup, stack: &Stack) -> u64 {
    const BOOT: u64 = 60;
    let (health, drain) = g
        .target_groups
        .iter()
        .filter_map(|a| stack.target_group(a))
        .map(|tg| {
            (
                tg.health_check.interval.as_secs() * u64::from(tg.health_check.healthy_threshold),
                tg.deregistration_delay.as_secs(),
            )
        })
        .fold((0, 0), |(h, d), (h2, d2)| (h.max(h2), d.max(d2)));
    let per_wave = BOOT + health.max(g.rollout.health.grace.as_secs());
    let bakes: u64 = waves.iter().map(|w| w.bake_seconds).sum();
    if g.rollout.strategy == crate::stack::Strategy::BlueGreen && waves.len() == 1 {
        // Launch at full size, shift traffic step by step, keep blue, then drain it.
        let steps = g.rollout.traffic_steps.len().saturating_sub(1) as u64;
        return per_wave
            + steps * g.rollout.step_bake.as_secs()
            + g.rollout.keep_blue.as_secs()
            + drain;
    }
    waves.len() as u64 * per_wave + drain + bakes
}

pub fn rollout_plan(
    stack: &Stack,
    g: &ServerGroup,
    desired: u32,
    from: Option<u32>,
    to: u32,
) -> RolloutPlan {
    let surge = g.rollout.max_surge.resolve(desired, true);
    let unavailable = g.rollout.max_unavailable.resolve(desired, false);
    // A percentage that rounds to zero on both sides must still make progress.
    let surge = if surge == 0 && unavailable == 0 {
        1
    } else {
        surge
    };
    let blue_green = g.rollout.strategy == crate::stack::Strategy::BlueGreen;
    let w = match (from, g.rollout.strategy) {
        (Some(_), crate::stack::Strategy::Canary) => checkpointed_waves(
            desired,
            surge,
            unavailable,
            &g.rollout.canary.checkpoints(desired),
            g.rollout.canary.bake.as_secs(),
        ),
        // Green comes up whole; blue drains whole once traffic has moved.
        (Some(_), crate::stack::Strategy::BlueGreen) => vec![Wave {
            launch: desired,
            drain: desired,
            bake_seconds: 0,
        }],
        (Some(_), _) => waves(desired, surge, unavailable),
        (None, _) => vec![Wave {
            launch: desired,
            drain: 0,
            bake_seconds: 0,
        }],
    };
    let estimate_seconds = estimate(&w, g, stack);
    let traffic_steps = if blue_green && from.is_some() {
        g.rollout.traffic_steps.clone()
    } else {
        Vec::new()
    };
    RolloutPlan {
        from_generation: from,
        to_generation: to,
        strategy: g.rollout.strategy,
        desired,
        max_surge: surge,
        max_unavailable: unavailable,
        waves: w,
        keep_blue_seconds: if traffic_steps.is_empty() {
            0
        } else {
            g.rollout.keep_blue.as_secs()
        },
        traffic_steps,
        estimate_seconds,
        abandon_generation: None,
    }
}

/// A plan of `destroy` (an empty stack against what the stack owns): the same deletions, with
/// reasons that say why.
pub fn destroy_plan(mut plan: Plan) -> Plan {
    for c in plan
        .changes
        .iter_mut()
        .filter(|c| c.action == Action::Delete)
    {
        c.reason = c
            .reason
            .replacen(NO_LONGER_DECLARED, "destroyed with the stack", 1);
    }
    plan
}

/// Why something the stack owns is deleted by a plan.
const NO_LONGER_DECLARED: &str = "no longer in the stack";

/// Computes the plan. Pure: everything it needs is in its arguments.
pub fn plan(stack: &Stack, observed: &Observed, force: bool) -> Result<Plan, PlanError> {
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    shared_blue_green_target_groups(stack)?;

    for tg in &stack.target_groups {
        changes.push(plan_target_group(tg, observed)?);
    }
    for lb in &stack.load_balancers {
        changes.push(plan_load_balancer(stack, lb, observed)?);
    }
    for g in &stack.server_groups {
        changes.push(plan_server_group(stack, g, observed, force)?);
    }

    // Whatever the stack owns but no longer declares.
    let declared: BTreeSet<&str> = stack
        .target_groups
        .iter()
        .map(|t| t.address.as_str())
        .chain(stack.load_balancers.iter().map(|l| l.address.as_str()))
        .collect();
    for (address, _) in observed
        .target_groups
        .iter()
        .filter(|(a, _)| !declared.contains(a.as_str()))
    {
        changes.push(deletion(address, Kind::TargetGroup, NO_LONGER_DECLARED));
    }
    for (address, _) in observed
        .load_balancers
        .iter()
        .filter(|(a, _)| !declared.contains(a.as_str()))
    {
        changes.push(deletion(address, Kind::LoadBalancer, NO_LONGER_DECLARED));
    }
    let keys: BTreeSet<&str> = stack.server_groups.iter().map(|g| g.key.as_str()).collect();
    for (key, g) in observed
        .groups
        .iter()
        .filter(|(k, _)| !keys.contains(k.as_str()))
    {
        if g.generations.is_empty() && g.launch_template.is_none() {
            continue;
        }
        let address = g
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{key}"));
        let n: u32 = g.generations.iter().map(|x| x.group.desired).sum();
        changes.push(deletion(
            &address,
            Kind::ServerGroup,
            &format!(
                "{NO_LONGER_DECLARED} ({n} instance{}, {} generation{})",
                if n == 1 { "" } else { "s" },
                g.generations.len(),
                if g.generations.len() == 1 { "" } else { "s" }
            ),
        ));
    }

    warnings.extend(quota_warnings(stack));
    warnings.extend(self::warnings::unserved_target_groups(stack, observed));
    warnings.extend(crate::controllers::warnings(stack, observed));
    for g in &stack.server_groups {
        for alarm in &g.rollout.health.alarms {
            match observed.alarms.get(alarm).map(String::as_str) {
                None => warnings.push(format!(
                    "{}: CloudWatch alarm {alarm:?} does not exist; apply will refuse to roll \
                     this group until it does",
                    g.address
                )),
                Some("ALARM") => warnings.push(format!(
                    "{}: CloudWatch alarm {alarm:?} is in ALARM now; a rollout would stop at \
                     its first health check",
                    g.address
                )),
                Some(_) => {}
            }
        }
    }
    changes.sort_by(|a, b| (a.kind, &a.address).cmp(&(b.kind, &b.address)));
    // A create whose name someone else holds: AWS would answer it with their resource.
    let taken: Vec<(String, crate::observe::Taken)> = changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| Some((c.address.clone(), observed.taken.get(&c.address)?.clone())))
        .collect();
    if !taken.is_empty() {
        return Err(PlanError::Taken(taken));
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        stack: stack.name.clone(),
        region: observed.region.clone(),
        changes,
        warnings,
        observed_digest: observed.digest(),
        copies: Vec::new(),
    })
}

/// The launch template settings that differ, each by its name (`metadata.http_tokens`,
/// `block_device./dev/xvda`, `placement.tenancy`, …).
fn launch_option_diffs(
    before: &crate::cloud::launch::LaunchOptions,
    after: &crate::cloud::launch::LaunchOptions,
) -> Vec<AttrDiff> {
    let (have, want) = (before.settings(), after.settings());
    let value = |all: &[(String, String)], name: &str| {
        all.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    let names: BTreeSet<&String> = have.iter().chain(&want).map(|(n, _)| n).collect();
    names
        .into_iter()
        .filter_map(|n| diff(n, value(&have, n), value(&want, n), true))
        .collect()
}

/// A blue/green group moves its target groups' listener traffic to its own copies: another
/// group behind the same target group would be cut off.
fn shared_blue_green_target_groups(stack: &Stack) -> Result<(), PlanError> {
    for g in stack
        .server_groups
        .iter()
        .filter(|g| g.rollout.strategy == crate::stack::Strategy::BlueGreen)
    {
        for tg in &g.target_groups {
            if let Some(other) = stack
                .server_groups
                .iter()
                .find(|o| o.address != g.address && o.target_groups.contains(tg))
            {
                return Err(PlanError::Unsupported {
                    address: g.address.clone(),
                    message: format!(
                        "a blue/green group needs its target groups to itself, but {} also \
                         uses {tg}; give each group its own target group",
                        other.address
                    ),
                });
            }
        }
    }
    Ok(())
}

fn deletion(address: &str, kind: Kind, reason: &str) -> Change {
    Change {
        address: address.to_string(),
        kind,
        action: Action::Delete,
        reason: reason.to_string(),
        diffs: Vec::new(),
        rollout: None,
        fingerprint: None,
        launch: None,
    }
}

fn diff(
    name: &str,
    before: Option<String>,
    after: Option<String>,
    forces: bool,
) -> Option<AttrDiff> {
    (before != after).then(|| AttrDiff {
        name: name.to_string(),
        before,
        after,
        forces_replacement: forces,
        before_image: None,
        after_image: None,
    })
}

/// The image diff: AMI ids, each with its name and creation date when known.
fn image_diff(
    before: Option<(String, Option<ImageLabel>)>,
    after: (String, Option<ImageLabel>),
    forces: bool,
) -> Option<AttrDiff> {
    let (before, before_image) = before.unzip();
    let d = diff("image", before, Some(after.0), forces)?;
    Some(AttrDiff {
        before_image: before_image.flatten(),
        after_image: after.1,
        ..d
    })
}

/// The target group settings AWS would hold for a desired target group.
pub fn target_group_spec(tg: &TargetGroup) -> TargetGroupSpec {
    let hc = &tg.health_check;
    TargetGroupSpec {
        name: tg.name.clone(),
        port: tg.port,
        protocol: tg.protocol.clone(),
        vpc_id: tg.vpc_id.clone(),
        target_type: "instance".into(),
        health_check: crate::cloud::HealthCheckSpec {
            protocol: hc.protocol.clone(),
            port: hc.port.clone(),
            path: hc.path.clone(),
            interval_seconds: hc.interval.as_secs() as u32,
            timeout_seconds: hc.timeout.as_secs() as u32,
            healthy_threshold: hc.healthy_threshold,
            unhealthy_threshold: hc.unhealthy_threshold,
            matcher: hc.matcher.clone(),
        },
        deregistration_delay_seconds: tg.deregistration_delay.as_secs() as u32,
    }
}

fn plan_target_group(tg: &TargetGroup, observed: &Observed) -> Result<Change, PlanError> {
    let want = target_group_spec(tg);
    let Some(have) = observed.target_groups.get(&tg.address) else {
        return Ok(Change {
            address: tg.address.clone(),
            kind: Kind::TargetGroup,
            action: Action::Create,
            reason: format!("{} port {} in {}", tg.protocol, tg.port, tg.vpc_id),
            diffs: Vec::new(),
            rollout: None,
            fingerprint: None,
            launch: None,
        });
    };
    let h = &have.info.spec;
    let immutable: Vec<AttrDiff> = [
        diff("name", Some(h.name.clone()), Some(want.name.clone()), true),
        diff(
            "port",
            Some(h.port.to_string()),
            Some(want.port.to_string()),
            true,
        ),
        diff(
            "protocol",
            Some(h.protocol.clone()),
            Some(want.protocol.clone()),
            true,
        ),
        diff(
            "vpc_id",
            Some(h.vpc_id.clone()),
            Some(want.vpc_id.clone()),
            true,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(d) = immutable.first() {
        return Err(PlanError::Unsupported {
            address: tg.address.clone(),
            message: format!(
                "`{}` of an existing target group cannot change ({} → {}); AWS would need a new \
                 target group. Declare a new target_group block, move listeners and server groups \
                 to it, and remove the old one in a later apply",
                d.name,
                d.before.as_deref().unwrap_or("-"),
                d.after.as_deref().unwrap_or("-"),
            ),
        });
    }
    let (hh, wh) = (&h.health_check, &want.health_check);
    let diffs: Vec<AttrDiff> = [
        diff(
            "deregistration_delay",
            Some(format!("{}s", h.deregistration_delay_seconds)),
            Some(format!("{}s", want.deregistration_delay_seconds)),
            false,
        ),
        diff("health_check.path", hh.path.clone(), wh.path.clone(), false),
        diff(
            "health_check.port",
            Some(hh.port.clone()),
            Some(wh.port.clone()),
            false,
        ),
        diff(
            "health_check.protocol",
            Some(hh.protocol.clone()),
            Some(wh.protocol.clone()),
            false,
        ),
        diff(
            "health_check.interval",
            Some(format!("{}s", hh.interval_seconds)),
            Some(format!("{}s", wh.interval_seconds)),
            false,
        ),
        diff(
            "health_check.timeout",
            Some(format!("{}s", hh.timeout_seconds)),
            Some(format!("{}s", wh.timeout_seconds)),
            false,
        ),
        diff(
            "health_check.healthy_threshold",
            Some(hh.healthy_threshold.to_string()),
            Some(wh.healthy_threshold.to_string()),
            false,
        ),
        diff(
            "health_check.unhealthy_threshold",
            Some(hh.unhealthy_threshold.to_string()),
            Some(wh.unhealthy_threshold.to_string()),
            false,
        ),
        diff(
            "health_check.matcher",
            hh.matcher.clone().filter(|_| wh.matcher.is_some()),
            wh.matcher.clone(),
            false,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(settings_change(&tg.address, Kind::TargetGroup, diffs))
}

/// An in-place resource: an Update when settings differ, else a NoOp.
fn settings_change(address: &str, kind: Kind, diffs: Vec<AttrDiff>) -> Change {
    let (action, reason) = if diffs.is_empty() {
        (Action::NoOp, "matches the stack")
    } else {
        (Action::Update, "settings differ")
    };
    Change {
        address: address.to_string(),
        kind,
        action,
        reason: reason.into(),
        diffs,
        rollout: None,
        fingerprint: None,
        launch: None,
    }
}

/// The listener as AWS would hold it, with target group ARNs where they are known.
pub fn listener_spec(l: &crate::stack::Listener, observed: &Observed) -> ListenerSpec {
    ListenerSpec {
        port: l.port,
        protocol: l.protocol.clone(),
        certificate_arn: l.certificate_arn.clone(),
        forward: l
            .forward
            .iter()
            .map(|(address, weight)| crate::cloud::Forward {
                target_group_arn: observed
                    .serving_target_group_arn(address)
                    .map(String::from)
                    .unwrap_or_else(|| format!("{address} {UNKNOWN_APPLY}")),
                weight: *weight,
            })
            .collect(),
    }
}

fn forward_text(spec: &ListenerSpec, observed: &Observed) -> String {
    let by_arn: BTreeMap<&str, &str> = observed
        .target_groups
        .values()
        .map(|t| (t.info.arn.as_str(), t.address.as_str()))
        .chain(
            observed
                .copies
                .iter()
                .map(|c| (c.info.arn.as_str(), c.of.as_str())),
        )
        .collect();
    let parts: Vec<String> = spec
        .forward
        .iter()
        .map(|f| {
            let name = by_arn
                .get(f.target_group_arn.as_str())
                .copied()
                .unwrap_or(f.target_group_arn.split(' ').next().unwrap_or_default());
            if spec.forward.len() > 1 {
                format!("{name}={}", f.weight)
            } else {
                name.to_string()
            }
        })
        .collect();
    format!("{} {} → {}", spec.protocol, spec.port, parts.join(", "))
}

fn plan_load_balancer(
    _stack: &Stack,
    lb: &LoadBalancer,
    observed: &Observed,
) -> Result<Change, PlanError> {
    let Some(have) = observed.load_balancers.get(&lb.address) else {
        let listeners: Vec<String> = lb
            .listeners
            .iter()
            .map(|l| forward_text(&listener_spec(l, observed), observed))
            .collect();
        return Ok(Change {
            address: lb.address.clone(),
            kind: Kind::LoadBalancer,
            action: Action::Create,
            reason: format!(
                "{}{} with {}",
                if lb.internal { "internal " } else { "" },
                lb.kind,
                if listeners.is_empty() {
                    "no listeners".into()
                } else {
                    listeners.join("; ")
                }
            ),
            diffs: Vec::new(),
            rollout: None,
            fingerprint: None,
            launch: None,
        });
    };
    let h = &have.info.spec;
    for (name, before, after) in [
        ("type", h.kind.clone(), lb.kind.clone()),
        ("internal", h.internal.to_string(), lb.internal.to_string()),
    ] {
        if before != after {
            return Err(PlanError::Unsupported {
                address: lb.address.clone(),
                message: format!(
                    "`{name}` of an existing load balancer cannot change ({before} → {after}); \
                     declare a new load_balancer block and remove the old one"
                ),
            });
        }
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.join(", ")
    };
    let mut diffs: Vec<AttrDiff> = [
        diff(
            "subnets",
            Some(sorted(&h.subnet_ids)),
            Some(sorted(&lb.subnets)),
            false,
        ),
        diff(
            "security_groups",
            Some(sorted(&h.security_group_ids)),
            Some(sorted(&lb.security_groups)),
            false,
        )
        .filter(|_| lb.kind == "application"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let have_listeners: BTreeMap<u16, ListenerSpec> = have
        .listeners
        .iter()
        .map(|l| (l.spec.port, observed.canonical_listener(&l.spec)))
        .collect();
    let want_listeners: BTreeMap<u16, ListenerSpec> = lb
        .listeners
        .iter()
        .map(|l| (l.port, listener_spec(l, observed)))
        .collect();
    for port in have_listeners
        .keys()
        .chain(want_listeners.keys())
        .collect::<BTreeSet<_>>()
    {
        let before = have_listeners.get(port).map(|s| forward_text(s, observed));
        let after = want_listeners.get(port).map(|s| forward_text(s, observed));
        let same = match (have_listeners.get(port), want_listeners.get(port)) {
            (Some(a), Some(b)) => listener_equal(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            diffs.push(AttrDiff {
                name: format!("listener :{port}"),
                before,
                after,
                forces_replacement: false,
                before_image: None,
                after_image: None,
            });
        }
    }
    Ok(settings_change(&lb.address, Kind::LoadBalancer, diffs))
}

/// Listener equality that ignores weights of a single-target forward (AWS reports 1 or none).
pub fn listener_equal(a: &ListenerSpec, b: &ListenerSpec) -> bool {
    let norm = |s: &ListenerSpec| {
        let mut f: Vec<(String, u32)> = s
            .forward
            .iter()
            .map(|f| {
                (
                    f.target_group_arn.clone(),
                    if s.forward.len() == 1 { 1 } else { f.weight },
                )
            })
            .collect();
        f.sort();
        (s.port, s.protocol.clone(), s.certificate_arn.clone(), f)
    };
    norm(a) == norm(b)
}

/// Target groups a server group should be attached to, as ARNs where they exist.
pub fn target_group_arns(g: &ServerGroup, observed: &Observed) -> Vec<String> {
    g.target_groups
        .iter()
        .map(|a| {
            observed
                .serving_target_group_arn(a)
                .map(String::from)
                .unwrap_or_else(|| format!("{a} {UNKNOWN_APPLY}"))
        })
        .collect()
}

fn attachment_diff(g: &ServerGroup, have: &[String], observed: &Observed) -> Option<AttrDiff> {
    let want: BTreeSet<String> = target_group_arns(g, observed).into_iter().collect();
    let have: BTreeSet<String> = have.iter().cloned().collect();
    if want == have {
        return None;
    }
    let by_arn: BTreeMap<&str, &str> = observed
        .target_groups
        .values()
        .map(|t| (t.info.arn.as_str(), t.address.as_str()))
        .chain(
            observed
                .copies
                .iter()
                .map(|c| (c.info.arn.as_str(), c.of.as_str())),
        )
        .collect();
    let names = |set: &BTreeSet<String>| {
        set.iter()
            .map(|a| {
                by_arn
                    .get(a.as_str())
                    .map_or(a.as_str(), |n| *n)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(AttrDiff {
        name: "target_groups".into(),
        before: Some(names(&have)),
        after: Some(names(&want)),
        forces_replacement: false,
        before_image: None,
        after_image: None,
    })
}

fn plan_server_group(
    stack: &Stack,
    g: &ServerGroup,
    observed_all: &Observed,
    force: bool,
) -> Result<Change, PlanError> {
    let observed = observed_all.groups.get(&g.key);
    let spec = launch_spec(stack, g);
    let def = LaunchDefinition::of(stack, g);
    let fp = def.as_ref().map(|d| d.fingerprint.clone());
    // Whether a generation tagged with this fingerprint runs what the stack asks for.
    let same = |observed: Option<&str>| def.as_ref().is_some_and(|d| d.matches(observed));
    let base = |action, reason: String, diffs, rollout| {
        let launches = matches!(action, Action::Create | Action::Replace);
        Change {
            address: g.address.clone(),
            kind: Kind::ServerGroup,
            action,
            reason,
            diffs,
            rollout,
            fingerprint: fp.clone().filter(|_| launches),
            launch: def.clone().filter(|_| launches),
        }
    };
    let first = observed.map_or(1, ObservedGroup::next_number);
    let Some((og, newest)) = observed.and_then(|o| Some((o, o.newest()?))) else {
        let mut diffs = Vec::new();
        diffs.extend(image_diff(
            None,
            (g.image_id.clone(), g.image.clone()),
            false,
        ));
        diffs.extend(diff(
            "instance_type",
            None,
            Some(g.instance_type.clone()),
            false,
        ));
        diffs.extend(diff(
            "capacity",
            None,
            Some(format!(
                "min {} / desired {} / max {}",
                g.capacity.min, g.capacity.desired, g.capacity.max
            )),
            false,
        ));
        return Ok(base(
            Action::Create,
            format!(
                "generation v{first:03} with {} × {}",
                g.capacity.desired, g.instance_type
            ),
            diffs,
            Some(rollout_plan(stack, g, g.capacity.desired, None, first)),
        ));
    };

    let next = og.next_number();
    // A rollout left part-way: the newest generation is still rolling in. It is continued only
    // while the stack still asks for its definition; otherwise it is abandoned, never resumed.
    if newest.state == GenerationState::Rolling {
        let active = og.active();
        let from = active.map(|a| a.number);
        if def.is_none() || same(newest.fingerprint.as_deref()) {
            return Ok(base(
                Action::Resume,
                format!(
                    "a rollout to generation v{:03} stopped part-way; apply continues it",
                    newest.number
                ),
                Vec::new(),
                Some(rollout_plan(
                    stack,
                    g,
                    g.capacity.desired,
                    from,
                    newest.number,
                )),
            ));
        }
        let abandoned = newest.number;
        let (reason, mut rollout) = match active {
            // Back to what serves: the interrupted generation is rolled back.
            Some(a) if same(a.fingerprint.as_deref()) => (
                format!(
                    "the rollout to v{abandoned:03} stopped part-way and the stack asks for \
                     v{:03}'s definition again: v{abandoned:03} is drained and removed, and \
                     v{:03} serves at full capacity again",
                    a.number, a.number
                ),
                {
                    // One step: the old generation back at its size, then the new one drains.
                    let waves = vec![Wave {
                        launch: g.capacity.desired,
                        drain: newest.group.desired,
                        bake_seconds: 0,
                    }];
                    RolloutPlan {
                        estimate_seconds: estimate(&waves, g, stack),
                        waves,
                        ..rollout_plan(stack, g, g.capacity.desired, Some(abandoned), a.number)
                    }
                },
            ),
            Some(a) => (
                format!(
                    "the rollout to v{abandoned:03} stopped part-way and the stack no longer asks \
                     for its definition: v{abandoned:03} is rolled back to v{:03} first, then \
                     v{:03} → v{next:03}",
                    a.number, a.number
                ),
                rollout_plan(stack, g, g.capacity.desired, Some(a.number), next),
            ),
            None => (
                format!(
                    "the first generation v{abandoned:03} was being created from a definition \
                     the stack no longer asks for: v{next:03} is created, and v{abandoned:03} is \
                     removed once v{next:03} is healthy"
                ),
                rollout_plan(stack, g, g.capacity.desired, None, next),
            ),
        };
        rollout.abandon_generation = Some(abandoned);
        let action = match active {
            Some(_) => Action::Replace,
            None => Action::Create,
        };
        let mut change = base(action, reason, Vec::new(), Some(rollout));
        if active.is_some_and(|a| same(a.fingerprint.as_deref())) {
            // Nothing new is launched: the serving generation's definition stays.
            change.fingerprint = None;
            change.launch = None;
        }
        return Ok(change);
    }
    let Some(active) = og.active() else {
        return Ok(base(
            Action::Create,
            format!("no serving generation (only retired or failed ones); v{next:03} is created"),
            Vec::new(),
            Some(rollout_plan(stack, g, g.capacity.desired, None, next)),
        ));
    };

    // A definition that failed before: recorded on the serving generation at rollback, or as
    // a generation left in the failed state.
    let failed: Option<(String, String)> = active
        .failed
        .clone()
        .filter(|(f, _)| same(Some(f)))
        .or_else(|| {
            og.generations
                .iter()
                .find(|x| x.state == GenerationState::Failed && same(x.fingerprint.as_deref()))
                .map(|x| {
                    let fp = x.fingerprint.clone().unwrap_or_default();
                    (fp, format!("generation v{:03}", x.number))
                })
        });
    let before = og.active_launch.as_ref();
    let mut diffs: Vec<AttrDiff> = Vec::new();
    if let Some(b) = before {
        // Sets: an order that differs is no difference.
        let sg = |v: &[String]| {
            let set: BTreeSet<&str> = v.iter().map(String::as_str).collect();
            set.into_iter().collect::<Vec<_>>().join(", ")
        };
        diffs.extend(
            [
                image_diff(
                    Some((b.image_id.clone(), active.image_label(&b.image_id))),
                    (spec.image_id.clone(), g.image.clone()),
                    true,
                ),
                diff(
                    "instance_type",
                    Some(b.instance_type.clone()),
                    Some(spec.instance_type.clone()),
                    true,
                ),
                diff(
                    "user_data",
                    b.user_data.as_deref().map(short_hash),
                    spec.user_data.as_deref().map(short_hash),
                    true,
                )
                .map(|d| match stack.sensitive.user_data.contains(&g.address) {
                    // Not even a hash of it: a short one is quickly brute-forced.
                    true => redacted(d),
                    false => d,
                }),
                diff(
                    "security_groups",
                    Some(sg(&b.security_group_ids)),
                    Some(sg(&spec.security_group_ids)),
                    true,
                ),
                diff(
                    "instance_profile",
                    b.instance_profile.clone(),
                    spec.instance_profile.clone(),
                    true,
                ),
                diff("key_name", b.key_name.clone(), spec.key_name.clone(), true),
                diff(
                    "tags",
                    Some(tags_text(&b.instance_tags)),
                    Some(tags_text(&spec.instance_tags)),
                    true,
                )
                .map(|d| {
                    // A key sensitive now is redacted before too: the old value may be the
                    // secret's previous one.
                    let keys = [STACK_TAGS, g.address.as_str()];
                    let shown = |t: &Tags| tags_text(&stack.sensitive.redact_tags(&keys, t));
                    AttrDiff {
                        before: Some(shown(&b.instance_tags)),
                        after: Some(shown(&spec.instance_tags)),
                        ..d
                    }
                }),
            ]
            .into_iter()
            .flatten(),
        );
        diffs.extend(launch_option_diffs(&b.options, &spec.options));
    }
    let subnets_before = active.group.subnet_ids.join(", ");
    if fp.is_some() && !same(active.fingerprint.as_deref()) {
        let mut sorted_have = active.group.subnet_ids.clone();
        sorted_have.sort();
        let mut sorted_want = g.subnets.clone();
        sorted_want.sort();
        if sorted_have != sorted_want {
            diffs.extend(diff(
                "subnets",
                Some(subnets_before),
                Some(g.subnets.join(", ")),
                true,
            ));
        }
    }

    // Capacity: the file's desired only counts when it changed since it was last applied,
    // so that a group grown by autoscaling keeps its size.
    let current = active.group.desired;
    let file_changed = active.applied_desired != Some(g.capacity.desired);
    let mut desired = if file_changed {
        g.capacity.desired
    } else {
        current
    };
    desired = desired.clamp(g.capacity.min, g.capacity.max);
    let cap_diffs: Vec<AttrDiff> = [
        diff(
            "capacity.min",
            Some(active.group.min.to_string()),
            Some(g.capacity.min.to_string()),
            false,
        ),
        diff(
            "capacity.desired",
            Some(current.to_string()),
            Some(desired.to_string()),
            false,
        ),
        diff(
            "capacity.max",
            Some(active.group.max.to_string()),
            Some(g.capacity.max.to_string()),
            false,
        ),
    ]
    .into_iter()
    .flatten()
    // Instance mode has no group to hold a minimum and maximum: only the count matters.
    .filter(|d| g.mode == crate::stack::GroupMode::Asg || d.name == "capacity.desired")
    .collect();

    let replace = !same(active.fingerprint.as_deref());
    if replace {
        if let Some((fp, at)) = failed {
            if !force {
                return Err(PlanError::Unsupported {
                    address: g.address.clone(),
                    message: format!(
                        "this image and definition (fingerprint {fp}) failed its rollout at {at} \
                         and was rolled back; fix the image or settings, or run with --force to \
                         try it again"
                    ),
                });
            }
        }
        diffs.extend(cap_diffs);
        let rolled_back = active
            .group
            .tags
            .get(crate::cloud::tag::ROLLED_BACK)
            .filter(|v| !v.is_empty());
        let reason = if let Some(when) = rolled_back {
            format!(
                "the account was rolled back to v{:03} ({when}) by `reroll rollback`, but the \
                 stack file still asks for another definition; applying rolls forward again",
                active.number
            )
        } else if fp.is_none() {
            "the instance definition depends on values known after apply".to_string()
        } else {
            let forced: Vec<&str> = diffs
                .iter()
                .filter(|d| d.forces_replacement)
                .map(|d| d.name.as_str())
                .collect();
            if forced.is_empty() {
                "the instance definition changed".to_string()
            } else {
                format!("{} changed", forced.join(", "))
            }
        };
        return Ok(base(
            Action::Replace,
            format!("{reason}: v{:03} → v{next:03}", active.number),
            diffs,
            Some(rollout_plan(stack, g, desired, Some(active.number), next)),
        ));
    }

    // Same definition: capacity and target group attachments may still differ.
    // Instance mode registers targets itself: there are no attachments to compare.
    let attachments = match g.mode {
        crate::stack::GroupMode::Asg => {
            attachment_diff(g, &active.group.target_group_arns, observed_all)
        }
        crate::stack::GroupMode::Instances => None,
    };
    if !cap_diffs.is_empty() {
        let mut diffs = cap_diffs;
        diffs.extend(attachments);
        return Ok(base(
            Action::Resize,
            format!("capacity of v{:03} changes", active.number),
            diffs,
            None,
        ));
    }
    if let Some(d) = attachments {
        return Ok(base(
            Action::Update,
            format!("target groups of v{:03} change", active.number),
            vec![d],
            None,
        ));
    }
    Ok(base(
        Action::NoOp,
        format!(
            "v{:03} matches the stack ({} instances)",
            active.number, current
        ),
        Vec::new(),
        None,
    ))
}

/// A difference in a sensitive value: found on the values, shown as `(sensitive)`.
fn redacted(d: AttrDiff) -> AttrDiff {
    AttrDiff {
        before: d.before.map(|_| REDACTED.to_string()),
        after: d.after.map(|_| REDACTED.to_string()),
        ..d
    }
}

fn short_hash(s: &str) -> String {
    format!(
        "sha256:{}…",
        &hex::encode(Sha256::digest(s.as_bytes()))[..12]
    )
}

fn tags_text(t: &Tags) -> String {
    t.iter()
        .filter(|(k, _)| !k.starts_with("reroll:"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warnings where the stack goes beyond AWS's published default quotas.
fn quota_warnings(stack: &Stack) -> Vec<String> {
    let mut w = Vec::new();
    let mut per_tg: BTreeMap<&str, u32> = BTreeMap::new();
    for g in &stack.server_groups {
        let surge = g.rollout.max_surge.resolve(g.capacity.max, true);
        for tg in &g.target_groups {
            *per_tg.entry(tg).or_default() += g.capacity.max + surge;
        }
    }
    for (tg, n) in per_tg {
        if n > 1000 {
            w.push(format!(
                "{tg} may hold up to {n} targets during a rollout; a target group holds at most 1000"
            ));
        }
    }
    if stack.server_groups.len() * 2 > 500 {
        w.push(format!(
            "{} server groups need up to {} Auto Scaling groups during rollouts; the default quota is 500 a region",
            stack.server_groups.len(),
            stack.server_groups.len() * 2
        ));
    }
    let launches: u32 = stack.server_groups.iter().map(|g| g.capacity.desired).sum();
    if launches > 1000 {
        w.push(format!(
            "launching {launches} instances exceeds RunInstances' burst of 1000; expect about {} s more at 2 instances/s",
            (launches - 1000) / 2
        ));
    }
    w
}

#[cfg(test)]
mod tests;

/// Durations as reroll prints them everywhere (plans, summaries, simulated time): `4m 30s`,
/// `1h 2m 5s`, whole seconds.
pub fn human_duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}
