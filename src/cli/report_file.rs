//! `apply --report FILE`: what an apply did, kept as it goes and written as one HTML page
//! however the apply ends (success, rollback, pause, interrupt, error, a second Ctrl-C). The
//! page itself is the library's (`reroll::report`); this keeps its inputs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context as _, Result};

use reroll::apply::GroupReport;
use reroll::plan::Plan;
use reroll::report::{self, Recorder};

/// The report of the apply under way, shared with the Ctrl-C handler.
pub type Slot = Arc<Mutex<Option<Draft>>>;

pub struct Draft {
    path: PathBuf,
    recorder: Recorder,
    started: SystemTime,
    simulated: bool,
    pub stack: String,
    pub region: String,
    pub plan: Option<Plan>,
    pub reports: Vec<GroupReport>,
    /// How the apply ended, when it said so itself (`no changes`, `cancelled`, a rollout's
    /// outcome), and why.
    pub result: Option<String>,
    pub message: Option<String>,
}

impl Draft {
    /// Starts the report and writes a first page, so that a path that cannot be written is
    /// refused before anything changes (and a killed apply leaves a page that says so).
    pub fn start(path: &Path, stack: &str, simulated: bool) -> Result<Draft> {
        let draft = Draft {
            path: path.to_path_buf(),
            recorder: Recorder::start(),
            started: SystemTime::now(),
            simulated,
            stack: stack.to_string(),
            region: String::new(),
            plan: None,
            reports: Vec::new(),
            result: None,
            message: None,
        };
        draft.write(
            "running",
            0,
            Some("the apply has not ended (or was killed)"),
        )?;
        Ok(draft)
    }

    /// The changes begin now: times in the report count from here (not from the prompt).
    /// Returns the sink to report progress to.
    pub fn begin(&mut self) -> reroll::apply::progress::Progress {
        self.recorder = Recorder::start();
        self.started = SystemTime::now();
        self.recorder.progress()
    }

    /// Writes the page for an apply that ended with `exit_code`; `error` is what was printed
    /// for an error the apply did not describe itself.
    pub fn finish(&self, exit_code: u8, error: Option<&str>) -> Result<()> {
        let result = result_name(self.result.as_deref(), exit_code);
        let message = self.message.as_deref().or(error);
        self.write(&result, exit_code, message)
    }

    fn write(&self, result: &str, exit_code: u8, message: Option<&str>) -> Result<()> {
        let samples = self.recorder.samples();
        let page = report::render(&report::build(&report::Input {
            stack: &self.stack,
            region: &self.region,
            plan: self.plan.as_ref(),
            samples: &samples,
            reports: &self.reports,
            result,
            exit_code,
            message,
            started: self.started,
            duration: self.recorder.elapsed(),
            simulated: self.simulated,
        }));
        std::fs::write(&self.path, page)
            .with_context(|| format!("cannot write the report to {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How an apply ended, in a word: what it said itself (`no changes`, `cancelled`, a
/// rollout's outcome), else what its exit code means.
pub fn result_name(said: Option<&str>, exit_code: u8) -> String {
    match (said, exit_code) {
        (Some(r), _) => r.to_string(),
        (None, 0) => "ok".into(),
        (None, 3) => "rolled back".into(),
        (None, 4) => "stopped part-way".into(),
        (None, 130) => "interrupted".into(),
        (None, _) => "failed".into(),
    }
}

/// Writes the report held in `slot`, if any, and says where it went.
pub fn finish(slot: &Slot, exit_code: u8, error: Option<&str>) {
    let Some(draft) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    match draft.finish(exit_code, error) {
        Ok(()) => eprintln!("Report written to {}", draft.path().display()),
        Err(e) => eprintln!("error: {e:#}"),
    }
}

/// Runs `f` on the report held in `slot`, if there is one.
pub fn with(slot: &Slot, f: impl FnOnce(&mut Draft)) {
    if let Some(d) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        f(d);
    }
}
