//! The plan: a value that says what apply will do, computed without IO.
//!
//! `plan(desired, observed)` compares each resource of the stack with what runs and decides
//! one [`Action`] per address. The human-readable reason is for display only; decisions look
//! at the action and the data.

mod compute;
pub mod copy;
mod diff;
pub mod file;
mod fingerprint;
mod infra;
mod launch;
mod quota;
pub mod render;
mod schedule;
mod server_group;
mod types;
mod warnings;

pub use compute::{destroy_plan, plan};
pub use fingerprint::{fingerprint, fingerprint_of, legacy_fingerprint, FINGERPRINT_FORMAT};
pub use infra::{listener_equal, listener_spec, target_group_spec};
pub use launch::{launch_spec, LaunchDefinition};
pub use render::human_duration;
pub use schedule::{checkpointed_waves, rollout_plan, waves, waves_through};
pub use server_group::{asg_settings, target_group_arns};
pub use types::{
    Action, AttrDiff, Change, Kind, Plan, PlanError, RolloutPlan, Wave, FORMAT_VERSION,
};

#[cfg(test)]
mod tests;
