//! Carrying out a plan: create and update infrastructure, create and resize generations, wait
//! until they are healthy, and delete what the stack no longer declares.
//!
//! Apply runs in phases so that values known only after creation (ARNs) are available to the
//! next phase: [`infrastructure`] (target groups, load balancers, listeners), then
//! [`server_groups`] (with a fresh stack evaluation in between, done by the caller), then
//! [`deletions`]. Each step observes before it acts, so running apply again after an
//! interruption continues from what exists.

mod activities;
mod adopt;
pub mod bluegreen;
mod cleanup;
pub(crate) mod decide;
pub mod fleet;
pub mod gates;
pub mod hooks;
pub mod progress;
pub mod retry;
pub mod rollout;
pub mod traffic;
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::cloud::stats::Stats;
use crate::cloud::{tag, Cloud, CloudError, NamedKind, Tags};
use crate::names;
use crate::observe::{GenerationState, Observed, ObservedGroup};
use crate::plan::{self, Action, Kind, Plan};
use crate::stack::{is_unknown, GroupMode, OnFailure, ServerGroup, Stack};

pub use wait::{wait_healthy, HealthWait, WaitOutcome};

/// Settings of one apply run.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Server groups rolled out at the same time.
    pub parallelism: usize,
    /// How often to poll while waiting.
    pub poll: Duration,
    /// Who is told how rollouts progress.
    pub progress: progress::Progress,
    /// Where calls retried after transient errors are counted (`--stats`).
    pub stats: Stats,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            poll: Duration::from_secs(5),
            progress: progress::Progress::default(),
            stats: Stats::default(),
        }
    }
}

/// Why apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The plan asks for something this version cannot carry out; nothing was changed.
    #[error("{0}")]
    Unsupported(String),
    /// New instances did not become healthy; the new generation was removed again.
    #[error("{address}: {message}; the new generation was removed (rolled back)")]
    RolledBack { address: String, message: String },
    /// New instances did not become healthy and were left in place for inspection.
    #[error("{address}: {message}")]
    Paused { address: String, message: String },
    /// A name apply must create is held by a resource it cannot adopt (someone else's, or
    /// a different definition); nothing of that resource was changed.
    #[error("{0}")]
    Taken(String),
    /// Stopped on request (Ctrl-C) at a consistent point; apply again to continue.
    #[error("{address}: {message}")]
    Interrupted { address: String, message: String },
    /// The account changed under the apply, before its rollout began: something the plan
    /// relies on was deleted, retagged or changed outside reroll. Nothing more was changed.
    /// (During a rollout the same is [`ApplyError::Paused`]: it stops part-way.)
    #[error("{resource}: {message}")]
    Changed { resource: String, message: String },
    /// A rollout ended as `outcome` says (`None`: it succeeded), but undoing what it did for
    /// the rollout's sake failed: scaling processes it suspended, instances it released.
    #[error("{}{address}: {message}", .outcome.as_ref().map(|o| format!("{o}; then ")).unwrap_or_default())]
    Cleanup {
        address: String,
        outcome: Option<Box<ApplyError>>,
        message: String,
    },
}

impl ApplyError {
    /// How bad an outcome is, to report the worst of several concurrent ones.
    fn severity(&self) -> u8 {
        match self {
            ApplyError::Paused { .. } => 4,
            ApplyError::Cleanup { outcome, .. } => outcome.as_ref().map_or(4, |o| o.severity()),
            ApplyError::RolledBack { .. } => 3,
            ApplyError::Interrupted { .. } => 2,
            _ => 1,
        }
    }

    /// How a group's change ended, in the words of the summary, the live view and the report.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApplyError::RolledBack { .. } => "rolled back",
            ApplyError::Paused { .. } => "stopped part-way",
            ApplyError::Interrupted { .. } => "interrupted",
            ApplyError::Cleanup {
                outcome: Some(o), ..
            } => o.outcome(),
            ApplyError::Cleanup { outcome: None, .. } => "cleanup failed",
            _ => "failed",
        }
    }

    /// The account changed under a rollout that is under way: it stops part-way.
    pub(crate) fn changed_mid_rollout(address: &str, what: &str, left: &str) -> ApplyError {
        ApplyError::Paused {
            address: address.to_string(),
            message: format!(
                "{what}: the account was changed outside reroll during the rollout. {left} \
                 Look at the account (`reroll status`), then run apply again"
            ),
        }
    }
}

/// A server group's entry in the observation, or the error saying it is gone.
fn observed_group<'a>(
    observed: &'a Observed,
    g: &ServerGroup,
) -> Result<&'a ObservedGroup, ApplyError> {
    observed
        .groups
        .get(&g.key)
        .ok_or_else(|| ApplyError::Changed {
            resource: g.address.clone(),
            message: format!(
            "no Auto Scaling group of {} is tagged with it any more: it was deleted or retagged \
                 since the plan was made. Nothing was changed; run plan again",
            g.address
        ),
        })
}

