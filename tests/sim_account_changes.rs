//! The account changes under a running apply: between plan and apply, and during a rollout,
//! someone deletes, scales or retags a generation, removes a target group or points a
//! listener elsewhere. reroll never panics on what it observed; it stops with a typed error
//! that names what changed, in a documented state (exit 1 before the rollout began, exit 4,
//! `Paused`, once it is under way), or carries on where the change is harmless; the scaling
//! processes it suspended are resumed either way, and a later apply converges.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::Stop;
use reroll::apply::{ApplyError, ApplyOptions};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, Forward, ImageFilter, Lifecycle, ListenerSpec, Tags};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;

const INSTANCES: usize = 4;

#[derive(Clone, Copy)]
struct Fixture {
    dir: &'static str,
    stack: &'static str,
    vars: &'static [(&'static str, &'static str)],
}

const ROLLING: Fixture = Fixture {
    dir: "sim-rolling",
    stack: "simroll",
    vars: &[("instances", "4")],
};

const BLUE_GREEN: Fixture = Fixture {
    dir: "sim-bluegreen",
    stack: "simbg",
    vars: &[("instances", "4"), ("step_bake", "2m"), ("keep_blue", "2m")],
};

fn inputs(f: Fixture, version: &str) -> Inputs {
    let mut cli = vec![("app_version".to_string(), version.to_string())];
    cli.extend(f.vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

fn path(f: Fixture) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(f.dir)
}

fn options() -> ApplyOptions {
    ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    }
}

/// v1 deployed.
async fn deployed(f: Fixture) -> Arc<SimCloud> {
    let sim = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
    sim.set_alarm_state("shop-5xx", "OK");
    apply(&sim, f, "1.0.0").await.unwrap();
    sim
}

async fn apply(sim: &SimCloud, f: Fixture, version: &str) -> Result<(), EngineError> {
    let session = engine::open(sim, &path(f), inputs(f, version)).await?;
    let plan = session.plan(false)?;
    if !plan.has_changes() {
        return Ok(());
    }
    engine::execute(sim, session, &plan, &options(), &Stop::new())
        .await
        .0
        .map(|_| ())
}

async fn image_id(cloud: &dyn Cloud, version: &str) -> String {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(format!("demo-app-{version}")),
        ..Default::default()
    };
    cloud.describe_images(&filter).await.unwrap()[0].id.clone()
}

fn group(f: Fixture, number: u32) -> String {
    format!("{}-web-v{number:03}", f.stack)
}

// ---------------------------------------------------------------------------------------------
// Changes someone else makes

#[derive(Debug, Clone, Copy)]
enum Change {
    DeleteGroup(u32),
    ScaleGroup(u32, u32),
    RetagGroup(u32),
    /// The listener forwards elsewhere, then the stack's target group is deleted.
    RemoveTargetGroup,
    /// The listener forwards to another target group only.
    RedirectListener,
}

/// A target group that is not the stack's, for the listener to point at.
async fn elsewhere(sim: &SimCloud, f: Fixture) -> String {
    let tg = &sim.list_target_groups(f.stack, "").await.unwrap()[0];
    let spec = reroll::cloud::TargetGroupSpec {
        name: "someone-else".into(),
        ..tg.spec.clone()
    };
    sim.create_target_group(&spec, &Tags::new()).await.unwrap()
}

async fn redirect(sim: &SimCloud, f: Fixture) {
    let other = elsewhere(sim, f).await;
    let lb = &sim.list_load_balancers(f.stack, "").await.unwrap()[0];
    let l = &sim.list_listeners(&lb.arn).await.unwrap()[0];
    let spec = ListenerSpec {
        forward: vec![Forward {
            target_group_arn: other,
            weight: 1,
        }],
        ..l.spec.clone()
    };
    sim.modify_listener(&l.arn, &spec).await.unwrap();
}

async fn make(sim: &SimCloud, f: Fixture, change: Change) {
    match change {
        Change::DeleteGroup(n) => sim.delete_group(&group(f, n)).await.unwrap(),
        Change::ScaleGroup(n, desired) => sim
            .set_group_capacity(&group(f, n), 0, desired, 8)
            .await
            .unwrap(),
        Change::RetagGroup(n) => {
            let mut t = Tags::new();
            t.insert(tag::STACK.into(), "someone-else".into());
            sim.set_group_tags(&group(f, n), &t).await.unwrap();
        }
        Change::RemoveTargetGroup => {
            redirect(sim, f).await;
            let tg = sim
                .list_target_groups(f.stack, "")
                .await
                .unwrap()
                .into_iter()
                .find(|t| !t.tags.contains_key(tag::COPY_OF))
                .unwrap();
            sim.delete_target_group(&tg.arn).await.unwrap();
        }
        Change::RedirectListener => redirect(sim, f).await,
    }
}

