//! The rolling replacement of one server group: a new generation, wave by wave.
//!
//! Each round observes both generations (one group listing and one health call per target
//! group, whatever the number of instances), asks [`decide`] what to do, acts, and sleeps.
//! Everything it needs to continue is in the account: the new generation carries
//! `reroll:state = rolling` and `reroll:from`, old instances are classified by their target
//! registration. So a rollout killed at any point is resumed by running apply again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::activities::{self, LaunchError};
use super::decide::{decide, OldInstance, OldState, View};
use super::fleet::{self, Fleet};
use super::gates::{self, GateFailure};
use super::hooks::HookContext;
use super::progress::{Counts, Reporter};
use super::retry::Retry;
use super::{cleanup, longest_drain, stack_tags, wait, ApplyError, ApplyOptions};
use crate::cloud::{tag, Cloud, CloudError, GroupInfo, Tags, TargetHealth};
use crate::names;
use crate::observe::{GenerationState, Observed, ObservedGroup};
use crate::plan::{self, Change};
use crate::stack::{HookEvent, OnFailure, ServerGroup, Stack, Strategy};

/// Set on Ctrl-C: rollouts stop launching, finish the drains in flight and return.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Processes that would fight a rollout: rebalancing, alarm-driven and scheduled scaling; on
/// the old generation also health-check replacement (its drained instances must not be
/// replaced).
pub(super) const SUSPEND_NEW: &[&str] = &["AZRebalance", "AlarmNotification", "ScheduledActions"];
pub(super) const SUSPEND_OLD: &[&str] = &[
    "AZRebalance",
    "AlarmNotification",
    "ScheduledActions",
    "ReplaceUnhealthy",
    "HealthCheck",
];

/// How a finished rollout went, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    /// Waves of the plan's schedule got through ([`plan::waves_through`]).
    pub waves: u32,
    pub duration: Duration,
}

/// The two generations a rollout moves between.
pub(super) struct Pair {
    pub(super) old: GroupInfo,
    pub(super) old_number: u32,
    /// How to grow the new generation.
    pub(super) new_gen: fleet::Generation,
    pub(super) new_name: String,
    pub(super) new_number: u32,
    /// The old group's capacity before the rollout: what a rollback restores.
    pub(super) from_capacity: (u32, u32, u32),
    pub(super) target_group_arns: Vec<String>,
}

/// Replaces (or resumes replacing) one server group.
pub async fn roll(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<RolloutReport, ApplyError> {
    let started = Instant::now();
    let rollout = planned_rollout(g, change)?;
    let og = super::observed_group(observed, g)?;
    super::serving_generation(og, g)?;
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = prepare(&fleet, stack, g, change, og).await?;
    let desired = rollout.desired;
    let (surge, unavailable) = (rollout.max_surge, rollout.max_unavailable);
    let new_max = g.capacity.max.max(desired);
    let reporter = Reporter::new(
        &opts.progress,
        &g.address,
        Some(pair.old_number),
        pair.new_number,
        rollout,
        started,
    );
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    let ended = cleanup::scoped(&fleet, &g.address, &generations, opts, async {
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        let old = retry
            .run(async || fleet.find(&pair.old.name).await)
            .await?
            .ok_or_else(|| ApplyError::Changed {
                resource: g.address.clone(),
                message: format!(
                    "its serving generation {} is no longer in the account (deleted, or its {} \
                     tag changed, since the plan was made). Nothing was changed; run plan again",
                    pair.old.name,
                    tag::STACK
                ),
            })?;
        retry
            .run(async || suspend_both(&fleet, &old, &pair).await)
            .await?;

        let result = async {
            // Before the first launch (also when resuming a rollout that launched nothing yet).
            let launched = retry
                .run(async || fleet.find(&pair.new_name).await)
                .await?
                .is_some_and(|n| n.desired > 0 || !n.instances.is_empty());
            if !launched {
                let ctx = retry
                    .run(async || hook_context(cloud, stack, g, og, &pair, 0, &[]).await)
                    .await?;
                gates::run_hooks(stack, g, HookEvent::BeforeRollout, &ctx).await?;
            }
            Rounds::new(
                &fleet,
                stack,
                g,
                &pair,
                og,
                opts,
                stop,
                &reporter,
                (desired, surge, unavailable, new_max),
                retry,
            )
            .await?
            .run()
            .await
        }
        .await;
        if let Err(Failure::Unhealthy(_)) = &result {
            reporter.activity(Some(match g.rollout.on_failure {
                OnFailure::Rollback => "rolling back".into(),
                OnFailure::Pause => "stopping part-way".into(),
            }));
        }
        match result {
            Ok(Outcome::Done) => {
                finish(&fleet, g, og, &pair, desired, opts).await?;
                Ok(RolloutReport {
                    address: g.address.clone(),
                    from: Some(pair.old_number),
                    to: pair.new_number,
                    waves: reporter.waves(),
                    duration: started.elapsed(),
                })
            }
            Ok(Outcome::Stopped) => Err(ApplyError::Interrupted {
                address: g.address.clone(),
                message: format!(
                    "stopped between waves: v{:03} and v{:03} both serve, nothing is half-drained",
                    pair.old_number, pair.new_number
                ),
            }),
            Err(Failure::Cloud(e)) => Err(e.into()),
            Err(Failure::Changed(what)) => {
                let left = match old_back_in_service(&fleet, &pair).await {
                    Ok(true) => format!(
                        "Nothing more was launched or drained, and v{:03} is back at its {} \
                         instances in rotation.",
                        pair.old_number, pair.from_capacity.1
                    ),
                    Ok(false) => format!(
                        "Nothing more was launched or drained; v{:03} and v{:03} are left as \
                         they are.",
                        pair.old_number, pair.new_number
                    ),
                    Err(e) => format!(
                        "Nothing more was launched or drained; bringing v{:03} back to its {} \
                         instances failed too ({e}).",
                        pair.old_number, pair.from_capacity.1
                    ),
                };
                Err(ApplyError::changed_mid_rollout(&g.address, &what, &left))
            }
            Err(Failure::Unhealthy(message)) => {
                fail(&fleet, stack, g, &pair, message, unavailable, opts).await
            }
        }
    })
    .await;
    reporter.finish(match &ended {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    });
    ended
}

/// After the account changed under a rollout: if the old generation is still the stack's, its
/// instances go back into rotation and it grows back to its size before the rollout, so that
/// what serves does not depend on a generation someone else is changing. True when it did.
async fn old_back_in_service(fleet: &Fleet<'_>, pair: &Pair) -> Result<bool, CloudError> {
    let Some(old) = fleet
        .find(&pair.old.name)
        .await?
        .filter(|g| g.status.is_none())
    else {
        return Ok(false);
    };
    let alive: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        match fleet.cloud.register_targets(arn, &alive).await {
            Err(e) if e.is_not_found() => {}
            other => other?,
        }
    }
    let (min, desired, max) = pair.from_capacity;
    if fleet.instances_mode() || old.desired >= desired {
        return Ok(!alive.is_empty());
    }
    tracing::warn!(group = %old.name, desired, "bringing the old generation back to its size");
    fleet
        .cloud
        .set_group_capacity(&old.name, min, desired, max.max(desired))
        .await?;
    Ok(true)
}

