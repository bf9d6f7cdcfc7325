use super::*;
use crate::cloud::states::{InstanceHealth, Lifecycle};
use crate::cloud::{tag, GroupInfo, GroupInstance, LaunchSpec};
use crate::load::{evaluate, parse_stack, Inputs};
use crate::observe::{Generation, ObservedGroup};
use crate::observe::{GenerationState, Observed};
use crate::stack::{Known, ResolvedImage, ResolvedNetwork};
use crate::stack::{ServerGroup, Stack};

mod fingerprint;

#[test]
fn canary_and_blue_green_plans() {
    let v1 = stack_with(&[], "ami-111");
    let observed = deployed(&v1);
    let canary = stack_rolled(
        r#"  rollout {
    strategy  = "canary"
    max_surge = "25%"
    canary {
      instances = 1
      bake      = "10m"
      steps     = ["50%"]
    }
  }
"#,
        &[("app_version", "1.1.0"), ("desired", "12")],
        "ami-222",
    );
    let mut observed12 = observed.clone();
    observed12.groups.get_mut("web").unwrap().generations[0]
        .group
        .desired = 12;
    let p = plan(&canary, &observed12, false).unwrap();
    insta::assert_snapshot!("replace_canary", text(&p));
    let blue_green = stack_rolled(
        r#"  rollout {
    strategy      = "blue_green"
    traffic_steps = [10, 50, 100]
    step_bake     = "5m"
    keep_blue     = "30m"
  }
"#,
        &[("app_version", "1.1.0")],
        "ami-222",
    );
    let p = plan(&blue_green, &observed, false).unwrap();
    insta::assert_snapshot!("replace_blue_green", text(&p));
    let r = p.changes.iter().find_map(|c| c.rollout.clone()).unwrap();
    assert_eq!(r.traffic_steps, vec![10, 50, 100]);
}

const STACK: &str = r#"
stack "shop" {
  region = "us-east-1"
  tags   = { team = "shop" }
}
variable "app_version" { default = "1.0.0" }
variable "desired"     { default = 4 }

image "app" {
  owners      = ["self"]
  name        = "demo-app-${var.app_version}"
  most_recent = true
}
network "main" {
  vpc_tags             = { Name = "demo" }
  subnet_tags          = { tier = "private" }
  security_group_names = ["demo-web"]
}
target_group "web" {
  vpc_id               = network.main.vpc_id
  port                 = 8080
  deregistration_delay = "30s"
  health_check {
    path              = "/healthz"
    interval          = "10s"
    healthy_threshold = 2
  }
}
load_balancer "public" {
  subnets         = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  listener "http" {
    port    = 80
    forward = target_group.web
  }
}
server_group "web" {
  image         = image.app
  instance_type = "t3.micro"
  capacity      = { min = 2, desired = var.desired, max = 16 }
  subnets       = network.main.subnet_ids
  security_groups = network.main.security_group_ids
  target_groups = [target_group.web]
  rollout {
    max_surge       = "25%"
    max_unavailable = 0
  }
}
"#;

fn stack_with(vars: &[(&str, &str)], image: &str) -> Stack {
    stack_from(STACK, vars, image)
}

/// The test stack with its rollout block replaced by `rollout`.
fn stack_rolled(rollout: &str, vars: &[(&str, &str)], image: &str) -> Stack {
    let start = STACK.find("  rollout {").unwrap();
    let end = start + STACK[start..].find("\n  }\n").unwrap() + "\n  }\n".len();
    let src = format!("{}{rollout}{}", &STACK[..start], &STACK[end..]);
    stack_from(&src, vars, image)
}

/// The images the tests' lookups find: the name a bake gave each AMI, and when.
fn image_name(id: &str) -> &'static str {
    match id {
        "ami-111" => "shop-app-1.0.0",
        "ami-222" => "shop-app-1.1.0",
        _ => "shop-app",
    }
}

fn image_created(id: &str) -> &'static str {
    match id {
        "ami-222" => "2026-02-03T04:05:06.000Z",
        _ => "2026-01-01T00:00:00.000Z",
    }
}

