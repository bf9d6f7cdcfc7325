//! Reading what a stack actually runs, by tag, in a handful of batched calls.
//!
//! The number of calls grows with the number of server groups, target groups and load
//! balancers, never with the number of instances (beyond one page per 1000).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cloud::states::{InstanceHealth, InstanceState, Lifecycle, TargetState};
use crate::cloud::{
    tag, Cloud, CloudError, CloudResult, GroupInfo, InstanceInfo, InstanceRefresh, LaunchSpec,
    LaunchTemplateInfo, ListenerInfo, LoadBalancerInfo, TargetGroupInfo, TargetHealth,
};
use crate::names;
use crate::stack::{ImageLabel, Known};

/// Lifecycle of one generation, kept in its `reroll:state` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    /// Serving; the generation the stack file was last applied as.
    Active,
    /// Being rolled in; a rollout that stopped part-way leaves this.
    Rolling,
    /// Kept at zero capacity for rollback.
    Retired,
    /// Its rollout failed; kept as a record of the failed fingerprint.
    Failed,
}

impl GenerationState {
    pub fn as_str(self) -> &'static str {
        match self {
            GenerationState::Active => "active",
            GenerationState::Rolling => "rolling",
            GenerationState::Retired => "retired",
            GenerationState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => GenerationState::Active,
            "rolling" => GenerationState::Rolling,
            "retired" => GenerationState::Retired,
            "failed" => GenerationState::Failed,
            _ => return None,
        })
    }
}

/// One generation of a server group: an Auto Scaling group and its launch template version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub number: u32,
    pub fingerprint: Option<String>,
    pub state: GenerationState,
    pub group: GroupInfo,
    /// The capacity the stack file asked for when this generation was last applied.
    pub applied_desired: Option<u32>,
    /// The last definition rolled back from this generation: fingerprint and time.
    pub failed: Option<(String, String)>,
    /// The group's newest instance refresh, read for serving and rolling generations; `None`
    /// when there is none, or when the cloud cannot say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_refresh: Option<InstanceRefresh>,
}

impl Generation {
    /// The image this generation launches and its name and creation date, as recorded on it
    /// when it was created (`reroll:image`); generations created before that was recorded
    /// have none.
    pub fn image(&self) -> Option<(String, ImageLabel)> {
        let (id, mut label) = ImageLabel::from_tag(self.group.tags.get(tag::IMAGE)?)?;
        label.source = self.group.tags.get(tag::IMAGE_SOURCE).cloned();
        Some((id, label))
    }

    /// The name and creation date of `image_id`, if this generation recorded them for it.
    pub fn image_label(&self, image_id: &str) -> Option<ImageLabel> {
        self.image()
            .filter(|(id, _)| id == image_id)
            .map(|(_, label)| label)
    }

    /// Instances that are in service and healthy as far as Auto Scaling knows.
    pub fn in_service(&self) -> usize {
        self.group
            .instances
            .iter()
            .filter(|i| i.in_service())
            .count()
    }
}

/// A server group as it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedGroup {
    pub key: String,
    pub address: Option<String>,
    /// Oldest first.
    pub generations: Vec<Generation>,
    pub launch_template: Option<LaunchTemplateInfo>,
    /// What the active generation launches, read from its launch template version.
    pub active_launch: Option<LaunchSpec>,
    /// Numbers of generations AWS is still deleting: not in service, but their names are taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleting: Vec<u32>,
}

impl ObservedGroup {
    /// The serving generation: the one marked active that committed last (`reroll:completed`;
    /// the newest among those that did not record it). Two are marked active only when an
    /// apply or a rollback stopped between its commit point and retiring the one before
    /// (see [`ObservedGroup::superseded`]); a rollback commits an older generation.
    pub fn active(&self) -> Option<&Generation> {
        self.generations
            .iter()
            .filter(|g| g.state == GenerationState::Active)
            .max_by(|a, b| {
                let committed = |g: &Generation| g.group.tags.get(tag::COMPLETED).cloned();
                committed(a)
                    .cmp(&committed(b))
                    .then(a.number.cmp(&b.number))
            })
    }

