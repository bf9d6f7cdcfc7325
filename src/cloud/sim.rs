//! An in-memory AWS account on tokio's clock: the [`Cloud`] for scale, timing and fault tests.
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
//!   token, as the SDK's adaptive retry would make it, and counts as throttled in [`Stats`].
//!   Launches draw from the RunInstances instance bucket: a RunInstances call waits, an Auto
//!   Scaling group's instances simply start later.
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

mod client;
mod limits;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use client::Client;
pub use client::{ApiFaults, Fault};
use limits::Kind;
pub use limits::{RateLimit, RateLimits};
use world::{Ms, World};

use super::stats::Stats;
use super::{
    Cloud, CloudResult, CopyImageRequest, ElbLimits, Forward, GroupInfo, GroupSpec, Holder,
    ImageFilter, ImageInfo, InstanceInfo, InstanceRefresh, LaunchSpec, LaunchTemplateInfo, Limit,
    ListenerInfo, ListenerSpec, LoadBalancerInfo, LoadBalancerSpec, NamedKind, ObjectRef,
    RetryPolicy, RunSpec, ScalingActivity, SecurityGroupInfo, StoredObject, SubnetInfo, Tags,
    TargetGroupInfo, TargetGroupSpec, TargetHealth, VpcInfo,
};

/// Page sizes and batch limits, the same as the AWS implementation's.
const EC2_PAGE: usize = 1000;
const LAUNCH_TEMPLATE_PAGE: usize = 200;
const ASG_PAGE: usize = 100;
const ACTIVITY_PAGE: usize = 100;
const ELB_PAGE: usize = 400;
const ELB_DESCRIBE_TAGS_MAX: usize = 20;
const ASG_TARGET_GROUPS_PER_CALL: usize = 10;
const ASG_INSTANCES_PER_CALL: usize = 20;
const TARGETS_PER_CALL: usize = 200;
const EC2_IDS_PER_CALL: usize = 1000;
const RUN_INSTANCES_PER_CALL: u32 = 1000;
const LAUNCH_TEMPLATE_VERSIONS_PER_CALL: usize = 200;

const SAVE_FORMAT: u32 = 1;

/// A range of seconds; values are drawn uniformly from it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Seconds {
    pub min: f64,
    pub max: f64,
}

/// How the simulated account behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub region: String,
    pub account_id: String,
    /// Seeds boot times and resource ids.
    pub seed: u64,
    /// From launch to `running` (and `InService`).
    pub boot_time: Seconds,
    /// From TerminateInstances to `terminated`.
    pub shutdown_seconds: f64,
    /// Simulated time every request takes, on top of any wait for a rate limit.
    pub call_latency_ms: u64,
    /// Images (ids or names) whose instances never pass a health check.
    pub bad_images: BTreeSet<String>,
    /// Image names that do not exist in this region (other regions, and copies into this one,
    /// still have them). An image of such a name found before is deregistered: launches of it
    /// fail, as does any launch of an image id the region does not know.
    pub missing_images: BTreeSet<String>,
    /// Availability zones (`us-east-1b`) without capacity: launches there fail.
    pub insufficient_capacity_azs: BTreeSet<String>,
    pub limits: RateLimits,
    /// Targets of a target group no listener forwards to are `unused` and never health
    /// checked, as on AWS. Off: every target group is health checked.
    pub unused_without_load_balancer: bool,
    /// How long an Auto Scaling group waits before retrying a launch that failed.
    pub asg_retry_seconds: f64,
    /// How long after its load balancer an Auto Scaling group (health check type `ELB`)
    /// notices that an instance fails its health checks.
    pub asg_health_check_seconds: f64,
    /// Attempts that fail at random (throttles, 5xx, timeouts, resets), on top of the rate
    /// limits; the client retries them as the AWS SDK would (see [`SimConfig::retry`]).
    pub api_faults: ApiFaults,
    /// How the client retries a failed attempt: reroll's policy unless changed.
    pub retry: RetryPolicy,
    /// Service Quotas values this account answers for (`ec2/L-1216C47A`: running On-Demand
    /// Standard vCPUs); any other quota is unknown (NoSuchResourceException).
    pub service_quotas: BTreeMap<String, u64>,
    /// Auto Scaling's MaxNumberOfAutoScalingGroups.
    pub max_auto_scaling_groups: u64,
    /// ELBv2's DescribeAccountLimits, by name.
    pub elb_limits: BTreeMap<String, u64>,
    /// Key pairs that do not exist (every other name does).
    pub missing_key_pairs: BTreeSet<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            seed: 1,
            boot_time: Seconds {
                min: 30.0,
                max: 60.0,
            },
            shutdown_seconds: 5.0,
            call_latency_ms: 50,
            bad_images: BTreeSet::new(),
            missing_images: BTreeSet::new(),
            insufficient_capacity_azs: BTreeSet::new(),
            limits: RateLimits::default(),
            unused_without_load_balancer: true,
            asg_retry_seconds: 10.0,
            asg_health_check_seconds: 10.0,
            api_faults: ApiFaults::default(),
            retry: RetryPolicy::default(),
            // AWS's defaults for an established account; the vCPU quota is one a restore of
            // thousands of instances can exceed.
            service_quotas: [("ec2/L-1216C47A".to_string(), 10_000)].into(),
            max_auto_scaling_groups: 500,
            elb_limits: [
                ("target-groups".to_string(), 3000),
                ("application-load-balancers".to_string(), 50),
                ("network-load-balancers".to_string(), 50),
            ]
            .into(),
            missing_key_pairs: BTreeSet::new(),
        }
    }
}

