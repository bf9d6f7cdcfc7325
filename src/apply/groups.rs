//! The server group phase: each group's planned change (a first generation, a resize, an
//! attachment update, a rollout by its strategy), `depends_on` level by level, up to
//! `--parallelism` groups at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use super::context::{levels, longest_drain};
use super::error::ApplyError;
use super::observer::Observer;
use super::retry::Retry;
use super::stop::Stop;
use super::types::{ApplyOptions, GroupReport, HealthWait, RolloutReport};
use super::wait::{self, wait_healthy};
use super::{activities, bluegreen, create, fleet, generation, progress, rolling, traffic};
use crate::cloud::{tag, Cloud};
use crate::names;
use crate::observe::{GenerationState, Observed};
use crate::plan::{self, Action, Kind, Plan};
use crate::stack::{is_unknown, GroupMode, ServerGroup, Stack, Strategy};

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
    stop: &Stop,
    deferred: &traffic::Deferred,
) -> Result<Vec<GroupReport>, (Vec<GroupReport>, ApplyError)> {
    use futures::stream::{self, StreamExt};
    let phase = Phase {
        cloud,
        observer: Observer::new(cloud, &stack.name),
        stack,
        plan,
        observed,
        stop,
        deferred,
    };
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
            .map(|address| phase.group(address, opts))
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

/// What every group of the phase shares.
struct Phase<'a> {
    cloud: &'a dyn Cloud,
    /// One look per round for all the rollouts in flight.
    observer: Observer<'a>,
    stack: &'a Stack,
    plan: &'a Plan,
    observed: &'a Observed,
    stop: &'a Stop,
    deferred: &'a traffic::Deferred,
}

