//! The live view on a terminal: one progress bar per rolling server group, with log lines
//! printed above the bars rather than through them.
//!
//! The elapsed time is the view's own: on AWS it ticks every second from the rollout's start
//! (reports come once a poll); on a simulated account it is the simulated time of the last
//! report, since simulated time jumps ahead whenever the rollout waits.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};

use reroll::apply::progress::{Progress, RolloutProgress};
use reroll::plan::human_duration;

/// The terminal's bars; log lines go through it so that they do not tear them.
pub fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// A writer for log lines that prints above the bars.
pub struct AboveBars;

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        multi().suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// How long a rollout has been running, as shown: the elapsed time of its last report, and on
/// a real clock the time since that report came.
#[derive(Debug, Clone, Copy)]
struct Clock {
    reported: Duration,
    at: Instant,
    estimate: Duration,
    ticking: bool,
    stopped: bool,
}

impl Clock {
    fn shown(&self, now: Instant) -> Duration {
        if self.ticking && !self.stopped {
            self.reported + now.saturating_duration_since(self.at)
        } else {
            self.reported
        }
    }

    /// A new report: never backwards, so the time shown does not jump back when a report's
    /// elapsed time lags the view's.
    fn report(&mut self, elapsed: Duration, now: Instant) {
        self.reported = elapsed.max(self.shown(now));
        self.at = now;
    }

    fn text(&self, now: Instant) -> String {
        if self.stopped {
            return String::new();
        }
        format!(
            "{} of ~{}",
            human_duration(self.shown(now).as_secs()),
            human_duration(self.estimate.as_secs())
        )
    }
}

struct Bar {
    bar: ProgressBar,
    clock: Arc<Mutex<Clock>>,
}

/// Bars keyed by server group address.
pub struct LiveView {
    bars: Mutex<HashMap<String, Bar>>,
    /// Whether time runs on its own between reports (a real account), or only moves with
    /// them (a simulated one).
    ticking: bool,
}

impl LiveView {
    pub fn new(ticking: bool) -> Self {
        LiveView {
            bars: Mutex::default(),
            ticking,
        }
    }

    pub fn progress(self: Arc<Self>) -> Progress {
        Progress::new(move |p| self.update(p))
    }

    fn bar(&self, p: &RolloutProgress) -> Bar {
        let clock = Arc::new(Mutex::new(Clock {
            reported: p.elapsed,
            at: Instant::now(),
            estimate: p.estimate,
            ticking: self.ticking,
            stopped: false,
        }));
        let shown = clock.clone();
        let bar = multi().add(ProgressBar::new(u64::from(p.desired)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:24.green/dim}] {pos:>4}/{len:<4} {msg}  {clock}",
            )
            .expect("valid template")
            .with_key(
                "clock",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let c = *shown.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = w.write_str(&c.text(Instant::now()));
                },
            )
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{:<28}", p.address));
        bar.set_message(line(p));
        // Redrawn four times a second, so the clock ticks without waiting for a report.
        bar.enable_steady_tick(Duration::from_millis(250));
        Bar { bar, clock }
    }

    fn update(&self, p: &RolloutProgress) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let Bar { bar, clock } = bars.entry(p.address.clone()).or_insert_with(|| self.bar(p));
        {
            let mut c = clock.lock().unwrap_or_else(|e| e.into_inner());
            c.report(p.elapsed, Instant::now());
            c.stopped = p.finished.is_some();
        }
        bar.set_length(u64::from(p.desired));
        bar.set_position(u64::from(p.healthy));
        match p.finished.as_deref() {
            // Only a rollout that succeeded shows a full bar.
            Some("ok") => bar.finish_with_message(line(p)),
            Some(_) => bar.abandon_with_message(line(p)),
            None => bar.set_message(line(p)),
        }
    }
}

