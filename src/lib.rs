//! reroll: immutable machine-image rollouts for AWS fleets, from declarative HCL stacks.
//!
//! See `ARCHITECTURE.md` for the map: [`load`] turns files into a [`stack::Stack`],
//! [`observe`] reads the account through [`cloud::Cloud`], [`plan`] diffs the two without IO,
//! and [`apply`] carries a plan out.

pub mod apply;
pub mod cloud;
pub mod controllers;
pub mod engine;
pub mod events;
pub mod forecast;
pub mod iam;
pub mod load;
pub mod lock;
pub mod names;
pub mod observe;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod resolve;
pub mod rollback;
pub mod stack;
pub mod status;
