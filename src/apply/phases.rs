//! The phases around the server groups: [`infrastructure`] (target groups, load balancers,
//! listeners) before them, [`deletions`] after. Each observes before it acts, so running
//! apply again after an interruption continues from what exists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::context::{gone, stack_tags, wants};
use super::error::ApplyError;
use super::retry::Retry;
use super::types::ApplyOptions;
use super::{adopt, traffic, wait};
use crate::cloud::{tag, Cloud, ListenerInfo, NamedKind, Tags};
use crate::observe::Observed;
use crate::plan::{self, Action, Kind, Plan};
use crate::stack::{is_unknown, LoadBalancer, Stack};

/// Creates and updates target groups, load balancers and listeners. Returns the number of
/// resources changed.
pub async fn infrastructure(
    cloud: &dyn Cloud,
    stack: &Stack,
    plan: &Plan,
    observed: &mut Observed,
    deferred: &traffic::Deferred,
) -> Result<usize, ApplyError> {
    let mut changed = target_groups(cloud, stack, plan, observed).await?;
    let create_lb = wants(plan, Kind::LoadBalancer, Action::Create);
    let update_lb = wants(plan, Kind::LoadBalancer, Action::Update);
    for lb in &stack.load_balancers {
        let creating = create_lb.contains(lb.address.as_str());
        if !creating && !update_lb.contains(lb.address.as_str()) {
            continue;
        }
        let tags = {
            let mut t = stack_tags(stack, &lb.address);
            t.extend(lb.tags.clone());
            t
        };
        let (arn, existing) = load_balancer(cloud, stack, lb, &tags, creating, observed).await?;
        changed += 1;
        listeners(cloud, lb, &arn, &existing, &tags, observed, deferred).await?;
    }
    Ok(changed)
}

