//! The simulated account: its resources and the rules that move them along in time.
//!
//! Nothing here sleeps or reads a clock. Every function takes the simulated time `t`
//! (milliseconds since the simulation's epoch). Resources store the times of their transitions
//! (launched, booted, terminating, drained…) and states are computed from them when read;
//! [`World::settle`] carries out, in time order, the few transitions that change other
//! resources (an instance that boots is registered in its group's target groups, an instance
//! that fails its health checks is replaced, a terminated one leaves its group).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::limits::{Buckets, Kind};
use super::{SimConfig, SimGroup, SimInstance, SimListener, SimSeed, SimSnapshot, SimTargetGroup};
use crate::cloud::{
    glob_match, tag, CloudError, CloudResult, CopyImageRequest, GroupInfo, GroupInstance,
    GroupSpec, HealthCheckSpec, Holder, ImageFilter, ImageInfo, InstanceInfo, InstanceRefresh,
    LaunchSpec, LaunchTemplateInfo, ListenerInfo, ListenerSpec, LoadBalancerInfo, LoadBalancerSpec,
    NamedKind, ObjectRef, RunSpec, ScalingActivity, SecurityGroupInfo, Snapshot, StoredObject,
    SubnetInfo, Tags, TargetGroupInfo, TargetGroupSpec, TargetHealth, VpcInfo,
};

/// Simulated time: milliseconds since the simulation's epoch.
pub type Ms = u64;

const SECOND: Ms = 1000;

/// The wall-clock date the simulation's epoch stands for (2026-01-01T00:00:00Z), for launch
/// times and image creation dates.
const EPOCH_UNIX_SECONDS: u64 = 1_767_225_600;
const IMAGE_CREATION_DATE: &str = "2026-01-01T00:00:00.000Z";
/// The root volume of an image the simulator makes up: 8 GiB, unencrypted.
const IMAGE_ROOT_GIB: u64 = 8;

/// vCPUs of an instance type as EC2 lists them for current generations: 2 up to `large`,
/// then 4 per `xlarge` (`8xlarge`: 32). `None` for a name that is not `family.size`.
pub fn vcpus_of(instance_type: &str) -> Option<u32> {
    let (_, size) = instance_type.split_once('.')?;
    match size {
        "nano" | "micro" | "small" | "medium" | "large" => Some(2),
        "xlarge" => Some(4),
        "metal" => Some(96),
        _ => {
            let n: u32 = size.strip_suffix("xlarge")?.parse().ok()?;
            Some(4 * n)
        }
    }
}

fn default_snapshot(image_id: &str) -> Snapshot {
    Snapshot {
        id: format!("snap-{}", image_id.trim_start_matches("ami-")),
        size_gib: IMAGE_ROOT_GIB,
        encrypted: false,
    }
}

/// Auto Scaling processes a group can suspend.
const PROCESSES: &[&str] = &[
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
];

pub fn seconds(s: f64) -> Ms {
    (s.max(0.0) * 1000.0).round() as Ms
}

// ---------------------------------------------------------------------------------------------
// Resources

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instance {
    id: String,
    /// Launch order.
    seq: u64,
    image_id: String,
    instance_type: String,
    subnet_id: String,
    availability_zone: String,
    private_ip: String,
    tags: Tags,
    /// Launch template id and version string the instance was launched from.
    launch_template: Option<(String, String)>,
    /// The Auto Scaling group it is a member of now.
    group: Option<String>,
    /// The Auto Scaling group it was launched into, kept after it leaves.
    launched_by: Option<String>,
    /// EC2 knows it from here on (`pending`); later than the request when launches queue.
    launch_at: Ms,
    /// Booted: `running`, and `InService` in its group (after `held_until`).
    running_at: Ms,
    /// A launching lifecycle hook holds it in `Pending:Wait` until then (its heartbeat
    /// timeout, or the CompleteLifecycleAction that came first).
    #[serde(default)]
    held_until: Option<Ms>,
    /// The hook's result when the hold ends by timeout is ABANDON: terminated, not InService.
    #[serde(default)]
    abandon_on_timeout: bool,
    /// A terminating lifecycle hook holds it in `Terminating:Wait` until then.
    #[serde(default)]
    terminate_held_until: Option<Ms>,
    /// Its group has handled the boot (registered it in the group's target groups).
    booted: bool,
    /// Its group found it unhealthy (ELB health checks).
    unhealthy_at: Option<Ms>,
    /// Its group started terminating it (`Terminating`), possibly draining it first.
    terminating_at: Option<Ms>,
    /// EC2 shuts it down (`shutting-down`) from here on…
    shutdown_at: Option<Ms>,
    /// …and it is `terminated` from here on.
    terminated_at: Option<Ms>,
    /// The shutdown has been handled (target states recorded, targets deregistered).
    shut_down: bool,
    /// The termination has been handled (left its group and target groups).
    gone: bool,
    /// Its target states (by target group ARN) when EC2 began shutting it down.
    terminated_with: BTreeMap<String, String>,
}

impl Instance {
    fn visible(&self, t: Ms) -> bool {
        self.launch_at <= t
    }

