//! The pipeline every command runs, against any [`Cloud`]: observe and resolve into a
//! [`Session`], plan, and execute a plan in phases with a fresh look between them.
//!
//! The CLI wraps this with connection, confirmation and printing; tests drive it in-process
//! with a fault-injecting or simulated cloud.

use std::time::Duration;

use crate::apply::retry::Retry;
use crate::apply::Stop;
use crate::apply::{self, ApplyError, ApplyOptions, GroupReport};
use crate::cloud::{tag, Cloud, CloudError};
use crate::load::{self, Diagnostics, Inputs, Parsed};
use crate::observe::{self, Observed};
use crate::plan::{self, Plan, PlanError};
use crate::resolve::{self, ResolveError};
use crate::stack::{Known, Stack};

/// Everything a plan is computed from.
pub struct Session {
    pub parsed: Parsed,
    pub inputs: Inputs,
    pub stack: Stack,
    pub known: Known,
    pub observed: Observed,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The stack is wrong; printed with locations.
    #[error("{0}")]
    Stack(Diagnostics),
    // The cause is part of the message and not a `source`, so that printing the error chain
    // does not say it twice.
    #[error("{context}: {cause}")]
    Cloud {
        context: &'static str,
        cause: CloudError,
    },
    #[error("cannot plan: {0}")]
    Plan(PlanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An image copy failed or did not finish in time.
    #[error("{0}")]
    ImageCopy(String),
    /// Apply carried out its plan, but a fresh look still finds differences.
    #[error(
        "apply carried out the plan, but the account does not match the stack yet:\n  - {}\n\
         Run `reroll plan` to review what remains, then `reroll apply` again",
        remaining.join("\n  - ")
    )]
    Unconverged { remaining: Vec<String> },
}

impl From<ResolveError> for EngineError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Stack(d) => EngineError::Stack(d),
            ResolveError::Cloud(source) => EngineError::Cloud {
                context: "lookups failed",
                cause: source,
            },
        }
    }
}

impl From<PlanError> for EngineError {
    fn from(e: PlanError) -> Self {
        EngineError::Plan(e)
    }
}

fn observing(source: CloudError) -> EngineError {
    EngineError::Cloud {
        context: "cannot read the stack's resources",
        cause: source,
    }
}

/// Observes the stack `offline` (loaded without the cloud) names, and resolves its lookups.
pub async fn session(
    cloud: &dyn Cloud,
    parsed: Parsed,
    inputs: Inputs,
    stack_name: &str,
) -> Result<Session, EngineError> {
    let observed = observe::observe_for_plan(cloud, stack_name)
        .await
        .map_err(observing)?;
    let mut known = Known::default();
    observed.known_attributes(&mut known);
    let stack = resolve::resolve(&parsed, &inputs, cloud, &mut known).await?;
    let mut observed = observed;
    observed.alarms = alarm_states(cloud, &stack).await?;
    observed.taken = collisions(cloud, &stack, &observed).await?;
    Ok(Session {
        parsed,
        inputs,
        stack,
        known,
        observed,
    })
}

