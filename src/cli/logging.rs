//! Log output: text lines for people, or one JSON object per line for machines. Logs go to
//! stderr; stdout holds only what a command produces (plan text, JSON, outputs).

use tracing_subscriber::EnvFilter;

use super::args::{Global, LogFormat};

pub fn init(global: &Global) {
    let level = match global.verbose {
        0 => "reroll=info,warn",
        1 => "reroll=debug,info",
        _ => "reroll=trace,debug",
    };
    let filter = EnvFilter::try_from_env("REROLL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        // On a terminal, log lines print above the live view's bars.
        LogFormat::Text if super::color_stderr() => builder
            .with_writer(|| super::view::AboveBars)
            .with_ansi(true)
            .compact()
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).compact().try_init(),
    };
}
