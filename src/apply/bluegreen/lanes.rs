//! Blue/green lanes: for each of a group's target groups, the one blue serves from and
//! green's copy of it, and the pure weight arithmetic of moving a listener's traffic between
//! them (`shifted`, `without_blue`, `restored`).

use crate::apply::adopt;
use crate::apply::error::ApplyError;
use crate::cloud::{tag, Cloud, Forward, ListenerInfo, TargetGroupSpec};
use crate::names;
use crate::observe::Observed;
use crate::stack::{ServerGroup, Stack};

/// A weighted forward action holds at most this many target groups.
const FORWARD_TARGET_GROUPS_MAX: usize = 5;
/// Weights range from 0 to 999.
const WEIGHT_MAX: u32 = 999;

/// One of the group's target groups: where blue gets its traffic, and green's copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub address: String,
    pub blue: String,
    pub green: String,
}

/// The name of generation `number`'s copy of target group `address` (≤32 characters).
pub fn copy_name(stack: &str, group_key: &str, address: &str, number: u32) -> String {
    let label = address.rsplit('.').next().unwrap_or(address);
    names::elb_name(stack, &format!("{group_key}-{label}-v{number:03}"))
}

/// The lanes of a group: for each of its target groups, the one blue serves from (the
/// original, or blue's own copy) and green's copy, created here when missing.
pub(super) async fn lanes(
    cloud: &dyn Cloud,
    stack: &Stack,
    g: &ServerGroup,
    observed: &Observed,
    number: u32,
) -> Result<Vec<Lane>, ApplyError> {
    let mut out = Vec::new();
    for address in &g.target_groups {
        let original = observed.target_groups.get(address).ok_or_else(|| {
            ApplyError::Unsupported(format!(
                "{}: its target group {address} does not exist",
                g.address
            ))
        })?;
        let blue = observed
            .serving_target_group_arn(address)
            .unwrap_or(&original.info.arn)
            .to_string();
        let existing = observed
            .copies
            .iter()
            .find(|c| c.of == *address && c.group == g.key && c.generation == number)
            .map(|c| c.info.arn.clone())
            .or_else(|| {
                // A retained generation rolled back to: whatever it was attached to, the
                // original target group (a first generation) or its own copy.
                let gen = observed
                    .groups
                    .get(&g.key)?
                    .generations
                    .iter()
                    .find(|x| x.number == number)?;
                gen.group
                    .target_group_arns
                    .iter()
                    .find(|arn| {
                        **arn == original.info.arn
                            || observed
                                .copies
                                .iter()
                                .any(|c| c.info.arn == **arn && c.of == *address)
                    })
                    .cloned()
            });
        let green = match existing {
            Some(arn) => arn,
            None => {
                let spec = TargetGroupSpec {
                    name: copy_name(&stack.name, &g.key, address, number),
                    ..original.info.spec.clone()
                };
                let mut tags = stack.tags.clone();
                tags.insert(tag::STACK.into(), stack.name.clone());
                tags.insert(tag::GROUP.into(), g.key.clone());
                tags.insert(tag::GENERATION.into(), number.to_string());
                tags.insert(tag::COPY_OF.into(), crate::names::address_tag(address));
                tracing::info!(address = %g.address, target_group = %spec.name, "creating green's target group");
                adopt::creating(cloud, &stack.name)
                    .create_target_group(&spec, &tags)
                    .await?
            }
        };
        out.push(Lane {
            address: address.clone(),
            blue,
            green,
        });
    }
    Ok(out)
}

/// The listeners that send traffic to blue: the ones whose weights move.
pub(super) fn listeners_of(
    observed: &Observed,
    g: &ServerGroup,
) -> Result<Vec<ListenerInfo>, ApplyError> {
    // The group's target groups as they serve, the stack's own (a rollback to a first
    // generation moves traffic back to them), and every generation's copy of them.
    let arns: Vec<&str> = g
        .target_groups
        .iter()
        .filter_map(|a| observed.serving_target_group_arn(a))
        .chain(
            g.target_groups
                .iter()
                .filter_map(|a| observed.target_group_arn(a)),
        )
        .chain(
            observed
                .copies
                .iter()
                .filter(|c| c.group == g.key)
                .map(|c| c.info.arn.as_str()),
        )
        .collect();
    let listeners: Vec<ListenerInfo> = observed
        .load_balancers
        .values()
        .flat_map(|lb| lb.listeners.iter())
        .filter(|l| {
            l.spec
                .forward
                .iter()
                .any(|f| arns.contains(&f.target_group_arn.as_str()))
        })
        .cloned()
        .collect();
    if listeners.is_empty() {
        return Err(ApplyError::Unsupported(format!(
            "blue/green needs a load balancer listener that forwards to {}; none does",
            g.target_groups.join(", ")
        )));
    }
    Ok(listeners)
}

