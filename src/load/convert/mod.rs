//! From evaluated values to the typed desired model, with an error per wrong value.
//!
//! `conv.rs` converts single values; `balancing.rs` builds target groups and load balancers,
//! `server_group.rs` server groups and hooks.

mod balancing;
pub(super) mod conv;
mod server_group;

pub use balancing::{load_balancer, target_group};
pub use conv::{Conv, Evaluated};
pub use server_group::{hook, server_group};