/// The names the stack would create (target groups, load balancers, a server group's launch
/// template and first Auto Scaling group) that a resource without this stack's `reroll:stack`
/// tag holds. Only names not observed as the stack's are looked up: nothing when the stack
/// exists already.
pub async fn collisions(
    cloud: &dyn Cloud,
    stack: &Stack,
    observed: &Observed,
) -> Result<std::collections::BTreeMap<String, observe::Taken>, EngineError> {
    use crate::cloud::NamedKind;
    use crate::stack::GroupMode;
    let mut wanted: Vec<(String, NamedKind, String)> = Vec::new();
    for tg in &stack.target_groups {
        if !observed.target_groups.contains_key(&tg.address) {
            wanted.push((tg.address.clone(), NamedKind::TargetGroup, tg.name.clone()));
        }
    }
    for lb in &stack.load_balancers {
        if !observed.load_balancers.contains_key(&lb.address) {
            wanted.push((lb.address.clone(), NamedKind::LoadBalancer, lb.name.clone()));
        }
    }
    for g in &stack.server_groups {
        let known = observed.groups.get(&g.key);
        if known.is_none_or(|o| o.launch_template.is_none()) {
            let name = crate::names::launch_template_name(&stack.name, &g.key);
            wanted.push((g.address.clone(), NamedKind::LaunchTemplate, name));
        }
        if g.mode == GroupMode::Asg && known.is_none_or(|o| o.generations.is_empty()) {
            let number = known.map_or(1, |o| o.next_number());
            let name = crate::names::generation_group_name(&stack.name, &g.key, number);
            wanted.push((g.address.clone(), NamedKind::Group, name));
        }
    }
    let mut taken = std::collections::BTreeMap::new();
    for (address, kind, name) in wanted {
        let found = cloud
            .find_by_name(kind, &name)
            .await
            .map_err(|cause| EngineError::Cloud {
                context: "cannot check whether the names the stack would create are free",
                cause,
            })?;
        let Some(holder) = found else { continue };
        if holder.tags.get(tag::STACK) == Some(&stack.name) {
            continue;
        }
        let owner = match holder.tags.get(tag::STACK) {
            None if holder.tags.is_empty() => "it has no tags at all".to_string(),
            None => format!(
                "it has no {} tag ({})",
                tag::STACK,
                holder
                    .tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(other) => format!("it belongs to stack {other:?}"),
        };
        taken.entry(address).or_insert(observe::Taken {
            noun: kind.noun().to_string(),
            name,
            id: holder.id,
            owner,
        });
    }
    Ok(taken)
}

/// The state of every alarm the stack's rollouts watch: one call per 100 names.
pub async fn alarm_states(
    cloud: &dyn Cloud,
    stack: &Stack,
) -> Result<std::collections::BTreeMap<String, String>, EngineError> {
    let names: std::collections::BTreeSet<String> = stack
        .server_groups
        .iter()
        .flat_map(|g| g.rollout.health.alarms.iter().cloned())
        .collect();
    if names.is_empty() {
        return Ok(Default::default());
    }
    let names: Vec<String> = names.into_iter().collect();
    cloud
        .alarm_states(&names)
        .await
        .map_err(|source| EngineError::Cloud {
            context: "cannot read the rollouts' CloudWatch alarms",
            cause: source,
        })
}

/// Loads a stack from its path and opens a session on it.
pub async fn open(
    cloud: &dyn Cloud,
    path: &std::path::Path,
    inputs: Inputs,
) -> Result<Session, EngineError> {
    let (parsed, offline) = load::load(path, &inputs).map_err(EngineError::Stack)?;
    session(cloud, parsed, inputs, &offline.name).await
}

impl Session {
    /// The plan, with the image copies the lookups found necessary first.
    pub fn plan(&self, force: bool) -> Result<Plan, EngineError> {
        let mut plan = plan::plan(&self.stack, &self.observed, force)?;
        plan.copies = self
            .known
            .images
            .values()
            .filter_map(|i| i.copy.clone())
            .collect();
        Ok(plan)
    }
}

/// Executes a plan: image copies, infrastructure, server groups, deletions. Returns the stack
/// evaluated against the final state (for outputs) and a report per server group, which is
/// returned even when the run fails.
pub async fn execute(
    cloud: &dyn Cloud,
    session: Session,
    plan: &Plan,
    opts: &ApplyOptions,
    stop: &Stop,
) -> (Result<Stack, EngineError>, Vec<GroupReport>) {
    let mut reports = Vec::new();
    let r = phases(cloud, session, plan, opts, stop, &mut reports).await;
    (r, reports)
}

async fn phases(
    cloud: &dyn Cloud,
    session: Session,
    plan: &Plan,
    opts: &ApplyOptions,
    stop: &Stop,
    reports: &mut Vec<GroupReport>,
) -> Result<Stack, EngineError> {
    let Session {
        parsed,
        inputs,
        stack,
        mut known,
        mut observed,
    } = session;
    refuse_missing_alarms(&stack, plan, &observed)?;
    crate::controllers::refuse(&stack, plan, &observed).map_err(ApplyError::Unsupported)?;
    copy_images(cloud, &stack, plan, &mut known, opts).await?;
    let deferred = apply::traffic::Deferred::default();
    apply::infrastructure(cloud, &stack, plan, &mut observed, &deferred).await?;
    // Once changes have begun, a look that fails for a transient error is tried again.
    let mut retry = Retry::new(&stack.name, opts, Duration::from_secs(300));
    // ARNs of what was just created are now known: look afresh and evaluate again. The
    // evaluation reads no file again (the load's snapshot answers), and instance definitions
    // come from the plan; only those the plan showed as known after apply are taken from it.
    let observed = retry
        .run(async || observe::observe(cloud, &stack.name).await)
        .await
        .map_err(observing)?;
    observed.known_attributes(&mut known);
    let stack = resolve::resolve(&parsed, &inputs, cloud, &mut known).await?;
    let plan = &with_definitions(plan, &stack)?;
    match apply::server_groups(cloud, &stack, plan, &observed, opts, stop, &deferred).await {
        Ok(r) => reports.extend(r),
        Err((r, e)) => {
            reports.extend(r);
            return Err(e.into());
        }
    }
    // Listener changes held back until their new target groups serve, and the detaches that
    // waited for them.
    deferred.finish(cloud).await?;
    apply::deletions(cloud, plan, &observed, opts).await?;
    let observed = retry
        .run(async || observe::observe(cloud, &stack.name).await)
        .await
        .map_err(observing)?;
    observed.known_attributes(&mut known);
    let stack = load::evaluate(&parsed, &inputs, &known).unwrap_or(stack);
    converged(&stack, &observed)?;
    Ok(stack)
}

/// The plan with every instance definition it launches: those it showed as known after apply
/// (an image copied into this region, a value of a resource just created) are evaluated now.
fn with_definitions(plan: &Plan, stack: &Stack) -> Result<Plan, EngineError> {
    let mut plan = plan.clone();
    for change in plan.changes.iter_mut().filter(|c| c.launches()) {
        if change.launch.is_some() {
            continue;
        }
        let def = stack
            .server_group(&change.address)
            .and_then(|g| plan::LaunchDefinition::of(stack, g))
            .ok_or_else(|| {
                ApplyError::Unsupported(format!(
                    "{}: the instance definition still has unknown values after creating the \
                     infrastructure; nothing was launched for it",
                    change.address
                ))
            })?;
        tracing::info!(address = %change.address, fingerprint = %def.fingerprint, "instance definition known now");
        change.fingerprint = Some(def.fingerprint.clone());
        change.launch = Some(def);
    }
    Ok(plan)
}

/// Exit 0 means the account matches the stack: a fresh look after apply must plan nothing.
fn converged(stack: &Stack, observed: &Observed) -> Result<(), EngineError> {
    let after = plan::plan(stack, observed, true)?;
    let remaining: Vec<String> = after
        .changes
        .iter()
        .filter(|c| c.action != plan::Action::NoOp)
        .map(|c| format!("{} ({}): {}", c.address, c.action.name(), c.reason))
        .collect();
    if remaining.is_empty() {
        return Ok(());
    }
    Err(EngineError::Unconverged { remaining })
}

/// A health gate on an alarm that does not exist would pass whatever happens: refused before
/// anything changes.
fn refuse_missing_alarms(
    stack: &Stack,
    plan: &Plan,
    observed: &Observed,
) -> Result<(), EngineError> {
    let missing: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, plan::Action::Replace | plan::Action::Resume))
        .filter_map(|c| stack.server_group(&c.address))
        .flat_map(|g| {
            g.rollout
                .health
                .alarms
                .iter()
                .filter(|a| !observed.alarms.contains_key(*a))
                .map(move |a| format!("{a:?} (health.alarms of {})", g.address))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApplyError::Unsupported(format!(
        "CloudWatch alarm{} not found in {}: {}. Create {}, or fix the name in the stack. \
         Nothing was changed.",
        if missing.len() == 1 { "" } else { "s" },
        observed.region,
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
    ))
    .into())
}

