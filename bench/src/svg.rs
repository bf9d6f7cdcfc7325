//! The rollout as a picture: capacity over simulated time, as a small hand-written SVG.

use std::fmt::Write as _;

use crate::peers::Point;

const W: f64 = 900.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// Series: name, colour, value of a point.
type Series = (&'static str, &'static str, fn(&Point) -> u32);

const SERIES: [Series; 4] = [
    ("old generation", "#d62728", |p| p.old),
    ("new generation", "#1f77b4", |p| p.new),
    ("healthy targets", "#2ca02c", |p| p.healthy),
    ("draining targets", "#ff7f0e", |p| p.draining),
];

pub fn render(title: &str, points: &[Point], floor: u32) -> String {
    let t_max = points.iter().map(|p| p.at).fold(60.0, f64::max);
    let y_max = points
        .iter()
        .flat_map(|p| SERIES.iter().map(move |s| (s.2)(p)))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / t_max * pw;
    let y = |v: f64| TOP + ph - v / y_max * ph;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{title}</text>
"#
    );
    // Grid and axes.
    let minute_step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0]
        .into_iter()
        .find(|m| t_max / 60.0 / m <= 10.0)
        .unwrap_or(60.0);
    let mut m = 0.0;
    while m * 60.0 <= t_max {
        let xx = x(m * 60.0);
        writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{m}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        )
        .expect("write");
        m += minute_step;
    }
    let raw = y_max / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * mag)
        .find(|st| *st >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = 0.0;
    while v <= y_max {
        let yy = y(v);
        writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            LEFT + pw,
            LEFT - 8.0,
            yy + 4.0
        )
        .expect("write");
        v += step;
    }
    writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">simulated minutes</text>
<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">instances</text>"##,
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        LEFT + pw / 2.0,
        H - 10.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    )
    .expect("write");
    // The capacity floor.
    let fy = y(floor as f64);
    writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{fy:.1}" x2="{:.1}" y2="{fy:.1}" stroke="#555" stroke-dasharray="6 4"/>"##,
        LEFT + pw
    )
    .expect("write");
    for (name, colour, value) in SERIES {
        let path: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.at), y(value(p) as f64)))
            .collect();
        writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{name}</title></polyline>"#,
            path.join(" ")
        )
        .expect("write");
    }
    // Legend.
    let lx = LEFT + pw + 15.0;
    for (n, (name, colour, _)) in SERIES.iter().enumerate() {
        let ly = TOP + 10.0 + n as f64 * 22.0;
        writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0
        )
        .expect("write");
    }
    let ly = TOP + 10.0 + 4.0 * 22.0;
    writeln!(
        s,
        r##"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="#555" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">floor ({floor})</text>"##,
        lx + 20.0,
        lx + 26.0,
        ly + 4.0
    )
    .expect("write");
    s.push_str("</svg>\n");
    s
}
