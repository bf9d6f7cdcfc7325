//! Blue/green: the new generation (green) comes up at full size behind its own copies of the
//! group's target groups, then listener traffic moves from the serving generation (blue) to
//! green, all at once or in weighted steps. Blue stays at capacity for `keep_blue`, the
//! instant-rollback window, and is then retired.
//!
//! Progress lives in the account: green carries `reroll:state = rolling` and
//! `reroll:traffic = <percent>`, and the listeners' weights say where traffic is. Any failure
//! moves traffic back to blue first, then removes green.

use std::time::Duration;

use tokio::time::Instant;

use super::fleet::Fleet;
use super::gates::{self, GateFailure};
use super::progress::{Counts, Reporter};
use super::retry::Retry;
use super::rollout::{self, Pair, Removal, RolloutReport, Stop, SUSPEND_NEW, SUSPEND_OLD};
use super::{cleanup, longest_drain, wait, ApplyError, ApplyOptions};
use crate::cloud::{tag, Cloud, CloudError, Forward, ListenerInfo, Tags, TargetGroupSpec};
use crate::names;
use crate::observe::{GenerationState, Observed, ObservedGroup};
use crate::plan::Change;
use crate::stack::{HookEvent, OnFailure, ServerGroup, Stack};

/// A weighted forward action holds at most this many target groups.
const FORWARD_TARGET_GROUPS_MAX: usize = 5;
/// Weights range from 0 to 999.
const WEIGHT_MAX: u32 = 999;

/// One of the group's target groups: where blue gets its traffic, and green's copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub address: String,
    pub blue: String,
    pub green: String,
}

/// The name of generation `number`'s copy of target group `address` (≤32 characters).
pub fn copy_name(stack: &str, group_key: &str, address: &str, number: u32) -> String {
    let label = address.rsplit('.').next().unwrap_or(address);
    names::elb_name(stack, &format!("{group_key}-{label}-v{number:03}"))
}

/// Rolls (or resumes rolling) `g` blue/green.
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
    let og = super::observed_group(observed, g)?;
    let plan = rollout::planned_rollout(g, change)?;
    let desired = plan.desired;
    let active = super::serving_generation(og, g)?;
    let number = og
        .generations
        .iter()
        .rev()
        .find(|x| x.state == GenerationState::Rolling)
        .map_or(plan.to_generation, |x| x.number);
    // Refused before anything is created: without a listener there is no traffic to move.
    let listeners = listeners_of(observed, g)?;
    let lanes = lanes(cloud, stack, g, observed, number).await?;
    let green_arns: Vec<String> = lanes.iter().map(|l| l.green.clone()).collect();
    let fleet = Fleet::new(cloud, &stack.name, g, green_arns);
    let pair = rollout::prepare(&fleet, stack, g, change, og).await?;
    debug_assert_eq!(pair.new_number, number);

    let reporter = Reporter::new(
        &opts.progress,
        &g.address,
        Some(pair.old_number),
        pair.new_number,
        plan,
        started,
    );
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    let ended = cleanup::scoped(&fleet, &g.address, &generations, opts, async {
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        retry
            .run(async || {
                if let Some(blue) = fleet.find(&pair.old.name).await? {
                    cleanup::suspend(&fleet, &blue, SUSPEND_OLD).await?;
                }
                if let Some(green) = fleet.find(&pair.new_name).await? {
                    cleanup::suspend(&fleet, &green, SUSPEND_NEW).await?;
                }
                Ok(())
            })
            .await?;
        let b = BlueGreen {
            cloud,
            stack,
            g,
            og,
            fleet: &fleet,
            pair: &pair,
            lanes: &lanes,
            listeners,
            desired,
            opts,
            stop,
            reporter: &reporter,
        };
        tracing::info!(
            address = %g.address, blue = %pair.old.name, green = %pair.new_name,
            "blue/green: {} → {}", active.group.name, pair.new_name
        );
        if plan.abandon_generation.is_some() {
            b.withdraw().await?;
            return Ok(RolloutReport {
                address: g.address.clone(),
                from: Some(pair.new_number),
                to: pair.old_number,
                waves: 0,
                duration: started.elapsed(),
            });
        }
        // Every step reads where it stands from the account (green's size, its traffic tag,
        // the listeners), so after a transient error the steps run again from the top.
        let outcome = loop {
            match b.run().await {
                Err(GateFailure::Cloud(e)) => {
                    if let Err(e) = retry.pause(e).await {
                        break Err(GateFailure::Cloud(e));
                    }
                }
                other => break other,
            }
        };
        match outcome {
            Ok(true) => {
                rollout::finish(&fleet, g, og, &pair, desired, opts).await?;
                Ok(RolloutReport {
                    address: g.address.clone(),
                    from: Some(pair.old_number),
                    to: pair.new_number,
                    waves: 1,
                    duration: started.elapsed(),
                })
            }
            Ok(false) => Err(ApplyError::Interrupted {
                address: g.address.clone(),
                message: format!(
                    "stopped: v{:03} serves at full capacity, v{:03} is up with {}% of traffic; \
                     run apply again to continue",
                    pair.old_number,
                    pair.new_number,
                    b.traffic().await.unwrap_or(0)
                ),
            }),
            Err(GateFailure::Cloud(e)) => Err(e.into()),
            Err(GateFailure::Failed(message)) => b.fail(message).await,
            Err(GateFailure::Changed(what)) => b.changed(what).await,
        }
    })
    .await;
    reporter.finish(match &ended {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    });
    ended
}