/// `1 wave`, `4 waves`.
fn count(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The text beside a bar: the generations, then where the rollout stands.
fn line(p: &RolloutProgress) -> String {
    let generation = match p.from {
        Some(from) => format!("v{from:03} → v{:03}", p.to),
        None => format!("v{:03}", p.to),
    };
    let mut counts = Vec::new();
    if p.launching > 0 {
        counts.push(format!("{} launching", p.launching));
    }
    if p.finished.is_some() || p.healthy > 0 || p.launching == 0 {
        counts.push(format!("{} of {} new healthy", p.healthy, p.desired));
    }
    if let Some(t) = p.traffic {
        counts.push(format!("{t}% of traffic on new"));
    }
    counts.push(format!("old {} serving", p.old_serving));
    if p.old_unhealthy > 0 {
        counts.push(format!("{} unhealthy", p.old_unhealthy));
    }
    if p.draining > 0 {
        counts.push(format!("{} draining", p.draining));
    }
    let counts = counts.join(", ");
    let planned = p.planned_waves;
    match p.finished.as_deref() {
        Some("ok") => format!(
            "{generation}  ok: {} in {}",
            count(planned, "wave"),
            human_duration(p.elapsed.as_secs())
        ),
        Some(outcome) => format!(
            "{generation}  {outcome} after {} of {} ({counts}) in {}",
            p.waves,
            count(planned, "wave"),
            human_duration(p.elapsed.as_secs())
        ),
        None => {
            let step = match &p.activity {
                Some(what) => what.clone(),
                None if planned == 0 => String::new(),
                None if p.waves >= planned => format!("all {}", count(planned, "wave")),
                None => format!("wave {} of {planned}", p.waves + 1),
            };
            format!("{generation}  {step}: {counts}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> RolloutProgress {
        RolloutProgress {
            address: "server_group.web".into(),
            from: Some(1),
            to: 2,
            desired: 12,
            launching: 0,
            healthy: 0,
            old_serving: 12,
            old_unhealthy: 0,
            draining: 0,
            traffic: None,
            waves: 0,
            planned_waves: 4,
            activity: None,
            elapsed: Duration::from_secs(75),
            estimate: Duration::from_secs(390),
            finished: None,
        }
    }

    #[test]
    fn lines_say_where_a_rollout_stands() {
        let cases: Vec<(RolloutProgress, &str)> = vec![
            (
                RolloutProgress {
                    launching: 3,
                    ..progress()
                },
                "v001 → v002  wave 1 of 4: 3 launching, old 12 serving",
            ),
            (
                RolloutProgress {
                    launching: 3,
                    healthy: 3,
                    old_serving: 9,
                    draining: 3,
                    waves: 1,
                    ..progress()
                },
                "v001 → v002  wave 2 of 4: 3 launching, 3 of 12 new healthy, old 9 serving, 3 draining",
            ),
            (
                RolloutProgress {
                    healthy: 1,
                    old_serving: 11,
                    planned_waves: 1,
                    activity: Some("baking the canary (1 new instance) for 10m".into()),
                    ..progress()
                },
                "v001 → v002  baking the canary (1 new instance) for 10m: 1 of 12 new healthy, old 11 serving",
            ),
            (
                RolloutProgress {
                    healthy: 12,
                    old_serving: 0,
                    waves: 4,
                    finished: Some("ok".into()),
                    ..progress()
                },
                "v001 → v002  ok: 4 waves in 1m 15s",
            ),
            (
                RolloutProgress {
                    healthy: 6,
                    old_serving: 6,
                    waves: 2,
                    finished: Some("interrupted".into()),
                    ..progress()
                },
                "v001 → v002  interrupted after 2 of 4 waves (6 of 12 new healthy, old 6 serving) in 1m 15s",
            ),
            (
                RolloutProgress {
                    desired: 1,
                    planned_waves: 1,
                    healthy: 1,
                    old_serving: 0,
                    waves: 1,
                    finished: Some("ok".into()),
                    ..progress()
                },
                "v001 → v002  ok: 1 wave in 1m 15s",
            ),
            (
                RolloutProgress {
                    healthy: 12,
                    traffic: Some(10),
                    planned_waves: 1,
                    activity: Some("holding 10% of traffic for 5m".into()),
                    ..progress()
                },
                "v001 → v002  holding 10% of traffic for 5m: 12 of 12 new healthy, 10% of traffic on new, old 12 serving",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(line(&p), want, "{p:?}");
        }
    }

    #[test]
    fn the_clock_ticks_on_a_real_account_and_follows_reports_on_a_simulated_one() {
        let t0 = Instant::now();
        let clock = |ticking| Clock {
            reported: Duration::from_secs(10),
            at: t0,
            estimate: Duration::from_secs(60),
            ticking,
            stopped: false,
        };
        let later = t0 + Duration::from_secs(3);
        assert_eq!(clock(true).shown(later), Duration::from_secs(13));
        assert_eq!(clock(false).shown(later), Duration::from_secs(10));
        assert_eq!(clock(true).text(later), "13s of ~1m");
        // A report that lags the ticking clock does not move it back.
        let mut c = clock(true);
        c.report(Duration::from_secs(12), later);
        assert_eq!(c.shown(later), Duration::from_secs(13));
        // A simulated account's report jumps ahead.
        let mut c = clock(false);
        c.report(Duration::from_secs(300), later);
        assert_eq!(c.text(later), "5m of ~1m");
        c.stopped = true;
        assert_eq!(c.text(later), "");
    }
}