fn stack_tags(stack: &Stack, address: &str) -> Tags {
    let mut tags = stack.tags.clone();
    tags.insert(tag::STACK.into(), stack.name.clone());
    tags.insert(tag::ADDRESS.into(), address.into());
    tags
}

/// The generation a rollout replaces, or the error saying there is none any more.
fn serving_generation<'a>(
    og: &'a ObservedGroup,
    g: &ServerGroup,
) -> Result<&'a crate::observe::Generation, ApplyError> {
    og.active().ok_or_else(|| ApplyError::Changed {
        resource: g.address.clone(),
        message: format!(
            "no generation of it serves any more (deleted, or its {} tag changed, since the \
             plan was made). Nothing was changed; run plan again",
            tag::STATE
        ),
    })
}

/// A resource the plan updates that is no longer in the account.
fn gone(address: &str, kind: &str) -> ApplyError {
    ApplyError::Changed {
        resource: address.to_string(),
        message: format!(
            "the {kind} the plan updates is no longer in the account (deleted, or its {} tag \
                 changed, since the plan was made). Run plan again",
            tag::STACK
        ),
    }
}

fn wants(plan: &Plan, kind: Kind, action: Action) -> BTreeSet<&str> {
    plan.changes
        .iter()
        .filter(|c| c.kind == kind && c.action == action)
        .map(|c| c.address.as_str())
        .collect()
}

/// Creates and updates target groups, load balancers and listeners. Returns the number of
/// resources changed.
pub async fn infrastructure(
    cloud: &dyn Cloud,
    stack: &Stack,
    plan: &Plan,
    observed: &mut Observed,
    deferred: &traffic::Deferred,
) -> Result<usize, ApplyError> {
    let mut changed = 0;
    let create_tg = wants(plan, Kind::TargetGroup, Action::Create);
    let update_tg = wants(plan, Kind::TargetGroup, Action::Update);
    for tg in &stack.target_groups {
        let spec = plan::target_group_spec(tg);
        if create_tg.contains(tg.address.as_str()) {
            let mut tags = stack_tags(stack, &tg.address);
            tags.extend(tg.tags.clone());
            tracing::info!(address = %tg.address, name = %spec.name, "creating target group");
            let arn = adopt::creating(cloud, &stack.name)
                .create_target_group(&spec, &tags)
                .await?;
            observed.target_groups.insert(
                tg.address.clone(),
                crate::observe::ObservedTargetGroup {
                    address: tg.address.clone(),
                    info: crate::cloud::TargetGroupInfo {
                        arn,
                        spec,
                        load_balancer_arns: Vec::new(),
                        tags,
                    },
                    health: Vec::new(),
                },
            );
            changed += 1;
        } else if update_tg.contains(tg.address.as_str()) {
            let have = observed
                .target_groups
                .get(&tg.address)
                .ok_or_else(|| gone(&tg.address, "target group"))?;
            tracing::info!(address = %tg.address, "updating target group");
            cloud.modify_target_group(&have.info.arn, &spec).await?;
            changed += 1;
        }
    }

    let create_lb = wants(plan, Kind::LoadBalancer, Action::Create);
    let update_lb = wants(plan, Kind::LoadBalancer, Action::Update);
    for lb in &stack.load_balancers {
        let spec = crate::cloud::LoadBalancerSpec {
            name: lb.name.clone(),
            kind: lb.kind.clone(),
            internal: lb.internal,
            subnet_ids: lb.subnets.clone(),
            security_group_ids: lb.security_groups.clone(),
        };
        let tags = {
            let mut t = stack_tags(stack, &lb.address);
            t.extend(lb.tags.clone());
            t
        };
        let (arn, existing) = if create_lb.contains(lb.address.as_str()) {
            tracing::info!(address = %lb.address, name = %spec.name, "creating load balancer");
            let info = adopt::creating(cloud, &stack.name)
                .create_load_balancer(&spec, &tags)
                .await?;
            let arn = info.arn.clone();
            observed.load_balancers.insert(
                lb.address.clone(),
                crate::observe::ObservedLoadBalancer {
                    address: lb.address.clone(),
                    info,
                    listeners: Vec::new(),
                },
            );
            changed += 1;
            (arn, Vec::new())
        } else if update_lb.contains(lb.address.as_str()) {
            let have = observed
                .load_balancers
                .get(&lb.address)
                .ok_or_else(|| gone(&lb.address, "load balancer"))?;
            if have.info.spec.subnet_ids.iter().collect::<BTreeSet<_>>()
                != spec.subnet_ids.iter().collect::<BTreeSet<_>>()
                || have
                    .info
                    .spec
                    .security_group_ids
                    .iter()
                    .collect::<BTreeSet<_>>()
                    != spec.security_group_ids.iter().collect::<BTreeSet<_>>()
            {
                tracing::info!(address = %lb.address, "updating load balancer subnets and security groups");
                cloud.modify_load_balancer(&have.info.arn, &spec).await?;
            }
            changed += 1;
            (have.info.arn.clone(), have.listeners.clone())
        } else {
            continue;
        };
        // Listeners, by port.
        let have: BTreeMap<u16, &crate::cloud::ListenerInfo> =
            existing.iter().map(|l| (l.spec.port, l)).collect();
        let mut wanted_ports = BTreeSet::new();
        for l in &lb.listeners {
            let want = plan::listener_spec(l, observed);
            if want.forward.iter().any(|f| is_unknown(&f.target_group_arn)) {
                return Err(ApplyError::Unsupported(format!(
                    "{}: listener :{} forwards to a target group that does not exist",
                    lb.address, l.port
                )));
            }
            wanted_ports.insert(l.port);
            match have.get(&l.port) {
                Some(h) if plan::listener_equal(&observed.canonical_listener(&h.spec), &want) => {}
                Some(h) => {
                    traffic::update_listener(
                        cloud,
                        observed,
                        deferred,
                        format!("{}:{}", lb.address, l.port),
                        &h.arn,
                        &h.spec,
                        &want,
                    )
                    .await?;
                }
                None => {
                    tracing::info!(address = %lb.address, port = l.port, "creating listener");
                    cloud.create_listener(&arn, &want, &tags).await?;
                }
            }
        }
        for (port, h) in have {
            if !wanted_ports.contains(&port) {
                tracing::info!(address = %lb.address, port, "deleting listener");
                cloud.delete_listener(&h.arn).await?;
            }
        }
    }
    Ok(changed)
}