    /// Generations still marked active beside the serving one: an apply or a rollback
    /// stopped after its commit point, before it retired them.
    pub fn superseded(&self) -> Vec<&Generation> {
        let serving = self.active().map(|a| a.number);
        self.generations
            .iter()
            .filter(|g| g.state == GenerationState::Active && Some(g.number) != serving)
            .collect()
    }

    /// Generations that still record scaling processes reroll suspended: a rollout stopped
    /// where its cleanup could not run (a crash, a second Ctrl-C).
    pub fn still_suspended(&self) -> Vec<&Generation> {
        self.generations
            .iter()
            .filter(|g| g.group.status.is_none())
            .filter(|g| {
                g.group
                    .tags
                    .get(tag::SUSPENDED)
                    .is_some_and(|v| !v.is_empty())
            })
            .collect()
    }

    pub fn newest(&self) -> Option<&Generation> {
        self.generations.last()
    }

    /// The number the next generation takes: above every generation, including ones being
    /// deleted (their group names are not free yet).
    pub fn next_number(&self) -> u32 {
        self.generations
            .iter()
            .map(|g| g.number)
            .chain(self.deleting.iter().copied())
            .max()
            .unwrap_or(0)
            + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTargetGroup {
    pub address: String,
    pub info: TargetGroupInfo,
    pub health: Vec<TargetHealth>,
}

impl ObservedTargetGroup {
    pub fn healthy(&self) -> usize {
        self.health
            .iter()
            .filter(|t| t.state == TargetState::Healthy)
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedLoadBalancer {
    pub address: String,
    pub info: LoadBalancerInfo,
    pub listeners: Vec<ListenerInfo>,
}

/// A blue/green generation's own copy of one of the stack's target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupCopy {
    /// Address of the stack's target group it copies.
    pub of: String,
    /// Key of the server group and number of the generation it belongs to.
    pub group: String,
    pub generation: u32,
    pub info: TargetGroupInfo,
    pub health: Vec<TargetHealth>,
}

/// Everything the stack owns in the account, keyed for the planner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub stack: String,
    pub region: String,
    /// By group key.
    pub groups: BTreeMap<String, ObservedGroup>,
    /// By address.
    pub target_groups: BTreeMap<String, ObservedTargetGroup>,
    /// By address.
    pub load_balancers: BTreeMap<String, ObservedLoadBalancer>,
    /// Every live instance carrying the stack's tag.
    pub instances: Vec<InstanceInfo>,
    /// Blue/green generations' copies of target groups.
    pub copies: Vec<TargetGroupCopy>,
    /// State of each CloudWatch alarm the stack's rollouts watch; missing alarms are absent.
    pub alarms: BTreeMap<String, String>,
    /// Names the stack would create that a resource without this stack's tag holds, by the
    /// address that would create them (`engine::collisions`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub taken: BTreeMap<String, Taken>,
    /// Target health was not read ([`observe_for_plan`]): every target group's and copy's
    /// `health` is empty, and whoever needs it reads it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub health_unread: bool,
}

/// A name the stack would create, held by a resource that is not the stack's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// `target group`, `load balancer`, `Auto Scaling group`, `launch template`.
    pub noun: String,
    pub name: String,
    /// Its ARN (target groups, load balancers), template id, or group name.
    pub id: String,
    /// Who it belongs to, for people: `it has no reroll:stack tag (team=legacy)`.
    pub owner: String,
}

impl Observed {
    /// Attributes of existing resources that a stack may refer to (`arn`, `dns_name`).
    pub fn known_attributes(&self, known: &mut Known) {
        for tg in self.target_groups.values() {
            let a = known.attributes.entry(tg.address.clone()).or_default();
            a.insert("arn".into(), tg.info.arn.clone());
        }
        for lb in self.load_balancers.values() {
            let a = known.attributes.entry(lb.address.clone()).or_default();
            a.insert("arn".into(), lb.info.arn.clone());
            a.insert("dns_name".into(), lb.info.dns_name.clone());
        }
    }