/// The lanes of a group: for each of its target groups, the one blue serves from (the
/// original, or blue's own copy) and green's copy, created here when missing.
async fn lanes(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    number: u32,
) -> Result<Vec<Lane>, ApplyError> {
    let mut out = Vec::new();
    for address in &g.target_groups {
        let original = observed.target_groups.get(address).ok_or_else(|| {
            ApplyError::Unsupported(format!(
                "{}: its target group {address} does not exist",
                g.address
            ))
        })?;
        let blue = observed
            .serving_target_group_arn(address)
            .unwrap_or(&original.info.arn)
            .to_string();
        let existing = observed
            .copies
            .iter()
            .find(|c| c.of == *address && c.group == g.key && c.generation == number)
            .map(|c| c.info.arn.clone())
            .or_else(|| {
                // A retained generation rolled back to: whatever it was attached to, the
                // original target group (a first generation) or its own copy.
                let gen = observed
                    .groups
                    .get(&g.key)?
                    .generations
                    .iter()
                    .find(|x| x.number == number)?;
                gen.group
                    .target_group_arns
                    .iter()
                    .find(|arn| {
                        **arn == original.info.arn
                            || observed
                                .copies
                                .iter()
                                .any(|c| c.info.arn == **arn && c.of == *address)
                    })
                    .cloned()
            });
        let green = match existing {
            Some(arn) => arn,
            None => {
                let spec = TargetGroupSpec {
                    name: copy_name(&stack.name, &g.key, address, number),
                    ..original.info.spec.clone()
                };
                let mut tags = stack.tags.clone();
                tags.insert(tag::STACK.into(), stack.name.clone());
                tags.insert(tag::GROUP.into(), g.key.clone());
                tags.insert(tag::GENERATION.into(), number.to_string());
                tags.insert(tag::COPY_OF.into(), address.clone());
                tracing::info!(address = %g.address, target_group = %spec.name, "creating green's target group");
                super::adopt::creating(cloud, &stack.name)
                    .create_target_group(&spec, &tags)
                    .await?
            }
        };
        out.push(Lane {
            address: address.clone(),
            blue,
            green,
        });
    }
    Ok(out)
}