/// A listener's forward action with `percent` of each lane's traffic on green. The lane's
/// total weight is kept relative to any other target group the listener forwards to; weights
/// are scaled up (within 0–999) so that small percentages stay expressible.
pub fn shifted(forward: &[Forward], lanes: &[Lane], percent: u32) -> Result<Vec<Forward>, String> {
    let lane_of = |arn: &str| lanes.iter().position(|l| l.blue == arn || l.green == arn);
    let mut totals = vec![0u32; lanes.len()];
    let mut present = vec![false; lanes.len()];
    let mut others: Vec<Forward> = Vec::new();
    for f in forward {
        match lane_of(&f.target_group_arn) {
            Some(i) => {
                totals[i] += f.weight;
                present[i] = true;
            }
            None => others.push(f.clone()),
        }
    }
    // A lane with no weight at all (a single-target action reports weight 1, or 0) counts 1.
    for (t, p) in totals.iter_mut().zip(&present) {
        if *p && *t == 0 {
            *t = 1;
        }
    }
    let largest_other = others.iter().map(|f| f.weight).max().unwrap_or(0);
    let smallest_lane = totals
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(t, _)| *t)
        .min()
        .unwrap_or(1);
    // Scale so that the smallest lane splits in whole percents, within the weight limit.
    let largest = totals
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(largest_other)
        .max(1);
    let scale = (100 / smallest_lane.max(1))
        .max(1)
        .min(WEIGHT_MAX / largest)
        .max(1);
    let mut out: Vec<Forward> = others
        .into_iter()
        .map(|f| Forward {
            weight: f.weight * scale,
            ..f
        })
        .collect();
    for (i, lane) in lanes.iter().enumerate().filter(|(i, _)| present[*i]) {
        let total = totals[i] * scale;
        let green = (u64::from(total) * u64::from(percent) / 100) as u32;
        let blue = total - green;
        if percent < 100 {
            out.push(Forward {
                target_group_arn: lane.blue.clone(),
                weight: blue,
            });
        }
        // At 0% green still joins, at weight 0: AWS health-checks only target groups that
        // a listener forwards to.
        out.push(Forward {
            target_group_arn: lane.green.clone(),
            weight: green,
        });
    }
    if out.len() > FORWARD_TARGET_GROUPS_MAX {
        return Err(format!(
            "a listener would forward to {} target groups; AWS allows {FORWARD_TARGET_GROUPS_MAX} \
             in one action",
            out.len()
        ));
    }
    Ok(out)
}

/// The forward action once blue's window has passed: blue's target groups gone; a single
/// remaining target group is a plain forward (weight 1).
pub fn without_blue(forward: &[Forward], lanes: &[Lane]) -> Vec<Forward> {
    let mut out = crate::cloud::remap_forward(forward, |arn| {
        (!lanes.iter().any(|l| l.blue == arn)).then(|| arn.to_string())
    });
    if let [only] = out.as_mut_slice() {
        only.weight = 1;
    }
    out
}

/// The forward action with green gone and blue back at its full share.
pub fn restored(forward: &[Forward], lanes: &[Lane]) -> Vec<Forward> {
    crate::cloud::remap_forward(forward, |arn| {
        let lane = lanes.iter().find(|l| l.green == arn);
        Some(lane.map_or(arn, |l| l.blue.as_str()).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(arn: &str, weight: u32) -> Forward {
        Forward {
            target_group_arn: arn.into(),
            weight,
        }
    }

    fn lane() -> Vec<Lane> {
        vec![Lane {
            address: "target_group.web".into(),
            blue: "blue".into(),
            green: "green".into(),
        }]
    }

    /// (listener forward before, percent, forward after)
    #[test]
    fn traffic_shifts() {
        let cases = [
            (
                vec![fw("blue", 1)],
                0,
                vec![fw("blue", 100), fw("green", 0)],
            ),
            (
                vec![fw("blue", 1)],
                10,
                vec![fw("blue", 90), fw("green", 10)],
            ),
            (
                vec![fw("blue", 90), fw("green", 10)],
                50,
                vec![fw("blue", 50), fw("green", 50)],
            ),
            (
                vec![fw("blue", 50), fw("green", 50)],
                100,
                vec![fw("green", 100)],
            ),
            // another service keeps its share: 1:1 becomes 100:100, then split
            (
                vec![fw("other", 1), fw("blue", 1)],
                10,
                vec![fw("other", 100), fw("blue", 90), fw("green", 10)],
            ),
            // weights stay within 0..=999
            (
                vec![fw("other", 500), fw("blue", 500)],
                10,
                vec![fw("other", 500), fw("blue", 450), fw("green", 50)],
            ),
        ];
        for (before, percent, want) in cases {
            assert_eq!(
                shifted(&before, &lane(), percent).unwrap(),
                want,
                "{before:?} at {percent}%"
            );
        }
    }

    #[test]
    fn a_full_listener_cannot_take_green() {
        let before = vec![
            fw("a", 1),
            fw("b", 1),
            fw("c", 1),
            fw("d", 1),
            fw("blue", 1),
        ];
        let err = shifted(&before, &lane(), 10).unwrap_err();
        assert!(err.contains("AWS allows 5"), "{err}");
    }

    #[test]
    fn restoring_merges_green_back_into_blue() {
        let after = restored(
            &[fw("other", 100), fw("blue", 90), fw("green", 10)],
            &lane(),
        );
        assert_eq!(after, vec![fw("other", 100), fw("blue", 100)]);
    }

    #[test]
    fn once_blue_is_gone_a_lone_green_is_a_plain_forward() {
        let cases = [
            (vec![fw("green", 100)], vec![fw("green", 1)]),
            (vec![fw("blue", 0), fw("green", 100)], vec![fw("green", 1)]),
            (
                vec![fw("other", 100), fw("blue", 0), fw("green", 100)],
                vec![fw("other", 100), fw("green", 100)],
            ),
        ];
        for (before, want) in cases {
            assert_eq!(without_blue(&before, &lane()), want, "{before:?}");
        }
    }

    #[test]
    fn copy_names_fit_and_differ_by_generation() {
        let a = copy_name("shop", "web", "target_group.web", 2);
        let b = copy_name("shop", "web", "target_group.web", 3);
        assert_eq!(a, "shop-web-web-v002");
        assert_ne!(a, b);
        let long = copy_name(
            "a-rather-long-stack-name",
            "frontend",
            "module.api.target_group.public",
            12,
        );
        assert!(long.len() <= 32, "{long}");
    }
}
