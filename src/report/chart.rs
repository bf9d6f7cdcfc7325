//! A rollout's capacity over time as an inline SVG chart.

use std::fmt::Write as _;

use crate::plan::human_duration;

use super::html::{esc, script_json};
use super::types::{Point, Rollout};

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
pub(super) fn steps(points: &[Point], value: fn(&Point) -> u32, end: f64) -> Vec<(f64, u32)> {
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

/// The plot's scale: the time and value each axis reaches, and the plot area's size.
struct Frame {
    t_max: f64,
    y_max: f64,
    pw: f64,
    ph: f64,
}

impl Frame {
    /// A scale that holds every report, the last moment, and the desired capacity with surge.
    fn of(r: &Rollout) -> Self {
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
        Frame {
            t_max,
            y_max,
            pw: W - LEFT - RIGHT,
            ph: H - TOP - BOTTOM,
        }
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + t / self.t_max * self.pw
    }

    fn y(&self, v: f64) -> f64 {
        TOP + self.ph - v / self.y_max * self.ph
    }
}

/// Capacity over time as an SVG line chart, each series a step line (a value holds until the
/// next report), the capacity floor dashed, with the data for the hover readout beside it.
pub(super) fn chart(n: usize, r: &Rollout, clock: &str) -> String {
    let f = Frame::of(r);
    let mut s = format!(
        r#"<figure class="chart" id="chart-{n}">
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12" role="img" aria-label="capacity of {address} over time">
<rect width="100%" height="100%" fill="white"/>
"#,
        address = esc(&r.address)
    );
    axes(&mut s, &f, clock);
    series(&mut s, &f, r);
    legend(&mut s, &f, r);
    let _ = writeln!(
        s,
        r##"<line class="cursor" x1="0" y1="{TOP}" x2="0" y2="{:.1}" stroke="#999" visibility="hidden"/>
</svg>
<figcaption class="readout"></figcaption>
<script type="application/json" class="data">{}</script>
</figure>"##,
        TOP + f.ph,
        script_json(&serde_json::json!({
            "width": W,
            "left": LEFT,
            "plot": f.pw,
            "tmax": f.t_max,
            "points": r.points,
        }))
    );
    s
}

/// Grid lines with time and value ticks, the axes, and the time axis's label.
fn axes(s: &mut String, f: &Frame, clock: &str) {
    let (t_max, y_max, pw, ph) = (f.t_max, f.y_max, f.pw, f.ph);
    // Time ticks: at most ten, at a round step.
    let step = [
        5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ]
    .into_iter()
    .find(|st| t_max / st <= 10.0)
    .unwrap_or(14400.0);
    let mut t = 0.0;
    while t <= t_max {
        let xx = f.x(t);
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
        let yy = f.y(v);
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
}

/// The series as step lines (serving capacity as stacked areas), then the floor.
fn series(s: &mut String, f: &Frame, r: &Rollout) {
    let end = r.end.as_secs_f64();
    let corners = |pts: &[(f64, u32)]| -> Vec<String> {
        pts.iter()
            .map(|(t, v)| format!("{:.1},{:.1}", f.x(*t), f.y(f64::from(*v))))
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
    let fy = f.y(r.floor() as f64);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{fy:.1}" x2="{:.1}" y2="{fy:.1}" stroke="#555" stroke-dasharray="6 4"><title>capacity floor: {}</title></line>"##,
        LEFT + f.pw,
        r.floor()
    );
}

/// A legend entry per series and for the floor, right of the plot.
fn legend(s: &mut String, f: &Frame, r: &Rollout) {
    let lx = LEFT + f.pw + 15.0;
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
}