/// The rollout plan of a Replace or Resume change.
pub(super) fn planned_rollout<'a>(
    g: &ServerGroup,
    change: &'a Change,
) -> Result<&'a plan::RolloutPlan, ApplyError> {
    change.rollout.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!(
            "{}: the plan's {:?} carries no rollout; run plan again",
            g.address, change.action
        ))
    })
}

/// Suspends what would fight the rollout on both generations, and lets the old group shrink.
async fn suspend_both(fleet: &Fleet<'_>, old: &GroupInfo, pair: &Pair) -> Result<(), CloudError> {
    cleanup::suspend(fleet, old, SUSPEND_OLD).await?;
    if let Some(new_info) = fleet.find(&pair.new_name).await? {
        cleanup::suspend(fleet, &new_info, SUSPEND_NEW).await?;
    }
    // The old group shrinks by detaching with decrement: its minimum must allow that.
    if old.min > 0 && !fleet.instances_mode() {
        fleet
            .cloud
            .set_group_capacity(&old.name, 0, old.desired, old.max)
            .await?;
    }
    Ok(())
}

/// Creates the new generation (Replace) or finds it (Resume).
pub(super) async fn prepare(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    og: &ObservedGroup,
) -> Result<Pair, ApplyError> {
    let cloud = fleet.cloud;
    let old = og.active().ok_or_else(|| {
        ApplyError::Unsupported(format!("{}: no serving generation to replace", g.address))
    })?;
    let target_group_arns = fleet.target_group_arns.clone();
    if target_group_arns
        .iter()
        .any(|a| crate::stack::is_unknown(a))
    {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist",
            g.address
        )));
    }
    if let Some(new) = og
        .generations
        .iter()
        .rev()
        .find(|x| x.state == GenerationState::Rolling)
    {
        let from = parse_from(new.group.tags.get(tag::FROM)).unwrap_or((
            old.group.min,
            old.group.desired,
            old.group.max,
        ));
        tracing::info!(address = %g.address, from = %old.group.name, to = %new.group.name, "resuming rollout");
        return Ok(Pair {
            old: old.group.clone(),
            old_number: old.number,
            new_gen: fleet::Generation::of(&new.group),
            new_name: new.group.name.clone(),
            new_number: new.number,
            from_capacity: from,
            target_group_arns,
        });
    }
    let number = change
        .rollout
        .as_ref()
        .map_or(old.number + 1, |r| r.to_generation);
    let def = super::planned_definition(g, change)?;
    let spec = &def.spec;
    let fingerprint = def.fingerprint.clone();
    let lt = og.launch_template.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!("{}: its launch template is missing", g.address))
    })?;
    let version = cloud.create_launch_template_version(&lt.id, spec).await?;
    let name = names::generation_group_name(&stack.name, &g.key, number);
    let from = (old.group.min, old.group.desired, old.group.max);
    let mut tags = stack_tags(stack, &g.address);
    tags.extend(g.tags.clone());
    tags.insert(tag::GROUP.into(), g.key.clone());
    tags.insert(tag::GENERATION.into(), number.to_string());
    tags.insert(tag::FINGERPRINT.into(), fingerprint);
    tags.insert(tag::STATE.into(), GenerationState::Rolling.as_str().into());
    tags.insert(tag::DESIRED.into(), g.capacity.desired.to_string());
    tags.extend(def.image_tags());
    tags.insert(
        tag::FROM.into(),
        format!("{} {}/{}/{}", old.group.name, from.0, from.1, from.2),
    );
    tracing::info!(
        address = %g.address, from = %old.group.name, to = %name, image = %spec.image_id,
        "creating the new generation"
    );
    let tags = if fleet.instances_mode() {
        fleet::fleet_tags(tags, &name, &lt.id, &version.to_string())
    } else {
        tags
    };
    let new_gen = fleet::Generation {
        name: name.clone(),
        launch_template_id: Some(lt.id.clone()),
        launch_template_version: Some(version.to_string()),
        tags: tags.clone(),
    };
    if !fleet.instances_mode() {
        super::adopt::creating(cloud, &stack.name)
            .create_group(&fleet::group_spec(
                def,
                g,
                &name,
                (&lt.id, &version.to_string()),
                (0, 0, g.capacity.max.max(from.1)),
                &target_group_arns,
                tags,
            ))
            .await?;
    }
    Ok(Pair {
        old: old.group.clone(),
        old_number: old.number,
        new_gen,
        new_name: name,
        new_number: number,
        from_capacity: from,
        target_group_arns,
    })
}

