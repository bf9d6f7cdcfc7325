//! Moving the world along: the transitions due by a time, carried out in time order (boots,
//! failed health checks, hook timeouts, shutdowns, terminations, deleted groups).

use std::collections::BTreeMap;

use super::time::{seconds, Ms, SECOND};
use super::world::World;

impl World {
    /// Carries out every transition due up to `now`, in time order.
    pub fn settle(&mut self, now: Ms) {
        // Each round carries out every transition due by `now` at its own time; a round can
        // cause new ones (a replacement launched for an unhealthy instance), hence the loop.
        let mut rounds = 0u64;
        while self
            .next_event()
            .is_some_and(|t| t.max(self.settled) <= now)
        {
            self.process(now);
            rounds += 1;
            debug_assert!(rounds < 1_000_000, "the simulation does not settle");
        }
        self.settled = self.settled.max(now);
        self.purge(now);
    }

    fn next_event(&self) -> Option<Ms> {
        let mut next: Option<Ms> = None;
        let mut at = |t: Ms| next = Some(next.map_or(t, |n| n.min(t)));
        // Terminated instances whose termination was handled have no transitions left.
        for i in self.instances.values().filter(|i| !i.gone) {
            if i.group.is_some() && !i.booted {
                at(i.in_service_at());
            }
            if let (Some(s), false) = (i.shutdown_at, i.shut_down) {
                at(s);
            }
            if let (Some(x), false) = (i.terminated_at, i.gone) {
                at(x);
            }
        }
        for g in self.groups.values() {
            if let Some(r) = g.retry_at {
                at(r);
            }
        }
        for (_, _, t) in self.unhealthy_due() {
            at(t);
        }
        next
    }

    /// Group members that fail ELB health checks and when their group notices. Only
    /// instances of bad images fail, so without any there is nothing to look at.
    fn unhealthy_due(&self) -> Vec<(String, String, Ms)> {
        let mut out = Vec::new();
        if self.config.bad_images.is_empty() {
            return out;
        }
        for i in self.instances.values() {
            if i.unhealthy_at.is_some() || !i.booted || i.terminating_at.is_some() {
                continue;
            }
            let Some((name, g)) = i.group.as_ref().and_then(|n| self.groups.get_key_value(n))
            else {
                continue;
            };
            if g.spec.health_check_type != "ELB" || g.suspended("HealthCheck") || g.deleting {
                continue;
            }
            if !self.is_bad(&i.image_id) {
                continue;
            }
            let failed = g
                .spec
                .target_group_arns
                .iter()
                .filter_map(|arn| {
                    let tg = self.target_groups.get(arn)?;
                    let reg = tg.targets.get(&i.id)?;
                    if reg.drain_until.is_some() {
                        return None;
                    }
                    let ready = self.health_ready(tg, reg, i)?;
                    Some(ready + tg.interval() * tg.spec.health_check.unhealthy_threshold as Ms)
                })
                .min();
            if let Some(failed) = failed {
                let noticed = failed + seconds(self.config.asg_health_check_seconds);
                let grace = i.launch_at + g.spec.health_check_grace_seconds as Ms * SECOND;
                out.push((i.id.clone(), name.clone(), noticed.max(grace)));
            }
        }
        out
    }