/// The listeners that send traffic to blue: the ones whose weights move.
fn listeners_of(observed: &Observed, g: &ServerGroup) -> Result<Vec<ListenerInfo>, ApplyError> {
    // The group's target groups as they serve, the stack's own (a rollback to a first
    // generation moves traffic back to them), and every generation's copy of them.
    let arns: Vec<&str> = g
        .target_groups
        .iter()
        .filter_map(|a| observed.serving_target_group_arn(a))
        .chain(
            g.target_groups
                .iter()
                .filter_map(|a| observed.target_group_arn(a)),
        )
        .chain(
            observed
                .copies
                .iter()
                .filter(|c| c.group == g.key)
                .map(|c| c.info.arn.as_str()),
        )
        .collect();
    let listeners: Vec<ListenerInfo> = observed
        .load_balancers
        .values()
        .flat_map(|lb| lb.listeners.iter())
        .filter(|l| {
            l.spec
                .forward
                .iter()
                .any(|f| arns.contains(&f.target_group_arn.as_str()))
        })
        .cloned()
        .collect();
    if listeners.is_empty() {
        return Err(ApplyError::Unsupported(format!(
            "blue/green needs a load balancer listener that forwards to {}; none does",
            g.target_groups.join(", ")
        )));
    }
    Ok(listeners)
}

/// A listener's forward action with `percent` of each lane's traffic on green. The lane's
/// total weight is kept relative to any other target group the listener forwards to; weights
/// are scaled up (within 0–999) so that small percentages stay expressible.
pub fn shifted(forward: &[Forward], lanes: &[Lane], percent: u32) -> Result<Vec<Forward>, String> {
    let lane_of = |arn: &str| lanes.iter().position(|l| l.blue == arn || l.green == arn);
    let mut totals = vec![0u32; lanes.len()];
    let mut present = vec![false; lanes.len()];
    let mut others: Vec<Forward> = Vec::new();
    for f in forward {
        match lane_of(&f.target_group_arn) {
            Some(i) => {
                totals[i] += f.weight;
                present[i] = true;
            }
            None => others.push(f.clone()),
        }
    }
    // A lane with no weight at all (a single-target action reports weight 1, or 0) counts 1.
    for (t, p) in totals.iter_mut().zip(&present) {
        if *p && *t == 0 {
            *t = 1;
        }
    }
    let largest_other = others.iter().map(|f| f.weight).max().unwrap_or(0);
    let smallest_lane = totals
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(t, _)| *t)
        .min()
        .unwrap_or(1);
    // Scale so that the smallest lane splits in whole percents, within the weight limit.
    let largest = totals
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(largest_other)
        .max(1);
    let scale = (100 / smallest_lane.max(1))
        .max(1)
        .min(WEIGHT_MAX / largest)
        .max(1);
    let mut out: Vec<Forward> = others
        .into_iter()
        .map(|f| Forward {
            weight: f.weight * scale,
            ..f
        })
        .collect();
    for (i, lane) in lanes.iter().enumerate().filter(|(i, _)| present[*i]) {
        let total = totals[i] * scale;
        let green = (u64::from(total) * u64::from(percent) / 100) as u32;
        let blue = total - green;
        if percent < 100 {
            out.push(Forward {
                target_group_arn: lane.blue.clone(),
                weight: blue,
            });
        }
        // At 0% green still joins, at weight 0: AWS health-checks only target groups that
        // a listener forwards to.
        out.push(Forward {
            target_group_arn: lane.green.clone(),
            weight: green,
        });
    }
    if out.len() > FORWARD_TARGET_GROUPS_MAX {
        return Err(format!(
            "a listener would forward to {} target groups; AWS allows {FORWARD_TARGET_GROUPS_MAX} \
             in one action",
            out.len()
        ));
    }
    Ok(out)
}

/// The forward action once blue's window has passed: blue's target groups gone; a single
/// remaining target group is a plain forward (weight 1).
pub fn without_blue(forward: &[Forward], lanes: &[Lane]) -> Vec<Forward> {
    let mut out = crate::cloud::remap_forward(forward, |arn| {
        (!lanes.iter().any(|l| l.blue == arn)).then(|| arn.to_string())
    });
    if let [only] = out.as_mut_slice() {
        only.weight = 1;
    }
    out
}

/// The forward action with green gone and blue back at its full share.
pub fn restored(forward: &[Forward], lanes: &[Lane]) -> Vec<Forward> {
    crate::cloud::remap_forward(forward, |arn| {
        let lane = lanes.iter().find(|l| l.green == arn);
        Some(lane.map_or(arn, |l| l.blue.as_str()).to_string())
    })
}

