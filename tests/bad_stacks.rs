//! Malformed and wrong stacks, one directory each under `tests/fixtures/bad/`, run through the
//! real binary. Each must fail with exit code 1 and report every problem with its
//! `file:line:col` and what was expected, without a panic and without a single call to AWS.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bad");

/// `(case, args, expected)`: `reroll validate <case> <args>` (or `plan` when `args` starts with
/// it; `REROLL_VAR_*=…` items go to the environment); every `expected` text must appear in
/// stderr. The last one is the problem count, so that no follow-on noise goes unnoticed.
const CASES: &[(&str, &[&str], &[&str])] = &[
    // Syntax.
    (
        "syntax_unclosed_brace",
        &[],
        &[
            "syntax_unclosed_brace/main.hcl:5:20",
            "a block is never closed",
            "this `{` has no matching `}`",
            "1 problem found",
        ],
    ),
    (
        "syntax_missing_equals",
        &[],
        &[
            "syntax_missing_equals/main.hcl:7:8",
            "syntax error",
            "expected `{`, `=`",
            "1 problem found",
        ],
    ),
    (
        "object_key_twice",
        &[],
        &[
            "object_key_twice/a.hcl:5:5",
            "object_key_twice/b.hcl:5:5",
            "expected unique object key; found redefined object key",
            "2 problems found",
        ],
    ),
    (
        "count_and_for_each",
        &[],
        &[
            "count_and_for_each/main.hcl:7:3",
            "target_group \"shard\" sets both `count` and `for_each`",
            "count_and_for_each/main.hcl:13:19",
            "`for_each` key \"us east\" cannot be part of an AWS name",
            "count_and_for_each/main.hcl:25:29",
            "`count.index` is not known here",
            "`count.index` exists only in a repeated block",
            "count_and_for_each/main.hcl:29:13",
            "`count` depends on a value known only after apply",
            "4 problems found",
        ],
    ),
    (
        "attribute_twice",
        &[],
        &[
            "attribute_twice/main.hcl:8:3",
            "attribute `port` is set twice",
            "1 problem found",
        ],
    ),
    // Schema: blocks and attributes.
    (
        "unknown_attribute",
        &[],
        &[
            "unknown_attribute/main.hcl:7:3",
            "unknown attribute `instnace_type` in server_group \"web\"",
            "did you mean `instance_type`?",
            "1 problem found",
        ],
    ),
    (
        "unknown_block",
        &[],
        &[
            "unknown_block/main.hcl:5:1",
            "unknown block `server_grup`",
            "did you mean `server_group`?",
            "1 problem found",
        ],
    ),
    (
        "unknown_nested_block",
        &[],
        &[
            "unknown_nested_block/main.hcl:9:3",
            "unknown block `healthcheck` in target_group \"web\"",
            "did you mean `health_check`?",
            "1 problem found",
        ],
    ),
    (
        "duplicate_block_across_files",
        &[],
        &[
            "duplicate_block_across_files/web.hcl:3:1",
            "duplicate server_group \"web\"",
            "first declared at duplicate_block_across_files/main.hcl:5:1",
            "1 problem found",
        ],
    ),
    (
        "missing_image",
        &[],
        &[
            "missing_image/main.hcl:5:1",
            "server_group \"web\" is missing required attribute `image`",
            "1 problem found",
        ],
    ),
    (
        "missing_label",
        &[],
        &[
            "missing_label/main.hcl:5:1",
            "block `server_group` has 0 label(s), expected 1",
            "server_group \"name\" {",
            "1 problem found",
        ],
    ),
    (
        "output_missing_value",
        &[],
        &[
            "output_missing_value/main.hcl:5:1",
            "output \"url\" is missing required attribute `value`",
            "1 problem found",
        ],
    ),
    (
        "two_stack_blocks",
        &[],
        &[
            "two_stack_blocks/main.hcl:5:1",
            "more than one `stack` block",
            "1 problem found",
        ],
    ),
    (
        "no_stack_block",
        &[],
        &[
            "the stack has no `stack` block",
            "stack \"name\"",
            "1 problem found",
        ],
    ),
    // Values of the wrong type or out of range.
    (
        "port_not_a_number",
        &[],
        &[
            "port_not_a_number/main.hcl:7:12",
            "`port` must be a whole number, found string \"eighty\"",
            "1 problem found",
        ],
    ),
    (
        "capacity_min_above_max",
        &[],
        &[
            "capacity_min_above_max/main.hcl:8:19",
            "min ≤ desired ≤ max",
            "got min 8 desired 6 max 4",
            "1 problem found",
        ],
    ),
    (
        "max_surge_words",
        &[],
        &[
            "max_surge_words/main.hcl:12:17",
            "`max_surge`: \"lots\" is neither a count nor a percentage",
            "1 problem found",
        ],
    ),
    (
        "duration_words",
        &[],
        &[
            "duration_words/main.hcl:8:26",
            "\"ten minutes\" is not a duration",
            "\"30s\"",
            "1 problem found",
        ],
    ),
    (
        "rollout_cannot_progress",
        &[],
        &[
            "rollout_cannot_progress/main.hcl:12:5",
            "rollout can never make progress",
            "max_surge and max_unavailable are both 0",
            "1 problem found",
        ],
    ),
    (
        "health_check_path",
        &[],
        &[
            "health_check_path/main.hcl:10:12",
            "health check path \"healthz\" must start with /",
            "1 problem found",
        ],
    ),
    (
        "forward_too_many",
        &[],
        &[
            "forward_too_many/main.hcl:23:15",
            "`forward` names 6 target groups",
            "1 to 5 target groups",
            "1 problem found",
        ],
    ),
    (
        "invalid_strategy",
        &[],
        &[
            "invalid_strategy/main.hcl:12:16",
            "`strategy` cannot be \"big_bang\"",
            "\"rolling\", \"canary\", \"blue_green\"",
            "1 problem found",
        ],
    ),
    // References.
    (
        "undefined_target_group",
        &[],
        &[
            "undefined_target_group/main.hcl:15:20",
            "reference to undeclared target_group \"nope\"",
            "this module declares: target_group.web",
            "1 problem found",
        ],
    ),
    (
        "undefined_variable",
        &[],
        &[
            "undefined_variable/main.hcl:2:12",
            "reference to undeclared variable \"regoin\"",
            "did you mean `var.region`?",
            "1 problem found",
        ],
    ),
    (
        "unknown_root",
        &[],
        &[
            "unknown_root/main.hcl:6:10",
            "unknown name `foo`",
            "references start with one of",
            "1 problem found",
        ],
    ),
    (
        "wrong_reference_kind",
        &[],
        &[
            "wrong_reference_kind/main.hcl:17:19",
            "`target_groups` must be a reference to a target_group",
            "found a reference to server_group.api",
            "1 problem found",
        ],
    ),
    (
        "depends_on_target_group",
        &[],
        &[
            "depends_on_target_group/main.hcl:15:19",
            "`depends_on` must be a reference to a server_group",
            "found a reference to target_group.web",
            "1 problem found",
        ],
    ),
    (
        "depends_on_undeclared",
        &[],
        &[
            "depends_on_undeclared/main.hcl:10:20",
            "reference to undeclared server_group \"db\"",
            "1 problem found",
        ],
    ),
    (
        "depends_on_cycle",
        &["plan"],
        &[
            "depends_on_cycle/main.hcl:10:20",
            "server groups depend on each other in a cycle: server_group.web → server_group.api → server_group.web",
            "waits for server_group.api, which waits back",
            "1 problem found",
        ],
    ),
    (
        "depends_on_cycle_long",
        &[],
        &[
            "depends_on_cycle_long/main.hcl:10:20",
            "cycle: server_group.a → server_group.b → server_group.c → server_group.a",
            "depends_on_cycle_long/main.hcl:34:20",
            "cycle: server_group.solo → server_group.solo",
            "a server group cannot wait for itself",
            "2 problems found",
        ],
    ),
    (
        "depends_on_module_cycle",
        &[],
        &[
            "depends_on_module_cycle/svc/main.hcl:10:19",
            "cycle: module.api.server_group.svc → server_group.web → module.api.server_group.svc",
            "waits for server_group.web, which waits back",
            "1 problem found",
        ],
    ),
    (
        "module_member_undeclared",
        &[],
        &[
            "module_member_undeclared/main.hcl:14:20",
            "module \"api\" declares no server_group \"sevice\"",
            "did you mean `module.api.server_group.service`?",
            "module_member_undeclared/main.hcl:15:20",
            "module \"api\" declares no target_group at all",
            "2 problems found",
        ],
    ),
    // Functions: each failure at its call, with what went wrong.
    (
        "function_errors",
        &[],
        &[
            "function_errors/main.hcl:6:13",
            "error calling function `regex`: invalid regular expression",
            "function_errors/main.hcl:7:13",
            "error calling function `try`: no expression succeeded",
            "function_errors/main.hcl:8:13",
            "prefix extension of 4 does not accommodate a subnet numbered 16",
            "function_errors/main.hcl:9:13",
            "error calling function `yamldecode`: invalid YAML on line 2, column 1",
            "function_errors/main.hcl:10:13",
            "not enough arguments: can takes one expression",
            "function_errors/main.hcl:11:13",
            "fileset(\"function_errors\"): unclosed `{` in the pattern",
            "function_errors/main.hcl:12:13",
            "not a valid RFC 3339 timestamp: \"2018-01-02\"",
            "function_errors/main.hcl:13:13",
            "cannot sum an empty list",
            "8 problems found",
        ],
    ),
    // Locals and other named values, in any order; cycles named once.
    (
        "local_cycle",
        &[],
        &[
            "local_cycle/main.hcl:6:7",
            "local values depend on each other in a cycle: local.a → local.b → local.a",
            "refers to `local.b`, which leads back here",
            "1 problem found",
        ],
    ),
    (
        "local_cycle_across_files",
        &[],
        &[
            "local_cycle_across_files/a.hcl:7:31",
            "local values depend on each other in a cycle: local.a → local.c → local.b → local.a",
            "1 problem found",
        ],
    ),
    (
        "value_cycle_through_lookup",
        &[],
        &[
            "value_cycle_through_lookup/main.hcl:6:23",
            "these values depend on each other in a cycle: local.image_name → local.ami → image.app → local.image_name",
            "1 problem found",
        ],
    ),
    // Limits on the work of loading.
    (
        "limit_format_width",
        &[],
        &[
            "limit_format_width/main.hcl:6:12",
            "width 999999999 is larger than the limit of 10000",
            "limit_format_width/main.hcl:7:12",
            "precision 65536 is larger than the limit of 10000",
            "the limits on loading are in the README",
            "2 problems found",
        ],
    ),
    (
        "limit_formatlist",
        &[],
        &[
            "limit_formatlist/main.hcl:6:11",
            "width 99999999 is larger than the limit of 10000",
            "1 problem found",
        ],
    ),
    (
        "limit_nested_for",
        &[],
        &[
            "limit_nested_for/main.hcl:7:11",
            "cannot evaluate `cube`: `for` loops here would run more than the limit of 250000 iterations",
            "over a loading limit",
            "1 problem found",
        ],
    ),
    // Functions.
    (
        "function_missing_file",
        &[],
        &[
            "function_missing_file/main.hcl:10:19",
            "cannot evaluate `user_data`",
            "file(\"missing.yaml\"): no such file",
            "1 problem found",
        ],
    ),
    (
        "unknown_function",
        &[],
        &[
            "unknown_function/main.hcl:10:19",
            "undefined function `fiel`",
            "1 problem found",
        ],
    ),
    // Modules.
    (
        "module_cycle",
        &[],
        &[
            "module_cycle/b/main.hcl:2:12",
            "module cycle: module_cycle/a → module_cycle/b → module_cycle/a",
            "1 problem found",
        ],
    ),
    (
        "module_source_missing",
        &[],
        &[
            "module_source_missing/main.hcl:6:12",
            "module \"api\": no module at module_source_missing/modules/nowhere",
            "1 problem found",
        ],
    ),
    (
        "module_unknown_input",
        &[],
        &[
            "module_unknown_input/main.hcl:8:3",
            "module \"api\" has no input `prot`",
            "did you mean `port`?",
            "1 problem found",
        ],
    ),
    (
        "module_missing_input",
        &[],
        &[
            "module_missing_input/main.hcl:5:1",
            "module \"api\" needs input `name`",
            "1 problem found",
        ],
    ),
    (
        "module_inner_error",
        &[],
        &[
            "module_inner_error/svc/main.hcl:8:3",
            "unknown attribute `protocl` in target_group \"main\"",
            "did you mean `protocol`?",
            "1 problem found",
        ],
    ),
    // Variables from the command line, var files and the environment.
    (
        "missing_required_variable",
        &["plan"],
        &[
            "missing_required_variable/main.hcl:5:1",
            "required variable \"app_version\" has no value",
            "-var app_version=VALUE",
            "-var-file",
            "REROLL_VAR_app_version",
            "1 problem found",
        ],
    ),
    (
        "var_undeclared",
        &["-var", "regoin=eu-west-1"],
        &[
            "-var regoin=…: the stack declares no variable \"regoin\"",
            "did you mean `region`?",
            "1 problem found",
        ],
    ),
    (
        "var_undeclared",
        &["--var", "regoin=eu-west-1"],
        &[
            "the stack declares no variable \"regoin\"",
            "1 problem found",
        ],
    ),
    (
        "var_not_a_number",
        &["-var", "instances=abc"],
        &[
            "var_not_a_number/main.hcl:5:1",
            "variable \"instances\" expects a number, but -var gives \"abc\"",
            "1 problem found",
        ],
    ),
    (
        "env_var_not_a_bool",
        &["REROLL_VAR_internal=maybe"],
        &[
            "env_var_not_a_bool/main.hcl:5:1",
            "variable \"internal\" expects a bool, but REROLL_VAR_internal gives \"maybe\"",
            "1 problem found",
        ],
    ),
    (
        "var_file_syntax_error",
        &["-var-file", "var_file_syntax_error/prod.tfvars"],
        &[
            "var_file_syntax_error/prod.tfvars:2:11",
            "syntax error in -var-file",
            "1 problem found",
        ],
    ),
    (
        "var_file_undeclared",
        &["-var-file", "var_file_undeclared/prod.tfvars"],
        &[
            "var_file_undeclared/prod.tfvars:2:1",
            "the stack declares no variable \"instances\"",
            "the stack declares: region",
            "1 problem found",
        ],
    ),
    // All problems at once: three independent ones in one file.
    (
        "three_errors",
        &[],
        &[
            "three_errors/main.hcl:7:12",
            "`port` must be a whole number",
            "three_errors/main.hcl:12:3",
            "did you mean `instance_type`?",
            "three_errors/main.hcl:15:20",
            "undeclared target_group \"nope\"",
            "3 problems found",
        ],
    ),
    // Rollout strategies, canaries, blue/green and hooks.
    (
        "strategy_settings_misplaced",
        &[],
        &[
            "strategy_settings_misplaced/main.hcl:13:5",
            "`keep_blue` applies to strategy = \"blue_green\", but this rollout is \"rolling\"",
            "strategy_settings_misplaced/main.hcl:14:5",
            "`canary` applies to strategy = \"canary\"",
            "2 problems found",
        ],
    ),
    (
        "traffic_steps_wrong",
        &[],
        &[
            "traffic_steps_wrong/main.hcl:19:21",
            "`traffic_steps` must increase and end at 100, got [50, 10]",
            "1 problem found",
        ],
    ),
    (
        "hook_event_unknown",
        &[],
        &[
            "hook_event_unknown/main.hcl:12:5",
            "there is no hook event \"after_wav\"",
            "did you mean \"after_wave\"?",
            "hook_event_unknown/main.hcl:16:17",
            "a hook's `command` needs a program to run",
            "2 problems found",
        ],
    ),
    (
        "blue_green_needs_asg",
        &[],
        &[
            "blue_green_needs_asg/main.hcl:13:5",
            "blue/green needs mode = \"asg\"",
            "blue/green moves listener traffic, but this group has no target groups",
            "2 problems found",
        ],
    ),
    // The stack block.
    (
        "lock_url_malformed",
        &[],
        &[
            "lock_url_malformed/main.hcl:3:12",
            "`lock` is not a usable lock: \"Shop_Locks\" is not a valid S3 bucket name",
            "expected s3://BUCKET/PREFIX",
            "bucket names have 3 to 63 lowercase letters",
            "1 problem found",
        ],
    ),
    // Region by region: `regions` and `region_bake` of the stack block.
    (
        "stack_region_and_regions",
        &[],
        &[
            "stack_region_and_regions/main.hcl:3:3",
            "the stack block sets both `region` and `regions`",
            "keep one: `regions` to go region by region, or `region` for one region",
            "1 problem found",
        ],
    ),
    (
        "stack_regions_not_a_region",
        &[],
        &[
            "stack_regions_not_a_region/main.hcl:2:13",
            "`regions`: \"Europe\" is not an AWS region name",
            "expected region names such as \"us-east-1\"",
            "1 problem found",
        ],
    ),
    (
        "stack_regions_twice",
        &[],
        &[
            "stack_regions_twice/main.hcl:2:13",
            "`regions` lists \"us-east-1\" twice",
            "1 problem found",
        ],
    ),
    (
        "stack_regions_empty",
        &[],
        &[
            "stack_regions_empty/main.hcl:2:13",
            "`regions` is empty",
            "1 problem found",
        ],
    ),
    (
        "stack_region_bake_words",
        &[],
        &[
            "stack_region_bake_words/main.hcl:3:17",
            "`region_bake`: \"ten minutes\" is not a duration",
            "1 problem found",
        ],
    ),
    // Launch template options and Auto Scaling settings of a server group.
    (
        "fleet_launch_template",
        &[],
        &[
            "fleet_launch_template/main.hcl:9:19",
            "`ebs_optimized` must be true or false, found string \"yes\"",
            "fleet_launch_template/main.hcl:12:19",
            "`http_tokens` cannot be \"sometimes\"",
            "fleet_launch_template/main.hcl:13:19",
            "`hop_limit` is 65, out of range",
            "fleet_launch_template/main.hcl:16:19",
            "device name \"sda1\" is not a device",
            "fleet_launch_template/main.hcl:18:21",
            "`volume_size` is 0, out of range",
            "fleet_launch_template/main.hcl:19:21",
            "`volume_type` cannot be \"gp4\"",
            "fleet_launch_template/main.hcl:26:21",
            "`throughput` cannot be set on a gp2 volume",
            "fleet_launch_template/main.hcl:27:21",
            "`iops` cannot be set on a gp2 volume",
            "fleet_launch_template/main.hcl:28:21",
            "`kms_key_id` needs `encrypted = true`",
            "fleet_launch_template/main.hcl:31:3",
            "duplicate block device \"/dev/xvdb\"",
            "fleet_launch_template/main.hcl:35:15",
            "`enabled` must be true or false, found string \"often\"",
            "fleet_launch_template/main.hcl:39:35",
            "a public IP address is given on device_index 0 only",
            "fleet_launch_template/main.hcl:41:3",
            "duplicate network interface device_index \"1\"",
            "fleet_launch_template/main.hcl:45:24",
            "`tenancy` cannot be \"shared\"",
            "fleet_launch_template/main.hcl:46:24",
            "`partition_number` needs a `group_name`",
            "fleet_launch_template/main.hcl:49:19",
            "`cpu_credits` cannot be \"infinite\"",
            "fleet_launch_template/main.hcl:52:21",
            "`resource_type` cannot be \"snapshot\"",
            "fleet_launch_template/main.hcl:57:21",
            "tag `reroll:stack` is reroll's own",
            "fleet_launch_template/main.hcl:61:21",
            "tag `Name` is reroll's own",
            "19 problems found",
        ],
    ),
    (
        "fleet_auto_scaling",
        &[],
        &[
            "fleet_auto_scaling/main.hcl:8:31",
            "`health_check_type` cannot be \"HTTP\"",
            "fleet_auto_scaling/main.hcl:9:31",
            "`health_check_grace_period` is 1.5s, out of range",
            "fleet_auto_scaling/main.hcl:10:31",
            "`default_instance_warmup` is 39600s, out of range",
            "fleet_auto_scaling/main.hcl:11:31",
            "there is no termination policy \"Oldest\"",
            "fleet_auto_scaling/main.hcl:12:31",
            "`capacity_rebalance` must be true or false, found number 1",
            "fleet_auto_scaling/main.hcl:14:3",
            "a mixed instances policy with 0 instance type overrides",
            "fleet_auto_scaling/main.hcl:16:50",
            "`on_demand_percentage_above_base_capacity` is 120, out of range",
            "fleet_auto_scaling/main.hcl:17:50",
            "`spot_allocation_strategy` cannot be \"cheapest\"",
            "fleet_auto_scaling/main.hcl:22:5",
            "`adjustment_type` belongs to policy_type = \"StepScaling\"",
            "fleet_auto_scaling/main.hcl:23:5",
            "target tracking needs a predefined_metric_specification",
            "fleet_auto_scaling/main.hcl:24:22",
            "`target_value` is 0",
            "fleet_auto_scaling/main.hcl:27:3",
            "duplicate scaling_policy \"cpu\"",
            "fleet_auto_scaling/main.hcl:28:19",
            "`policy_type` cannot be \"SimpleScaling\"",
            "fleet_auto_scaling/main.hcl:30:3",
            "step scaling policy \"steps\" needs `adjustment_type`",
            "fleet_auto_scaling/main.hcl:33:28",
            "`scaling_adjustment` must be a whole number, such as 2 or -1, found string \"more\"",
            "fleet_auto_scaling/main.hcl:40:7",
            "ALBRequestCountPerTarget needs a `resource_label`",
            "fleet_auto_scaling/main.hcl:45:3",
            "scheduled action \"never\" never runs",
            "fleet_auto_scaling/main.hcl:49:18",
            "\"every day\" is not a cron expression",
            "fleet_auto_scaling/main.hcl:50:18",
            "\"tomorrow\" is not a time",
            "fleet_auto_scaling/main.hcl:52:3",
            "scheduled action \"noop\" changes nothing",
            "fleet_auto_scaling/main.hcl:56:28",
            "`lifecycle_transition` cannot be \"autoscaling:EC2_INSTANCE_LAUNCHED\"",
            "fleet_auto_scaling/main.hcl:57:28",
            "`heartbeat_timeout` is 10s, out of range",
            "fleet_auto_scaling/main.hcl:58:28",
            "`default_result` cannot be \"PROCEED\"",
            "fleet_auto_scaling/main.hcl:62:31",
            "`notification_target_arn` without `role_arn`",
            "24 problems found",
        ],
    ),
    (
        "fleet_instances_mode",
        &[],
        &[
            "fleet_instances_mode/main.hcl:9:3",
            "`capacity_rebalance` configures an Auto Scaling group, but mode = \"instances\" has none",
            "fleet_instances_mode/main.hcl:11:3",
            "`lifecycle_hook` configures an Auto Scaling group, but mode = \"instances\" has none",
            "2 problems found",
        ],
    ),
];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs reroll in `dir` with AWS pointed at a socket that never accepts: any attempt to reach
/// it stays in the listen queue, where it is found afterwards.
fn reroll(dir: &str, args: &[&str]) -> Run {
    let aws = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    aws.set_nonblocking(true).expect("non-blocking listener");
    let (env, cli): (Vec<&str>, Vec<&str>) =
        args.iter().partition(|a| a.starts_with("REROLL_VAR_"));
    let out = Command::cargo_bin("reroll")
        .expect("the reroll binary")
        .current_dir(dir)
        .args(&cli)
        .envs(env.iter().filter_map(|e| e.split_once('=')))
        .env("NO_COLOR", "1")
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://{}", aws.local_addr().unwrap()),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("REROLL_REGION")
        .env_remove("RUST_BACKTRACE")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("reroll runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        "reroll {args:?} panicked:\n{all}"
    );
    match aws.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("reroll {args:?} connected to the AWS endpoint ({other:?}):\n{all}"),
    }
    run
}