/// Orders server groups by `depends_on` into levels; groups in a level are independent.
pub fn levels(groups: &[&ServerGroup]) -> Vec<Vec<String>> {
    let addresses: BTreeSet<&str> = groups.iter().map(|g| g.address.as_str()).collect();
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = groups
        .iter()
        .map(|g| {
            (
                g.address.as_str(),
                g.depends_on
                    .iter()
                    .map(String::as_str)
                    .filter(|d| addresses.contains(d))
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(a, _)| *a)
            .collect();
        if ready.is_empty() {
            // A cycle: take the rest together rather than never.
            out.push(remaining.keys().map(|a| a.to_string()).collect());
            break;
        }
        for a in &ready {
            remaining.remove(a);
        }
        for deps in remaining.values_mut() {
            for a in &ready {
                deps.remove(a);
            }
        }
        out.push(ready.into_iter().map(String::from).collect());
    }
    out
}

/// What happened to one server group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub address: String,
    pub action: Action,
    pub from: Option<u32>,
    pub to: Option<u32>,
    /// Waves of the plan's schedule got through ([`plan::waves_through`]): all of them when
    /// the change succeeded, the ones finished when it stopped or failed.
    pub waves: u32,
    /// Waves in the plan's schedule.
    pub planned_waves: u32,
    pub duration: Duration,
    /// `ok`, or what went wrong.
    pub result: String,
}

impl GroupReport {
    /// The generations it went between, for a summary: `v001 → v002`, `v001`, or `-`.
    pub fn generations(&self) -> String {
        match (self.from, self.to) {
            (Some(a), Some(b)) => format!("v{a:03} → v{b:03}"),
            (None, Some(b)) => format!("v{b:03}"),
            _ => "-".into(),
        }
    }
}

