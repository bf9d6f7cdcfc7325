//! `reroll iam-policy`: the least-privilege IAM policy one command needs for one stack.
//!
//! Pure: a [`Stack`] and a [`Command`] in, a policy document out. Every action reroll can
//! call is in [`ACTIONS`] with the commands that call it and how its resources can be
//! narrowed; the stack decides which optional ones are needed (alarms, an S3 lock, image
//! copies, instance profiles, instance mode).
//!
//! - Reads (`Describe*`) cannot be narrowed by resource in EC2, Auto Scaling or ELBv2: they
//!   are on `*`.
//! - Creates carry the stack's tag in the request: `aws:RequestTag/reroll:stack` must be the
//!   stack's name, so reroll can only create what it will recognise as its own.
//! - Changes and deletes need the tag on the resource: `aws:ResourceTag/reroll:stack`.
//!   Listeners carry no tag of reroll's, so they are narrowed by the ARNs of the stack's load
//!   balancers instead.
//! - Where the stack names its region, every statement is limited to it (and to the regions
//!   images are copied from) with `aws:RequestedRegion`.
//!
//! `sts:GetCallerIdentity` (the account the lock is keyed on) needs no permission.

mod actions;
mod policy;
#[cfg(test)]
mod tests;

pub use actions::{action_of, Command};
pub use policy::{allowed, policy};