/// Waits until the rollout is under way: the new generation has an instance in service and
/// (rolling) an old instance was taken out, or (blue/green) green carries traffic.
async fn under_way(sim: &SimCloud, f: Fixture) {
    loop {
        let groups = sim.list_groups(f.stack).await.unwrap_or_default();
        let new_in_service = groups.iter().any(|g| {
            g.name == group(f, 2)
                && g.instances
                    .iter()
                    .any(|i| i.lifecycle_state == Lifecycle::InService)
        });
        let old_shrunk = groups
            .iter()
            .any(|g| g.name == group(f, 1) && (g.desired as usize) < INSTANCES);
        let traffic = groups
            .iter()
            .any(|g| g.name == group(f, 2) && g.tags.get(tag::TRAFFIC).is_some_and(|t| t != "0"));
        if new_in_service && (old_shrunk || traffic) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// What must hold

/// What an outcome must be.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused before the rollout began, with a typed error (exit 1) mentioning this.
    Refused(&'static str),
    /// Stopped part-way (exit 4), the message mentioning this.
    Paused(&'static str),
    /// The rollout carries on and completes.
    Completes,
}

/// Groups still the stack's with something reroll suspended left.
async fn suspended_left(sim: &SimCloud, f: Fixture) -> Vec<String> {
    sim.list_groups(f.stack)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.status.is_none())
        .filter(|g| {
            g.tags.get(tag::SUSPENDED).is_some_and(|v| !v.is_empty())
                || !g.suspended_processes.is_empty()
        })
        .map(|g| format!("{}: {:?}", g.name, g.suspended_processes))
        .collect()
}

/// Applies v1.1.0 with `change` made after the plan (`during` false) or once the rollout is
/// under way (`during` true), and checks the outcome.
async fn check(f: Fixture, change: Change, during: bool, expect: Expect) {
    let sim = deployed(f).await;
    let session = engine::open(&*sim, &path(f), inputs(f, "1.1.0"))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let (opts, stop) = (options(), Stop::new());
    let result = if during {
        let changer = async {
            under_way(&sim, f).await;
            make(&sim, f, change).await;
        };
        let (applied, ()) = tokio::join!(
            engine::execute(&*sim, session, &plan, &opts, &stop),
            changer
        );
        applied.0.map(|_| ())
    } else {
        make(&sim, f, change).await;
        engine::execute(&*sim, session, &plan, &opts, &stop)
            .await
            .0
            .map(|_| ())
    };
    let what = format!("{change:?} {}", if during { "during" } else { "before" });
    match (expect, &result) {
        (Expect::Completes, Ok(())) => {}
        (
            Expect::Refused(text),
            Err(EngineError::Apply(e @ (ApplyError::Changed { .. } | ApplyError::Unsupported(_)))),
        ) => {
            assert!(e.to_string().contains(text), "{what}: {e}");
            // Nothing of the rollout was made.
            let names: Vec<String> = sim
                .list_groups(f.stack)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.name)
                .collect();
            assert!(!names.contains(&group(f, 2)), "{what}: {names:?}");
        }
        (Expect::Paused(text), Err(EngineError::Apply(e @ ApplyError::Paused { .. }))) => {
            assert!(e.to_string().contains(text), "{what}: {e}");
        }
        (expect, other) => panic!("{what}: expected {expect:?}, got {other:?}"),
    }
    assert_eq!(
        suspended_left(&sim, f).await,
        Vec::<String>::new(),
        "{what}"
    );
    eprintln!(
        "{what}: {}",
        match &result {
            Ok(()) => "completed".to_string(),
            Err(e) => e.to_string(),
        }
    );
}

/// After a change that stopped the rollout, applying again converges on the new image.
async fn converges_after(f: Fixture, change: Change) {
    let sim = deployed(f).await;
    let (_, ()) = tokio::join!(apply(&sim, f, "1.1.0"), async {
        under_way(&sim, f).await;
        make(&sim, f, change).await;
    });
    apply(&sim, f, "1.1.0").await.unwrap();
    let v2 = image_id(&*sim, "1.1.0").await;
    let snap = sim.snapshot();
    let ours: Vec<_> = sim
        .list_groups(f.stack)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.tags.get(tag::STATE).map(String::as_str) == Some("active"))
        .collect();
    assert_eq!(ours.len(), 1, "{change:?}: {ours:#?}");
    let members = &ours[0].instances;
    assert_eq!(members.len(), INSTANCES, "{change:?}");
    for m in members {
        assert_eq!(snap.instance(&m.id).unwrap().image_id, v2, "{change:?}");
    }
    assert!(snap.serving() >= INSTANCES, "{change:?}: {snap:#?}");
    assert_eq!(suspended_left(&sim, f).await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Between plan and apply

#[tokio::test(start_paused = true)]
async fn changed_between_plan_and_apply() {
    let cases: &[(Fixture, Change, Expect)] = &[
        (
            ROLLING,
            Change::DeleteGroup(1),
            Expect::Refused("run plan again"),
        ),
        (
            ROLLING,
            Change::RetagGroup(1),
            Expect::Refused("run plan again"),
        ),
        (ROLLING, Change::ScaleGroup(1, 6), Expect::Completes),
        (ROLLING, Change::ScaleGroup(1, 2), Expect::Completes),
        (
            ROLLING,
            Change::RemoveTargetGroup,
            Expect::Refused("a target group it uses does not exist"),
        ),
        (
            BLUE_GREEN,
            Change::RedirectListener,
            Expect::Refused("needs a load balancer listener"),
        ),
    ];
    for (f, change, expect) in cases {
        check(*f, *change, false, *expect).await;
    }
}

/// Retagged away before the plan, the group is someone else's: the stack plans a first
/// generation, whose name is taken, and the apply stops there with the name it could not
/// use, leaving the other group as it is.
#[tokio::test(start_paused = true)]
async fn a_group_retagged_away_is_left_alone() {
    let sim = deployed(ROLLING).await;
    make(&sim, ROLLING, Change::RetagGroup(1)).await;
    let before = sim.list_groups("someone-else").await.unwrap();
    let result = apply(&sim, ROLLING, "1.1.0").await;
    match &result {
        Err(e) => assert!(e.to_string().contains("simroll-web-v001"), "{e}"),
        Ok(()) => panic!("a first generation took the name of someone else's group"),
    }
    let after = sim.list_groups("someone-else").await.unwrap();
    assert_eq!(
        before
            .iter()
            .map(|g| (&g.name, g.desired, &g.tags, &g.suspended_processes))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|g| (&g.name, g.desired, &g.tags, &g.suspended_processes))
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// During a rollout

#[tokio::test(start_paused = true)]
async fn changed_during_a_rollout() {
    let cases: &[(Fixture, Change, Expect)] = &[
        (
            ROLLING,
            Change::DeleteGroup(1),
            Expect::Paused("simroll-web-v001 is no longer in the account"),
        ),
        (
            ROLLING,
            Change::DeleteGroup(2),
            Expect::Paused("simroll-web-v002 is no longer in the account"),
        ),
        (
            ROLLING,
            Change::RetagGroup(1),
            Expect::Paused("simroll-web-v001 is no longer in the account"),
        ),
        (
            ROLLING,
            Change::RetagGroup(2),
            Expect::Paused("simroll-web-v002 is no longer in the account"),
        ),
        (ROLLING, Change::ScaleGroup(1, 6), Expect::Completes),
        (ROLLING, Change::ScaleGroup(2, 0), Expect::Completes),
        (
            ROLLING,
            Change::RemoveTargetGroup,
            Expect::Paused("no longer exists"),
        ),
        (
            BLUE_GREEN,
            Change::RedirectListener,
            Expect::Paused("no longer forwards to target_group.web"),
        ),
        (
            BLUE_GREEN,
            Change::DeleteGroup(2),
            Expect::Paused("is no longer in the account"),
        ),
    ];
    for (f, change, expect) in cases {
        check(*f, *change, true, *expect).await;
    }
}

/// Deleted mid-rollout, the new generation leaves the old one serving at full size again.
#[tokio::test(start_paused = true)]
async fn a_new_generation_deleted_mid_rollout_leaves_the_old_one_whole() {
    let sim = deployed(ROLLING).await;
    let (result, ()) = tokio::join!(apply(&sim, ROLLING, "1.1.0"), async {
        under_way(&sim, ROLLING).await;
        make(&sim, ROLLING, Change::DeleteGroup(2)).await;
    });
    match &result {
        Err(EngineError::Apply(ApplyError::Paused { message, .. })) => {
            assert!(message.contains("back at its 4 instances"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Its replacements boot and pass their health checks.
    tokio::time::sleep(Duration::from_secs(180)).await;
    assert!(
        sim.snapshot().serving() >= INSTANCES,
        "{:#?}",
        sim.snapshot()
    );
}

#[tokio::test(start_paused = true)]
async fn applying_again_after_a_change_mid_rollout_converges() {
    for change in [Change::DeleteGroup(1), Change::DeleteGroup(2)] {
        converges_after(ROLLING, change).await;
    }
}