/// Carries out the server group changes of a plan: first generations, resizes, attachment
/// updates and rollouts, `depends_on` level by level, up to `parallelism` groups at a time.
/// Returns a report per group; on failure the worst error, after the level's other groups
/// have finished (a failing group never leaves a sibling half-done).
pub async fn server_groups(
    cloud: &dyn Cloud,
    stack: &Stack,
    plan: &Plan,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &rollout::Stop,
    deferred: &traffic::Deferred,
) -> Result<Vec<GroupReport>, (Vec<GroupReport>, ApplyError)> {
    use futures::stream::{self, StreamExt};
    let todo: Vec<&ServerGroup> = stack
        .server_groups
        .iter()
        .filter(|g| {
            plan.changes.iter().any(|c| {
                c.address == g.address && c.kind == Kind::ServerGroup && c.action != Action::NoOp
            })
        })
        .collect();
    let mut reports = Vec::new();
    for level in levels(&todo) {
        if stop.requested() {
            break;
        }
        let results: Vec<(GroupReport, Option<ApplyError>)> = stream::iter(level.iter())
            .map(|address| async move {
                let started = tokio::time::Instant::now();
                let planned = plan.changes.iter().find(|c| &c.address == address);
                let (g, change) = match (stack.server_group(address), planned) {
                    (Some(g), Some(change)) => (g, change),
                    _ => {
                        let e = ApplyError::Changed {
                            resource: address.clone(),
                            message: "the stack no longer declares it as planned; run plan again"
                                .into(),
                        };
                        let report = GroupReport {
                            address: address.clone(),
                            action: planned.map_or(Action::NoOp, |c| c.action),
                            from: None,
                            to: None,
                            waves: 0,
                            duration: started.elapsed(),
                            result: e.outcome().into(),
                            planned_waves: 0,
                        };
                        return (report, Some(e));
                    }
                };
                let last = progress::LastWaves::default();
                let opts = &ApplyOptions {
                    progress: last.watch(&opts.progress),
                    ..opts.clone()
                };
                let r = one_group(cloud, stack, g, change, observed, opts, stop, deferred).await;
                let mut report = GroupReport {
                    address: g.address.clone(),
                    action: change.action,
                    from: change.rollout.as_ref().and_then(|r| r.from_generation),
                    to: change.rollout.as_ref().map(|r| r.to_generation),
                    waves: 0,
                    planned_waves: change.rollout.as_ref().map_or(0, |r| r.waves.len() as u32),
                    duration: started.elapsed(),
                    result: "ok".into(),
                };
                match r {
                    Ok(waves) => {
                        report.waves = waves;
                        (report, None)
                    }
                    Err(e) => {
                        report.waves = last.get().map_or(0, |(through, _)| through);
                        report.result = e.outcome().into();
                        (report, Some(e))
                    }
                }
            })
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
        let mut worst: Option<ApplyError> = None;
        for (report, err) in results {
            reports.push(report);
            if let Some(e) = err {
                if worst.as_ref().is_none_or(|w| e.severity() > w.severity()) {
                    worst = Some(e);
                }
            }
        }
        if let Some(e) = worst {
            return Err((reports, e));
        }
    }
    Ok(reports)
}

/// One group's change; returns the number of waves. Listener changes held back for target
/// groups this group now serves are made as soon as it is healthy in them.
#[allow(clippy::too_many_arguments)]
async fn one_group(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &plan::Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &rollout::Stop,
    deferred: &traffic::Deferred,
) -> Result<u32, ApplyError> {
    // The serving generation moves to the stack's target groups first, so that a rollout
    // starts (and old instances drain) from the target groups the listeners use.
    let moved = match change.action {
        Action::Replace | Action::Resize | Action::Update => {
            move_attachments(cloud, stack, g, observed, deferred, opts).await?
        }
        _ => false,
    };
    let fresh;
    let observed = if moved {
        fresh = crate::observe::observe(cloud, &stack.name).await?;
        &fresh
    } else {
        observed
    };
    let waves = change_group(cloud, stack, g, change, observed, opts, stop).await?;
    deferred.switch_ready(cloud).await?;
    Ok(waves)
}

/// Moves the serving generation of `g` to the target groups the stack names: attaches the new
/// ones, waits until its instances are healthy in them, switches the listeners held back for
/// them, then detaches the ones no longer named (later, when a listener held back still
/// forwards to one). Returns whether anything moved.
async fn move_attachments(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    deferred: &traffic::Deferred,
    opts: &ApplyOptions,
) -> Result<bool, ApplyError> {
    if g.mode == GroupMode::Instances {
        return Ok(false);
    }
    let Some(active) = observed.groups.get(&g.key).and_then(|o| o.active()) else {
        return Ok(false);
    };
    let want = plan::target_group_arns(g, observed);
    if want.iter().any(|a| is_unknown(a)) {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist in {}",
            g.address, stack.name
        )));
    }
    let name = &active.group.name;
    let have = &active.group.target_group_arns;
    let attach: Vec<String> = want.iter().filter(|a| !have.contains(a)).cloned().collect();
    let detach: Vec<String> = have.iter().filter(|a| !want.contains(a)).cloned().collect();
    if attach.is_empty() && detach.is_empty() {
        return Ok(false);
    }
    if !attach.is_empty() {
        tracing::info!(address = %g.address, count = attach.len(), "attaching target groups");
        cloud.attach_target_groups(name, &attach).await?;
        let waits = [HealthWait {
            address: g.address.clone(),
            group_name: name.clone(),
            desired: active.group.desired,
            target_group_arns: want.clone(),
            is_new: false,
            fleet: false,
        }];
        let outcome = wait_healthy(
            cloud,
            &stack.name,
            &waits,
            g.rollout.health.timeout,
            opts.poll,
            &mut retry::Retry::new(&g.address, opts, g.rollout.health.timeout),
        )
        .await?;
        if let Some((_, why)) = outcome.failures.into_iter().next() {
            return Err(ApplyError::Unsupported(format!(
                "{}: {name} did not become healthy in its new target groups ({why}); nothing \
                 was detached and the listeners still forward where they did",
                g.address
            )));
        }
        deferred.switch_ready(cloud).await?;
    }
    if !detach.is_empty() {
        deferred.detach(cloud, name, &detach).await?;
    }
    Ok(true)
}

