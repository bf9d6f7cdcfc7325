//! Auto Scaling groups held at their desired capacity: launches balanced across zones,
//! scale-in victims, failed launches and their retries, and the scaling activities recorded.

use std::collections::BTreeMap;

use super::limits::Kind;
use super::resources::{Activity, Group, Instance};
use super::time::{seconds, wall_time, Ms, SECOND};
use super::util::{hex_u32, insufficient_capacity, vcpu_limit};
use super::world::World;
use crate::cloud::{LaunchSpec, SubnetInfo};

impl World {
    /// Brings a group to its desired capacity: launches or terminates the difference.
    pub(super) fn reconcile(&mut self, name: &str, t: Ms) {
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
        let Some(spec) = self.group_launch_spec(name, &g, t) else {
            return;
        };
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
        // Launches beyond the account's vCPU quota fail as EC2 refuses them; what fits starts.
        let mut count = count;
        if let Some((room, limit)) = self.vcpu_room(&spec.instance_type, t) {
            if room < count {
                self.fail_launch(name, t, &vcpu_limit(limit));
                self.retry_group(name, t);
                count = room;
                if count == 0 {
                    return;
                }
            }
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

    /// What group `name` launches: its launch template version, if that and its image exist.
    /// Otherwise the launch is recorded as failed at `t` and retried later.
    fn group_launch_spec(&mut self, name: &str, g: &Group, t: Ms) -> Option<LaunchSpec> {
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
            return None;
        };
        let spec = spec.clone();
        if !self.image_exists(&spec.image_id) {
            let failure = format!("The image id '[{}]' does not exist", spec.image_id);
            self.fail_launch(name, t, &failure);
            self.retry_group(name, t);
            return None;
        }
        Some(spec)
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

    fn retry_group(&mut self, name: &str, t: Ms) {
        let retry = seconds(self.config.asg_retry_seconds).max(1);
        if let Some(g) = self.groups.get_mut(name) {
            g.retry_at = Some(t + retry);
        }
    }
}