struct BlueGreen<'a> {
    cloud: &'a dyn Cloud,
    stack: &'a Stack,
    g: &'a ServerGroup,
    og: &'a ObservedGroup,
    fleet: &'a Fleet<'a>,
    pair: &'a Pair,
    lanes: &'a [Lane],
    listeners: Vec<ListenerInfo>,
    desired: u32,
    opts: &'a ApplyOptions,
    stop: &'a Stop,
    reporter: &'a Reporter,
}

impl BlueGreen<'_> {
    /// Returns true when traffic is on green and blue's window has passed; false when stopped.
    async fn run(&self) -> Result<bool, GateFailure> {
        let (g, pair) = (self.g, self.pair);
        let alarms = &g.rollout.health.alarms;
        let green = self.fleet.find(&pair.new_name).await?;
        let launched = green
            .as_ref()
            .is_some_and(|n| n.desired > 0 || !n.instances.is_empty());
        if !launched {
            let ctx =
                rollout::hook_context(self.cloud, self.stack, g, self.og, pair, 0, &[]).await?;
            gates::run_hooks(self.stack, g, HookEvent::BeforeRollout, &ctx).await?;
        }
        // Health checks only run for a target group a listener forwards to: green joins the
        // listeners at weight 0 before it launches.
        let traffic = self.traffic().await?;
        if traffic == 0 {
            self.shift(0).await?;
        }
        let max = g.capacity.max.max(self.desired);
        self.fleet
            .set_capacity(&pair.new_gen, 0, self.desired, max)
            .await?;
        self.note(&format!("green launching: {} instances", self.desired))
            .await?;
        self.reporter.counts(Counts {
            launching: self.desired,
            old_serving: self.blue(),
            traffic: Some(traffic),
            ..Counts::default()
        });
        self.wait_green().await?;
        self.reporter.update(|c| {
            c.healthy = self.desired;
            c.launching = 0;
        });
        gates::check_alarms(self.cloud, alarms).await?;
        let ids = self.green_ids().await?;
        if traffic == 0 {
            let ctx =
                rollout::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
            gates::run_hooks(self.stack, g, HookEvent::AfterWave, &ctx).await?;
        }

        let steps: Vec<u32> = g
            .rollout
            .traffic_steps
            .iter()
            .copied()
            .filter(|&p| p > traffic)
            .collect();
        for step in steps {
            if self.stop.requested() {
                return Ok(false);
            }
            let mut ctx =
                rollout::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
            ctx.traffic_percent = Some(step);
            gates::run_hooks(self.stack, g, HookEvent::BeforeTrafficShift, &ctx).await?;
            tracing::info!(address = %g.address, "shifting traffic: {step}% to {}", pair.new_name);
            self.shift(step).await?;
            self.reporter.update(|c| c.traffic = Some(step));
            self.note(&format!("{step}% of traffic on green")).await?;
            if step < 100 {
                let baked = self
                    .hold(&format!("{step}% of traffic"), g.rollout.step_bake)
                    .await?;
                if !baked {
                    return Ok(false);
                }
            }
        }
        let mut ctx =
            rollout::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
        ctx.traffic_percent = Some(100);
        gates::run_hooks(self.stack, g, HookEvent::AfterRollout, &ctx).await?;
        // The instant-rollback window: blue stays registered and at capacity.
        let kept = self
            .hold(
                "the rollback window (blue kept at capacity)",
                g.rollout.keep_blue,
            )
            .await?;
        if !kept {
            return Ok(false);
        }
        // Blue leaves the listeners; its instances drain as its group scales to zero.
        self.remove_blue().await?;
        self.reporter.update(|c| {
            c.draining = c.old_serving;
            c.old_serving = 0;
        });
        Ok(true)
    }

    /// Bakes: green must stay whole and healthy, alarms quiet.
    async fn hold(&self, what: &str, duration: Duration) -> Result<bool, GateFailure> {
        let alarms = &self.g.rollout.health.alarms;
        let mut retry = self.retry();
        self.reporter.activity(Some(format!(
            "holding {what} for {}",
            crate::plan::human_duration(duration.as_secs())
        )));
        let held = gates::bake(
            what,
            &self.g.address,
            duration,
            self.opts.poll,
            self.stop,
            &mut retry,
            async || {
                let healthy = self.green_healthy().await?;
                if healthy < self.desired {
                    return Err(GateFailure::Failed(format!(
                        "green went unhealthy during {what}: {healthy} of {} healthy",
                        self.desired
                    )));
                }
                gates::check_alarms(self.cloud, alarms).await
            },
        )
        .await;
        self.reporter.activity(None);
        held
    }

    /// Blue's size while it serves: it stays at capacity until its window has passed.
    fn blue(&self) -> u32 {
        self.pair.from_capacity.1
    }

    fn retry(&self) -> Retry {
        Retry::new(&self.g.address, self.opts, self.g.rollout.health.timeout)
    }

    /// Green instances healthy in every one of green's target groups.
    async fn green_healthy(&self) -> Result<u32, GateFailure> {
        let green = self.fleet.find(&self.pair.new_name).await?;
        let Some(green) = green.filter(|g| g.status.is_none()) else {
            return Err(GateFailure::Changed(format!(
                "green ({}) is no longer in the account",
                self.pair.new_name
            )));
        };
        let mut healthy: Option<std::collections::HashSet<String>> = None;
        for lane in self.lanes {
            let h: std::collections::HashSet<String> =
                match self.cloud.target_health(&lane.green).await {
                    Err(e) if e.is_not_found() => {
                        return Err(GateFailure::Changed(format!(
                            "green's target group {} no longer exists",
                            lane.green
                        )))
                    }
                    other => other?,
                }
                .into_iter()
                .filter(|t| t.state == "healthy")
                .map(|t| t.id)
                .collect();
            healthy = Some(match healthy {
                None => h,
                Some(prev) => prev.intersection(&h).cloned().collect(),
            });
        }
        let healthy = healthy.unwrap_or_default();
        Ok(green
            .instances
            .iter()
            .filter(|i| {
                i.lifecycle_state == "InService"
                    && i.health_status == "Healthy"
                    && healthy.contains(&i.id)
            })
            .count() as u32)
    }

    async fn green_ids(&self) -> Result<Vec<String>, CloudError> {
        Ok(self
            .fleet
            .find(&self.pair.new_name)
            .await?
            .map(|n| n.instances.iter().map(|i| i.id.clone()).collect())
            .unwrap_or_default())
    }

    async fn wait_green(&self) -> Result<(), GateFailure> {
        let waits = [wait::HealthWait {
            address: self.g.address.clone(),
            group_name: self.pair.new_name.clone(),
            desired: self.desired,
            target_group_arns: self.lanes.iter().map(|l| l.green.clone()).collect(),
            is_new: true,
            fleet: false,
        }];
        let outcome = wait::wait_healthy(
            self.cloud,
            &self.stack.name,
            &waits,
            self.g.rollout.health.timeout,
            self.opts.poll,
            &mut self.retry(),
        )
        .await?;
        match outcome.failures.into_iter().next() {
            Some((_, why)) => Err(GateFailure::Failed(format!(
                "green did not become healthy: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// The share of traffic green has, from its tag.
    async fn traffic(&self) -> Result<u32, CloudError> {
        Ok(self
            .fleet
            .find(&self.pair.new_name)
            .await?
            .and_then(|n| n.tags.get(tag::TRAFFIC)?.parse().ok())
            .unwrap_or(0))
    }

    /// Sets every listener to `percent` on green, then records it on green.
    async fn shift(&self, percent: u32) -> Result<(), GateFailure> {
        self.rewrite(|f| shifted(f, self.lanes, percent)).await?;
        self.record_traffic(percent).await
    }

    /// After the window: listeners forward to green only.
    async fn remove_blue(&self) -> Result<(), GateFailure> {
        self.rewrite(|f| Ok(without_blue(f, self.lanes))).await
    }

    /// Traffic back to blue, every listener; green leaves them.
    async fn traffic_to_blue(&self) -> Result<(), GateFailure> {
        self.rewrite(|f| Ok(restored(f, self.lanes))).await?;
        match self.record_traffic(0).await {
            // Green is gone: there is nothing to record it on.
            Err(GateFailure::Cloud(e)) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Rewrites the forward action of every listener that moves, from its current weights
    /// (read afresh: they change between steps), one listing per load balancer.
    async fn rewrite(
        &self,
        change: impl Fn(&[Forward]) -> Result<Vec<Forward>, String>,
    ) -> Result<(), GateFailure> {
        let mut balancers: Vec<&str> = self
            .listeners
            .iter()
            .map(|l| l.load_balancer_arn.as_str())
            .collect();
        balancers.dedup();
        for lb in balancers {
            let current = match self.cloud.list_listeners(lb).await {
                Err(e) if e.is_not_found() => {
                    return Err(GateFailure::Changed(format!(
                        "the load balancer {lb} no longer exists"
                    )))
                }
                other => other?,
            };
            for l in self.listeners.iter().filter(|l| l.load_balancer_arn == lb) {
                let now = current.iter().find(|x| x.arn == l.arn).ok_or_else(|| {
                    GateFailure::Changed(format!(
                        "the listener :{} of {lb} no longer exists",
                        l.spec.port
                    ))
                })?;
                let ours = |arn: &str| {
                    self.lanes
                        .iter()
                        .any(|lane| lane.blue == arn || lane.green == arn)
                };
                if !now.spec.forward.iter().any(|f| ours(&f.target_group_arn)) {
                    return Err(GateFailure::Changed(format!(
                        "the listener :{} of {lb} no longer forwards to {}",
                        l.spec.port,
                        self.lanes
                            .iter()
                            .map(|lane| lane.address.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let spec = crate::cloud::ListenerSpec {
                    forward: change(&now.spec.forward).map_err(GateFailure::Failed)?,
                    ..now.spec.clone()
                };
                match self.cloud.modify_listener(&l.arn, &spec).await {
                    Err(e) if e.is_not_found() => {
                        return Err(GateFailure::Changed(format!(
                            "the listener :{} of {lb}, or a target group it forwards to, no \
                             longer exists",
                            l.spec.port
                        )))
                    }
                    other => other?,
                }
            }
        }
        Ok(())
    }

    async fn record_traffic(&self, percent: u32) -> Result<(), GateFailure> {
        let mut t = Tags::new();
        t.insert(tag::TRAFFIC.into(), percent.to_string());
        Ok(self.fleet.tag(&self.pair.new_name, &t).await?)
    }

    async fn note(&self, progress: &str) -> Result<(), CloudError> {
        let mut t = Tags::new();
        t.insert(tag::PROGRESS.into(), progress.to_string());
        self.fleet.tag(&self.pair.new_name, &t).await
    }

    /// A step failed: traffic goes back to blue first, then green is removed (or kept for a
    /// look with `on_failure = "pause"`).
    async fn fail(&self, message: String) -> Result<RolloutReport, ApplyError> {
        let (g, pair) = (self.g, self.pair);
        tracing::error!(address = %g.address, "blue/green rollout failed: {message}");
        self.reporter.activity(Some(
            "moving traffic back to blue, then removing green".into(),
        ));
        match self.back_to_blue().await {
            Ok(()) => {}
            Err(GateFailure::Changed(what)) => {
                return Err(ApplyError::changed_mid_rollout(
                    &g.address,
                    &format!("{message}; and {what}"),
                    &format!(
                        "Traffic was left where it is; v{:03} and v{:03} are kept.",
                        pair.old_number, pair.new_number
                    ),
                ))
            }
            Err(e) => {
                return Err(ApplyError::Paused {
                    address: g.address.clone(),
                    message: format!(
                        "{message}; moving traffic back to {} failed too: {e}. Check the \
                         listeners",
                        pair.old.name
                    ),
                })
            }
        }
        tracing::warn!(address = %g.address, serving = %pair.old.name, "traffic is back on blue");
        if g.rollout.on_failure == OnFailure::Pause {
            return Err(ApplyError::Paused {
                address: g.address.clone(),
                message: format!(
                    "{message}. All traffic is back on v{:03}; v{:03} is kept for a look. Run \
                     apply again to retry, or change the stack back",
                    pair.old_number, pair.new_number
                ),
            });
        }
        match self.remove_green(Removal::Failed).await {
            Ok(()) => Err(ApplyError::RolledBack {
                address: g.address.clone(),
                message,
            }),
            Err(e) => Err(ApplyError::Paused {
                address: g.address.clone(),
                message: format!(
                    "{message}; traffic is back on blue, but removing green failed: {e}"
                ),
            }),
        }
    }

    /// Traffic back to blue, retrying transient errors: a failure must not leave it on green.
    async fn back_to_blue(&self) -> Result<(), GateFailure> {
        let mut retry = self.retry();
        loop {
            match self.traffic_to_blue().await {
                Err(GateFailure::Cloud(e)) => retry.pause(e).await?,
                other => return other,
            }
        }
    }

    /// Something the rollout works on changed outside reroll: traffic goes back to blue where
    /// a listener still forwards to green (if blue is still there to take it), and the rollout
    /// stops for a person to look; green is kept.
    async fn changed(&self, what: String) -> Result<RolloutReport, ApplyError> {
        let (g, pair) = (self.g, self.pair);
        tracing::error!(address = %g.address, "blue/green rollout stopped: {what}");
        let blue_there = matches!(self.fleet.find(&pair.old.name).await, Ok(Some(_)));
        let left = if !blue_there {
            format!(
                "Blue (v{:03}) is gone, so traffic was left where it is; green (v{:03}) is left \
                 as it is.",
                pair.old_number, pair.new_number
            )
        } else {
            let mut moved = Vec::new();
            for l in &self.listeners {
                let Ok(current) = self.cloud.list_listeners(&l.load_balancer_arn).await else {
                    continue;
                };
                let Some(now) = current.iter().find(|x| x.arn == l.arn) else {
                    continue;
                };
                if !now.spec.forward.iter().any(|f| {
                    self.lanes
                        .iter()
                        .any(|lane| lane.green == f.target_group_arn)
                }) {
                    continue;
                }
                let spec = crate::cloud::ListenerSpec {
                    forward: restored(&now.spec.forward, self.lanes),
                    ..now.spec.clone()
                };
                if self.cloud.modify_listener(&l.arn, &spec).await.is_ok() {
                    moved.push(format!(":{}", l.spec.port));
                }
            }
            let _ = self.record_traffic(0).await;
            format!(
                "Traffic on listeners that still forwarded to green went back to v{:03}{}; \
                 green (v{:03}) is left as it is.",
                pair.old_number,
                if moved.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", moved.join(", "))
                },
                pair.new_number
            )
        };
        Err(ApplyError::changed_mid_rollout(&g.address, &what, &left))
    }

    /// The stack no longer asks for green's definition (an interrupted rollout, then the stack
    /// changed): traffic goes back to blue, and green is removed without recording a failure.
    async fn withdraw(&self) -> Result<(), ApplyError> {
        let (g, pair) = (self.g, self.pair);
        tracing::warn!(
            address = %g.address, abandoned = %pair.new_name, serving = %pair.old.name,
            "abandoning the interrupted blue/green rollout: the stack no longer asks for its definition"
        );
        match self.back_to_blue().await {
            Ok(()) => self.remove_green(Removal::Withdrawn).await,
            Err(e) => Err(ApplyError::Paused {
                address: g.address.clone(),
                message: format!(
                    "moving traffic back to {} failed: {e}. Check the listeners",
                    pair.old.name
                ),
            }),
        }
    }

    /// Drains and deletes green and its target groups; for a failure, records the failed
    /// definition on blue. Each call is retried after transient errors.
    async fn remove_green(&self, removal: Removal) -> Result<(), ApplyError> {
        let (g, pair, cloud) = (self.g, self.pair, self.cloud);
        let mut retry = self.retry();
        retry
            .run(async || rollout::mark_removed(self.fleet, pair, removal).await)
            .await?;
        let ids = retry.run(async || self.green_ids().await).await?;
        let arns: Vec<String> = self.lanes.iter().map(|l| l.green.clone()).collect();
        for arn in &arns {
            retry
                .run(async || cloud.deregister_targets(arn, &ids).await)
                .await?;
        }
        let limit = longest_drain(self.stack, g) + Duration::from_secs(60);
        wait::drained(cloud, &arns, &ids, limit, self.opts.poll, &mut retry).await?;
        retry
            .run(async || match self.fleet.delete(&pair.new_name).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            })
            .await?;
        wait::wait_groups_gone(
            cloud,
            &self.stack.name,
            std::slice::from_ref(&pair.new_name),
            Duration::from_secs(900),
            self.opts.poll,
            &mut retry,
        )
        .await?;
        for arn in &arns {
            if let Err(e) = cloud.delete_target_group(arn).await {
                if !e.is_not_found() {
                    tracing::warn!(target_group = %arn, error = %e, "could not delete green's target group");
                }
            }
        }
        retry
            .run(async || match removal {
                Removal::Failed => rollout::remember_failure(self.fleet, pair, None).await,
                Removal::Withdrawn => rollout::serves_again(self.fleet, pair).await,
            })
            .await?;
        tracing::info!(address = %g.address, serving = %pair.old.name, "rolled back: green removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(arn: &str, weight: u32) -> Forward {
        Forward {
            target_group_arn: arn.into(),
            weight,
        }
    }

    fn lane() -> Vec<Lane> {
        vec![Lane {
            address: "target_group.web".into(),
            blue: "blue".into(),
            green: "green".into(),
        }]
    }

    /// (listener forward before, percent, forward after)
    #[test]
    fn traffic_shifts() {
        let cases = [
            (
                vec![fw("blue", 1)],
                0,
                vec![fw("blue", 100), fw("green", 0)],
            ),
            (
                vec![fw("blue", 1)],
                10,
                vec![fw("blue", 90), fw("green", 10)],
            ),
            (
                vec![fw("blue", 90), fw("green", 10)],
                50,
                vec![fw("blue", 50), fw("green", 50)],
            ),
            (
                vec![fw("blue", 50), fw("green", 50)],
                100,
                vec![fw("green", 100)],
            ),
            // another service keeps its share: 1:1 becomes 100:100, then split
            (
                vec![fw("other", 1), fw("blue", 1)],
                10,
                vec![fw("other", 100), fw("blue", 90), fw("green", 10)],
            ),
            // weights stay within 0..=999
            (
                vec![fw("other", 500), fw("blue", 500)],
                10,
                vec![fw("other", 500), fw("blue", 450), fw("green", 50)],
            ),
        ];
        for (before, percent, want) in cases {
            assert_eq!(
                shifted(&before, &lane(), percent).unwrap(),
                want,
                "{before:?} at {percent}%"
            );
        }
    }

    #[test]
    fn a_full_listener_cannot_take_green() {
        let before = vec![
            fw("a", 1),
            fw("b", 1),
            fw("c", 1),
            fw("d", 1),
            fw("blue", 1),
        ];
        let err = shifted(&before, &lane(), 10).unwrap_err();
        assert!(err.contains("AWS allows 5"), "{err}");
    }

    #[test]
    fn restoring_merges_green_back_into_blue() {
        let after = restored(
            &[fw("other", 100), fw("blue", 90), fw("green", 10)],
            &lane(),
        );
        assert_eq!(after, vec![fw("other", 100), fw("blue", 100)]);
    }

    #[test]
    fn once_blue_is_gone_a_lone_green_is_a_plain_forward() {
        let cases = [
            (vec![fw("green", 100)], vec![fw("green", 1)]),
            (vec![fw("blue", 0), fw("green", 100)], vec![fw("green", 1)]),
            (
                vec![fw("other", 100), fw("blue", 0), fw("green", 100)],
                vec![fw("other", 100), fw("green", 100)],
            ),
        ];
        for (before, want) in cases {
            assert_eq!(without_blue(&before, &lane()), want, "{before:?}");
        }
    }

    #[test]
    fn copy_names_fit_and_differ_by_generation() {
        let a = copy_name("shop", "web", "target_group.web", 2);
        let b = copy_name("shop", "web", "target_group.web", 3);
        assert_eq!(a, "shop-web-web-v002");
        assert_ne!(a, b);
        let long = copy_name(
            "a-rather-long-stack-name",
            "frontend",
            "module.api.target_group.public",
            12,
        );
        assert!(long.len() <= 32, "{long}");
    }
}