/// One group's planned change, from the account as `observed`.
async fn change_group(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    change: &plan::Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &rollout::Stop,
) -> Result<u32, ApplyError> {
    let first_resume = change.action == Action::Resume
        && change
            .rollout
            .as_ref()
            .is_some_and(|r| r.from_generation.is_none());
    let blue_green = g.rollout.strategy == crate::stack::Strategy::BlueGreen;
    let abandon = change.rollout.as_ref().and_then(|r| r.abandon_generation);
    let w = match change.action {
        Action::Replace if abandon.is_some() => {
            // An interrupted rollout the stack no longer asks for: back to what served first.
            if blue_green {
                bluegreen::roll(cloud, stack, g, change, observed, opts, stop).await?;
            } else {
                rollout::abandon(cloud, stack, g, change, observed, opts).await?;
            }
            if change
                .rollout
                .as_ref()
                .is_some_and(plan::RolloutPlan::is_revert)
            {
                return Ok(1);
            }
            // Then the new definition rolls out from there, as planned.
            let fresh = crate::observe::observe(cloud, &stack.name).await?;
            let mut next = change.clone();
            if let Some(r) = next.rollout.as_mut() {
                r.abandon_generation = None;
            }
            let r = if blue_green {
                bluegreen::roll(cloud, stack, g, &next, &fresh, opts, stop).await?
            } else {
                rollout::roll(cloud, stack, g, &next, &fresh, opts, stop).await?
            };
            // The plan's schedule is the new rollout's: going back first is no wave of it.
            return Ok(r.waves);
        }
        Action::Replace | Action::Resume if !first_resume => {
            let r = if blue_green {
                bluegreen::roll(cloud, stack, g, change, observed, opts, stop).await?
            } else {
                rollout::roll(cloud, stack, g, change, observed, opts, stop).await?
            };
            return Ok(r.waves);
        }
        Action::Resume => {
            let w = resume_first(g, observed, change)?;
            grow_resumed(cloud, stack, g, observed, &w).await?;
            w
        }
        Action::Create => create_generation(cloud, stack, g, observed, change).await?,
        _ => resize(cloud, stack, g, observed, change, opts).await?,
    };
    let mut retry = retry::Retry::new(&g.address, opts, g.rollout.health.timeout);
    let outcome = wait_healthy(
        cloud,
        &stack.name,
        std::slice::from_ref(&w),
        g.rollout.health.timeout,
        opts.poll,
        &mut retry,
    )
    .await?;
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, w.target_group_arns.clone());
    if let Some((w, message)) = outcome.failures.into_iter().next() {
        return Err(fail_new_generation(&fleet, g, &w, message).await);
    }
    let mut t = BTreeMap::new();
    t.insert(
        tag::STATE.to_string(),
        GenerationState::Active.as_str().to_string(),
    );
    fleet.tag(&w.group_name, &t).await?;
    tracing::info!(address = %w.address, group = %w.group_name, healthy = w.desired, "healthy");
    if let Some(number) = abandon {
        // A first generation the stack no longer asks for, replaced now that the new one is
        // healthy.
        let name = names::generation_group_name(&stack.name, &g.key, number);
        tracing::warn!(address = %g.address, group = %name, "draining and removing the abandoned first generation");
        if let Some(old) = fleet.find(&name).await? {
            let ids: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
            for arn in &w.target_group_arns {
                cloud.deregister_targets(arn, &ids).await?;
            }
            let limit = longest_drain(stack, g) + Duration::from_secs(60);
            wait::drained(
                cloud,
                &w.target_group_arns,
                &ids,
                limit,
                opts.poll,
                &mut retry,
            )
            .await?;
            fleet.delete(&name).await?;
        }
    }
    // A first generation is one wave; a resize or an attachment change none.
    Ok(change.rollout.as_ref().map_or(0, |r| r.waves.len() as u32))
}

