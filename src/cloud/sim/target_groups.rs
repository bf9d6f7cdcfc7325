//! Target groups: AWS's defaults, registrations, health as ELBv2 reports it (checks, the
//! image fault, draining, `unused`), and the target group and target calls.

use std::collections::{BTreeMap, BTreeSet};

use super::resources::{Instance, Registration, TargetGroup};
use super::time::{Ms, SECOND};
use super::util::{already_exists, in_stack, not_found, refused};
use super::world::World;
use crate::cloud::states::TargetState;
use crate::cloud::{
    CloudResult, HealthCheckSpec, Tags, TargetGroupInfo, TargetGroupSpec, TargetHealth,
};

/// AWS's defaults for what a target group spec leaves unset.
/// AWS's deregistration delay of a target group whose attribute was never set.
pub(super) const DEFAULT_DEREGISTRATION_DELAY: u32 = 300;

pub(super) fn with_defaults(mut spec: TargetGroupSpec) -> TargetGroupSpec {
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
    pub(super) fn is_bad(&self, image_id: &str) -> bool {
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
    pub(super) fn health_ready(
        &self,
        tg: &TargetGroup,
        reg: &Registration,
        inst: &Instance,
    ) -> Option<Ms> {
        let since = if self.config.unused_without_load_balancer {
            tg.in_use_since?
        } else {
            0
        };
        Some(reg.registered_at.max(inst.running_at).max(since))
    }

    /// A target's state and reason at `t`; `None` when it is no longer listed.
    pub(super) fn target_state(
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
    pub(super) fn register(&mut self, arn: &str, id: &str, at: Ms) {
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
    pub(super) fn deregister_one(&mut self, arn: &str, id: &str, t: Ms) -> Ms {
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
    pub(super) fn update_usage(&mut self, t: Ms) {
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

    pub fn target_group_count(&self) -> usize {
        self.target_groups.len()
    }

    pub fn count_target_groups(&self) -> usize {
        self.target_groups.len()
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
                        state: TargetState::parse(state),
                        reason: reason.map(str::to_string),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, h)| h).collect())
    }

    pub fn create_target_group(
        &mut self,
        operation: &'static str,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        // As on AWS, the deregistration delay is an attribute, set by a second request
        // (`set_deregistration_delay`); a new group has AWS's default until then, and an
        // identical create (the delay aside) answers with the existing group.
        let spec = TargetGroupSpec {
            deregistration_delay_seconds: DEFAULT_DEREGISTRATION_DELAY,
            ..with_defaults(spec.clone())
        };
        let without_delay = |s: &TargetGroupSpec| TargetGroupSpec {
            deregistration_delay_seconds: 0,
            ..s.clone()
        };
        if let Some(existing) = self
            .target_groups
            .values()
            .find(|tg| tg.spec.name == spec.name)
        {
            if without_delay(&existing.spec) == without_delay(&spec) {
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
            deregistration_delay_seconds: tg.spec.deregistration_delay_seconds,
        });
        tg.spec = wanted;
        Ok(())
    }

    /// ModifyTargetGroupAttributes with `deregistration_delay.timeout_seconds`.
    pub fn set_deregistration_delay(
        &mut self,
        operation: &'static str,
        arn: &str,
        seconds: u32,
    ) -> CloudResult<()> {
        self.target_group_mut(operation, arn)?
            .spec
            .deregistration_delay_seconds = seconds;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