/// One consistent look at the world, for invariant checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimSnapshot {
    /// Simulated time since the world was created.
    pub at: Duration,
    /// Every instance launched so far, terminated ones included, in launch order.
    pub instances: Vec<SimInstance>,
    pub groups: Vec<SimGroup>,
    pub target_groups: Vec<SimTargetGroup>,
    pub listeners: Vec<SimListener>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimInstance {
    pub id: String,
    /// Its `reroll:stack` tag.
    pub stack: Option<String>,
    /// The Auto Scaling group it is a member of now.
    pub group: Option<String>,
    /// The Auto Scaling group that launched it, if any (kept after it leaves).
    pub launched_by: Option<String>,
    /// Its `reroll:fleet` tag (instance-mode generations).
    pub fleet: Option<String>,
    pub image_id: String,
    /// EC2 state: `pending`, `running`, `shutting-down`, `terminated`.
    pub state: String,
    /// Auto Scaling lifecycle state while in a group.
    pub lifecycle: Option<String>,
    /// Its target states (by target group ARN) at the moment EC2 began shutting it down: a
    /// `healthy` here means it was terminated while serving.
    pub terminated_with: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimGroup {
    pub name: String,
    pub stack: Option<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Member instance ids.
    pub instances: Vec<String>,
    pub deleting: bool,
    /// What it was created with (and put since: policies, scheduled actions, hooks).
    pub spec: crate::cloud::GroupSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimTargetGroup {
    pub arn: String,
    pub name: String,
    pub stack: Option<String>,
    /// Listed targets and their states, by instance id.
    pub targets: BTreeMap<String, String>,
}

/// A listener and where it forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimListener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub forward: Vec<Forward>,
}

impl SimSnapshot {
    /// Healthy targets in the target groups listeners forward traffic to (weight above 0),
    /// counted once per target group: what serves.
    pub fn serving(&self) -> usize {
        let forwarded: BTreeSet<&str> = self
            .listeners
            .iter()
            .flat_map(|l| l.forward.iter())
            .filter(|f| f.weight > 0)
            .map(|f| f.target_group_arn.as_str())
            .collect();
        self.target_groups
            .iter()
            .filter(|tg| forwarded.contains(tg.arn.as_str()))
            .flat_map(|tg| tg.targets.values())
            .filter(|s| *s == "healthy")
            .count()
    }

    pub fn instance(&self, id: &str) -> Option<&SimInstance> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// Targets of a target group (by name) in `state`.
    pub fn targets_in(&self, target_group: &str, state: &str) -> usize {
        self.target_groups
            .iter()
            .filter(|tg| tg.name == target_group)
            .flat_map(|tg| tg.targets.values())
            .filter(|s| *s == state)
            .count()
    }
}

/// What an observed account holds, to be carried into a fresh simulated one with the same ids
/// ([`SimCloud::seeded`]): for forecasting a plan against a model of the real account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSeed {
    pub images: Vec<ImageInfo>,
    pub vpcs: Vec<VpcInfo>,
    pub subnets: Vec<SubnetInfo>,
    pub security_groups: Vec<SecurityGroupInfo>,
    pub launch_templates: Vec<SeedTemplate>,
    pub target_groups: Vec<SeedTargetGroup>,
    pub load_balancers: Vec<SeedLoadBalancer>,
    pub groups: Vec<GroupInfo>,
    /// Instances that are `pending` or `running`; members of `groups` are found by id.
    pub instances: Vec<InstanceInfo>,
}

/// A launch template and the versions generations use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTemplate {
    pub info: LaunchTemplateInfo,
    pub versions: BTreeMap<i64, LaunchSpec>,
}

/// A target group and its registered targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTargetGroup {
    pub info: TargetGroupInfo,
    pub targets: Vec<TargetHealth>,
}

/// A load balancer and its listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLoadBalancer {
    pub info: LoadBalancerInfo,
    pub listeners: Vec<ListenerInfo>,
}

/// How long an imported account has been running when a seeded simulation starts: long enough
/// for every imported instance to be in service and healthy, and for rate-limit buckets to be
/// full.
const SEEDED_START: Duration = Duration::from_secs(3600);

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    now_ms: Ms,
    world: &'a World,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    now_ms: Ms,
    world: World,
}

/// The simulated account. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct SimCloud {
    world: Mutex<World>,
    stats: Stats,
    region: String,
    /// Simulated time `base` is tokio's `epoch`.
    epoch: Instant,
    base: Ms,
    /// Wall-clock time spent in the simulator (see [`SimCloud::busy`]).
    busy: Mutex<Duration>,
    /// The SDK's side of the calls (retries, the adaptive rate limiter), for
    /// [`SimConfig::api_faults`]. Not saved: it is the process's, not the account's.
    client: Mutex<Client>,
}

impl SimCloud {
    /// A fresh, empty account.
    pub fn new(config: SimConfig, stats: Stats) -> SimCloud {
        Self::with_world(World::new(config), 0, stats)
    }

    /// A fresh account holding what `seed` describes (with the same ids), every instance in
    /// service and every registered target healthy. Its clock starts an hour after the import.
    pub fn seeded(config: SimConfig, seed: &SimSeed, stats: Stats) -> SimCloud {
        let mut world = World::new(config);
        world.import(seed, 0);
        let start = SEEDED_START.as_millis() as Ms;
        world.settle(start);
        Self::with_world(world, start, stats)
    }