fn stack_from(src: &str, vars: &[(&str, &str)], image: &str) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), src).unwrap();
    let parsed = parse_stack(dir.path()).unwrap();
    let mut known = Known::default();
    known.images.insert(
        "image.app".into(),
        ResolvedImage {
            id: image.into(),
            name: image_name(image).into(),
            creation_date: image_created(image).into(),
            copy: None,
            source: None,
        },
    );
    known.networks.insert(
        "network.main".into(),
        ResolvedNetwork {
            vpc_id: "vpc-1".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            availability_zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            security_group_ids: vec!["sg-1".into()],
        },
    );
    let inputs = Inputs {
        cli: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    evaluate(&parsed, &inputs, &known).unwrap()
}

/// The account as it looks after applying `stack`.
fn deployed(stack: &Stack) -> Observed {
    let g = &stack.server_groups[0];
    let spec = launch_spec(stack, g);
    let fp = fingerprint(&spec, &g.subnets);
    let mut observed = Observed {
        stack: "shop".into(),
        region: "us-east-1".into(),
        ..Default::default()
    };
    observed.groups.insert(
        "web".into(),
        ObservedGroup {
            key: "web".into(),
            address: Some("server_group.web".into()),
            generations: vec![Generation {
                number: 1,
                fingerprint: fp,
                state: GenerationState::Active,
                applied_desired: Some(g.capacity.desired),
                instance_refresh: None,
                failed: None,
                group: GroupInfo {
                    name: "shop-web-v001".into(),
                    min: g.capacity.min,
                    max: g.capacity.max,
                    desired: g.capacity.desired,
                    // As apply records it when it creates the generation.
                    tags: LaunchDefinition::of(stack, g)
                        .map(|d| d.image_tags())
                        .unwrap_or_default(),
                    launch_template_id: Some("lt-1".into()),
                    launch_template_version: Some("1".into()),
                    target_group_arns: vec!["arn:tg/web".into()],
                    subnet_ids: g.subnets.clone(),
                    instances: (0..g.capacity.desired)
                        .map(|i| GroupInstance {
                            id: format!("i-{i}"),
                            lifecycle_state: Lifecycle::InService,
                            health_status: InstanceHealth::Healthy,
                            availability_zone: None,
                            launch_template_version: None,
                        })
                        .collect(),
                    suspended_processes: vec![],
                    status: None,
                    settings: Some(crate::plan::asg_settings(g)),
                },
            }],
            launch_template: None,
            active_launch: Some(spec),
            deleting: Vec::new(),
        },
    );
    let tg = &stack.target_groups[0];
    observed.target_groups.insert(
        tg.address.clone(),
        crate::observe::ObservedTargetGroup {
            address: tg.address.clone(),
            info: crate::cloud::TargetGroupInfo {
                arn: "arn:tg/web".into(),
                spec: target_group_spec(tg),
                load_balancer_arns: vec![],
                tags: Default::default(),
            },
            health: vec![],
        },
    );
    let lb = &stack.load_balancers[0];
    observed.load_balancers.insert(
        lb.address.clone(),
        crate::observe::ObservedLoadBalancer {
            address: lb.address.clone(),
            info: crate::cloud::LoadBalancerInfo {
                arn: "arn:lb/public".into(),
                dns_name: "public.example".into(),
                spec: crate::cloud::LoadBalancerSpec {
                    name: lb.name.clone(),
                    kind: lb.kind.clone(),
                    internal: lb.internal,
                    subnet_ids: lb.subnets.clone(),
                    security_group_ids: lb.security_groups.clone(),
                },
                state: None,
                tags: Default::default(),
            },
            listeners: vec![crate::cloud::ListenerInfo {
                arn: "arn:listener/80".into(),
                load_balancer_arn: "arn:lb/public".into(),
                spec: listener_spec(&lb.listeners[0], &observed),
            }],
        },
    );
    observed
}

fn text(plan: &Plan) -> String {
    render::render(plan, render::Style { color: false })
}

/// The plan of `stack` into an empty account.
fn fresh(stack: &Stack) -> Plan {
    let empty = Observed {
        region: "us-east-1".into(),
        ..Default::default()
    };
    plan(stack, &empty, false).unwrap()
}

#[test]
fn fresh_stack_plans_creates() {
    let stack = stack_with(&[], "ami-111");
    insta::assert_snapshot!(text(&fresh(&stack)));
}

#[test]
fn applied_stack_plans_no_changes() {
    let stack = stack_with(&[], "ami-111");
    let p = plan(&stack, &deployed(&stack), false).unwrap();
    assert!(!p.has_changes(), "{}", text(&p));
    insta::assert_snapshot!(text(&p));
}