/// Disaster recovery: the plan's image copies, each started (or, if one is under way, found
/// by its `reroll:source-image` tag) and waited on until it is available. The source image is
/// the plan's, not a fresh lookup's.
async fn copy_images(
    cloud: &dyn Cloud,
    stack: &Stack,
    plan: &Plan,
    known: &mut Known,
    opts: &ApplyOptions,
) -> Result<(), EngineError> {
    for c in &plan.copies {
        let failed = |source| EngineError::Cloud {
            context: "copying an image into this region",
            cause: source,
        };
        let id = match &c.in_progress {
            Some(id) => id.clone(),
            None => match started_copy(cloud, c).await.map_err(failed)? {
                Some(id) => id,
                None => {
                    let mut tags = c.source_tags.clone();
                    tags.extend(stack.tags.clone());
                    tags.insert(tag::STACK.into(), stack.name.clone());
                    tags.insert(tag::ADDRESS.into(), crate::names::address_tag(&c.address));
                    tags.insert(tag::SOURCE_IMAGE.into(), c.source_tag());
                    let request = crate::cloud::CopyImageRequest {
                        source_region: &c.source_region,
                        source_image_id: &c.source_image_id,
                        name: &c.name,
                        kms_key: c.kms_key.as_deref(),
                        tags: &tags,
                    };
                    cloud.copy_image(&request).await.map_err(failed)?
                }
            },
        };
        tracing::info!(address = %c.address, from = %c.source_region, source = %c.source_image_id,
            image = %id, "copying image into this region, about {}", plan::human_duration(c.estimate_seconds));
        wait_for_copy(cloud, c, &id, opts.poll).await?;
        if let Some(img) = known.images.get_mut(&c.address) {
            img.id = id;
            img.copy = None;
        }
    }
    Ok(())
}

