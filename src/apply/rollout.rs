//! The rolling replacement of one server group: a new generation, wave by wave.
//!
//! Each round observes both generations (one group listing and one health call per target
//! group, whatever the number of instances), asks [`decide`] what to do, acts, and sleeps.
//! Everything it needs to continue is in the account: the new generation carries
//! `reroll:state = rolling` and `reroll:from`, old instances are classified by their target
//! registration. So a rollout killed at any point is resumed by running apply again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use super::{longest_drain, stack_tags, wait, ApplyError, ApplyOptions};
use crate::cloud::{tag, Cloud, CloudError, GroupInfo, GroupSpec, Tags, TargetHealth};
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
    let rollout = change
        .rollout
        .as_ref()
        .expect("replace and resume changes carry a rollout plan");
    let og = observed
        .groups
        .get(&g.key)
        .expect("a replaced group is observed");
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = prepare(&fleet, stack, g, change, og).await?;
    let desired = rollout.desired;
    let (surge, unavailable) = (rollout.max_surge, rollout.max_unavailable);
    let reporter = Reporter::new(
        &opts.progress,
        &g.address,
        Some(pair.old_number),
        pair.new_number,
        rollout,
        started,
    );

    suspend(&fleet, &pair.old, SUSPEND_OLD).await?;
    if let Some(new_info) = fleet.find(&pair.new_name).await? {
        suspend(&fleet, &new_info, SUSPEND_NEW).await?;
    }
    // The old group shrinks by detaching with decrement: its minimum must allow that.
    if pair.old.min > 0 && !fleet.instances_mode() {
        cloud
            .set_group_capacity(&pair.old.name, 0, pair.old.desired, pair.old.max)
            .await?;
    }
    let new_max = g.capacity.max.max(desired);

    let result = async {
        // Before the first launch (also when resuming a rollout that launched nothing yet).
        let launched = fleet
            .find(&pair.new_name)
            .await?
            .is_some_and(|n| n.desired > 0 || !n.instances.is_empty());
        if !launched {
            let ctx = hook_context(cloud, stack, g, og, &pair, 0, &[]).await?;
            gates::run_hooks(stack, g, HookEvent::BeforeRollout, &ctx).await?;
        }
        rounds(
            &fleet,
            stack,
            g,
            &pair,
            desired,
            surge,
            unavailable,
            new_max,
            opts,
            stop,
            og,
            &reporter,
        )
        .await
    }
    .await;
    if let Err(Failure::Unhealthy(_)) = &result {
        reporter.activity(Some(match g.rollout.on_failure {
            OnFailure::Rollback => "rolling back".into(),
            OnFailure::Pause => "stopping part-way".into(),
        }));
    }
    let ended = match result {
        Ok(Outcome::Done) => {
            if let Err(e) = finish(&fleet, g, og, &pair, desired, opts).await {
                reporter.finish(e.outcome());
                return Err(e);
            }
            Ok(RolloutReport {
                address: g.address.clone(),
                from: Some(pair.old_number),
                to: pair.new_number,
                waves: reporter.waves(),
                duration: started.elapsed(),
            })
        }
        Ok(Outcome::Stopped) => {
            restore_processes(&fleet, &[&pair.old.name, &pair.new_name]).await;
            Err(ApplyError::Interrupted {
                address: g.address.clone(),
                message: format!(
                    "stopped between waves: v{:03} and v{:03} both serve, nothing is half-drained",
                    pair.old_number, pair.new_number
                ),
            })
        }
        Err(Failure::Cloud(e)) => {
            restore_processes(&fleet, &[&pair.old.name, &pair.new_name]).await;
            Err(e.into())
        }
        Err(Failure::Unhealthy(message)) => {
            fail(&fleet, stack, g, &pair, message, unavailable, opts).await
        }
    };
    reporter.finish(match &ended {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    });
    ended
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
            .create_group(&GroupSpec {
                name: name.clone(),
                launch_template_id: lt.id.clone(),
                launch_template_version: version.to_string(),
                min: 0,
                max: g.capacity.max.max(from.1),
                desired: 0,
                subnet_ids: def.subnets.clone(),
                target_group_arns: target_group_arns.clone(),
                health_check_type: if target_group_arns.is_empty() {
                    "EC2"
                } else {
                    "ELB"
                }
                .into(),
                health_check_grace_seconds: g.rollout.health.grace.as_secs() as u32,
                tags,
            })
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

