//! Seeding a fresh simulated account with what an observed one holds, with the same ids.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::SimConfig;
use super::images::IMAGE_CREATION_DATE;
use super::resources::{
    Group, Instance, Listener, LoadBalancer, Registration, TargetGroup, Template,
};
use super::simcloud::SimCloud;
use super::target_groups::with_defaults;
use super::time::Ms;
use super::world::World;
use crate::cloud::states::TargetState;
use crate::cloud::stats::Stats;
use crate::cloud::{
    GroupInfo, GroupSpec, ImageInfo, InstanceInfo, LaunchSpec, LaunchTemplateInfo, ListenerInfo,
    LoadBalancerInfo, SecurityGroupInfo, SubnetInfo, Tags, TargetGroupInfo, TargetHealth, VpcInfo,
};

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

/// An imported group member's group and launch template version, by instance id.
type Membership = BTreeMap<String, (String, Option<String>)>;

impl World {
    /// Puts what was observed in a real account into this (empty) world at time `t`, with the
    /// same ids: every instance booted and in service, every listed target registered (and
    /// healthy once its target group's health checks have passed, counted from `t`), draining
    /// targets left out.
    pub fn import(&mut self, seed: &SimSeed, t: Ms) {
        self.import_network(seed);
        self.import_launch_templates(seed);
        self.import_target_groups(seed, t);
        self.import_load_balancers(seed);
        self.update_usage(t);
        let membership = self.import_groups(seed);
        self.import_instances(seed, &membership, t);
        self.settled = self.settled.max(t);
    }

    /// Images, VPCs, subnets and security groups, as they are.
    fn import_network(&mut self, seed: &SimSeed) {
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
    }

    /// Launch templates with their versions, and the images those launch.
    fn import_launch_templates(&mut self, seed: &SimSeed) {
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
    }

    /// Target groups with their targets registered at `t`, draining ones left out.
    fn import_target_groups(&mut self, seed: &SimSeed, t: Ms) {
        for tg in &seed.target_groups {
            let targets = tg
                .targets
                .iter()
                .filter(|h| h.state != TargetState::Draining)
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
    }

    /// Load balancers and their listeners.
    fn import_load_balancers(&mut self, seed: &SimSeed) {
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
    }

    /// Auto Scaling groups; returns each member's group and launch template version, by
    /// instance id.
    fn import_groups(&mut self, seed: &SimSeed) -> Membership {
        let mut membership = Membership::new();
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
        membership
    }

    /// Instances that are `pending` or `running`, booted and in service since `t`.
    fn import_instances(&mut self, seed: &SimSeed, membership: &Membership, t: Ms) {
        for i in &seed.instances {
            if !i.state.is_live() {
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
    }
}

impl SimCloud {
    /// A fresh account holding what `seed` describes (with the same ids), every instance in
    /// service and every registered target healthy. Its clock starts an hour after the import.
    pub fn seeded(config: SimConfig, seed: &SimSeed, stats: Stats) -> SimCloud {
        let mut world = World::new(config);
        world.import(seed, 0);
        let start = SEEDED_START.as_millis() as Ms;
        world.settle(start);
        Self::with_world(world, start, stats)
    }
}
