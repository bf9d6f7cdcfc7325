//! `reroll iam-policy` against what reroll really calls: stacks of every kind (rolling,
//! canary, blue/green, instance mode, a fleet with launch template and Auto Scaling
//! settings) are planned, applied, rolled, rolled back, looked at and destroyed on a private emulator with `--stats`, and every operation each
//! command made must be allowed by the policy `iam-policy` prints for that command and stack.

mod common {
    pub mod emulator;
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::emulator::Emulator;

const REGION: &str = "us-east-1";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reroll(emu: &Emulator, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reroll"))
        .current_dir(root())
        .env("AWS_ENDPOINT_URL", &emu.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("REROLL_POLL_SECONDS", "0.2")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .stdin(Stdio::null())
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn expect_exit(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The operations a `--stats` table on stderr lists (`EC2.DescribeImages`, …).
fn operations(o: &Output) -> BTreeSet<String> {
    let err = String::from_utf8_lossy(&o.stderr);
    let mut lines = err.lines().skip_while(|l| !l.starts_with("operation "));
    assert!(lines.next().is_some(), "no --stats table in:\n{err}");
    lines
        .take_while(|l| !l.starts_with("total"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Whether `action` is allowed by one of `allowed` (which may end in `*`).
fn allows(allowed: &[String], action: &str) -> bool {
    allowed.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => a == action,
    })
}

/// One stack and the commands run against it, in order: (policy command, arguments).
struct Scenario {
    stack: &'static str,
    vars: &'static [&'static str],
    steps: &'static [(&'static str, &'static [&'static str])],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        stack: "stacks/demo",
        vars: &[],
        steps: &[
            ("plan", &["plan"]),
            ("apply", &["apply", "--auto-approve"]),
            ("plan", &["status"]),
            (
                "apply",
                &["apply", "--auto-approve", "-var", "app_version=1.1.0"],
            ),
            ("apply", &["rollback", "--auto-approve"]),
            ("destroy", &["destroy", "--auto-approve"]),
        ],
    },
    Scenario {
        stack: "tests/fixtures/canary",
        vars: &["bake=1s"],
        steps: &[
            ("apply", &["apply", "--auto-approve"]),
            ("plan", &["plan", "-var", "app_version=1.1.0"]),
            (
                "apply",
                &["apply", "--auto-approve", "-var", "app_version=1.1.0"],
            ),
            ("destroy", &["destroy", "--auto-approve"]),
        ],
    },
    Scenario {
        stack: "tests/fixtures/bluegreen",
        vars: &["step_bake=1s", "keep_blue=1s"],
        steps: &[
            ("apply", &["apply", "--auto-approve"]),
            (
                "apply",
                &["apply", "--auto-approve", "-var", "app_version=1.1.0"],
            ),
            ("destroy", &["destroy", "--auto-approve"]),
        ],
    },
    Scenario {
        stack: "tests/fixtures/rolling12",
        vars: &["mode=instances"],
        steps: &[
            ("apply", &["apply", "--auto-approve"]),
            (
                "apply",
                &["apply", "--auto-approve", "-var", "app_version=1.1.0"],
            ),
            ("destroy", &["destroy", "--auto-approve"]),
        ],
    },
    Scenario {
        stack: "tests/fixtures/fleet",
        vars: &[],
        steps: &[
            ("plan", &["plan"]),
            ("apply", &["apply", "--auto-approve"]),
            ("destroy", &["destroy", "--auto-approve"]),
        ],
    },
];

