//! Fingerprints: pinned, canonical (content, not order or defaults), legacy ones still
//! matching, and launch options and group settings counted only when set.

use super::*;

/// The fingerprint of a reference definition, pinned: a release that changes it would replace
/// every generation in every account. Change the canonical form only with a new format.
#[test]
fn fingerprint_of_the_reference_stack_is_pinned() {
    let stack = stack_with(&[], "ami-111");
    let def = LaunchDefinition::of(&stack, &stack.server_groups[0]).unwrap();
    assert_eq!(def.fingerprint, "f1:2ac83c9999508c0f");
    let p = plan(
        &stack,
        &Observed {
            region: "us-east-1".into(),
            ..Default::default()
        },
        false,
    )
    .unwrap();
    let c = server_change(&p);
    assert_eq!(c.fingerprint.as_deref(), Some(def.fingerprint.as_str()));
    assert_eq!(
        c.launch.as_ref(),
        Some(&def),
        "the plan carries the definition"
    );
}

#[test]
fn fingerprint_sees_content_not_order_or_defaults() {
    let spec = LaunchSpec {
        image_id: "ami-1".into(),
        instance_type: "t3.micro".into(),
        security_group_ids: vec!["sg-a".into(), "sg-b".into()],
        instance_tags: [("team".to_string(), "shop".to_string())].into(),
        ..Default::default()
    };
    let subnets = vec!["subnet-a".to_string(), "subnet-b".to_string()];
    let base = fingerprint(&spec, &subnets).unwrap();
    let with = |f: &dyn Fn(&mut LaunchSpec)| {
        let mut s = spec.clone();
        f(&mut s);
        fingerprint(&s, &subnets)
    };
    let b = Some(base.clone());
    // (what changed, fingerprint, same definition?)
    let cases: Vec<(&str, Option<String>, bool)> = vec![
        (
            "subnets reordered",
            fingerprint(&spec, &["subnet-b".into(), "subnet-a".into()]),
            true,
        ),
        (
            "a subnet twice",
            fingerprint(
                &spec,
                &["subnet-b".into(), "subnet-a".into(), "subnet-a".into()],
            ),
            true,
        ),
        (
            "security groups reordered",
            with(&|s| s.security_group_ids.reverse()),
            true,
        ),
        (
            "empty user data",
            with(&|s| s.user_data = Some(String::new())),
            true,
        ),
        (
            "user data",
            with(&|s| s.user_data = Some("#!/bin/sh".into())),
            false,
        ),
        ("image", with(&|s| s.image_id = "ami-2".into()), false),
        (
            "key pair",
            with(&|s| s.key_name = Some("ops".into())),
            false,
        ),
        (
            "instance profile",
            with(&|s| s.instance_profile = Some("web".into())),
            false,
        ),
        (
            "a tag",
            with(&|s| {
                s.instance_tags.insert("role".into(), "web".into());
            }),
            false,
        ),
        (
            "a subnet more",
            fingerprint(&spec, &["subnet-c".into()]),
            false,
        ),
        (
            "a value posing as another field",
            with(&|s| s.instance_type = "t3.micro\nkey_name:3=ops".into()),
            false,
        ),
    ];
    for (what, fp, same) in cases {
        assert_eq!(fp == b, same, "{what}: {fp:?} vs {base}");
    }
    assert!(base.starts_with("f1:") && base.len() == 19, "{base}");
    let unknown = with(&|s| s.image_id = crate::stack::UNKNOWN_APPLY.into());
    assert_eq!(unknown, None, "unknown values have no fingerprint");
}

#[test]
fn reordered_subnets_and_legacy_fingerprints_are_no_change() {
    let v1 = stack_with(&[], "ami-111");
    let mut observed = deployed(&v1);
    let gen = &mut observed.groups.get_mut("web").unwrap().generations[0];
    gen.group.subnet_ids.reverse();
    let p = plan(&v1, &observed, false).unwrap();
    assert!(!p.has_changes(), "{}", text(&p));
    // A generation tagged by an earlier release, in the legacy form.
    let g = &v1.server_groups[0];
    let legacy = legacy_fingerprint(&launch_spec(&v1, g), &g.subnets);
    assert!(legacy.as_deref().is_some_and(|l| !l.starts_with("f1:")));
    observed.groups.get_mut("web").unwrap().generations[0].fingerprint = legacy;
    let p = plan(&v1, &observed, false).unwrap();
    assert!(!p.has_changes(), "{}", text(&p));
    let v2 = stack_with(&[("app_version", "1.1.0")], "ami-222");
    assert_eq!(
        server_change(&plan(&v2, &observed, false).unwrap()).action,
        Action::Replace
    );
}

