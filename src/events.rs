//! `apply --events FILE|-`: what an apply does, for machines, as JSON Lines. One object per
//! event, `{"v":1,"time":"…","elapsed":12.5,"event":"wave_started",…}`; the schema (`v`) only
//! gains fields within a version.
//!
//! The rollout events are derived from the same progress reports the live view and the
//! `--report` page read ([`crate::apply::progress::RolloutProgress`]): [`Tracker`] compares
//! each report of a group with its previous one. Pure: the CLI stamps and writes the lines.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::progress::RolloutProgress;
use crate::plan::{Action, Plan};

/// The schema version of every line.
pub const VERSION: u32 = 1;

/// One event. The `event` field names it; the README documents each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlanMade {
        stack: String,
        region: String,
        create: usize,
        replace: usize,
        resize: usize,
        update: usize,
        resume: usize,
        delete: usize,
        has_changes: bool,
    },
    ApplyStarted {
        stack: String,
        region: String,
        changes: usize,
    },
    /// A server group's new generation is there and its rollout (or first launch) begins.
    GenerationCreated {
        address: String,
        generation: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        from_generation: Option<u32>,
        desired: u32,
        planned_waves: u32,
    },
    WaveStarted {
        address: String,
        wave: u32,
        planned_waves: u32,
    },
    InstancesLaunched {
        address: String,
        count: u32,
        /// New instances asked for so far (healthy or launching).
        asked: u32,
        desired: u32,
    },
    InstancesHealthy {
        address: String,
        count: u32,
        healthy: u32,
        desired: u32,
    },
    InstancesDrained {
        address: String,
        count: u32,
        /// Old instances not gone yet.
        old_left: u32,
    },
    /// A health gate (`wave`: its new instances healthy, its old ones gone) or a bake.
    GatePassed {
        address: String,
        gate: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        wave: Option<u32>,
    },
    GateFailed {
        address: String,
        gate: String,
    },
    TrafficShifted {
        address: String,
        /// Share of listener traffic on the new generation.
        percent: u32,
    },
    RollbackStarted {
        address: String,
    },
    RolloutFinished {
        address: String,
        result: String,
        waves: u32,
        planned_waves: u32,
    },
    /// The last line, on every way the command ends.
    Done {
        result: String,
        exit_code: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl Event {
    pub fn plan_made(plan: &Plan) -> Event {
        Event::PlanMade {
            stack: plan.stack.clone(),
            region: plan.region.clone(),
            create: plan.count(Action::Create),
            replace: plan.count(Action::Replace),
            resize: plan.count(Action::Resize),
            update: plan.count(Action::Update),
            resume: plan.count(Action::Resume),
            delete: plan.count(Action::Delete),
            has_changes: plan.has_changes(),
        }
    }

    pub fn apply_started(plan: &Plan) -> Event {
        Event::ApplyStarted {
            stack: plan.stack.clone(),
            region: plan.region.clone(),
            changes: plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .count(),
        }
    }

    /// The line: `{"v":1,"time":…,"elapsed":…,"event":…,…}`. Events are made from the plan
    /// and progress, which hold no sensitive value (`plan::plan` shows each as `(sensitive)`).
    pub fn line(&self, time: &str, elapsed_seconds: f64) -> String {
        let body = serde_json::to_value(self).expect("events serialize");
        let elapsed = (elapsed_seconds * 1000.0).round() / 1000.0;
        // `v`, `time`, `elapsed` and `event` first, for people reading the file too.
        let mut line = format!(
            "{{\"v\":{VERSION},\"time\":{},\"elapsed\":{elapsed}",
            serde_json::Value::from(time)
        );
        if let serde_json::Value::Object(mut fields) = body {
            if let Some(event) = fields.remove("event") {
                line.push_str(&format!(",\"event\":{event}"));
            }
            for (k, v) in fields {
                line.push_str(&format!(",{}:{v}", serde_json::Value::from(k)));
            }
        }
        line.push('}');
        line
    }
}

/// Turns each group's progress reports into events, by comparing each with the one before.
#[derive(Debug, Default)]
pub struct Tracker {
    groups: BTreeMap<String, Seen>,
    /// Per rolled-out group, the new instances the plan's waves launch, in order.
    launches: BTreeMap<String, Vec<u32>>,
}

#[derive(Debug)]
struct Seen {
    last: RolloutProgress,
    /// Waves started so far.
    started: u32,
}

fn is_gate(activity: &str) -> bool {
    activity.starts_with("baking") || activity.starts_with("holding")
}

fn is_rollback(activity: &str) -> bool {
    activity.starts_with("rolling back") || activity.starts_with("moving traffic back")
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::default()
    }

    /// A tracker that counts waves as `plan` schedules them: wave k starts when the new
    /// instances asked for exceed what the waves before it launch.
    pub fn for_plan(plan: &Plan) -> Self {
        let launches = plan
            .changes
            .iter()
            .filter_map(|c| {
                let r = c.rollout.as_ref()?;
                Some((
                    c.address.clone(),
                    r.waves.iter().map(|w| w.launch).collect(),
                ))
            })
            .collect();
        Tracker {
            groups: BTreeMap::new(),
            launches,
        }
    }

    /// The waves that have started once `asked` new instances were asked for.
    fn waves_started(&self, p: &RolloutProgress, asked: u32) -> u32 {
        match self.launches.get(&p.address) {
            Some(launches) => {
                let mut before = 0;
                let mut started = 0;
                for l in launches {
                    if asked <= before {
                        break;
                    }
                    started += 1;
                    before += l;
                }
                started
            }
            // Without the schedule: a wave starts when new instances are asked for after the
            // one before got through.
            None => (p.waves + 1).min(p.planned_waves),
        }
    }

    /// The events a report of a rollout makes, in order.
    pub fn progress(&mut self, p: &RolloutProgress) -> Vec<Event> {
        let address = p.address.clone();
        let mut out = Vec::new();
        let seen = match self.groups.remove(&address) {
            Some(seen) => seen,
            None => {
                out.push(Event::GenerationCreated {
                    address: address.clone(),
                    generation: p.to,
                    from_generation: p.from,
                    desired: p.desired,
                    planned_waves: p.planned_waves,
                });
                Seen {
                    last: p.at_start(),
                    started: 0,
                }
            }
        };
        let (q, mut started) = (seen.last, seen.started);
        let (asked, asked_before) = (p.healthy + p.launching, q.healthy + q.launching);
        if asked > asked_before {
            let now = self.waves_started(p, asked).max(started);
            for wave in started + 1..=now {
                out.push(Event::WaveStarted {
                    address: address.clone(),
                    wave,
                    planned_waves: p.planned_waves,
                });
            }
            started = now;
            out.push(Event::InstancesLaunched {
                address: address.clone(),
                count: asked - asked_before,
                asked,
                desired: p.desired,
            });
        }
        if p.healthy > q.healthy {
            out.push(Event::InstancesHealthy {
                address: address.clone(),
                count: p.healthy - q.healthy,
                healthy: p.healthy,
                desired: p.desired,
            });
        }
        if p.old_left() < q.old_left() {
            out.push(Event::InstancesDrained {
                address: address.clone(),
                count: q.old_left() - p.old_left(),
                old_left: p.old_left(),
            });
        }
        if p.traffic != q.traffic {
            if let Some(percent) = p.traffic {
                out.push(Event::TrafficShifted {
                    address: address.clone(),
                    percent,
                });
            }
        }
        for w in q.waves..p.waves.min(p.planned_waves) {
            out.push(Event::GatePassed {
                address: address.clone(),
                gate: "health".into(),
                wave: Some(w + 1),
            });
        }
        if p.activity != q.activity {
            let failing = p.activity.as_deref().is_some_and(is_rollback)
                || p.activity.as_deref() == Some("stopping part-way");
            match q.activity.as_deref().filter(|a| is_gate(a)) {
                Some(gate) if failing => out.push(Event::GateFailed {
                    address: address.clone(),
                    gate: gate.to_string(),
                }),
                Some(gate) if p.finished.is_none() => out.push(Event::GatePassed {
                    address: address.clone(),
                    gate: gate.to_string(),
                    wave: None,
                }),
                _ if failing => out.push(Event::GateFailed {
                    address: address.clone(),
                    gate: "health".into(),
                }),
                _ => {}
            }
            if p.activity.as_deref().is_some_and(is_rollback) {
                out.push(Event::RollbackStarted {
                    address: address.clone(),
                });
            }
        }
        if let Some(result) = &p.finished {
            out.push(Event::RolloutFinished {
                address: address.clone(),
                result: result.clone(),
                waves: p.waves,
                planned_waves: p.planned_waves,
            });
        }
        self.groups.insert(
            address,
            Seen {
                last: p.clone(),
                started,
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(
        healthy: u32,
        launching: u32,
        old_serving: u32,
        waves: u32,
        activity: Option<&str>,
        finished: Option<&str>,
    ) -> RolloutProgress {
        RolloutProgress {
            address: "server_group.web".into(),
            from: Some(1),
            to: 2,
            desired: 4,
            launching,
            healthy,
            old_serving,
            old_unhealthy: 0,
            draining: 0,
            traffic: None,
            waves,
            planned_waves: 2,
            activity: activity.map(String::from),
            elapsed: Duration::ZERO,
            estimate: Duration::ZERO,
            finished: finished.map(String::from),
        }
    }

    /// The event names each report makes.
    fn names(reports: &[RolloutProgress]) -> Vec<Vec<String>> {
        let mut t = Tracker::new();
        reports
            .iter()
            .map(|p| {
                t.progress(p)
                    .iter()
                    .map(|e| {
                        let v = serde_json::to_value(e).unwrap();
                        let mut name = v["event"].as_str().unwrap().to_string();
                        if let Some(w) = v.get("wave") {
                            name.push_str(&format!(" {w}"));
                        }
                        name
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_rolling_rollout_reads_as_waves_launches_health_and_drains() {
        let reports = [
            at(0, 2, 4, 0, None, None),
            at(2, 0, 4, 0, None, None),
            at(2, 0, 2, 1, None, None),
            at(2, 2, 2, 1, None, None),
            at(4, 0, 0, 2, None, Some("ok")),
        ];
        let want: Vec<Vec<&str>> = vec![
            vec!["generation_created", "wave_started 1", "instances_launched"],
            vec!["instances_healthy"],
            vec!["instances_drained", "gate_passed 1"],
            vec!["wave_started 2", "instances_launched"],
            vec![
                "instances_healthy",
                "instances_drained",
                "gate_passed 2",
                "rollout_finished",
            ],
        ];
        assert_eq!(names(&reports), want);
    }

    #[test]
    fn pipelined_waves_start_as_the_plans_schedule_launches_them() {
        let mut t = Tracker::new();
        t.launches.insert("server_group.web".into(), vec![2, 2]);
        // The second wave launches before the first one has drained.
        let reports = [at(0, 2, 4, 0, None, None), at(2, 2, 4, 0, None, None)];
        let started: Vec<Vec<u32>> = reports
            .iter()
            .map(|p| {
                t.progress(p)
                    .into_iter()
                    .filter_map(|e| match e {
                        Event::WaveStarted { wave, .. } => Some(wave),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(started, vec![vec![1], vec![2]]);
    }

    #[test]
    fn a_bake_passes_or_fails_into_a_rollback() {
        let passed = [
            at(
                1,
                0,
                4,
                0,
                Some("baking the canary (1 instance) for 10m"),
                None,
            ),
            at(1, 0, 3, 1, None, None),
        ];
        assert_eq!(
            names(&passed),
            vec![
                vec![
                    "generation_created",
                    "wave_started 1",
                    "instances_launched",
                    "instances_healthy",
                ],
                vec!["instances_drained", "gate_passed 1", "gate_passed"],
            ]
        );
        let failed = [
            at(
                1,
                0,
                4,
                0,
                Some("baking the canary (1 instance) for 10m"),
                None,
            ),
            at(1, 0, 4, 0, Some("rolling back"), None),
            at(0, 0, 4, 0, Some("rolling back"), Some("rolled back")),
        ];
        assert_eq!(
            names(&failed),
            vec![
                vec![
                    "generation_created",
                    "wave_started 1",
                    "instances_launched",
                    "instances_healthy",
                ],
                vec!["gate_failed", "rollback_started"],
                vec!["rollout_finished"],
            ]
        );
    }

    #[test]
    fn lines_are_versioned() {
        let e = Event::Done {
            result: "failed".into(),
            exit_code: 1,
            message: Some("hook failed".into()),
        };
        let line = e.line("2026-01-01T00:00:00.000Z", 1.23456);
        assert_eq!(
            line,
            r#"{"v":1,"time":"2026-01-01T00:00:00.000Z","elapsed":1.235,"event":"done","exit_code":1,"message":"hook failed","result":"failed"}"#
        );
    }
}
