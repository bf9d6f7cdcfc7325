//! Which blocks and attributes the stack language allows, as data.
//!
//! Anything not listed here is an error: a typo must never be silently ignored.

/// How many times a nested block may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multiplicity {
    AtMostOne,
    Many,
}

/// The shape of one block kind.
#[derive(Debug)]
pub struct BlockSchema {
    /// Names of the labels, in order (`server_group "web"` has one: its name).
    pub labels: &'static [&'static str],
    /// Attribute names and whether each is required.
    pub attrs: &'static [(&'static str, bool)],
    pub blocks: &'static [(&'static str, &'static BlockSchema, Multiplicity)],
    /// `locals` and `module` take attributes of any name.
    pub any_attrs: bool,
}

use Multiplicity::{AtMostOne, Many};

const NAME: &[&str] = &["name"];

pub static HOOK: BlockSchema = BlockSchema {
    labels: &["event"],
    attrs: &[("command", true), ("timeout", false), ("env", false)],
    blocks: &[],
    any_attrs: false,
};

pub static STACK: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("region", false),
        ("regions", false),
        ("region_bake", false),
        ("tags", false),
        ("lock", false),
    ],
    blocks: &[("hook", &HOOK, Many)],
    any_attrs: false,
};

pub static VARIABLE: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("default", false),
        ("description", false),
        ("type", false),
        ("sensitive", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static LOCALS: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[],
    blocks: &[],
    any_attrs: true,
};

pub static IMAGE: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("id", false),
        ("owners", false),
        ("name", false),
        ("tags", false),
        ("most_recent", false),
        ("copy_from", false),
        ("packer_manifest", false),
        ("build", false),
        ("copy_kms_key", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static NETWORK: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("vpc_id", false),
        ("vpc_tags", false),
        ("subnet_tags", false),
        ("security_group_names", false),
        ("security_group_tags", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static HEALTH_CHECK: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("path", false),
        ("port", false),
        ("protocol", false),
        ("interval", false),
        ("timeout", false),
        ("healthy_threshold", false),
        ("unhealthy_threshold", false),
        ("matcher", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static TARGET_GROUP: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("name", false),
        ("vpc_id", true),
        ("port", true),
        ("protocol", false),
        ("deregistration_delay", false),
        ("tags", false),
        ("count", false),
        ("for_each", false),
    ],
    blocks: &[("health_check", &HEALTH_CHECK, AtMostOne)],
    any_attrs: false,
};

pub static LISTENER: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("port", true),
        ("protocol", false),
        ("forward", true),
        ("certificate_arn", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static LOAD_BALANCER: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("name", false),
        ("subnets", true),
        ("security_groups", false),
        ("internal", false),
        ("type", false),
        ("tags", false),
        ("count", false),
        ("for_each", false),
    ],
    blocks: &[("listener", &LISTENER, Many)],
    any_attrs: false,
};

pub static HEALTH: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("grace", false), ("timeout", false), ("alarms", false)],
    blocks: &[],
    any_attrs: false,
};

pub static CANARY: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("instances", false), ("bake", false), ("steps", false)],
    blocks: &[],
    any_attrs: false,
};

pub static ROLLOUT: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("strategy", false),
        ("max_surge", false),
        ("max_unavailable", false),
        ("on_failure", false),
        ("keep_previous", false),
        ("traffic_steps", false),
        ("step_bake", false),
        ("keep_blue", false),
    ],
    blocks: &[
        ("health", &HEALTH, AtMostOne),
        ("canary", &CANARY, AtMostOne),
        ("hook", &HOOK, Many),
    ],
    any_attrs: false,
};

pub static METADATA: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("http_tokens", false), ("hop_limit", false)],
    blocks: &[],
    any_attrs: false,
};

pub static EBS: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("volume_size", false),
        ("volume_type", false),
        ("iops", false),
        ("throughput", false),
        ("encrypted", false),
        ("kms_key_id", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static BLOCK_DEVICE: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("device_name", true)],
    blocks: &[("ebs", &EBS, AtMostOne)],
    any_attrs: false,
};

pub static MONITORING: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("enabled", true)],
    blocks: &[],
    any_attrs: false,
};

pub static NETWORK_INTERFACE: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("device_index", false),
        ("associate_public_ip_address", false),
        ("delete_on_termination", false),
        ("security_groups", false),
        ("description", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static PLACEMENT: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("group_name", false),
        ("tenancy", false),
        ("partition_number", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static CREDIT_SPECIFICATION: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("cpu_credits", true)],
    blocks: &[],
    any_attrs: false,
};

pub static TAG_SPECIFICATION: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("resource_type", true), ("tags", true)],
    blocks: &[],
    any_attrs: false,
};