#[test]
fn new_image_plans_a_replace_with_waves() {
    let v1 = stack_with(&[], "ami-111");
    let v2 = stack_with(&[("app_version", "1.1.0"), ("desired", "12")], "ami-222");
    let mut observed = deployed(&v1);
    // Same desired as deployed, new image.
    let v2_same = stack_with(&[("app_version", "1.1.0")], "ami-222");
    let p = plan(&v2_same, &observed, false).unwrap();
    assert_eq!(
        p.changes
            .iter()
            .find(|c| c.kind == Kind::ServerGroup)
            .unwrap()
            .action,
        Action::Replace
    );
    insta::assert_snapshot!("replace", text(&p));
    // Bigger and new: the rollout is planned at the new size.
    observed.groups.get_mut("web").unwrap().generations[0].applied_desired = Some(4);
    let mut p = plan(&v2, &observed, false).unwrap();
    assert_eq!(p.observed_digest.len(), 64);
    p.observed_digest = "(digest)".into();
    let r = p.changes.iter().find_map(|c| c.rollout.clone()).unwrap();
    assert_eq!(r.desired, 12);
    assert_eq!(r.waves.len(), 4);
    insta::assert_json_snapshot!("replace_json", p);
}

/// Each side of an image diff shows the image's name and creation date beside its id: the
/// new one from the lookup, the old one from what its generation recorded. A generation
/// created before images were recorded shows its id alone.
#[test]
fn image_diffs_name_the_images() {
    let v1 = stack_with(&[], "ami-111");
    let v2 = stack_with(&[("app_version", "1.1.0")], "ami-222");
    let image_line = |observed: &Observed| {
        let p = plan(&v2, observed, false).unwrap();
        let c = p
            .changes
            .iter()
            .find(|c| c.kind == Kind::ServerGroup)
            .unwrap();
        let d = c.diffs.iter().find(|d| d.name == "image").unwrap().clone();
        let line = text(&p)
            .lines()
            .find(|l| l.trim_start().starts_with("image "))
            .unwrap()
            .trim()
            .to_string();
        (d, line)
    };
    let (d, line) = image_line(&deployed(&v1));
    assert_eq!(
        d.before_image.as_ref().map(|l| l.name.as_str()),
        Some("shop-app-1.0.0")
    );
    assert_eq!(
        d.after_image.as_ref().map(|l| l.name.as_str()),
        Some("shop-app-1.1.0")
    );
    assert_eq!(
        line,
        "image    ami-111 (shop-app-1.0.0, created 2026-01-01 00:00 UTC) → ami-222 \
         (shop-app-1.1.0, created 2026-02-03 04:05 UTC)   (new generation)"
    );
    let mut untagged = deployed(&v1);
    untagged.groups.get_mut("web").unwrap().generations[0]
        .group
        .tags
        .clear();
    let (d, line) = image_line(&untagged);
    assert_eq!(d.before_image, None);
    assert_eq!(
        line,
        "image    ami-111 → ami-222 (shop-app-1.1.0, created 2026-02-03 04:05 UTC)   (new generation)"
    );
    // A tag naming another image than the one the generation launches is not believed.
    let mut stale = deployed(&v1);
    stale.groups.get_mut("web").unwrap().generations[0]
        .group
        .tags
        .insert(tag::IMAGE.into(), "ami-999 - something else".into());
    assert_eq!(image_line(&stale).0.before_image, None);
}

/// The image's name travels with the definition apply launches, and is recorded on the new
/// generation, but it is not part of what defines an instance: the fingerprint ignores it.
#[test]
fn the_image_label_is_carried_but_not_fingerprinted() {
    let v2 = stack_with(&[("app_version", "1.1.0")], "ami-222");
    let g = &v2.server_groups[0];
    let def = LaunchDefinition::of(&v2, g).unwrap();
    assert_eq!(
        def.image.as_ref().map(|l| l.name.as_str()),
        Some("shop-app-1.1.0")
    );
    assert_eq!(
        def.image_tags().get(tag::IMAGE).map(String::as_str),
        Some("ami-222 2026-02-03T04:05:06.000Z shop-app-1.1.0")
    );
    let mut unnamed = g.clone();
    unnamed.image = None;
    let bare = LaunchDefinition::of(&v2, &unnamed).unwrap();
    assert_eq!(bare.fingerprint, def.fingerprint);
    assert!(bare.image_tags().is_empty());
}

