//! Load balancers and listeners: creating, changing and deleting them, and where listeners
//! may forward.

use std::collections::BTreeMap;

use super::resources::{Listener, LoadBalancer};
use super::time::Ms;
use super::util::{already_exists, in_stack, not_found, refused};
use super::world::World;
use crate::cloud::{
    CloudResult, ListenerInfo, ListenerSpec, LoadBalancerInfo, LoadBalancerSpec, Tags,
};

impl World {
    pub fn load_balancer_kinds(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for lb in self.load_balancers.values() {
            *out.entry(lb.spec.kind.clone()).or_default() += 1;
        }
        out
    }

    pub fn count_load_balancers(&self) -> usize {
        self.load_balancers.len()
    }

    pub fn list_load_balancers(&self, stack: &str, prefix: &str) -> (usize, Vec<LoadBalancerInfo>) {
        let candidates: Vec<&LoadBalancer> = self
            .load_balancers
            .values()
            .filter(|lb| lb.spec.name.starts_with(prefix))
            .collect();
        let listed = candidates
            .iter()
            .filter(|lb| in_stack(&lb.tags, stack))
            .map(|lb| load_balancer_info(lb))
            .collect();
        (candidates.len(), listed)
    }

    pub fn list_listeners(
        &self,
        operation: &'static str,
        load_balancer_arn: &str,
    ) -> CloudResult<Vec<ListenerInfo>> {
        if !self.load_balancers.contains_key(load_balancer_arn) {
            return Err(not_found(
                operation,
                format!("load balancer {load_balancer_arn}"),
                "LoadBalancerNotFound",
            ));
        }
        let mut out: Vec<ListenerInfo> = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == load_balancer_arn)
            .map(|l| ListenerInfo {
                arn: l.arn.clone(),
                load_balancer_arn: l.load_balancer_arn.clone(),
                spec: l.spec.clone(),
            })
            .collect();
        out.sort_by_key(|l| l.spec.port);
        Ok(out)
    }

    pub fn create_load_balancer(
        &mut self,
        operation: &'static str,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        let mut spec = spec.clone();
        if spec.kind.is_empty() {
            spec.kind = "application".into();
        }
        if spec.kind != "application" {
            spec.security_group_ids.clear();
        }
        if let Some(existing) = self
            .load_balancers
            .values()
            .find(|lb| lb.spec.name == spec.name)
        {
            if existing.spec == spec {
                return Ok(load_balancer_info(existing));
            }
            return Err(already_exists(
                operation,
                format!("load balancer {}", spec.name),
                "DuplicateLoadBalancerName",
            ));
        }
        let kind = if spec.kind == "application" {
            "app"
        } else {
            "net"
        };
        let arn = self.elb_arn(&format!("loadbalancer/{kind}"), &spec.name);
        let number = self.next_u64() % 10_000_000_000;
        let dns_name = format!(
            "{}{}-{number}.{}.elb.amazonaws.com",
            if spec.internal { "internal-" } else { "" },
            spec.name,
            self.config.region
        );
        let lb = LoadBalancer {
            arn: arn.clone(),
            dns_name,
            spec,
            tags: tags.clone(),
        };
        let info = load_balancer_info(&lb);
        self.load_balancers.insert(arn, lb);
        Ok(info)
    }

    pub fn modify_load_balancer(
        &mut self,
        operation: &'static str,
        arn: &str,
        spec: &LoadBalancerSpec,
    ) -> CloudResult<()> {
        let lb = self.load_balancers.get_mut(arn).ok_or_else(|| {
            not_found(
                operation,
                format!("load balancer {arn}"),
                "LoadBalancerNotFound",
            )
        })?;
        lb.spec.subnet_ids = spec.subnet_ids.clone();
        if lb.spec.kind == "application" {
            lb.spec.security_group_ids = spec.security_group_ids.clone();
        }
        Ok(())
    }

    /// Deleting a load balancer that does not exist succeeds, as in ELBv2.
    pub fn delete_load_balancer(&mut self, arn: &str, t: Ms) {
        if self.load_balancers.remove(arn).is_some() {
            self.listeners.retain(|_, l| l.load_balancer_arn != arn);
            self.update_usage(t);
        }
    }

    fn check_forwards(
        &self,
        operation: &'static str,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
    ) -> CloudResult<()> {
        if spec.forward.is_empty() || spec.forward.len() > 5 {
            return Err(refused(
                operation,
                "ValidationError",
                "a forward action takes 1 to 5 target groups",
            ));
        }
        for f in &spec.forward {
            if !self.target_groups.contains_key(&f.target_group_arn) {
                return Err(not_found(
                    operation,
                    format!("target group {}", f.target_group_arn),
                    "TargetGroupNotFound",
                ));
            }
            if f.weight > 999 {
                return Err(refused(
                    operation,
                    "ValidationError",
                    "target group weights are 0 to 999",
                ));
            }
            let elsewhere = self.listeners.values().any(|l| {
                l.load_balancer_arn != load_balancer_arn
                    && l.spec
                        .forward
                        .iter()
                        .any(|x| x.target_group_arn == f.target_group_arn)
            });
            if elsewhere {
                return Err(refused(
                    operation,
                    "TargetGroupAssociationLimit",
                    format!(
                        "The following target groups cannot be associated with more than one \
                         load balancer: {}",
                        f.target_group_arn
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn create_listener(
        &mut self,
        operation: &'static str,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
        t: Ms,
    ) -> CloudResult<String> {
        let lb_name = self
            .load_balancers
            .get(load_balancer_arn)
            .map(|lb| lb.spec.name.clone())
            .ok_or_else(|| {
                not_found(
                    operation,
                    format!("load balancer {load_balancer_arn}"),
                    "LoadBalancerNotFound",
                )
            })?;
        if self
            .listeners
            .values()
            .any(|l| l.load_balancer_arn == load_balancer_arn && l.spec.port == spec.port)
        {
            return Err(refused(
                operation,
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        self.check_forwards(operation, load_balancer_arn, spec)?;
        let arn = self.elb_arn("listener/app", &lb_name);
        self.listeners.insert(
            arn.clone(),
            Listener {
                arn: arn.clone(),
                load_balancer_arn: load_balancer_arn.to_string(),
                spec: spec.clone(),
                tags: tags.clone(),
            },
        );
        self.update_usage(t);
        Ok(arn)
    }

    pub fn modify_listener(
        &mut self,
        operation: &'static str,
        arn: &str,
        spec: &ListenerSpec,
        t: Ms,
    ) -> CloudResult<()> {
        let lb = self
            .listeners
            .get(arn)
            .map(|l| l.load_balancer_arn.clone())
            .ok_or_else(|| not_found(operation, format!("listener {arn}"), "ListenerNotFound"))?;
        if self
            .listeners
            .values()
            .any(|l| l.arn != arn && l.load_balancer_arn == lb && l.spec.port == spec.port)
        {
            return Err(refused(
                operation,
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        self.check_forwards(operation, &lb, spec)?;
        self.listeners.get_mut(arn).expect("listener").spec = spec.clone();
        self.update_usage(t);
        Ok(())
    }

    pub fn delete_listener(
        &mut self,
        operation: &'static str,
        arn: &str,
        t: Ms,
    ) -> CloudResult<()> {
        self.listeners
            .remove(arn)
            .ok_or_else(|| not_found(operation, format!("listener {arn}"), "ListenerNotFound"))?;
        self.update_usage(t);
        Ok(())
    }
}

fn load_balancer_info(lb: &LoadBalancer) -> LoadBalancerInfo {
    LoadBalancerInfo {
        arn: lb.arn.clone(),
        dns_name: lb.dns_name.clone(),
        spec: lb.spec.clone(),
        state: Some("active".into()),
        tags: lb.tags.clone(),
    }
}
