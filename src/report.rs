//! The picture of an apply (`apply --report FILE`): one self-contained HTML page (inline CSS,
//! SVG and a few lines of script; nothing is fetched) with the result and exit code, the
//! changes, and per rolled-out server group its capacity over time, its planned waves with
//! when each started, was healthy and had drained, and the events of the apply.
//!
//! [`Recorder`] is the progress sink that collects what to draw. [`build`] turns what it
//! collected, the plan and the outcome into a [`Report`]; what it is built from holds no
//! sensitive value (the plan shows them as `(sensitive)`, and the loader refuses them
//! wherever a message could quote them). [`render`] is pure: a report in, HTML out.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::apply::progress::{Progress, RolloutProgress};
use crate::apply::GroupReport;
use crate::forecast::{self, Sample, WaveForecast};
use crate::plan::{human_duration, Action, Plan};

/// Collects every progress report with the time since the apply began, on tokio's clock:
/// simulated time on a simulated account.
#[derive(Debug, Clone)]
pub struct Recorder {
    started: tokio::time::Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Recorder {
    /// Starts the clock now (call it on the runtime the apply runs on).
    pub fn start() -> Self {
        Recorder {
            started: tokio::time::Instant::now(),
            samples: Arc::default(),
        }
    }

    /// The sink to report progress to.
    pub fn progress(&self) -> Progress {
        let (started, samples) = (self.started, self.samples.clone());
        Progress::new(move |p| {
            samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Sample {
                    at: started.elapsed(),
                    progress: p.clone(),
                });
        })
    }

    /// Everything reported so far, in order.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Time since the apply began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What happened, for [`build`].
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub stack: &'a str,
    pub region: &'a str,
    /// `None` when the apply ended before it had a plan.
    pub plan: Option<&'a Plan>,
    pub samples: &'a [Sample],
    pub reports: &'a [GroupReport],
    /// `ok`, `rolled back`, `stopped part-way`, `interrupted`, `failed`, `no changes`, …
    pub result: &'a str,
    pub exit_code: u8,
    /// Why it did not succeed, as printed.
    pub message: Option<&'a str>,
    pub started: SystemTime,
    pub duration: Duration,
    /// Times are simulated (`--cloud sim`).
    pub simulated: bool,
}

/// The page's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub stack: String,
    pub region: String,
    /// When the apply began, RFC 3339 (UTC).
    pub started: String,
    pub duration: Duration,
    pub simulated: bool,
    pub result: String,
    pub exit_code: u8,
    pub message: Option<String>,
    pub changes: Vec<ChangeRow>,
    pub rollouts: Vec<Rollout>,
    pub events: Vec<Event>,
}

/// One planned change and, for a server group, how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub address: String,
    pub action: String,
    pub reason: String,
    /// Waves got through of those planned (`4`, `2/4`).
    pub waves: Option<String>,
    pub duration: Option<Duration>,
    pub result: Option<String>,
}

/// One server group's rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    pub strategy: String,
    pub desired: u32,
    pub max_surge: u32,
    pub max_unavailable: u32,
    pub result: String,
    pub waves_through: u32,
    /// The plan's waves, with when each started, was healthy and had drained as far as known.
    pub waves: Vec<WaveForecast>,
    pub points: Vec<Point>,
    /// When its last report came.
    pub end: Duration,
}

impl Rollout {
    /// The capacity floor: serving instances never fewer than this.
    pub fn floor(&self) -> u32 {
        self.desired.saturating_sub(self.max_unavailable)
    }
}