#[test]
fn capacity_change_is_a_resize_and_autoscaled_growth_is_kept() {
    let v1 = stack_with(&[], "ami-111");
    let mut observed = deployed(&v1);
    let bigger = stack_with(&[("desired", "6")], "ami-111");
    let p = plan(&bigger, &observed, false).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.kind == Kind::ServerGroup)
        .unwrap();
    assert_eq!(c.action, Action::Resize);
    insta::assert_snapshot!("resize", text(&p));
    // Autoscaling grew the group to 7; the file still says 4, as last applied: no change.
    observed.groups.get_mut("web").unwrap().generations[0]
        .group
        .desired = 7;
    let p = plan(&v1, &observed, false).unwrap();
    assert!(!p.has_changes(), "{}", text(&p));
}

#[test]
fn removed_resources_are_destroyed() {
    let v1 = stack_with(&[], "ami-111");
    let observed = deployed(&v1);
    let empty = Stack {
        name: "shop".into(),
        ..Default::default()
    };
    let p = plan(&empty, &observed, false).unwrap();
    assert_eq!(p.count(Action::Delete), 3);
    insta::assert_snapshot!("destroy", text(&p));
}

#[test]
fn failed_fingerprint_needs_force() {
    let v1 = stack_with(&[], "ami-111");
    let v2 = stack_with(&[("app_version", "1.1.0")], "ami-222");
    let mut observed = deployed(&v1);
    let g2 = &v2.server_groups[0];
    let fp2 = fingerprint(&launch_spec(&v2, g2), &g2.subnets);
    let gens = &mut observed.groups.get_mut("web").unwrap().generations;
    let mut failed = gens[0].clone();
    failed.number = 2;
    failed.state = GenerationState::Failed;
    failed.fingerprint = fp2;
    gens.push(failed);
    let err = plan(&v2, &observed, false).unwrap_err().to_string();
    assert!(
        err.contains("failed its rollout") && err.contains("--force"),
        "{err}"
    );
    assert!(plan(&v2, &observed, true).is_ok());
}

#[test]
fn a_generation_still_being_deleted_keeps_its_number() {
    let stack = stack_with(&[], "ami-111");
    let mut observed = deployed(&stack);
    let og = observed.groups.get_mut("web").unwrap();
    og.generations.clear();
    og.deleting = vec![1];
    let p = plan(&stack, &observed, false).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.kind == Kind::ServerGroup)
        .unwrap();
    assert_eq!(c.action, Action::Create);
    assert_eq!(c.rollout.as_ref().unwrap().to_generation, 2, "{}", c.reason);
}

#[test]
fn a_target_group_no_listener_serves_is_warned_about_for_every_strategy() {
    let start = STACK.find("load_balancer \"public\" {").unwrap();
    let end = start + STACK[start..].find("\n}\n").unwrap() + "\n}\n".len();
    let unserved = format!("{}{}", &STACK[..start], &STACK[end..]);
    let with_rollout = |rollout: &str| {
        let start = unserved.find("  rollout {").unwrap();
        let end = start + unserved[start..].find("\n  }\n").unwrap() + "\n  }\n".len();
        format!("{}{rollout}{}", &unserved[..start], &unserved[end..])
    };
    let warned = "server_group.web: no listener forwards to target_group.web; AWS does not \
                  health check its targets (they stay `unused`, Target.NotInUse)";
    // (rollout block, a load balancer outside the stack uses the target group, warning)
    let cases = [
        ("  rollout {\n  }\n", false, Some(warned)),
        (
            "  rollout {\n    strategy = \"canary\"\n  }\n",
            false,
            Some(warned),
        ),
        ("  mode = \"instances\"\n", false, Some(warned)),
        (
            "  rollout {\n    strategy = \"blue_green\"\n  }\n",
            false,
            Some("server_group.web: blue/green, but no listener of this stack forwards"),
        ),
        ("  rollout {\n  }\n", true, None),
    ];
    for (rollout, elsewhere, want) in cases {
        let stack = stack_from(&with_rollout(rollout), &[], "ami-111");
        let mut observed = deployed(&stack_with(&[], "ami-111"));
        observed.load_balancers.clear();
        if elsewhere {
            let tg = observed.target_groups.get_mut("target_group.web").unwrap();
            tg.info.load_balancer_arns = vec!["arn:lb/someone-elses".into()];
        }
        let p = plan(&stack, &observed, false).unwrap();
        let found: Vec<&String> = p
            .warnings
            .iter()
            .filter(|w| w.contains("no listener"))
            .collect();
        match want {
            Some(w) => {
                assert_eq!(found.len(), 1, "{rollout}: {:#?}", p.warnings);
                assert!(found[0].starts_with(w), "{}", found[0]);
            }
            None => assert!(found.is_empty(), "{rollout}: {found:#?}"),
        }
    }
}