    /// The group of this key, created empty when first seen.
    fn group_entry(&mut self, key: String) -> &mut ObservedGroup {
        self.groups
            .entry(key.clone())
            .or_insert_with(|| ObservedGroup {
                key,
                ..Default::default()
            })
    }

    pub fn target_group_arn(&self, address: &str) -> Option<&str> {
        self.target_groups.get(address).map(|t| t.info.arn.as_str())
    }

    /// The copy of a target group that serves: the one owned by the active generation of a
    /// blue/green group, if there is one.
    pub fn serving_copy(&self, address: &str) -> Option<&TargetGroupCopy> {
        self.copies.iter().find(|c| {
            c.of == address
                && self
                    .groups
                    .get(&c.group)
                    .and_then(ObservedGroup::active)
                    .is_some_and(|a| a.number == c.generation)
        })
    }

    /// Where traffic for the stack's target group `address` goes: the serving copy of a
    /// blue/green group, else the target group itself.
    pub fn serving_target_group_arn(&self, address: &str) -> Option<&str> {
        self.serving_copy(address)
            .map(|c| c.info.arn.as_str())
            .or_else(|| self.target_group_arn(address))
    }

    /// Instances of `gen` serving: in service and healthy as Auto Scaling knows them and, when
    /// the generation is attached to target groups the stack owns, healthy in every one of them.
    pub fn serving(&self, gen: &Generation) -> usize {
        let groups: Vec<&ObservedTargetGroup> = self
            .target_groups
            .values()
            .filter(|tg| gen.group.target_group_arns.contains(&tg.info.arn))
            .collect();
        gen.group
            .instances
            .iter()
            .filter(|i| {
                i.serving(
                    groups
                        .iter()
                        .map(|tg| tg.health.iter().find(|t| t.id == i.id).map(|t| &t.state)),
                )
            })
            .count()
    }

    /// A listener's forward action with every blue/green copy counted as the target group it
    /// copies (weights merged), so that traffic mid-shift or on a copy is not a difference
    /// from the stack file.
    pub fn canonical_listener(
        &self,
        spec: &crate::cloud::ListenerSpec,
    ) -> crate::cloud::ListenerSpec {
        let forward = crate::cloud::remap_forward(&spec.forward, |arn| {
            let serving = self
                .copies
                .iter()
                .find(|c| c.info.arn == arn)
                .and_then(|c| self.serving_target_group_arn(&c.of));
            Some(serving.unwrap_or(arn).to_string())
        });
        crate::cloud::ListenerSpec {
            forward,
            ..spec.clone()
        }
    }