/// Runs one case; returns what is wrong with its output, if anything.
fn check(case: &str, args: &[&str]) -> (Run, Vec<String>) {
    let (command, rest) = match args.first() {
        Some(&"plan") => ("plan", &args[1..]),
        _ => ("validate", args),
    };
    let mut full = vec![command, case];
    full.extend_from_slice(rest);
    let run = reroll(FIXTURES, &full);
    let mut wrong = Vec::new();
    if run.code != Some(1) {
        wrong.push(format!("exit code {:?}, expected 1", run.code));
    }
    if run.stdout.contains("is valid") {
        wrong.push("stdout says the stack is valid".into());
    }
    (run, wrong)
}

#[test]
fn every_bad_stack_is_reported_where_it_is_wrong() {
    let mut failures = Vec::new();
    for (case, args, expected) in CASES {
        let (run, mut wrong) = check(case, args);
        for e in *expected {
            if !run.stderr.contains(e) {
                wrong.push(format!("missing {e:?}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{case} {args:?}: {}\n{}",
                wrong.join("; "),
                run.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_in_the_table() {
    let mut dirs: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|d| !CASES.iter().any(|(c, ..)| c == d))
        .collect();
    dirs.sort();
    assert!(dirs.is_empty(), "fixtures without a case: {dirs:?}");
}

#[test]
fn a_good_stack_validates_without_aws() {
    let run = reroll(env!("CARGO_MANIFEST_DIR"), &["validate", "stacks/demo"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("is valid"), "{}", run.stdout);
}

/// What users see, in full, for a few representative mistakes.
#[test]
fn rendered_reports() {
    for (case, args) in [
        ("syntax_unclosed_brace", &[][..]),
        ("unknown_attribute", &[]),
        ("three_errors", &[]),
        ("missing_required_variable", &["plan"]),
    ] {
        let (run, wrong) = check(case, args);
        assert!(wrong.is_empty(), "{case}: {wrong:?}\n{}", run.stderr);
        let report = run.stderr.replace(FIXTURES, "[fixtures]");
        insta::assert_snapshot!(case, report);
    }
}
