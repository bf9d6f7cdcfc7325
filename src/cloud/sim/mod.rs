//! An in-memory AWS account on tokio's clock: the [`Cloud`](crate::cloud::Cloud) for scale,
//! timing and fault tests.
//!
//! [`SimCloud`] models what matters to a rollout and nothing else:
//!
//! - **Lookups match whatever is asked.** An image name resolves to one synthetic image (its id
//!   a hash of region and name) unless listed in [`SimConfig::missing_images`]; a VPC lookup
//!   finds one VPC with the requested tags, a subnet lookup three subnets in zones a, b and c,
//!   a security group lookup one group per requested name.
//! - **Instances take time.** `pending` for a boot time drawn from [`SimConfig::boot_time`],
//!   then `running`; terminated ones are `shutting-down` for
//!   [`SimConfig::shutdown_seconds`], then `terminated` and no longer listed.
//! - **Auto Scaling groups** launch and terminate to their desired capacity, balanced across
//!   the availability zones of their subnets (scale-in takes from the fullest zone, outdated
//!   launch template versions and oldest instances first). Tags propagate to instances. Booted
//!   members register in the group's target groups; members the group terminates are
//!   deregistered and drained first. With ELB health checks, members failing them are marked
//!   `Unhealthy` after the grace period and replaced (unless `HealthCheck` or
//!   `ReplaceUnhealthy` is suspended). `Launch`, `Terminate` and `AddToLoadBalancer` can be
//!   suspended too. Launches into [`SimConfig::insufficient_capacity_azs`] go to the group's
//!   other zones, or are retried later; each launch is a scaling activity, and a failed one
//!   (a zone without capacity, a missing launch template or image) is recorded `Failed` with
//!   AWS's wording. Instance refreshes are kept as records that tests start and end
//!   ([`SimCloud::start_instance_refresh`]); they replace nothing.
//! - **Target health** as ELBv2 reports it: `initial` until the instance has booted and
//!   `interval × healthy_threshold` has passed (`unhealthy` after `interval ×
//!   unhealthy_threshold` for images in [`SimConfig::bad_images`]), `draining` for the
//!   deregistration delay after a deregistration, then gone. Targets of a target group that no
//!   listener forwards to are `unused` (as on AWS; see
//!   [`SimConfig::unused_without_load_balancer`]).
//! - **Rate limits** as token buckets ([`RateLimits`]): a request beyond its bucket waits for a
//!   token, as the SDK's adaptive retry would make it, and counts as throttled in
//!   [`Stats`](crate::cloud::stats::Stats). Launches draw from the RunInstances instance
//!   bucket: a RunInstances call waits, an Auto Scaling group's instances simply start later.
//! - **Calls are counted** under the AWS implementation's operation names, one per page and per
//!   batch at the same page sizes and batch limits, and each takes
//!   [`SimConfig::call_latency_ms`] of simulated time.
//!
//! Time is tokio's ([`tokio::time::Instant`] and [`tokio::time::sleep`] only), so under a paused
//! clock (`#[tokio::test(start_paused = true)]`) hours of rollout run in moments. The world
//! stores when things happen and works states out when they are read; it needs no background
//! task. Given the same seed and the same calls, it behaves the same.
//!
//! Not modelled: instance refreshes that replace instances, lifecycle hooks, warm pools, scaling policies and alarms,
//! spot, per-instance health beyond the image fault, load balancer provisioning time, image
//! copies that take time, and API errors other than the ones reroll's calls can provoke.
//!
//! # Saved worlds
//!
//! [`SimCloud::save`] writes the whole world as one JSON object: `{"format": 1, "now_ms": N,
//! "world": {...}}`. Every time in it (launches, boots, drains, rate-limit buckets) is in
//! milliseconds of simulated time since the world was created, and `now_ms` is the simulated
//! time of the save. [`SimCloud::load`] continues from `now_ms`: an instance that had 10 s of
//! booting left still has 10 s left. `world.config` is the [`SimConfig`] and can be edited.

mod account;
mod capacity;
mod client;
mod cloud;
mod config;
mod groups;
mod images;
mod instances;
mod limits;
mod load_balancers;
pub mod memory;
mod persist;
mod resources;
mod seed;
mod settle;
mod simcloud;
mod snapshot;
mod target_groups;
mod templates;
mod time;
mod util;
mod world;

pub use client::{ApiFaults, Fault};
pub use config::{Seconds, SimConfig};
pub use limits::{RateLimit, RateLimits};
pub use seed::{SeedLoadBalancer, SeedTargetGroup, SeedTemplate, SimSeed};
pub use simcloud::SimCloud;
pub use snapshot::{SimGroup, SimInstance, SimListener, SimSnapshot, SimTargetGroup};
pub use time::wall_time;

#[cfg(test)]
mod tests;
