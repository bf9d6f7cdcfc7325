//! Log output: text lines for people, or one JSON object per line for machines. Logs go to
//! stderr; stdout holds only what a command produces (plan text, JSON, outputs).

use std::sync::OnceLock;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

use super::args::{CloudKind, Global, LogFormat};

/// Log times on a simulated account: simulated time since the command started (tokio's paused
/// clock), in the format of every other duration, so a 35-minute rollout's log spans 35 minutes.
struct SimulatedTime(OnceLock<tokio::time::Instant>);

impl FormatTime for SimulatedTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let start = *self.0.get_or_init(tokio::time::Instant::now);
        let d = tokio::time::Instant::now().saturating_duration_since(start);
        write!(w, "sim +{}", reroll::plan::human_duration(d.as_secs()))
    }
}

pub fn init(global: &Global) {
    if global.cloud == CloudKind::Sim {
        init_with(global, SimulatedTime(OnceLock::new()));
    } else {
        init_with(global, tracing_subscriber::fmt::time::SystemTime);
    }
}

fn init_with<T: FormatTime + Send + Sync + 'static>(global: &Global, timer: T) {
    let level = match global.verbose {
        0 => "reroll=info,warn",
        1 => "reroll=debug,info",
        _ => "reroll=trace,debug",
    };
    let filter = EnvFilter::try_from_env("REROLL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_timer(timer)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        // On a terminal, log lines print above the live view's bars.
        LogFormat::Text if super::output::color_stderr() => builder
            .with_writer(|| super::view::AboveBars)
            .with_ansi(true)
            .compact()
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).compact().try_init(),
    };
}
