//! How a generation's capacity is changed: through its Auto Scaling group, or (for
//! `mode = "instances"`) by launching, registering and terminating instances directly.
//! The rollout logic is the same for both; only these few operations differ.

use crate::cloud::{tag, Cloud, CloudResult, GroupInfo, RunSpec, Tags};
use crate::observe;
use crate::stack::{GroupMode, ServerGroup};

/// One server group's generations, seen and changed the way its mode says.
pub struct Fleet<'a> {
    pub cloud: &'a dyn Cloud,
    pub stack: &'a str,
    pub mode: GroupMode,
    /// Subnets new instances are spread across (instance mode).
    pub subnets: Vec<String>,
    /// Target groups reroll registers instances in (instance mode).
    pub target_group_arns: Vec<String>,
    /// The stack gives its groups a terminating lifecycle hook: old instances are terminated
    /// by their group (TerminateInstanceInAutoScalingGroup), so the hook runs, rather than
    /// detached and terminated.
    pub terminating_hook: bool,
}

impl<'a> Fleet<'a> {
    pub fn new(
        cloud: &'a dyn Cloud,
        stack: &'a str,
        g: &ServerGroup,
        target_group_arns: Vec<String>,
    ) -> Self {
        Fleet {
            cloud,
            stack,
            mode: g.mode,
            subnets: g.subnets.clone(),
            target_group_arns,
            terminating_hook: g.mode == GroupMode::Asg
                && g.scaling
                    .hooks(crate::stack::scaling::Transition::Terminating)
                    .next()
                    .is_some(),
        }
    }

    pub fn instances_mode(&self) -> bool {
        self.mode == GroupMode::Instances
    }

    /// Every generation of the stack in this mode's shape.
    pub async fn generations(&self) -> CloudResult<Vec<GroupInfo>> {
        observe::generations(self.cloud, self.stack, self.instances_mode()).await
    }

    pub async fn find(&self, name: &str) -> CloudResult<Option<GroupInfo>> {
        Ok(self
            .generations()
            .await?
            .into_iter()
            .find(|g| g.name == name))
    }

    /// An instance-mode generation with no instances is not visible in the account: this is
    /// how it looks.
    pub fn empty(&self, gen: &Generation) -> Option<GroupInfo> {
        self.instances_mode().then(|| GroupInfo {
            name: gen.name.clone(),
            min: 0,
            max: 0,
            desired: 0,
            tags: gen.tags.clone(),
            launch_template_id: gen.launch_template_id.clone(),
            launch_template_version: gen.launch_template_version.clone(),
            target_group_arns: Vec::new(),
            subnet_ids: Vec::new(),
            instances: Vec::new(),
            suspended_processes: Vec::new(),
            status: None,
            settings: None,
        })
    }

    /// Grows a generation to `desired` (instance mode launches the difference, spread across
    /// subnets, and registers it); for an Auto Scaling group, sets min/desired/max.
    pub async fn set_capacity(
        &self,
        gen: &Generation,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        if !self.instances_mode() {
            return self
                .cloud
                .set_group_capacity(&gen.name, min, desired, max)
                .await;
        }
        let current = self.find(&gen.name).await?;
        let live: Vec<String> = current
            .as_ref()
            .map(|c| c.instances.iter().map(|i| i.id.clone()).collect())
            .unwrap_or_default();
        if desired as usize <= live.len() {
            return Ok(());
        }
        let (Some(template), Some(version)) =
            (&gen.launch_template_id, &gen.launch_template_version)
        else {
            return Ok(());
        };
        // Fill the emptiest subnets first.
        let mut per_subnet: Vec<(usize, &String)> = self
            .subnets
            .iter()
            .map(|s| {
                let n = current
                    .as_ref()
                    .map_or(0, |c| c.subnet_ids.iter().filter(|x| *x == s).count());
                (n, s)
            })
            .collect();
        let mut counts: std::collections::BTreeMap<&String, u32> = Default::default();
        for _ in live.len()..desired as usize {
            per_subnet.sort();
            let slot = &mut per_subnet[0];
            slot.0 += 1;
            *counts.entry(slot.1).or_default() += 1;
        }
        let mut launched = Vec::new();
        for (subnet, count) in counts {
            let ids = self
                .cloud
                .run_instances(&RunSpec {
                    launch_template_id: template.clone(),
                    launch_template_version: version.clone(),
                    subnet_id: subnet.clone(),
                    count,
                    tags: gen.tags.clone(),
                    client_token: None,
                })
                .await?;
            launched.extend(ids);
        }
        for arn in &self.target_group_arns {
            self.cloud.register_targets(arn, &launched).await?;
        }
        Ok(())
    }

    /// Writes generation-level tags.
    pub async fn tag(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        if !self.instances_mode() {
            return self.cloud.set_group_tags(name, tags).await;
        }
        let ids = self.member_ids(name).await?;
        self.cloud.tag_instances(&ids, tags).await
    }

