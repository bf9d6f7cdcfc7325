//! Generated benchmark stacks: `groups` server groups of `per_group` instances, each behind
//! its own target group, all target groups behind one load balancer (one listener each), with
//! the health checks and draining the benchmark states.

use std::fmt::Write as _;

pub struct StackShape {
    pub name: &'static str,
    pub groups: u32,
    pub per_group: u32,
    /// Percent of desired.
    pub max_surge_percent: u32,
    pub max_unavailable_percent: u32,
    /// Where the stack lives and, for a restore, the region its image is copied from.
    pub region: &'static str,
    pub copy_from: Option<&'static str>,
    /// Every target group's health check interval and healthy threshold, and its
    /// deregistration delay, in seconds.
    pub interval_s: u32,
    pub healthy_threshold: u32,
    pub deregistration_s: u32,
}

/// The stack's HCL. Lookups use the names the emulator's seed creates (`demo-app-<version>`,
/// VPC `Name=demo`), which the simulator also resolves.
pub fn hcl(s: &StackShape) -> String {
    let mut out = format!(
        r#"stack "{name}" {{
  region = "{region}"
}}

variable "app_version" {{
  default = "1.0.0"
}}

image "app" {{
  owners      = ["self"]
  name        = "demo-app-${{var.app_version}}"
  most_recent = true{copy}
}}

network "main" {{
  vpc_tags             = {{ Name = "demo" }}
  subnet_tags          = {{ tier = "private" }}
  security_group_names = ["demo-web"]
}}
"#,
        name = s.name,
        region = s.region,
        copy = s
            .copy_from
            .map(|from| format!("\n  copy_from   = \"{from}\""))
            .unwrap_or_default(),
    );
    for g in 0..s.groups {
        write!(
            out,
            r#"
target_group "g{g:02}" {{
  vpc_id               = network.main.vpc_id
  port                 = 8080
  deregistration_delay = "{dereg}s"
  health_check {{
    path              = "/healthz"
    interval          = "{interval}s"
    healthy_threshold = {threshold}
  }}
}}

server_group "g{g:02}" {{
  image           = image.app
  instance_type   = "c7g.large"
  capacity        = {{ min = {n}, desired = {n}, max = {max} }}
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups   = [target_group.g{g:02}]

  rollout {{
    max_surge       = "{surge}%"
    max_unavailable = "{unavailable}%"
    health {{
      grace   = "30s"
      timeout = "1h"
    }}
  }}
}}
"#,
            n = s.per_group,
            // Room for the surge and no more: a target group holds at most 1000 targets.
            max = s.per_group + s.per_group.div_ceil(10),
            surge = s.max_surge_percent,
            unavailable = s.max_unavailable_percent,
            dereg = s.deregistration_s,
            interval = s.interval_s,
            threshold = s.healthy_threshold,
        )
        .expect("write to a string");
    }
    out.push_str(
        r#"
load_balancer "public" {
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
"#,
    );
    for g in 0..s.groups {
        write!(
            out,
            r#"  listener "g{g:02}" {{
    port    = {port}
    forward = target_group.g{g:02}
  }}
"#,
            port = 8000 + g
        )
        .expect("write to a string");
    }
    out.push_str("}\n");
    out
}