/// A rollout's capacity at one report, at seconds since the apply began.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub at: f64,
    pub old: u32,
    pub healthy: u32,
    pub launching: u32,
    pub draining: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    /// The server group it concerns; `None` for the apply as a whole.
    pub address: Option<String>,
    pub text: String,
}

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
fn points(samples: &[&Sample]) -> Vec<Point> {
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

/// `3 new instances`.
fn count(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
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

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element: no `<`, `>` or `&` that could end it.
fn script_json(v: &impl Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `+4m 30s`, or `—` for a moment never reached.
fn at(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("+{}", human_duration(d.as_secs())),
        None => "—".into(),
    }
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2em auto; max-width: 1000px; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.meta { color: #555; }
.result { display: inline-block; padding: .3em .8em; border-radius: 4px; font-weight: bold; }
.result.ok { background: #e3f4e3; color: #1b5e20; }
.result.bad { background: #fde7e7; color: #8e1c1c; }
.result.stopped { background: #fff3d6; color: #7a4d00; }
table { border-collapse: collapse; margin: .6em 0; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t { white-space: nowrap; font-variant-numeric: tabular-nums; color: #555; }
figure { margin: 1em 0; }
figure svg { width: 100%; height: auto; border: 1px solid #eee; }
.readout { min-height: 1.4em; color: #333; font-variant-numeric: tabular-nums; }
.message { white-space: pre-wrap; background: #f8f8f8; border-left: 3px solid #c33; padding: .5em .8em; }
label { color: #555; }
"#;

const SCRIPT: &str = r#"
(function () {
  function fmt(t) {
    var s = Math.round(t), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    var parts = [];
    if (h) parts.push(h + 'h');
    if (m) parts.push(m + 'm');
    if (s % 60 || !parts.length) parts.push(s % 60 + 's');
    return '+' + parts.join(' ');
  }
  var charts = document.querySelectorAll('figure.chart');
  for (var c = 0; c < charts.length; c++) {
    (function (fig) {
      var data = JSON.parse(fig.querySelector('script.data').textContent);
      var svg = fig.querySelector('svg');
      var cursor = svg.querySelector('.cursor');
      var out = fig.querySelector('.readout');
      svg.addEventListener('mousemove', function (e) {
        var box = svg.getBoundingClientRect();
        var x = (e.clientX - box.left) * data.width / box.width;
        var t = (x - data.left) / data.plot * data.tmax;
        if (t < 0 || t > data.tmax) { cursor.setAttribute('visibility', 'hidden'); return; }
        var p = null;
        for (var i = 0; i < data.points.length && data.points[i].at <= t; i++) p = data.points[i];
        cursor.setAttribute('x1', x);
        cursor.setAttribute('x2', x);
        cursor.setAttribute('visibility', 'visible');
        out.textContent = fmt(t) + (p ? ': old ' + p.old + ' serving, new ' + p.healthy +
          ' healthy, ' + p.launching + ' launching, ' + p.draining + ' draining' : '');
      });
      svg.addEventListener('mouseleave', function () {
        cursor.setAttribute('visibility', 'hidden');
        out.textContent = '';
      });
    })(charts[c]);
  }
  var filter = document.getElementById('event-filter');
  if (filter) {
    filter.addEventListener('change', function () {
      var rows = document.querySelectorAll('#events tbody tr');
      for (var r = 0; r < rows.length; r++) {
        var g = rows[r].getAttribute('data-group');
        rows[r].style.display = !filter.value || g === filter.value || g === '' ? '' : 'none';
      }
    });
  }
  // Says that the script ran to its end (tests read it back from the page).
  document.documentElement.setAttribute('data-script', 'ran');
})();
"#;

/// The page.
pub fn render(r: &Report) -> String {
    let class = match r.result.as_str() {
        "ok" | "no changes" => "ok",
        "interrupted" | "stopped part-way" | "cancelled" => "stopped",
        _ => "bad",
    };
    let clock = if r.simulated { "simulated time" } else { "" };
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reroll apply: {stack} in {region}: {result}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>reroll apply: stack “{stack}” in {region}</h1>
<p><span class="result {class}">{result} · exit code {code}</span></p>
<p class="meta">Started {started} · took {duration}{clock_note}</p>
"#,
        stack = esc(&r.stack),
        region = esc(&r.region),
        result = esc(&r.result),
        code = r.exit_code,
        started = esc(&r.started),
        duration = human_duration(r.duration.as_secs()),
        clock_note = if r.simulated {
            " of simulated time (a simulated account: times are the simulator's)"
        } else {
            ""
        },
    );
    if let Some(m) = &r.message {
        let _ = writeln!(h, r#"<p class="message">{}</p>"#, esc(m));
    }
    h.push_str("<h2>Changes</h2>\n");
    if r.changes.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str(
            "<table><thead><tr><th>resource</th><th>action</th><th>why</th><th class=\"n\">waves</th><th class=\"n\">duration</th><th>result</th></tr></thead><tbody>\n",
        );
        for c in &r.changes {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&c.address),
                esc(&c.action),
                esc(&c.reason),
                esc(c.waves.as_deref().unwrap_or("")),
                c.duration
                    .map(|d| human_duration(d.as_secs()))
                    .unwrap_or_default(),
                esc(c.result.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tbody></table>\n");
    }
    for (n, ro) in r.rollouts.iter().enumerate() {
        let generation = match ro.from {
            Some(from) => format!("v{from:03} → v{:03}", ro.to),
            None => format!("v{:03}", ro.to),
        };
        let _ = write!(
            h,
            r#"<h2>{address}: {generation}</h2>
<p>{strategy}, {desired} instances, max_surge {surge}, max_unavailable {unavailable} (at least {floor} serving) · {through} of {planned} got through · {result}</p>
"#,
            address = esc(&ro.address),
            strategy = esc(&ro.strategy),
            desired = ro.desired,
            surge = ro.max_surge,
            unavailable = ro.max_unavailable,
            floor = ro.floor(),
            through = ro.waves_through,
            planned = count(ro.waves.len() as u32, "wave"),
            result = esc(&ro.result),
        );
        h.push_str(&chart(n, ro, clock));
        h.push_str(
            "<table><thead><tr><th class=\"n\">wave</th><th class=\"n\">launch</th><th class=\"n\">drain</th><th>started</th><th>healthy</th><th>drained</th></tr></thead><tbody>\n",
        );
        for (i, w) in ro.waves.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td></tr>",
                i + 1,
                w.launch,
                w.drain,
                at(w.start),
                at(w.healthy),
                at(w.drained)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("<h2>Events</h2>\n");
    let groups: Vec<&str> = r.rollouts.iter().map(|ro| ro.address.as_str()).collect();
    if groups.len() > 1 {
        h.push_str(
            "<p><label for=\"event-filter\">Show </label><select id=\"event-filter\"><option value=\"\">every group</option>",
        );
        for g in &groups {
            let _ = write!(h, "<option>{}</option>", esc(g));
        }
        h.push_str("</select></p>\n");
    }
    h.push_str(
        "<table id=\"events\"><thead><tr><th>time</th><th>group</th><th>event</th></tr></thead><tbody>\n",
    );
    for e in &r.events {
        let group = e.address.as_deref().unwrap_or("");
        let _ = writeln!(
            h,
            "<tr data-group=\"{}\"><td class=\"t\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(group),
            at(Some(e.at)),
            esc(group),
            esc(&e.text)
        );
    }
    h.push_str("</tbody></table>\n");
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

const W: f64 = 900.0;
const H: f64 = 340.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 45.0;

/// Series: name, colour, the value it starts from (stacked areas), the value it reaches.
type Series = (
    &'static str,
    &'static str,
    fn(&Point) -> u32,
    fn(&Point) -> u32,
);

/// Serving capacity as stacked areas (old serving, then new healthy on top of it, so that the
/// top edge is everything serving, to compare with the floor), then launching and draining as
/// lines.
const AREAS: [Series; 2] = [
    ("old serving", "#d62728", |_| 0, |p| p.old),
    (
        "new healthy (on top)",
        "#2ca02c",
        |p| p.old,
        |p| p.old + p.healthy,
    ),
];
const LINES: [Series; 2] = [
    ("launching", "#1f77b4", |_| 0, |p| p.launching),
    ("draining", "#ff7f0e", |_| 0, |p| p.draining),
];

/// The corners of a step function through `points` (a value holds until the next point),
/// held until `end`.
fn steps(points: &[Point], value: fn(&Point) -> u32, end: f64) -> Vec<(f64, u32)> {
    let mut out: Vec<(f64, u32)> = Vec::new();
    for p in points {
        if let Some(&(_, v)) = out.last() {
            out.push((p.at, v));
        }
        out.push((p.at, value(p)));
    }
    if let Some(&(t, v)) = out.last() {
        out.push((end.max(t), v));
    }
    out
}

/// Capacity over time as an SVG line chart, each series a step line (a value holds until the
/// next report), the capacity floor dashed, with the data for the hover readout beside it.
fn chart(n: usize, r: &Rollout, clock: &str) -> String {
    let t_max = r
        .points
        .iter()
        .map(|p| p.at)
        .fold(r.end.as_secs_f64(), f64::max)
        .max(60.0);
    let y_max = r
        .points
        .iter()
        .flat_map(|p| AREAS.iter().chain(&LINES).map(move |s| (s.3)(p)))
        .chain([r.desired + r.max_surge, 1])
        .max()
        .unwrap_or(1) as f64
        * 1.1;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / t_max * pw;
    let y = |v: f64| TOP + ph - v / y_max * ph;
    let mut s = format!(
        r#"<figure class="chart" id="chart-{n}">
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12" role="img" aria-label="capacity of {address} over time">
<rect width="100%" height="100%" fill="white"/>
"#,
        address = esc(&r.address)
    );
    // Time ticks: at most ten, at a round step.
    let step = [
        5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ]
    .into_iter()
    .find(|st| t_max / st <= 10.0)
    .unwrap_or(14400.0);
    let mut t = 0.0;
    while t <= t_max {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            human_duration(t as u64)
        );
        t += step;
    }
    let raw = y_max / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let ystep = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| (f * mag).max(1.0))
        .find(|st| *st >= raw)
        .unwrap_or(10.0 * mag)
        .round()
        .max(1.0);
    let mut v = 0.0;
    while v <= y_max {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0
        );
        v += ystep;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b:.1}" stroke="#333"/><line x1="{LEFT}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" stroke="#333"/>
<text x="{mid:.1}" y="{:.1}" text-anchor="middle">time since the apply began{clock}</text>"##,
        H - 6.0,
        b = TOP + ph,
        r = LEFT + pw,
        mid = LEFT + pw / 2.0,
        clock = if clock.is_empty() {
            String::new()
        } else {
            format!(" ({clock})")
        },
    );
    let end = r.end.as_secs_f64();
    let corners = |pts: &[(f64, u32)]| -> Vec<String> {
        pts.iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(f64::from(*v))))
            .collect()
    };
    for (name, colour, from, to) in AREAS {
        let top = corners(&steps(&r.points, to, end));
        let mut bottom = corners(&steps(&r.points, from, end));
        bottom.reverse();
        let _ = writeln!(
            s,
            r#"<polygon fill="{colour}" fill-opacity="0.18" stroke="none" points="{} {}"/><polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{name}</title></polyline>"#,
            top.join(" "),
            bottom.join(" "),
            top.join(" ")
        );
    }
    for (name, colour, _, to) in LINES {
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{name}</title></polyline>"#,
            corners(&steps(&r.points, to, end)).join(" ")
        );
    }
    // The floor last, so that it shows where serving capacity runs along it.
    let fy = y(r.floor() as f64);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{fy:.1}" x2="{:.1}" y2="{fy:.1}" stroke="#555" stroke-dasharray="6 4"><title>capacity floor: {}</title></line>"##,
        LEFT + pw,
        r.floor()
    );
    let lx = LEFT + pw + 15.0;
    let legend = AREAS
        .iter()
        .chain(&LINES)
        .map(|(name, colour, ..)| (name.to_string(), *colour, ""))
        .chain([(
            format!("floor ({})", r.floor()),
            "#555",
            r#" stroke-dasharray="6 4""#,
        )]);
    for (i, (name, colour, dash)) in legend.enumerate() {
        let ly = TOP + 10.0 + i as f64 * 22.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            esc(&name)
        );
    }
    let _ = writeln!(
        s,
        r##"<line class="cursor" x1="0" y1="{TOP}" x2="0" y2="{:.1}" stroke="#999" visibility="hidden"/>
</svg>
<figcaption class="readout"></figcaption>
<script type="application/json" class="data">{}</script>
</figure>"##,
        TOP + ph,
        script_json(&serde_json::json!({
            "width": W,
            "left": LEFT,
            "plot": pw,
            "tmax": t_max,
            "points": r.points,
        }))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Kind, RolloutPlan};
    use crate::stack::Strategy;

    fn progress(
        at: u64,
        healthy: u32,
        launching: u32,
        old: u32,
        draining: u32,
        waves: u32,
    ) -> Sample {
        Sample {
            at: Duration::from_secs(at),
            progress: RolloutProgress {
                address: "server_group.web".into(),
                from: Some(1),
                to: 2,
                desired: 4,
                launching,
                healthy,
                old_serving: old,
                old_unhealthy: 0,
                draining,
                traffic: None,
                waves,
                planned_waves: 2,
                activity: None,
                elapsed: Duration::from_secs(at),
                estimate: Duration::from_secs(300),
                finished: None,
            },
        }
    }

    fn plan() -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION,
            stack: "shop".into(),
            region: "us-east-1".into(),
            changes: vec![Change {
                address: "server_group.web".into(),
                kind: Kind::ServerGroup,
                action: Action::Replace,
                reason: "image changed: v001 → v002 <b>".into(),
                diffs: Vec::new(),
                rollout: Some(RolloutPlan {
                    from_generation: Some(1),
                    to_generation: 2,
                    strategy: Strategy::Rolling,
                    desired: 4,
                    max_surge: 2,
                    max_unavailable: 1,
                    waves: crate::plan::waves(4, 2, 0),
                    traffic_steps: Vec::new(),
                    keep_blue_seconds: 0,
                    estimate_seconds: 300,
                    abandon_generation: None,
                }),
                fingerprint: None,
                launch: None,
            }],
            warnings: Vec::new(),
            observed_digest: String::new(),
            copies: Vec::new(),
        }
    }

    /// A rollout of 4 by 2, interrupted after its first wave.
    fn samples() -> Vec<Sample> {
        let mut last = progress(130, 2, 0, 2, 0, 1);
        last.progress.finished = Some("interrupted".into());
        vec![
            progress(0, 0, 2, 4, 0, 0),
            progress(60, 2, 0, 2, 2, 0),
            progress(95, 2, 0, 2, 0, 1),
            last,
        ]
    }

    fn input<'a>(plan: &'a Plan, samples: &'a [Sample], reports: &'a [GroupReport]) -> Input<'a> {
        Input {
            stack: "shop",
            region: "us-east-1",
            plan: Some(plan),
            samples,
            reports,
            result: "interrupted",
            exit_code: 130,
            message: Some("server_group.web: stopped between waves"),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
            duration: Duration::from_secs(131),
            simulated: true,
        }
    }

    #[test]
    fn a_report_has_the_waves_events_and_outcome() {
        let (plan, samples) = (plan(), samples());
        let reports = [GroupReport {
            address: "server_group.web".into(),
            action: Action::Replace,
            from: Some(1),
            to: Some(2),
            waves: 1,
            planned_waves: 2,
            duration: Duration::from_secs(130),
            result: "interrupted".into(),
        }];
        let r = build(&input(&plan, &samples, &reports));
        assert_eq!(r.changes[0].waves.as_deref(), Some("1/2"));
        let [ro] = r.rollouts.as_slice() else {
            panic!("{:#?}", r.rollouts)
        };
        assert_eq!((ro.floor(), ro.waves_through, ro.points.len()), (3, 1, 4));
        assert_eq!(ro.strategy, "rolling");
        // (launch, drain, started, healthy, drained)
        type Row = (u32, u32, Option<u64>, Option<u64>, Option<u64>);
        let waves: Vec<Row> = ro
            .waves
            .iter()
            .map(|w| {
                let s = |d: Option<Duration>| d.map(|d| d.as_secs());
                (w.launch, w.drain, s(w.start), s(w.healthy), s(w.drained))
            })
            .collect();
        assert_eq!(
            waves,
            vec![
                (2, 2, Some(0), Some(60), Some(95)),
                (2, 2, None, None, None)
            ]
        );
        let texts: Vec<(u64, &str)> = r
            .events
            .iter()
            .map(|e| (e.at.as_secs(), e.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (0, "Plan: 1 to replace."),
                (
                    0,
                    "rollout v001 → v002 begins: 4 old serving, 2 waves planned"
                ),
                (0, "2 new instances asked for (2 of 4)"),
                (60, "2 new instances healthy (2 of 4)"),
                (60, "2 old instances deregistered, draining"),
                (95, "2 old instances drained and terminated (2 left)"),
                (95, "wave 1 of 2 done"),
                (130, "ended: interrupted, 1 of 2 waves got through"),
                (
                    131,
                    "apply ended: interrupted, exit code 130: server_group.web: stopped between \
                     waves"
                ),
            ]
        );
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let (plan, samples) = (plan(), samples());
        let html = render(&build(&input(&plan, &samples, &[])));
        assert!(html.starts_with("<!DOCTYPE html>"));
        // Text is escaped; the only elements are the page's own.
        assert!(html.contains("v001 → v002 &lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>"));
        // Nothing is fetched: no external scripts, styles, images or fonts.
        for fetch in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            let found: Vec<&str> = html
                .match_indices(fetch)
                .map(|(i, _)| &html[i.saturating_sub(40)..(i + 40).min(html.len())])
                .filter(|ctx| !ctx.contains("http://www.w3.org/2000/svg"))
                .collect();
            assert!(found.is_empty(), "{fetch}: {found:?}");
        }
        assert!(html.contains("interrupted · exit code 130"));
        assert!(html.contains("<svg"));
        assert!(html.contains("floor (3)"));
        // The chart's data parses back.
        let start = html.find("class=\"data\">").unwrap() + "class=\"data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(data["points"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn values_hold_until_the_next_report() {
        let p = |at: f64, old: u32| Point {
            at,
            old,
            healthy: 0,
            launching: 0,
            draining: 0,
        };
        assert_eq!(
            steps(&[p(0.0, 4), p(10.0, 3), p(25.0, 1)], |p| p.old, 40.0),
            vec![
                (0.0, 4),
                (10.0, 4),
                (10.0, 3),
                (25.0, 3),
                (25.0, 1),
                (40.0, 1)
            ]
        );
        assert!(steps(&[], |p| p.old, 40.0).is_empty());
        // Reports of one moment are one point: the last.
        let (a, b) = (progress(5, 1, 0, 4, 0, 0), progress(5, 1, 1, 4, 0, 0));
        let pts = points(&[&a, &b]);
        assert_eq!(pts.len(), 1);
        assert_eq!(pts[0].launching, 1);
    }

    #[test]
    fn script_data_cannot_end_its_element() {
        let json = script_json(&serde_json::json!({ "text": "</script><script>alert(1)" }));
        assert!(!json.contains('<') && !json.contains('>'), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["text"], "</script><script>alert(1)");
    }

    #[test]
    fn an_apply_without_a_plan_still_says_how_it_ended() {
        let html = render(&build(&Input {
            plan: None,
            result: "failed",
            exit_code: 1,
            message: Some("the stack has errors"),
            ..input(&plan(), &[], &[])
        }));
        assert!(html.contains("failed · exit code 1"));
        assert!(html.contains("the stack has errors"));
        assert!(html.contains("no plan was made"));
    }
}
