//! Rollback on demand: the previous retained generation serves again, without the stack
//! file's old values. Its launch template version still holds the old instance definition.
//!
//! The retained generation is marked `rolling` (with `reroll:rollback`) and rolled in by the
//! same executors as any rollout: wave by wave with the group's surge and unavailability
//! (canary checkpoints are skipped), or for blue/green by one listener switch. Hooks do not
//! run: a rollback is the way out when something is wrong, and must not depend on it.
//! Interrupted, it is resumed by running `rollback` (or `apply`) again.

use crate::apply::retry::Retry;
use crate::apply::Stop;
use crate::apply::{self, ApplyError, ApplyOptions, GroupReport};
use crate::cloud::{tag, Cloud, Tags};
use crate::engine::{EngineError, Session};
use crate::observe::{self, GenerationState, Observed};
use crate::plan::{self, Action, Change, Kind};
use crate::stack::{GroupMode, OnFailure, ServerGroup, Stack, Strategy};

/// Marks a generation being rolled back to, with the generation it replaces.
pub const ROLLBACK_TAG: &str = "reroll:rollback";

/// One server group going back a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub address: String,
    pub key: String,
    /// The serving generation: number and group name.
    pub from: (u32, String),
    /// The retained generation that serves again.
    pub to: (u32, String),
    pub strategy: Strategy,
    /// Instances the restored generation must serve: the current size.
    pub desired: u32,
    /// True when an interrupted rollback is being continued.
    pub resuming: bool,
    /// True when an interrupted rollback got past its commit point: `to` serves already, and
    /// what is left is retiring `from` and resuming the processes it suspended.
    pub finishing: bool,
}

impl Target {
    pub fn describe(&self) -> String {
        let how = match self.strategy {
            Strategy::BlueGreen => "scale it up, then switch the listeners to it",
            _ => "wave by wave with the group's rollout settings",
        };
        format!(
            "{}: v{:03} → v{:03} ({} instances; {how}){}",
            self.address,
            self.from.0,
            self.to.0,
            self.desired,
            if self.finishing {
                " — it serves already; finishing"
            } else if self.resuming {
                " — continuing"
            } else {
                ""
            }
        )
    }
}