    /// Takes drained instances out of an Auto Scaling generation (lowering its desired
    /// capacity), first tagging them `reroll:released` so that they are found and terminated
    /// even if the terminate that must follow does not happen. Nothing to do in instance mode.
    pub async fn detach(&self, name: &str, ids: &[String]) -> CloudResult<()> {
        if self.instances_mode() {
            return Ok(());
        }
        let mut t = Tags::new();
        t.insert(tag::RELEASED.into(), crate::cloud::timestamp(self.cloud));
        self.cloud.tag_instances(ids, &t).await?;
        self.cloud.detach_instances(name, ids, true).await
    }

    /// Removes a whole generation.
    pub async fn delete(&self, name: &str) -> CloudResult<()> {
        if !self.instances_mode() {
            return self.cloud.delete_group(name).await;
        }
        let ids = self.member_ids(name).await?;
        for arn in &self.target_group_arns {
            self.cloud.deregister_targets(arn, &ids).await?;
        }
        self.cloud.terminate_instances(&ids).await
    }

    pub async fn suspend(&self, name: &str, processes: &[String]) -> CloudResult<()> {
        if self.instances_mode() {
            return Ok(());
        }
        self.cloud.suspend_processes(name, processes).await
    }

    pub async fn resume(&self, name: &str, processes: &[String]) -> CloudResult<()> {
        if self.instances_mode() {
            return Ok(());
        }
        self.cloud.resume_processes(name, processes).await
    }

    async fn member_ids(&self, name: &str) -> CloudResult<Vec<String>> {
        Ok(self
            .find(name)
            .await?
            .map(|g| g.instances.into_iter().map(|i| i.id).collect())
            .unwrap_or_default())
    }

    /// Instance mode: running instances of a generation that are missing from a target
    /// group are registered (a crash between launch and registration heals here).
    pub async fn heal_registration(
        &self,
        gen: &GroupInfo,
        registered: &dyn Fn(&str, &str) -> bool,
    ) -> CloudResult<()> {
        if !self.instances_mode() {
            return Ok(());
        }
        for arn in &self.target_group_arns {
            let missing: Vec<String> = gen
                .instances
                .iter()
                .filter(|i| i.in_service() && !registered(arn, &i.id))
                .map(|i| i.id.clone())
                .collect();
            if !missing.is_empty() {
                tracing::info!(group = %gen.name, count = missing.len(), "registering instances");
                self.cloud.register_targets(arn, &missing).await?;
            }
        }
        Ok(())
    }
}

/// What a fleet needs to know about a generation to grow it.
#[derive(Debug, Clone)]
pub struct Generation {
    pub name: String,
    pub launch_template_id: Option<String>,
    pub launch_template_version: Option<String>,
    /// Tags for instances launched into it (instance mode).
    pub tags: Tags,
}

impl Generation {
    pub fn of(g: &GroupInfo) -> Self {
        Generation {
            name: g.name.clone(),
            launch_template_id: g.launch_template_id.clone(),
            launch_template_version: g.launch_template_version.clone(),
            tags: g.tags.clone(),
        }
    }
}

/// Tags that make instances a member of an instance-mode generation.
pub fn fleet_tags(mut tags: Tags, name: &str, template: &str, version: &str) -> Tags {
    tags.insert(tag::FLEET.into(), name.into());
    tags.insert(tag::LAUNCH_TEMPLATE.into(), template.into());
    tags.insert(tag::LAUNCH_VERSION.into(), version.into());
    tags
}

/// The Auto Scaling group of a new generation launched from `def`: the stack's health check
/// type (else `ELB` with target groups, `EC2` without) and grace (else the rollout's
/// `health.grace`), and the rest of its settings as they are.
pub fn group_spec(
    def: &crate::plan::LaunchDefinition,
    g: &ServerGroup,
    name: &str,
    launch_template: (&str, &str),
    (min, desired, max): (u32, u32, u32),
    target_group_arns: &[String],
    tags: Tags,
) -> crate::cloud::GroupSpec {
    let s = &def.settings;
    let health_check_type = s.health_check_type_for(!target_group_arns.is_empty());
    crate::cloud::GroupSpec {
        name: name.to_string(),
        launch_template_id: launch_template.0.to_string(),
        launch_template_version: launch_template.1.to_string(),
        min,
        max,
        desired,
        subnet_ids: def.subnets.clone(),
        target_group_arns: target_group_arns.to_vec(),
        health_check_type,
        health_check_grace_seconds: s
            .health_check_grace_period
            .unwrap_or(g.rollout.health.grace.as_secs() as u32),
        tags,
        settings: s.clone(),
    }
}

/// Whether a group's settings need calls after its create: scaling policies, scheduled
/// actions or lifecycle hooks.
pub fn needs_configuring(s: &crate::cloud::scaling::GroupSettings) -> bool {
    !(s.scaling_policies.is_empty()
        && s.scheduled_actions.is_empty()
        && s.lifecycle_hooks.is_empty())
}
