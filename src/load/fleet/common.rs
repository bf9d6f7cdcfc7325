//! What the launch template and Auto Scaling conversions share: which blocks and attributes
//! are Auto Scaling's, locations, numbers, and names given once.

use std::collections::BTreeMap;
use std::time::Duration;

use hcl::Value;

use crate::load::convert::conv::{is_unknown_value, Conv, Evaluated};
use crate::load::diag::{Loc, Problem};

/// Block kinds of a server group that configure its Auto Scaling group, for refusing them in
/// instance mode.
pub(super) const GROUP_BLOCKS: &[&str] = &[
    "mixed_instances_policy",
    "scaling_policy",
    "scheduled_action",
    "lifecycle_hook",
];
pub(super) const GROUP_ATTRS: &[&str] = &[
    "health_check_type",
    "health_check_grace_period",
    "default_instance_warmup",
    "termination_policies",
    "capacity_rebalance",
];

/// AWS's limit on instance type overrides in a mixed instances policy.
pub(super) const MAX_OVERRIDES: usize = 40;

pub(super) fn block_loc(e: &Evaluated) -> Loc {
    e.block.loc.clone()
}

pub(super) fn attr_loc(e: &Evaluated, name: &str) -> Option<Loc> {
    e.attrs.get(name).map(|(_, a)| a.value_loc.clone())
}

/// A number with a fraction allowed (`62.5`), as written.
pub(super) fn decimal(c: &mut Conv, v: &Value) -> Option<String> {
    match v {
        v if is_unknown_value(v) => Some("0".into()),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Some(n.to_string()),
        Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Some(s.trim().to_string())
        }
        _ => {
            c.wrong("a number", v);
            None
        }
    }
}

/// A whole number that may be negative (a scale-in step).
pub(super) fn signed(c: &mut Conv, v: &Value) -> Option<i64> {
    match v {
        v if is_unknown_value(v) => Some(0),
        Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
        Value::String(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
        _ => {
            c.wrong("a whole number, such as 2 or -1", v);
            None
        }
    }
}

/// Seconds from a duration within `lo..=hi` seconds.
pub(super) fn seconds(c: &mut Conv, v: &Value, lo: u64, hi: u64) -> Option<u32> {
    let d = c.duration(v)?;
    if is_unknown_value(v) {
        return Some(lo as u32);
    }
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || !(lo..=hi).contains(&s) {
        c.invalid(
            format!("`{}` is {}s, out of range", c.name(), d.as_secs_f64()),
            &format!(
                "expected whole seconds from {} to {}",
                humantime::format_duration(Duration::from_secs(lo)),
                humantime::format_duration(Duration::from_secs(hi))
            ),
        );
        return None;
    }
    Some(s as u32)
}

/// Nested blocks of one kind.
pub(super) fn all<'e, 'b>(
    e: &'e Evaluated<'b>,
    ident: &'e str,
) -> impl Iterator<Item = &'e Evaluated<'b>> {
    e.blocks.iter().filter(move |b| b.block.ident == ident)
}

/// Refuses a second block of `ident` with the same key (a label, a device name, …).
pub(super) fn unique(
    seen: &mut BTreeMap<String, Loc>,
    key: String,
    what: &str,
    at: Loc,
    problems: &mut Vec<Problem>,
) -> bool {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(e) => {
            problems.push(
                Problem::new(format!("duplicate {what} {:?}", e.key()))
                    .at(at)
                    .label("declared twice in this server group")
                    .help("each must be unique within its server group; rename or merge them"),
            );
            false
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(at);
            true
        }
    }
}