    /// A digest of what a plan depends on: resources, their settings, generations and
    /// capacities, but not instance-level churn (an instance replaced by Auto Scaling does not
    /// invalidate a saved plan; a new generation or a changed capacity does).
    pub fn digest(&self) -> String {
        use serde_json::json;
        let groups: Vec<serde_json::Value> = self
            .groups
            .values()
            .flat_map(|g| {
                g.generations.iter().map(move |x| {
                    json!([
                        g.key,
                        x.number,
                        x.fingerprint,
                        x.state.as_str(),
                        x.group.min,
                        x.group.desired,
                        x.group.max
                    ])
                })
            })
            .collect();
        let tgs: Vec<serde_json::Value> = self
            .target_groups
            .iter()
            .map(|(a, t)| json!([a, t.info.spec]))
            .collect();
        let lbs: Vec<serde_json::Value> = self
            .load_balancers
            .iter()
            .map(|(a, l)| {
                let listeners: Vec<&crate::cloud::ListenerSpec> =
                    l.listeners.iter().map(|x| &x.spec).collect();
                json!([a, l.info.spec, listeners])
            })
            .collect();
        let doc = json!([self.stack, self.region, groups, tgs, lbs]);
        hex::encode(Sha256::digest(doc.to_string().as_bytes()))
    }
}

/// Generations of a stack: its Auto Scaling groups and, when `fleets`, its instance-mode
/// generations (plain instances grouped by their `reroll:fleet` tag) in the same shape.
pub async fn generations(
    cloud: &dyn Cloud,
    stack: &str,
    fleets: bool,
) -> CloudResult<Vec<GroupInfo>> {
    if !fleets {
        return cloud.list_groups(stack).await;
    }
    let (mut groups, instances) =
        tokio::try_join!(cloud.list_groups(stack), cloud.list_instances(stack))?;
    groups.extend(fleet_groups(&instances));
    Ok(groups)
}

/// Instance-mode generations, shaped as groups: desired is the number of live instances,
/// lifecycle follows the EC2 state, and the tags are the generation's (from its instances).
pub fn fleet_groups(instances: &[InstanceInfo]) -> Vec<GroupInfo> {
    let mut by_fleet: BTreeMap<&str, Vec<&InstanceInfo>> = BTreeMap::new();
    for i in instances {
        if let Some(f) = i.tags.get(tag::FLEET) {
            if i.state.is_live() {
                by_fleet.entry(f).or_default().push(i);
            }
        }
    }
    by_fleet
        .into_iter()
        .map(|(name, members)| {
            // Generation-level tags are written to all instances together; the newest wins.
            let tags = members
                .iter()
                .max_by_key(|i| i.launch_time)
                .map(|i| i.tags.clone())
                .unwrap_or_default();
            let mut subnets: Vec<String> =
                members.iter().filter_map(|i| i.subnet_id.clone()).collect();
            subnets.sort();
            subnets.dedup();
            GroupInfo {
                name: name.to_string(),
                min: 0,
                max: members.len() as u32,
                desired: members.len() as u32,
                launch_template_id: tags.get(tag::LAUNCH_TEMPLATE).cloned(),
                launch_template_version: tags.get(tag::LAUNCH_VERSION).cloned(),
                tags,
                target_group_arns: Vec::new(),
                subnet_ids: subnets,
                instances: members
                    .iter()
                    .map(|i| crate::cloud::GroupInstance {
                        id: i.id.clone(),
                        lifecycle_state: if i.state == InstanceState::Running {
                            Lifecycle::InService
                        } else {
                            Lifecycle::Pending
                        },
                        health_status: InstanceHealth::Healthy,
                        availability_zone: i.availability_zone.clone(),
                        launch_template_version: i.tags.get(tag::LAUNCH_VERSION).cloned(),
                    })
                    .collect(),
                suspended_processes: Vec::new(),
                status: None,
                settings: None,
            }
        })
        .collect()
}

/// Reads the stack's resources. Calls run concurrently where they are independent.
pub async fn observe(cloud: &dyn Cloud, stack: &str) -> CloudResult<Observed> {
    observe_with(cloud, stack, true).await
}

/// What a plan reads: the stack's resources without their target health, which no plan
/// depends on (one DescribeTargetHealth per target group saved; `status` reads it, and an
/// apply looks at health afresh before it acts on it). [`Observed::health_unread`] says so.
pub async fn observe_for_plan(cloud: &dyn Cloud, stack: &str) -> CloudResult<Observed> {
    observe_with(cloud, stack, false).await
}

async fn observe_with(cloud: &dyn Cloud, stack: &str, health: bool) -> CloudResult<Observed> {
    let prefix = names::elb_prefix(stack);
    let (mut groups, instances, templates, tgs, lbs) = tokio::try_join!(
        cloud.list_groups(stack),
        cloud.list_instances(stack),
        cloud.list_launch_templates(stack),
        cloud.list_target_groups(stack, &prefix),
        cloud.list_load_balancers(stack, &prefix),
    )?;

    groups.extend(fleet_groups(&instances));
    let mut observed = Observed {
        stack: stack.to_string(),
        region: cloud.region().to_string(),
        instances,
        ..Default::default()
    };

    observed.health_unread = !health;
    let health = if health {
        futures_join_all(tgs.iter().map(|tg| cloud.target_health(&tg.arn))).await?
    } else {
        vec![Vec::new(); tgs.len()]
    };
    for (info, health) in tgs.into_iter().zip(health) {
        observed.add_target_group(info, health);
    }

    let listeners = futures_join_all(lbs.iter().map(|lb| cloud.list_listeners(&lb.arn))).await?;
    for (info, listeners) in lbs.into_iter().zip(listeners) {
        let Some(address) = info
            .tags
            .get(tag::ADDRESS)
            .map(|a| names::address_from_tag(a))
        else {
            continue;
        };
        observed.load_balancers.insert(
            address.clone(),
            ObservedLoadBalancer {
                address,
                info,
                listeners,
            },
        );
    }

    for lt in templates {
        if let Some(key) = lt.tags.get(tag::GROUP).cloned() {
            observed.group_entry(key).launch_template = Some(lt);
        }
    }
    for g in groups {
        observed.add_generation(g);
    }
    for g in observed.groups.values_mut() {
        g.generations.sort_by_key(|x| x.number);
    }

    read_refreshes(cloud, &mut observed).await?;
    read_active_launches(cloud, &mut observed).await?;
    Ok(observed)
}

impl Observed {
    /// The stack address of every target group by ARN; a blue/green copy stands for the
    /// target group it copies.
    pub fn target_group_addresses(&self) -> std::collections::BTreeMap<&str, &str> {
        self.target_groups
            .values()
            .map(|t| (t.info.arn.as_str(), t.address.as_str()))
            .chain(
                self.copies
                    .iter()
                    .map(|c| (c.info.arn.as_str(), c.of.as_str())),
            )
            .collect()
    }

