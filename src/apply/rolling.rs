//! The rolling replacement of one server group: a new generation, wave by wave; canary
//! checkpoints are a cap on the new generation in [`decide`], baked here.
//!
//! Each round observes both generations through the apply's shared [`Observer`] (one group
//! listing and one health call per target group for every rollout in flight, whatever the
//! number of instances), asks [`decide`] what to do, acts, and sleeps until the [`Cadence`]
//! says a look can find something new (or a look another rollout asked for comes first).
//! Everything it needs to continue is in the account: the new generation carries
//! `reroll:state = rolling` and `reroll:from`, old instances are classified by their target
//! registration. So a rollout killed at any point is resumed by running apply again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::activities;
use super::cadence::{Cadence, MAX_WAIT};
use super::cleanup;
use super::context::{checks, longest_drain, observed_group, planned_rollout, serving_generation};
use super::decide::{decide, Decision, OldState};
use super::error::ApplyError;
use super::fleet::Fleet;
use super::gates::{self, GateFailure};
use super::generation::{self, Bounds, Failure, Look, Pair};
use super::observer::{Observer, Registration, Snapshot};
use super::progress::{Counts, Reporter};
use super::retry::Retry;
use super::stop::Stop;
use super::types::{ApplyOptions, RolloutReport};
use crate::cloud::{tag, CloudError, Tags};
use crate::observe::{Observed, ObservedGroup};
use crate::plan::{self, Change};
use crate::stack::{HookEvent, OnFailure, ServerGroup, Stack, Strategy};

/// Replaces (or resumes replacing) one server group, looking through `observer`.
pub async fn roll(
    observer: &Observer<'_>,
    stack: &Stack,
    g: &ServerGroup,
    change: &Change,
    observed: &Observed,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<RolloutReport, ApplyError> {
    let cloud = observer.cloud();
    let started = Instant::now();
    let planned = planned_rollout(g, change)?;
    let og = observed_group(observed, g)?;
    serving_generation(og, g)?;
    let arns = plan::target_group_arns(g, observed);
    let fleet = Fleet::new(cloud, &stack.name, g, arns);
    let pair = generation::prepare(&fleet, stack, g, change, og).await?;
    let reporter = Reporter::new(
        &opts.progress,
        &g.address,
        Some(pair.old_number),
        pair.new_number,
        planned,
        started,
    );
    let reg = observer.register(
        &[pair.old.name.clone(), pair.new_name.clone()],
        &pair.target_group_arns,
        fleet.instances_mode(),
    );
    let rollout = Rollout {
        observer,
        reg: &reg,
        fleet: &fleet,
        stack,
        g,
        pair: &pair,
        og,
        opts,
        stop,
        reporter: &reporter,
        bounds: Bounds {
            desired: planned.desired,
            surge: planned.max_surge,
            unavailable: planned.max_unavailable,
        },
        new_max: g.capacity.max.max(planned.desired),
        started,
    };
    let generations = [pair.old.name.as_str(), pair.new_name.as_str()];
    let ended = cleanup::scoped(&fleet, &g.address, &generations, opts, rollout.body()).await;
    reporter.finish(match &ended {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    });
    ended
}

/// How the rounds ended.
enum Outcome {
    Done,
    Stopped,
}

/// What a round asks for next.
enum Next {
    /// Look again at this moment (or at a look another rollout takes shortly before it).
    At(Instant),
    Finished(Outcome),
}

/// One rollout: what it works on and within which bounds.
struct Rollout<'a> {
    observer: &'a Observer<'a>,
    reg: &'a Registration<'a, 'a>,
    fleet: &'a Fleet<'a>,
    stack: &'a Stack,
    g: &'a ServerGroup,
    pair: &'a Pair,
    og: &'a ObservedGroup,
    opts: &'a ApplyOptions,
    stop: &'a Stop,
    /// What the live view and the report are told, waves counted.
    reporter: &'a Reporter,
    bounds: Bounds,
    new_max: u32,
    started: Instant,
}

/// What the rounds of one rollout remember between looks.
struct Rounds {
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
    /// The wave progress was last logged for.
    logged_wave: Option<u32>,
    /// When the next look is due.
    cadence: Cadence,
    /// The next look must be taken after this (the last write) and, unless another rollout's
    /// look comes within the last quarter of the wait, no earlier than `due`.
    acted: Instant,
    due: Instant,
    /// Signs that the new generation cannot come up (launches failing, targets unused).
    watch: activities::Watch,
}