fn server_change(p: &Plan) -> &Change {
    p.changes
        .iter()
        .find(|c| c.kind == Kind::ServerGroup)
        .expect("a server group change")
}

/// An interrupted rollout from v1 to v2, as the account shows it.
fn interrupted(v1: &Stack, v2: &Stack) -> Observed {
    let mut observed = deployed(v1);
    let og = observed.groups.get_mut("web").unwrap();
    let mut rolling = og.generations[0].clone();
    rolling.number = 2;
    rolling.state = GenerationState::Rolling;
    let g2 = &v2.server_groups[0];
    rolling.fingerprint = fingerprint(&launch_spec(v2, g2), &g2.subnets);
    rolling.group.name = "shop-web-v002".into();
    rolling.group.desired = 1;
    og.generations.push(rolling);
    observed
}

#[test]
fn an_interrupted_rollout_is_resumed_only_while_the_stack_asks_for_it() {
    let v1 = stack_with(&[], "ami-111");
    let v2 = stack_with(&[("app_version", "1.1.0")], "ami-222");
    let v3 = stack_with(&[("app_version", "1.2.0")], "ami-333");
    let observed = interrupted(&v1, &v2);
    // (stack now, action, from, to, abandoned generation, launches a definition)
    type Case<'a> = (
        &'a str,
        &'a Stack,
        Action,
        Option<u32>,
        u32,
        Option<u32>,
        bool,
    );
    let cases: [Case; 3] = [
        (
            "same definition",
            &v2,
            Action::Resume,
            Some(1),
            2,
            None,
            false,
        ),
        ("reverted", &v1, Action::Replace, Some(2), 1, Some(2), false),
        (
            "another one",
            &v3,
            Action::Replace,
            Some(1),
            3,
            Some(2),
            true,
        ),
    ];
    for (what, stack, action, from, to, abandon, launches) in cases {
        let p = plan(stack, &observed, false).unwrap();
        let c = server_change(&p);
        let r = c.rollout.as_ref().unwrap();
        assert_eq!(
            (
                c.action,
                r.from_generation,
                r.to_generation,
                r.abandon_generation
            ),
            (action, from, to, abandon),
            "{what}: {}",
            c.reason
        );
        assert_eq!(c.launches(), launches, "{what}");
        // A resume carries the definition it continues (its group settings are put again).
        assert_eq!(
            c.launch.is_some(),
            launches || action == Action::Resume,
            "{what}"
        );
        assert_eq!(
            c.reason.contains("continues"),
            action == Action::Resume,
            "{what}: {}",
            c.reason
        );
    }
    let p = plan(&v1, &observed, false).unwrap();
    insta::assert_snapshot!("revert_interrupted", text(&p));
    // A first generation interrupted, then the stack changed: a new first generation.
    let mut first = interrupted(&v1, &v2);
    first.groups.get_mut("web").unwrap().generations.remove(0);
    let c = plan(&v3, &first, false).unwrap().changes.clone();
    let c = c.iter().find(|c| c.kind == Kind::ServerGroup).unwrap();
    let r = c.rollout.as_ref().unwrap();
    assert_eq!(
        (c.action, r.to_generation, r.abandon_generation),
        (Action::Create, 3, Some(2)),
        "{}",
        c.reason
    );
}

#[test]
fn action_names_are_the_json_names() {
    for a in [
        Action::NoOp,
        Action::Create,
        Action::Replace,
        Action::Resize,
        Action::Update,
        Action::Delete,
        Action::Resume,
    ] {
        assert_eq!(serde_json::to_value(a).unwrap(), a.name());
    }
}

#[test]
fn destroy_says_why_everything_goes() {
    let v1 = stack_with(&[], "ami-111");
    let empty = Stack {
        name: "shop".into(),
        ..Default::default()
    };
    let p = destroy_plan(plan(&empty, &deployed(&v1), true).unwrap());
    assert_eq!(p.count(Action::Delete), 3);
    for c in &p.changes {
        assert!(
            c.reason.starts_with("destroyed with the stack") && !c.reason.contains("no longer"),
            "{}: {}",
            c.address,
            c.reason
        );
    }
}