/// A first generation whose creation was interrupted: wait for it again.
fn resume_first(
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
) -> Result<HealthWait, ApplyError> {
    let gen = observed
        .groups
        .get(&g.key)
        .and_then(|o| {
            o.generations
                .iter()
                .rev()
                .find(|x| x.state == GenerationState::Rolling)
        })
        .ok_or_else(|| ApplyError::Unsupported(format!("{}: nothing to resume", g.address)))?;
    Ok(HealthWait {
        address: g.address.clone(),
        group_name: gen.group.name.clone(),
        desired: change
            .rollout
            .as_ref()
            .map_or(gen.group.desired, |r| r.desired),
        target_group_arns: plan::target_group_arns(g, observed),
        is_new: true,
        fleet: g.mode == GroupMode::Instances,
    })
}

/// A rolling generation resumed with no generation before it (its creation was interrupted,
/// or the one it replaced is gone) grows to the planned size before it is waited on.
async fn grow_resumed(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    w: &HealthWait,
) -> Result<(), ApplyError> {
    let Some(gen) = observed
        .groups
        .get(&g.key)
        .and_then(|o| o.generations.iter().find(|x| x.group.name == w.group_name))
    else {
        return Ok(());
    };
    if gen.group.desired >= w.desired {
        return Ok(());
    }
    tracing::info!(address = %g.address, group = %w.group_name, desired = w.desired, "growing the resumed generation");
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, w.target_group_arns.clone());
    let (min, max) = (g.capacity.min.min(w.desired), g.capacity.max.max(w.desired));
    fleet
        .set_capacity(&fleet::Generation::of(&gen.group), min, w.desired, max)
        .await?;
    Ok(())
}

/// A first generation that did not become healthy: remove it (rollback) or leave it (pause).
async fn fail_new_generation(
    fleet: &fleet::Fleet<'_>,
    g: &ServerGroup,
    w: &HealthWait,
    message: String,
) -> ApplyError {
    if !w.is_new {
        return ApplyError::Paused {
            address: g.address.clone(),
            message,
        };
    }
    match g.rollout.on_failure {
        OnFailure::Pause => ApplyError::Paused {
            address: g.address.clone(),
            message,
        },
        OnFailure::Rollback => {
            tracing::warn!(address = %g.address, group = %w.group_name, "removing the unhealthy new generation");
            match fleet.delete(&w.group_name).await {
                Ok(()) => ApplyError::RolledBack {
                    address: g.address.clone(),
                    message,
                },
                Err(e) => ApplyError::Paused {
                    address: g.address.clone(),
                    message: format!("{message}; removing it failed too: {e}"),
                },
            }
        }
    }
}

async fn create_generation(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
) -> Result<HealthWait, ApplyError> {
    let def = planned_definition(g, change)?;
    let spec = def.spec.clone();
    let fp = def.fingerprint.clone();
    let generation = change.rollout.as_ref().map_or(1, |r| r.to_generation);
    let og = observed.groups.get(&g.key);
    let (lt_id, version) = match og.and_then(|o| o.launch_template.as_ref()) {
        Some(lt) => {
            let v = cloud.create_launch_template_version(&lt.id, &spec).await?;
            (lt.id.clone(), v)
        }
        None => {
            let mut tags = stack_tags(stack, &g.address);
            tags.insert(tag::GROUP.into(), g.key.clone());
            adopt::creating(cloud, &stack.name)
                .create_launch_template(
                    &names::launch_template_name(&stack.name, &g.key),
                    &spec,
                    &tags,
                )
                .await?
        }
    };
    let tg_arns: Vec<String> = g
        .target_groups
        .iter()
        .filter_map(|a| observed.target_group_arn(a).map(String::from))
        .collect();
    if tg_arns.len() != g.target_groups.len() {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist yet",
            g.address
        )));
    }
    let name = names::generation_group_name(&stack.name, &g.key, generation);
    let mut tags = stack_tags(stack, &g.address);
    tags.extend(g.tags.clone());
    tags.insert(tag::GROUP.into(), g.key.clone());
    tags.insert(tag::GENERATION.into(), generation.to_string());
    tags.insert(tag::FINGERPRINT.into(), fp);
    tags.insert(tag::STATE.into(), GenerationState::Rolling.as_str().into());
    tags.insert(tag::DESIRED.into(), g.capacity.desired.to_string());
    tags.extend(def.image_tags());
    let desired = change
        .rollout
        .as_ref()
        .map_or(g.capacity.desired, |r| r.desired);
    tracing::info!(
        address = %g.address, group = %name, desired, instance_type = %spec.instance_type, image = %spec.image_id,
        "creating generation"
    );
    let fleet_mode = g.mode == GroupMode::Instances;
    if fleet_mode {
        let fleet = fleet::Fleet::new(cloud, &stack.name, g, tg_arns.clone());
        let gen = fleet::Generation {
            name: name.clone(),
            launch_template_id: Some(lt_id.clone()),
            launch_template_version: Some(version.to_string()),
            tags: fleet::fleet_tags(tags, &name, &lt_id, &version.to_string()),
        };
        let w = HealthWait {
            address: g.address.clone(),
            group_name: name,
            desired,
            target_group_arns: tg_arns,
            is_new: true,
            fleet: true,
        };
        activities::launch_first(&fleet, &gen, desired, g, &w).await?;
        return Ok(w);
    }
    adopt::creating(cloud, &stack.name)
        .create_group(&fleet::group_spec(
            def,
            g,
            &name,
            (&lt_id, &version.to_string()),
            (g.capacity.min, desired, g.capacity.max),
            &tg_arns,
            tags,
        ))
        .await?;
    Ok(HealthWait {
        address: g.address.clone(),
        group_name: name,
        desired,
        target_group_arns: tg_arns,
        is_new: true,
        fleet: false,
    })
}

