//! The simulated account as one value: [`World`] holds every resource, and here is its core
//! (random numbers, ids, rate-limit tokens). What it does is in one `impl World` per concern:
//! `settle.rs` (time), `capacity.rs` and `groups.rs` (Auto Scaling), `instances.rs`,
//! `target_groups.rs`, `load_balancers.rs`, `templates.rs`, `images.rs`, `account.rs`,
//! `seed.rs` and `snapshot.rs`.
//!
//! Nothing here sleeps or reads a clock. Every function takes the simulated time `t`
//! (milliseconds since the simulation's epoch). Resources store the times of their transitions
//! (launched, booted, terminating, drained…) and states are computed from them when read;
//! [`World::settle`] carries out, in time order, the few transitions that change other
//! resources (an instance that boots is registered in its group's target groups, an instance
//! that fails its health checks is replaced, a terminated one leaves its group).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::SimConfig;
use super::limits::{Buckets, Kind};
use super::resources::{Activity, Group, Instance, Listener, LoadBalancer, TargetGroup, Template};
use super::time::{seconds, Ms};
use crate::cloud::{ImageInfo, InstanceRefresh, SecurityGroupInfo, SubnetInfo, VpcInfo};

/// Everything the simulated account holds; serialized whole by `SimCloud::save`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub config: SimConfig,
    /// State of the random number generator (boot times, ids).
    pub(super) rng: u64,
    /// Instances launched so far.
    pub(super) seq: u64,
    /// Transitions up to here have been carried out.
    pub(super) settled: Ms,
    /// By region, then image id.
    pub(super) images: BTreeMap<String, BTreeMap<String, ImageInfo>>,
    pub(super) vpcs: BTreeMap<String, VpcInfo>,
    pub(super) subnets: BTreeMap<String, SubnetInfo>,
    pub(super) security_groups: BTreeMap<String, SecurityGroupInfo>,
    pub(super) instances: BTreeMap<String, Instance>,
    pub(super) templates: BTreeMap<String, Template>,
    pub(super) groups: BTreeMap<String, Group>,
    pub(super) target_groups: BTreeMap<String, TargetGroup>,
    pub(super) load_balancers: BTreeMap<String, LoadBalancer>,
    pub(super) listeners: BTreeMap<String, Listener>,
    /// RunInstances idempotency tokens and the instances they launched.
    pub(super) client_tokens: BTreeMap<String, Vec<String>>,
    pub(super) buckets: Buckets,
    /// CloudWatch alarms by name, with their state (`OK`, `ALARM`, …).
    #[serde(default)]
    pub(super) alarms: BTreeMap<String, String>,
    /// Launch activities by Auto Scaling group, oldest first.
    #[serde(default)]
    pub(super) activities: BTreeMap<String, Vec<Activity>>,
    /// Activities recorded so far (their ids).
    #[serde(default)]
    pub(super) activity_seq: u64,
    /// Instance refreshes by Auto Scaling group, oldest first. Tests start and end them; they
    /// replace nothing.
    #[serde(default)]
    pub(super) refreshes: BTreeMap<String, Vec<InstanceRefresh>>,
    /// S3 objects by `bucket/key`. Every bucket exists.
    #[serde(default)]
    pub(super) objects: BTreeMap<String, SimObject>,
    /// Object writes so far: each write's ETag is new.
    #[serde(default)]
    pub(super) object_writes: u64,
    /// Images being copied into a region, by id: when each becomes `available`.
    #[serde(default)]
    pub(super) image_ready: BTreeMap<String, Ms>,
}

/// An S3 object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimObject {
    pub body: Vec<u8>,
    pub etag: String,
}

impl World {
    pub fn new(config: SimConfig) -> World {
        World {
            rng: config.seed ^ 0x005E_ED0F_5EED,
            config,
            seq: 0,
            settled: 0,
            images: BTreeMap::new(),
            vpcs: BTreeMap::new(),
            subnets: BTreeMap::new(),
            security_groups: BTreeMap::new(),
            instances: BTreeMap::new(),
            templates: BTreeMap::new(),
            groups: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            load_balancers: BTreeMap::new(),
            listeners: BTreeMap::new(),
            client_tokens: BTreeMap::new(),
            buckets: Buckets::default(),
            alarms: BTreeMap::new(),
            activities: BTreeMap::new(),
            activity_seq: 0,
            refreshes: BTreeMap::new(),
            objects: BTreeMap::new(),
            object_writes: 0,
            image_ready: BTreeMap::new(),
        }
    }

    pub(super) fn region(&self) -> &str {
        &self.config.region
    }

    /// splitmix64.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-0{:016x}", self.next_u64())
    }

    pub(super) fn boot_time(&mut self) -> Ms {
        let (lo, hi) = (
            seconds(self.config.boot_time.min),
            seconds(self.config.boot_time.max),
        );
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub(super) fn shutdown_time(&self) -> Ms {
        seconds(self.config.shutdown_seconds)
    }

    /// Takes `n` tokens of a rate limit at `t`; returns when they are available.
    pub fn reserve(&mut self, kind: Kind, t: Ms, n: f64) -> Ms {
        let limits = self.config.limits;
        self.buckets.reserve(&limits, kind, t, n)
    }

    pub(super) fn elb_arn(&mut self, kind: &str, name: &str) -> String {
        let suffix = format!("{:016x}", self.next_u64());
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{kind}/{name}/{suffix}",
            self.config.region, self.config.account_id
        )
    }
}
