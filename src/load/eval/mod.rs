//! Evaluating a parsed stack into a [`Stack`]: variables, locals, lookups, references,
//! modules, resources and outputs. Pure: what the cloud knows arrives as [`Known`].
//!
//! `scope.rs` holds the evaluator and what one module instance sees; `module.rs` walks a module
//! instance, `attrs.rs` evaluates attributes and blocks, `lookups.rs` the `image` and
//! `network` lookups, `repeat.rs` the copies of a block with `count` or `for_each`,
//! `resources.rs` resources, outputs and `depends_on`.

mod attrs;
mod lookups;
mod module;
mod repeat;
mod resources;
mod scope;

use hcl::eval::Context;

use crate::load::diag::Diagnostics;
use crate::load::parse::Parsed;
use crate::load::vars::{self, Inputs};
use crate::stack::{Known, Stack};

use scope::Evaluator;

/// Evaluates a parsed stack. All problems are returned together.
pub fn evaluate(parsed: &Parsed, inputs: &Inputs, known: &Known) -> Result<Stack, Diagnostics> {
    crate::load::snapshot::with_snapshot(&parsed.files, || evaluate_here(parsed, inputs, known))
}

fn evaluate_here(parsed: &Parsed, inputs: &Inputs, known: &Known) -> Result<Stack, Diagnostics> {
    // Var files join the sources, so that a problem in one is shown at its line.
    let with_var_files;
    let parsed = if inputs.files.is_empty() {
        parsed
    } else {
        let mut p = parsed.clone();
        for file in &inputs.files {
            if let crate::load::snapshot::Entry::File(bytes) = crate::load::snapshot::read(file) {
                if let Ok(text) = String::from_utf8(bytes.to_vec()) {
                    p.sources.add(file, text);
                }
            }
        }
        with_var_files = p;
        &with_var_files
    };
    let mut ev = Evaluator {
        parsed,
        known,
        stack: Stack::default(),
        problems: Vec::new(),
        root_dir: parsed.root.dir.clone(),
        ctx: {
            let mut ctx = Context::new();
            crate::load::functions::declare_all(&mut ctx);
            ctx
        },
        depends_on: Vec::new(),
        suggestions_left: 1_000_000,
        names_taken: Default::default(),
    };
    ev.stack_block(inputs);
    let values = vars::root_values(parsed, inputs, &mut ev.problems);
    ev.module(&parsed.root, &[], values);
    ev.depends_on_cycles();
    if ev.problems.is_empty() && parsed.problems.is_empty() {
        Ok(ev.stack)
    } else {
        Err(parsed.clone().into_diagnostics(ev.problems))
    }
}