pub static INSTANCES_DISTRIBUTION: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("on_demand_base_capacity", false),
        ("on_demand_percentage_above_base_capacity", false),
        ("spot_allocation_strategy", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static OVERRIDE: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("instance_type", true), ("weighted_capacity", false)],
    blocks: &[],
    any_attrs: false,
};

pub static MIXED_INSTANCES_POLICY: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[],
    blocks: &[
        ("instances_distribution", &INSTANCES_DISTRIBUTION, AtMostOne),
        ("override", &OVERRIDE, Many),
    ],
    any_attrs: false,
};

pub static PREDEFINED_METRIC: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("predefined_metric_type", true), ("resource_label", false)],
    blocks: &[],
    any_attrs: false,
};

pub static TARGET_TRACKING: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[("target_value", true), ("disable_scale_in", false)],
    blocks: &[(
        "predefined_metric_specification",
        &PREDEFINED_METRIC,
        AtMostOne,
    )],
    any_attrs: false,
};

pub static STEP_ADJUSTMENT: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[
        ("scaling_adjustment", true),
        ("metric_interval_lower_bound", false),
        ("metric_interval_upper_bound", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static SCALING_POLICY: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("policy_type", true),
        ("estimated_instance_warmup", false),
        ("adjustment_type", false),
        ("metric_aggregation_type", false),
    ],
    blocks: &[
        ("target_tracking_configuration", &TARGET_TRACKING, AtMostOne),
        ("step_adjustment", &STEP_ADJUSTMENT, Many),
    ],
    any_attrs: false,
};

pub static SCHEDULED_ACTION: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("recurrence", false),
        ("start_time", false),
        ("end_time", false),
        ("time_zone", false),
        ("min_size", false),
        ("max_size", false),
        ("desired_capacity", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static LIFECYCLE_HOOK: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("lifecycle_transition", true),
        ("heartbeat_timeout", false),
        ("default_result", false),
        ("notification_target_arn", false),
        ("role_arn", false),
        ("notification_metadata", false),
    ],
    blocks: &[],
    any_attrs: false,
};

pub static SERVER_GROUP: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("name", false),
        ("image", true),
        ("instance_type", true),
        ("capacity", true),
        ("subnets", true),
        ("security_groups", false),
        ("user_data", false),
        ("instance_profile", false),
        ("key_name", false),
        ("target_groups", false),
        ("depends_on", false),
        ("count", false),
        ("for_each", false),
        ("mode", false),
        ("tags", false),
        ("ebs_optimized", false),
        ("health_check_type", false),
        ("health_check_grace_period", false),
        ("default_instance_warmup", false),
        ("termination_policies", false),
        ("capacity_rebalance", false),
    ],
    blocks: &[
        ("rollout", &ROLLOUT, AtMostOne),
        ("metadata", &METADATA, AtMostOne),
        ("block_device_mappings", &BLOCK_DEVICE, Many),
        ("monitoring", &MONITORING, AtMostOne),
        ("network_interfaces", &NETWORK_INTERFACE, Many),
        ("placement", &PLACEMENT, AtMostOne),
        ("credit_specification", &CREDIT_SPECIFICATION, AtMostOne),
        ("tag_specifications", &TAG_SPECIFICATION, Many),
        ("mixed_instances_policy", &MIXED_INSTANCES_POLICY, AtMostOne),
        ("scaling_policy", &SCALING_POLICY, Many),
        ("scheduled_action", &SCHEDULED_ACTION, Many),
        ("lifecycle_hook", &LIFECYCLE_HOOK, Many),
    ],
    any_attrs: false,
};

pub static MODULE_CALL: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[("source", true)],
    blocks: &[],
    any_attrs: true,
};

pub static OUTPUT: BlockSchema = BlockSchema {
    labels: NAME,
    attrs: &[
        ("value", true),
        ("description", false),
        ("sensitive", false),
    ],
    blocks: &[],
    any_attrs: false,
};

macro_rules! top_level {
    ($($extra:expr),*) => {
        &[
            $($extra,)*
            ("variable", &VARIABLE, Many),
            ("locals", &LOCALS, Many),
            ("image", &IMAGE, Many),
            ("network", &NETWORK, Many),
            ("target_group", &TARGET_GROUP, Many),
            ("load_balancer", &LOAD_BALANCER, Many),
            ("server_group", &SERVER_GROUP, Many),
            ("module", &MODULE_CALL, Many),
            ("output", &OUTPUT, Many),
        ]
    };
}

/// A file of the root stack.
pub static ROOT: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[],
    blocks: top_level!(("stack", &STACK, Many)),
    any_attrs: false,
};

/// A file of a module: everything but `stack`.
pub static MODULE: BlockSchema = BlockSchema {
    labels: &[],
    attrs: &[],
    blocks: top_level!(),
    any_attrs: false,
};
