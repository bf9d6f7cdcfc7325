//! The desired state: a stack after loading and evaluation.
//!
//! Everything here is plain data, and nothing here depends on the cloud, the plan or the lock:
//! they use these types. Values that cannot be known before apply (an ARN, a DNS name) or
//! before the cloud lookups ran (an AMI id in `validate`) are carried as strings containing an
//! [`UNKNOWN_APPLY`] or [`UNKNOWN_LOOKUP`] marker, which the plan shows as such.

mod image;
pub mod launch;
pub mod lock;
mod model;
mod rollout;
pub mod scaling;
mod sensitive;
mod tags;

pub use image::{
    source_tag, ImageCopy, ImageFilter, ImageLabel, PackerBuild, ResolvedImage, Snapshot,
};
pub use model::{
    is_region_name, is_unknown, Capacity, GroupMode, HealthCheck, ImageLookup, Known, Listener,
    LoadBalancer, NetworkLookup, Origin, Output, ResolvedNetwork, ServerGroup, Stack, TargetGroup,
    UNKNOWN_APPLY, UNKNOWN_LOOKUP,
};
pub use rollout::{Canary, HealthGate, Hook, HookEvent, OnFailure, Quantity, Rollout, Strategy};
pub use sensitive::{Sensitive, REDACTED, STACK_TAGS};
pub use tags::Tags;