    /// Carries out the transitions due by `t`, each at its own time.
    pub(super) fn process(&mut self, t: Ms) {
        // Groups to bring back to their desired capacity, and when.
        let mut reconcile: Vec<(Ms, String)> = Vec::new();

        // Booted group members: into the group's target groups.
        let booted: Vec<(String, String)> = self
            .instances
            .values()
            .filter(|i| !i.booted && i.in_service_at() <= t)
            .filter_map(|i| Some((i.id.clone(), i.group.clone()?)))
            .collect();
        for (id, group) in booted {
            let inst = self.instances.get_mut(&id).expect("instance");
            inst.booted = true;
            let (running_at, terminating) = (inst.in_service_at(), inst.terminating_at.is_some());
            if inst.abandon_on_timeout && inst.held_until.is_some() && !terminating {
                // The launching hook timed out with ABANDON: Auto Scaling terminates it and
                // launches another.
                self.asg_terminate(&id, running_at);
                reconcile.push((running_at, group));
                continue;
            }
            let Some(g) = self.groups.get(&group) else {
                continue;
            };
            if terminating || g.suspended("AddToLoadBalancer") {
                continue;
            }
            for arn in g.spec.target_group_arns.clone() {
                self.register(&arn, &id, running_at);
            }
        }

        // Shutdowns: record what the instance was doing, take it out of rotation.
        let shutting: Vec<String> = self
            .instances
            .values()
            .filter(|i| !i.shut_down && i.shutdown_at.is_some_and(|s| s <= t))
            .map(|i| i.id.clone())
            .collect();
        for id in shutting {
            self.shut_down(&id);
        }

        // Terminated: out of its group and target groups.
        let gone: Vec<(String, Ms)> = self
            .instances
            .values()
            .filter(|i| !i.gone)
            .filter_map(|i| Some((i.id.clone(), i.terminated_at.filter(|x| *x <= t)?)))
            .collect();
        for (id, at) in gone {
            for tg in self.target_groups.values_mut() {
                tg.targets.remove(&id);
            }
            let inst = self.instances.get_mut(&id).expect("instance");
            inst.gone = true;
            if let Some(g) = inst.group.take() {
                reconcile.push((at, g));
            }
        }

        // Failed health checks: marked unhealthy, replaced unless that is suspended.
        let mut unhealthy = self.unhealthy_due();
        unhealthy.sort_by_key(|(id, _, at)| (*at, id.clone()));
        for (id, group, at) in unhealthy {
            if at > t {
                continue;
            }
            let at = at.max(self.settled);
            self.instances.get_mut(&id).expect("instance").unhealthy_at = Some(at);
            if !self.groups[&group].suspended("ReplaceUnhealthy") {
                self.asg_terminate(&id, at);
                reconcile.push((at, group));
            }
        }

        for (name, g) in self.groups.iter_mut() {
            if let Some(r) = g.retry_at.filter(|r| *r <= t) {
                g.retry_at = None;
                reconcile.push((r, name.clone()));
            }
        }
        reconcile.sort();
        for (at, name) in reconcile {
            self.reconcile(&name, at);
        }
        self.drop_deleted_groups();
    }

    /// Forgets registrations whose draining is over.
    fn purge(&mut self, now: Ms) {
        for tg in self.target_groups.values_mut() {
            tg.targets
                .retain(|_, r| r.drain_until.is_none_or(|d| d > now));
        }
    }

    pub(super) fn drop_deleted_groups(&mut self) {
        let empty: Vec<String> = self
            .groups
            .iter()
            .filter(|(name, g)| {
                g.deleting
                    && !self
                        .instances
                        .values()
                        .any(|i| i.group.as_deref() == Some(name.as_str()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in empty {
            self.groups.remove(&name);
            self.activities.remove(&name);
            self.refreshes.remove(&name);
        }
    }

    /// EC2 begins shutting an instance down: records its target states, deregisters it.
    pub(super) fn shut_down(&mut self, id: &str) {
        let Some(inst) = self.instances.get(id) else {
            return;
        };
        let at = inst.shutdown_at.unwrap_or(self.settled);
        let mut with = BTreeMap::new();
        let mut active = Vec::new();
        for tg in self.target_groups.values() {
            if let Some(reg) = tg.targets.get(id) {
                if let Some((state, _)) = self.target_state(tg, id, reg, at) {
                    with.insert(tg.arn.clone(), state.to_string());
                }
                if reg.drain_until.is_none() {
                    active.push(tg.arn.clone());
                }
            }
        }
        for arn in active {
            self.deregister_one(&arn, id, at);
        }
        let inst = self.instances.get_mut(id).expect("instance");
        inst.terminated_with = with;
        inst.shut_down = true;
    }
}
