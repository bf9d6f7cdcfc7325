//! What each fuzz target does with one input: what reroll does with a file a user gives it,
//! up to the point where it would talk to a cloud. A target returns normally whatever the input
//! (an error is an answer); a panic, an abort or a hang is a bug.
//!
//! Shared by the fuzzers (`fuzz/fuzz_targets/`) and by the replay of the inputs they found
//! (`tests/fuzz_regressions.rs`), which includes this file with `#[path]`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reroll::cloud::sim::SimCloud;
use reroll::cloud::stats::Stats;
use reroll::load::{self, Inputs};
use reroll::plan::file::SavedPlan;
use reroll::plan::render::{self, Style};

/// A stack that declares a variable of every type, for `-var-file`s to set.
const TYPED_STACK: &str = r#"
stack "fuzz" {
  region = "us-east-1"
}
variable "name" {
  type = string
}
variable "count" {
  type    = number
  default = 1
}
variable "enabled" {
  type    = bool
  default = true
}
variable "zones" {
  type    = list(string)
  default = []
}
variable "tags" {
  type    = map(string)
  default = {}
}
variable "shape" {
  type    = object({ size = number, name = string })
  default = { size = 1, name = "a" }
}
variable "password" {
  type      = string
  sensitive = true
  default   = "x"
}
variable "anything" {
  default = null
}
"#;

/// The stack a simulated world is planned against.
const SIM_STACK: &str = include_str!("../../tests/fixtures/sim-rolling/main.hcl");

thread_local! {
    /// A scratch directory of this thread's, reused by every input (in memory when /dev/shm is
    /// there).
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Writes `files` (name, contents) into a fresh subdirectory of the scratch directory and
/// returns it; what an earlier input wrote is gone.
fn scratch(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    SCRATCH.with(|cell| {
        let mut cell = cell.borrow_mut();
        let root = cell.get_or_insert_with(|| {
            let shm = Path::new("/dev/shm");
            let base = if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            tempfile::Builder::new()
                .prefix("reroll-fuzz-")
                .tempdir_in(base)
                .expect("a scratch directory")
        });
        let dir = root.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        for (file, contents) in files {
            std::fs::write(dir.join(file), contents).expect("a scratch file");
        }
        dir
    })
}

/// A stack file: parsed, checked, evaluated and converted as `reroll validate` does (a
/// required variable without a value is unknown), with its problems rendered as the user
/// would see them.
pub fn stack(data: &[u8]) {
    let dir = scratch("stack", &[("main.hcl", data)]);
    let inputs = Inputs {
        allow_missing: true,
        ..Inputs::default()
    };
    if let Err(diags) = load::load(&dir, &inputs) {
        let _ = diags.render(false);
        let _ = diags.short();
    }
}

/// A `-var-file` for a stack with a variable of every type.
pub fn var_file(data: &[u8]) {
    let dir = scratch(
        "var_file",
        &[("main.hcl", TYPED_STACK.as_bytes()), ("vars.tfvars", data)],
    );
    let inputs = Inputs {
        files: vec![dir.join("vars.tfvars")],
        ..Inputs::default()
    };
    if let Err(diags) = load::load(&dir.join("main.hcl"), &inputs) {
        let _ = diags.render(false);
    }
}

/// A saved plan (`reroll apply FILE`): recognised, read and shown.
pub fn plan_file(data: &[u8]) {
    let dir = scratch("plan_file", &[("plan", data)]);
    let path = dir.join("plan");
    if !SavedPlan::is_plan_file(&path) {
        return;
    }
    match SavedPlan::read(&path) {
        Ok(saved) => {
            let _ = render::render(&saved.plan, Style { color: false });
            let _ = render::summary(&saved.plan);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A `--sim-state` world: loaded, looked at, saved again, and planned against.
pub fn sim_state(data: &[u8]) {
    let dir = scratch(
        "sim_state",
        &[("world.json", data), ("main.hcl", SIM_STACK.as_bytes())],
    );
    let Ok(sim) = SimCloud::load(dir.join("world.json"), Stats::new()) else {
        return;
    };
    let _ = sim.snapshot();
    let _ = sim.to_json();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // Virtual time: a plan of a simulated account waits for nothing real.
        let planned = tokio::time::timeout(Duration::from_secs(3600), async {
            let session = reroll::engine::open(&sim, &dir.join("main.hcl"), Inputs::default())
                .await
                .ok()?;
            session.plan(false).ok()
        })
        .await;
        if let Ok(Some(plan)) = planned {
            let _ = render::render(&plan, Style { color: false });
        }
    });
}