    /// A target group of the stack, by its address, or a blue/green copy of one.
    fn add_target_group(&mut self, info: TargetGroupInfo, health: Vec<TargetHealth>) {
        if let (Some(of), Some(group), Some(generation)) = (
            info.tags
                .get(tag::COPY_OF)
                .map(|a| names::address_from_tag(a)),
            info.tags.get(tag::GROUP).cloned(),
            info.tags.get(tag::GENERATION).and_then(|g| g.parse().ok()),
        ) {
            self.copies.push(TargetGroupCopy {
                of,
                group,
                generation,
                info,
                health,
            });
            return;
        }
        let Some(address) = info
            .tags
            .get(tag::ADDRESS)
            .map(|a| names::address_from_tag(a))
        else {
            return;
        };
        self.target_groups.insert(
            address.clone(),
            ObservedTargetGroup {
                address,
                info,
                health,
            },
        );
    }

    /// One generation of a server group, by its tags; a group AWS is deleting only keeps its
    /// number taken.
    fn add_generation(&mut self, g: GroupInfo) {
        let Some(key) = g.tags.get(tag::GROUP).cloned() else {
            return;
        };
        let number = g
            .tags
            .get(tag::GENERATION)
            .and_then(|n| n.parse().ok())
            .or_else(|| names::parse_generation(&g.name))
            .unwrap_or(0);
        // A group AWS is deleting is on its way out, whatever its tags say; only its name is
        // still taken.
        if g.status.as_deref().is_some_and(|s| s.starts_with("Delete")) {
            self.group_entry(key).deleting.push(number);
            return;
        }
        let state = g
            .tags
            .get(tag::STATE)
            .and_then(|s| GenerationState::parse(s))
            .unwrap_or(GenerationState::Rolling);
        let entry = self.group_entry(key);
        if entry.address.is_none() {
            entry.address = g.tags.get(tag::ADDRESS).map(|a| names::address_from_tag(a));
        }
        entry.generations.push(Generation {
            number,
            fingerprint: g.tags.get(tag::FINGERPRINT).cloned(),
            state,
            applied_desired: g.tags.get(tag::DESIRED).and_then(|d| d.parse().ok()),
            failed: g.tags.get(tag::FAILED).and_then(|f| {
                let (fp, at) = f.split_once(' ')?;
                Some((fp.to_string(), at.to_string()))
            }),
            group: g,
            instance_refresh: None,
        });
    }
}

/// Serving generations from which one read of every template's latest version is cheaper than
/// a read each (a page holds 200, and an account holds templates of other stacks too).
const LATEST_VERSIONS_WORTH_IT: usize = 3;

/// What the active generations launch, for the plan's before-values: the latest versions of
/// every template in one paged read when that saves calls (a serving generation usually runs
/// its template's latest version), then one call per group whose version that did not show.
async fn read_active_launches(cloud: &dyn Cloud, observed: &mut Observed) -> CloudResult<()> {
    let mut wanted: Vec<(String, String, String)> = observed
        .groups
        .values()
        .filter_map(|g| {
            let active = g.active()?;
            Some((
                g.key.clone(),
                active.group.launch_template_id.clone()?,
                active.group.launch_template_version.clone()?,
            ))
        })
        .collect();
    if wanted.len() >= LATEST_VERSIONS_WORTH_IT {
        match cloud.latest_launch_template_versions().await {
            Ok(latest) => {
                let latest: HashMap<(&str, String), &LaunchSpec> = latest
                    .iter()
                    .map(|(id, n, spec)| ((id.as_str(), n.to_string()), spec))
                    .collect();
                wanted.retain(|(key, id, version)| {
                    match latest.get(&(id.as_str(), version.clone())) {
                        Some(spec) => {
                            if let Some(g) = observed.groups.get_mut(key) {
                                g.active_launch = Some((*spec).clone());
                            }
                            false
                        }
                        None => true,
                    }
                });
            }
            // Each group's version is read on its own instead.
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the latest launch template versions at once")
            }
        }
    }
    let specs = futures_join_all(
        wanted
            .iter()
            .map(|(_, id, version)| cloud.launch_template_version(id, version)),
    )
    .await?;
    for ((key, ..), spec) in wanted.into_iter().zip(specs) {
        if let Some(g) = observed.groups.get_mut(&key) {
            g.active_launch = Some(spec);
        }
    }
    Ok(())
}

