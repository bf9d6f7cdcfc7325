//! EC2 instances: launching (directly or for a group), terminating, tagging and listing them.

use std::collections::BTreeMap;

use super::limits::Kind;
use super::resources::Instance;
use super::time::{wall_time, Ms, SECOND};
use super::util::{in_stack, insufficient_capacity, not_found, refused, vcpu_limit};
use super::world::World;
use crate::cloud::states::InstanceState;
use crate::cloud::{CloudResult, InstanceInfo, LaunchSpec, RunSpec, SubnetInfo, Tags};

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

impl World {
    /// Creates one instance; returns its id.
    pub(super) fn launch(
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
    pub(super) fn asg_terminate(&mut self, id: &str, t: Ms) {
        self.asg_terminate_with(id, t, true);
    }

    /// As [`Self::asg_terminate`]; without `hooks` (a group deleted with its instances) the
    /// group's terminating lifecycle hooks do not hold it, as AWS deletes their actions.
    pub(super) fn asg_terminate_with(&mut self, id: &str, t: Ms, hooks: bool) {
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
            .filter(|_| hooks)
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

    /// How many more instances of `instance_type` the account's On-Demand vCPU quota for its
    /// family lets start at `now`, with the quota; `None` when the quota is not set (unknown:
    /// no limit is modelled).
    pub(super) fn vcpu_room(&self, instance_type: &str, now: Ms) -> Option<(usize, u64)> {
        let (code, _) = crate::cloud::quota::vcpu_quota(instance_type);
        let limit = *self.config.service_quotas.get(&format!("ec2/{code}"))?;
        let each = u64::from(vcpus_of(instance_type).unwrap_or(2));
        let used: u64 = self
            .running_instance_types(now)
            .iter()
            .filter(|(t, _)| crate::cloud::quota::vcpu_quota(t).0 == code)
            .map(|(t, n)| u64::from(vcpus_of(t).unwrap_or(2)) * n)
            .sum();
        Some(((limit.saturating_sub(used) / each.max(1)) as usize, limit))
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

    fn instance_info(&self, i: &Instance, t: Ms) -> InstanceInfo {
        InstanceInfo {
            id: i.id.clone(),
            state: InstanceState::parse(i.state(t)),
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
    /// The stack's live instances; with `key`, only those carrying that tag.
    pub fn list_instances(&self, stack: &str, key: Option<&str>, t: Ms) -> Vec<InstanceInfo> {
        let mut live: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| i.visible(t) && !i.terminated(t) && in_stack(&i.tags, stack))
            .filter(|i| key.is_none_or(|k| i.tags.contains_key(k)))
            .collect();
        live.sort_by_key(|i| i.seq);
        live.into_iter().map(|i| self.instance_info(i, t)).collect()
    }

    /// Which of `ids` are live instances now.
    pub fn live_among(&self, ids: &[String], t: Ms) -> Vec<String> {
        ids.iter()
            .filter(|id| {
                self.instances.get(*id).is_some_and(|i| {
                    i.visible(t) && !i.terminated(t) && i.shutdown_at.is_none_or(|s| s > t)
                })
            })
            .cloned()
            .collect()
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
        if let Some((room, limit)) = self.vcpu_room(&launch.instance_type, t) {
            if room < count as usize {
                return Err(refused(
                    operation,
                    "VcpuLimitExceeded",
                    format!("{}.", vcpu_limit(limit)),
                ));
            }
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
}
