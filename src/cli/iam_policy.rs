//! `reroll iam-policy`: the policy a command needs for a stack, evaluated offline, no AWS.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use reroll::iam::{self, Command};

use super::args::{PolicyCommand, VarArgs};
use super::context::{inputs, load_offline};
use super::exit::EXIT_OK;

pub(super) fn iam_policy(
    path: &Path,
    vars: &VarArgs,
    command: PolicyCommand,
    region: Option<&str>,
) -> Result<u8> {
    let mut inputs = inputs(vars, region.map(str::to_string));
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    let command = match command {
        PolicyCommand::Plan => Command::Plan,
        // A rollback changes launch templates' defaults, groups and listeners as apply does.
        PolicyCommand::Apply | PolicyCommand::Rollback => Command::Apply,
        PolicyCommand::Destroy => Command::Destroy,
        PolicyCommand::All => Command::All,
    };
    let policy = iam::policy(&stack, command, region);
    let text = serde_json::to_string_pretty(&policy)?;
    match writeln!(std::io::stdout(), "{text}") {
        // A reader that stops early (`| head`) has what it wanted.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(EXIT_OK),
    }
}
