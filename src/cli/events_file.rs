//! `apply --events FILE|-`: the events of an apply as JSON Lines (`reroll::events`), written
//! as they happen, one line each, and a `done` line however the apply ends (success, rollback,
//! pause, Ctrl-C once or twice, an error). Also, on GitHub Actions (`GITHUB_ACTIONS=true`),
//! the workflow commands and the step summary.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context as _, Result};

use reroll::apply::progress::Progress;
use reroll::apply::GroupReport;
use reroll::events::{Event, Tracker};

/// The event log of the apply under way, shared with the progress sink and the Ctrl-C
/// handler.
pub type Slot = Arc<Mutex<Option<EventLog>>>;

pub struct EventLog {
    out: Box<dyn Write + Send>,
    tracker: Tracker,
    started_wall: SystemTime,
    started: tokio::time::Instant,
    /// How the apply ended, when it said so itself, and why (as for the report).
    pub result: Option<String>,
    pub message: Option<String>,
}

impl EventLog {
    /// Opens `path` (`-`: stdout) for writing: a path that cannot be written stops the apply
    /// before anything changes.
    pub fn open(path: &Path) -> Result<EventLog> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write events to {}", path.display()))?,
            )
        };
        Ok(EventLog {
            out,
            tracker: Tracker::new(),
            started_wall: SystemTime::now(),
            started: tokio::time::Instant::now(),
            result: None,
            message: None,
        })
    }

    /// Writes one event now. Times follow tokio's clock from the start (simulated time on a
    /// simulated account), stamped from the wall clock at the start.
    pub fn write(&mut self, event: &Event) {
        let elapsed = self.started.elapsed();
        let time = self.started_wall + elapsed;
        let stamp = humantime::format_rfc3339_millis(time).to_string();
        let line = event.line(&stamp, elapsed.as_secs_f64());
        // An events file that stops taking lines must not stop the rollout.
        let _ = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
    }

    /// Waves are counted as `plan` schedules them.
    pub fn follow(&mut self, plan: &reroll::plan::Plan) {
        self.tracker = Tracker::for_plan(plan);
    }

    fn progress_events(&mut self, p: &reroll::apply::progress::RolloutProgress) {
        for e in self.tracker.progress(p) {
            self.write(&e);
        }
    }
}

/// Runs `f` on the log in `slot`, if there is one.
pub fn with(slot: &Slot, f: impl FnOnce(&mut EventLog)) {
    if let Some(log) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        f(log);
    }
}

/// The sink that turns rollout progress into events.
pub fn progress(slot: &Slot) -> Progress {
    let slot = slot.clone();
    Progress::new(move |p| with(&slot, |log| log.progress_events(p)))
}

/// The `done` line for an apply that ended with `exit_code`; `error` is what was printed for
/// an error the apply did not describe itself. Writes nothing a second time.
pub fn finish(slot: &Slot, exit_code: u8, error: Option<&str>) {
    let Some(mut log) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let result = super::report_file::result_name(log.result.as_deref(), exit_code);
    let message = log.message.clone().or(error.map(String::from));
    log.write(&Event::Done {
        result,
        exit_code,
        message,
    });
}

/// Whether the command runs as a GitHub Actions step.
pub fn github() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// A workflow command's data: `%`, CR and LF escaped as GitHub asks.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=…,line=…,col=…::message` for each located problem of a stack (a problem
/// without a place: `::error::message`).
pub fn error_commands(d: &reroll::load::Diagnostics) -> String {
    let mut out = String::new();
    for p in &d.problems {
        let text = escape_data(&p.message);
        match &p.loc {
            Some(loc) => {
                let origin = d.sources.get(loc.file).origin(&loc.span);
                out.push_str(&format!(
                    "::error file={},line={},col={}::{text}\n",
                    escape_property(origin.file.trim_start_matches("./")),
                    origin.line,
                    origin.column
                ));
            }
            None => out.push_str(&format!("::error::{text}\n")),
        }
    }
    out
}

/// `::error title=…::message`, for a rollout that failed.
pub fn error_command(title: &str, message: &str) -> String {
    format!(
        "::error title={}::{}\n",
        escape_property(title),
        escape_data(message)
    )
}

/// The step summary: the apply's result and, per group, its change, generations, waves,
/// duration and result, as a Markdown table.
pub fn step_summary(
    stack: &str,
    result: &str,
    exit_code: u8,
    reports: &[GroupReport],
    waves: impl Fn(&GroupReport) -> String,
) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### reroll apply: {}\n\n**{}** (exit code {exit_code})\n\n",
        cell(stack),
        cell(result)
    );
    if !reports.is_empty() {
        out.push_str("| group | action | generation | waves | duration | result |\n");
        out.push_str("|---|---|---|---:|---:|---|\n");
        for r in reports {
            let gen = r.generations();
            out.push_str(&format!(
                "| {} | {} | {gen} | {} | {} | {} |\n",
                cell(&r.address),
                format!("{:?}", r.action).to_lowercase(),
                waves(r),
                reroll::plan::human_duration(r.duration.as_secs()),
                cell(&r.result)
            ));
        }
    }
    out.push('\n');
    out
}

/// Appends to `$GITHUB_STEP_SUMMARY`, when it is set; a summary that cannot be written is
/// said, not fatal.
pub fn append_step_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot append the step summary to {}: {e}",
            Path::new(&path).display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_what_github_asks() {
        let cases = [
            (
                error_command("server_group.web", "rollout failed: 50%\nrolled back"),
                "::error title=server_group.web::rollout failed: 50%25%0Arolled back\n",
            ),
            (error_command("a:b,c", "x"), "::error title=a%3Ab%2Cc::x\n"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