#[test]
fn every_call_each_command_makes_is_in_its_policy() {
    let emu = Emulator::start();
    emu.seed(REGION);
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    // Per policy command: the actions its policies allowed, and those its commands called.
    let mut granted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut called: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut missing = Vec::new();
    for scenario in SCENARIOS {
        let mut vars = Vec::new();
        for v in scenario.vars {
            vars.extend(["-var", v]);
        }
        for (command, step) in scenario.steps {
            let mut args: Vec<&str> = vec![step[0], scenario.stack];
            args.extend(&step[1..]);
            args.extend(&vars);
            args.push("--stats");
            let o = reroll(&emu, &args);
            expect_exit(&o, 0, &args.join(" "));
            let ops = operations(&o);

            let mut policy_args = vec!["iam-policy", scenario.stack, "--command", command];
            policy_args.extend(&vars);
            let p = reroll(&emu, &policy_args);
            expect_exit(&p, 0, &policy_args.join(" "));
            let policy: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
            let allowed = reroll::iam::allowed(&policy);
            if scenario.stack == "stacks/demo" && *step == ["apply", "--auto-approve"] {
                eprintln!(
                    "the demo stack's apply policy:\n{}",
                    String::from_utf8_lossy(&p.stdout)
                );
            }
            granted.entry(command).or_default().extend(allowed.clone());
            called
                .entry(command)
                .or_default()
                .extend(ops.iter().filter_map(|op| reroll::iam::action_of(op)));
            for op in &ops {
                let Some(action) = reroll::iam::action_of(op) else {
                    continue;
                };
                if !allows(&allowed, &action) {
                    missing.push(format!(
                        "{}: `{}` called {op}, and the {command} policy lacks {action}",
                        scenario.stack,
                        step.join(" ")
                    ));
                }
            }
            seen.entry((scenario.stack.to_string(), step.join(" ")))
                .or_default()
                .extend(ops);
        }
    }
    let total: BTreeSet<&String> = seen.values().flatten().collect();
    eprintln!(
        "{} commands made {} distinct operations",
        seen.len(),
        total.len()
    );
    for (command, allowed) in &granted {
        let unused: Vec<&String> = allowed.difference(&called[command]).collect();
        eprintln!("allowed for {command} and not called here: {unused:?}");
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // The suite exercised the writes the policies scope, not only reads.
    for op in [
        "AutoScaling.CreateAutoScalingGroup",
        "AutoScaling.SuspendProcesses",
        "ELBv2.ModifyListener",
        "EC2.RunInstances",
        "EC2.CreateLaunchTemplate",
        "ELBv2.DeleteTargetGroup",
    ] {
        assert!(
            total.iter().any(|o| o.as_str() == op),
            "no command called {op}"
        );
    }
}

/// A plan's policy holds reads only; apply's scopes every create by the stack's tag in the
/// request and every change by the tag on the resource.
#[test]
fn policies_are_least_privilege() {
    let emu = Emulator::start();
    let policy = |command: &str| -> serde_json::Value {
        let o = reroll(&emu, &["iam-policy", "stacks/demo", "--command", command]);
        expect_exit(&o, 0, command);
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let plan = policy("plan");
    for action in reroll::iam::allowed(&plan) {
        let op = action.split(':').nth(1).unwrap();
        assert!(
            op.starts_with("Describe") || op.starts_with("Get"),
            "plan may {action}"
        );
    }
    let apply = policy("apply");
    let statements = apply["Statement"].as_array().unwrap();
    let with_action = |action: &str| {
        statements
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
            .unwrap_or_else(|| panic!("no statement allows {action}"))
    };
    let create = with_action("autoscaling:CreateAutoScalingGroup");
    assert_eq!(
        create["Condition"]["StringEquals"]["aws:RequestTag/reroll:stack"],
        "demo"
    );
    let change = with_action("autoscaling:UpdateAutoScalingGroup");
    assert_eq!(
        change["Condition"]["StringEquals"]["aws:ResourceTag/reroll:stack"],
        "demo"
    );
    for s in statements {
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:RequestedRegion"][0],
            REGION
        );
    }
    let destroy = reroll::iam::allowed(&policy("destroy"));
    assert!(
        !destroy.iter().any(|a| a.contains(":Create")),
        "{destroy:?}"
    );
}
