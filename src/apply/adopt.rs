//! Creates that can be repeated. A create whose reply was lost has taken effect; sent again
//! (by the SDK's retry policy, or by a retry of the step) it finds its own resource and gets
//! `AlreadyExists` (`DuplicateTargetGroupName`, `DuplicateLoadBalancerName`, …). What it finds
//! is adopted when it carries this stack's identity tags (`reroll:stack`, and
//! `reroll:address`, `reroll:group`, `reroll:generation`, `reroll:copy-of` as the create
//! would have set them) and the same definition. Anything else with that name is someone
//! else's, or an older definition: an error naming it, its owner tags and what to do.
//!
//! ELBv2 answers a create identical to an existing target group or load balancer with the
//! existing one, whoever owns it; its tags are checked too, so reroll never takes another
//! stack's resource for its own.

use std::collections::BTreeSet;

use super::error::ApplyError;
use crate::cloud::{
    tag, Cloud, GroupSpec, LaunchSpec, LoadBalancerInfo, LoadBalancerSpec, NamedKind, Tags,
    TargetGroupSpec,
};

/// The tags that say which resource of which stack something is.
const IDENTITY: &[&str] = &[
    tag::STACK,
    tag::ADDRESS,
    tag::GROUP,
    tag::GENERATION,
    tag::COPY_OF,
];

/// The creates of one stack, each adopting what an earlier attempt made.
pub(super) struct Creator<'a> {
    cloud: &'a dyn Cloud,
    stack: &'a str,
}

pub(super) fn creating<'a>(cloud: &'a dyn Cloud, stack: &'a str) -> Creator<'a> {
    Creator { cloud, stack }
}

impl Creator<'_> {
    pub(super) async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> Result<String, ApplyError> {
        target_group(self.cloud, self.stack, spec, tags).await
    }

    pub(super) async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> Result<LoadBalancerInfo, ApplyError> {
        load_balancer(self.cloud, self.stack, spec, tags).await
    }

    pub(super) async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> Result<(String, i64), ApplyError> {
        launch_template(self.cloud, self.stack, name, spec, tags).await
    }

    /// Creates (or adopts) the group, then puts its scaling policies, scheduled actions and
    /// lifecycle hooks, which may be put again at no harm.
    pub(super) async fn create_group(&self, spec: &GroupSpec) -> Result<(), ApplyError> {
        group(self.cloud, self.stack, spec).await?;
        if super::fleet::needs_configuring(&spec.settings) {
            self.cloud
                .configure_group(&spec.name, &spec.settings)
                .await?;
        }
        Ok(())
    }
}

