//! Another controller at work on a server group: an instance refresh in progress on one of its
//! serving or rolling generations, or Auto Scaling processes suspended there by someone other
//! than reroll (reroll records its own suspensions in `reroll:suspended`). Two controllers
//! replacing, launching or terminating the same instances undo each other's work; reroll stays
//! out of the way and says what to do. Pure: everything comes from the observation.

use crate::cloud::{tag, InstanceRefresh};
use crate::observe::{GenerationState, Observed, ObservedGroup};
use crate::plan::{Action, Plan};
use crate::stack::Stack;

/// Something another controller does to one generation of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interference {
    /// An instance refresh that has not ended.
    Refresh {
        group: String,
        refresh: InstanceRefresh,
    },
    /// Processes suspended, and not by reroll.
    Suspended {
        group: String,
        processes: Vec<String>,
    },
}

/// What other controllers do to the group's serving and rolling generations (the ones a
/// rollout or resize touches). Instance-mode generations have no Auto Scaling group.
pub fn of(og: &ObservedGroup) -> Vec<Interference> {
    let mut out = Vec::new();
    for gen in og.generations.iter().filter(|g| {
        matches!(g.state, GenerationState::Active | GenerationState::Rolling)
            && !g.group.tags.contains_key(tag::FLEET)
    }) {
        let group = &gen.group.name;
        if let Some(r) = gen.instance_refresh.as_ref().filter(|r| r.in_progress()) {
            out.push(Interference::Refresh {
                group: group.clone(),
                refresh: r.clone(),
            });
        }
        let ours: Vec<&str> = gen
            .group
            .tags
            .get(tag::SUSPENDED)
            .map(|s| s.split(',').filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let mut theirs: Vec<String> = gen
            .group
            .suspended_processes
            .iter()
            .filter(|p| !ours.contains(&p.as_str()))
            .cloned()
            .collect();
        theirs.sort();
        if !theirs.is_empty() {
            out.push(Interference::Suspended {
                group: group.clone(),
                processes: theirs,
            });
        }
    }
    out
}

impl Interference {
    /// What is going on, in a sentence.
    fn what(&self) -> String {
        match self {
            Interference::Refresh { group, refresh } => format!(
                "an instance refresh ({}, {}{}) is replacing the instances of {group}",
                refresh.id,
                refresh.status,
                refresh
                    .percentage_complete
                    .map(|p| format!(", {p}% done"))
                    .unwrap_or_default()
            ),
            Interference::Suspended { group, processes } => format!(
                "Auto Scaling process{} {} {} suspended on {group}, and not by reroll",
                if processes.len() == 1 { "" } else { "es" },
                processes.join(", "),
                if processes.len() == 1 { "is" } else { "are" },
            ),
        }
    }

    /// What to do about it.
    fn remedy(&self) -> String {
        match self {
            Interference::Refresh { group, .. } => format!(
                "Wait for the refresh to end, or cancel it with `aws autoscaling \
                 cancel-instance-refresh --auto-scaling-group-name {group}`, then apply again"
            ),
            Interference::Suspended { group, processes } => format!(
                "Resume {} with `aws autoscaling resume-processes --auto-scaling-group-name \
                 {group} --scaling-processes {}`, or wait until whatever suspended {} is done, \
                 then apply again",
                if processes.len() == 1 { "it" } else { "them" },
                processes.join(" "),
                if processes.len() == 1 { "it" } else { "them" },
            ),
        }
    }

    /// The plan's warning.
    pub fn warning(&self, address: &str) -> String {
        format!(
            "{address}: {}; apply will not roll or resize this group until it stops. {}",
            self.what(),
            self.remedy()
        )
    }

    /// Why apply refuses.
    pub fn refusal(&self, address: &str) -> String {
        format!(
            "{address}: {}; reroll does not roll or resize a group another controller is \
             working on. {}",
            self.what(),
            self.remedy()
        )
    }
}

/// The plan's warnings about other controllers, for every server group of the stack.
pub fn warnings(stack: &Stack, observed: &Observed) -> Vec<String> {
    stack
        .server_groups
        .iter()
        .filter_map(|g| Some((g, observed.groups.get(&g.key)?)))
        .flat_map(|(g, og)| of(og).into_iter().map(|i| i.warning(&g.address)))
        .collect()
}

/// Refuses a plan that rolls or resizes a group another controller works on, before anything
/// changes: every such group, each with what to do.
pub fn refuse(stack: &Stack, plan: &Plan, observed: &Observed) -> Result<(), String> {
    let refusals: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Replace | Action::Resume | Action::Resize))
        .filter_map(|c| {
            let og = observed.groups.get(&stack.server_group(&c.address)?.key)?;
            Some(of(og).into_iter().map(|i| i.refusal(&c.address)))
        })
        .flatten()
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(format!("{}. Nothing was changed.", refusals.join(". ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{GroupInfo, Tags};
    use crate::observe::Generation;

    fn generation(state: GenerationState, suspended: &[&str], ours: &str) -> Generation {
        let mut tags = Tags::new();
        if !ours.is_empty() {
            tags.insert(tag::SUSPENDED.into(), ours.into());
        }
        Generation {
            number: 1,
            fingerprint: None,
            state,
            group: GroupInfo {
                name: "s-web-v001".into(),
                min: 1,
                max: 2,
                desired: 1,
                tags,
                launch_template_id: None,
                launch_template_version: None,
                target_group_arns: Vec::new(),
                subnet_ids: Vec::new(),
                instances: Vec::new(),
                suspended_processes: suspended.iter().map(|p| p.to_string()).collect(),
                status: None,
                settings: None,
            },
            applied_desired: None,
            failed: None,
            instance_refresh: None,
        }
    }

    fn refresh(status: &str) -> InstanceRefresh {
        InstanceRefresh {
            id: "r-1".into(),
            status: status.into(),
            status_reason: None,
            percentage_complete: Some(40),
            start_time: None,
        }
    }

    fn group(gen: Generation) -> ObservedGroup {
        ObservedGroup {
            key: "web".into(),
            address: Some("server_group.web".into()),
            generations: vec![gen],
            ..Default::default()
        }
    }

    /// (generation, what is reported)
    #[test]
    fn finds_other_controllers_on_serving_and_rolling_generations() {
        use GenerationState::*;
        let with_refresh = |state, status: &str| Generation {
            instance_refresh: Some(refresh(status)),
            ..generation(state, &[], "")
        };
        let cases: Vec<(Generation, Vec<&str>)> = vec![
            (generation(Active, &[], ""), vec![]),
            // reroll's own suspensions (recorded in its tag) are not another controller's.
            (
                generation(Active, &["AZRebalance", "HealthCheck"], "AZRebalance,HealthCheck"),
                vec![],
            ),
            (
                generation(Rolling, &["AZRebalance", "Launch"], "AZRebalance"),
                vec!["Auto Scaling process Launch is suspended on s-web-v001, and not by reroll"],
            ),
            (
                generation(Active, &["Terminate", "Launch"], ""),
                vec!["processes Launch, Terminate are suspended"],
            ),
            // A retired generation is not touched by a rollout.
            (generation(Retired, &["Launch"], ""), vec![]),
            (
                with_refresh(Active, "InProgress"),
                vec!["an instance refresh (r-1, InProgress, 40% done) is replacing the instances of s-web-v001"],
            ),
            (with_refresh(Active, "Cancelling"), vec!["Cancelling"]),
            (with_refresh(Rolling, "RollbackInProgress"), vec!["RollbackInProgress"]),
            (with_refresh(Active, "Pending"), vec!["Pending"]),
            (with_refresh(Active, "Successful"), vec![]),
            (with_refresh(Active, "Cancelled"), vec![]),
        ];
        for (gen, want) in cases {
            let found: Vec<String> = of(&group(gen.clone()))
                .iter()
                .map(|i| i.warning("server_group.web"))
                .collect();
            assert_eq!(found.len(), want.len(), "{gen:#?}: {found:#?}");
            for (f, w) in found.iter().zip(&want) {
                assert!(f.contains(w), "{f}");
            }
        }
    }

    #[test]
    fn says_what_to_do() {
        let og = group(Generation {
            instance_refresh: Some(refresh("InProgress")),
            ..generation(GenerationState::Active, &["Launch"], "")
        });
        let found = of(&og);
        let refusal = found[0].refusal("server_group.web");
        assert!(
            refusal.contains(
                "aws autoscaling cancel-instance-refresh --auto-scaling-group-name s-web-v001"
            ),
            "{refusal}"
        );
        let refusal = found[1].refusal("server_group.web");
        assert!(
            refusal.contains(
                "aws autoscaling resume-processes --auto-scaling-group-name s-web-v001 \
                 --scaling-processes Launch"
            ),
            "{refusal}"
        );
    }
}