/// The `min/desired/max` a `reroll:from` tag records.
pub(crate) fn parse_from(tag: Option<&String>) -> Option<(u32, u32, u32)> {
    let (_, cap) = tag?.split_once(' ')?;
    let mut parts = cap.split('/').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

enum Outcome {
    Done,
    Stopped,
}

enum Failure {
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
struct Look {
    view: View,
    new: GroupInfo,
    new_unhealthy: Vec<String>,
    /// New targets their target group does not health check.
    unused: Vec<activities::Unused>,
}

/// Target health of every target group, read at the same time; a target group that no
/// longer exists is a change to the account, not a cloud error.
async fn health_of(
    cloud: &dyn Cloud,
    arns: &[String],
) -> Result<HashMap<String, Vec<TargetHealth>>, Failure> {
    let reads = arns.iter().map(|arn| async move {
        match cloud.target_health(arn).await {
            Ok(h) => Ok((arn.clone(), h)),
            Err(e) if e.is_not_found() => Err(Failure::Changed(format!(
                "its target group {arn} no longer exists"
            ))),
            Err(e) => Err(Failure::Cloud(e)),
        }
    });
    Ok(futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .collect())
}

/// One look at both generations: the groups and the target health, read at once.
/// `deregistered` are old instances this rollout deregistered moments ago: they count as
/// draining even while target health still reports them healthy.
#[allow(clippy::too_many_arguments)]
async fn look(
    fleet: &Fleet<'_>,
    pair: &Pair,
    desired: u32,
    surge: u32,
    unavailable: u32,
    stopping: bool,
    deregistered: &HashMap<String, Instant>,
) -> Result<Look, Failure> {
    let (groups, health) = tokio::try_join!(
        async { fleet.generations().await.map_err(Failure::Cloud) },
        health_of(fleet.cloud, &pair.target_group_arns),
    )?;
    if let Some(new) = groups.iter().find(|g| g.name == pair.new_name) {
        let registered = |arn: &str, id: &str| {
            health
                .get(arn)
                .is_some_and(|h| h.iter().any(|t| t.id == id && t.state != "unused"))
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
    // Indexed once per round, so a round stays linear in the number of instances.
    let index: Vec<HashMap<&str, &str>> = pair
        .target_group_arns
        .iter()
        .map(|arn| {
            health
                .get(arn)
                .into_iter()
                .flatten()
                .map(|t| (t.id.as_str(), t.state.as_str()))
                .collect()
        })
        .collect();
    let states =
        |id: &str| -> Vec<Option<&str>> { index.iter().map(|tg| tg.get(id).copied()).collect() };
    let no_tgs = pair.target_group_arns.is_empty();
    let old_instances: Vec<OldInstance> = old
        .map(|o| {
            o.instances
                .iter()
                // Instances on their way out by the group's own hand (scaled in by someone
                // else, or detached) are not the rollout's to count on or to act on.
                .filter(|i| {
                    !i.lifecycle_state.starts_with("Detach")
                        && !i.lifecycle_state.starts_with("Terminat")
                })
                .map(|i| {
                    let in_service =
                        i.lifecycle_state == "InService" && i.health_status == "Healthy";
                    let s = states(&i.id);
                    let state = if no_tgs {
                        if in_service {
                            OldState::Serving
                        } else {
                            OldState::Registered
                        }
                    } else if s.iter().all(|x| *x == Some("healthy")) && in_service {
                        OldState::Serving
                    } else if s.contains(&Some("draining")) {
                        OldState::Draining
                    } else if s.iter().all(|x| matches!(x, None | Some("unused"))) {
                        if i.lifecycle_state.starts_with("Pending") {
                            OldState::Registered
                        } else {
                            OldState::Drained
                        }
                    } else {
                        OldState::Registered
                    };
                    // Target health may lag a deregistration: what was just deregistered
                    // drains, whatever health says yet.
                    let state = match state {
                        OldState::Serving | OldState::Registered
                            if deregistered.contains_key(&i.id) =>
                        {
                            OldState::Draining
                        }
                        state => state,
                    };
                    OldInstance {
                        id: i.id.clone(),
                        state,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut new_healthy = 0;
    let mut new_unhealthy = Vec::new();
    {
        let n = &new;
        for i in &n.instances {
            let in_service = i.lifecycle_state == "InService" && i.health_status == "Healthy";
            let s = states(&i.id);
            if in_service && s.iter().all(|x| *x == Some("healthy")) {
                new_healthy += 1;
            } else {
                let why = s
                    .iter()
                    .zip(&pair.target_group_arns)
                    .find(|(x, _)| **x != Some("healthy"))
                    .map(|(x, _)| x.unwrap_or("not registered").to_string())
                    .unwrap_or_else(|| i.lifecycle_state.clone());
                new_unhealthy.push(format!("{} is {why}", i.id));
            }
        }
    }
    Ok(Look {
        view: View {
            desired,
            max_surge: surge,
            max_unavailable: unavailable,
            new_desired: new.desired,
            new_healthy,
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
    })
}

/// What hooks are told: both generations, and the new instances with their private IPs
/// (one DescribeInstances call, only when a hook is about to run).
pub(super) async fn hook_context(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    og: &ObservedGroup,
    pair: &Pair,
    wave: u32,
    new_ids: &[String],
) -> Result<HookContext, CloudError> {
    let mut ips = Vec::new();
    if !new_ids.is_empty() {
        let by_id: HashMap<String, Option<String>> = cloud
            .list_instances(&stack.name)
            .await?
            .into_iter()
            .map(|i| (i.id, i.private_ip))
            .collect();
        ips = new_ids
            .iter()
            .filter_map(|id| by_id.get(id).cloned().flatten())
            .collect();
    }
    Ok(HookContext {
        stack: stack.name.clone(),
        group: g.address.clone(),
        old_generation: Some(pair.old.name.clone()),
        new_generation: pair.new_name.clone(),
        old_ami: og.active_launch.as_ref().map(|l| l.image_id.clone()),
        new_ami: g.image_id.clone(),
        wave,
        new_instance_ids: new_ids.to_vec(),
        new_private_ips: ips,
        traffic_percent: None,
    })
}

/// The new generation's instances, healthy ones first.
fn new_ids(l: &Look) -> Vec<String> {
    l.new.instances.iter().map(|i| i.id.clone()).collect()
}

/// What a round asks for next.
enum Next {
    /// Wait a poll, then look again.
    Poll,
    /// Look again after a short moment: drains just started and freed room to launch.
    Soon,
    Finished(Outcome),
}

/// The rounds of one rollout and everything they remember between looks.
struct Rounds<'a> {
    fleet: &'a Fleet<'a>,
    stack: &'a Stack,
    g: &'a ServerGroup,
    pair: &'a Pair,
    og: &'a ObservedGroup,
    opts: &'a ApplyOptions,
    stop: &'a Stop,
    /// What the live view and the report are told, waves counted.
    reporter: &'a Reporter,
    desired: u32,
    surge: u32,
    unavailable: u32,
    new_max: u32,
    retry: Retry,
    checkpoints: Vec<u32>,
    /// The largest checkpoint whose bake passed.
    baked: u32,
    after_wave: bool,
    /// New instances healthy when the after_wave hooks last passed.
    hooked: u32,
    max_drain: Duration,
    /// The health deadline runs from here: set when new instances are asked for and whenever
    /// more become healthy.
    waiting_since: Instant,
    last_healthy: u32,
    draining_since: HashMap<String, Instant>,
    /// Old instances this rollout deregistered, and when.
    deregistered: HashMap<String, Instant>,
    /// Old instances detached and not yet terminated.
    detached: Vec<String>,
    last_progress: String,
    /// Signs that the new generation cannot come up (launches failing, targets unused).
    watch: activities::Watch,
}

impl<'a> Rounds<'a> {
    #[allow(clippy::too_many_arguments)]
    async fn new(
        fleet: &'a Fleet<'a>,
        stack: &'a Stack,
        g: &'a ServerGroup,
        pair: &'a Pair,
        og: &'a ObservedGroup,
        opts: &'a ApplyOptions,
        stop: &'a Stop,
        reporter: &'a Reporter,
        (desired, surge, unavailable, new_max): (u32, u32, u32, u32),
        mut retry: Retry,
    ) -> Result<Rounds<'a>, Failure> {
        let checkpoints = if g.rollout.strategy == Strategy::Canary {
            g.rollout.canary.checkpoints(desired)
        } else {
            Vec::new()
        };
        let baked: u32 = retry
            .run(async || fleet.find(&pair.new_name).await)
            .await?
            .and_then(|n| n.tags.get(tag::BAKED)?.parse().ok())
            .unwrap_or(0);
        Ok(Rounds {
            fleet,
            stack,
            g,
            pair,
            og,
            opts,
            stop,
            reporter,
            desired,
            surge,
            unavailable,
            new_max,
            retry,
            checkpoints,
            baked,
            after_wave: !stack.hooks_for(g, HookEvent::AfterWave).is_empty(),
            hooked: 0,
            max_drain: longest_drain(stack, g),
            waiting_since: Instant::now(),
            last_healthy: 0,
            draining_since: HashMap::new(),
            deregistered: HashMap::new(),
            detached: Vec::new(),
            last_progress: String::new(),
            watch: activities::Watch::new(fleet.cloud, &pair.new_name, !fleet.instances_mode()),
        })
    }

    /// Round after round until done, stopped or failed. A round that fails with a transient
    /// cloud error is looked at afresh after a backoff: what it did is in the account, and the
    /// next look decides again from there.
    async fn run(mut self) -> Result<Outcome, Failure> {
        // Soon after starting drains, but never without a wait.
        let soon = self.opts.poll.min(Duration::from_secs(1));
        loop {
            match self.round().await {
                Ok(Next::Finished(outcome)) => return Ok(outcome),
                Ok(Next::Poll) => {
                    self.retry.succeeded();
                    tokio::time::sleep(self.opts.poll).await;
                }
                Ok(Next::Soon) => {
                    self.retry.succeeded();
                    tokio::time::sleep(soon).await;
                }
                // "Not found" in the middle of a round: was a generation or a target group
                // deleted or retagged under us? A fresh look says.
                Err(Failure::Cloud(e)) if e.is_not_found() => {
                    return Err(match self.look(false).await {
                        Err(changed @ Failure::Changed(_)) => changed,
                        _ => Failure::Cloud(e),
                    })
                }
                Err(Failure::Cloud(e)) => self.retry.pause(e).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Detaches old instances from their generation and terminates them.
    async fn release(&mut self, ids: &[String]) -> Result<(), CloudError> {
        self.fleet.detach(&self.pair.old.name, ids).await?;
        self.detached.extend(ids.iter().cloned());
        self.terminate_detached().await
    }

    async fn terminate_detached(&mut self) -> Result<(), CloudError> {
        if self.detached.is_empty() {
            return Ok(());
        }
        self.fleet.cloud.terminate_instances(&self.detached).await?;
        self.detached.clear();
        Ok(())
    }

    async fn look(&self, stopping: bool) -> Result<Look, Failure> {
        look(
            self.fleet,
            self.pair,
            self.desired,
            self.surge,
            self.unavailable,
            stopping,
            &self.deregistered,
        )
        .await
    }

    /// One look, one decision, its actions.
    async fn round(&mut self) -> Result<Next, Failure> {
        let (fleet, stack, g, pair, og) = (self.fleet, self.stack, self.g, self.pair, self.og);
        let (desired, stop, opts) = (self.desired, self.stop, self.opts);
        let cloud = fleet.cloud;
        let alarms = &g.rollout.health.alarms;
        let timeout = g.rollout.health.timeout;
        // A terminate that failed after its detach, last round.
        self.terminate_detached().await?;
        let mut l = self.look(stop.requested()).await?;
        if let Some(why) = self.watch.check(cloud, Some(&l.new), &l.unused).await {
            return Err(Failure::Unhealthy(why));
        }
        gates::check_alarms(cloud, alarms).await?;
        let cap = self.checkpoints.iter().copied().find(|&c| c > self.baked);
        l.view.cap = cap;

        // after_wave: once every launched instance is healthy, before old ones drain for it.
        let healthy = l.view.new_healthy;
        if self.after_wave
            && healthy > self.hooked
            && healthy >= l.view.new_desired
            && !stop.requested()
        {
            let wave = self.reporter.wave_healthy(healthy);
            let ctx = hook_context(cloud, stack, g, og, pair, wave, &new_ids(&l)).await?;
            gates::run_hooks(stack, g, HookEvent::AfterWave, &ctx).await?;
            self.hooked = healthy;
        }
        if self.after_wave {
            l.view.new_healthy = l.view.new_healthy.min(self.hooked);
        }
        let mut d = decide(&l.view);
        l.view.new_healthy = healthy;

        if d.at_checkpoint && !stop.requested() {
            let cap = cap.unwrap_or(desired);
            let what = if self.baked == 0 {
                format!(
                    "the canary ({cap} new instance{})",
                    if cap == 1 { "" } else { "s" }
                )
            } else {
                format!("checkpoint {cap}/{desired}")
            };
            self.reporter.activity(Some(format!(
                "baking {what} for {}",
                plan::human_duration(g.rollout.canary.bake.as_secs())
            )));
            let this = &*self;
            let mut retry = Retry::new(&g.address, opts, timeout);
            let completed = gates::bake(
                &what,
                &g.address,
                g.rollout.canary.bake,
                opts.poll,
                stop,
                &mut retry,
                async || {
                    let l = this.look(false).await.map_err(|e| match e {
                        Failure::Cloud(e) => GateFailure::Cloud(e),
                        Failure::Unhealthy(m) => GateFailure::Failed(m),
                        Failure::Changed(m) => GateFailure::Changed(m),
                    })?;
                    if l.view.new_healthy < cap {
                        let mut detail = l.new_unhealthy.clone();
                        detail.truncate(5);
                        return Err(GateFailure::Failed(format!(
                            "{what} went unhealthy while baking: {} of {cap} healthy ({})",
                            l.view.new_healthy,
                            detail.join(", ")
                        )));
                    }
                    gates::check_alarms(cloud, alarms).await
                },
            )
            .await?;
            self.reporter.activity(None);
            if completed {
                self.baked = cap;
                let mut t = Tags::new();
                t.insert(tag::BAKED.into(), cap.to_string());
                fleet.tag(&pair.new_name, &t).await?;
            }
            return Ok(Next::Soon);
        }

        // Drains stuck past the deregistration delay (and a minute) are finished anyway.
        let now = Instant::now();
        let max_drain = self.max_drain;
        for o in &l.view.old {
            if o.state == OldState::Draining {
                let since = *self.draining_since.entry(o.id.clone()).or_insert(now);
                if now.duration_since(since) > max_drain + Duration::from_secs(60) {
                    tracing::warn!(instance = %o.id, "still draining past the deregistration delay; terminating it");
                    d.finish.push(o.id.clone());
                }
            }
        }

        let progress = format!(
            "new {}/{} healthy, old {} serving, {} draining",
            l.view.new_healthy,
            desired,
            l.view
                .old
                .iter()
                .filter(|o| o.state == OldState::Serving)
                .count(),
            l.view
                .old
                .iter()
                .filter(|o| matches!(o.state, OldState::Draining | OldState::Drained))
                .count(),
        );
        self.reporter.counts(Counts::after(&l.view, &d));
        if progress != self.last_progress {
            tracing::info!(address = %g.address, group = %pair.new_name, "{progress}");
            let mut t = Tags::new();
            t.insert(tag::PROGRESS.into(), progress.clone());
            fleet.tag(&pair.new_name, &t).await?;
            self.last_progress = progress;
        }

        if !d.finish.is_empty() {
            tracing::info!(address = %g.address, count = d.finish.len(), "terminating drained old instances");
            self.release(&d.finish).await?;
            for id in &d.finish {
                self.draining_since.remove(id);
                self.deregistered.remove(id);
            }
        }
        // What target health now shows draining or gone needs no override any more.
        for o in &l.view.old {
            if o.state == OldState::Drained {
                self.deregistered.remove(&o.id);
            }
        }
        if d.done {
            let wave = self.reporter.waves();
            let ctx = hook_context(cloud, stack, g, og, pair, wave, &new_ids(&l)).await?;
            gates::run_hooks(stack, g, HookEvent::AfterRollout, &ctx).await?;
            return Ok(Next::Finished(Outcome::Done));
        }
        if d.stopped {
            // Freeze the new generation where it is.
            let launched = l.new.instances.len() as u32;
            if l.new.desired > launched && !fleet.instances_mode() {
                fleet
                    .set_capacity(&pair.new_gen, 0, launched, self.new_max)
                    .await?;
            }
            return Ok(Next::Finished(Outcome::Stopped));
        }
        if let Some(n) = d.set_new_desired {
            tracing::info!(address = %g.address, group = %pair.new_name, desired = n, "launching new instances");
            let launched = fleet.set_capacity(&pair.new_gen, 0, n, self.new_max).await;
            launched.map_err(activities::launch_error)?;
            self.waiting_since = Instant::now();
        }
        if !d.drain.is_empty() {
            tracing::info!(address = %g.address, count = d.drain.len(), "draining old instances");
            if pair.target_group_arns.is_empty() {
                self.release(&d.drain).await?;
            } else {
                for arn in &pair.target_group_arns {
                    cloud.deregister_targets(arn, &d.drain).await?;
                }
                let now = Instant::now();
                for id in &d.drain {
                    self.deregistered.insert(id.clone(), now);
                }
            }
            // Draining instances no longer hold surge: look again soon, so the next wave
            // launches now rather than a poll later.
            if !stop.requested() {
                return Ok(Next::Soon);
            }
        }

        // Health deadline: new instances must become healthy within the timeout of being
        // asked for; any progress restarts the clock.
        if l.view.new_healthy > self.last_healthy {
            self.last_healthy = l.view.new_healthy;
            self.waiting_since = Instant::now();
        }
        let owed = l.view.new_desired.max(d.set_new_desired.unwrap_or(0));
        if l.view.new_healthy < owed && self.waiting_since.elapsed() > timeout {
            let mut detail = l.new_unhealthy.clone();
            detail.truncate(5);
            return Err(Failure::Unhealthy(format!(
                "{} of {} new instances healthy after {}{}",
                l.view.new_healthy,
                owed,
                humantime::format_duration(timeout),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", detail.join(", "))
                }
            )));
        }
        Ok(Next::Poll)
    }
}

/// The rollout succeeded: the new generation serves, the old one is retired or removed, and
/// generations beyond `keep_previous` go. Each call is retried after transient errors.
pub(super) async fn finish(
    fleet: &Fleet<'_>,
    g: &ServerGroup,
    og: &ObservedGroup,
    pair: &Pair,
    desired: u32,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
    let (min, max) = (g.capacity.min.min(desired), g.capacity.max.max(desired));
    retry
        .run(async || fleet.set_capacity(&pair.new_gen, min, desired, max).await)
        .await?;
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    t.insert(
        tag::PROGRESS.into(),
        format!("rolled out: {desired} healthy"),
    );
    // The commit point: from here the new generation serves. What follows retires the old
    // one and must not be left half-done, so refusals are tried again too.
    retry
        .run(async || fleet.tag(&pair.new_name, &t).await)
        .await?;
    if !fleet.instances_mode() {
        retry
            .persist(async || {
                cloud
                    .set_group_capacity(&pair.old.name, 0, 0, pair.old.max)
                    .await
            })
            .await?;
    }
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Retired.as_str().into());
    t.insert(tag::ROLLED_BACK.into(), String::new());
    retry
        .persist(async || fleet.tag(&pair.old.name, &t).await)
        .await?;

    // Retention: keep the newest `keep_previous` retired generations.
    let mut retired: Vec<(u32, String, Option<String>)> = og
        .generations
        .iter()
        .filter(|x| x.number != pair.new_number && x.state != GenerationState::Rolling)
        .map(|x| {
            (
                x.number,
                x.group.name.clone(),
                x.group.launch_template_version.clone(),
            )
        })
        .collect();
    // The generation that served until now comes first (after a rollback it is older than the
    // one rolled back from), then the newest.
    retired.sort_by_key(|r| (r.0 != pair.old_number, std::cmp::Reverse(r.0)));
    let doomed: Vec<(u32, String, Option<String>)> = retired
        .into_iter()
        .skip(g.rollout.keep_previous as usize)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = doomed.iter().map(|d| d.1.clone()).collect();
    for name in &names {
        tracing::info!(address = %g.address, group = %name, "removing a generation beyond keep_previous");
        retry
            .run(async || match fleet.delete(name).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            })
            .await?;
    }
    if !fleet.instances_mode() {
        let limit = Duration::from_secs(900);
        wait::wait_groups_gone(cloud, fleet.stack, &names, limit, opts.poll, &mut retry).await?;
        // Blue/green generations take their own target groups with them.
        let numbers: Vec<String> = doomed.iter().map(|d| d.0.to_string()).collect();
        let copies = retry
            .run(async || {
                cloud
                    .list_target_groups(fleet.stack, &names::elb_prefix(fleet.stack))
                    .await
            })
            .await?;
        for tg in copies.iter().filter(|t| {
            t.tags.contains_key(tag::COPY_OF)
                && t.tags.get(tag::GROUP) == Some(&g.key)
                && t.tags
                    .get(tag::GENERATION)
                    .is_some_and(|n| numbers.contains(n))
        }) {
            tracing::info!(address = %g.address, target_group = %tg.spec.name, "removing the target group of a removed generation");
            if let Err(e) = cloud.delete_target_group(&tg.arn).await {
                tracing::warn!(target_group = %tg.spec.name, error = %e, "could not delete target group");
            }
        }
    }
    // Launch template versions of removed generations: only worth a call once they pile up
    // (a template holds up to 10,000).
    if let Some(lt) = og
        .launch_template
        .as_ref()
        .filter(|lt| lt.latest_version >= 20)
    {
        let versions: Vec<i64> = doomed
            .iter()
            .filter_map(|d| d.2.as_deref()?.parse().ok())
            .collect();
        if let Err(e) = cloud
            .delete_launch_template_versions(&lt.id, &versions)
            .await
        {
            tracing::warn!(error = %e, "could not delete old launch template versions");
        }
    }
    Ok(())
}

/// New instances did not become healthy: roll back or pause, as the group says. (Whatever
/// happens, the processes the rollout suspended are restored by its cleanup.)
async fn fail(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    message: String,
    unavailable: u32,
    opts: &ApplyOptions,
) -> Result<RolloutReport, ApplyError> {
    tracing::error!(address = %g.address, "rollout failed: {message}");
    if g.rollout.on_failure == OnFailure::Pause {
        // Launch nothing more; both generations keep serving.
        if let (Ok(Some(n)), false) = (fleet.find(&pair.new_name).await, fleet.instances_mode()) {
            let launched = n.instances.len() as u32;
            let _ = fleet
                .cloud
                .set_group_capacity(&pair.new_name, 0, launched.min(n.desired), n.max)
                .await;
        }
        return Err(ApplyError::Paused {
            address: g.address.clone(),
            message: format!(
                "{message}. v{:03} and v{:03} both serve. Fix the cause and run apply again to \
                 continue, or change the stack back to roll forward from v{:03}",
                pair.old_number, pair.new_number, pair.old_number
            ),
        });
    }
    match rollback(fleet, stack, g, pair, unavailable, opts, Removal::Failed).await {
        Ok(()) => Err(ApplyError::RolledBack {
            address: g.address.clone(),
            message,
        }),
        Err(e) => Err(ApplyError::Paused {
            address: g.address.clone(),
            message: format!("{message}; the rollback failed too: {e}"),
        }),
    }
}

/// Why a new generation is taken away again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    /// Its rollout failed: the definition is recorded as failed, so the next plan refuses it.
    Failed,
    /// The stack no longer asks for it (an interrupted rollout, then the stack changed):
    /// nothing failed, nothing is recorded.
    Withdrawn,
}

/// Restores the old generation's capacity, waits until it is healthy, drains and removes the
/// new generation, and (for a failure) records the failed definition on the old one. Each
/// call is retried after transient errors.
async fn rollback(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    unavailable: u32,
    opts: &ApplyOptions,
    removal: Removal,
) -> Result<(), ApplyError> {
    tracing::warn!(address = %g.address, to = %pair.old.name, "rolling back");
    let cloud = fleet.cloud;
    let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
    let (min, desired, max) = pair.from_capacity;
    let disappeared =
        || ApplyError::Unsupported(format!("generation {} disappeared", pair.new_name));
    let new = retry
        .run(async || fleet.find(&pair.new_name).await)
        .await?
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(disappeared)?;
    if !fleet.instances_mode() {
        let launched = new.instances.len().min(new.desired as usize) as u32;
        retry
            .run(async || {
                cloud
                    .set_group_capacity(&pair.new_name, 0, launched, new.max)
                    .await
            })
            .await?;
    }
    // Old instances still alive go back into rotation; what is missing is launched again.
    let old = retry
        .run(async || fleet.find(&pair.old.name).await)
        .await?
        .unwrap_or_else(|| pair.old.clone());
    let alive: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        retry
            .run(async || cloud.register_targets(arn, &alive).await)
            .await?;
    }
    let mut old_gen = fleet::Generation::of(&pair.old);
    old_gen.tags = pair.old.tags.clone();
    retry
        .run(async || fleet.set_capacity(&old_gen, min, desired, max).await)
        .await?;
    let waits = [wait::HealthWait {
        address: g.address.clone(),
        group_name: pair.old.name.clone(),
        desired: desired.saturating_sub(unavailable).max(1).min(desired),
        target_group_arns: pair.target_group_arns.clone(),
        is_new: false,
        fleet: fleet.instances_mode(),
    }];
    let outcome = wait::wait_healthy(
        cloud,
        &stack.name,
        &waits,
        g.rollout.health.timeout,
        opts.poll,
        &mut retry,
    )
    .await?;
    if let Some((_, why)) = outcome.failures.into_iter().next() {
        return Err(ApplyError::Unsupported(format!(
            "the old generation did not become healthy again: {why}"
        )));
    }
    // Drain the new generation before removing it.
    let new = retry
        .run(async || fleet.find(&pair.new_name).await)
        .await?
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(disappeared)?;
    let ids: Vec<String> = new.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        retry
            .run(async || cloud.deregister_targets(arn, &ids).await)
            .await?;
    }
    let limit = longest_drain(stack, g) + Duration::from_secs(60);
    wait::drained(
        cloud,
        &pair.target_group_arns,
        &ids,
        limit,
        opts.poll,
        &mut retry,
    )
    .await?;
    retry
        .run(async || mark_removed(fleet, pair, removal).await)
        .await?;
    retry
        .run(async || match fleet.delete(&pair.new_name).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        })
        .await?;
    retry
        .run(async || match removal {
            Removal::Failed => remember_failure(fleet, pair, Some(&new)).await,
            Removal::Withdrawn => serves_again(fleet, pair).await,
        })
        .await?;
    tracing::info!(address = %g.address, serving = %pair.old.name, "rolled back");
    Ok(())
}

/// Marks the new generation, before it is deleted, so that while AWS deletes it it is not
/// taken for a rollout to resume: failed, or retired when it was withdrawn.
pub(super) async fn mark_removed(
    fleet: &Fleet<'_>,
    pair: &Pair,
    removal: Removal,
) -> Result<(), CloudError> {
    match removal {
        Removal::Failed => mark_failed(fleet, pair).await,
        Removal::Withdrawn => {
            let mut t = Tags::new();
            t.insert(tag::STATE.into(), GenerationState::Retired.as_str().into());
            fleet.tag(&pair.new_name, &t).await
        }
    }
}

/// The old generation serves again after a withdrawn rollout.
pub(super) async fn serves_again(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    fleet.tag(&pair.old.name, &t).await
}

/// Abandons an interrupted rollout whose definition the stack no longer asks for: the
/// generation that served before it is restored to its size before the rollout and waited on
/// until healthy, then the interrupted generation is drained and removed. Nothing is recorded
/// as failed: the definition did not fail, the stack withdrew it.
pub async fn abandon(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    observed: &Observed,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let og = super::observed_group(observed, g)?;
    super::serving_generation(og, g)?;
    let unavailable = change.rollout.as_ref().map_or(0, |r| r.max_unavailable);
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = prepare(&fleet, stack, g, change, og).await?;
    tracing::warn!(
        address = %g.address, abandoned = %pair.new_name, serving = %pair.old.name,
        "abandoning the interrupted rollout: the stack no longer asks for its definition"
    );
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    cleanup::scoped(&fleet, &g.address, &generations, opts, async {
        rollback(
            &fleet,
            stack,
            g,
            &pair,
            unavailable,
            opts,
            Removal::Withdrawn,
        )
        .await
    })
    .await
}

/// Marks the new generation failed, before it is deleted: while AWS deletes a group it is
/// still listed, and must not be taken for a rollout to resume.
pub(super) async fn mark_failed(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut failed = Tags::new();
    failed.insert(tag::STATE.into(), GenerationState::Failed.as_str().into());
    fleet.tag(&pair.new_name, &failed).await
}

/// Records the failed definition on the old generation, which serves again, so the next plan
/// does not simply try it again.
pub(super) async fn remember_failure(
    fleet: &Fleet<'_>,
    pair: &Pair,
    new: Option<&GroupInfo>,
) -> Result<(), CloudError> {
    let fingerprint = pair
        .new_gen
        .tags
        .get(tag::FINGERPRINT)
        .or(new.and_then(|n| n.tags.get(tag::FINGERPRINT)))
        .cloned()
        .unwrap_or_default();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let mut t = Tags::new();
    t.insert(tag::FAILED.into(), format!("{fingerprint} {now}"));
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    fleet.tag(&pair.old.name, &t).await
}

/// The rollouts of a plan's Replace and Resume changes, `depends_on` levels in order,
/// up to `parallelism` at a time within a level.
pub fn order<'a>(stack: &'a Stack, changes: &[&'a Change]) -> Vec<Vec<&'a ServerGroup>> {
    let groups: Vec<&ServerGroup> = changes
        .iter()
        .filter_map(|c| stack.server_group(&c.address))
        .collect();
    let by_address: BTreeMap<&str, &ServerGroup> =
        groups.iter().map(|g| (g.address.as_str(), *g)).collect();
    super::levels(&groups)
        .into_iter()
        .map(|level| {
            level
                .iter()
                .filter_map(|a| by_address.get(a.as_str()).copied())
                .collect()
        })
        .collect()
}