/// Creates a target group, or adopts this stack's identical one; returns its ARN.
async fn target_group(
    cloud: &dyn Cloud,
    stack: &str,
    spec: &TargetGroupSpec,
    tags: &Tags,
) -> Result<String, ApplyError> {
    const KIND: NamedKind = NamedKind::TargetGroup;
    match cloud.create_target_group(spec, tags).await {
        Ok(arn) => {
            let have = cloud.find_by_name(KIND, &spec.name).await?;
            if let Some(have) = have {
                owned(KIND, &spec.name, tags, &have.tags)?;
            }
            Ok(arn)
        }
        Err(e) if e.is_already_exists() => {
            if !ours(cloud, KIND, &spec.name, tags).await? {
                return Err(e.into());
            }
            let found = cloud.list_target_groups(stack, &spec.name).await?;
            let Some(have) = found.into_iter().find(|t| t.spec.name == spec.name) else {
                return Err(e.into());
            };
            let (settable, fixed): (Vec<String>, Vec<String>) =
                target_group_diffs(spec, &have.spec)
                    .into_iter()
                    .partition(|d| settable_later(d));
            differs(KIND, &spec.name, tags, fixed)?;
            tracing::info!(target_group = %spec.name, "the target group exists already (created by an earlier attempt); using it");
            if !settable.is_empty() {
                // The create is two requests (the deregistration delay is an attribute): the
                // earlier attempt's second one did not happen, or its settings are older.
                tracing::info!(target_group = %spec.name, settings = %settable.join(", "), "setting what the earlier attempt left unset");
                cloud.modify_target_group(&have.arn, spec).await?;
            }
            Ok(have.arn)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a load balancer, or adopts this stack's identical one.
async fn load_balancer(
    cloud: &dyn Cloud,
    stack: &str,
    spec: &LoadBalancerSpec,
    tags: &Tags,
) -> Result<LoadBalancerInfo, ApplyError> {
    const KIND: NamedKind = NamedKind::LoadBalancer;
    match cloud.create_load_balancer(spec, tags).await {
        Ok(info) => {
            let have = cloud.find_by_name(KIND, &spec.name).await?;
            if let Some(have) = have {
                owned(KIND, &spec.name, tags, &have.tags)?;
            }
            Ok(info)
        }
        Err(e) if e.is_already_exists() => {
            if !ours(cloud, KIND, &spec.name, tags).await? {
                return Err(e.into());
            }
            let found = cloud.list_load_balancers(stack, &spec.name).await?;
            let Some(have) = found.into_iter().find(|l| l.spec.name == spec.name) else {
                return Err(e.into());
            };
            differs(
                KIND,
                &spec.name,
                tags,
                load_balancer_diffs(spec, &have.spec),
            )?;
            tracing::info!(load_balancer = %spec.name, "the load balancer exists already (created by an earlier attempt); using it");
            Ok(have)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a launch template with `spec` as version 1, or adopts this stack's template whose
/// version 1 is `spec`; returns (id, version).
async fn launch_template(
    cloud: &dyn Cloud,
    stack: &str,
    name: &str,
    spec: &LaunchSpec,
    tags: &Tags,
) -> Result<(String, i64), ApplyError> {
    const KIND: NamedKind = NamedKind::LaunchTemplate;
    match cloud.create_launch_template(name, spec, tags).await {
        Err(e) if e.is_already_exists() => {
            if !ours(cloud, KIND, name, tags).await? {
                return Err(e.into());
            }
            let found = cloud.list_launch_templates(stack).await?;
            let Some(have) = found.into_iter().find(|t| t.name == name) else {
                return Err(e.into());
            };
            let first = cloud.launch_template_version(&have.id, "1").await?;
            let diffs = if first == *spec {
                Vec::new()
            } else {
                vec!["version 1".to_string()]
            };
            differs(KIND, name, tags, diffs)?;
            tracing::info!(launch_template = %name, "the launch template exists already (created by an earlier attempt); using it");
            Ok((have.id, 1))
        }
        r => Ok(r?),
    }
}

/// Creates a generation's Auto Scaling group, or adopts this stack's group of that name with
/// the same launch template version, subnets and target groups (setting its capacity to
/// `spec`'s).
async fn group(cloud: &dyn Cloud, stack: &str, spec: &GroupSpec) -> Result<(), ApplyError> {
    const KIND: NamedKind = NamedKind::Group;
    match cloud.create_group(spec).await {
        Err(e) if e.is_already_exists() => {
            if !ours(cloud, KIND, &spec.name, &spec.tags).await? {
                return Err(e.into());
            }
            let found = cloud.list_groups(stack).await?;
            let Some(have) = found.into_iter().find(|g| g.name == spec.name) else {
                return Err(e.into());
            };
            if have
                .status
                .as_deref()
                .is_some_and(|s| s.starts_with("Delete"))
            {
                return Err(ApplyError::Taken(format!(
                    "{} {} is still being deleted; wait until it is gone, then apply again",
                    KIND.noun(),
                    spec.name
                )));
            }
            let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
            let mut diffs = Vec::new();
            if have.launch_template_id.as_deref() != Some(spec.launch_template_id.as_str())
                || have.launch_template_version.as_deref()
                    != Some(spec.launch_template_version.as_str())
            {
                diffs.push("launch template".to_string());
            }
            if set(&have.subnet_ids) != set(&spec.subnet_ids) {
                diffs.push("subnets".to_string());
            }
            if set(&have.target_group_arns) != set(&spec.target_group_arns) {
                diffs.push("target groups".to_string());
            }
            differs(KIND, &spec.name, &spec.tags, diffs)?;
            tracing::info!(group = %spec.name, "the Auto Scaling group exists already (created by an earlier attempt); using it");
            if (have.min, have.desired, have.max) != (spec.min, spec.desired, spec.max) {
                cloud
                    .set_group_capacity(&spec.name, spec.min, spec.desired, spec.max)
                    .await?;
            }
            Ok(())
        }
        r => Ok(r?),
    }
}

/// Before a delete: whether the resource of `kind` named `name` with id `id` (an ARN, a
/// template id, a group name) is still there and still this stack's. `Ok(false)` when it is
/// gone, or the name now belongs to another resource (ours is gone then too): nothing to
/// delete. A resource that lost this stack's `reroll:stack` tag is left alone, with an error.
pub(super) async fn still_ours(
    cloud: &dyn Cloud,
    stack: &str,
    kind: NamedKind,
    name: &str,
    id: &str,
) -> Result<bool, ApplyError> {
    let Some(have) = cloud.find_by_name(kind, name).await? else {
        return Ok(false);
    };
    if have.id != id {
        return Ok(false);
    }
    if have.tags.get(tag::STACK).map(String::as_str) == Some(stack) {
        return Ok(true);
    }
    Err(ApplyError::Taken(format!(
        "{} {name} ({id}) no longer carries this stack's {} tag, so it is not deleted: reroll \
         deletes only what it created. Tag it `{}={stack}` again to let reroll delete it, or \
         delete it yourself",
        kind.noun(),
        tag::STACK,
        tag::STACK
    )))
}

/// Whether the resource that holds `name` is the one this create would have made: `Ok(false)`
/// when nothing holds the name any more (the create's own error stands).
async fn ours(
    cloud: &dyn Cloud,
    kind: NamedKind,
    name: &str,
    want: &Tags,
) -> Result<bool, ApplyError> {
    match cloud.find_by_name(kind, name).await? {
        None => Ok(false),
        Some(have) => owned(kind, name, want, &have.tags).map(|()| true),
    }
}

/// Refuses a resource whose identity tags are not the ones the create would have set.
fn owned(kind: NamedKind, name: &str, want: &Tags, have: &Tags) -> Result<(), ApplyError> {
    let mismatch = IDENTITY
        .iter()
        .filter(|k| want.contains_key(**k))
        .any(|k| have.get(*k) != want.get(*k));
    if !mismatch {
        return Ok(());
    }
    let stack = want.get(tag::STACK).map(String::as_str).unwrap_or_default();
    let owner = match (have.get(tag::STACK), have.get(tag::ADDRESS)) {
        _ if have.is_empty() => "it has no tags at all".to_string(),
        (None, _) => format!("it has no {} tag ({})", tag::STACK, tags_text(have)),
        (Some(s), _) if s != stack => format!("it belongs to stack {s:?} ({})", tags_text(have)),
        (Some(_), Some(a)) if Some(a) != want.get(tag::ADDRESS) => {
            format!(
                "it is this stack's {}, not {}",
                crate::names::address_from_tag(a),
                want.get(tag::ADDRESS)
                    .map_or_else(|| "this one".into(), |w| crate::names::address_from_tag(w))
            )
        }
        // This stack's own resource: its other tags may hold sensitive values.
        _ => format!("its identity tags differ ({})", tags_text(&identity(have))),
    };
    let rename = match kind {
        NamedKind::TargetGroup | NamedKind::LoadBalancer => {
            format!("give the {} another `name` in the stack", kind.noun())
        }
        NamedKind::LaunchTemplate | NamedKind::Group => {
            "rename the stack or the server group (reroll names it `<stack>-<group>…`)".into()
        }
    };
    Err(ApplyError::Taken(format!(
        "{} {name} already exists and is not the one this stack would create: {owner}. reroll \
         never takes over a resource it did not create: {rename}, or delete the existing {} if \
         nothing uses it, then apply again",
        kind.noun(),
        kind.noun()
    )))
}

/// Refuses this stack's resource when its definition differs from what the create asked for.
fn differs(kind: NamedKind, name: &str, want: &Tags, diffs: Vec<String>) -> Result<(), ApplyError> {
    if diffs.is_empty() {
        return Ok(());
    }
    let address = want.get(tag::ADDRESS).map_or_else(
        || "this stack's".to_string(),
        |a| crate::names::address_from_tag(a),
    );
    Err(ApplyError::Taken(format!(
        "{} {name} already exists for {address}, but its {} differ{} from what apply was \
         creating: the account changed since this plan was made. Run `reroll plan` again, \
         then apply",
        kind.noun(),
        diffs.join(", "),
        if diffs.len() == 1 { "s" } else { "" }
    )))
}

/// The identity tags among `tags`.
fn identity(tags: &Tags) -> Tags {
    tags.iter()
        .filter(|(k, _)| IDENTITY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `k=v, k=v` of a resource's tags.
fn tags_text(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The settings of an existing target group that differ from a create's: the ones the create
/// sets (unset health check fields are AWS's defaults either way).
/// Whether a target group setting named by [`target_group_diffs`] can be changed after the
/// create (ModifyTargetGroup and its attributes): the health check and the deregistration
/// delay can; port, protocol and VPC cannot.
fn settable_later(setting: &str) -> bool {
    setting == "deregistration_delay" || setting.starts_with("health_check.")
}

fn target_group_diffs(want: &TargetGroupSpec, have: &TargetGroupSpec) -> Vec<String> {
    let (w, h) = (&want.health_check, &have.health_check);
    let set = |s: &str| !s.is_empty();
    [
        ("port", want.port != have.port),
        (
            "protocol",
            set(&want.protocol) && !want.protocol.eq_ignore_ascii_case(&have.protocol),
        ),
        ("vpc_id", want.vpc_id != have.vpc_id),
        (
            "deregistration_delay",
            want.deregistration_delay_seconds != have.deregistration_delay_seconds,
        ),
        ("health_check.path", w.path.is_some() && w.path != h.path),
        ("health_check.port", set(&w.port) && w.port != h.port),
        (
            "health_check.protocol",
            set(&w.protocol) && !w.protocol.eq_ignore_ascii_case(&h.protocol),
        ),
        (
            "health_check.interval",
            w.interval_seconds > 0 && w.interval_seconds != h.interval_seconds,
        ),
        (
            "health_check.timeout",
            w.timeout_seconds > 0 && w.timeout_seconds != h.timeout_seconds,
        ),
        (
            "health_check.healthy_threshold",
            w.healthy_threshold > 0 && w.healthy_threshold != h.healthy_threshold,
        ),
        (
            "health_check.unhealthy_threshold",
            w.unhealthy_threshold > 0 && w.unhealthy_threshold != h.unhealthy_threshold,
        ),
        (
            "health_check.matcher",
            w.matcher.is_some() && w.matcher != h.matcher,
        ),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name.to_string())
    .collect()
}

fn load_balancer_diffs(want: &LoadBalancerSpec, have: &LoadBalancerSpec) -> Vec<String> {
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    let application = want.kind.is_empty() || want.kind == "application";
    [
        ("type", !want.kind.is_empty() && want.kind != have.kind),
        ("internal", want.internal != have.internal),
        ("subnets", set(&want.subnet_ids) != set(&have.subnet_ids)),
        (
            "security_groups",
            application && set(&want.security_group_ids) != set(&have.security_group_ids),
        ),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// (tags found on the resource, adopted?, text the refusal holds)
    #[test]
    fn adopts_only_what_carries_this_stacks_identity() {
        let want = tags(&[
            (tag::STACK, "shop"),
            (tag::ADDRESS, "target_group.web"),
            ("team", "a"),
        ]);
        let cases = [
            (
                tags(&[
                    (tag::STACK, "shop"),
                    (tag::ADDRESS, "target_group.web"),
                    ("team", "b"),
                ]),
                true,
                "",
            ),
            (Tags::new(), false, "it has no tags at all"),
            (
                tags(&[("Name", "legacy")]),
                false,
                "it has no reroll:stack tag (Name=legacy)",
            ),
            (
                tags(&[(tag::STACK, "other"), (tag::ADDRESS, "target_group.web")]),
                false,
                "it belongs to stack \"other\"",
            ),
            (
                tags(&[(tag::STACK, "shop"), (tag::ADDRESS, "target_group.api")]),
                false,
                "it is this stack's target_group.api, not target_group.web",
            ),
        ];
        for (have, adopted, text) in cases {
            match owned(NamedKind::TargetGroup, "shop-web", &want, &have) {
                Ok(()) => assert!(adopted, "{have:?}"),
                Err(e) => {
                    assert!(!adopted, "{have:?}");
                    let e = e.to_string();
                    assert!(e.contains(text), "{e}");
                    assert!(
                        e.starts_with("target group shop-web already exists and is not the one"),
                        "{e}"
                    );
                    assert!(e.contains("another `name` in the stack"), "{e}");
                }
            }
        }
    }

    /// An earlier attempt's create took effect but its second request (the attributes) did not,
    /// and its health check is older: the target group is adopted and set to the definition.
    /// What cannot be changed after a create (the port) is still refused.
    #[tokio::test(start_paused = true)]
    async fn a_target_group_left_half_made_is_finished() {
        use crate::cloud::sim::{SimCloud, SimConfig};
        use crate::cloud::stats::Stats;
        use crate::cloud::HealthCheckSpec;

        let sim = SimCloud::new(SimConfig::default(), Stats::new());
        let ours = tags(&[(tag::STACK, "shop"), (tag::ADDRESS, "target_group.web")]);
        let check = |interval_seconds| HealthCheckSpec {
            interval_seconds,
            ..Default::default()
        };
        let want = TargetGroupSpec {
            name: "shop-web".into(),
            port: 8080,
            vpc_id: "vpc-1".into(),
            deregistration_delay_seconds: 30,
            health_check: check(10),
            ..Default::default()
        };
        let left = TargetGroupSpec {
            deregistration_delay_seconds: 300,
            health_check: check(30),
            ..want.clone()
        };
        let arn = sim.create_target_group(&left, &ours).await.unwrap();

        assert_eq!(target_group(&sim, "shop", &want, &ours).await.unwrap(), arn);
        let have = &sim.list_target_groups("shop", "shop-web").await.unwrap()[0].spec;
        assert_eq!(
            (
                have.deregistration_delay_seconds,
                have.health_check.interval_seconds
            ),
            (30, 10)
        );

        let moved = TargetGroupSpec {
            port: 9090,
            ..want.clone()
        };
        let err = target_group(&sim, "shop", &moved, &ours)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("its port differs"), "{err}");
    }

    #[test]
    fn unset_health_check_settings_are_no_difference() {
        let want = TargetGroupSpec {
            name: "shop-web".into(),
            port: 80,
            vpc_id: "vpc-1".into(),
            ..Default::default()
        };
        let mut have = want.clone();
        have.protocol = "HTTP".into();
        have.health_check.interval_seconds = 30;
        have.health_check.path = Some("/".into());
        assert!(target_group_diffs(&want, &have).is_empty());
        have.port = 8080;
        assert_eq!(target_group_diffs(&want, &have), ["port"]);
    }
}
