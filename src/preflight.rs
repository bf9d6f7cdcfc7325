//! Preflight: before anything changes, does the target region have room for the plan?
//!
//! `plan` (and `apply`, before it asks) reads the account's quotas and what uses them —
//! running On-Demand vCPUs per instance family (Service Quotas), Auto Scaling groups (Auto
//! Scaling's DescribeAccountLimits), target groups and load balancers (ELBv2's), targets per
//! target group (AWS's documented 1,000) — and the key pairs and instance profiles (IAM's
//! GetInstanceProfile) the stack names, and compares them with what the plan adds at its peak,
//! surge (or blue/green's whole green fleet and its target groups)
//! included. What it cannot read is reported as unknown, never as a failure. The comparison
//! ([`check`]) is pure; [`gather`] does the IO. Network lookups and images (present here, or
//! copyable: [`crate::plan::copy`]) are checked by resolving, before a plan exists.

use std::collections::{BTreeMap, BTreeSet};

use crate::cloud::{Cloud, CloudError, ElbLimits, Limit};
use crate::plan::{Action, Kind, Plan};
use crate::stack::{is_unknown, GroupMode, ServerGroup, Stack, Strategy};

pub use crate::cloud::quota::vcpu_quota;

/// What preflight read from the account. `None`: could not be read (with why in `unknown`).
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// By quota code: the quota's value (vCPUs), `None` when Service Quotas does not know it.
    pub vcpu_quotas: BTreeMap<String, Option<u64>>,
    /// vCPUs in use now, by quota code.
    pub vcpus_running: Option<BTreeMap<String, u64>>,
    /// vCPUs of each instance type the stack launches.
    pub vcpus_of: BTreeMap<String, u32>,
    pub auto_scaling: Option<Limit>,
    pub elb: Option<ElbLimits>,
    pub missing_key_pairs: Option<Vec<String>>,
    pub missing_instance_profiles: Option<Vec<String>>,
    /// Why something could not be read.
    pub unreadable: Vec<String>,
}

/// One quota against what the plan needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub quota: String,
    /// Added by the plan at its peak.
    pub need: u64,
    /// In use now; `None` when unknown.
    pub used: Option<u64>,
    /// `None` when unknown.
    pub limit: Option<u64>,
    pub unit: &'static str,
}

impl Check {
    /// True only when both the limit and the use are known and the need does not fit.
    pub fn short(&self) -> bool {
        matches!((self.limit, self.used), (Some(l), Some(u)) if u + self.need > l)
    }

    pub fn known(&self) -> bool {
        self.limit.is_some() && self.used.is_some()
    }

    pub fn describe(&self) -> String {
        let unit = if self.need == 1 {
            self.unit.to_string()
        } else {
            format!("{}s", self.unit)
        };
        let used = self
            .used
            .map_or("use unknown".to_string(), |u| format!("{u} in use"));
        match self.limit {
            Some(l) => format!(
                "{}: need {} more {unit}, {used}, limit {l}",
                self.quota, self.need
            ),
            None => format!(
                "{}: need {} more {unit}, {used}, limit unknown",
                self.quota, self.need
            ),
        }
    }
}

/// The result: every quota checked, and what is missing.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    pub region: String,
    pub checks: Vec<Check>,
    /// Key pairs the stack names that do not exist in the region.
    pub missing_key_pairs: Vec<String>,
    /// Instance profiles the stack names that do not exist in the account.
    pub missing_instance_profiles: Vec<String>,
    pub unreadable: Vec<String>,
}

impl Preflight {
    /// One line per shortfall, missing key pair or missing instance profile: the plan's
    /// warnings, `--strict`'s errors.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.short())
            .map(|c| format!("quota shortfall in {}: {}", self.region, c.describe()))
            .collect();
        for k in &self.missing_key_pairs {
            out.push(format!(
                "key pair {k:?} does not exist in {}: import or create it there first",
                self.region
            ));
        }
        for p in &self.missing_instance_profiles {
            out.push(format!(
                "instance profile {p:?} does not exist in this account: create it (IAM \
                 CreateInstanceProfile, with a role added) or name one that does"
            ));
        }
        out
    }

    /// The preflight as text, after the plan.
    pub fn render(&self) -> String {
        let mut out = format!("Preflight in {}:\n", self.region);
        for c in &self.checks {
            let tag = if c.short() {
                "short  "
            } else if c.known() {
                "ok     "
            } else {
                "unknown"
            };
            out.push_str(&format!("  {tag}  {}\n", c.describe()));
        }
        for k in &self.missing_key_pairs {
            out.push_str(&format!("  missing  key pair {k:?}\n"));
        }
        for p in &self.missing_instance_profiles {
            out.push_str(&format!("  missing  instance profile {p:?}\n"));
        }
        for u in &self.unreadable {
            out.push_str(&format!("  (could not read {u})\n"));
        }
        out
    }
}

