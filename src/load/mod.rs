//! Loading a stack: parse the files, check them against the schema, evaluate variables,
//! locals, lookups, modules and resources into a [`crate::stack::Stack`].
//!
//! Loading is pure apart from reading the stack's own files: whatever must come from the cloud
//! (AMI ids, subnet ids, ARNs) is passed in as [`crate::stack::Known`], and anything not known
//! yet is carried as an "unknown" marker. [`crate::resolve`] runs the lookups and loads again.

mod convert;
pub mod diag;
mod eval;
mod fleet;
pub mod functions;
mod graph;
pub mod limits;
pub mod marks;
pub mod packer;
pub mod parse;
mod schema;
pub mod snapshot;
pub mod vars;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use diag::Diagnostics;
pub use eval::evaluate;
pub use parse::{parse_stack, Parsed};
pub use vars::Inputs;

use crate::stack::{Known, Stack};

/// Parses and evaluates a stack in one step, with nothing known from the cloud.
pub fn load(path: &Path, inputs: &Inputs) -> Result<(Parsed, Stack), Diagnostics> {
    let parsed = parse_stack(path)?;
    let stack = evaluate(&parsed, inputs, &Known::default())?;
    Ok((parsed, stack))
}