/// Which groups go back, and to what. `group` is a label (`web`), a key or an address.
pub fn targets(
    stack: &Stack,
    observed: &Observed,
    group: Option<&str>,
) -> Result<Vec<Target>, String> {
    let groups: Vec<&ServerGroup> = match group {
        Some(name) => {
            let g = stack
                .server_groups
                .iter()
                .find(|g| {
                    g.key == name || g.address == name || g.address.ends_with(&format!(".{name}"))
                })
                .ok_or_else(|| {
                    let known: Vec<&str> = stack
                        .server_groups
                        .iter()
                        .map(|g| g.address.as_str())
                        .collect();
                    format!(
                        "no server group {name:?} in the stack; it has {}",
                        known.join(", ")
                    )
                })?;
            vec![g]
        }
        None => stack.server_groups.iter().collect(),
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for g in groups {
        let Some(og) = observed.groups.get(&g.key) else {
            problems.push(format!("{}: not deployed", g.address));
            continue;
        };
        let Some(active) = og.active() else {
            problems.push(format!("{}: no serving generation", g.address));
            continue;
        };
        if let Some(rolling) = og
            .generations
            .iter()
            .find(|x| x.state == GenerationState::Rolling)
        {
            if rolling
                .group
                .tags
                .get(ROLLBACK_TAG)
                .is_some_and(|v| !v.is_empty())
            {
                out.push(target(g, active, rolling, true));
            } else {
                problems.push(format!(
                    "{}: a rollout to v{:03} is in progress; run `reroll apply` to finish it \
                     (an unhealthy one rolls itself back), then roll back",
                    g.address, rolling.number
                ));
            }
            continue;
        }
        if let Some(from) = unfinished_rollback(og, active) {
            out.push(Target {
                finishing: true,
                ..target(g, from, active, true)
            });
            continue;
        }
        if g.mode == GroupMode::Instances {
            problems.push(format!(
                "{}: instance-mode groups keep no previous generation to return to; set the \
                 old image in the stack and apply",
                g.address
            ));
            continue;
        }
        let previous = og
            .generations
            .iter()
            .rev()
            .find(|x| x.state == GenerationState::Retired && x.number < active.number);
        match previous {
            Some(p) => out.push(target(g, active, p, false)),
            None if group.is_some() => problems.push(format!(
                "{}: no retained generation before v{:03} (keep_previous = {}; a generation is \
                 retained once a rollout replaced it)",
                g.address, active.number, g.rollout.keep_previous
            )),
            None => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    if out.is_empty() {
        let done = rolled_back(stack, observed);
        if !done.is_empty() {
            return Err(format!(
                "nothing left to roll back: the last rollback completed, and no older \
                 generation is retained.\n{}",
                done.join("\n")
            ));
        }
        return Err(
            "no server group has a retained generation to roll back to (keep_previous = 0, \
             or nothing was replaced yet)"
                .into(),
        );
    }
    Ok(out)
}

/// Groups whose last rollback completed (even one whose process died after its last step):
/// the record it leaves on the generation that serves again.
fn rolled_back(stack: &Stack, observed: &Observed) -> Vec<String> {
    stack
        .server_groups
        .iter()
        .filter_map(|g| {
            let active = observed.groups.get(&g.key)?.active()?;
            let record = active.group.tags.get(tag::ROLLED_BACK)?;
            record.starts_with("from v").then(|| {
                format!(
                    "{}: v{:03} serves again (rolled back {record})",
                    g.address, active.number
                )
            })
        })
        .collect()
}

fn target(
    g: &ServerGroup,
    active: &observe::Generation,
    to: &observe::Generation,
    resuming: bool,
) -> Target {
    // Continuing, the serving generation has shrunk by what was rolled already: the size to
    // restore is the one recorded when the rollback began.
    let recorded = resuming
        .then(|| crate::apply::parse_from(to.group.tags.get(tag::FROM)))
        .flatten()
        .map(|(_, desired, _)| desired);
    Target {
        address: g.address.clone(),
        key: g.key.clone(),
        from: (active.number, active.group.name.clone()),
        to: (to.number, to.group.name.clone()),
        strategy: g.rollout.strategy,
        desired: recorded.unwrap_or(active.group.desired).max(1),
        resuming,
        finishing: false,
    }
}

/// A rollback to `active` that stopped after its commit point: the generation it rolled back
/// from, while that is still marked serving, or its record is still open, or the processes it
/// suspended are still suspended.
fn unfinished_rollback<'a>(
    og: &'a observe::ObservedGroup,
    active: &'a observe::Generation,
) -> Option<&'a observe::Generation> {
    let open = active.group.tags.get(ROLLBACK_TAG)?;
    let from: u32 = open.strip_prefix("from v")?.parse().ok()?;
    og.generations.iter().find(|x| x.number == from)
}

/// The group as a rollback rolls it: no canary bakes, one listener switch for blue/green
/// with no window, no hooks.
fn as_rollback(g: &ServerGroup) -> ServerGroup {
    let mut g = g.clone();
    if g.rollout.strategy == Strategy::Canary {
        g.rollout.strategy = Strategy::Rolling;
    }
    g.rollout.traffic_steps = vec![100];
    g.rollout.keep_blue = std::time::Duration::ZERO;
    g.rollout.hooks.clear();
    // A firing alarm is the usual reason to roll back: it must not stop the way out.
    g.rollout.health.alarms.clear();
    // Nor may a rollback that fails destroy the generation it was bringing back, or mark its
    // good definition as failed: it stops where it is for a person to look.
    g.rollout.on_failure = OnFailure::Pause;
    g
}

/// Rolls each target back, one group after another. Returns a report per group.
pub async fn execute(
    cloud: &dyn Cloud,
    session: &Session,
    targets: &[Target],
    opts: &ApplyOptions,
    stop: &Stop,
) -> (Result<(), EngineError>, Vec<GroupReport>) {
    let mut reports = Vec::new();
    if let Some(refusal) = targets.iter().find_map(|t| {
        let og = session.observed.groups.get(&t.key)?;
        let found = crate::controllers::of(og);
        let first = found.first()?;
        Some(first.refusal(&t.address))
    }) {
        let e = ApplyError::Unsupported(format!("{refusal}. Nothing was changed."));
        return (Err(EngineError::Apply(e)), reports);
    }
    let mut stack = session.stack.clone();
    stack.hooks.clear();
    for t in targets {
        let started = tokio::time::Instant::now();
        let last = apply::progress::LastWaves::default();
        let watched = ApplyOptions {
            progress: last.watch(&opts.progress),
            ..opts.clone()
        };
        let r = one(cloud, &stack, t, &watched, stop).await;
        let (through, planned) = last.get().unwrap_or_default();
        reports.push(GroupReport {
            address: t.address.clone(),
            action: Action::Replace,
            from: Some(t.from.0),
            to: Some(t.to.0),
            waves: *r.as_ref().unwrap_or(&through),
            planned_waves: planned,
            duration: started.elapsed(),
            result: match &r {
                Ok(_) => "ok".into(),
                Err(e) => e.to_string(),
            },
        });
        if let Err(e) = r {
            return (Err(e), reports);
        }
    }
    (Ok(()), reports)
}

async fn one(
    cloud: &dyn Cloud,
    stack: &Stack,
    t: &Target,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Result<u32, EngineError> {
    let observing = |source| EngineError::Cloud {
        context: "cannot read the stack's resources",
        cause: source,
    };
    let changed = |message: String| {
        EngineError::Apply(ApplyError::Changed {
            resource: t.address.clone(),
            message,
        })
    };
    let g = stack
        .server_group(&t.address)
        .map(as_rollback)
        .ok_or_else(|| changed("the stack no longer declares it".into()))?;
    let mut retry = Retry::new(&t.address, opts, g.rollout.health.timeout);
    if t.finishing {
        let observed = observe::observe(cloud, &stack.name)
            .await
            .map_err(observing)?;
        apply::finish_interrupted(cloud, stack, &g, &observed, opts)
            .await
            .map_err(EngineError::Apply)?;
        close_record(cloud, t, &mut retry).await?;
        return Ok(0);
    }
    if !t.resuming {
        mark_rolling(cloud, stack, t, &mut retry).await?;
    }
    let observed = observe::observe(cloud, &stack.name)
        .await
        .map_err(observing)?;
    let mut rollout = plan::rollout_plan(stack, &g, t.desired, Some(t.from.0), t.to.0);
    rollout.estimate_seconds = 0;
    let change = Change {
        address: g.address.clone(),
        kind: Kind::ServerGroup,
        action: Action::Resume,
        reason: format!("rollback to v{:03}", t.to.0),
        diffs: Vec::new(),
        rollout: Some(rollout),
        fingerprint: None,
        launch: None,
    };
    let report = if g.rollout.strategy == Strategy::BlueGreen {
        apply::bluegreen::roll(cloud, stack, &g, &change, &observed, opts, stop).await
    } else {
        let observer = apply::observer::Observer::new(cloud, &stack.name);
        apply::rolling::roll(&observer, stack, &g, &change, &observed, opts, stop).await
    }
    .map_err(|e| match e {
        ApplyError::Paused { address, message } => ApplyError::Paused {
            address,
            message: format!(
                "the rollback to v{:03} did not complete: {message}. v{:03} is kept; run \
                 `reroll rollback` again to retry",
                t.to.0, t.to.0
            ),
        },
        e => e,
    })
    .map_err(EngineError::Apply)?;
    close_record(cloud, t, &mut retry).await?;
    Ok(report.waves)
}

/// Says plainly on the generation that serves again, for `plan` and `status`, that it was
/// rolled back to; the rollback is done.
async fn close_record(cloud: &dyn Cloud, t: &Target, retry: &mut Retry) -> Result<(), EngineError> {
    let now = crate::cloud::timestamp(cloud);
    let mut tags = Tags::new();
    tags.insert(ROLLBACK_TAG.into(), String::new());
    tags.insert(
        tag::ROLLED_BACK.into(),
        format!("from v{:03} at {now}", t.from.0),
    );
    // The rollback is done: the record of it must not be left out for a passing refusal.
    retry
        .persist(async || cloud.set_group_tags(&t.to.1, &tags).await)
        .await
        .map_err(|e| EngineError::Apply(ApplyError::from(e)))?;
    tracing::info!(address = %t.address, serving = %t.to.1, "rolled back");
    Ok(())
}

/// Marks the retained generation rolling back into service (`reroll:rollback`, `reroll:from`
/// the serving one), after checking that the account is still as the rollback was shown.
async fn mark_rolling(
    cloud: &dyn Cloud,
    stack: &Stack,
    t: &Target,
    retry: &mut Retry,
) -> Result<(), EngineError> {
    let observing = |source| EngineError::Cloud {
        context: "cannot read the stack's resources",
        cause: source,
    };
    let changed = |message: String| {
        EngineError::Apply(ApplyError::Changed {
            resource: t.address.clone(),
            message,
        })
    };
    let observed = observe::observe(cloud, &stack.name)
        .await
        .map_err(observing)?;
    let active = observed
        .groups
        .get(&t.key)
        .and_then(|og| og.active())
        .filter(|a| a.number == t.from.0)
        .ok_or_else(|| {
            changed(format!(
                "v{:03} ({}) no longer serves: the account changed since the rollback was \
                 shown. Nothing was changed; run rollback again",
                t.from.0, t.from.1
            ))
        })?;
    let retained = observed
        .groups
        .get(&t.key)
        .and_then(|og| og.generations.iter().find(|x| x.number == t.to.0))
        .is_some_and(|x| x.state == GenerationState::Retired);
    if !retained {
        return Err(changed(format!(
            "v{:03} ({}) is no longer a retained generation: the account changed since the \
             rollback was shown. Nothing was changed; run rollback again",
            t.to.0, t.to.1
        )));
    }
    let mut tags = Tags::new();
    tags.insert(tag::STATE.into(), GenerationState::Rolling.as_str().into());
    tags.insert(
        tag::FROM.into(),
        format!(
            "{} {}/{}/{}",
            active.group.name, active.group.min, active.group.desired, active.group.max
        ),
    );
    tags.insert(ROLLBACK_TAG.into(), format!("from v{:03}", t.from.0));
    tags.insert(tag::TRAFFIC.into(), "0".into());
    tags.insert(
        tag::PROGRESS.into(),
        "rolling back to this generation".into(),
    );
    tracing::info!(address = %t.address, to = %t.to.1, "rolling back");
    retry
        .run(async || cloud.set_group_tags(&t.to.1, &tags).await)
        .await
        .map_err(|e| EngineError::Apply(e.into()))?;
    Ok(())
}