/// ELBv2's quota of instance targets in one target group (AWS documents 1,000; it is not among
/// DescribeAccountLimits' answers).
pub const TARGETS_PER_TARGET_GROUP: u64 = 1000;

/// What one server group's change launches at its peak, as the plan will run it.
struct Peak<'s> {
    g: &'s ServerGroup,
    /// A first generation its desired capacity, a rolling or canary rollout its surge (old and
    /// new run side by side), blue/green a whole green fleet.
    added: u64,
    /// Instances it serves with already (0 for a first generation).
    serving: u64,
    /// The new instances go into green target groups of their own, one per lane.
    blue_green: bool,
}

fn peaks<'s>(stack: &'s Stack, plan: &Plan) -> Vec<Peak<'s>> {
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.kind == Kind::ServerGroup) {
        let Some(g) = stack.server_group(&c.address) else {
            continue;
        };
        let r = c.rollout.as_ref();
        let desired = u64::from(r.map_or(g.capacity.desired, |r| r.desired));
        let surge = r.map_or_else(
            || g.rollout.max_surge.resolve(g.capacity.desired, true),
            |r| r.max_surge,
        );
        let blue_green = r.is_some_and(|r| r.strategy == Strategy::BlueGreen);
        let (added, serving) = match c.action {
            Action::Create => (desired, 0),
            // Finishing a rollout past its commit point launches nothing.
            Action::Resume if r.is_none() => (0, desired),
            Action::Replace | Action::Resume if blue_green => (desired, desired),
            Action::Replace | Action::Resume => (u64::from(surge), desired),
            _ => (0, desired),
        };
        out.push(Peak {
            g,
            added,
            serving,
            blue_green,
        });
    }
    out
}

/// Instances a server group's change adds at its peak, by instance type. Resizes are not
/// counted.
fn instances_added(stack: &Stack, plan: &Plan) -> Vec<(String, u64)> {
    peaks(stack, plan)
        .into_iter()
        .filter(|p| p.added > 0)
        .map(|p| (p.g.instance_type.clone(), p.added))
        .collect()
}

/// Targets each target group holds at the plan's peak: the instances of its groups that serve
/// already, and what their changes add to it. Blue/green's green fleets go into target groups
/// of their own, each holding a whole fleet.
fn target_checks(stack: &Stack, plan: &Plan) -> Vec<Check> {
    let peaks = peaks(stack, plan);
    let check = |quota: String, need: u64, used: u64| Check {
        quota,
        need,
        used: Some(used),
        limit: Some(TARGETS_PER_TARGET_GROUP),
        unit: "target",
    };
    let mut out = Vec::new();
    for tg in &stack.target_groups {
        let (mut need, mut used) = (0, 0);
        for g in stack
            .server_groups
            .iter()
            .filter(|g| g.target_groups.contains(&tg.address))
        {
            match peaks.iter().find(|p| p.g.address == g.address) {
                Some(p) => {
                    used += p.serving;
                    if !p.blue_green {
                        need += p.added;
                    }
                }
                None => used += u64::from(g.capacity.desired),
            }
        }
        if need > 0 {
            out.push(check(
                format!("Targets in target group {}", tg.name),
                need,
                used,
            ));
        }
    }
    for p in peaks.iter().filter(|p| p.blue_green && p.added > 0) {
        out.push(check(
            format!("Targets in each green target group of {}", p.g.address),
            p.added,
            0,
        ));
    }
    out
}

/// Target groups the rollouts create besides the plan's: one per lane of a blue/green rollout.
fn green_target_groups(stack: &Stack, plan: &Plan) -> u64 {
    peaks(stack, plan)
        .iter()
        .filter(|p| p.blue_green && p.added > 0)
        .map(|p| p.g.target_groups.len() as u64)
        .sum()
}

/// Auto Scaling groups the plan creates: one per new generation in Auto Scaling mode.
fn groups_added(stack: &Stack, plan: &Plan) -> u64 {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::ServerGroup)
        .filter(|c| matches!(c.action, Action::Create | Action::Replace))
        .filter(|c| {
            stack
                .server_group(&c.address)
                .is_some_and(|g| g.mode == GroupMode::Asg)
        })
        .count() as u64
}