fn parse_from(tag: Option<&String>) -> Option<(u32, u32, u32)> {
    let (_, cap) = tag?.split_once(' ')?;
    let mut parts = cap.split('/').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

async fn find_group(fleet: &Fleet<'_>, name: &str) -> Result<GroupInfo, ApplyError> {
    fleet
        .find(name)
        .await?
        .ok_or_else(|| ApplyError::Unsupported(format!("generation {name} disappeared")))
}

/// Suspends the processes not already suspended, and records which ones we did.
pub(super) async fn suspend(
    fleet: &Fleet<'_>,
    group: &GroupInfo,
    processes: &[&str],
) -> Result<(), CloudError> {
    if fleet.instances_mode() {
        return Ok(());
    }
    let cloud = fleet.cloud;
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
    t.insert(
        tag::SUSPENDED.into(),
        ours.into_iter().collect::<Vec<_>>().join(","),
    );
    cloud.set_group_tags(&group.name, &t).await?;
    cloud.suspend_processes(&group.name, &todo).await
}

/// The processes reroll suspended on a group, from its tag.
fn suspended_by_us(group: &GroupInfo) -> BTreeSet<String> {
    group
        .tags
        .get(tag::SUSPENDED)
        .map(|s| {
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Resumes what reroll suspended on these groups. Best effort: logs and goes on, so that a
/// failure here never hides the rollout's own outcome.
pub(super) async fn restore_processes(fleet: &Fleet<'_>, names: &[&str]) {
    if fleet.instances_mode() {
        return;
    }
    let cloud = fleet.cloud;
    let groups = match cloud.list_groups(fleet.stack).await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, "could not read groups to resume their processes");
            return;
        }
    };
    for g in groups.iter().filter(|g| names.contains(&g.name.as_str())) {
        let ours: Vec<String> = suspended_by_us(g).into_iter().collect();
        if ours.is_empty() {
            continue;
        }
        let mut t = Tags::new();
        t.insert(tag::SUSPENDED.into(), String::new());
        let r = async {
            cloud.resume_processes(&g.name, &ours).await?;
            cloud.set_group_tags(&g.name, &t).await
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(group = %g.name, error = %e, "could not resume scaling processes; resume them by hand");
        }
    }
}

enum Outcome {
    Done,
    Stopped,
}

enum Failure {
    Cloud(CloudError),
    /// New instances did not become healthy in time.
    Unhealthy(String),
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
        }
    }
}

/// What one round sees.
struct Look {
    view: View,
    new: Option<GroupInfo>,
    new_unhealthy: Vec<String>,
    /// New targets their target group does not health check.
    unused: Vec<activities::Unused>,
}

