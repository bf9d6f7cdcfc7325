//! Server groups: a first generation, a rollout resumed or abandoned, a new generation (with
//! its wave schedule), a resize, new target group attachments, or nothing; one function per
//! case.

use std::collections::BTreeSet;

use super::diff::{diff, image_diff, launch_option_diffs, redacted, short_hash, tags_text};
use super::launch::{launch_spec, LaunchDefinition};
use super::schedule::{estimate, rollout_plan};
use super::types::{Action, AttrDiff, Change, Kind, PlanError, RolloutPlan, Wave};
use crate::cloud::scaling::AsgSettings;
use crate::cloud::{tag, LaunchSpec, Tags};
use crate::observe::{Generation, GenerationState, Observed, ObservedGroup};
use crate::stack::{GroupMode, ServerGroup, Stack, STACK_TAGS, UNKNOWN_APPLY};

/// Target groups a server group should be attached to, as ARNs where they exist.
pub fn target_group_arns(g: &ServerGroup, observed: &Observed) -> Vec<String> {
    g.target_groups
        .iter()
        .map(|a| {
            observed
                .serving_target_group_arn(a)
                .map(String::from)
                .unwrap_or_else(|| format!("{a} {UNKNOWN_APPLY}"))
        })
        .collect()
}

fn attachment_diff(g: &ServerGroup, have: &[String], observed: &Observed) -> Option<AttrDiff> {
    let want: BTreeSet<String> = target_group_arns(g, observed).into_iter().collect();
    let have: BTreeSet<String> = have.iter().cloned().collect();
    if want == have {
        return None;
    }
    let by_arn = observed.target_group_addresses();
    let names = |set: &BTreeSet<String>| {
        set.iter()
            .map(|a| {
                by_arn
                    .get(a.as_str())
                    .map_or(a.as_str(), |n| *n)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(AttrDiff {
        name: "target_groups".into(),
        before: Some(names(&have)),
        after: Some(names(&want)),
        forces_replacement: false,
        before_image: None,
        after_image: None,
    })
}

/// What the plan of one server group looks at: the stack's definition of it and what runs.
struct GroupPlan<'a> {
    stack: &'a Stack,
    g: &'a ServerGroup,
    observed: &'a Observed,
    /// The definition the stack asks for; `None` while any of it is unknown.
    def: Option<LaunchDefinition>,
}

/// The change of one server group: a first generation, a rollout resumed or abandoned, a new
/// generation, a resize, new attachments, or nothing.
pub(super) fn plan_server_group(
    stack: &Stack,
    g: &ServerGroup,
    observed_all: &Observed,
    force: bool,
) -> Result<Change, PlanError> {
    let p = GroupPlan {
        stack,
        g,
        observed: observed_all,
        def: LaunchDefinition::of(stack, g),
    };
    let observed = observed_all.groups.get(&g.key);
    let Some((og, newest)) = observed.and_then(|o| Some((o, o.newest()?))) else {
        return Ok(p.create_first(observed.map_or(1, ObservedGroup::next_number)));
    };
    // A rollout left part-way: the newest generation is still rolling in. It is continued only
    // while the stack still asks for its definition; otherwise it is abandoned, never resumed.
    if newest.state == GenerationState::Rolling {
        return Ok(
            if p.def.is_none() || p.same(newest.fingerprint.as_deref()) {
                p.resume(og, newest)
            } else {
                p.abandon(og, newest)
            },
        );
    }
    let Some(active) = og.active() else {
        let next = og.next_number();
        return Ok(p.change(
            Action::Create,
            format!("no serving generation (only retired or failed ones); v{next:03} is created"),
            Vec::new(),
            Some(p.rollout(g.capacity.desired, None, next)),
        ));
    };
    p.serving(og, active, force)
}

impl GroupPlan<'_> {
    /// Whether a generation tagged with this fingerprint runs what the stack asks for.
    fn same(&self, observed: Option<&str>) -> bool {
        self.def.as_ref().is_some_and(|d| d.matches(observed))
    }

    /// A change of the group; one that launches carries the definition and its fingerprint.
    fn change(
        &self,
        action: Action,
        reason: String,
        diffs: Vec<AttrDiff>,
        rollout: Option<RolloutPlan>,
    ) -> Change {
        // A resumed generation was made from this definition (its fingerprint is the stack's):
        // the resume puts its group settings again, in case the interrupted apply stopped
        // between creating the group and configuring it.
        let launches = matches!(action, Action::Create | Action::Replace | Action::Resume);
        let def = self.def.clone().filter(|_| launches);
        Change {
            address: self.g.address.clone(),
            kind: Kind::ServerGroup,
            action,
            reason,
            diffs,
            rollout,
            fingerprint: def.as_ref().map(|d| d.fingerprint.clone()),
            launch: def,
        }
    }

    fn rollout(&self, desired: u32, from: Option<u32>, to: u32) -> RolloutPlan {
        rollout_plan(self.stack, self.g, desired, from, to)
    }

    /// No generation yet: the first one, at the stack's capacity.
    fn create_first(&self, first: u32) -> Change {
        let g = self.g;
        let mut diffs = Vec::new();
        diffs.extend(image_diff(
            None,
            (g.image_id.clone(), g.image.clone()),
            false,
        ));
        diffs.extend(diff(
            "instance_type",
            None,
            Some(g.instance_type.clone()),
            false,
        ));
        diffs.extend(diff(
            "capacity",
            None,
            Some(format!(
                "min {} / desired {} / max {}",
                g.capacity.min, g.capacity.desired, g.capacity.max
            )),
            false,
        ));
        self.change(
            Action::Create,
            format!(
                "generation v{first:03} with {} × {}",
                g.capacity.desired, g.instance_type
            ),
            diffs,
            Some(self.rollout(g.capacity.desired, None, first)),
        )
    }

    /// An interrupted rollout the stack still asks for: continued where it stopped.
    fn resume(&self, og: &ObservedGroup, newest: &Generation) -> Change {
        let from = og.active().map(|a| a.number);
        self.change(
            Action::Resume,
            format!(
                "a rollout to generation v{:03} stopped part-way; apply continues it",
                newest.number
            ),
            Vec::new(),
            Some(self.rollout(self.g.capacity.desired, from, newest.number)),
        )
    }

    /// An interrupted rollout whose definition the stack no longer asks for: back to what
    /// serves when the stack asks for that again, else on from it (or from nothing) to a new
    /// generation; the interrupted one is removed either way.
    fn abandon(&self, og: &ObservedGroup, newest: &Generation) -> Change {
        let desired = self.g.capacity.desired;
        let active = og.active();
        let next = og.next_number();
        let abandoned = newest.number;
        let (reason, mut rollout) = match active {
            // Back to what serves: the interrupted generation is rolled back.
            Some(a) if self.same(a.fingerprint.as_deref()) => (
                format!(
                    "the rollout to v{abandoned:03} stopped part-way and the stack asks for \
                     v{:03}'s definition again: v{abandoned:03} is drained and removed, and \
                     v{:03} serves at full capacity again",
                    a.number, a.number
                ),
                self.revert(newest, a.number),
            ),
            Some(a) => (
                format!(
                    "the rollout to v{abandoned:03} stopped part-way and the stack no longer asks \
                     for its definition: v{abandoned:03} is rolled back to v{:03} first, then \
                     v{:03} → v{next:03}",
                    a.number, a.number
                ),
                self.rollout(desired, Some(a.number), next),
            ),
            None => (
                format!(
                    "the first generation v{abandoned:03} was being created from a definition \
                     the stack no longer asks for: v{next:03} is created, and v{abandoned:03} is \
                     removed once v{next:03} is healthy"
                ),
                self.rollout(desired, None, next),
            ),
        };
        rollout.abandon_generation = Some(abandoned);
        let action = match active {
            Some(_) => Action::Replace,
            None => Action::Create,
        };
        let mut change = self.change(action, reason, Vec::new(), Some(rollout));
        if active.is_some_and(|a| self.same(a.fingerprint.as_deref())) {
            // Nothing new is launched: the serving generation's definition stays.
            change.fingerprint = None;
            change.launch = None;
        }
        change
    }

    /// The rollout back from the interrupted generation to generation `to`, which serves: one
    /// step, the old generation back at its size, then the interrupted one drains.
    fn revert(&self, interrupted: &Generation, to: u32) -> RolloutPlan {
        let desired = self.g.capacity.desired;
        let waves = vec![Wave {
            launch: desired,
            drain: interrupted.group.desired,
            bake_seconds: 0,
        }];
        RolloutPlan {
            estimate_seconds: estimate(&waves, self.g, self.stack),
            waves,
            ..self.rollout(desired, Some(interrupted.number), to)
        }
    }

    /// A serving generation: replaced when its definition is not the stack's, else resized,
    /// attached to other target groups, or left alone.
    fn serving(
        &self,
        og: &ObservedGroup,
        active: &Generation,
        force: bool,
    ) -> Result<Change, PlanError> {
        let mut diffs = self.definition_diffs(og, active);
        let (desired, cap_diffs) = self.capacity(active);
        if !self.same(active.fingerprint.as_deref()) {
            diffs.extend(cap_diffs);
            return self.replace(og, active, desired, diffs, force);
        }
        let kept = self.keep(active, cap_diffs);
        if kept.action == Action::NoOp {
            if let Some(unfinished) = self.unfinished(og, active) {
                return Ok(unfinished);
            }
        }
        Ok(kept)
    }

    /// A rollout (or rollback) that stopped after its commit point, where a crash or a second
    /// Ctrl-C left no chance to finish: the generation before is still marked serving, or
    /// the scaling processes reroll suspended are still suspended. Apply finishes it: retires
    /// what was replaced, keeps `keep_previous`, resumes the processes. Nothing is launched.
    fn unfinished(&self, og: &ObservedGroup, active: &Generation) -> Option<Change> {
        let superseded = og.superseded();
        let suspended = og.still_suspended();
        if superseded.is_empty() && suspended.is_empty() {
            return None;
        }
        let list = |gens: &[&Generation]| {
            gens.iter()
                .map(|x| format!("v{:03}", x.number))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut left = Vec::new();
        if !superseded.is_empty() {
            left.push(format!("{} still marked serving", list(&superseded)));
        }
        if !suspended.is_empty() {
            left.push(format!(
                "scaling processes reroll suspended on {} not resumed",
                list(&suspended)
            ));
        }
        let mut change = self.change(
            Action::Resume,
            format!(
                "v{:03} serves, but the apply that made it stopped before finishing ({}); \
                 apply finishes it",
                active.number,
                left.join("; ")
            ),
            Vec::new(),
            None,
        );
        change.fingerprint = None;
        change.launch = None;
        Some(change)
    }

    /// What differs from the serving generation's definition: its launch template's content
    /// (when known), then its subnets.
    fn definition_diffs(&self, og: &ObservedGroup, active: &Generation) -> Vec<AttrDiff> {
        let spec = launch_spec(self.stack, self.g);
        let mut diffs: Vec<AttrDiff> = Vec::new();
        if let Some(b) = og.active_launch.as_ref() {
            diffs.extend(self.launch_diffs(b, active, &spec));
            diffs.extend(launch_option_diffs(&b.options, &spec.options));
        }
        diffs.extend(self.subnet_diff(active));
        diffs.extend(self.group_setting_diffs(active));
        diffs
    }

    /// The Auto Scaling group's own settings a new generation changes, by their names in the
    /// stack, compared with what the serving generation's group shows (with AWS's defaults:
    /// `ELB` health checks with target groups, the rollout's grace, `["Default"]`
    /// termination). Scaling policies, scheduled actions, hooks and the mixed instances
    /// policy are part of the fingerprint but not read back here.
    fn group_setting_diffs(&self, active: &Generation) -> Vec<AttrDiff> {
        let Some(have) = active.group.settings.as_ref() else {
            return Vec::new();
        };
        if self.same(active.fingerprint.as_deref()) {
            return Vec::new();
        }
        let want = asg_settings(self.g);
        let seconds = |n: u32| format!("{n}s");
        [
            diff(
                "health_check_type",
                Some(have.health_check_type.clone()),
                Some(want.health_check_type),
                true,
            ),
            diff(
                "health_check_grace_period",
                Some(seconds(have.health_check_grace_seconds)),
                Some(seconds(want.health_check_grace_seconds)),
                true,
            ),
            diff(
                "default_instance_warmup",
                have.default_instance_warmup.map(seconds),
                want.default_instance_warmup.map(seconds),
                true,
            ),
            diff(
                "termination_policies",
                Some(have.termination_policies.join(", ")),
                Some(want.termination_policies.join(", ")),
                true,
            ),
            diff(
                "capacity_rebalance",
                Some(have.capacity_rebalance.to_string()),
                Some(want.capacity_rebalance.to_string()),
                true,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The launch template's first fields, `before` as the serving generation launches them;
    /// sensitive values shown as `(sensitive)`, old ones included.
    fn launch_diffs(
        &self,
        b: &LaunchSpec,
        active: &Generation,
        spec: &LaunchSpec,
    ) -> Vec<AttrDiff> {
        let (stack, g) = (self.stack, self.g);
        // Sets: an order that differs is no difference.
        let sg = |v: &[String]| {
            let set: BTreeSet<&str> = v.iter().map(String::as_str).collect();
            set.into_iter().collect::<Vec<_>>().join(", ")
        };
        [
            image_diff(
                Some((b.image_id.clone(), active.image_label(&b.image_id))),
                (spec.image_id.clone(), g.image.clone()),
                true,
            ),
            diff(
                "instance_type",
                Some(b.instance_type.clone()),
                Some(spec.instance_type.clone()),
                true,
            ),
            diff(
                "user_data",
                b.user_data.as_deref().map(short_hash),
                spec.user_data.as_deref().map(short_hash),
                true,
            )
            .map(|d| match stack.sensitive.user_data.contains(&g.address) {
                // Not even a hash of it: a short one is quickly brute-forced.
                true => redacted(d),
                false => d,
            }),
            diff(
                "security_groups",
                Some(sg(&b.security_group_ids)),
                Some(sg(&spec.security_group_ids)),
                true,
            ),
            diff(
                "instance_profile",
                b.instance_profile.clone(),
                spec.instance_profile.clone(),
                true,
            ),
            diff("key_name", b.key_name.clone(), spec.key_name.clone(), true),
            diff(
                "tags",
                Some(tags_text(&b.instance_tags)),
                Some(tags_text(&spec.instance_tags)),
                true,
            )
            .map(|d| {
                // A key sensitive now is redacted before too: the old value may be the
                // secret's previous one.
                let keys = [STACK_TAGS, g.address.as_str()];
                let shown = |t: &Tags| tags_text(&stack.sensitive.redact_tags(&keys, t));
                AttrDiff {
                    before: Some(shown(&b.instance_tags)),
                    after: Some(shown(&spec.instance_tags)),
                    ..d
                }
            }),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The subnets, compared as sets, of a known definition that is not the serving one's.
    fn subnet_diff(&self, active: &Generation) -> Option<AttrDiff> {
        if self.def.is_none() || self.same(active.fingerprint.as_deref()) {
            return None;
        }
        let mut sorted_have = active.group.subnet_ids.clone();
        sorted_have.sort();
        let mut sorted_want = self.g.subnets.clone();
        sorted_want.sort();
        if sorted_have == sorted_want {
            return None;
        }
        diff(
            "subnets",
            Some(active.group.subnet_ids.join(", ")),
            Some(self.g.subnets.join(", ")),
            true,
        )
    }

    /// The desired capacity to run at, and the capacity diffs. The file's desired only counts
    /// when it changed since it was last applied, so that a group grown by autoscaling keeps
    /// its size.
    fn capacity(&self, active: &Generation) -> (u32, Vec<AttrDiff>) {
        let g = self.g;
        let current = active.group.desired;
        let file_changed = active.applied_desired != Some(g.capacity.desired);
        let mut desired = if file_changed {
            g.capacity.desired
        } else {
            current
        };
        desired = desired.clamp(g.capacity.min, g.capacity.max);
        let cap_diffs: Vec<AttrDiff> = [
            diff(
                "capacity.min",
                Some(active.group.min.to_string()),
                Some(g.capacity.min.to_string()),
                false,
            ),
            diff(
                "capacity.desired",
                Some(current.to_string()),
                Some(desired.to_string()),
                false,
            ),
            diff(
                "capacity.max",
                Some(active.group.max.to_string()),
                Some(g.capacity.max.to_string()),
                false,
            ),
        ]
        .into_iter()
        .flatten()
        // Instance mode has no group to hold a minimum and maximum: only the count matters.
        .filter(|d| g.mode == GroupMode::Asg || d.name == "capacity.desired")
        .collect();
        (desired, cap_diffs)
    }

    /// A new generation from the stack's definition, unless that definition failed before and
    /// `force` is not given.
    fn replace(
        &self,
        og: &ObservedGroup,
        active: &Generation,
        desired: u32,
        diffs: Vec<AttrDiff>,
        force: bool,
    ) -> Result<Change, PlanError> {
        if let Some((fp, at)) = self.failed(og, active) {
            if !force {
                return Err(PlanError::Unsupported {
                    address: self.g.address.clone(),
                    message: format!(
                        "this image and definition (fingerprint {fp}) failed its rollout at {at} \
                         and was rolled back; fix the image or settings, or run with --force to \
                         try it again"
                    ),
                });
            }
        }
        let next = og.next_number();
        let reason = self.replace_reason(active, &diffs);
        Ok(self.change(
            Action::Replace,
            format!("{reason}: v{:03} → v{next:03}", active.number),
            diffs,
            Some(self.rollout(desired, Some(active.number), next)),
        ))
    }

    /// A definition that failed before, and where: recorded on the serving generation at
    /// rollback, or as a generation left in the failed state.
    fn failed(&self, og: &ObservedGroup, active: &Generation) -> Option<(String, String)> {
        active
            .failed
            .clone()
            .filter(|(f, _)| self.same(Some(f)))
            .or_else(|| {
                og.generations
                    .iter()
                    .find(|x| {
                        x.state == GenerationState::Failed && self.same(x.fingerprint.as_deref())
                    })
                    .map(|x| {
                        let fp = x.fingerprint.clone().unwrap_or_default();
                        (fp, format!("generation v{:03}", x.number))
                    })
            })
    }

    /// Why the serving generation is replaced, for people.
    fn replace_reason(&self, active: &Generation, diffs: &[AttrDiff]) -> String {
        let rolled_back = active
            .group
            .tags
            .get(tag::ROLLED_BACK)
            .filter(|v| !v.is_empty());
        if let Some(when) = rolled_back {
            format!(
                "the account was rolled back to v{:03} ({when}) by `reroll rollback`, but the \
                 stack file still asks for another definition; applying rolls forward again",
                active.number
            )
        } else if self.def.is_none() {
            "the instance definition depends on values known after apply".to_string()
        } else {
            let forced: Vec<&str> = diffs
                .iter()
                .filter(|d| d.forces_replacement)
                .map(|d| d.name.as_str())
                .collect();
            if forced.is_empty() {
                "the instance definition changed".to_string()
            } else {
                format!("{} changed", forced.join(", "))
            }
        }
    }

    /// The serving generation's definition is the stack's: its capacity and target group
    /// attachments may still differ. Instance mode registers targets itself: there are no
    /// attachments to compare.
    fn keep(&self, active: &Generation, cap_diffs: Vec<AttrDiff>) -> Change {
        let g = self.g;
        let attachments = match g.mode {
            GroupMode::Asg => attachment_diff(g, &active.group.target_group_arns, self.observed),
            GroupMode::Instances => None,
        };
        if !cap_diffs.is_empty() {
            let mut diffs = cap_diffs;
            diffs.extend(attachments);
            return self.change(
                Action::Resize,
                format!("capacity of v{:03} changes", active.number),
                diffs,
                None,
            );
        }
        if let Some(d) = attachments {
            return self.change(
                Action::Update,
                format!("target groups of v{:03} change", active.number),
                vec![d],
                None,
            );
        }
        self.change(
            Action::NoOp,
            format!(
                "v{:03} matches the stack ({} instances)",
                active.number, active.group.desired
            ),
            Vec::new(),
            None,
        )
    }
}

/// The settings a server group's Auto Scaling group shows once created from the stack, with
/// AWS's defaults filled in (the rollout's `health.grace` for the grace period).
pub fn asg_settings(g: &ServerGroup) -> AsgSettings {
    g.scaling.as_created(
        !g.target_groups.is_empty(),
        g.rollout.health.grace.as_secs() as u32,
    )
}