/// A sensitive tag and user data that change: found as a change (a new generation), shown as
/// `(sensitive)` on both sides, the old value read from the account included.
#[test]
fn sensitive_values_are_redacted_in_diffs_old_values_included() {
    let src = STACK.replace(
        "server_group \"web\" {\n",
        "variable \"pw\" {\n  sensitive = true\n}\n\
             server_group \"web\" {\n  user_data = \"#!/bin/sh\\necho ${var.pw}\"\n  \
             tags = { dbpw = \"dbpw=${var.pw}\", role = \"web\" }\n",
    );
    let before = stack_from(&src, &[("pw", r#"old"Secret\1"#)], "ami-111");
    let after = stack_from(&src, &[("pw", "new-Secret-2")], "ami-111");
    let p = plan(&after, &deployed(&before), false).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.address == "server_group.web")
        .unwrap();
    assert_eq!(c.action, Action::Replace, "{c:#?}");
    let shown = |name: &str| {
        let d = c.diffs.iter().find(|d| d.name == name).unwrap();
        (d.before.clone().unwrap(), d.after.clone().unwrap())
    };
    assert_eq!(
        shown("user_data"),
        ("(sensitive)".to_string(), "(sensitive)".to_string())
    );
    let (old, new) = shown("tags");
    for t in [&old, &new] {
        assert!(
            t.contains("dbpw=(sensitive)") && t.contains("role=web"),
            "{t}"
        );
    }
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("Secret"), "{json}");
}

/// A new generation that changes the Auto Scaling group's own settings names each one, its
/// value on the serving generation's group beside the stack's (AWS's defaults filled in).
#[test]
fn group_settings_a_new_generation_changes_are_named() {
    let v1 = stack_with(&[], "ami-111");
    let observed = deployed(&v1);
    type Diffs<'a> = &'a [(&'a str, &'a str, &'a str)];
    let cases: &[(&str, Diffs)] = &[
        ("", &[]),
        (
            "health_check_grace_period = \"45s\"",
            &[("health_check_grace_period", "30s", "45s")],
        ),
        (
            "health_check_type = \"EC2\"\n  termination_policies = [\"OldestInstance\", \"Default\"]",
            &[
                ("health_check_type", "ELB", "EC2"),
                ("termination_policies", "Default", "OldestInstance, Default"),
            ],
        ),
        (
            "default_instance_warmup = \"2m\"\n  capacity_rebalance = true",
            &[
                ("default_instance_warmup", "", "120s"),
                ("capacity_rebalance", "false", "true"),
            ],
        ),
    ];
    for (attrs, want) in cases {
        let src = STACK.replace(
            "  target_groups = [target_group.web]\n",
            &format!("  target_groups = [target_group.web]\n  {attrs}\n"),
        );
        let v2 = stack_from(&src, &[], "ami-111");
        let p = plan(&v2, &observed, false).unwrap();
        let c = server_change(&p);
        let got: Vec<(&str, &str, &str)> = c
            .diffs
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.before.as_deref().unwrap_or(""),
                    d.after.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(got, *want, "{attrs}");
        let action = match want.is_empty() {
            true => Action::NoOp,
            false => Action::Replace,
        };
        assert_eq!(c.action, action, "{attrs}");
    }
}

/// A stack with `count` and `for_each` plans one resource per copy, each by its address.
#[test]
fn copies_plan_as_resources_of_their_own() {
    let src = STACK
        .replace(
            "target_group \"web\" {\n",
            "target_group \"web\" {\n  count = 2\n",
        )
        .replace(
            "port                 = 8080",
            "port                 = 8080 + count.index",
        )
        .replace(
            "    forward = target_group.web\n",
            "    forward = target_group.web[0]\n",
        )
        .replace(
            "server_group \"web\" {\n",
            "server_group \"web\" {\n  for_each = { a = 0, b = 1 }\n",
        )
        .replace(
            "  target_groups = [target_group.web]\n",
            "  target_groups = [target_group.web[each.value]]\n",
        );
    let stack = stack_from(&src, &[], "ami-111");
    insta::assert_snapshot!(text(&fresh(&stack)));
}
