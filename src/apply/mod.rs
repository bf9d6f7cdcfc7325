//! Carrying out a plan: create and update infrastructure, create and resize generations, wait
//! until they are healthy, and delete what the stack no longer declares.
//!
//! Apply runs in phases so that values known only after creation (ARNs) are available to the
//! next phase: [`infrastructure`] (target groups, load balancers, listeners), then
//! [`server_groups`] (with a fresh stack evaluation in between, done by the caller), then
//! [`deletions`]. Each step observes before it acts, so running apply again after an
//! interruption continues from what exists.

mod activities;
mod adopt;
pub mod bluegreen;
mod cadence;
mod cleanup;
mod context;
mod create;
pub(crate) mod decide;
mod error;
pub mod fleet;
pub mod gates;
mod generation;
mod groups;
pub mod hooks;
pub mod observer;
mod phases;
pub mod progress;
pub mod retry;
pub mod rolling;
mod stop;
pub mod traffic;
mod types;
mod wait;

pub(crate) use self::cadence::MAX_WAIT;
pub use self::context::{levels, order};
pub use self::error::ApplyError;
pub(crate) use self::generation::parse_from;
pub use self::groups::{finish_interrupted, server_groups};
pub use self::phases::{deletions, infrastructure};
pub use self::stop::Stop;
pub use self::types::{ApplyOptions, GroupReport, HealthWait, RolloutReport, WaitOutcome};
pub use self::wait::wait_healthy;