impl Rollout<'_> {
    /// What runs inside the cleanup scope: suspend, the `before_rollout` hooks, the rounds,
    /// and what their end means.
    async fn body(&self) -> Result<RolloutReport, ApplyError> {
        let (fleet, g, pair) = (self.fleet, self.g, self.pair);
        let mut retry = Retry::new(&g.address, self.opts, g.rollout.health.timeout);
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
            .run(async || generation::suspend_both(fleet, &old, pair).await)
            .await?;
        let result = self.hooks_then_rounds(retry).await;
        if let Err(Failure::Unhealthy(_)) = &result {
            self.reporter.activity(Some(match g.rollout.on_failure {
                OnFailure::Rollback => "rolling back".into(),
                OnFailure::Pause => "stopping part-way".into(),
            }));
        }
        self.conclude(result).await
    }

    /// The `before_rollout` hooks (before the first launch, also when resuming a rollout that
    /// launched nothing yet), then round after round.
    async fn hooks_then_rounds(&self, mut retry: Retry) -> Result<Outcome, Failure> {
        let (fleet, stack, g, pair) = (self.fleet, self.stack, self.g, self.pair);
        let launched = retry
            .run(async || fleet.find(&pair.new_name).await)
            .await?
            .is_some_and(|n| n.desired > 0 || !n.instances.is_empty());
        if !launched {
            let ctx = retry
                .run(async || {
                    generation::hook_context(fleet.cloud, stack, g, self.og, pair, 0, &[]).await
                })
                .await?;
            gates::run_hooks(stack, g, HookEvent::BeforeRollout, &ctx).await?;
        }
        let rounds = self.rounds(retry).await?;
        self.run(rounds).await
    }

    /// What the rounds start from; a canary's bakes already passed are read from the account.
    async fn rounds(&self, mut retry: Retry) -> Result<Rounds, Failure> {
        let (fleet, stack, g, pair) = (self.fleet, self.stack, self.g, self.pair);
        let checkpoints = if g.rollout.strategy == Strategy::Canary {
            g.rollout.canary.checkpoints(self.bounds.desired)
        } else {
            Vec::new()
        };
        let baked: u32 = retry
            .run(async || fleet.find(&pair.new_name).await)
            .await?
            .and_then(|n| n.tags.get(tag::BAKED)?.parse().ok())
            .unwrap_or(0);
        Ok(Rounds {
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
            logged_wave: None,
            cadence: Cadence::new(
                self.opts.poll,
                MAX_WAIT.max(self.opts.poll),
                checks(stack, g),
            )
            .batched(self.bounds.desired),
            acted: Instant::now(),
            due: Instant::now(),
            watch: activities::Watch::new(fleet.cloud, &pair.new_name, !fleet.instances_mode()),
        })
    }

    /// What the end of the rounds means: finished, stopped between waves, the account changed,
    /// or the new instances failed (roll back or pause).
    async fn conclude(
        &self,
        result: Result<Outcome, Failure>,
    ) -> Result<RolloutReport, ApplyError> {
        let (fleet, g, pair) = (self.fleet, self.g, self.pair);
        match result {
            Ok(Outcome::Done) => {
                let desired = self.bounds.desired;
                generation::finish(fleet, g, self.og, pair, desired, self.opts).await?;
                Ok(RolloutReport {
                    address: g.address.clone(),
                    from: Some(pair.old_number),
                    to: pair.new_number,
                    waves: self.reporter.waves(),
                    duration: self.started.elapsed(),
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
                let left = match generation::old_back_in_service(fleet, pair).await {
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
                let unavailable = self.bounds.unavailable;
                generation::fail(fleet, self.stack, g, pair, message, unavailable, self.opts).await
            }
        }
    }

    /// Round after round until done, stopped or failed. A round that fails with a transient
    /// cloud error is looked at afresh after a backoff: what it did is in the account, and the
    /// next look decides again from there.
    async fn run(&self, mut r: Rounds) -> Result<Outcome, Failure> {
        let mut ready = None;
        loop {
            match self.round(&mut r, ready.take()).await {
                Ok(Next::Finished(outcome)) => return Ok(outcome),
                Ok(Next::At(due)) => {
                    r.retry.succeeded();
                    r.acted = Instant::now();
                    r.due = due;
                    ready = self.wait(&r).await;
                }
                // "Not found" in the middle of a round: was a generation or a target group
                // deleted or retagged under us? A fresh look says.
                Err(Failure::Cloud(e)) if e.is_not_found() => {
                    return Err(match self.look(false, &r).await {
                        Err(changed @ Failure::Changed(_)) => changed,
                        _ => Failure::Cloud(e),
                    })
                }
                Err(Failure::Cloud(e)) => {
                    // What the failed round did before the error is in the account: the next
                    // look is taken after it, never a shared one from before.
                    r.retry.pause(e).await?;
                    r.acted = Instant::now();
                    r.due = r.acted;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps until the next look is due, a Ctrl-C, or a look another rollout took in the
    /// last quarter of the wait (which is then this rollout's look too).
    async fn wait(&self, r: &Rounds) -> Option<Arc<Snapshot>> {
        let ride = r.due.checked_sub(r.due.duration_since(r.acted) / 4);
        let after = ride.map_or(r.acted, |t| t.max(r.acted));
        self.reg.ride_from(Some(after));
        // Biased: a Ctrl-C first, then a look published at the moment the wait ends rather
        // than a new one; and the same run makes the same choices (unbiased, `select!` draws
        // at random, which made simulated runs differ).
        let ready = tokio::select! {
            biased;
            _ = self.stop.wait() => None,
            s = self.observer.next(self.reg, after) => Some(s),
            _ = tokio::time::sleep_until(r.due) => None,
        };
        self.reg.ride_from(None);
        ready
    }

    /// A look at both generations: `ready` when another rollout's look serves, else one no
    /// older than this rollout's last write and its due time.
    async fn look_with(
        &self,
        stopping: bool,
        r: &Rounds,
        ready: Option<Arc<Snapshot>>,
    ) -> Result<Look, Failure> {
        let snapshot = match ready {
            Some(s) => s,
            None => {
                let since = r.acted.max(r.due.min(Instant::now()));
                self.observer.look(self.reg, since).await?
            }
        };
        self.look_at(stopping, r, &snapshot).await
    }

    /// A look taken now, for what happens between rounds (a bake, a second look at an error).
    async fn look(&self, stopping: bool, r: &Rounds) -> Result<Look, Failure> {
        let snapshot = self.observer.look(self.reg, Instant::now()).await?;
        self.look_at(stopping, r, &snapshot).await
    }

    async fn look_at(
        &self,
        stopping: bool,
        r: &Rounds,
        snapshot: &Snapshot,
    ) -> Result<Look, Failure> {
        generation::look(
            self.fleet,
            self.pair,
            self.bounds,
            stopping,
            &r.deregistered,
            snapshot,
        )
        .await
    }

    /// Tells the cadence what this look saw.
    fn saw(&self, r: &mut Rounds, l: &Look) {
        let healthy: std::collections::HashSet<&str> =
            l.healthy_new.iter().map(String::as_str).collect();
        let new = l
            .new
            .instances
            .iter()
            .map(|i| (i.id.as_str(), healthy.contains(i.id.as_str())));
        let draining = l
            .view
            .old
            .iter()
            .filter(|o| o.state == OldState::Draining)
            .map(|o| (o.id.as_str(), r.deregistered.get(&o.id).copied()));
        r.cadence
            .saw(Instant::now(), new, l.view.new_desired, draining);
    }

    /// Detaches old instances from their generation and terminates them; with a terminating
    /// lifecycle hook, has their group terminate them instead, so the hook holds each one in
    /// `Terminating:Wait` until its action completes (they are drained already and no longer
    /// counted: the rollout does not wait for them).
    async fn release(&self, r: &mut Rounds, ids: &[String]) -> Result<(), CloudError> {
        if self.fleet.terminating_hook {
            return self
                .fleet
                .cloud
                .terminate_in_group(&self.pair.old.name, ids)
                .await;
        }
        self.fleet.detach(&self.pair.old.name, ids).await?;
        r.detached.extend(ids.iter().cloned());
        self.terminate_detached(r).await
    }

    async fn terminate_detached(&self, r: &mut Rounds) -> Result<(), CloudError> {
        if r.detached.is_empty() {
            return Ok(());
        }
        self.fleet.cloud.terminate_instances(&r.detached).await?;
        r.detached.clear();
        Ok(())
    }

    /// One look, one decision, its actions.
    async fn round(&self, r: &mut Rounds, ready: Option<Arc<Snapshot>>) -> Result<Next, Failure> {
        let cloud = self.fleet.cloud;
        // A terminate that failed after its detach, last round.
        self.terminate_detached(r).await?;
        let mut l = self.look_with(self.stop.requested(), r, ready).await?;
        self.saw(r, &l);
        if let Some(why) = r.watch.check(cloud, Some(&l.new), &l.unused).await {
            return Err(Failure::Unhealthy(why));
        }
        gates::check_alarms(cloud, &self.g.rollout.health.alarms).await?;
        let cap = r.checkpoints.iter().copied().find(|&c| c > r.baked);
        l.view.cap = cap;
        let mut d = self.decide_after_hooks(r, &mut l).await?;
        if d.at_checkpoint && !self.stop.requested() {
            self.bake(r, cap.unwrap_or(self.bounds.desired)).await?;
            return Ok(Next::At(Instant::now() + self.opts.poll));
        }
        self.finish_stuck_drains(r, &l, &mut d);
        self.report(r, &l, &d);
        self.act(r, &l, &d).await
    }

    /// The `after_wave` hooks, once every launched instance is healthy and before old ones
    /// drain for it; then the decision, which counts new instances as healthy only once the
    /// hooks passed for them.
    async fn decide_after_hooks(&self, r: &mut Rounds, l: &mut Look) -> Result<Decision, Failure> {
        let healthy = l.view.new_healthy;
        if r.after_wave
            && healthy > r.hooked
            && healthy >= l.view.new_desired
            && !self.stop.requested()
        {
            let wave = self.reporter.wave_healthy(healthy);
            self.run_hooks(HookEvent::AfterWave, wave, l).await?;
            r.hooked = healthy;
        }
        if r.after_wave {
            l.view.new_healthy = l.view.new_healthy.min(r.hooked);
        }
        let d = decide(&l.view);
        l.view.new_healthy = healthy;
        Ok(d)
    }

    async fn run_hooks(&self, event: HookEvent, wave: u32, l: &Look) -> Result<(), Failure> {
        let (stack, g) = (self.stack, self.g);
        if stack.hooks_for(g, event).is_empty() {
            // Nothing to run: no context to read (it lists the stack's instances).
            return Ok(());
        }
        let ids = new_ids(l);
        let ctx =
            generation::hook_context(self.fleet.cloud, stack, g, self.og, self.pair, wave, &ids)
                .await?;
        gates::run_hooks(stack, g, event, &ctx).await?;
        Ok(())
    }

    /// Bakes the canary or a checkpoint of `cap` new instances: they must stay healthy, and
    /// the alarms quiet, for the bake; a bake that passed is recorded on the new generation.
    async fn bake(&self, r: &mut Rounds, cap: u32) -> Result<(), Failure> {
        let (g, opts) = (self.g, self.opts);
        let cloud = self.fleet.cloud;
        let alarms = &g.rollout.health.alarms;
        let what = if r.baked == 0 {
            format!(
                "the canary ({cap} new instance{})",
                if cap == 1 { "" } else { "s" }
            )
        } else {
            format!("checkpoint {cap}/{}", self.bounds.desired)
        };
        self.reporter.activity(Some(format!(
            "baking {what} for {}",
            plan::human_duration(g.rollout.canary.bake.as_secs())
        )));
        let rounds = &*r;
        let mut retry = Retry::new(&g.address, opts, g.rollout.health.timeout);
        let completed = gates::bake(
            &what,
            &g.address,
            g.rollout.canary.bake,
            opts.poll,
            self.stop,
            &mut retry,
            async || {
                let l = self.look(false, rounds).await.map_err(|e| match e {
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
            r.baked = cap;
            let mut t = Tags::new();
            t.insert(tag::BAKED.into(), cap.to_string());
            self.fleet.tag(&self.pair.new_name, &t).await?;
        }
        Ok(())
    }

    /// Drains stuck past the deregistration delay (and a minute) are finished anyway.
    fn finish_stuck_drains(&self, r: &mut Rounds, l: &Look, d: &mut Decision) {
        let now = Instant::now();
        for o in &l.view.old {
            // What the old group scales in is its own to finish.
            if o.state == OldState::Draining && !l.leaving.contains(&o.id) {
                let since = *r.draining_since.entry(o.id.clone()).or_insert(now);
                if now.duration_since(since) > r.max_drain + Duration::from_secs(60) {
                    tracing::warn!(instance = %o.id, "still draining past the deregistration delay; terminating it");
                    d.finish.push(o.id.clone());
                }
            }
        }
    }

    /// Tells the live view what the round is about to do, and logs progress once a wave.
    /// Nothing is written: a resume needs none of it, and `status` reads it from the account.
    fn report(&self, r: &mut Rounds, l: &Look, d: &Decision) {
        self.reporter.counts(Counts::after(&l.view, d));
        let wave = self.reporter.waves();
        if r.logged_wave == Some(wave) {
            return;
        }
        r.logged_wave = Some(wave);
        let count = |f: fn(OldState) -> bool| l.view.old.iter().filter(|o| f(o.state)).count();
        tracing::info!(
            address = %self.g.address,
            group = %self.pair.new_name,
            "new {}/{} healthy, old {} serving, {} draining",
            l.view.new_healthy,
            self.bounds.desired,
            count(|s| s == OldState::Serving),
            count(|s| matches!(s, OldState::Draining | OldState::Drained)),
        );
    }

    /// Carries out a decision: terminate what drained, finish, freeze when stopped, launch,
    /// start drains; then the health deadline.
    async fn act(&self, r: &mut Rounds, l: &Look, d: &Decision) -> Result<Next, Failure> {
        let (fleet, g, pair) = (self.fleet, self.g, self.pair);
        let mut done = d.done;
        if !d.finish.is_empty() {
            tracing::info!(address = %g.address, count = d.finish.len(), "terminating drained old instances");
            self.release(r, &d.finish).await?;
            for id in &d.finish {
                r.draining_since.remove(id);
                r.deregistered.remove(id);
            }
            // The last old instances released, every new one healthy: what the next look
            // would find, known now.
            done |= d.finish.len() == l.view.old.len() && l.view.new_healthy >= self.bounds.desired;
        }
        // What target health now shows draining or gone needs no override any more.
        for o in &l.view.old {
            if o.state == OldState::Drained {
                r.deregistered.remove(&o.id);
            }
        }
        if done {
            self.forget_gone_targets(l).await?;
            let wave = self.reporter.waves();
            self.run_hooks(HookEvent::AfterRollout, wave, l).await?;
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
            self.launch(r, n).await?;
        }
        if !d.drain.is_empty() {
            self.drain(r, l, &d.drain).await?;
            // Draining instances no longer hold surge: what the next look would decide about
            // the room they free, decided now, so the next wave launches without a look.
            if !self.stop.requested() {
                let mut view = l.view.clone();
                for o in &mut view.old {
                    if d.drain.contains(&o.id) {
                        o.state = OldState::Draining;
                    }
                }
                if r.after_wave {
                    view.new_healthy = view.new_healthy.min(r.hooked);
                }
                view.new_desired = d.set_new_desired.unwrap_or(view.new_desired);
                if let Some(n) = decide(&view).set_new_desired {
                    self.launch(r, n).await?;
                }
            }
        }
        self.deadline(r, l, d)
    }

    /// Raises the new generation to `n` instances.
    async fn launch(&self, r: &mut Rounds, n: u32) -> Result<(), Failure> {
        let (g, pair) = (self.g, self.pair);
        tracing::info!(address = %g.address, group = %pair.new_name, desired = n, "launching new instances");
        let launched = self
            .fleet
            .set_capacity(&pair.new_gen, 0, n, self.new_max)
            .await;
        launched.map_err(activities::launch_error)?;
        r.waiting_since = Instant::now();
        r.cadence.asked(r.waiting_since, n);
        Ok(())
    }

    /// Starts draining old instances. Serving ones go by the old group's own scale-in when it
    /// can drain them: its desired capacity lowered by their number, Auto Scaling picks as
    /// many (its termination policy: the zones kept balanced), deregisters them from the
    /// target groups it is attached to, waits for the deregistration delay and terminates
    /// them (its terminating lifecycle hooks included) — one call for the wave, where the
    /// instances this rollout picks itself cost a deregistration per target group, a detach
    /// per 20, a tag and a terminate. Instances that do not serve go first and by name:
    /// deregistered from every target group (remembered as draining while target health
    /// lags), or released at once when there is none.
    async fn drain(&self, r: &mut Rounds, l: &Look, ids: &[String]) -> Result<(), CloudError> {
        let pair = self.pair;
        tracing::info!(address = %self.g.address, count = ids.len(), "draining old instances");
        let serving: HashSet<&str> = l
            .view
            .old
            .iter()
            .filter(|o| o.state == OldState::Serving)
            .map(|o| o.id.as_str())
            .collect();
        let scales_in = self.scales_in(l);
        let (scaled, named): (Vec<String>, Vec<String>) = ids
            .iter()
            .cloned()
            .partition(|id| scales_in && serving.contains(id.as_str()));
        if let (false, Some(old)) = (scaled.is_empty(), &l.old) {
            let desired = old.desired.saturating_sub(scaled.len() as u32);
            self.fleet
                .cloud
                .set_group_capacity(&old.name, old.min.min(desired), desired, old.max)
                .await?;
            r.cadence.scaled_in(Instant::now());
        }
        if named.is_empty() {
            return Ok(());
        }
        let ids = named.as_slice();
        if pair.target_group_arns.is_empty() {
            return self.release(r, ids).await;
        }
        for arn in &pair.target_group_arns {
            self.fleet.cloud.deregister_targets(arn, ids).await?;
        }
        let now = Instant::now();
        for id in ids {
            r.deregistered.insert(id.clone(), now);
        }
        r.cadence.deregistered(now, ids.iter().map(String::as_str));
        Ok(())
    }

    /// At the end: targets of the rollout's target groups whose instances no longer exist are
    /// deregistered. Auto Scaling deregisters what it scales in; an endpoint that does not
    /// (the emulator) would leave them registered. Nothing is read when only the new
    /// generation is registered, as after a rollout on AWS.
    async fn forget_gone_targets(&self, l: &Look) -> Result<(), CloudError> {
        let ids: Vec<String> = l
            .others
            .iter()
            .flat_map(|(_, ids)| ids.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let live = self.fleet.cloud.live_instances(&ids).await?;
        for (arn, ids) in &l.others {
            let gone: Vec<String> = ids.iter().filter(|i| !live.contains(*i)).cloned().collect();
            if !gone.is_empty() {
                tracing::info!(count = gone.len(), target_group = %arn, "deregistering targets whose instances are gone");
                self.fleet.cloud.deregister_targets(arn, &gone).await?;
            }
        }
        Ok(())
    }

    /// Whether the old group's own scale-in drains what this rollout would: an Auto Scaling
    /// group attached to every target group of the rollout (Auto Scaling deregisters from
    /// the ones it is attached to), as listed at this look.
    fn scales_in(&self, l: &Look) -> bool {
        !self.fleet.instances_mode()
            && l.old.as_ref().is_some_and(|o| {
                self.pair
                    .target_group_arns
                    .iter()
                    .all(|a| o.target_group_arns.contains(a))
            })
    }

    /// Health deadline: new instances must become healthy within the timeout of being asked
    /// for; any progress restarts the clock.
    fn deadline(&self, r: &mut Rounds, l: &Look, d: &Decision) -> Result<Next, Failure> {
        let timeout = self.g.rollout.health.timeout;
        if l.view.new_healthy > r.last_healthy {
            r.last_healthy = l.view.new_healthy;
            r.waiting_since = Instant::now();
        }
        let owed = l.view.new_desired.max(d.set_new_desired.unwrap_or(0));
        if l.view.new_healthy < owed && r.waiting_since.elapsed() > timeout {
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
        let now = Instant::now();
        let by = (l.view.new_healthy < owed).then(|| r.waiting_since + timeout);
        let mut due = r.cadence.due(now, by);
        if !r.detached.is_empty() {
            // A terminate to try again.
            due = due.min(now + self.opts.poll);
        }
        tracing::debug!(address = %self.g.address, wait = ?due.duration_since(now), "next look");
        Ok(Next::At(due))
    }
}

/// The new generation's instances, healthy ones first.
fn new_ids(l: &Look) -> Vec<String> {
    l.new.instances.iter().map(|i| i.id.clone()).collect()
}