/// The instance definition a Create or Replace launches: the one the plan carries, never a
/// later evaluation of the stack.
pub(crate) fn planned_definition<'c>(
    g: &ServerGroup,
    change: &'c plan::Change,
) -> Result<&'c plan::LaunchDefinition, ApplyError> {
    change.launch.as_ref().ok_or_else(|| {
        ApplyError::Unsupported(format!(
            "{}: the instance definition still has unknown values after creating the \
             infrastructure; nothing was launched for it",
            g.address
        ))
    })
}

/// Resizes the active generation and (re)attaches its target groups, as planned.
async fn resize(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    change: &plan::Change,
    opts: &ApplyOptions,
) -> Result<HealthWait, ApplyError> {
    let active = observed_group(observed, g)?
        .active()
        .ok_or_else(|| ApplyError::Changed {
            resource: g.address.clone(),
            message:
                "it has no serving generation any more (its reroll:state tag changed since the \
                 plan was made). Nothing was changed; run plan again"
                    .into(),
        })?;
    let want = plan::target_group_arns(g, observed);
    if want.iter().any(|a| is_unknown(a)) {
        return Err(ApplyError::Unsupported(format!(
            "{}: a target group it uses does not exist in {}",
            g.address, stack.name
        )));
    }
    let name = &active.group.name;
    let instances = g.mode == GroupMode::Instances;
    let wait = |desired| HealthWait {
        address: g.address.clone(),
        group_name: name.clone(),
        desired,
        target_group_arns: want.clone(),
        is_new: false,
        fleet: instances,
    };
    // Attachments were moved before (`move_attachments`).
    if change.action == Action::Update {
        return Ok(wait(active.group.desired));
    }
    let desired = planned_desired(change, active.group.desired);
    tracing::info!(address = %g.address, group = %name, from = active.group.desired, to = desired, "resizing");
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, want.clone());
    let live = active.group.instances.len() as u32;
    if instances && desired < live {
        // Shrinking plain instances: drain before terminating.
        let surplus: Vec<String> = active
            .group
            .instances
            .iter()
            .take((live - desired) as usize)
            .map(|i| i.id.clone())
            .collect();
        for arn in &want {
            cloud.deregister_targets(arn, &surplus).await?;
        }
        let limit = longest_drain(stack, g) + Duration::from_secs(60);
        let mut retry = retry::Retry::new(&g.address, opts, g.rollout.health.timeout);
        wait::drained(
            cloud,
            &want,
            &surplus,
            limit,
            Duration::from_secs(2),
            &mut retry,
        )
        .await?;
        cloud.terminate_instances(&surplus).await?;
    } else {
        let gen = fleet::Generation::of(&active.group);
        fleet
            .set_capacity(&gen, g.capacity.min, desired, g.capacity.max)
            .await?;
    }
    let mut t = BTreeMap::new();
    t.insert(tag::DESIRED.to_string(), g.capacity.desired.to_string());
    fleet.tag(name, &t).await?;
    Ok(wait(desired))
}

/// The planned desired capacity of a Resize.
fn planned_desired(change: &plan::Change, current: u32) -> u32 {
    change
        .diffs
        .iter()
        .find(|d| d.name == "capacity.desired")
        .and_then(|d| d.after.as_deref()?.parse().ok())
        .unwrap_or(current)
}

/// The longest deregistration delay among a group's target groups.
pub(crate) fn longest_drain(stack: &Stack, g: &ServerGroup) -> Duration {
    g.target_groups
        .iter()
        .filter_map(|a| stack.target_group(a))
        .map(|t| t.deregistration_delay)
        .max()
        .unwrap_or_default()
}