#[test]
fn launch_options_and_group_settings_change_the_fingerprint_only_when_set() {
    use crate::cloud::launch::{BlockDevice, Metadata, NetworkInterface};
    use crate::cloud::scaling::{LifecycleHook, Transition};
    let stack = stack_with(&[], "ami-111");
    let base = LaunchDefinition::of(&stack, &stack.server_groups[0])
        .unwrap()
        .fingerprint;
    let with = |f: &dyn Fn(&mut ServerGroup)| {
        let mut s = stack.clone();
        f(&mut s.server_groups[0]);
        LaunchDefinition::of(&s, &s.server_groups[0])
            .unwrap()
            .fingerprint
    };
    // (what changed, same definition?)
    let cases: Vec<(&str, String, bool)> = vec![
        (
            "metadata at its defaults, written out",
            with(&|g| g.launch.metadata = Metadata::default()),
            true,
        ),
        (
            "IMDSv1 allowed",
            with(&|g| g.launch.metadata.http_tokens = "optional".into()),
            false,
        ),
        (
            "two hops",
            with(&|g| g.launch.metadata.hop_limit = 2),
            false,
        ),
        (
            "a root volume",
            with(&|g| {
                g.launch.block_devices.push(BlockDevice {
                    device_name: "/dev/xvda".into(),
                    ..BlockDevice::default()
                })
            }),
            false,
        ),
        ("monitoring", with(&|g| g.launch.monitoring = true), false),
        (
            "ebs_optimized = false",
            with(&|g| g.launch.ebs_optimized = Some(false)),
            false,
        ),
        (
            "a public IP",
            with(&|g| {
                g.launch.network_interfaces.push(NetworkInterface {
                    associate_public_ip_address: Some(true),
                    ..NetworkInterface::default()
                })
            }),
            false,
        ),
        (
            "dedicated tenancy",
            with(&|g| g.launch.placement.tenancy = Some("dedicated".into())),
            false,
        ),
        (
            "unlimited credits",
            with(&|g| g.launch.cpu_credits = Some("unlimited".into())),
            false,
        ),
        (
            "a volume tag",
            with(&|g| {
                g.launch.volume_tags.insert("backup".into(), "daily".into());
            }),
            false,
        ),
        (
            "ELB health checks",
            with(&|g| g.scaling.health_check_type = Some("ELB".into())),
            false,
        ),
        (
            "capacity rebalance",
            with(&|g| g.scaling.capacity_rebalance = true),
            false,
        ),
        (
            "a lifecycle hook",
            with(&|g| {
                g.scaling.lifecycle_hooks.push(LifecycleHook {
                    name: "boot".into(),
                    transition: Transition::Launching,
                    heartbeat_timeout: 300,
                    default_result: "CONTINUE".into(),
                    notification_target_arn: None,
                    role_arn: None,
                    notification_metadata: None,
                })
            }),
            false,
        ),
    ];
    for (what, fp, same) in cases {
        assert_eq!(fp == base, same, "{what}: {fp} vs {base}");
    }
}

#[test]
fn a_changed_launch_option_is_shown_by_name() {
    let v1 = stack_with(&[], "ami-111");
    let mut observed = deployed(&v1);
    observed.groups.get_mut("web").unwrap().active_launch =
        Some(launch_spec(&v1, &v1.server_groups[0]));
    let mut v2 = v1.clone();
    v2.server_groups[0].launch.metadata.hop_limit = 2;
    v2.server_groups[0].launch.monitoring = true;
    let p = plan(&v2, &observed, false).unwrap();
    let c = server_change(&p);
    assert_eq!(c.action, Action::Replace, "{}", text(&p));
    let shown: Vec<(&str, Option<&str>, Option<&str>)> = c
        .diffs
        .iter()
        .map(|d| (d.name.as_str(), d.before.as_deref(), d.after.as_deref()))
        .collect();
    assert_eq!(
        shown,
        [
            ("metadata.hop_limit", Some("1"), Some("2")),
            ("monitoring", None, Some("true")),
        ],
        "{}",
        text(&p)
    );
}
