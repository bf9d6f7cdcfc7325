//! What the page's parts share: escaping, JSON for a script element, times and counts, and
//! the page's style and script.

use std::time::Duration;

use serde::Serialize;

use crate::plan::human_duration;

/// Escapes text for HTML.
pub(super) fn esc(s: &str) -> String {
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
pub(super) fn script_json(v: &impl Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `+4m 30s`, or `—` for a moment never reached.
pub(super) fn at(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("+{}", human_duration(d.as_secs())),
        None => "—".into(),
    }
}

pub(super) const STYLE: &str = r#"
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

pub(super) const SCRIPT: &str = r#"
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

/// `3 new instances`.
pub(super) fn count(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