/// Deletes what the plan says to delete: server groups (all generations and their launch
/// template), then load balancers, then target groups.
/// Blue/green target-group copies go with their server group (or the target group they copy).
/// A listener that stays and still forwards to one is pointed back at the original first.
async fn delete_copies(
    cloud: &dyn Cloud,
    plan: &Plan,
    observed: &Observed,
) -> Result<usize, ApplyError> {
    let groups = wants(plan, Kind::ServerGroup, Action::Delete);
    let tgs = wants(plan, Kind::TargetGroup, Action::Delete);
    let lbs = wants(plan, Kind::LoadBalancer, Action::Delete);
    let doomed: Vec<&crate::observe::TargetGroupCopy> = observed
        .copies
        .iter()
        .filter(|c| {
            let address = observed
                .groups
                .get(&c.group)
                .and_then(|g| g.address.clone())
                .unwrap_or_else(|| format!("server_group.{}", c.group));
            groups.contains(address.as_str()) || tgs.contains(c.of.as_str())
        })
        .collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    for lb in observed
        .load_balancers
        .values()
        .filter(|lb| !lbs.contains(lb.address.as_str()))
    {
        for l in &lb.listeners {
            let doomed_arn = |arn: &str| doomed.iter().find(|c| c.info.arn == arn);
            let touched = l
                .spec
                .forward
                .iter()
                .any(|f| doomed_arn(&f.target_group_arn).is_some());
            let forward =
                crate::cloud::remap_forward(&l.spec.forward, |arn| match doomed_arn(arn) {
                    Some(c) if !tgs.contains(c.of.as_str()) => {
                        observed.target_group_arn(&c.of).map(String::from)
                    }
                    Some(_) => None,
                    None => Some(arn.to_string()),
                });
            if touched && !forward.is_empty() {
                tracing::info!(address = %lb.address, port = l.spec.port, "pointing the listener back at the stack's target group");
                let spec = crate::cloud::ListenerSpec {
                    forward,
                    ..l.spec.clone()
                };
                cloud.modify_listener(&l.arn, &spec).await?;
            }
        }
    }
    for c in &doomed {
        tracing::info!(target_group = %c.info.spec.name, "deleting a generation's target group");
        match cloud.delete_target_group(&c.info.arn).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    Ok(0)
}

pub async fn deletions(
    cloud: &dyn Cloud,
    plan: &Plan,
    observed: &Observed,
    opts: &ApplyOptions,
) -> Result<usize, ApplyError> {
    let mut changed = 0;
    let groups = wants(plan, Kind::ServerGroup, Action::Delete);
    let mut deleting = Vec::new();
    for og in observed.groups.values() {
        let address = og
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{}", og.key));
        if !groups.contains(address.as_str()) {
            continue;
        }
        for gen in &og.generations {
            tracing::info!(%address, group = %gen.group.name, instances = gen.group.instances.len(), "deleting generation");
            if gen.group.tags.contains_key(tag::FLEET) {
                let ids: Vec<String> = gen.group.instances.iter().map(|i| i.id.clone()).collect();
                cloud.terminate_instances(&ids).await?;
                continue;
            }
            let name = &gen.group.name;
            if adopt::still_ours(cloud, &observed.stack, NamedKind::Group, name, name).await? {
                cloud.delete_group(name).await?;
                deleting.push(name.clone());
            }
        }
        changed += 1;
    }
    wait::wait_groups_gone(
        cloud,
        &observed.stack,
        &deleting,
        Duration::from_secs(900),
        opts.poll,
        &mut retry::Retry::new(&observed.stack, opts, Duration::from_secs(900)),
    )
    .await?;
    for og in observed.groups.values() {
        let address = og
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{}", og.key));
        if let (true, Some(lt)) = (groups.contains(address.as_str()), &og.launch_template) {
            let kind = NamedKind::LaunchTemplate;
            if !adopt::still_ours(cloud, &observed.stack, kind, &lt.name, &lt.id).await? {
                continue;
            }
            match cloud.delete_launch_template(&lt.id).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
    }
    for address in wants(plan, Kind::LoadBalancer, Action::Delete) {
        if let Some(lb) = observed.load_balancers.get(address) {
            tracing::info!(%address, "deleting load balancer");
            let (name, arn) = (&lb.info.spec.name, &lb.info.arn);
            if !adopt::still_ours(cloud, &observed.stack, NamedKind::LoadBalancer, name, arn)
                .await?
            {
                continue;
            }
            match cloud.delete_load_balancer(&lb.info.arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
            changed += 1;
        }
    }
    changed += delete_copies(cloud, plan, observed).await?;
    for address in wants(plan, Kind::TargetGroup, Action::Delete) {
        if let Some(tg) = observed.target_groups.get(address) {
            tracing::info!(%address, "deleting target group");
            let (name, arn) = (&tg.info.spec.name, &tg.info.arn);
            if !adopt::still_ours(cloud, &observed.stack, NamedKind::TargetGroup, name, arn).await?
            {
                continue;
            }
            match cloud.delete_target_group(&tg.info.arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
            changed += 1;
        }
    }
    Ok(changed)
}