impl Phase<'_> {
    /// One group's planned change, and its report.
    async fn group(
        &self,
        address: &String,
        opts: &ApplyOptions,
    ) -> (GroupReport, Option<ApplyError>) {
        let (plan, stack) = (self.plan, self.stack);
        let started = tokio::time::Instant::now();
        let planned = plan.changes.iter().find(|c| &c.address == address);
        let (g, change) = match (stack.server_group(address), planned) {
            (Some(g), Some(change)) => (g, change),
            _ => {
                let e = ApplyError::Changed {
                    resource: address.clone(),
                    message: "the stack no longer declares it as planned; run plan again".into(),
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
        let r = self.one_group(g, change, opts).await;
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
    }

    /// One group's change; returns the number of waves. Listener changes held back for target
    /// groups this group now serves are made as soon as it is healthy in them.
    async fn one_group(
        &self,
        g: &ServerGroup,
        change: &plan::Change,
        opts: &ApplyOptions,
    ) -> Result<u32, ApplyError> {
        let (cloud, stack, deferred) = (self.cloud, self.stack, self.deferred);
        // The serving generation moves to the stack's target groups first, so that a rollout
        // starts (and old instances drain) from the target groups the listeners use.
        let moved = match change.action {
            Action::Replace | Action::Resize | Action::Update => {
                move_attachments(cloud, stack, g, self.observed, deferred, opts).await?
            }
            _ => false,
        };
        let fresh;
        let observed = if moved {
            fresh = crate::observe::observe(cloud, &stack.name).await?;
            &fresh
        } else {
            self.observed
        };
        let observer = &self.observer;
        let waves = change_group(observer, stack, g, change, observed, opts, self.stop).await?;
        deferred.switch_ready(cloud).await?;
        Ok(waves)
    }
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
        let wait = HealthWait {
            address: g.address.clone(),
            group_name: name.clone(),
            desired: active.group.desired,
            target_group_arns: want.clone(),
            is_new: false,
            fleet: false,
        };
        let timeout = g.rollout.health.timeout;
        let mut retry = Retry::new(&g.address, opts, timeout);
        if let Some(why) =
            wait::one_healthy(cloud, stack, wait, timeout, opts.poll, &mut retry).await?
        {
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
    observer: &Observer<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &plan::Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<u32, ApplyError> {
    let cloud = observer.cloud();
    let first_resume = change.action == Action::Resume
        && change
            .rollout
            .as_ref()
            .is_some_and(|r| r.from_generation.is_none());
    let abandon = change.rollout.as_ref().and_then(|r| r.abandon_generation);
    let w = match change.action {
        // Stopped after its commit point: finished, nothing launched.
        Action::Resume if change.rollout.is_none() => {
            finish_interrupted(cloud, stack, g, observed, opts).await?;
            return Ok(0);
        }
        Action::Replace if abandon.is_some() => {
            return abandon_then_roll(observer, stack, g, change, observed, opts, stop).await;
        }
        Action::Replace | Action::Resume if !first_resume => {
            let r = roll(observer, stack, g, change, observed, opts, stop).await?;
            return Ok(r.waves);
        }
        Action::Resume => {
            let w = create::resume_first(g, observed, change)?;
            if !w.fleet {
                generation::reconfigure(cloud, change, &w.group_name).await?;
            }
            create::grow_resumed(cloud, stack, g, observed, &w).await?;
            w
        }
        Action::Create => create::create_generation(cloud, stack, g, observed, change).await?,
        _ => create::resize(cloud, stack, g, observed, change, opts).await?,
    };
    let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
    let outcome = wait_healthy(
        observer,
        stack,
        std::slice::from_ref(&w),
        g.rollout.health.timeout,
        opts.poll,
        &mut retry,
    )
    .await?;
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, w.target_group_arns.clone());
    if let Some((w, message)) = outcome.failures.into_iter().next() {
        return Err(activities::fail_new_generation(&fleet, g, &w, message).await);
    }
    let mut t = BTreeMap::new();
    t.insert(
        tag::STATE.to_string(),
        GenerationState::Active.as_str().to_string(),
    );
    // A first generation commits here; a resize changes no generation.
    if matches!(change.action, Action::Create | Action::Resume) {
        t.insert(tag::COMPLETED.to_string(), crate::cloud::timestamp(cloud));
    }
    fleet.tag(&w.group_name, &t).await?;
    tracing::info!(address = %w.address, group = %w.group_name, healthy = w.desired, "healthy");
    if let Some(number) = abandon {
        remove_abandoned_first(&fleet, stack, g, &w, number, opts, &mut retry).await?;
    }
    // A first generation is one wave; a resize or an attachment change none.
    Ok(change.rollout.as_ref().map_or(0, |r| r.waves.len() as u32))
}

/// A rollout or rollback of `g` that stopped after its commit point: the generations it
/// replaced are retired and the processes it suspended resumed (the plan's Resume without a
/// schedule; `reroll rollback` run again).
pub async fn finish_interrupted(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    opts: &ApplyOptions,
) -> Result<(), ApplyError> {
    let og = observed.groups.get(&g.key).ok_or_else(|| {
        ApplyError::Unsupported(format!("{}: no generation to finish", g.address))
    })?;
    let arns = match g.mode {
        GroupMode::Instances => plan::target_group_arns(g, observed),
        GroupMode::Asg => og
            .active()
            .map(|a| a.group.target_group_arns.clone())
            .unwrap_or_default(),
    };
    let fleet = fleet::Fleet::new(cloud, &stack.name, g, arns);
    generation::complete(&fleet, stack, g, og, opts).await
}

/// A rollout by the group's strategy.
async fn roll(
    observer: &Observer<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &plan::Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<RolloutReport, ApplyError> {
    if g.rollout.strategy == Strategy::BlueGreen {
        bluegreen::roll(observer.cloud(), stack, g, change, observed, opts, stop).await
    } else {
        rolling::roll(observer, stack, g, change, observed, opts, stop).await
    }
}

/// An interrupted rollout the stack no longer asks for: back to what served first, then the
/// new definition rolls out from there, as planned. Returns the number of waves.
async fn abandon_then_roll(
    observer: &Observer<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &plan::Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<u32, ApplyError> {
    let cloud = observer.cloud();
    if g.rollout.strategy == Strategy::BlueGreen {
        bluegreen::roll(cloud, stack, g, change, observed, opts, stop).await?;
    } else {
        generation::abandon(cloud, stack, g, change, observed, opts).await?;
    }
    if change
        .rollout
        .as_ref()
        .is_some_and(plan::RolloutPlan::is_revert)
    {
        return Ok(1);
    }
    let fresh = crate::observe::observe(cloud, &stack.name).await?;
    let mut next = change.clone();
    if let Some(r) = next.rollout.as_mut() {
        r.abandon_generation = None;
    }
    let r = roll(observer, stack, g, &next, &fresh, opts, stop).await?;
    // The plan's schedule is the new rollout's: going back first is no wave of it.
    Ok(r.waves)
}

/// A first generation the stack no longer asks for, replaced now that the new one is
/// healthy: drained and removed.
async fn remove_abandoned_first(
    fleet: &fleet::Fleet<'_>,
    stack: &Stack,
    g: &ServerGroup,
    w: &HealthWait,
    number: u32,
    opts: &ApplyOptions,
    retry: &mut Retry,
) -> Result<(), ApplyError> {
    let cloud = fleet.cloud;
    let name = names::generation_group_name(&stack.name, &g.key, number);
    tracing::warn!(address = %g.address, group = %name, "draining and removing the abandoned first generation");
    if let Some(old) = fleet.find(&name).await? {
        let ids: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
        for arn in &w.target_group_arns {
            cloud.deregister_targets(arn, &ids).await?;
        }
        let limit = longest_drain(stack, g) + Duration::from_secs(60);
        wait::drained(cloud, &w.target_group_arns, &ids, limit, opts.poll, retry).await?;
        fleet.delete(&name).await?;
    }
    Ok(())
}