    fn state(&self, t: Ms) -> &'static str {
        match (self.shutdown_at, self.terminated_at) {
            (_, Some(x)) if x <= t => "terminated",
            (Some(s), _) if s <= t => "shutting-down",
            _ if self.running_at <= t => "running",
            _ => "pending",
        }
    }

    fn terminated(&self, t: Ms) -> bool {
        self.terminated_at.is_some_and(|x| x <= t)
    }

    fn shutting_down(&self, t: Ms) -> bool {
        self.shutdown_at.is_some_and(|s| s <= t)
    }

    /// Counts towards its group's capacity.
    fn live_member_of(&self, group: &str) -> bool {
        self.group.as_deref() == Some(group) && self.terminating_at.is_none()
    }

    /// When it joins its group's service: booted, and let go by any launching hook.
    fn in_service_at(&self) -> Ms {
        self.held_until
            .map_or(self.running_at, |h| h.max(self.running_at))
    }

    fn lifecycle(&self, t: Ms) -> &'static str {
        if self.terminating_at.is_some_and(|x| x <= t) {
            if self.terminate_held_until.is_some_and(|h| t < h) {
                "Terminating:Wait"
            } else {
                "Terminating"
            }
        } else if self.running_at <= t && self.in_service_at() > t {
            "Pending:Wait"
        } else if self.running_at <= t {
            "InService"
        } else {
            "Pending"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Template {
    id: String,
    name: String,
    tags: Tags,
    versions: BTreeMap<i64, LaunchSpec>,
    latest: i64,
    default: i64,
}

impl Template {
    fn version(&self, version: &str) -> Option<(i64, &LaunchSpec)> {
        let number = match version {
            "$Latest" => *self.versions.keys().next_back()?,
            "$Default" => self.default,
            v => v.parse().ok()?,
        };
        self.versions.get(&number).map(|s| (number, s))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    spec: GroupSpec,
    /// Suspended processes, in the order they were suspended.
    suspended: Vec<String>,
    deleting: bool,
    /// Launches failed (no capacity, no template): try again then.
    retry_at: Option<Ms>,
}

impl Group {
    fn suspended(&self, process: &str) -> bool {
        self.suspended.iter().any(|p| p == process)
    }
}

/// One launch attempt of an Auto Scaling group, as DescribeScalingActivities reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Activity {
    id: String,
    /// Recording order, to sort activities that start at the same moment.
    seq: u64,
    start: Ms,
    /// `InProgress` until then, `Successful` after (failed ones end when they start).
    end: Ms,
    description: String,
    cause: String,
    /// Why the launch failed; `None` for one that succeeded.
    failure: Option<String>,
}

impl Activity {
    fn info(&self, group: &str, t: Ms) -> ScalingActivity {
        let status = match (&self.failure, t < self.end) {
            (Some(_), _) => "Failed",
            (None, true) => "InProgress",
            (None, false) => "Successful",
        };
        ScalingActivity {
            id: self.id.clone(),
            group: group.to_string(),
            description: self.description.clone(),
            cause: self.cause.clone(),
            status: status.to_string(),
            status_message: self.failure.clone(),
            start_time: Some(wall_time(self.start)),
            end_time: (t >= self.end).then(|| wall_time(self.end)),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Registration {
    registered_at: Ms,
    /// Deregistered: draining until then, gone after.
    drain_until: Option<Ms>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetGroup {
    arn: String,
    spec: TargetGroupSpec,
    tags: Tags,
    /// Since when a listener forwards to it (health checks run only then).
    in_use_since: Option<Ms>,
    /// By instance id.
    targets: BTreeMap<String, Registration>,
}

impl TargetGroup {
    fn interval(&self) -> Ms {
        self.spec.health_check.interval_seconds as Ms * SECOND
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoadBalancer {
    arn: String,
    dns_name: String,
    spec: LoadBalancerSpec,
    tags: Tags,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Listener {
    arn: String,
    load_balancer_arn: String,
    spec: ListenerSpec,
    tags: Tags,
}

// ---------------------------------------------------------------------------------------------
// The world

/// Everything the simulated account holds; serialized whole by `SimCloud::save`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub config: SimConfig,
    /// State of the random number generator (boot times, ids).
    rng: u64,
    /// Instances launched so far.
    seq: u64,
    /// Transitions up to here have been carried out.
    settled: Ms,
    /// By region, then image id.
    images: BTreeMap<String, BTreeMap<String, ImageInfo>>,
    vpcs: BTreeMap<String, VpcInfo>,
    subnets: BTreeMap<String, SubnetInfo>,
    security_groups: BTreeMap<String, SecurityGroupInfo>,
    instances: BTreeMap<String, Instance>,
    templates: BTreeMap<String, Template>,
    groups: BTreeMap<String, Group>,
    target_groups: BTreeMap<String, TargetGroup>,
    load_balancers: BTreeMap<String, LoadBalancer>,
    listeners: BTreeMap<String, Listener>,
    /// RunInstances idempotency tokens and the instances they launched.
    client_tokens: BTreeMap<String, Vec<String>>,
    buckets: Buckets,
    /// CloudWatch alarms by name, with their state (`OK`, `ALARM`, …).
    #[serde(default)]
    alarms: BTreeMap<String, String>,
    /// Launch activities by Auto Scaling group, oldest first.
    #[serde(default)]
    activities: BTreeMap<String, Vec<Activity>>,
    /// Activities recorded so far (their ids).
    #[serde(default)]
    activity_seq: u64,
    /// Instance refreshes by Auto Scaling group, oldest first. Tests start and end them; they
    /// replace nothing.
    #[serde(default)]
    refreshes: BTreeMap<String, Vec<InstanceRefresh>>,
    /// S3 objects by `bucket/key`. Every bucket exists.
    #[serde(default)]
    objects: BTreeMap<String, SimObject>,
    /// Object writes so far: each write's ETag is new.
    #[serde(default)]
    object_writes: u64,
    /// Images being copied into a region, by id: when each becomes `available`.
    #[serde(default)]
    image_ready: BTreeMap<String, Ms>,
}

/// An S3 object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimObject {
    pub body: Vec<u8>,
    pub etag: String,
}

fn not_found(operation: &'static str, what: impl Into<String>, code: &str) -> CloudError {
    CloudError::NotFound {
        operation,
        what: what.into(),
        code: Some(code.to_string()),
    }
}

fn refused(operation: &'static str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::Service {
        operation,
        code: Some(code.to_string()),
        message: message.into(),
    }
}

fn already_exists(operation: &'static str, what: String, code: &str) -> CloudError {
    CloudError::AlreadyExists {
        operation,
        what,
        code: Some(code.to_string()),
    }
}

fn group_not_found(operation: &'static str, name: &str) -> CloudError {
    not_found(operation, format!("group {name}"), "ValidationError")
}

/// EC2's message for a launch into a zone without capacity.
fn insufficient_capacity(instance_type: &str, zone: &str) -> String {
    format!(
        "We currently do not have sufficient {instance_type} capacity in the Availability Zone \
         you requested ({zone}). Our system will be working on provisioning additional capacity"
    )
}

fn hex_u32(s: &str) -> u32 {
    u32::from_str_radix(&hex(&[s], 8), 16).unwrap_or_default()
}

fn hex(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..len].to_string()
}

fn object_key(at: &ObjectRef) -> String {
    format!("{}/{}", at.bucket, at.key)
}

fn in_stack(tags: &Tags, stack: &str) -> bool {
    tags.get(tag::STACK).map(String::as_str) == Some(stack)
}

fn has_tags(tags: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

/// AWS's defaults for what a target group spec leaves unset.
fn with_defaults(mut spec: TargetGroupSpec) -> TargetGroupSpec {
    if spec.protocol.is_empty() {
        spec.protocol = "HTTP".into();
    }
    if spec.target_type.is_empty() {
        spec.target_type = "instance".into();
    }
    let http = spec.protocol.starts_with("HTTP");
    let hc = &mut spec.health_check;
    if hc.protocol.is_empty() {
        hc.protocol = if http {
            spec.protocol.clone()
        } else {
            "TCP".into()
        };
    }
    if hc.port.is_empty() {
        hc.port = "traffic-port".into();
    }
    if hc.path.is_none() && hc.protocol.starts_with("HTTP") {
        hc.path = Some("/".into());
    }
    if hc.interval_seconds == 0 {
        hc.interval_seconds = 30;
    }
    if hc.timeout_seconds == 0 {
        hc.timeout_seconds = if http { 5 } else { 10 };
    }
    if hc.healthy_threshold == 0 {
        hc.healthy_threshold = 5;
    }
    if hc.unhealthy_threshold == 0 {
        hc.unhealthy_threshold = 2;
    }
    if hc.matcher.is_none() && hc.protocol.starts_with("HTTP") {
        hc.matcher = Some("200".into());
    }
    spec
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

    fn region(&self) -> &str {
        &self.config.region
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn new_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-0{:016x}", self.next_u64())
    }

    fn boot_time(&mut self) -> Ms {
        let (lo, hi) = (
            seconds(self.config.boot_time.min),
            seconds(self.config.boot_time.max),
        );
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn shutdown_time(&self) -> Ms {
        seconds(self.config.shutdown_seconds)
    }

    /// Takes `n` tokens of a rate limit at `t`; returns when they are available.
    pub fn reserve(&mut self, kind: Kind, t: Ms, n: f64) -> Ms {
        let limits = self.config.limits;
        self.buckets.reserve(&limits, kind, t, n)
    }

    // -----------------------------------------------------------------------------------------
    // Time

    /// Carries out every transition due up to `now`, in time order.
    pub fn settle(&mut self, now: Ms) {
        // Each round carries out every transition due by `now` at its own time; a round can
        // cause new ones (a replacement launched for an unhealthy instance), hence the loop.
        let mut rounds = 0u64;
        while self
            .next_event()
            .is_some_and(|t| t.max(self.settled) <= now)
        {
            self.process(now);
            rounds += 1;
            debug_assert!(rounds < 1_000_000, "the simulation does not settle");
        }
        self.settled = self.settled.max(now);
        self.purge(now);
    }

    fn next_event(&self) -> Option<Ms> {
        let mut next: Option<Ms> = None;
        let mut at = |t: Ms| next = Some(next.map_or(t, |n| n.min(t)));
        // Terminated instances whose termination was handled have no transitions left.
        for i in self.instances.values().filter(|i| !i.gone) {
            if i.group.is_some() && !i.booted {
                at(i.in_service_at());
            }
            if let (Some(s), false) = (i.shutdown_at, i.shut_down) {
                at(s);
            }
            if let (Some(x), false) = (i.terminated_at, i.gone) {
                at(x);
            }
        }
        for g in self.groups.values() {
            if let Some(r) = g.retry_at {
                at(r);
            }
        }
        for (_, _, t) in self.unhealthy_due() {
            at(t);
        }
        next
    }

    /// Group members that fail ELB health checks and when their group notices. Only
    /// instances of bad images fail, so without any there is nothing to look at.
    fn unhealthy_due(&self) -> Vec<(String, String, Ms)> {
        let mut out = Vec::new();
        if self.config.bad_images.is_empty() {
            return out;
        }
        for i in self.instances.values() {
            if i.unhealthy_at.is_some() || !i.booted || i.terminating_at.is_some() {
                continue;
            }
            let Some((name, g)) = i.group.as_ref().and_then(|n| self.groups.get_key_value(n))
            else {
                continue;
            };
            if g.spec.health_check_type != "ELB" || g.suspended("HealthCheck") || g.deleting {
                continue;
            }
            if !self.is_bad(&i.image_id) {
                continue;
            }
            let failed = g
                .spec
                .target_group_arns
                .iter()
                .filter_map(|arn| {
                    let tg = self.target_groups.get(arn)?;
                    let reg = tg.targets.get(&i.id)?;
                    if reg.drain_until.is_some() {
                        return None;
                    }
                    let ready = self.health_ready(tg, reg, i)?;
                    Some(ready + tg.interval() * tg.spec.health_check.unhealthy_threshold as Ms)
                })
                .min();
            if let Some(failed) = failed {
                let noticed = failed + seconds(self.config.asg_health_check_seconds);
                let grace = i.launch_at + g.spec.health_check_grace_seconds as Ms * SECOND;
                out.push((i.id.clone(), name.clone(), noticed.max(grace)));
            }
        }
        out
    }

    /// Carries out the transitions due by `t`, each at its own time.
    fn process(&mut self, t: Ms) {
        // Groups to bring back to their desired capacity, and when.
        let mut reconcile: Vec<(Ms, String)> = Vec::new();

        // Booted group members: into the group's target groups.
        let booted: Vec<(String, String)> = self
            .instances
            .values()
            .filter(|i| !i.booted && i.in_service_at() <= t)
            .filter_map(|i| Some((i.id.clone(), i.group.clone()?)))
            .collect();
        for (id, group) in booted {
            let inst = self.instances.get_mut(&id).expect("instance");
            inst.booted = true;
            let (running_at, terminating) = (inst.in_service_at(), inst.terminating_at.is_some());
            if inst.abandon_on_timeout && inst.held_until.is_some() && !terminating {
                // The launching hook timed out with ABANDON: Auto Scaling terminates it and
                // launches another.
                self.asg_terminate(&id, running_at);
                reconcile.push((running_at, group));
                continue;
            }
            let Some(g) = self.groups.get(&group) else {
                continue;
            };
            if terminating || g.suspended("AddToLoadBalancer") {
                continue;
            }
            for arn in g.spec.target_group_arns.clone() {
                self.register(&arn, &id, running_at);
            }
        }

        // Shutdowns: record what the instance was doing, take it out of rotation.
        let shutting: Vec<String> = self
            .instances
            .values()
            .filter(|i| !i.shut_down && i.shutdown_at.is_some_and(|s| s <= t))
            .map(|i| i.id.clone())
            .collect();
        for id in shutting {
            self.shut_down(&id);
        }

        // Terminated: out of its group and target groups.
        let gone: Vec<(String, Ms)> = self
            .instances
            .values()
            .filter(|i| !i.gone)
            .filter_map(|i| Some((i.id.clone(), i.terminated_at.filter(|x| *x <= t)?)))
            .collect();
        for (id, at) in gone {
            for tg in self.target_groups.values_mut() {
                tg.targets.remove(&id);
            }
            let inst = self.instances.get_mut(&id).expect("instance");
            inst.gone = true;
            if let Some(g) = inst.group.take() {
                reconcile.push((at, g));
            }
        }

        // Failed health checks: marked unhealthy, replaced unless that is suspended.
        let mut unhealthy = self.unhealthy_due();
        unhealthy.sort_by_key(|(id, _, at)| (*at, id.clone()));
        for (id, group, at) in unhealthy {
            if at > t {
                continue;
            }
            let at = at.max(self.settled);
            self.instances.get_mut(&id).expect("instance").unhealthy_at = Some(at);
            if !self.groups[&group].suspended("ReplaceUnhealthy") {
                self.asg_terminate(&id, at);
                reconcile.push((at, group));
            }
        }

        for (name, g) in self.groups.iter_mut() {
            if let Some(r) = g.retry_at.filter(|r| *r <= t) {
                g.retry_at = None;
                reconcile.push((r, name.clone()));
            }
        }
        reconcile.sort();
        for (at, name) in reconcile {
            self.reconcile(&name, at);
        }
        self.drop_deleted_groups();
    }

    /// Forgets registrations whose draining is over.
    fn purge(&mut self, now: Ms) {
        for tg in self.target_groups.values_mut() {
            tg.targets
                .retain(|_, r| r.drain_until.is_none_or(|d| d > now));
        }
    }

    fn drop_deleted_groups(&mut self) {
        let empty: Vec<String> = self
            .groups
            .iter()
            .filter(|(name, g)| {
                g.deleting
                    && !self
                        .instances
                        .values()
                        .any(|i| i.group.as_deref() == Some(name.as_str()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in empty {
            self.groups.remove(&name);
            self.activities.remove(&name);
            self.refreshes.remove(&name);
        }
    }

    /// EC2 begins shutting an instance down: records its target states, deregisters it.
    fn shut_down(&mut self, id: &str) {
        let Some(inst) = self.instances.get(id) else {
            return;
        };
        let at = inst.shutdown_at.unwrap_or(self.settled);
        let mut with = BTreeMap::new();
        let mut active = Vec::new();
        for tg in self.target_groups.values() {
            if let Some(reg) = tg.targets.get(id) {
                if let Some((state, _)) = self.target_state(tg, id, reg, at) {
                    with.insert(tg.arn.clone(), state.to_string());
                }
                if reg.drain_until.is_none() {
                    active.push(tg.arn.clone());
                }
            }
        }
        for arn in active {
            self.deregister_one(&arn, id, at);
        }
        let inst = self.instances.get_mut(id).expect("instance");
        inst.terminated_with = with;
        inst.shut_down = true;
    }

    /// Brings a group to its desired capacity: launches or terminates the difference.
    fn reconcile(&mut self, name: &str, t: Ms) {
        let Some(g) = self.groups.get(name) else {
            return;
        };
        if g.deleting {
            return;
        }
        let desired = g.spec.desired as usize;
        let live = self
            .instances
            .values()
            .filter(|i| i.live_member_of(name))
            .count();
        if live < desired && !g.suspended("Launch") {
            self.launch_into_group(name, desired - live, t);
        } else if live > desired && !g.suspended("Terminate") {
            for _ in desired..live {
                // A launch still queued is cancelled rather than an instance terminated.
                if let Some(queued) = self.queued_member(name, t) {
                    self.instances.remove(&queued);
                    continue;
                }
                match self.scale_in_victim(name) {
                    Some(id) => self.asg_terminate(&id, t),
                    None => break,
                }
            }
        }
    }

    /// The newest launch of a group still waiting for the RunInstances rate limit.
    fn queued_member(&self, name: &str, t: Ms) -> Option<String> {
        self.instances
            .values()
            .filter(|i| i.live_member_of(name) && !i.visible(t))
            .max_by_key(|i| i.seq)
            .map(|i| i.id.clone())
    }

    /// The instance AWS's default termination policy picks: one in the availability zone with
    /// the most instances, from an outdated launch template version first, oldest first.
    fn scale_in_victim(&self, name: &str) -> Option<String> {
        let version = &self.groups[name].spec.launch_template_version;
        let live: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.live_member_of(name))
            .collect();
        let mut per_az: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &live {
            *per_az.entry(i.availability_zone.as_str()).or_default() += 1;
        }
        let (&az, _) = per_az
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))?;
        live.iter()
            .filter(|i| i.availability_zone == az)
            .min_by_key(|i| {
                let current = i
                    .launch_template
                    .as_ref()
                    .is_some_and(|(_, v)| v == version);
                (current, i.launch_at, i.seq)
            })
            .map(|i| i.id.clone())
    }

    fn launch_into_group(&mut self, name: &str, count: usize, t: Ms) {
        let g = self.groups[name].clone();
        let (template_id, version) = (&g.spec.launch_template_id, &g.spec.launch_template_version);
        let template = self.templates.get(template_id);
        let Some((_, spec)) = template.and_then(|lt| lt.version(version)) else {
            let failure = match template {
                None => format!(
                    "The specified launch template, with template ID {template_id}, does not exist"
                ),
                Some(_) => format!(
                    "The specified launch template, with template ID {template_id}, version \
                     {version}, does not exist"
                ),
            };
            self.fail_launch(name, t, &failure);
            self.retry_group(name, t);
            return;
        };
        let spec = spec.clone();
        if !self.image_exists(&spec.image_id) {
            let failure = format!("The image id '[{}]' does not exist", spec.image_id);
            self.fail_launch(name, t, &failure);
            self.retry_group(name, t);
            return;
        }
        let (subnets, full): (Vec<SubnetInfo>, Vec<SubnetInfo>) = g
            .spec
            .subnet_ids
            .iter()
            .filter_map(|s| self.subnets.get(s).cloned())
            .partition(|s| {
                !self
                    .config
                    .insufficient_capacity_azs
                    .contains(&s.availability_zone)
            });
        // Auto Scaling tries a zone without capacity, records the failure, and launches in the
        // group's other zones (or tries again later when there are none).
        if let Some(zone) = full.first() {
            let failure = insufficient_capacity(&spec.instance_type, &zone.availability_zone);
            self.fail_launch(name, t, &failure);
        }
        if subnets.is_empty() {
            self.retry_group(name, t);
            return;
        }
        let live = self
            .instances
            .values()
            .filter(|i| i.live_member_of(name))
            .count();
        let mut per_az: BTreeMap<String, usize> = BTreeMap::new();
        for i in self.instances.values().filter(|i| i.live_member_of(name)) {
            *per_az.entry(i.availability_zone.clone()).or_default() += 1;
        }
        let mut tags = spec.instance_tags.clone();
        tags.extend(g.spec.tags.clone());
        tags.insert("aws:autoscaling:groupName".into(), name.to_string());
        for _ in 0..count {
            let subnet = subnets
                .iter()
                .min_by_key(|s| per_az.get(&s.availability_zone).copied().unwrap_or(0))
                .expect("a subnet")
                .clone();
            *per_az.entry(subnet.availability_zone.clone()).or_default() += 1;
            let launch_at = self.reserve(Kind::RunInstances, t, 1.0);
            let id = self.launch(
                &spec,
                &subnet,
                tags.clone(),
                Some((
                    g.spec.launch_template_id.clone(),
                    g.spec.launch_template_version.clone(),
                )),
                launch_at,
            );
            let hook = g
                .spec
                .settings
                .hooks(crate::cloud::scaling::Transition::Launching)
                .next()
                .cloned();
            let inst = self.instances.get_mut(&id).expect("instance");
            inst.group = Some(name.to_string());
            inst.launched_by = Some(name.to_string());
            if let Some(h) = hook {
                inst.held_until = Some(inst.running_at + h.heartbeat_timeout as Ms * SECOND);
                inst.abandon_on_timeout = h.default_result == "ABANDON";
            }
            let running_at = inst.running_at;
            let cause = format!(
                "At {} an instance was started in response to a difference between desired \
                 and actual capacity, increasing the capacity from {live} to {}.",
                humantime::format_rfc3339_seconds(wall_time(t)),
                live + count
            );
            self.record_activity(
                name,
                launch_at,
                running_at,
                format!("Launching a new EC2 instance: {id}"),
                cause,
                None,
            );
        }
    }

    /// Records a launch of group `name` that failed at `t`.
    fn fail_launch(&mut self, name: &str, t: Ms, reason: &str) {
        let failure = format!("{reason}. Launching EC2 instance failed.");
        let cause = format!(
            "At {} an instance was started in response to a difference between desired and \
             actual capacity.",
            humantime::format_rfc3339_seconds(wall_time(t))
        );
        self.record_activity(
            name,
            t,
            t,
            format!("Launching a new EC2 instance.  Status Reason: {failure}"),
            cause,
            Some(failure),
        );
    }

    fn record_activity(
        &mut self,
        name: &str,
        start: Ms,
        end: Ms,
        description: String,
        cause: String,
        failure: Option<String>,
    ) {
        self.activity_seq += 1;
        let seq = self.activity_seq;
        self.activities
            .entry(name.to_string())
            .or_default()
            .push(Activity {
                id: format!("{:08x}-5eed-4000-8000-{seq:012x}", hex_u32(name)),
                seq,
                start,
                end,
                description,
                cause,
                failure,
            });
    }

    /// EC2 knows the image in this region, and it has not been deregistered (its name is not
    /// among the missing images).
    fn image_exists(&self, id: &str) -> bool {
        self.images
            .get(self.region())
            .and_then(|r| r.get(id))
            .is_some_and(|img| {
                // A copy into this region is launchable once available, whatever its name.
                match self.image_ready.get(id) {
                    Some(&ready) => self.settled >= ready,
                    None => !self.config.missing_images.contains(&img.name),
                }
            })
    }

    fn retry_group(&mut self, name: &str, t: Ms) {
        let retry = seconds(self.config.asg_retry_seconds).max(1);
        if let Some(g) = self.groups.get_mut(name) {
            g.retry_at = Some(t + retry);
        }
    }

    /// Creates one instance; returns its id.
    fn launch(
        &mut self,
        spec: &LaunchSpec,
        subnet: &SubnetInfo,
        tags: Tags,
        launch_template: Option<(String, String)>,
        launch_at: Ms,
    ) -> String {
        let id = self.new_id("i");
        self.seq += 1;
        let boot = self.boot_time();
        let n = self.seq;
        self.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                seq: n,
                image_id: spec.image_id.clone(),
                instance_type: spec.instance_type.clone(),
                subnet_id: subnet.id.clone(),
                availability_zone: subnet.availability_zone.clone(),
                private_ip: format!(
                    "10.{}.{}.{}",
                    100 + (n >> 16) % 100,
                    (n >> 8) % 256,
                    n % 256
                ),
                tags,
                launch_template,
                group: None,
                launched_by: None,
                launch_at,
                running_at: launch_at + boot,
                held_until: None,
                abandon_on_timeout: false,
                terminate_held_until: None,
                booted: false,
                unhealthy_at: None,
                terminating_at: None,
                shutdown_at: None,
                terminated_at: None,
                shut_down: false,
                gone: false,
                terminated_with: BTreeMap::new(),
            },
        );
        id
    }

    /// Auto Scaling terminates a member: deregisters it from the group's target groups, waits
    /// out the longest deregistration delay, then has EC2 terminate it.
    fn asg_terminate(&mut self, id: &str, t: Ms) {
        let Some(inst) = self.instances.get(id) else {
            return;
        };
        if inst.terminating_at.is_some() || inst.shutdown_at.is_some() {
            return;
        }
        let group = inst.group.as_ref().and_then(|g| self.groups.get(g));
        let arns = group
            .map(|g| g.spec.target_group_arns.clone())
            .unwrap_or_default();
        let hold = group
            .and_then(|g| {
                g.spec
                    .settings
                    .hooks(crate::cloud::scaling::Transition::Terminating)
                    .next()
            })
            .map(|h| h.heartbeat_timeout as Ms * SECOND);
        let mut drain = 0;
        for arn in arns {
            drain = drain.max(self.deregister_one(&arn, id, t));
        }
        // A terminating hook holds it (`Terminating:Wait`) once it is out of its target
        // groups, until the hook's action completes or its heartbeat runs out.
        let drain = drain + hold.unwrap_or(0);
        let shutdown = self.shutdown_time();
        let inst = self.instances.get_mut(id).expect("instance");
        inst.terminating_at = Some(t);
        inst.terminate_held_until = hold.map(|_| t + drain);
        inst.shutdown_at = Some(t + drain);
        inst.terminated_at = Some(t + drain + shutdown);
    }

    /// EC2 TerminateInstances on one instance, whoever owns it.
    fn ec2_terminate(&mut self, id: &str, t: Ms) {
        let shutdown = self.shutdown_time();
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        if inst.shutting_down(t) {
            return;
        }
        inst.shutdown_at = Some(t);
        inst.terminated_at = Some(t + shutdown);
        if inst.group.is_some() && inst.terminating_at.is_none() {
            inst.terminating_at = Some(t);
            let group = inst.group.clone().expect("group");
            self.reconcile(&group, t);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Target health

    fn is_bad(&self, image_id: &str) -> bool {
        let bad = &self.config.bad_images;
        bad.contains(image_id)
            || self
                .images
                .values()
                .filter_map(|r| r.get(image_id))
                .any(|img| bad.contains(&img.name))
    }

    fn in_use(&self, tg: &TargetGroup, t: Ms) -> bool {
        !self.config.unused_without_load_balancer || tg.in_use_since.is_some_and(|s| s <= t)
    }

    /// When health checks of a registration start counting; `None` while the target group
    /// gets no traffic.
    fn health_ready(&self, tg: &TargetGroup, reg: &Registration, inst: &Instance) -> Option<Ms> {
        let since = if self.config.unused_without_load_balancer {
            tg.in_use_since?
        } else {
            0
        };
        Some(reg.registered_at.max(inst.running_at).max(since))
    }

    /// A target's state and reason at `t`; `None` when it is no longer listed.
    fn target_state(
        &self,
        tg: &TargetGroup,
        id: &str,
        reg: &Registration,
        t: Ms,
    ) -> Option<(&'static str, Option<&'static str>)> {
        let inst = self.instances.get(id)?;
        if inst.terminated(t) {
            return None;
        }
        if let Some(until) = reg.drain_until {
            return (t < until).then_some(("draining", Some("Target.DeregistrationInProgress")));
        }
        if !self.in_use(tg, t) {
            return Some(("unused", Some("Target.NotInUse")));
        }
        if t < inst.running_at {
            return Some(("initial", Some("Elb.RegistrationInProgress")));
        }
        let ready = self.health_ready(tg, reg, inst)?;
        let hc = &tg.spec.health_check;
        if self.is_bad(&inst.image_id) {
            if t >= ready + tg.interval() * hc.unhealthy_threshold as Ms {
                return Some(("unhealthy", Some("Target.FailedHealthChecks")));
            }
        } else if t >= ready + tg.interval() * hc.healthy_threshold as Ms {
            return Some(("healthy", None));
        }
        Some(("initial", Some("Elb.InitialHealthChecking")))
    }

    /// Registers a target (a draining one again from scratch); an active one is left alone.
    fn register(&mut self, arn: &str, id: &str, at: Ms) {
        if let Some(tg) = self.target_groups.get_mut(arn) {
            let active = tg.targets.get(id).is_some_and(|r| r.drain_until.is_none());
            if !active {
                tg.targets.insert(
                    id.to_string(),
                    Registration {
                        registered_at: at,
                        drain_until: None,
                    },
                );
            }
        }
    }

    /// Deregisters a target: draining for the delay when the target group gets traffic, gone at
    /// once otherwise. Returns how long it drains.
    fn deregister_one(&mut self, arn: &str, id: &str, t: Ms) -> Ms {
        let Some(tg) = self.target_groups.get(arn) else {
            return 0;
        };
        let Some(reg) = tg.targets.get(id) else {
            return 0;
        };
        if reg.drain_until.is_some() {
            return 0;
        }
        let delay = tg.spec.deregistration_delay_seconds as Ms * SECOND;
        let drains = self.in_use(tg, t) && delay > 0;
        let tg = self.target_groups.get_mut(arn).expect("target group");
        if drains {
            tg.targets.get_mut(id).expect("target").drain_until = Some(t + delay);
            delay
        } else {
            tg.targets.remove(id);
            0
        }
    }

    /// Marks target groups as in use (or not) after listeners changed.
    fn update_usage(&mut self, t: Ms) {
        let used: BTreeSet<String> = self
            .listeners
            .values()
            .flat_map(|l| l.spec.forward.iter().map(|f| f.target_group_arn.clone()))
            .collect();
        for tg in self.target_groups.values_mut() {
            if used.contains(&tg.arn) {
                tg.in_use_since.get_or_insert(t);
            } else {
                tg.in_use_since = None;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Lookups

    fn synthesize_image(&mut self, region: &str, name: &str, tags: &Tags) -> ImageInfo {
        let id = format!("ami-0{}", hex(&[region, name], 16));
        let account = self.config.account_id.clone();
        let images = self.images.entry(region.to_string()).or_default();
        let image = images.entry(id.clone()).or_insert_with(|| ImageInfo {
            snapshots: vec![default_snapshot(&id)],
            id,
            name: name.to_string(),
            owner: account,
            creation_date: IMAGE_CREATION_DATE.to_string(),
            state: "available".into(),
            architecture: Some("x86_64".into()),
            tags: Tags::new(),
        });
        image.tags.extend(tags.clone());
        image.clone()
    }

    /// Images in `region` matching `filter`; names that do not exist yet are made up (except in
    /// this region, for names in `missing_images`).
    pub fn describe_images(
        &mut self,
        operation: &'static str,
        region: &str,
        filter: &ImageFilter,
        now: Ms,
    ) -> CloudResult<Vec<ImageInfo>> {
        let known: Vec<ImageInfo> = self
            .images
            .get(region)
            .map(|r| r.values().map(|i| self.image_at(i, now)).collect())
            .unwrap_or_default();
        let matches = |img: &ImageInfo| {
            (filter.ids.is_empty() || filter.ids.contains(&img.id))
                && filter
                    .name
                    .as_deref()
                    .is_none_or(|p| glob_match(p, &img.name))
                && has_tags(&img.tags, &filter.tags)
        };
        if !filter.ids.is_empty() {
            let missing: Vec<&String> = filter
                .ids
                .iter()
                .filter(|id| !known.iter().any(|i| &i.id == *id))
                .collect();
            if !missing.is_empty() {
                return Err(not_found(
                    operation,
                    format!("image {}", filter.ids.join(", ")),
                    "InvalidAMIID.NotFound",
                ));
            }
            return Ok(known.into_iter().filter(matches).collect());
        }
        let Some(pattern) = filter.name.as_deref() else {
            return Ok(known.into_iter().filter(matches).collect());
        };
        let found: Vec<ImageInfo> = known.into_iter().filter(matches).collect();
        if !found.is_empty() {
            return Ok(found);
        }
        let name = pattern.replace(['*', '?'], "1");
        if region == self.region() && self.config.missing_images.contains(&name) {
            return Ok(Vec::new());
        }
        Ok(vec![self.synthesize_image(region, &name, &filter.tags)])
    }

    /// Pending and running instances by type (anyone's): what vCPU quotas count.
    pub fn running_instance_types(&self, now: Ms) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for i in self.instances.values().filter(|i| i.visible(now)) {
            if matches!(i.state(now), "pending" | "running") {
                *out.entry(i.instance_type.clone()).or_default() += 1;
            }
        }
        out
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn target_group_count(&self) -> usize {
        self.target_groups.len()
    }

    pub fn load_balancer_kinds(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for lb in self.load_balancers.values() {
            *out.entry(lb.spec.kind.clone()).or_default() += 1;
        }
        out
    }

    pub fn put_image(&mut self, region: &str, image: ImageInfo) {
        self.images
            .entry(region.to_string())
            .or_default()
            .insert(image.id.clone(), image);
    }

    /// An image as it is at `now`: a copy is `pending` until its copy time has passed.
    fn image_at(&self, image: &ImageInfo, now: Ms) -> ImageInfo {
        let mut image = image.clone();
        if self.image_ready.get(&image.id).is_some_and(|&t| now < t) {
            image.state = "pending".into();
        }
        image
    }

    /// CopyImage: the copy is `pending` for the copy time [`crate::plan::copy::copy_seconds`]
    /// models, then `available`.
    pub fn copy_image(
        &mut self,
        operation: &'static str,
        request: &CopyImageRequest<'_>,
        now: Ms,
    ) -> CloudResult<String> {
        let Some(source) = self
            .images
            .get(request.source_region)
            .and_then(|r| r.get(request.source_image_id))
            .cloned()
        else {
            return Err(not_found(
                operation,
                format!(
                    "image {} in {}",
                    request.source_image_id, request.source_region
                ),
                "InvalidAMIID.NotFound",
            ));
        };
        let id = self.new_id("ami");
        let region = self.region().to_string();
        let encrypt = request.kms_key.is_some();
        let image = ImageInfo {
            id: id.clone(),
            name: request.name.to_string(),
            owner: self.config.account_id.clone(),
            creation_date: IMAGE_CREATION_DATE.to_string(),
            state: "available".into(),
            architecture: source.architecture.clone(),
            tags: request.tags.clone(),
            snapshots: source
                .snapshots
                .iter()
                .map(|s| Snapshot {
                    id: format!("snap-copy-{}", &id[4..]),
                    size_gib: s.size_gib,
                    encrypted: s.encrypted || encrypt,
                })
                .collect(),
        };
        let seconds = crate::plan::copy::copy_seconds(&source.snapshots);
        self.image_ready.insert(id.clone(), now + seconds * 1000);
        self.images
            .entry(region)
            .or_default()
            .insert(id.clone(), image);
        Ok(id)
    }

    /// Like the simulator's image and network lookups, an alarm nobody set is made up, quiet.
    pub fn alarm_states(&self, names: &[String]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| {
                let state = self.alarms.get(n).map_or("OK", String::as_str);
                (n.clone(), state.to_string())
            })
            .collect()
    }

    /// Creates the alarm if needed, as PutMetricAlarm then SetAlarmState would.
    pub fn set_alarm_state(&mut self, name: &str, state: &str) {
        self.alarms.insert(name.to_string(), state.to_string());
    }

    pub fn get_object(&self, at: &ObjectRef) -> Option<StoredObject> {
        self.objects.get(&object_key(at)).map(|o| StoredObject {
            body: o.body.clone(),
            etag: o.etag.clone(),
        })
    }

    /// PutObject, with `If-None-Match: *` (`expected` = `None`) or `If-Match` (`Some(etag)`),
    /// as S3 answers them: 412 when the condition fails, 404 for `If-Match` on no object.
    pub fn put_object(
        &mut self,
        operation: &'static str,
        at: &ObjectRef,
        body: &[u8],
        expected: Option<&str>,
    ) -> CloudResult<String> {
        let key = object_key(at);
        self.check_object(operation, at, expected)?;
        self.object_writes += 1;
        let etag = format!(
            "\"{}\"",
            hex(
                &[
                    &key,
                    &self.object_writes.to_string(),
                    &String::from_utf8_lossy(body)
                ],
                32
            )
        );
        self.objects.insert(
            key,
            SimObject {
                body: body.to_vec(),
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    /// DeleteObject with `If-Match`.
    pub fn delete_object(
        &mut self,
        operation: &'static str,
        at: &ObjectRef,
        etag: &str,
    ) -> CloudResult<()> {
        self.check_object(operation, at, Some(etag))?;
        self.objects.remove(&object_key(at));
        Ok(())
    }

    fn check_object(
        &self,
        operation: &'static str,
        at: &ObjectRef,
        expected: Option<&str>,
    ) -> CloudResult<()> {
        let failed = || CloudError::PreconditionFailed {
            operation,
            what: at.to_string(),
            code: Some("PreconditionFailed".into()),
        };
        match (self.objects.get(&object_key(at)), expected) {
            (Some(_), None) => Err(failed()),
            (None, Some(_)) => Err(not_found(operation, at.to_string(), "NoSuchKey")),
            (Some(o), Some(etag)) if o.etag.trim_matches('"') != etag.trim_matches('"') => {
                Err(failed())
            }
            _ => Ok(()),
        }
    }

    pub fn find_vpcs(&mut self, tags: &Tags) -> Vec<VpcInfo> {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let region = self.region().to_string();
        let id = format!("vpc-0{}", hex(&[&region, &pairs.join(",")], 16));
        let vpc = self.vpcs.entry(id.clone()).or_insert_with(|| VpcInfo {
            id,
            cidr: Some("10.0.0.0/16".into()),
            tags: tags.clone(),
        });
        vec![vpc.clone()]
    }

    pub fn find_subnets(&mut self, vpc_id: &str, tags: &Tags) -> Vec<SubnetInfo> {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let region = self.region().to_string();
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(n, zone)| {
                let id = format!("subnet-0{}", hex(&[vpc_id, &pairs.join(","), zone], 16));
                self.subnets
                    .entry(id.clone())
                    .or_insert_with(|| SubnetInfo {
                        id,
                        vpc_id: vpc_id.to_string(),
                        availability_zone: format!("{region}{zone}"),
                        cidr: Some(format!("10.0.{}.0/24", n + 1)),
                        tags: tags.clone(),
                    })
                    .clone()
            })
            .collect()
    }

    pub fn find_security_groups(
        &mut self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> Vec<SecurityGroupInfo> {
        let names: Vec<String> = if names.is_empty() {
            vec!["default".to_string()]
        } else {
            names.to_vec()
        };
        names
            .iter()
            .map(|name| {
                let id = format!("sg-0{}", hex(&[vpc_id, name], 16));
                self.security_groups
                    .entry(id.clone())
                    .or_insert_with(|| SecurityGroupInfo {
                        id,
                        name: name.clone(),
                        vpc_id: Some(vpc_id.to_string()),
                        tags: tags.clone(),
                    })
                    .clone()
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Observing

    pub fn list_groups(&self, stack: &str, t: Ms) -> Vec<GroupInfo> {
        let mut members = self.members_by_group(t);
        self.groups
            .values()
            .filter(|g| in_stack(&g.spec.tags, stack))
            .map(|g| {
                let m = members.remove(g.spec.name.as_str()).unwrap_or_default();
                self.group_info(g, t, m)
            })
            .collect()
    }

    /// Every group's visible members, in launch order, from one pass over the instances.
    fn members_by_group(&self, t: Ms) -> BTreeMap<&str, Vec<&Instance>> {
        let mut members: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
        for i in self.instances.values() {
            if let Some(g) = i.group.as_deref().filter(|_| i.visible(t)) {
                members.entry(g).or_default().push(i);
            }
        }
        for m in members.values_mut() {
            m.sort_by_key(|i| i.seq);
        }
        members
    }

    fn group_info(&self, g: &Group, t: Ms, members: Vec<&Instance>) -> GroupInfo {
        let s = &g.spec;
        GroupInfo {
            name: s.name.clone(),
            min: s.min,
            max: s.max,
            desired: s.desired,
            tags: s.tags.clone(),
            launch_template_id: Some(s.launch_template_id.clone()),
            launch_template_version: Some(s.launch_template_version.clone()),
            target_group_arns: s.target_group_arns.clone(),
            subnet_ids: s.subnet_ids.clone(),
            instances: members
                .into_iter()
                .map(|i| GroupInstance {
                    id: i.id.clone(),
                    lifecycle_state: i.lifecycle(t).to_string(),
                    health_status: if i.unhealthy_at.is_some_and(|u| u <= t) {
                        "Unhealthy"
                    } else {
                        "Healthy"
                    }
                    .to_string(),
                    availability_zone: Some(i.availability_zone.clone()),
                    launch_template_version: i.launch_template.as_ref().map(|(_, v)| v.clone()),
                })
                .collect(),
            suspended_processes: g.suspended.clone(),
            status: g.deleting.then(|| "Delete in progress".to_string()),
        }
    }

    fn instance_info(&self, i: &Instance, t: Ms) -> InstanceInfo {
        InstanceInfo {
            id: i.id.clone(),
            state: i.state(t).to_string(),
            image_id: Some(i.image_id.clone()),
            instance_type: Some(i.instance_type.clone()),
            subnet_id: Some(i.subnet_id.clone()),
            availability_zone: Some(i.availability_zone.clone()),
            private_ip: Some(i.private_ip.clone()),
            launch_time: Some(wall_time(i.launch_at)),
            tags: i.tags.clone(),
        }
    }

    /// Live instances (anything but `terminated`) of the stack, in launch order.
    pub fn list_instances(&self, stack: &str, t: Ms) -> Vec<InstanceInfo> {
        let mut live: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.visible(t) && !i.terminated(t) && in_stack(&i.tags, stack))
            .collect();
        live.sort_by_key(|i| i.seq);
        live.into_iter().map(|i| self.instance_info(i, t)).collect()
    }

    pub fn list_launch_templates(&self, stack: &str) -> Vec<LaunchTemplateInfo> {
        self.templates
            .values()
            .filter(|lt| in_stack(&lt.tags, stack))
            .map(|lt| LaunchTemplateInfo {
                id: lt.id.clone(),
                name: lt.name.clone(),
                latest_version: lt.latest,
                tags: lt.tags.clone(),
            })
            .collect()
    }

    pub fn launch_template_version(
        &self,
        operation: &'static str,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        let lt = self.templates.get(template_id).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {template_id} version {version}"),
                "InvalidLaunchTemplateId.NotFound",
            )
        })?;
        lt.version(version).map(|(_, s)| s.clone()).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {template_id} version {version}"),
                "InvalidLaunchTemplateId.VersionNotFound",
            )
        })
    }

    pub fn count_target_groups(&self) -> usize {
        self.target_groups.len()
    }

    pub fn count_load_balancers(&self) -> usize {
        self.load_balancers.len()
    }

    /// Target groups whose name starts with `prefix` (the candidates whose tags are read),
    /// and those of them in the stack.
    pub fn list_target_groups(&self, stack: &str, prefix: &str) -> (usize, Vec<TargetGroupInfo>) {
        let candidates: Vec<&TargetGroup> = self
            .target_groups
            .values()
            .filter(|tg| tg.spec.name.starts_with(prefix))
            .collect();
        let listed = candidates
            .iter()
            .filter(|tg| in_stack(&tg.tags, stack))
            .map(|tg| self.target_group_info(tg))
            .collect();
        (candidates.len(), listed)
    }

    fn target_group_info(&self, tg: &TargetGroup) -> TargetGroupInfo {
        let lbs: BTreeSet<String> = self
            .listeners
            .values()
            .filter(|l| l.spec.forward.iter().any(|f| f.target_group_arn == tg.arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        TargetGroupInfo {
            arn: tg.arn.clone(),
            spec: tg.spec.clone(),
            load_balancer_arns: lbs.into_iter().collect(),
            tags: tg.tags.clone(),
        }
    }

    pub fn target_health(
        &self,
        operation: &'static str,
        arn: &str,
        t: Ms,
    ) -> CloudResult<Vec<TargetHealth>> {
        let tg = self.target_groups.get(arn).ok_or_else(|| {
            not_found(
                operation,
                format!("target group {arn}"),
                "TargetGroupNotFound",
            )
        })?;
        let mut out: Vec<(u64, TargetHealth)> = tg
            .targets
            .iter()
            .filter_map(|(id, reg)| {
                let (state, reason) = self.target_state(tg, id, reg, t)?;
                Some((
                    self.instances.get(id).map_or(0, |i| i.seq),
                    TargetHealth {
                        id: id.clone(),
                        port: Some(tg.spec.port),
                        state: state.to_string(),
                        reason: reason.map(str::to_string),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, h)| h).collect())
    }

    pub fn list_load_balancers(&self, stack: &str, prefix: &str) -> (usize, Vec<LoadBalancerInfo>) {
        let candidates: Vec<&LoadBalancer> = self
            .load_balancers
            .values()
            .filter(|lb| lb.spec.name.starts_with(prefix))
            .collect();
        let listed = candidates
            .iter()
            .filter(|lb| in_stack(&lb.tags, stack))
            .map(|lb| load_balancer_info(lb))
            .collect();
        (candidates.len(), listed)
    }

    pub fn list_listeners(
        &self,
        operation: &'static str,
        load_balancer_arn: &str,
    ) -> CloudResult<Vec<ListenerInfo>> {
        if !self.load_balancers.contains_key(load_balancer_arn) {
            return Err(not_found(
                operation,
                format!("load balancer {load_balancer_arn}"),
                "LoadBalancerNotFound",
            ));
        }
        let mut out: Vec<ListenerInfo> = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == load_balancer_arn)
            .map(|l| ListenerInfo {
                arn: l.arn.clone(),
                load_balancer_arn: l.load_balancer_arn.clone(),
                spec: l.spec.clone(),
            })
            .collect();
        out.sort_by_key(|l| l.spec.port);
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Target groups, load balancers, listeners

    fn elb_arn(&mut self, kind: &str, name: &str) -> String {
        let suffix = format!("{:016x}", self.next_u64());
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{kind}/{name}/{suffix}",
            self.config.region, self.config.account_id
        )
    }

    pub fn create_target_group(
        &mut self,
        operation: &'static str,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let spec = with_defaults(spec.clone());
        if let Some(existing) = self
            .target_groups
            .values()
            .find(|tg| tg.spec.name == spec.name)
        {
            if existing.spec == spec {
                return Ok(existing.arn.clone());
            }
            return Err(already_exists(
                operation,
                format!("target group {}", spec.name),
                "DuplicateTargetGroupName",
            ));
        }
        let arn = self.elb_arn("targetgroup", &spec.name);
        self.target_groups.insert(
            arn.clone(),
            TargetGroup {
                arn: arn.clone(),
                spec,
                tags: tags.clone(),
                in_use_since: None,
                targets: BTreeMap::new(),
            },
        );
        Ok(arn)
    }

    fn target_group_mut(
        &mut self,
        operation: &'static str,
        arn: &str,
    ) -> CloudResult<&mut TargetGroup> {
        self.target_groups.get_mut(arn).ok_or_else(|| {
            not_found(
                operation,
                format!("target group {arn}"),
                "TargetGroupNotFound",
            )
        })
    }

    pub fn modify_target_group(
        &mut self,
        operation: &'static str,
        arn: &str,
        spec: &TargetGroupSpec,
    ) -> CloudResult<()> {
        let tg = self.target_group_mut(operation, arn)?;
        let wanted = with_defaults(TargetGroupSpec {
            name: tg.spec.name.clone(),
            port: tg.spec.port,
            protocol: tg.spec.protocol.clone(),
            vpc_id: tg.spec.vpc_id.clone(),
            target_type: tg.spec.target_type.clone(),
            health_check: HealthCheckSpec {
                ..spec.health_check.clone()
            },
            deregistration_delay_seconds: spec.deregistration_delay_seconds,
        });
        tg.spec = wanted;
        Ok(())
    }

    pub fn delete_target_group(&mut self, operation: &'static str, arn: &str) -> CloudResult<()> {
        self.target_group_mut(operation, arn)?;
        if self
            .listeners
            .values()
            .any(|l| l.spec.forward.iter().any(|f| f.target_group_arn == arn))
        {
            return Err(refused(
                operation,
                "ResourceInUse",
                format!("Target group '{arn}' is currently in use by a listener or a rule"),
            ));
        }
        self.target_groups.remove(arn);
        Ok(())
    }

    pub fn create_load_balancer(
        &mut self,
        operation: &'static str,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        let mut spec = spec.clone();
        if spec.kind.is_empty() {
            spec.kind = "application".into();
        }
        if spec.kind != "application" {
            spec.security_group_ids.clear();
        }
        if let Some(existing) = self
            .load_balancers
            .values()
            .find(|lb| lb.spec.name == spec.name)
        {
            if existing.spec == spec {
                return Ok(load_balancer_info(existing));
            }
            return Err(already_exists(
                operation,
                format!("load balancer {}", spec.name),
                "DuplicateLoadBalancerName",
            ));
        }
        let kind = if spec.kind == "application" {
            "app"
        } else {
            "net"
        };
        let arn = self.elb_arn(&format!("loadbalancer/{kind}"), &spec.name);
        let number = self.next_u64() % 10_000_000_000;
        let dns_name = format!(
            "{}{}-{number}.{}.elb.amazonaws.com",
            if spec.internal { "internal-" } else { "" },
            spec.name,
            self.config.region
        );
        let lb = LoadBalancer {
            arn: arn.clone(),
            dns_name,
            spec,
            tags: tags.clone(),
        };
        let info = load_balancer_info(&lb);
        self.load_balancers.insert(arn, lb);
        Ok(info)
    }

    pub fn modify_load_balancer(
        &mut self,
        operation: &'static str,
        arn: &str,
        spec: &LoadBalancerSpec,
    ) -> CloudResult<()> {
        let lb = self.load_balancers.get_mut(arn).ok_or_else(|| {
            not_found(
                operation,
                format!("load balancer {arn}"),
                "LoadBalancerNotFound",
            )
        })?;
        lb.spec.subnet_ids = spec.subnet_ids.clone();
        if lb.spec.kind == "application" {
            lb.spec.security_group_ids = spec.security_group_ids.clone();
        }
        Ok(())
    }

    /// Deleting a load balancer that does not exist succeeds, as in ELBv2.
    pub fn delete_load_balancer(&mut self, arn: &str, t: Ms) {
        if self.load_balancers.remove(arn).is_some() {
            self.listeners.retain(|_, l| l.load_balancer_arn != arn);
            self.update_usage(t);
        }
    }

    fn check_forwards(
        &self,
        operation: &'static str,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
    ) -> CloudResult<()> {
        if spec.forward.is_empty() || spec.forward.len() > 5 {
            return Err(refused(
                operation,
                "ValidationError",
                "a forward action takes 1 to 5 target groups",
            ));
        }
        for f in &spec.forward {
            if !self.target_groups.contains_key(&f.target_group_arn) {
                return Err(not_found(
                    operation,
                    format!("target group {}", f.target_group_arn),
                    "TargetGroupNotFound",
                ));
            }
            if f.weight > 999 {
                return Err(refused(
                    operation,
                    "ValidationError",
                    "target group weights are 0 to 999",
                ));
            }
            let elsewhere = self.listeners.values().any(|l| {
                l.load_balancer_arn != load_balancer_arn
                    && l.spec
                        .forward
                        .iter()
                        .any(|x| x.target_group_arn == f.target_group_arn)
            });
            if elsewhere {
                return Err(refused(
                    operation,
                    "TargetGroupAssociationLimit",
                    format!(
                        "The following target groups cannot be associated with more than one \
                         load balancer: {}",
                        f.target_group_arn
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn create_listener(
        &mut self,
        operation: &'static str,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
        t: Ms,
    ) -> CloudResult<String> {
        let lb_name = self
            .load_balancers
            .get(load_balancer_arn)
            .map(|lb| lb.spec.name.clone())
            .ok_or_else(|| {
                not_found(
                    operation,
                    format!("load balancer {load_balancer_arn}"),
                    "LoadBalancerNotFound",
                )
            })?;
        if self
            .listeners
            .values()
            .any(|l| l.load_balancer_arn == load_balancer_arn && l.spec.port == spec.port)
        {
            return Err(refused(
                operation,
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        self.check_forwards(operation, load_balancer_arn, spec)?;
        let arn = self.elb_arn("listener/app", &lb_name);
        self.listeners.insert(
            arn.clone(),
            Listener {
                arn: arn.clone(),
                load_balancer_arn: load_balancer_arn.to_string(),
                spec: spec.clone(),
                tags: tags.clone(),
            },
        );
        self.update_usage(t);
        Ok(arn)
    }

    pub fn modify_listener(
        &mut self,
        operation: &'static str,
        arn: &str,
        spec: &ListenerSpec,
        t: Ms,
    ) -> CloudResult<()> {
        let lb = self
            .listeners
            .get(arn)
            .map(|l| l.load_balancer_arn.clone())
            .ok_or_else(|| not_found(operation, format!("listener {arn}"), "ListenerNotFound"))?;
        if self
            .listeners
            .values()
            .any(|l| l.arn != arn && l.load_balancer_arn == lb && l.spec.port == spec.port)
        {
            return Err(refused(
                operation,
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        self.check_forwards(operation, &lb, spec)?;
        self.listeners.get_mut(arn).expect("listener").spec = spec.clone();
        self.update_usage(t);
        Ok(())
    }

    pub fn delete_listener(
        &mut self,
        operation: &'static str,
        arn: &str,
        t: Ms,
    ) -> CloudResult<()> {
        self.listeners
            .remove(arn)
            .ok_or_else(|| not_found(operation, format!("listener {arn}"), "ListenerNotFound"))?;
        self.update_usage(t);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Launch templates

    pub fn create_launch_template(
        &mut self,
        operation: &'static str,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        if self.templates.values().any(|lt| lt.name == name) {
            return Err(already_exists(
                operation,
                format!("launch template {name}"),
                "InvalidLaunchTemplateName.AlreadyExistsException",
            ));
        }
        let id = format!("lt-0{:016x}", self.next_u64());
        self.templates.insert(
            id.clone(),
            Template {
                id: id.clone(),
                name: name.to_string(),
                tags: tags.clone(),
                versions: BTreeMap::from([(1, spec.clone())]),
                latest: 1,
                default: 1,
            },
        );
        Ok((id, 1))
    }

    fn template_mut(&mut self, operation: &'static str, id: &str) -> CloudResult<&mut Template> {
        self.templates.get_mut(id).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {id}"),
                "InvalidLaunchTemplateId.NotFound",
            )
        })
    }

    pub fn create_launch_template_version(
        &mut self,
        operation: &'static str,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        let lt = self.template_mut(operation, template_id)?;
        lt.latest += 1;
        lt.versions.insert(lt.latest, spec.clone());
        Ok(lt.latest)
    }

    pub fn delete_launch_template(
        &mut self,
        operation: &'static str,
        template_id: &str,
    ) -> CloudResult<()> {
        self.template_mut(operation, template_id)?;
        self.templates.remove(template_id);
        Ok(())
    }

    /// Deletes versions; missing ones are ignored, the default version cannot be deleted.
    pub fn delete_launch_template_versions(
        &mut self,
        operation: &'static str,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        let lt = self.template_mut(operation, template_id)?;
        let mut refused_versions = Vec::new();
        for v in versions {
            if *v == lt.default {
                refused_versions.push(format!(
                    "version {v}: the default version of a launch template cannot be deleted"
                ));
            } else {
                lt.versions.remove(v);
            }
        }
        if refused_versions.is_empty() {
            Ok(())
        } else {
            Err(refused(
                operation,
                "unexpectedError",
                format!(
                    "launch template {template_id}: {}",
                    refused_versions.join("; ")
                ),
            ))
        }
    }

    // -----------------------------------------------------------------------------------------
    // Auto Scaling

    fn group_mut(&mut self, operation: &'static str, name: &str) -> CloudResult<&mut Group> {
        self.groups
            .get_mut(name)
            .filter(|g| !g.deleting)
            .ok_or_else(|| group_not_found(operation, name))
    }

    pub fn create_group(
        &mut self,
        operation: &'static str,
        spec: &GroupSpec,
        t: Ms,
    ) -> CloudResult<()> {
        if self.groups.contains_key(&spec.name) {
            return Err(already_exists(
                operation,
                format!("group {}", spec.name),
                "AlreadyExists",
            ));
        }
        if !(spec.min <= spec.desired && spec.desired <= spec.max) {
            return Err(refused(
                operation,
                "ValidationError",
                format!(
                    "Desired capacity:{} must be between the specified min size:{} and max size:{}",
                    spec.desired, spec.min, spec.max
                ),
            ));
        }
        if self
            .templates
            .get(&spec.launch_template_id)
            .and_then(|lt| lt.version(&spec.launch_template_version))
            .is_none()
        {
            return Err(refused(
                operation,
                "ValidationError",
                format!(
                    "You must use a valid fully-formed launch template. The launch template \
                     {} version {} does not exist",
                    spec.launch_template_id, spec.launch_template_version
                ),
            ));
        }
        if spec.subnet_ids.is_empty() {
            return Err(refused(
                operation,
                "ValidationError",
                "At least one subnet is required",
            ));
        }
        if let Some(s) = spec
            .subnet_ids
            .iter()
            .find(|s| !self.subnets.contains_key(*s))
        {
            return Err(refused(
                operation,
                "ValidationError",
                format!("The subnet ID '{s}' does not exist"),
            ));
        }
        if let Some(arn) = spec
            .target_group_arns
            .iter()
            .find(|a| !self.target_groups.contains_key(*a))
        {
            return Err(refused(
                operation,
                "ValidationError",
                format!("Target group {arn} does not exist"),
            ));
        }
        self.groups.insert(
            spec.name.clone(),
            Group {
                spec: spec.clone(),
                suspended: Vec::new(),
                deleting: false,
                retry_at: None,
            },
        );
        self.reconcile(&spec.name, t);
        Ok(())
    }

    pub fn set_group_capacity(
        &mut self,
        operation: &'static str,
        name: &str,
        (min, desired, max): (u32, u32, u32),
        t: Ms,
    ) -> CloudResult<()> {
        let g = self.group_mut(operation, name)?;
        if !(min <= desired && desired <= max) {
            return Err(refused(
                operation,
                "ValidationError",
                format!(
                    "Desired capacity:{desired} must be between the specified min size:{min} \
                     and max size:{max}"
                ),
            ));
        }
        g.spec.min = min;
        g.spec.desired = desired;
        g.spec.max = max;
        self.reconcile(name, t);
        Ok(())
    }

    pub fn set_group_tags(
        &mut self,
        operation: &'static str,
        name: &str,
        tags: &Tags,
    ) -> CloudResult<()> {
        let g = self.group_mut(operation, name)?;
        g.spec.tags.extend(tags.clone());
        Ok(())
    }

    /// PutScalingPolicy, PutScheduledUpdateGroupAction and PutLifecycleHook for each: one by
    /// name, created or overwritten.
    pub fn configure_group(
        &mut self,
        operation: &'static str,
        name: &str,
        settings: &crate::cloud::scaling::GroupSettings,
    ) -> CloudResult<()> {
        let g = self.group_mut(operation, name)?;
        let have = &mut g.spec.settings;
        fn put<T: Clone>(have: &mut Vec<T>, want: &[T], name: impl Fn(&T) -> &str) {
            for w in want {
                match have.iter_mut().find(|h| name(h) == name(w)) {
                    Some(h) => *h = w.clone(),
                    None => have.push(w.clone()),
                }
            }
        }
        put(
            &mut have.scaling_policies,
            &settings.scaling_policies,
            |p| &p.name,
        );
        put(
            &mut have.scheduled_actions,
            &settings.scheduled_actions,
            |a| &a.name,
        );
        put(&mut have.lifecycle_hooks, &settings.lifecycle_hooks, |h| {
            &h.name
        });
        Ok(())
    }

    pub fn attach_target_groups(
        &mut self,
        operation: &'static str,
        name: &str,
        arns: &[String],
        t: Ms,
    ) -> CloudResult<()> {
        if let Some(arn) = arns.iter().find(|a| !self.target_groups.contains_key(*a)) {
            return Err(not_found(
                operation,
                format!("target group {arn}"),
                "ValidationError",
            ));
        }
        let g = self.group_mut(operation, name)?;
        let new: Vec<String> = arns
            .iter()
            .filter(|a| !g.spec.target_group_arns.contains(a))
            .cloned()
            .collect();
        g.spec.target_group_arns.extend(new.clone());
        let booted: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.live_member_of(name) && i.booted)
            .map(|i| i.id.clone())
            .collect();
        for arn in &new {
            for id in &booted {
                self.register(arn, id, t);
            }
        }
        Ok(())
    }

    pub fn detach_target_groups(
        &mut self,
        operation: &'static str,
        name: &str,
        arns: &[String],
        t: Ms,
    ) -> CloudResult<()> {
        let g = self.group_mut(operation, name)?;
        g.spec.target_group_arns.retain(|a| !arns.contains(a));
        let members: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.group.as_deref() == Some(name))
            .map(|i| i.id.clone())
            .collect();
        for arn in arns {
            for id in &members {
                self.deregister_one(arn, id, t);
            }
        }
        Ok(())
    }

    /// Force-deletes a group: its instances are drained and terminated, and the group is
    /// listed as being deleted until they are gone. A missing group is no error.
    pub fn delete_group(&mut self, name: &str, t: Ms) {
        let Some(g) = self.groups.get_mut(name) else {
            return;
        };
        g.deleting = true;
        g.spec.desired = 0;
        g.spec.min = 0;
        let members: Vec<(String, bool)> = self
            .instances
            .values()
            .filter(|i| i.group.as_deref() == Some(name))
            .map(|i| (i.id.clone(), i.visible(t)))
            .collect();
        for (id, visible) in members {
            if visible {
                self.asg_terminate(&id, t);
            } else {
                self.instances.remove(&id);
            }
        }
        self.drop_deleted_groups();
    }

    /// The group's launch activities that started in `[since, t]`, newest first.
    pub fn scaling_activities(&self, group: &str, since: Ms, t: Ms) -> Vec<ScalingActivity> {
        let mut out: Vec<&Activity> = self
            .activities
            .get(group)
            .into_iter()
            .flatten()
            .filter(|a| a.start >= since && a.start <= t)
            .collect();
        out.sort_by_key(|a| std::cmp::Reverse((a.start, a.seq)));
        out.into_iter().map(|a| a.info(group, t)).collect()
    }

    /// The group's instance refreshes, newest first.
    pub fn instance_refreshes(&self, group: &str) -> Vec<InstanceRefresh> {
        self.refreshes
            .get(group)
            .into_iter()
            .flatten()
            .rev()
            .cloned()
            .collect()
    }

    /// CompleteLifecycleAction: lets an instance held by a lifecycle hook of `group` go on,
    /// `CONTINUE` or `ABANDON` (what an instance's bootstrap or a drain script sends).
    pub fn complete_lifecycle_action(
        &mut self,
        operation: &'static str,
        group: &str,
        instance_id: &str,
        result: &str,
        t: Ms,
    ) -> CloudResult<()> {
        self.group_mut(operation, group)?;
        let no_action = || {
            refused(
                operation,
                "ValidationError",
                format!("No active Lifecycle Action found with instance ID {instance_id}"),
            )
        };
        let inst = self
            .instances
            .get_mut(instance_id)
            .filter(|i| i.group.as_deref() == Some(group))
            .ok_or_else(no_action)?;
        match inst.lifecycle(t) {
            "Pending:Wait" => {
                inst.held_until = Some(t);
                inst.abandon_on_timeout = result == "ABANDON";
            }
            "Terminating:Wait" => {
                let early = inst.terminate_held_until.map_or(0, |h| h.saturating_sub(t));
                inst.terminate_held_until = Some(t);
                inst.shutdown_at = inst.shutdown_at.map(|x| x - early);
                inst.terminated_at = inst.terminated_at.map(|x| x - early);
            }
            _ => return Err(no_action()),
        }
        Ok(())
    }

    /// Starts an instance refresh on a group (for tests: it replaces nothing); returns its id.
    pub fn start_instance_refresh(
        &mut self,
        operation: &'static str,
        group: &str,
        t: Ms,
    ) -> CloudResult<String> {
        self.group_mut(operation, group)?;
        if self
            .instance_refreshes(group)
            .iter()
            .any(|r| r.in_progress())
        {
            return Err(refused(
                operation,
                "InstanceRefreshInProgress",
                format!("An Instance Refresh is already in progress for {group}"),
            ));
        }
        let n = self.refreshes.get(group).map_or(0, Vec::len) + 1;
        let id = format!("{:08x}-0000-4000-8000-{n:012x}", hex_u32(group));
        self.refreshes
            .entry(group.to_string())
            .or_default()
            .push(InstanceRefresh {
                id: id.clone(),
                status: "InProgress".into(),
                status_reason: None,
                percentage_complete: Some(0),
                start_time: Some(wall_time(t)),
            });
        Ok(id)
    }

    /// Ends the group's refresh in progress with `status` (`Successful`, `Cancelled`, …), or
    /// moves it along (`Cancelling`, a percentage).
    pub fn set_instance_refresh(&mut self, group: &str, status: &str, percent: Option<u32>) {
        if let Some(r) = self
            .refreshes
            .get_mut(group)
            .and_then(|rs| rs.iter_mut().rev().find(|r| r.in_progress()))
        {
            r.status = status.to_string();
            if percent.is_some() {
                r.percentage_complete = percent;
            }
        }
    }

    /// The tags of the resource of `kind` named `name`, whoever owns it.
    pub fn find_by_name(&self, kind: NamedKind, name: &str) -> Option<Holder> {
        let holder = |id: &String, tags: &Tags| Holder {
            id: id.clone(),
            tags: tags.clone(),
        };
        match kind {
            NamedKind::Group => self
                .groups
                .get(name)
                .map(|g| holder(&name.to_string(), &g.spec.tags)),
            NamedKind::LaunchTemplate => self
                .templates
                .iter()
                .find(|(_, lt)| lt.name == name)
                .map(|(id, lt)| holder(id, &lt.tags)),
            NamedKind::TargetGroup => self
                .target_groups
                .iter()
                .find(|(_, tg)| tg.spec.name == name)
                .map(|(arn, tg)| holder(arn, &tg.tags)),
            NamedKind::LoadBalancer => self
                .load_balancers
                .iter()
                .find(|(_, lb)| lb.spec.name == name)
                .map(|(arn, lb)| holder(arn, &lb.tags)),
        }
    }

    pub fn set_processes(
        &mut self,
        operation: &'static str,
        name: &str,
        processes: &[String],
        suspend: bool,
    ) -> CloudResult<()> {
        if let Some(p) = processes.iter().find(|p| !PROCESSES.contains(&p.as_str())) {
            return Err(refused(
                operation,
                "ValidationError",
                format!("Invalid process name: {p}"),
            ));
        }
        let g = self.group_mut(operation, name)?;
        for p in processes {
            let has = g.suspended(p);
            if suspend && !has {
                g.suspended.push(p.clone());
            } else if !suspend && has {
                g.suspended.retain(|x| x != p);
            }
        }
        Ok(())
    }

    /// One DetachInstances call (at most 20 ids).
    pub fn detach_instances(
        &mut self,
        operation: &'static str,
        name: &str,
        ids: &[String],
        decrement: bool,
        t: Ms,
    ) -> CloudResult<()> {
        let g = self
            .groups
            .get(name)
            .filter(|g| !g.deleting)
            .ok_or_else(|| group_not_found(operation, name))?;
        for id in ids {
            let Some(i) = self
                .instances
                .get(id)
                .filter(|i| i.group.as_deref() == Some(name) && i.visible(t))
            else {
                return Err(refused(
                    operation,
                    "ValidationError",
                    format!("The instance {id} is not part of Auto Scaling group {name}."),
                ));
            };
            if i.lifecycle(t) != "InService" {
                return Err(refused(
                    operation,
                    "ValidationError",
                    format!("The instance {id} is not in InService or Standby."),
                ));
            }
        }
        if decrement && (g.spec.desired as usize) < g.spec.min as usize + ids.len() {
            return Err(refused(
                operation,
                "ValidationError",
                format!(
                    "Currently, desiredCapacity is {} and minSize is {}. Detaching {} instances \
                     with ShouldDecrementDesiredCapacity=true would violate the minimum size",
                    g.spec.desired,
                    g.spec.min,
                    ids.len()
                ),
            ));
        }
        let arns = g.spec.target_group_arns.clone();
        for id in ids {
            self.instances.get_mut(id).expect("instance").group = None;
            for arn in &arns {
                self.deregister_one(arn, id, t);
            }
        }
        let g = self.groups.get_mut(name).expect("group");
        if decrement {
            g.spec.desired -= ids.len() as u32;
        }
        self.reconcile(name, t);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Targets and instances

    pub fn register_targets(
        &mut self,
        operation: &'static str,
        arn: &str,
        ids: &[String],
        t: Ms,
    ) -> CloudResult<()> {
        self.target_group_mut(operation, arn)?;
        let invalid: Vec<&String> = ids
            .iter()
            .filter(|id| {
                self.instances
                    .get(*id)
                    .is_none_or(|i| !i.visible(t) || i.shutting_down(t))
            })
            .collect();
        if !invalid.is_empty() {
            let list: Vec<&str> = invalid.iter().map(|s| s.as_str()).collect();
            return Err(refused(
                operation,
                "InvalidTarget",
                format!(
                    "The following targets are not in a running state and cannot be \
                     registered: '{}'",
                    list.join(", ")
                ),
            ));
        }
        for id in ids {
            self.register(arn, id, t);
        }
        Ok(())
    }

    pub fn deregister_targets(
        &mut self,
        operation: &'static str,
        arn: &str,
        ids: &[String],
        t: Ms,
    ) -> CloudResult<()> {
        self.target_group_mut(operation, arn)?;
        for id in ids {
            self.deregister_one(arn, id, t);
        }
        Ok(())
    }

    /// One TerminateInstances call; returns how many of `ids` EC2 does not know.
    pub fn terminate_instances(&mut self, ids: &[String], t: Ms) -> usize {
        let mut unknown = 0;
        for id in ids {
            if self.instances.get(id).is_some_and(|i| i.visible(t)) {
                self.ec2_terminate(id, t);
            } else {
                unknown += 1;
            }
        }
        unknown
    }

    /// One RunInstances call (at most 1000 instances). Returns the ids and when they start
    /// (later than `t` when the RunInstances rate limit makes the launch wait).
    pub fn run_instances(
        &mut self,
        operation: &'static str,
        spec: &RunSpec,
        count: u32,
        token: Option<&str>,
        t: Ms,
    ) -> CloudResult<(Vec<String>, Ms)> {
        if let Some(ids) = token.and_then(|k| self.client_tokens.get(k)) {
            return Ok((ids.clone(), t));
        }
        let what = format!(
            "launch template {} version {} in {}",
            spec.launch_template_id, spec.launch_template_version, spec.subnet_id
        );
        let lt = self
            .templates
            .get(&spec.launch_template_id)
            .ok_or_else(|| {
                not_found(operation, what.clone(), "InvalidLaunchTemplateId.NotFound")
            })?;
        let (_, launch) = lt.version(&spec.launch_template_version).ok_or_else(|| {
            not_found(
                operation,
                what.clone(),
                "InvalidLaunchTemplateId.VersionNotFound",
            )
        })?;
        let launch = launch.clone();
        let subnet = self
            .subnets
            .get(&spec.subnet_id)
            .cloned()
            .ok_or_else(|| not_found(operation, what.clone(), "InvalidSubnetID.NotFound"))?;
        if self
            .config
            .insufficient_capacity_azs
            .contains(&subnet.availability_zone)
        {
            return Err(refused(
                operation,
                "InsufficientInstanceCapacity",
                format!(
                    "{}.",
                    insufficient_capacity(&launch.instance_type, &subnet.availability_zone)
                ),
            ));
        }
        if !self.image_exists(&launch.image_id) {
            return Err(not_found(
                operation,
                format!("image {}", launch.image_id),
                "InvalidAMIID.NotFound",
            ));
        }
        let start = self.reserve(Kind::RunInstances, t, count as f64);
        let mut tags = launch.instance_tags.clone();
        tags.extend(spec.tags.clone());
        let ids: Vec<String> = (0..count)
            .map(|_| {
                self.launch(
                    &launch,
                    &subnet,
                    tags.clone(),
                    Some((
                        spec.launch_template_id.clone(),
                        spec.launch_template_version.clone(),
                    )),
                    start,
                )
            })
            .collect();
        if let Some(k) = token {
            self.client_tokens.insert(k.to_string(), ids.clone());
        }
        Ok((ids, start))
    }

    /// One CreateTags call on instances.
    pub fn tag_instances(
        &mut self,
        operation: &'static str,
        ids: &[String],
        tags: &Tags,
        t: Ms,
    ) -> CloudResult<()> {
        if let Some(id) = ids
            .iter()
            .find(|id| self.instances.get(*id).is_none_or(|i| !i.visible(t)))
        {
            return Err(not_found(
                operation,
                format!("instance {id}"),
                "InvalidInstanceID.NotFound",
            ));
        }
        for id in ids {
            self.instances
                .get_mut(id)
                .expect("instance")
                .tags
                .extend(tags.clone());
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Snapshot

    // -----------------------------------------------------------------------------------------
    // Importing an observed account

    /// Puts what was observed in a real account into this (empty) world at time `t`, with the
    /// same ids: every instance booted and in service, every listed target registered (and
    /// healthy once its target group's health checks have passed, counted from `t`), draining
    /// targets left out.
    pub fn import(&mut self, seed: &SimSeed, t: Ms) {
        for img in &seed.images {
            self.images
                .entry(self.config.region.clone())
                .or_default()
                .insert(img.id.clone(), img.clone());
        }
        for v in &seed.vpcs {
            self.vpcs.insert(v.id.clone(), v.clone());
        }
        for sn in &seed.subnets {
            self.subnets.insert(sn.id.clone(), sn.clone());
        }
        for sg in &seed.security_groups {
            self.security_groups.insert(sg.id.clone(), sg.clone());
        }
        // What the imported generations launch exists in the account, whether or not the
        // stack still looks it up.
        for spec in seed
            .launch_templates
            .iter()
            .flat_map(|lt| lt.versions.values())
        {
            let region = self.config.region.clone();
            let images = self.images.entry(region).or_default();
            images
                .entry(spec.image_id.clone())
                .or_insert_with(|| ImageInfo {
                    id: spec.image_id.clone(),
                    name: spec.image_id.clone(),
                    owner: self.config.account_id.clone(),
                    creation_date: IMAGE_CREATION_DATE.to_string(),
                    state: "available".into(),
                    architecture: None,
                    tags: Tags::new(),
                    snapshots: Vec::new(),
                });
        }
        for lt in &seed.launch_templates {
            let latest = lt
                .versions
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0)
                .max(lt.info.latest_version);
            self.templates.insert(
                lt.info.id.clone(),
                Template {
                    id: lt.info.id.clone(),
                    name: lt.info.name.clone(),
                    tags: lt.info.tags.clone(),
                    versions: lt.versions.clone(),
                    latest,
                    default: lt.versions.keys().next().copied().unwrap_or(1),
                },
            );
        }
        for tg in &seed.target_groups {
            let targets = tg
                .targets
                .iter()
                .filter(|h| h.state != "draining")
                .map(|h| {
                    (
                        h.id.clone(),
                        Registration {
                            registered_at: t,
                            drain_until: None,
                        },
                    )
                })
                .collect();
            self.target_groups.insert(
                tg.info.arn.clone(),
                TargetGroup {
                    arn: tg.info.arn.clone(),
                    spec: with_defaults(tg.info.spec.clone()),
                    tags: tg.info.tags.clone(),
                    in_use_since: None,
                    targets,
                },
            );
        }
        for lb in &seed.load_balancers {
            self.load_balancers.insert(
                lb.info.arn.clone(),
                LoadBalancer {
                    arn: lb.info.arn.clone(),
                    dns_name: lb.info.dns_name.clone(),
                    spec: lb.info.spec.clone(),
                    tags: lb.info.tags.clone(),
                },
            );
            for l in &lb.listeners {
                self.listeners.insert(
                    l.arn.clone(),
                    Listener {
                        arn: l.arn.clone(),
                        load_balancer_arn: l.load_balancer_arn.clone(),
                        spec: l.spec.clone(),
                        tags: Tags::new(),
                    },
                );
            }
        }
        self.update_usage(t);
        let mut membership: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for g in &seed.groups {
            let template = g.launch_template_id.clone().unwrap_or_default();
            for m in &g.instances {
                let version = m
                    .launch_template_version
                    .clone()
                    .or_else(|| g.launch_template_version.clone());
                membership.insert(m.id.clone(), (g.name.clone(), version));
            }
            self.groups.insert(
                g.name.clone(),
                Group {
                    spec: GroupSpec {
                        name: g.name.clone(),
                        launch_template_id: template,
                        launch_template_version: g
                            .launch_template_version
                            .clone()
                            .unwrap_or_else(|| "$Latest".into()),
                        min: g.min,
                        max: g.max,
                        desired: g.desired,
                        subnet_ids: g.subnet_ids.clone(),
                        target_group_arns: g.target_group_arns.clone(),
                        health_check_type: "ELB".into(),
                        health_check_grace_seconds: 0,
                        tags: g.tags.clone(),
                        settings: Default::default(),
                    },
                    suspended: g.suspended_processes.clone(),
                    deleting: false,
                    retry_at: None,
                },
            );
        }
        for i in &seed.instances {
            if !matches!(i.state.as_str(), "pending" | "running") {
                continue;
            }
            let (group, version) = match membership.get(&i.id) {
                Some((g, v)) => (Some(g.clone()), v.clone()),
                None => (None, None),
            };
            let template = group
                .as_ref()
                .and_then(|g| self.groups.get(g))
                .map(|g| g.spec.launch_template_id.clone());
            self.seq += 1;
            let subnet = i.subnet_id.clone().unwrap_or_default();
            let zone = i.availability_zone.clone().or_else(|| {
                self.subnets
                    .get(&subnet)
                    .map(|s| s.availability_zone.clone())
            });
            self.instances.insert(
                i.id.clone(),
                Instance {
                    id: i.id.clone(),
                    seq: self.seq,
                    image_id: i.image_id.clone().unwrap_or_default(),
                    instance_type: i.instance_type.clone().unwrap_or_default(),
                    subnet_id: subnet,
                    availability_zone: zone.unwrap_or_default(),
                    private_ip: i.private_ip.clone().unwrap_or_default(),
                    tags: i.tags.clone(),
                    launch_template: template.zip(version),
                    group: group.clone(),
                    launched_by: group,
                    launch_at: t,
                    running_at: t,
                    held_until: None,
                    abandon_on_timeout: false,
                    terminate_held_until: None,
                    booted: true,
                    unhealthy_at: None,
                    terminating_at: None,
                    shutdown_at: None,
                    terminated_at: None,
                    shut_down: false,
                    gone: false,
                    terminated_with: BTreeMap::new(),
                },
            );
        }
        self.settled = self.settled.max(t);
    }

    pub fn snapshot(&self, t: Ms) -> SimSnapshot {
        let members = self.members_by_group(t);
        let mut instances: Vec<&Instance> =
            self.instances.values().filter(|i| i.visible(t)).collect();
        instances.sort_by_key(|i| i.seq);
        SimSnapshot {
            at: Duration::from_millis(t),
            instances: instances
                .into_iter()
                .map(|i| SimInstance {
                    id: i.id.clone(),
                    stack: i.tags.get(tag::STACK).cloned(),
                    group: i.group.clone(),
                    launched_by: i.launched_by.clone(),
                    fleet: i.tags.get(tag::FLEET).cloned(),
                    image_id: i.image_id.clone(),
                    state: i.state(t).to_string(),
                    lifecycle: i.group.as_ref().map(|_| i.lifecycle(t).to_string()),
                    terminated_with: i.terminated_with.clone(),
                })
                .collect(),
            groups: self
                .groups
                .values()
                .map(|g| SimGroup {
                    name: g.spec.name.clone(),
                    stack: g.spec.tags.get(tag::STACK).cloned(),
                    min: g.spec.min,
                    desired: g.spec.desired,
                    max: g.spec.max,
                    instances: members
                        .get(g.spec.name.as_str())
                        .into_iter()
                        .flatten()
                        .map(|i| i.id.clone())
                        .collect(),
                    deleting: g.deleting,
                    spec: g.spec.clone(),
                })
                .collect(),
            target_groups: self
                .target_groups
                .values()
                .map(|tg| SimTargetGroup {
                    arn: tg.arn.clone(),
                    name: tg.spec.name.clone(),
                    stack: tg.tags.get(tag::STACK).cloned(),
                    targets: tg
                        .targets
                        .iter()
                        .filter_map(|(id, reg)| {
                            let (state, _) = self.target_state(tg, id, reg, t)?;
                            Some((id.clone(), state.to_string()))
                        })
                        .collect(),
                })
                .collect(),
            listeners: self
                .listeners
                .values()
                .map(|l| SimListener {
                    arn: l.arn.clone(),
                    load_balancer_arn: l.load_balancer_arn.clone(),
                    port: l.spec.port,
                    forward: l.spec.forward.clone(),
                })
                .collect(),
        }
    }
}

/// The wall-clock time a simulated time stands for (launch times).
pub fn wall_time(t: Ms) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS) + Duration::from_millis(t)
}

/// The simulated time a wall-clock time stands for (0 for anything before the epoch).
pub fn sim_time(at: SystemTime) -> Ms {
    at.duration_since(UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS))
        .map_or(0, |d| d.as_millis() as Ms)
}

fn load_balancer_info(lb: &LoadBalancer) -> LoadBalancerInfo {
    LoadBalancerInfo {
        arn: lb.arn.clone(),
        dns_name: lb.dns_name.clone(),
        spec: lb.spec.clone(),
        state: Some("active".into()),
        tags: lb.tags.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_ec2_filters() {
        assert!(glob_match("demo-app-*", "demo-app-1.0.0"));
        assert!(glob_match("demo-app-1.?.0", "demo-app-1.1.0"));
        assert!(!glob_match("demo-app-*", "other-1.0.0"));
    }

    #[test]
    fn fills_aws_defaults_for_unset_health_checks() {
        let spec = with_defaults(TargetGroupSpec {
            name: "x".into(),
            port: 80,
            ..Default::default()
        });
        assert_eq!(spec.health_check.interval_seconds, 30);
        assert_eq!(spec.health_check.healthy_threshold, 5);
        assert_eq!(spec.health_check.unhealthy_threshold, 2);
        assert_eq!(spec.target_type, "instance");
    }
}
