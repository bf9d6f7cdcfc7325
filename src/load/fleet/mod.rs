//! The launch template and Auto Scaling blocks and attributes of a `server_group`, from
//! evaluated values to [`crate::cloud::launch::LaunchOptions`] and
//! [`crate::cloud::scaling::GroupSettings`], each wrong value a located
//! problem. Names follow Terraform's `aws_launch_template` and `aws_autoscaling_group` (and
//! `aws_autoscaling_policy`, `aws_autoscaling_schedule`, `initial_lifecycle_hook`), except
//! `metadata { http_tokens, hop_limit }`, which the stack language has always spelled so.
//!
//! `launch.rs` converts the launch template settings, `scaling.rs` the Auto Scaling ones,
//! `common.rs` holds what both use.

mod common;
mod launch;
mod scaling;

pub use launch::launch_options;
pub use scaling::group_settings;
