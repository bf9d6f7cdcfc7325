//! The page: a report in, one self-contained HTML page out.

use std::fmt::Write as _;

use crate::plan::human_duration;

use super::chart::chart;
use super::html::{at, count, esc, SCRIPT, STYLE};
use super::types::{Report, Rollout};

/// The page.
pub fn render(r: &Report) -> String {
    let clock = if r.simulated { "simulated time" } else { "" };
    let mut h = String::new();
    heading(&mut h, r);
    if let Some(m) = &r.message {
        let _ = writeln!(h, r#"<p class="message">{}</p>"#, esc(m));
    }
    changes_table(&mut h, r);
    for (n, ro) in r.rollouts.iter().enumerate() {
        rollout_section(&mut h, n, ro, clock);
    }
    events_table(&mut h, r);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

/// The document's head, the title and the result.
fn heading(h: &mut String, r: &Report) {
    let class = match r.result.as_str() {
        "ok" | "no changes" => "ok",
        "interrupted" | "stopped part-way" | "cancelled" => "stopped",
        _ => "bad",
    };
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
}

/// Every planned change, with how it went.
fn changes_table(h: &mut String, r: &Report) {
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
}

/// A rolled-out server group: its strategy and result, its capacity chart and its waves.
fn rollout_section(h: &mut String, n: usize, ro: &Rollout, clock: &str) {
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

/// The events of the apply, with a filter by group when there are several.
fn events_table(h: &mut String, r: &Report) {
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
}