    /// The same, shared.
    pub fn shared(config: SimConfig, stats: Stats) -> Arc<SimCloud> {
        Arc::new(Self::new(config, stats))
    }

    fn with_world(world: World, base: Ms, stats: Stats) -> SimCloud {
        SimCloud {
            region: world.config.region.clone(),
            client: Mutex::new(Client::new(world.config.seed)),
            world: Mutex::new(world),
            stats,
            epoch: Instant::now(),
            base,
            busy: Mutex::new(Duration::ZERO),
        }
    }

    /// Real (wall-clock) time spent inside the simulator so far: moving the world along,
    /// answering requests, loading and saving. What a process spends beyond it is its own.
    pub fn busy(&self) -> Duration {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f`, counting its wall-clock time as the simulator's.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) += started.elapsed();
        out
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration in force.
    pub fn config(&self) -> SimConfig {
        self.lock().config.clone()
    }

    /// Changes the configuration while the world runs (faults, limits, latency). The region
    /// cannot change.
    pub fn configure(&self, change: impl FnOnce(&mut SimConfig)) {
        let mut w = self.lock();
        change(&mut w.config);
        w.config.region = self.region.clone();
    }

    /// Registers an image in `region` (a bake, for tests): it replaces one of the same id.
    pub fn put_image(&self, region: &str, image: ImageInfo) {
        self.with(|w, _| w.put_image(region, image));
    }

    /// Sets a CloudWatch alarm's state, creating the alarm if needed (for tests).
    pub fn set_alarm_state(&self, name: &str, state: &str) {
        self.with(|w, _| w.set_alarm_state(name, state));
    }

    /// Starts an instance refresh on a group, as another controller would (it replaces
    /// nothing here); returns its id.
    pub fn start_instance_refresh(&self, group: &str) -> CloudResult<String> {
        self.with(|w, t| w.start_instance_refresh("AutoScaling.StartInstanceRefresh", group, t))
    }

    /// Completes the lifecycle action holding an instance of `group` (`CONTINUE` or
    /// `ABANDON`), as the instance's bootstrap or a drain script would.
    pub fn complete_lifecycle_action(
        &self,
        group: &str,
        instance_id: &str,
        result: &str,
    ) -> CloudResult<()> {
        self.with(|w, t| {
            w.complete_lifecycle_action(
                "AutoScaling.CompleteLifecycleAction",
                group,
                instance_id,
                result,
                t,
            )
        })
    }

    /// Moves the group's instance refresh in progress to `status` (`Successful`, `Cancelled`,
    /// `Cancelling`, …).
    pub fn set_instance_refresh(&self, group: &str, status: &str) {
        self.with(|w, _| w.set_instance_refresh(group, status, None));
    }

    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }

    /// A consistent view of every instance, group and target group now.
    pub fn snapshot(&self) -> SimSnapshot {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            w.snapshot(t)
        })
    }

    /// The world as JSON (see the module documentation for the format).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out).expect("the world serializes");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Writes the world as JSON without copying it first.
    fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            let saved = SavedRef {
                format: SAVE_FORMAT,
                now_ms: t,
                world: &w,
            };
            serde_json::to_writer_pretty(out, &saved).map_err(std::io::Error::from)
        })
    }

    /// A world saved by [`SimCloud::to_json`], continuing from the moment it was saved.
    pub fn from_json(json: &str, stats: Stats) -> std::io::Result<SimCloud> {
        let started = std::time::Instant::now();
        let saved: Saved = serde_json::from_str(json)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if saved.format != SAVE_FORMAT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "saved world has format {}, expected {SAVE_FORMAT}",
                    saved.format
                ),
            ));
        }
        let sim = Self::with_world(saved.world, saved.now_ms, stats);
        *sim.busy.lock().unwrap_or_else(|e| e.into_inner()) += started.elapsed();
        Ok(sim)
    }

    /// Writes the world to `path` as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        self.write_json(&mut file)?;
        std::io::Write::flush(&mut file)
    }

    /// Reads a world written by [`SimCloud::save`].
    pub fn load(path: impl AsRef<Path>, stats: Stats) -> std::io::Result<SimCloud> {
        Self::from_json(&std::fs::read_to_string(path)?, stats)
    }

    fn now_ms(&self) -> Ms {
        self.base + self.epoch.elapsed().as_millis() as Ms
    }

    fn instant(&self, t: Ms) -> Instant {
        self.epoch + Duration::from_millis(t.saturating_sub(self.base))
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One request: counted, rate limited (waiting out throttling) and as slow as configured;
    /// with [`SimConfig::api_faults`], attempts fail at random and are retried as the SDK
    /// would, and the last failure is returned.
    async fn request(&self, operation: &'static str) -> CloudResult<()> {
        self.stats.record_call(operation);
        let (faults, policy) = {
            let w = self.lock();
            (w.config.api_faults, w.config.retry)
        };
        if !faults.any() {
            self.attempt(operation).await;
            return Ok(());
        }
        let service = operation.split_once('.').map_or(operation, |(s, _)| s);
        loop {
            let wait = self.client().send_token(service, self.seconds());
            if wait <= 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let mut attempt = 1;
        loop {
            self.attempt(operation).await;
            let fault = self.client().draw(&faults);
            if fault == Some(Fault::Timeout) {
                tokio::time::sleep(Duration::from_millis(faults.timeout_ms)).await;
            }
            let throttled = fault == Some(Fault::Throttle);
            if throttled {
                self.stats.record_throttle(operation);
            }
            self.client().attempted(service, self.seconds(), throttled);
            let Some(fault) = fault else {
                return Ok(());
            };
            if attempt >= policy.max_attempts.max(1) {
                return Err(fault.error(operation));
            }
            let backoff = self
                .client()
                .backoff(service, self.seconds(), attempt, fault, &policy);
            tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
            attempt += 1;
        }
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulated seconds, for the client's rate limiter.
    fn seconds(&self) -> f64 {
        self.now_ms() as f64 / 1000.0
    }

    /// One attempt of a request: rate limited and as slow as configured.
    async fn attempt(&self, operation: &'static str) {
        self.stats.record_attempt(operation);
        let t = self.now_ms();
        let (ready, latency) = {
            let mut w = self.lock();
            let ready = w.reserve(Kind::of_operation(operation), t, 1.0);
            (ready, w.config.call_latency_ms)
        };
        if ready > t {
            self.stats.record_throttle(operation);
            self.stats.record_attempt(operation);
            tokio::time::sleep_until(self.instant(ready)).await;
        }
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
    }

    /// `pages` more requests of a listing whose first page is already done.
    async fn more_pages(
        &self,
        operation: &'static str,
        items: usize,
        page: usize,
    ) -> CloudResult<()> {
        for _ in 1..items.div_ceil(page).max(1) {
            self.request(operation).await?;
        }
        Ok(())
    }

    /// Runs `f` on the world brought up to now, and settles again after it.
    fn with<T>(&self, f: impl FnOnce(&mut World, Ms) -> T) -> T {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            let out = f(&mut w, t);
            w.settle(t);
            out
        })
    }

    /// A request that changes the world.
    async fn call<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut World, &'static str, Ms) -> CloudResult<T>,
    ) -> CloudResult<T> {
        self.request(operation).await?;
        self.with(|w, t| f(w, operation, t))
    }

    /// Sends one request per batch of `items`, none for no items.
    async fn batches<I>(
        &self,
        operation: &'static str,
        items: &[I],
        size: usize,
        mut f: impl FnMut(&mut World, &'static str, &[I], Ms) -> CloudResult<()>,
    ) -> CloudResult<()> {
        for batch in items.chunks(size) {
            self.request(operation).await?;
            self.with(|w, t| f(w, operation, batch, t))?;
        }
        Ok(())
    }

    async fn describe_images_of(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        const OP: &str = "EC2.DescribeImages";
        self.request(OP).await?;
        let images = self.with(|w, t| w.describe_images(OP, region, filter, t))?;
        self.more_pages(OP, images.len(), EC2_PAGE).await?;
        Ok(images)
    }
}

#[async_trait]
impl Cloud for SimCloud {
    fn region(&self) -> &str {
        &self.region
    }

    fn now(&self) -> std::time::SystemTime {
        world::wall_time(self.now_ms())
    }

    // --- lookups -----------------------------------------------------------------------------

    async fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images_of(&self.region, filter).await
    }

    async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        self.describe_images_of(region, filter).await
    }

    async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String> {
        let id = self
            .call("EC2.CopyImage", |w, op, t| w.copy_image(op, request, t))
            .await?;
        if !request.tags.is_empty() {
            self.request("EC2.CreateTags").await?;
        }
        Ok(id)
    }

    async fn service_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> CloudResult<Option<u64>> {
        let key = format!("{service_code}/{quota_code}");
        self.call("ServiceQuotas.GetServiceQuota", |w, _, _| {
            Ok(w.config.service_quotas.get(&key).copied())
        })
        .await
    }

    async fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>> {
        self.call("EC2.DescribeInstanceTypes", |_, _, _| {
            Ok(types
                .iter()
                .filter_map(|t| Some((t.clone(), world::vcpus_of(t)?)))
                .collect())
        })
        .await
    }

    async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>> {
        let counts = self
            .call("EC2.DescribeInstances", |w, _, t| {
                Ok(w.running_instance_types(t))
            })
            .await?;
        let n: u64 = counts.values().sum();
        self.more_pages("EC2.DescribeInstances", n as usize, EC2_PAGE)
            .await?;
        Ok(counts)
    }

    async fn auto_scaling_limits(&self) -> CloudResult<Limit> {
        self.call("AutoScaling.DescribeAccountLimits", |w, _, _| {
            Ok(Limit {
                max: w.config.max_auto_scaling_groups,
                used: w.group_count() as u64,
            })
        })
        .await
    }

    async fn elb_limits(&self) -> CloudResult<ElbLimits> {
        let limits = self
            .call("ELBv2.DescribeAccountLimits", |w, _, _| {
                Ok(w.config.elb_limits.clone())
            })
            .await?;
        let target_groups = self
            .call("ELBv2.DescribeTargetGroups", |w, _, _| {
                Ok(w.target_group_count() as u64)
            })
            .await?;
        let load_balancers = self
            .call("ELBv2.DescribeLoadBalancers", |w, _, _| {
                Ok(w.load_balancer_kinds())
            })
            .await?;
        Ok(ElbLimits {
            limits,
            target_groups,
            load_balancers,
        })
    }

    async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.call("EC2.DescribeKeyPairs", |w, _, _| {
            Ok(names
                .iter()
                .filter(|n| w.config.missing_key_pairs.contains(*n))
                .cloned()
                .collect())
        })
        .await
    }

    async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>> {
        self.call("EC2.DescribeVpcs", |w, _, _| Ok(w.find_vpcs(tags)))
            .await
    }

    async fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>> {
        self.call("EC2.DescribeSubnets", |w, _, _| {
            Ok(w.find_subnets(vpc_id, tags))
        })
        .await
    }

    async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>> {
        self.call("EC2.DescribeSecurityGroups", |w, _, _| {
            Ok(w.find_security_groups(vpc_id, names, tags))
        })
        .await
    }

    // --- observing a stack -------------------------------------------------------------------

    async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>> {
        const OP: &str = "AutoScaling.DescribeAutoScalingGroups";
        self.request(OP).await?;
        let groups = self.with(|w, t| w.list_groups(stack, t));
        self.more_pages(OP, groups.len(), ASG_PAGE).await?;
        Ok(groups)
    }

    async fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>> {
        const OP: &str = "EC2.DescribeInstances";
        self.request(OP).await?;
        let instances = self.with(|w, t| w.list_instances(stack, t));
        self.more_pages(OP, instances.len(), EC2_PAGE).await?;
        Ok(instances)
    }

    async fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>> {
        const OP: &str = "EC2.DescribeLaunchTemplates";
        self.request(OP).await?;
        let templates = self.with(|w, _| w.list_launch_templates(stack));
        self.more_pages(OP, templates.len(), LAUNCH_TEMPLATE_PAGE)
            .await?;
        Ok(templates)
    }

    async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        self.call("EC2.DescribeLaunchTemplateVersions", |w, op, _| {
            w.launch_template_version(op, template_id, version)
        })
        .await
    }

    async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>> {
        const OP: &str = "ELBv2.DescribeTargetGroups";
        self.request(OP).await?;
        let (total, (candidates, listed)) = self.with(|w, _| {
            (
                w.count_target_groups(),
                w.list_target_groups(stack, name_prefix),
            )
        });
        self.more_pages(OP, total, ELB_PAGE).await?;
        for _ in 0..candidates.div_ceil(ELB_DESCRIBE_TAGS_MAX) {
            self.request("ELBv2.DescribeTags").await?;
        }
        for _ in &listed {
            self.request("ELBv2.DescribeTargetGroupAttributes").await?;
        }
        Ok(listed)
    }

    async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
        self.call("ELBv2.DescribeTargetHealth", |w, op, t| {
            w.target_health(op, target_group_arn, t)
        })
        .await
    }

    async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>> {
        const OP: &str = "ELBv2.DescribeLoadBalancers";
        self.request(OP).await?;
        let (total, (candidates, listed)) = self.with(|w, _| {
            (
                w.count_load_balancers(),
                w.list_load_balancers(stack, name_prefix),
            )
        });
        self.more_pages(OP, total, ELB_PAGE).await?;
        for _ in 0..candidates.div_ceil(ELB_DESCRIBE_TAGS_MAX) {
            self.request("ELBv2.DescribeTags").await?;
        }
        Ok(listed)
    }

    async fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>> {
        const OP: &str = "ELBv2.DescribeListeners";
        let listeners = self
            .call(OP, |w, op, _| w.list_listeners(op, load_balancer_arn))
            .await?;
        self.more_pages(OP, listeners.len(), ELB_PAGE).await?;
        Ok(listeners)
    }

    // --- changes: target groups --------------------------------------------------------------

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let arn = self
            .call("ELBv2.CreateTargetGroup", |w, op, _| {
                w.create_target_group(op, spec, tags)
            })
            .await?;
        self.request("ELBv2.ModifyTargetGroupAttributes").await?;
        Ok(arn)
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()> {
        self.call("ELBv2.ModifyTargetGroup", |w, op, _| {
            w.modify_target_group(op, arn, spec)
        })
        .await?;
        self.request("ELBv2.ModifyTargetGroupAttributes").await?;
        Ok(())
    }

    async fn delete_target_group(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteTargetGroup", |w, op, _| {
            w.delete_target_group(op, arn)
        })
        .await
    }

    // --- changes: load balancers and listeners -----------------------------------------------

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        self.call("ELBv2.CreateLoadBalancer", |w, op, _| {
            w.create_load_balancer(op, spec, tags)
        })
        .await
    }

    async fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()> {
        self.call("ELBv2.SetSubnets", |w, op, _| {
            w.modify_load_balancer(op, arn, spec)
        })
        .await?;
        if spec.kind.is_empty() || spec.kind == "application" {
            self.request("ELBv2.SetSecurityGroups").await?;
        }
        Ok(())
    }

    async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteLoadBalancer", |w, _, t| {
            w.delete_load_balancer(arn, t);
            Ok(())
        })
        .await
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        self.call("ELBv2.CreateListener", |w, op, t| {
            w.create_listener(op, load_balancer_arn, spec, tags, t)
        })
        .await
    }

    async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()> {
        self.call("ELBv2.ModifyListener", |w, op, t| {
            w.modify_listener(op, arn, spec, t)
        })
        .await
    }

    async fn delete_listener(&self, arn: &str) -> CloudResult<()> {
        self.call("ELBv2.DeleteListener", |w, op, t| {
            w.delete_listener(op, arn, t)
        })
        .await
    }

    // --- changes: launch templates -----------------------------------------------------------

    async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        self.call("EC2.CreateLaunchTemplate", |w, op, _| {
            w.create_launch_template(op, name, spec, tags)
        })
        .await
    }

    async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        self.call("EC2.CreateLaunchTemplateVersion", |w, op, _| {
            w.create_launch_template_version(op, template_id, spec)
        })
        .await
    }

    async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()> {
        self.call("EC2.DeleteLaunchTemplate", |w, op, _| {
            w.delete_launch_template(op, template_id)
        })
        .await
    }

    // --- changes: Auto Scaling groups --------------------------------------------------------

    async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
        self.call("AutoScaling.CreateAutoScalingGroup", |w, op, t| {
            w.create_group(op, spec, t)
        })
        .await
    }

    async fn configure_group(
        &self,
        name: &str,
        settings: &crate::cloud::scaling::GroupSettings,
    ) -> CloudResult<()> {
        self.call("AutoScaling.PutScalingPolicy", |w, op, _| {
            w.configure_group(op, name, settings)
        })
        .await
    }

    async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        self.call("AutoScaling.UpdateAutoScalingGroup", |w, op, t| {
            w.set_group_capacity(op, name, (min, desired, max), t)
        })
        .await
    }

    async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.CreateOrUpdateTags", |w, op, _| {
            w.set_group_tags(op, name, tags)
        })
        .await
    }

    async fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.batches(
            "AutoScaling.AttachLoadBalancerTargetGroups",
            arns,
            ASG_TARGET_GROUPS_PER_CALL,
            |w, op, batch, t| w.attach_target_groups(op, name, batch, t),
        )
        .await
    }

    async fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        self.batches(
            "AutoScaling.DetachLoadBalancerTargetGroups",
            arns,
            ASG_TARGET_GROUPS_PER_CALL,
            |w, op, batch, t| w.detach_target_groups(op, name, batch, t),
        )
        .await
    }

    async fn delete_group(&self, name: &str) -> CloudResult<()> {
        self.call("AutoScaling.DeleteAutoScalingGroup", |w, _, t| {
            w.delete_group(name, t);
            Ok(())
        })
        .await
    }

    async fn scaling_activities(
        &self,
        group: &str,
        since: std::time::SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>> {
        const OP: &str = "AutoScaling.DescribeScalingActivities";
        self.request(OP).await?;
        let since = world::sim_time(since);
        let activities = self.with(|w, t| w.scaling_activities(group, since, t));
        self.more_pages(OP, activities.len(), ACTIVITY_PAGE).await?;
        Ok(activities)
    }

    async fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>> {
        self.call("AutoScaling.DescribeInstanceRefreshes", |w, _, _| {
            Ok(Some(w.instance_refreshes(group)))
        })
        .await
    }

    async fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>> {
        let (operation, pages) = match kind {
            NamedKind::Group => ("AutoScaling.DescribeAutoScalingGroups", 1),
            NamedKind::LaunchTemplate => ("EC2.DescribeLaunchTemplates", 1),
            // DescribeTargetGroups / DescribeLoadBalancers, then DescribeTags.
            NamedKind::TargetGroup => ("ELBv2.DescribeTargetGroups", 2),
            NamedKind::LoadBalancer => ("ELBv2.DescribeLoadBalancers", 2),
        };
        self.request(operation).await?;
        let found = self.with(|w, _| w.find_by_name(kind, name));
        if pages == 2 && found.is_some() {
            self.request("ELBv2.DescribeTags").await?;
        }
        Ok(found)
    }

    async fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        if processes.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.SuspendProcesses", |w, op, _| {
            w.set_processes(op, group, processes, true)
        })
        .await
    }

    async fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        if processes.is_empty() {
            return Ok(());
        }
        self.call("AutoScaling.ResumeProcesses", |w, op, _| {
            w.set_processes(op, group, processes, false)
        })
        .await
    }

    async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()> {
        self.batches(
            "AutoScaling.DetachInstances",
            instance_ids,
            ASG_INSTANCES_PER_CALL,
            |w, op, batch, t| w.detach_instances(op, group, batch, decrement, t),
        )
        .await
    }

    // --- targets and instances ---------------------------------------------------------------

    async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.batches(
            "ELBv2.RegisterTargets",
            instance_ids,
            TARGETS_PER_CALL,
            |w, op, batch, t| w.register_targets(op, target_group_arn, batch, t),
        )
        .await
    }

    async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        self.batches(
            "ELBv2.DeregisterTargets",
            instance_ids,
            TARGETS_PER_CALL,
            |w, op, batch, t| w.deregister_targets(op, target_group_arn, batch, t),
        )
        .await
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()> {
        const OP: &str = "EC2.TerminateInstances";
        for batch in instance_ids.chunks(EC2_IDS_PER_CALL) {
            self.request(OP).await?;
            let unknown = self.with(|w, t| w.terminate_instances(batch, t));
            // EC2 refuses a batch naming unknown ids; the AWS implementation drops them and
            // sends the rest again.
            if unknown > 0 && unknown < batch.len() {
                self.request(OP).await?;
            }
        }
        Ok(())
    }

    async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>> {
        const OP: &str = "EC2.RunInstances";
        let mut ids = Vec::new();
        let mut remaining = spec.count;
        let mut index = 0;
        while remaining > 0 {
            let count = remaining.min(RUN_INSTANCES_PER_CALL);
            self.request(OP).await?;
            let token = spec.client_token.as_ref().map(|k| {
                if index == 0 {
                    k.clone()
                } else {
                    format!("{k}-{index}")
                }
            });
            let (batch, start) =
                self.with(|w, t| w.run_instances(OP, spec, count, token.as_deref(), t))?;
            if start > self.now_ms() {
                // Beyond the RunInstances burst: the call is throttled until the bucket allows.
                self.stats.record_throttle(OP);
                self.stats.record_attempt(OP);
                tokio::time::sleep_until(self.instant(start)).await;
            }
            ids.extend(batch);
            remaining -= count;
            index += 1;
        }
        Ok(ids)
    }

    async fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        self.batches(
            "EC2.CreateTags",
            instance_ids,
            EC2_IDS_PER_CALL,
            |w, op, batch, t| w.tag_instances(op, batch, tags, t),
        )
        .await
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        self.batches(
            "EC2.DeleteLaunchTemplateVersions",
            versions,
            LAUNCH_TEMPLATE_VERSIONS_PER_CALL,
            |w, op, batch, _| w.delete_launch_template_versions(op, template_id, batch),
        )
        .await
    }

    async fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for batch in names.chunks(100) {
            let found = self
                .call("CloudWatch.DescribeAlarms", |w, _, _| {
                    Ok(w.alarm_states(batch))
                })
                .await?;
            out.extend(found);
        }
        Ok(out)
    }

    // --- the account and its objects ---------------------------------------------------------

    async fn account_id(&self) -> CloudResult<String> {
        self.call("STS.GetCallerIdentity", |w, _, _| {
            Ok(w.config.account_id.clone())
        })
        .await
    }

    async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>> {
        self.call("S3.GetObject", |w, _, _| Ok(w.get_object(at)))
            .await
    }

    async fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String> {
        self.call("S3.PutObject", |w, op, _| w.put_object(op, at, body, None))
            .await
    }

    async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String> {
        self.call("S3.PutObject", |w, op, _| {
            w.put_object(op, at, body, Some(etag))
        })
        .await
    }

    async fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()> {
        self.call("S3.DeleteObject", |w, op, _| w.delete_object(op, at, etag))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{tag, HealthCheckSpec};

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn sleep(seconds: u64) {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    }

    struct Fixture {
        cloud: SimCloud,
        tg: String,
        template: String,
        subnets: Vec<String>,
    }

    async fn fixture(config: SimConfig) -> Fixture {
        let cloud = SimCloud::new(config, Stats::new());
        let vpc = cloud.find_vpcs(&tags(&[("Name", "x")])).await.unwrap()[0]
            .id
            .clone();
        let subnets: Vec<String> = cloud
            .find_subnets(&vpc, &Tags::new())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        let spec = TargetGroupSpec {
            name: "s-web".into(),
            port: 80,
            protocol: "HTTP".into(),
            vpc_id: vpc,
            health_check: HealthCheckSpec {
                interval_seconds: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 2,
                ..Default::default()
            },
            deregistration_delay_seconds: 10,
            ..Default::default()
        };
        let stack = tags(&[(tag::STACK, "s")]);
        let tg = cloud.create_target_group(&spec, &stack).await.unwrap();
        let lb = cloud
            .create_load_balancer(
                &LoadBalancerSpec {
                    name: "s-lb".into(),
                    subnet_ids: subnets.clone(),
                    ..Default::default()
                },
                &stack,
            )
            .await
            .unwrap();
        let listener = ListenerSpec {
            port: 80,
            protocol: "HTTP".into(),
            certificate_arn: None,
            forward: vec![super::super::Forward {
                target_group_arn: tg.clone(),
                weight: 1,
            }],
        };
        cloud
            .create_listener(&lb.arn, &listener, &stack)
            .await
            .unwrap();
        let image = cloud
            .describe_images(&ImageFilter {
                name: Some("app-1".into()),
                ..Default::default()
            })
            .await
            .unwrap()[0]
            .id
            .clone();
        let launch = LaunchSpec {
            image_id: image,
            instance_type: "t3.micro".into(),
            instance_tags: stack.clone(),
            ..Default::default()
        };
        let (template, _) = cloud
            .create_launch_template("s-web", &launch, &stack)
            .await
            .unwrap();
        Fixture {
            cloud,
            tg,
            template,
            subnets,
        }
    }

    fn group(f: &Fixture, desired: u32) -> GroupSpec {
        GroupSpec {
            name: "s-web-v001".into(),
            launch_template_id: f.template.clone(),
            launch_template_version: "1".into(),
            min: 0,
            max: 10,
            desired,
            subnet_ids: f.subnets.clone(),
            target_group_arns: vec![f.tg.clone()],
            health_check_type: "ELB".into(),
            health_check_grace_seconds: 0,
            tags: tags(&[(tag::STACK, "s")]),
            settings: Default::default(),
        }
    }

    fn states(health: &[TargetHealth]) -> Vec<&str> {
        health.iter().map(|h| h.state.as_str()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn group_instances_boot_register_and_become_healthy() {
        let f = fixture(SimConfig::default()).await;
        f.cloud.create_group(&group(&f, 3)).await.unwrap();
        let g = &f.cloud.list_groups("s").await.unwrap()[0];
        assert_eq!(g.instances.len(), 3);
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "Pending"));
        let zones: BTreeSet<_> = g
            .instances
            .iter()
            .map(|i| i.availability_zone.clone())
            .collect();
        assert_eq!(zones.len(), 3, "balanced across zones");
        assert!(f.cloud.target_health(&f.tg).await.unwrap().is_empty());

        sleep(61).await;
        let g = &f.cloud.list_groups("s").await.unwrap()[0];
        assert!(g.instances.iter().all(|i| i.lifecycle_state == "InService"));
        let health = f.cloud.target_health(&f.tg).await.unwrap();
        assert_eq!(health.len(), 3);
        sleep(10).await;
        let health = f.cloud.target_health(&f.tg).await.unwrap();
        assert_eq!(states(&health), ["healthy"; 3]);
        let instances = f.cloud.list_instances("s").await.unwrap();
        assert_eq!(instances.len(), 3);
        assert!(instances.iter().all(|i| i.state == "running"
            && i.tags.get("aws:autoscaling:groupName").map(String::as_str) == Some("s-web-v001")));
    }

    #[tokio::test(start_paused = true)]
    async fn scale_in_drains_before_terminating() {
        let f = fixture(SimConfig::default()).await;
        f.cloud.create_group(&group(&f, 2)).await.unwrap();
        sleep(80).await;
        f.cloud
            .set_group_capacity("s-web-v001", 0, 1, 10)
            .await
            .unwrap();
        let health = f.cloud.target_health(&f.tg).await.unwrap();
        let mut s = states(&health);
        s.sort();
        assert_eq!(s, ["draining", "healthy"]);
        let victim = health.iter().find(|h| h.state == "draining").unwrap();
        let snap = f.cloud.snapshot();
        assert_eq!(snap.instance(&victim.id).unwrap().state, "running");
        sleep(11).await;
        let snap = f.cloud.snapshot();
        let i = snap.instance(&victim.id).unwrap();
        assert_eq!(i.state, "shutting-down");
        assert!(i.terminated_with.is_empty(), "{i:?}");
        sleep(6).await;
        assert_eq!(f.cloud.list_instances("s").await.unwrap().len(), 1);
        assert_eq!(f.cloud.target_health(&f.tg).await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bad_images_fail_health_checks_and_are_replaced() {
        let config = SimConfig {
            bad_images: ["app-1".to_string()].into(),
            ..SimConfig::default()
        };
        let f = fixture(config).await;
        f.cloud.create_group(&group(&f, 1)).await.unwrap();
        let (mut seen, mut unhealthy_members) = (BTreeSet::new(), 0);
        for _ in 0..150 {
            sleep(1).await;
            let health = f.cloud.target_health(&f.tg).await.unwrap();
            seen.extend(health.iter().map(|h| h.state.clone()));
            let g = &f.cloud.list_groups("s").await.unwrap()[0];
            unhealthy_members += g
                .instances
                .iter()
                .filter(|i| i.health_status == "Unhealthy")
                .count();
        }
        assert!(!seen.contains("healthy"), "{seen:?}");
        assert!(
            seen.contains("unhealthy") && seen.contains("draining"),
            "{seen:?}"
        );
        assert!(unhealthy_members > 0);
        let snap = f.cloud.snapshot();
        assert!(snap.instances.len() >= 3, "replaced: {snap:#?}");
        assert!(snap
            .instances
            .iter()
            .all(|i| i.terminated_with.is_empty()
                || i.terminated_with.values().all(|s| s != "healthy")));
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_calls_wait_and_are_counted() {
        let config = SimConfig {
            limits: RateLimits {
                elb: RateLimit::new(2.0, 1.0),
                ..RateLimits::default()
            },
            call_latency_ms: 0,
            ..SimConfig::default()
        };
        let f = fixture(config).await;
        let started = Instant::now();
        for _ in 0..5 {
            f.cloud.target_health(&f.tg).await.unwrap();
        }
        assert!(started.elapsed() >= Duration::from_secs(4));
        let s = f.cloud.stats().snapshot();
        assert!(s["ELBv2.DescribeTargetHealth"].throttled >= 4, "{s:?}");
        assert_eq!(s["ELBv2.DescribeTargetHealth"].calls, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn run_instances_waits_beyond_the_burst_and_fails_without_capacity() {
        let config = SimConfig {
            limits: RateLimits {
                run_instances: RateLimit::new(4.0, 2.0),
                ..RateLimits::default()
            },
            insufficient_capacity_azs: ["us-east-1b".to_string()].into(),
            ..SimConfig::default()
        };
        let f = fixture(config).await;
        let run = |subnet: &str, count| RunSpec {
            launch_template_id: f.template.clone(),
            launch_template_version: "$Latest".into(),
            subnet_id: subnet.to_string(),
            count,
            tags: tags(&[("extra", "1")]),
            client_token: Some("t".into()),
        };
        let started = Instant::now();
        let ids = f
            .cloud
            .run_instances(&run(&f.subnets[0], 10))
            .await
            .unwrap();
        assert_eq!(ids.len(), 10);
        assert!(started.elapsed() >= Duration::from_secs(3));
        // Same token: the same instances.
        let again = f
            .cloud
            .run_instances(&run(&f.subnets[0], 10))
            .await
            .unwrap();
        assert_eq!(again, ids);
        let err = f
            .cloud
            .run_instances(&RunSpec {
                client_token: None,
                ..run(&f.subnets[1], 1)
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("InsufficientInstanceCapacity"),
            "{err}"
        );
        let listed = f.cloud.list_instances("s").await.unwrap();
        assert_eq!(listed.len(), 10);
        assert_eq!(listed[0].tags.get("extra").map(String::as_str), Some("1"));
    }

    #[tokio::test(start_paused = true)]
    async fn saved_worlds_continue_where_they_stopped() {
        let f = fixture(SimConfig::default()).await;
        f.cloud.create_group(&group(&f, 2)).await.unwrap();
        sleep(20).await;
        let json = f.cloud.to_json();
        let loaded = SimCloud::from_json(&json, Stats::new()).unwrap();
        assert_eq!(loaded.elapsed(), f.cloud.elapsed());
        sleep(60).await;
        assert_eq!(loaded.snapshot(), f.cloud.snapshot());
        assert_eq!(loaded.snapshot().targets_in("s-web", "healthy"), 2);
    }
}
