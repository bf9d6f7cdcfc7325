//! Health gates shared by every strategy: CloudWatch alarms that must stay quiet, bakes that
//! must stay healthy for a while, and hooks that must pass.

use std::time::Duration;

use tokio::time::Instant;

use super::hooks::{self, HookContext};
use super::retry::Retry;
use super::stop::Stop;
use crate::cloud::{Cloud, CloudError};
use crate::stack::{HookEvent, ServerGroup, Stack};

/// Why a gate did not pass.
#[derive(Debug)]
pub enum GateFailure {
    /// The cloud could not be asked.
    Cloud(CloudError),
    /// The gate failed: an alarm fired, the canary went unhealthy, a hook failed.
    Failed(String),
    /// Something the step works on was deleted or changed outside reroll: what.
    Changed(String),
}

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateFailure::Cloud(e) => e.fmt(f),
            GateFailure::Failed(m) | GateFailure::Changed(m) => f.write_str(m),
        }
    }
}

impl From<CloudError> for GateFailure {
    fn from(e: CloudError) -> Self {
        GateFailure::Cloud(e)
    }
}

/// Fails when any of the alarms is in ALARM (one call per 100 alarms). An alarm that
/// vanished mid-rollout fails too: a gate that cannot be read does not pass.
pub async fn check_alarms(cloud: &dyn Cloud, names: &[String]) -> Result<(), GateFailure> {
    if names.is_empty() {
        return Ok(());
    }
    let states = cloud.alarm_states(names).await?;
    for name in names {
        match states.get(name).map(String::as_str) {
            Some("ALARM") => {
                return Err(GateFailure::Failed(format!(
                    "CloudWatch alarm {name:?} is in ALARM"
                )))
            }
            None => {
                return Err(GateFailure::Failed(format!(
                    "CloudWatch alarm {name:?} no longer exists"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Runs the stack's and the group's hooks for `event`.
pub async fn run_hooks(
    stack: &Stack,
    g: &ServerGroup,
    event: HookEvent,
    ctx: &HookContext,
) -> Result<(), GateFailure> {
    let hooks = stack.hooks_for(g, event);
    if hooks.is_empty() {
        return Ok(());
    }
    hooks::run(&hooks, ctx)
        .await
        .map_err(|e| GateFailure::Failed(e.to_string()))
}

/// Holds for `duration`, checking `check` every `poll`. Returns false when stopped (Ctrl-C)
/// before the end: the bake is not done and is run again on resume. A check that cannot be
/// made for a transient error is made again after `retry`'s backoff; the bake ends only after
/// a check that passed.
pub async fn bake(
    what: &str,
    address: &str,
    duration: Duration,
    poll: Duration,
    stop: &Stop,
    retry: &mut Retry,
    mut check: impl AsyncFnMut() -> Result<(), GateFailure>,
) -> Result<bool, GateFailure> {
    let end = Instant::now() + duration;
    let total = humantime::format_duration(duration);
    tracing::info!(%address, "watching {what} for {total}");
    let mut last_note = Instant::now();
    loop {
        match check().await {
            Ok(()) => retry.succeeded(),
            Err(GateFailure::Cloud(e)) => {
                retry.pause(e).await?;
                continue;
            }
            Err(failed) => return Err(failed),
        }
        let now = Instant::now();
        if now >= end {
            tracing::info!(%address, "{what}: {total} healthy, alarms quiet");
            return Ok(true);
        }
        if stop.requested() {
            return Ok(false);
        }
        if now.duration_since(last_note) >= Duration::from_secs(60) {
            let left = Duration::from_secs((end - now).as_secs());
            tracing::info!(%address, "watching {what}: {} left", humantime::format_duration(left));
            last_note = now;
        }
        tokio::time::sleep(poll.min(end - now)).await;
    }
}