/// The newest instance refresh of every serving and rolling Auto Scaling generation: one call
/// per such group. A cloud that cannot say (an emulator without the call, credentials without
/// the permission) leaves it unknown rather than failing the observation.
async fn read_refreshes(cloud: &dyn Cloud, observed: &mut Observed) -> CloudResult<()> {
    let wanted: Vec<(String, usize, String)> = observed
        .groups
        .values()
        .flat_map(|g| {
            g.generations.iter().enumerate().filter_map(|(i, x)| {
                let touched = matches!(x.state, GenerationState::Active | GenerationState::Rolling);
                (touched && !x.group.tags.contains_key(tag::FLEET))
                    .then(|| (g.key.clone(), i, x.group.name.clone()))
            })
        })
        .collect();
    let refreshes = futures_join_all(wanted.iter().map(|(_, _, name)| async move {
        match cloud.instance_refreshes(name).await {
            Err(e @ CloudError::Unauthorized { .. }) => {
                tracing::warn!(group = %name, error = %e, "cannot tell whether an instance refresh is in progress");
                Ok(None)
            }
            r => r,
        }
    }))
    .await?;
    for ((key, i, _), found) in wanted.into_iter().zip(refreshes) {
        let newest = found.and_then(|rs| rs.into_iter().next());
        if let Some(gen) = observed
            .groups
            .get_mut(&key)
            .and_then(|g| g.generations.get_mut(i))
        {
            gen.instance_refresh = newest;
        }
    }
    Ok(())
}

/// Runs futures concurrently (bounded) and collects their results in order.
async fn futures_join_all<T, F>(futures: impl IntoIterator<Item = F>) -> CloudResult<Vec<T>>
where
    F: std::future::Future<Output = CloudResult<T>>,
{
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(futures).buffered(16).try_collect().await
}
