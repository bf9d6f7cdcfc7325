//! `reroll validate`: load with nothing known from the cloud, no AWS.

use std::path::Path;

use anyhow::Result;

use super::args::VarArgs;
use super::context::{inputs, load_offline};
use super::exit::EXIT_OK;
use super::output::plural;

pub(super) fn validate(path: &Path, vars: &VarArgs) -> Result<u8> {
    let mut inputs = inputs(vars, None);
    inputs.allow_missing = true;
    let (_, stack) = load_offline(path, &inputs)?;
    println!(
        "The stack \"{}\" is valid: {} server group{}, {} target group{}, {} load balancer{}, {} image and {} network lookup{}.",
        stack.name,
        stack.server_groups.len(),
        plural(stack.server_groups.len()),
        stack.target_groups.len(),
        plural(stack.target_groups.len()),
        stack.load_balancers.len(),
        plural(stack.load_balancers.len()),
        stack.images.len(),
        stack.networks.len(),
        plural(stack.networks.len()),
    );
    Ok(EXIT_OK)
}