/// Creates and updates the stack's target groups, as planned.
async fn target_groups(
    cloud: &dyn Cloud,
    stack: &Stack,
    plan: &Plan,
    observed: &mut Observed,
) -> Result<usize, ApplyError> {
    let mut changed = 0;
    let create_tg = wants(plan, Kind::TargetGroup, Action::Create);
    let update_tg = wants(plan, Kind::TargetGroup, Action::Update);
    for tg in &stack.target_groups {
        let spec = plan::target_group_spec(tg);
        if create_tg.contains(tg.address.as_str()) {
            let mut tags = stack_tags(stack, &tg.address);
            tags.extend(tg.tags.clone());
            tracing::info!(address = %tg.address, name = %spec.name, "creating target group");
            let arn = adopt::creating(cloud, &stack.name)
                .create_target_group(&spec, &tags)
                .await?;
            observed.target_groups.insert(
                tg.address.clone(),
                crate::observe::ObservedTargetGroup {
                    address: tg.address.clone(),
                    info: crate::cloud::TargetGroupInfo {
                        arn,
                        spec,
                        load_balancer_arns: Vec::new(),
                        tags,
                    },
                    health: Vec::new(),
                },
            );
            changed += 1;
        } else if update_tg.contains(tg.address.as_str()) {
            let have = observed
                .target_groups
                .get(&tg.address)
                .ok_or_else(|| gone(&tg.address, "target group"))?;
            tracing::info!(address = %tg.address, "updating target group");
            cloud.modify_target_group(&have.info.arn, &spec).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Creates or updates one load balancer; returns its ARN and the listeners it has.
async fn load_balancer(
    cloud: &dyn Cloud,
    stack: &Stack,
    lb: &LoadBalancer,
    tags: &Tags,
    creating: bool,
    observed: &mut Observed,
) -> Result<(String, Vec<ListenerInfo>), ApplyError> {
    let spec = crate::cloud::LoadBalancerSpec {
        name: lb.name.clone(),
        kind: lb.kind.clone(),
        internal: lb.internal,
        subnet_ids: lb.subnets.clone(),
        security_group_ids: lb.security_groups.clone(),
    };
    let (arn, existing) = if creating {
        tracing::info!(address = %lb.address, name = %spec.name, "creating load balancer");
        let info = adopt::creating(cloud, &stack.name)
            .create_load_balancer(&spec, tags)
            .await?;
        let arn = info.arn.clone();
        observed.load_balancers.insert(
            lb.address.clone(),
            crate::observe::ObservedLoadBalancer {
                address: lb.address.clone(),
                info,
                listeners: Vec::new(),
            },
        );
        (arn, Vec::new())
    } else {
        let have = observed
            .load_balancers
            .get(&lb.address)
            .ok_or_else(|| gone(&lb.address, "load balancer"))?;
        if have.info.spec.subnet_ids.iter().collect::<BTreeSet<_>>()
            != spec.subnet_ids.iter().collect::<BTreeSet<_>>()
            || have
                .info
                .spec
                .security_group_ids
                .iter()
                .collect::<BTreeSet<_>>()
                != spec.security_group_ids.iter().collect::<BTreeSet<_>>()
        {
            tracing::info!(address = %lb.address, "updating load balancer subnets and security groups");
            cloud.modify_load_balancer(&have.info.arn, &spec).await?;
        }
        (have.info.arn.clone(), have.listeners.clone())
    };
    Ok((arn, existing))
}

/// Makes a load balancer's listeners what the stack says, by port: creates, updates (held
/// back while their new target groups serve nothing yet) and deletes.
async fn listeners(
    cloud: &dyn Cloud,
    lb: &LoadBalancer,
    arn: &str,
    existing: &[ListenerInfo],
    tags: &Tags,
    observed: &Observed,
    deferred: &traffic::Deferred,
) -> Result<(), ApplyError> {
    // Listeners, by port.
    let have: BTreeMap<u16, &ListenerInfo> = existing.iter().map(|l| (l.spec.port, l)).collect();
    let mut wanted_ports = BTreeSet::new();
    for l in &lb.listeners {
        let want = plan::listener_spec(l, observed);
        if want.forward.iter().any(|f| is_unknown(&f.target_group_arn)) {
            return Err(ApplyError::Unsupported(format!(
                "{}: listener :{} forwards to a target group that does not exist",
                lb.address, l.port
            )));
        }
        wanted_ports.insert(l.port);
        match have.get(&l.port) {
            Some(h) if plan::listener_equal(&observed.canonical_listener(&h.spec), &want) => {}
            Some(h) => {
                traffic::update_listener(
                    cloud,
                    observed,
                    deferred,
                    format!("{}:{}", lb.address, l.port),
                    &h.arn,
                    &h.spec,
                    &want,
                )
                .await?;
            }
            None => {
                tracing::info!(address = %lb.address, port = l.port, "creating listener");
                cloud.create_listener(arn, &want, tags).await?;
            }
        }
    }
    for (port, h) in have {
        if !wanted_ports.contains(&port) {
            tracing::info!(address = %lb.address, port, "deleting listener");
            cloud.delete_listener(&h.arn).await?;
        }
    }
    Ok(())
}

/// Blue/green target-group copies go with their server group (or the target group they copy).
/// A listener that stays and still forwards to one is pointed back at the original first.
async fn delete_copies(
    cloud: &dyn Cloud,
    plan: &Plan,
    observed: &Observed,
) -> Result<usize, ApplyError> {
    let groups = wants(plan, Kind::ServerGroup, Action::Delete);
    let tgs = wants(plan, Kind::TargetGroup, Action::Delete);
    let lbs = wants(plan, Kind::LoadBalancer, Action::Delete);
    let doomed: Vec<&crate::observe::TargetGroupCopy> = observed
        .copies
        .iter()
        .filter(|c| {
            let address = observed
                .groups
                .get(&c.group)
                .and_then(|g| g.address.clone())
                .unwrap_or_else(|| format!("server_group.{}", c.group));
            groups.contains(address.as_str()) || tgs.contains(c.of.as_str())
        })
        .collect();
    if doomed.is_empty() {
        return Ok(0);
    }
    for lb in observed
        .load_balancers
        .values()
        .filter(|lb| !lbs.contains(lb.address.as_str()))
    {
        for l in &lb.listeners {
            let doomed_arn = |arn: &str| doomed.iter().find(|c| c.info.arn == arn);
            let touched = l
                .spec
                .forward
                .iter()
                .any(|f| doomed_arn(&f.target_group_arn).is_some());
            let forward =
                crate::cloud::remap_forward(&l.spec.forward, |arn| match doomed_arn(arn) {
                    Some(c) if !tgs.contains(c.of.as_str()) => {
                        observed.target_group_arn(&c.of).map(String::from)
                    }
                    Some(_) => None,
                    None => Some(arn.to_string()),
                });
            if touched && !forward.is_empty() {
                tracing::info!(address = %lb.address, port = l.spec.port, "pointing the listener back at the stack's target group");
                let spec = crate::cloud::ListenerSpec {
                    forward,
                    ..l.spec.clone()
                };
                cloud.modify_listener(&l.arn, &spec).await?;
            }
        }
    }
    for c in &doomed {
        tracing::info!(target_group = %c.info.spec.name, "deleting a generation's target group");
        match cloud.delete_target_group(&c.info.arn).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    Ok(0)
}

/// How long a deleted server group's instances may take to leave their target groups and
/// pass their terminating hooks before the group is deleted with whatever is left (AWS's
/// default deregistration delay is 5 minutes; a hook's heartbeat up to 2 hours, reroll waits
/// for the first half hour).
const EMPTYING_LIMIT: Duration = Duration::from_secs(1800);

/// Deletes what the plan says to delete: server groups (all generations and their launch
/// template), then load balancers, then target groups.
pub async fn deletions(
    cloud: &dyn Cloud,
    plan: &Plan,
    observed: &Observed,
    opts: &ApplyOptions,
) -> Result<usize, ApplyError> {
    let mut changed = 0;
    let groups = wants(plan, Kind::ServerGroup, Action::Delete);
    let mut deleting = Vec::new();
    let mut emptying = Vec::new();
    for og in observed.groups.values() {
        let address = og
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{}", og.key));
        if !groups.contains(address.as_str()) {
            continue;
        }
        for gen in &og.generations {
            tracing::info!(%address, group = %gen.group.name, instances = gen.group.instances.len(), "deleting generation");
            if gen.group.tags.contains_key(tag::FLEET) {
                let ids: Vec<String> = gen.group.instances.iter().map(|i| i.id.clone()).collect();
                cloud.terminate_instances(&ids).await?;
                continue;
            }
            let name = &gen.group.name;
            if !adopt::still_ours(cloud, &observed.stack, NamedKind::Group, name, name).await? {
                continue;
            }
            // Scaled in first, as Auto Scaling scales in: each instance leaves its target
            // groups after their deregistration delay and passes the group's terminating
            // lifecycle hooks, which deleting a group with its instances would skip.
            if !gen.group.instances.is_empty() {
                cloud.set_group_capacity(name, 0, 0, gen.group.max).await?;
                emptying.push(name.clone());
            }
            deleting.push(name.clone());
        }
        changed += 1;
    }
    wait::wait_groups(
        cloud,
        &observed.stack,
        &emptying,
        true,
        EMPTYING_LIMIT,
        opts.poll,
        &mut Retry::new(&observed.stack, opts, EMPTYING_LIMIT),
    )
    .await?;
    for name in &deleting {
        match cloud.delete_group(name).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    wait::wait_groups_gone(
        cloud,
        &observed.stack,
        &deleting,
        Duration::from_secs(900),
        opts.poll,
        &mut Retry::new(&observed.stack, opts, Duration::from_secs(900)),
    )
    .await?;
    for og in observed.groups.values() {
        let address = og
            .address
            .clone()
            .unwrap_or_else(|| format!("server_group.{}", og.key));
        if let (true, Some(lt)) = (groups.contains(address.as_str()), &og.launch_template) {
            let kind = NamedKind::LaunchTemplate;
            if !adopt::still_ours(cloud, &observed.stack, kind, &lt.name, &lt.id).await? {
                continue;
            }
            match cloud.delete_launch_template(&lt.id).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
    }
    for address in wants(plan, Kind::LoadBalancer, Action::Delete) {
        if let Some(lb) = observed.load_balancers.get(address) {
            tracing::info!(%address, "deleting load balancer");
            let (name, arn) = (&lb.info.spec.name, &lb.info.arn);
            if !adopt::still_ours(cloud, &observed.stack, NamedKind::LoadBalancer, name, arn)
                .await?
            {
                continue;
            }
            match cloud.delete_load_balancer(&lb.info.arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
            changed += 1;
        }
    }
    changed += delete_copies(cloud, plan, observed).await?;
    for address in wants(plan, Kind::TargetGroup, Action::Delete) {
        if let Some(tg) = observed.target_groups.get(address) {
            tracing::info!(%address, "deleting target group");
            let (name, arn) = (&tg.info.spec.name, &tg.info.arn);
            if !adopt::still_ours(cloud, &observed.stack, NamedKind::TargetGroup, name, arn).await?
            {
                continue;
            }
            match cloud.delete_target_group(&tg.info.arn).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
            changed += 1;
        }
    }
    Ok(changed)
}
