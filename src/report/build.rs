//! From the plan, the progress recorded and the outcome to a `Report`.

use std::time::Duration;

use crate::apply::progress::RolloutProgress;
use crate::forecast::{self, Sample};
use crate::plan::Action;

use super::html::count;
use super::types::{ChangeRow, Event, Input, Point, Report, Rollout};

/// The report of an apply.
pub fn build(input: &Input<'_>) -> Report {
    let mut changes = Vec::new();
    let mut rollouts = Vec::new();
    let mut events = vec![Event {
        at: Duration::ZERO,
        address: None,
        text: match input.plan {
            Some(p) => crate::plan::render::summary(p),
            None => "no plan was made".into(),
        },
    }];
    if let Some(plan) = input.plan {
        for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
            let report = input.reports.iter().find(|r| r.address == c.address);
            changes.push(ChangeRow {
                address: c.address.clone(),
                action: c.action.name().into(),
                reason: c.reason.clone(),
                waves: report.map(|r| match (r.waves, r.planned_waves) {
                    (done, planned) if done >= planned => done.to_string(),
                    (done, planned) => format!("{done}/{planned}"),
                }),
                duration: report.map(|r| r.duration),
                result: report.map(|r| r.result.clone()),
            });
        }
        for t in forecast::timeline(plan, input.samples) {
            let Some(change) = plan.changes.iter().find(|c| c.address == t.address) else {
                continue;
            };
            let Some(r) = &change.rollout else { continue };
            let mine: Vec<&Sample> = input
                .samples
                .iter()
                .filter(|s| s.progress.address == t.address)
                .collect();
            events.extend(group_events(&mine).into_iter().map(|(at, text)| Event {
                at,
                address: Some(t.address.clone()),
                text,
            }));
            let last = mine.last().map(|s| &s.progress);
            rollouts.push(Rollout {
                address: t.address.clone(),
                from: t.from,
                to: t.to,
                // As the stack spells it: `rolling`, `canary`, `blue_green`.
                strategy: serde_json::to_value(r.strategy)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                desired: r.desired,
                max_surge: r.max_surge,
                max_unavailable: r.max_unavailable,
                result: t.result.clone(),
                waves_through: last.map_or(0, |p| p.waves),
                waves: t.waves,
                points: points(&mine),
                end: t.finished,
            });
        }
    }
    events.push(Event {
        at: input.duration,
        address: None,
        text: format!(
            "apply ended: {}, exit code {}{}",
            input.result,
            input.exit_code,
            input.message.map(|m| format!(": {m}")).unwrap_or_default()
        ),
    });
    events.sort_by_key(|e| e.at);
    Report {
        stack: input.stack.to_string(),
        region: input.region.to_string(),
        started: humantime::format_rfc3339_seconds(input.started).to_string(),
        duration: input.duration,
        simulated: input.simulated,
        result: input.result.to_string(),
        exit_code: input.exit_code,
        message: input.message.map(str::to_string),
        changes,
        rollouts,
        events,
    }
}

/// A rollout's capacity at each moment it reported; of several reports in one moment (a
/// round that drained, then launched at once) the last.
pub(super) fn points(samples: &[&Sample]) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    for s in samples {
        let p = Point {
            at: s.at.as_secs_f64(),
            old: s.progress.old_serving,
            healthy: s.progress.healthy,
            launching: s.progress.launching,
            draining: s.progress.draining,
        };
        match out.last_mut() {
            Some(last) if last.at == p.at => *last = p,
            _ => out.push(p),
        }
    }
    out
}

/// What changed from one report of a rollout to the next, in words.
fn group_events(samples: &[&Sample]) -> Vec<(Duration, String)> {
    let mut out = Vec::new();
    let mut prev: Option<&RolloutProgress> = None;
    for s in samples {
        let p = &s.progress;
        let mut say = |text: String| out.push((s.at, text));
        let q = match prev {
            Some(q) => q.clone(),
            None => {
                say(match p.from {
                    Some(from) => format!(
                        "rollout v{from:03} → v{:03} begins: {} old serving, {} planned",
                        p.to,
                        p.old_serving,
                        count(p.planned_waves, "wave")
                    ),
                    None => format!("v{:03} begins", p.to),
                });
                p.at_start()
            }
        };
        let (asked, asked_before) = (p.healthy + p.launching, q.healthy + q.launching);
        if asked > asked_before {
            say(format!(
                "{} asked for ({asked} of {})",
                count(asked - asked_before, "new instance"),
                p.desired
            ));
        }
        if p.healthy > q.healthy {
            say(format!(
                "{} healthy ({} of {})",
                count(p.healthy - q.healthy, "new instance"),
                p.healthy,
                p.desired
            ));
        } else if p.healthy < q.healthy && p.finished.is_none() {
            say(format!(
                "{} no longer healthy ({} of {})",
                count(q.healthy - p.healthy, "new instance"),
                p.healthy,
                p.desired
            ));
        }
        if p.draining > q.draining {
            say(format!(
                "{} deregistered, draining",
                count(p.draining - q.draining, "old instance")
            ));
        }
        if p.old_left() < q.old_left() && p.finished.is_none() {
            say(format!(
                "{} drained and terminated ({} left)",
                count(q.old_left() - p.old_left(), "old instance"),
                p.old_left()
            ));
        }
        if p.traffic != q.traffic {
            if let Some(t) = p.traffic {
                say(format!("{t}% of listener traffic on v{:03}", p.to));
            }
        }
        for w in q.waves..p.waves.min(p.planned_waves) {
            say(format!("wave {} of {} done", w + 1, p.planned_waves));
        }
        if p.activity != q.activity {
            if let Some(a) = &p.activity {
                say(a.clone());
            }
        }
        if let Some(f) = &p.finished {
            say(format!(
                "ended: {f}, {} of {} got through",
                p.waves,
                count(p.planned_waves, "wave")
            ));
        }
        prev = Some(p);
    }
    out
}