async fn look(
    fleet: &Fleet<'_>,
    pair: &Pair,
    desired: u32,
    surge: u32,
    unavailable: u32,
    stopping: bool,
) -> Result<Look, CloudError> {
    let cloud = fleet.cloud;
    let groups = fleet.generations().await?;
    let mut health: HashMap<&str, Vec<TargetHealth>> = HashMap::new();
    for arn in &pair.target_group_arns {
        health.insert(arn, cloud.target_health(arn).await?);
    }
    if let Some(new) = groups.iter().find(|g| g.name == pair.new_name) {
        let registered = |arn: &str, id: &str| {
            health[arn]
                .iter()
                .any(|t| t.id == id && t.state != "unused")
        };
        fleet.heal_registration(new, &registered).await?;
    }
    // Indexed once per round, so a round stays linear in the number of instances.
    let index: Vec<HashMap<&str, &str>> = pair
        .target_group_arns
        .iter()
        .map(|arn| {
            health[arn.as_str()]
                .iter()
                .map(|t| (t.id.as_str(), t.state.as_str()))
                .collect()
        })
        .collect();
    let states =
        |id: &str| -> Vec<Option<&str>> { index.iter().map(|tg| tg.get(id).copied()).collect() };
    let old = groups.iter().find(|g| g.name == pair.old.name);
    let new = groups
        .iter()
        .find(|g| g.name == pair.new_name)
        .cloned()
        .or_else(|| fleet.empty(&pair.new_gen));
    let no_tgs = pair.target_group_arns.is_empty();
    let old_instances: Vec<OldInstance> = old
        .map(|o| {
            o.instances
                .iter()
                .filter(|i| i.lifecycle_state != "Detaching" && i.lifecycle_state != "Detached")
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
    if let Some(n) = &new {
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
            new_desired: new.as_ref().map_or(0, |n| n.desired),
            new_healthy,
            old: old_instances,
            stopping,
            cap: None,
        },
        unused: activities::unused_targets(
            &pair.target_group_arns,
            |arn| health.get(arn).map(Vec::as_slice),
            new.as_ref(),
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
    l.new
        .as_ref()
        .map(|n| n.instances.iter().map(|i| i.id.clone()).collect())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn rounds(
    fleet: &Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    pair: &Pair,
    desired: u32,
    surge: u32,
    unavailable: u32,
    new_max: u32,
    opts: &ApplyOptions,
    stop: &Stop,
    og: &ObservedGroup,
    reporter: &Reporter,
) -> Result<Outcome, Failure> {
    let cloud = fleet.cloud;
    let alarms = &g.rollout.health.alarms;
    let checkpoints = if g.rollout.strategy == Strategy::Canary {
        g.rollout.canary.checkpoints(desired)
    } else {
        Vec::new()
    };
    let mut baked: u32 = find_group(fleet, &pair.new_name)
        .await
        .ok()
        .and_then(|n| n.tags.get(tag::BAKED)?.parse().ok())
        .unwrap_or(0);
    let after_wave = !stack.hooks_for(g, HookEvent::AfterWave).is_empty();
    let mut hooked: u32 = 0;
    let timeout = g.rollout.health.timeout;
    let max_drain = longest_drain(stack, g);
    let mut waiting_since = Instant::now();
    let mut last_healthy = 0;
    let mut draining_since: HashMap<String, Instant> = HashMap::new();
    let mut last_progress = String::new();
    let mut watch = activities::Watch::new(cloud, &pair.new_name, !fleet.instances_mode());
    loop {
        let mut l = look(fleet, pair, desired, surge, unavailable, stop.requested()).await?;
        if l.new.is_none() {
            return Err(Failure::Unhealthy(format!(
                "the new generation {} disappeared",
                pair.new_name
            )));
        }
        if let Some(why) = watch.check(cloud, l.new.as_ref(), &l.unused).await {
            return Err(Failure::Unhealthy(why));
        }
        gates::check_alarms(cloud, alarms).await?;
        let cap = checkpoints.iter().copied().find(|&c| c > baked);
        l.view.cap = cap;

        // after_wave: once every launched instance is healthy, before old ones drain for it.
        let healthy = l.view.new_healthy;
        if after_wave && healthy > hooked && healthy >= l.view.new_desired && !stop.requested() {
            let wave = reporter.wave_healthy(healthy);
            let ctx = hook_context(cloud, stack, g, og, pair, wave, &new_ids(&l)).await?;
            gates::run_hooks(stack, g, HookEvent::AfterWave, &ctx).await?;
            hooked = healthy;
        }
        if after_wave {
            l.view.new_healthy = l.view.new_healthy.min(hooked);
        }
        let mut d = decide(&l.view);
        l.view.new_healthy = healthy;

        if d.at_checkpoint && !stop.requested() {
            let cap = cap.unwrap_or(desired);
            let what = if baked == 0 {
                format!(
                    "the canary ({cap} new instance{})",
                    if cap == 1 { "" } else { "s" }
                )
            } else {
                format!("checkpoint {cap}/{desired}")
            };
            reporter.activity(Some(format!(
                "baking {what} for {}",
                plan::human_duration(g.rollout.canary.bake.as_secs())
            )));
            let completed = gates::bake(
                &what,
                &g.address,
                g.rollout.canary.bake,
                opts.poll,
                stop,
                async || {
                    let l = look(fleet, pair, desired, surge, unavailable, false)
                        .await
                        .map_err(GateFailure::Cloud)?;
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
            reporter.activity(None);
            if completed {
                baked = cap;
                let mut t = Tags::new();
                t.insert(tag::BAKED.into(), cap.to_string());
                fleet.tag(&pair.new_name, &t).await?;
            }
            continue;
        }

        // Drains stuck past the deregistration delay (and a minute) are finished anyway.
        let now = Instant::now();
        for o in &l.view.old {
            if o.state == OldState::Draining {
                let since = *draining_since.entry(o.id.clone()).or_insert(now);
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
        reporter.counts(Counts::after(&l.view, &d));
        if progress != last_progress {
            tracing::info!(address = %g.address, group = %pair.new_name, "{progress}");
            let mut t = Tags::new();
            t.insert(tag::PROGRESS.into(), progress.clone());
            fleet.tag(&pair.new_name, &t).await?;
            last_progress = progress;
        }

        if !d.finish.is_empty() {
            tracing::info!(address = %g.address, count = d.finish.len(), "terminating drained old instances");
            fleet.release(&pair.old.name, &d.finish).await?;
            for id in &d.finish {
                draining_since.remove(id);
            }
        }
        if d.done {
            let wave = reporter.waves();
            let ctx = hook_context(cloud, stack, g, og, pair, wave, &new_ids(&l)).await?;
            gates::run_hooks(stack, g, HookEvent::AfterRollout, &ctx).await?;
            return Ok(Outcome::Done);
        }
        if d.stopped {
            // Freeze the new generation where it is.
            if let Some(n) = &l.new {
                let launched = n.instances.len() as u32;
                if n.desired > launched && !fleet.instances_mode() {
                    fleet
                        .set_capacity(&pair.new_gen, 0, launched, new_max)
                        .await?;
                }
            }
            return Ok(Outcome::Stopped);
        }
        if let Some(n) = d.set_new_desired {
            tracing::info!(address = %g.address, group = %pair.new_name, desired = n, "launching new instances");
            let launched = fleet.set_capacity(&pair.new_gen, 0, n, new_max).await;
            launched.map_err(activities::launch_error)?;
            waiting_since = Instant::now();
        }
        if !d.drain.is_empty() {
            tracing::info!(address = %g.address, count = d.drain.len(), "draining old instances");
            if pair.target_group_arns.is_empty() {
                fleet.release(&pair.old.name, &d.drain).await?;
            } else {
                for arn in &pair.target_group_arns {
                    fleet.cloud.deregister_targets(arn, &d.drain).await?;
                }
            }
            // Draining instances no longer hold surge: look again at once, so the next wave
            // launches now rather than a poll later.
            if !stop.requested() {
                continue;
            }
        }

        // Health deadline: new instances must become healthy within the timeout of being
        // asked for; any progress restarts the clock.
        if l.view.new_healthy > last_healthy {
            last_healthy = l.view.new_healthy;
            waiting_since = Instant::now();
        }
        let owed = l.view.new_desired.max(d.set_new_desired.unwrap_or(0));
        if l.view.new_healthy < owed && waiting_since.elapsed() > timeout {
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
        tokio::time::sleep(opts.poll).await;
    }
}

/// The rollout succeeded: the new generation serves, the old one is retired or removed, and
/// generations beyond `keep_previous` go.
pub(super) async fn finish(
    fleet: &Fleet<'_>,
    g: &ServerGroup,
    og: &ObservedGroup,
    pair: &Pair,
    desired: u32,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let (min, max) = (g.capacity.min.min(desired), g.capacity.max.max(desired));
    fleet.set_capacity(&pair.new_gen, min, desired, max).await?;
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    t.insert(
        tag::PROGRESS.into(),
        format!("rolled out: {desired} healthy"),
    );
    fleet.tag(&pair.new_name, &t).await?;
    if !fleet.instances_mode() {
        cloud
            .set_group_capacity(&pair.old.name, 0, 0, pair.old.max)
            .await?;
    }
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Retired.as_str().into());
    t.insert(tag::ROLLED_BACK.into(), String::new());
    fleet.tag(&pair.old.name, &t).await?;
    restore_processes(fleet, &[&pair.old.name, &pair.new_name]).await;

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
        fleet.delete(name).await?;
    }
    if !fleet.instances_mode() {
        let limit = Duration::from_secs(900);
        wait::wait_groups_gone(cloud, fleet.stack, &names, limit, opts.poll).await?;
        // Blue/green generations take their own target groups with them.
        let numbers: Vec<String> = doomed.iter().map(|d| d.0.to_string()).collect();
        let copies = cloud
            .list_target_groups(fleet.stack, &names::elb_prefix(fleet.stack))
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

/// New instances did not become healthy: roll back or pause, as the group says.
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
        if let (Ok(n), false) = (
            find_group(fleet, &pair.new_name).await,
            fleet.instances_mode(),
        ) {
            let launched = n.instances.len() as u32;
            let _ = fleet
                .cloud
                .set_group_capacity(&pair.new_name, 0, launched.min(n.desired), n.max)
                .await;
        }
        restore_processes(fleet, &[&pair.old.name, &pair.new_name]).await;
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
        Err(e) => {
            restore_processes(fleet, &[&pair.old.name, &pair.new_name]).await;
            Err(ApplyError::Paused {
                address: g.address.clone(),
                message: format!("{message}; the rollback failed too: {e}"),
            })
        }
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
/// new generation, and (for a failure) records the failed definition on the old one.
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
    let (min, desired, max) = pair.from_capacity;
    let new = match fleet.find(&pair.new_name).await? {
        Some(n) => n,
        None => fleet.empty(&pair.new_gen).ok_or_else(|| {
            ApplyError::Unsupported(format!("generation {} disappeared", pair.new_name))
        })?,
    };
    if !fleet.instances_mode() {
        let launched = new.instances.len().min(new.desired as usize) as u32;
        cloud
            .set_group_capacity(&pair.new_name, 0, launched, new.max)
            .await?;
    }
    // Old instances still alive go back into rotation; what is missing is launched again.
    let old = fleet
        .find(&pair.old.name)
        .await?
        .unwrap_or_else(|| pair.old.clone());
    let alive: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        cloud.register_targets(arn, &alive).await?;
    }
    let mut old_gen = fleet::Generation::of(&pair.old);
    old_gen.tags = pair.old.tags.clone();
    fleet.set_capacity(&old_gen, min, desired, max).await?;
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
    )
    .await?;
    if let Some((_, why)) = outcome.failures.into_iter().next() {
        return Err(ApplyError::Unsupported(format!(
            "the old generation did not become healthy again: {why}"
        )));
    }
    // Drain the new generation before removing it.
    let new = fleet
        .find(&pair.new_name)
        .await?
        .or_else(|| fleet.empty(&pair.new_gen))
        .ok_or_else(|| {
            ApplyError::Unsupported(format!("generation {} disappeared", pair.new_name))
        })?;
    let ids: Vec<String> = new.instances.iter().map(|i| i.id.clone()).collect();
    for arn in &pair.target_group_arns {
        cloud.deregister_targets(arn, &ids).await?;
    }
    let limit = longest_drain(stack, g) + Duration::from_secs(60);
    wait::drained(cloud, &pair.target_group_arns, &ids, limit, opts.poll).await?;
    mark_removed(fleet, pair, removal).await?;
    fleet.delete(&pair.new_name).await?;
    match removal {
        Removal::Failed => remember_failure(fleet, pair, Some(&new)).await?,
        Removal::Withdrawn => serves_again(fleet, pair).await?,
    }
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

/// The old generation serves again after a withdrawn rollout; resumes what reroll suspended
/// on it.
pub(super) async fn serves_again(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut t = Tags::new();
    t.insert(tag::STATE.into(), GenerationState::Active.as_str().into());
    fleet.tag(&pair.old.name, &t).await?;
    restore_processes(fleet, &[&pair.old.name]).await;
    Ok(())
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
    let og = observed.groups.get(&g.key).ok_or_else(|| {
        ApplyError::Unsupported(format!(
            "{}: its generations are no longer in the account; run `reroll plan` again",
            g.address
        ))
    })?;
    let unavailable = change.rollout.as_ref().map_or(0, |r| r.max_unavailable);
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = prepare(&fleet, stack, g, change, og).await?;
    tracing::warn!(
        address = %g.address, abandoned = %pair.new_name, serving = %pair.old.name,
        "abandoning the interrupted rollout: the stack no longer asks for its definition"
    );
    let r = rollback(
        &fleet,
        stack,
        g,
        &pair,
        unavailable,
        opts,
        Removal::Withdrawn,
    )
    .await;
    if r.is_err() {
        restore_processes(&fleet, &[&pair.old.name, &pair.new_name]).await;
    }
    r
}

/// Marks the new generation failed, before it is deleted: while AWS deletes a group it is
/// still listed, and must not be taken for a rollout to resume.
pub(super) async fn mark_failed(fleet: &Fleet<'_>, pair: &Pair) -> Result<(), CloudError> {
    let mut failed = Tags::new();
    failed.insert(tag::STATE.into(), GenerationState::Failed.as_str().into());
    fleet.tag(&pair.new_name, &failed).await
}

/// Records the failed definition on the old generation, which serves again, so the next plan
/// does not simply try it again; resumes what reroll suspended on it.
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
    fleet.tag(&pair.old.name, &t).await?;
    restore_processes(fleet, &[&pair.old.name]).await;
    Ok(())
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