fn created(plan: &Plan, kind: Kind) -> u64 {
    plan.changes
        .iter()
        .filter(|c| c.kind == kind && c.action == Action::Create)
        .count() as u64
}

/// Compares what the plan adds with what the account allows. Pure.
pub fn check(stack: &Stack, plan: &Plan, account: &Account) -> Preflight {
    let mut checks = Vec::new();
    let mut vcpus: BTreeMap<&str, (&str, u64)> = BTreeMap::new();
    let mut unknown_types = BTreeSet::new();
    for (instance_type, added) in instances_added(stack, plan) {
        let (code, name) = vcpu_quota(&instance_type);
        let Some(per) = account.vcpus_of.get(&instance_type) else {
            unknown_types.insert(instance_type);
            continue;
        };
        vcpus.entry(code).or_insert((name, 0)).1 += added * u64::from(*per);
    }
    for (code, (name, need)) in vcpus {
        checks.push(Check {
            quota: format!("{name} ({code})"),
            need,
            used: account
                .vcpus_running
                .as_ref()
                .map(|r| r.get(code).copied().unwrap_or(0)),
            limit: account.vcpu_quotas.get(code).copied().flatten(),
            unit: "vCPU",
        });
    }
    let groups = groups_added(stack, plan);
    if groups > 0 {
        checks.push(Check {
            quota: "Auto Scaling groups".into(),
            need: groups,
            used: account.auto_scaling.map(|l| l.used),
            limit: account.auto_scaling.map(|l| l.max),
            unit: "group",
        });
    }
    let tgs = created(plan, Kind::TargetGroup) + green_target_groups(stack, plan);
    if tgs > 0 {
        checks.push(Check {
            quota: "Target groups".into(),
            need: tgs,
            used: account.elb.as_ref().map(|e| e.target_groups),
            limit: account
                .elb
                .as_ref()
                .and_then(|e| e.limits.get("target-groups").copied()),
            unit: "target group",
        });
    }
    for kind in ["application", "network"] {
        let need = plan
            .changes
            .iter()
            .filter(|c| c.kind == Kind::LoadBalancer && c.action == Action::Create)
            .filter(|c| {
                stack
                    .load_balancers
                    .iter()
                    .any(|lb| lb.address == c.address && lb.kind == kind)
            })
            .count() as u64;
        if need == 0 {
            continue;
        }
        let limit_name = format!("{kind}-load-balancers");
        checks.push(Check {
            quota: format!("{} load balancers", capitalized(kind)),
            need,
            used: account
                .elb
                .as_ref()
                .map(|e| e.load_balancers.get(kind).copied().unwrap_or(0)),
            limit: account
                .elb
                .as_ref()
                .and_then(|e| e.limits.get(&limit_name).copied()),
            unit: "load balancer",
        });
    }
    checks.extend(target_checks(stack, plan));
    let mut unreadable = account.unreadable.clone();
    if !unknown_types.is_empty() {
        unreadable.push(format!(
            "the vCPUs of {}",
            unknown_types.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Preflight {
        region: plan.region.clone(),
        checks,
        missing_key_pairs: account.missing_key_pairs.clone().unwrap_or_default(),
        missing_instance_profiles: account
            .missing_instance_profiles
            .clone()
            .unwrap_or_default(),
        unreadable,
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Reads what [`check`] compares. Nothing here fails the plan: a figure that cannot be read is
/// unknown, and why is kept.
pub async fn gather(cloud: &dyn Cloud, stack: &Stack, plan: &Plan) -> Account {
    let mut account = Account::default();
    let why = |what: &str, e: &CloudError| format!("{what}: {e}");
    let added = instances_added(stack, plan);
    if !added.is_empty() {
        let types: BTreeSet<String> = added.iter().map(|(t, _)| t.clone()).collect();
        let codes: BTreeSet<&str> = types.iter().map(|t| vcpu_quota(t).0).collect();
        for code in codes {
            match cloud.service_quota("ec2", code).await {
                Ok(v) => {
                    account.vcpu_quotas.insert(code.to_string(), v);
                }
                Err(e) => account
                    .unreadable
                    .push(why(&format!("Service Quotas ec2/{code}"), &e)),
            }
        }
        match cloud.running_instance_types().await {
            Ok(running) => {
                let mut all: BTreeSet<String> = running.keys().cloned().collect();
                all.extend(types.iter().cloned());
                let all: Vec<String> = all.into_iter().collect();
                match cloud.instance_type_vcpus(&all).await {
                    Ok(v) => {
                        let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
                        for (t, n) in &running {
                            let per = v.get(t).copied().unwrap_or(0);
                            *by_code.entry(vcpu_quota(t).0.to_string()).or_default() +=
                                n * u64::from(per);
                        }
                        account.vcpus_running = Some(by_code);
                        account.vcpus_of = v;
                    }
                    Err(e) => account.unreadable.push(why("instance types", &e)),
                }
            }
            Err(e) => account.unreadable.push(why("running instances", &e)),
        }
    }
    if groups_added(stack, plan) > 0 {
        match cloud.auto_scaling_limits().await {
            Ok(l) => account.auto_scaling = Some(l),
            Err(e) => account
                .unreadable
                .push(why("Auto Scaling account limits", &e)),
        }
    }
    if created(plan, Kind::TargetGroup)
        + green_target_groups(stack, plan)
        + created(plan, Kind::LoadBalancer)
        > 0
    {
        match cloud.elb_limits().await {
            Ok(l) => account.elb = Some(l),
            Err(e) => account.unreadable.push(why("ELBv2 account limits", &e)),
        }
    }
    let launched = || {
        plan.changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Replace))
            .filter_map(|c| stack.server_group(&c.address))
    };
    let keys: BTreeSet<String> = launched().filter_map(|g| g.key_name.clone()).collect();
    let profiles: BTreeSet<String> = launched()
        .filter_map(|g| g.instance_profile.clone())
        .filter(|p| !is_unknown(p))
        .collect();
    if !profiles.is_empty() {
        let profiles: Vec<String> = profiles.into_iter().collect();
        match cloud.missing_instance_profiles(&profiles).await {
            Ok(m) => account.missing_instance_profiles = Some(m),
            Err(e) => account.unreadable.push(why("instance profiles", &e)),
        }
    }
    if !keys.is_empty() {
        let keys: Vec<String> = keys.into_iter().collect();
        match cloud.missing_key_pairs(&keys).await {
            Ok(m) => account.missing_key_pairs = Some(m),
            Err(e) => account.unreadable.push(why("key pairs", &e)),
        }
    }
    account
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_profile_is_named_by_name_or_by_arn() {
        let cases = [
            ("web", "web"),
            ("arn:aws:iam::123456789012:instance-profile/web", "web"),
            (
                "arn:aws:iam::123456789012:instance-profile/app/tier/web",
                "web",
            ),
        ];
        for (given, name) in cases {
            assert_eq!(crate::cloud::instance_profile_name(given), name, "{given}");
        }
    }

    #[test]
    fn instance_families_map_to_their_vcpu_quota() {
        let cases = [
            ("t3.micro", "L-1216C47A"),
            ("c7g.large", "L-1216C47A"),
            ("m5.2xlarge", "L-1216C47A"),
            ("g5.xlarge", "L-DB2E81BA"),
            ("vt1.3xlarge", "L-DB2E81BA"),
            ("p4d.24xlarge", "L-417A185B"),
            ("x2idn.16xlarge", "L-7295265B"),
            ("inf2.xlarge", "L-1945791B"),
            ("f1.2xlarge", "L-74FC7D96"),
            ("trn1.2xlarge", "L-2C3B7624"),
            ("dl1.24xlarge", "L-6E869C2A"),
            ("u-6tb1.metal", "L-43DA4232"),
        ];
        for (t, code) in cases {
            assert_eq!(vcpu_quota(t).0, code, "{t}");
        }
    }

    #[test]
    fn a_check_is_short_only_when_limit_and_use_are_known() {
        let c = |used, limit| Check {
            quota: "q".into(),
            need: 10,
            used,
            limit,
            unit: "vCPU",
        };
        let cases = [
            (
                Some(0),
                Some(10),
                false,
                "q: need 10 more vCPUs, 0 in use, limit 10",
            ),
            (
                Some(1),
                Some(10),
                true,
                "q: need 10 more vCPUs, 1 in use, limit 10",
            ),
            (
                None,
                Some(5),
                false,
                "q: need 10 more vCPUs, use unknown, limit 5",
            ),
            (
                Some(100),
                None,
                false,
                "q: need 10 more vCPUs, 100 in use, limit unknown",
            ),
        ];
        for (used, limit, short, text) in cases {
            let check = c(used, limit);
            assert_eq!((check.short(), check.describe().as_str()), (short, text));
        }
    }
}