/// A copy of the plan's source image started since the plan was made (by an apply that was
/// interrupted): found by its tag, pending or available.
async fn started_copy(
    cloud: &dyn Cloud,
    c: &plan::copy::ImageCopy,
) -> Result<Option<String>, CloudError> {
    let filter = crate::cloud::ImageFilter {
        owners: vec!["self".into()],
        tags: [(tag::SOURCE_IMAGE.to_string(), c.source_tag())].into(),
        ..Default::default()
    };
    let mut found = match cloud.describe_images(&filter).await {
        Ok(images) => images,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
    found.retain(|i| i.state == "pending" || i.state == "available");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found.into_iter().next().map(|i| i.id))
}

/// Waits until the copy `id` is available, saying how far it has got: a copy that fails, or
/// that takes four times its estimate (at least an hour), stops the apply before anything else
/// changes.
async fn wait_for_copy(
    cloud: &dyn Cloud,
    c: &plan::copy::ImageCopy,
    id: &str,
    poll: Duration,
) -> Result<(), EngineError> {
    let started = cloud.now();
    let timeout = Duration::from_secs((c.estimate_seconds * 4).max(3600));
    let estimate = Duration::from_secs(c.estimate_seconds);
    let filter = crate::cloud::ImageFilter {
        ids: vec![id.to_string()],
        ..Default::default()
    };
    let mut last_said = None::<Duration>;
    loop {
        let image = match cloud.describe_images(&filter).await {
            Ok(images) => images.into_iter().find(|i| i.id == id),
            Err(e) if e.is_not_found() => None,
            Err(e) if e.is_transient() => None,
            Err(cause) => {
                return Err(EngineError::Cloud {
                    context: "waiting for an image copy",
                    cause,
                })
            }
        };
        let elapsed = cloud.now().duration_since(started).unwrap_or_default();
        let state = image
            .as_ref()
            .map_or("not visible yet", |i| i.state.as_str());
        match state {
            "available" => {
                tracing::info!(address = %c.address, image = %id, "image copy available after {}",
                    plan::human_duration(elapsed.as_secs()));
                return Ok(());
            }
            "failed" | "invalid" | "deregistered" | "error" => {
                return Err(EngineError::ImageCopy(format!(
                    "{}: the copy {id} of {} from {} is {state}; nothing else was changed. \
                     Deregister it and apply again, or check the source image and the KMS key",
                    c.address, c.source_image_id, c.source_region
                )));
            }
            _ => {}
        }
        if elapsed >= timeout {
            return Err(EngineError::ImageCopy(format!(
                "{}: the copy {id} of {} from {} is still {state} after {} (estimate {}); \
                 nothing else was changed. Apply again to keep waiting for it",
                c.address,
                c.source_image_id,
                c.source_region,
                plan::human_duration(elapsed.as_secs()),
                plan::human_duration(c.estimate_seconds)
            )));
        }
        if last_said.is_none_or(|t| elapsed >= t + Duration::from_secs(30)) {
            tracing::info!(address = %c.address, image = %id, "image copy {state}: {} of about {}",
                plan::human_duration(elapsed.as_secs()), plan::human_duration(c.estimate_seconds));
            last_said = Some(elapsed);
        }
        tokio::time::sleep(copy_poll(estimate, elapsed, poll)).await;
    }
}

/// How long to wait before looking at a copy again: halfway to the end of its estimate (at
/// least `poll`, at most two minutes), then every `poll` once the estimate has passed.
fn copy_poll(estimate: Duration, elapsed: Duration, poll: Duration) -> Duration {
    let left = estimate.saturating_sub(elapsed);
    (left / 2).clamp(poll, crate::apply::MAX_WAIT.max(poll))
}

#[cfg(test)]
mod tests {
    use super::copy_poll;
    use std::time::Duration;

    #[test]
    fn a_copy_is_looked_at_halfway_to_its_estimate() {
        let s = Duration::from_secs;
        // (estimate, elapsed, poll) → wait
        let cases = [
            ((240, 0, 5), 120),
            ((240, 200, 5), 20),
            ((240, 236, 5), 5),
            ((240, 300, 5), 5),
            ((3600, 0, 5), 120),
            ((60, 0, 300), 300),
        ];
        for ((estimate, elapsed, poll), want) in cases {
            assert_eq!(
                copy_poll(s(estimate), s(elapsed), s(poll)),
                s(want),
                "estimate {estimate} s, {elapsed} s in, poll {poll} s"
            );
        }
    }
}
