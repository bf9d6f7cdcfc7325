//! Auto Scaling groups: creating, resizing, tagging, configuring, attaching target groups,
//! suspending processes, detaching instances, deleting; their activities, lifecycle actions and
//! instance refreshes.

use std::collections::BTreeMap;

use super::resources::{Activity, Group, Instance};
use super::time::{wall_time, Ms};
use super::util::{already_exists, group_not_found, hex_u32, in_stack, not_found, refused};
use super::world::World;
use crate::cloud::states::{InstanceHealth, Lifecycle};
use crate::cloud::{
    CloudResult, GroupInfo, GroupInstance, GroupSpec, Holder, InstanceRefresh, NamedKind,
    ScalingActivity, Tags,
};

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

impl World {
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

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

    /// The stack's groups among `names`, as DescribeAutoScalingGroups by name answers.
    pub fn describe_groups(&self, stack: &str, names: &[String], t: Ms) -> Vec<GroupInfo> {
        let mut members = self.members_by_group(t);
        names
            .iter()
            .filter_map(|n| self.groups.get(n.as_str()))
            .filter(|g| in_stack(&g.spec.tags, stack))
            .map(|g| {
                let m = members.remove(g.spec.name.as_str()).unwrap_or_default();
                self.group_info(g, t, m)
            })
            .collect()
    }

    /// Every group's visible members, in launch order, from one pass over the instances.
    pub(super) fn members_by_group(&self, t: Ms) -> BTreeMap<&str, Vec<&Instance>> {
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
                    lifecycle_state: Lifecycle::parse(i.lifecycle(t)),
                    health_status: if i.unhealthy_at.is_some_and(|u| u <= t) {
                        InstanceHealth::Unhealthy
                    } else {
                        InstanceHealth::Healthy
                    },
                    availability_zone: Some(i.availability_zone.clone()),
                    launch_template_version: i.launch_template.as_ref().map(|(_, v)| v.clone()),
                })
                .collect(),
            suspended_processes: g.suspended.clone(),
            status: g.deleting.then(|| "Delete in progress".to_string()),
            // The type and grace as the group holds them; AWS's defaults for the rest.
            settings: Some(crate::cloud::scaling::AsgSettings {
                health_check_type: s.health_check_type.clone(),
                health_check_grace_seconds: s.health_check_grace_seconds,
                ..s.settings.as_created(false, 0)
            }),
        }
    }

    /// The group named `name`, unless it is gone or being deleted.
    fn live_group(&self, operation: &'static str, name: &str) -> CloudResult<&Group> {
        self.groups
            .get(name)
            .filter(|g| !g.deleting)
            .ok_or_else(|| group_not_found(operation, name))
    }

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
        // CreateAutoScalingGroup takes lifecycle hooks, not scaling policies or scheduled
        // actions: those come with `configure_group` (PutScalingPolicy and the like).
        let mut spec = spec.clone();
        spec.settings.scaling_policies.clear();
        spec.settings.scheduled_actions.clear();
        let name = spec.name.clone();
        self.groups.insert(
            name.clone(),
            Group {
                spec,
                suspended: Vec::new(),
                deleting: false,
                retry_at: None,
            },
        );
        self.reconcile(&name, t);
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
        // A forced delete ends outstanding lifecycle actions: no hook holds them.
        for (id, visible) in members {
            if visible {
                self.asg_terminate_with(&id, t, false);
            } else {
                self.instances.remove(&id);
            }
        }
        self.drop_deleted_groups();
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
        let g = self.live_group(operation, name)?;
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
        if decrement {
            above_min(operation, g, "Detaching", ids.len())?;
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

    /// TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity: the group
    /// terminates each instance as it would in a scale-in (deregistered, held by a terminating
    /// hook), one fewer desired.
    pub fn terminate_in_group(
        &mut self,
        operation: &'static str,
        name: &str,
        ids: &[String],
        t: Ms,
    ) -> CloudResult<()> {
        let g = self.live_group(operation, name)?;
        for id in ids {
            if !self
                .instances
                .get(id)
                .is_some_and(|i| i.group.as_deref() == Some(name) && i.visible(t))
            {
                return Err(refused(
                    operation,
                    "ValidationError",
                    format!(
                        "Instance Id not found - No managed instance found for instance ID: {id}"
                    ),
                ));
            }
        }
        above_min(operation, g, "Terminating", ids.len())?;
        for id in ids {
            if self.instances[id].terminating_at.is_none() {
                self.asg_terminate(id, t);
                self.group_mut(operation, name)?.spec.desired -= 1;
            }
        }
        self.reconcile(name, t);
        Ok(())
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
}

/// Auto Scaling's refusal to lower a group below its minimum by taking `n` instances out with
/// ShouldDecrementDesiredCapacity.
fn above_min(operation: &'static str, g: &Group, doing: &str, n: usize) -> CloudResult<()> {
    if (g.spec.desired as usize) < g.spec.min as usize + n {
        return Err(refused(
            operation,
            "ValidationError",
            format!(
                "Currently, desiredCapacity is {} and minSize is {}. {doing} {n} instances with \
                 ShouldDecrementDesiredCapacity=true would violate the minimum size",
                g.spec.desired, g.spec.min
            ),
        ));
    }
    Ok(())
}
