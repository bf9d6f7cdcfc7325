//! The steps of a blue/green rollout once green is prepared: green joins the listeners at
//! weight 0 and comes up at full size, traffic moves in weighted steps with bakes and hooks,
//! blue is kept for `keep_blue` and then removed from the listeners; every failure moves
//! traffic back to blue first, then removes green.

use std::collections::HashMap;
use std::time::Duration;

use super::lanes::{restored, shifted, without_blue, Lane};
use crate::apply::context::longest_drain;
use crate::apply::error::ApplyError;
use crate::apply::fleet::Fleet;
use crate::apply::gates::{self, GateFailure};
use crate::apply::generation::{self, Pair, Removal};
use crate::apply::observer::Observer;
use crate::apply::progress::{Counts, Reporter};
use crate::apply::retry::Retry;
use crate::apply::stop::Stop;
use crate::apply::types::{ApplyOptions, HealthWait, RolloutReport};
use crate::apply::wait;
use crate::cloud::states::TargetState;
use crate::cloud::{tag, Cloud, CloudError, Forward, ListenerInfo, Tags};
use crate::observe::ObservedGroup;
use crate::stack::{HookEvent, OnFailure, ServerGroup, Stack};

pub(super) struct BlueGreen<'a> {
    pub(super) cloud: &'a dyn Cloud,
    pub(super) stack: &'a Stack,
    pub(super) g: &'a ServerGroup,
    pub(super) og: &'a ObservedGroup,
    pub(super) fleet: &'a Fleet<'a>,
    pub(super) pair: &'a Pair,
    pub(super) lanes: &'a [Lane],
    pub(super) listeners: Vec<ListenerInfo>,
    pub(super) desired: u32,
    pub(super) opts: &'a ApplyOptions,
    pub(super) stop: &'a Stop,
    pub(super) reporter: &'a Reporter,
}

impl BlueGreen<'_> {
    /// Returns true when traffic is on green and blue's window has passed; false when stopped.
    pub(super) async fn run(&self) -> Result<bool, GateFailure> {
        let (g, pair) = (self.g, self.pair);
        let alarms = &g.rollout.health.alarms;
        let green = self.fleet.find(&pair.new_name).await?;
        let launched = green
            .as_ref()
            .is_some_and(|n| n.desired > 0 || !n.instances.is_empty());
        if !launched {
            let ctx =
                generation::hook_context(self.cloud, self.stack, g, self.og, pair, 0, &[]).await?;
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
                generation::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
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
                generation::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
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
            generation::hook_context(self.cloud, self.stack, g, self.og, pair, 1, &ids).await?;
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

    /// Green instances serving: in service and healthy in every one of green's target groups.
    async fn green_healthy(&self) -> Result<u32, GateFailure> {
        let green = self.fleet.find(&self.pair.new_name).await?;
        let Some(green) = green.filter(|g| g.status.is_none()) else {
            return Err(GateFailure::Changed(format!(
                "green ({}) is no longer in the account",
                self.pair.new_name
            )));
        };
        let mut targets: Vec<HashMap<String, TargetState>> = Vec::new();
        for lane in self.lanes {
            let h = match self.cloud.target_health(&lane.green).await {
                Err(e) if e.is_not_found() => {
                    return Err(GateFailure::Changed(format!(
                        "green's target group {} no longer exists",
                        lane.green
                    )))
                }
                other => other?,
            };
            targets.push(h.into_iter().map(|t| (t.id, t.state)).collect());
        }
        Ok(green
            .instances
            .iter()
            .filter(|i| i.serving(targets.iter().map(|lane| lane.get(&i.id))))
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
        let waits = [HealthWait {
            address: self.g.address.clone(),
            group_name: self.pair.new_name.clone(),
            desired: self.desired,
            target_group_arns: self.lanes.iter().map(|l| l.green.clone()).collect(),
            is_new: true,
            fleet: false,
        }];
        let outcome = wait::wait_healthy(
            &Observer::new(self.cloud, &self.stack.name),
            self.stack,
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
    pub(super) async fn traffic(&self) -> Result<u32, CloudError> {
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
    pub(super) async fn fail(&self, message: String) -> Result<RolloutReport, ApplyError> {
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
    pub(super) async fn changed(&self, what: String) -> Result<RolloutReport, ApplyError> {
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
    pub(super) async fn withdraw(&self) -> Result<(), ApplyError> {
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
            .run(async || generation::mark_removed(self.fleet, pair, removal).await)
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
                Removal::Failed => generation::remember_failure(self.fleet, pair, None).await,
                Removal::Withdrawn => generation::serves_again(self.fleet, pair).await,
            })
            .await?;
        tracing::info!(address = %g.address, serving = %pair.old.name, "rolled back: green removed");
        Ok(())
    }
}
