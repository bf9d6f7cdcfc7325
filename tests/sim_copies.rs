//! `count` and `for_each` through the real engine on the simulator: every copy is a resource
//! of its own (its Auto Scaling group, its target group), observed again as the same copy,
//! rolled with the others, and deleted alone when the stack stops making it.

use std::path::PathBuf;
use std::time::Duration;

use reroll::apply::{ApplyOptions, Stop};
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud};
use reroll::engine;
use reroll::load::Inputs;
use reroll::plan::{Action, Plan};

const STACK: &str = "copies";

fn inputs(vars: &[(&str, &str)]) -> Inputs {
    Inputs {
        cli: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/copies")
}

async fn plan(cloud: &SimCloud, vars: &[(&str, &str)]) -> (engine::Session, Plan) {
    let session = engine::open(cloud, &fixture(), inputs(vars)).await.unwrap();
    let plan = session.plan(false).unwrap();
    (session, plan)
}

/// `(address, action)` of every change that does something.
fn changes(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

async fn apply(cloud: &SimCloud, vars: &[(&str, &str)]) {
    let (session, plan) = plan(cloud, vars).await;
    let options = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let (result, reports) = engine::execute(cloud, session, &plan, &options, &Stop::new()).await;
    if let Err(e) = result {
        panic!("apply failed: {e}\nreports: {reports:#?}");
    }
}

/// The stack's Auto Scaling groups not being deleted, by name, with their desired capacity.
fn groups(cloud: &SimCloud) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = cloud
        .snapshot()
        .groups
        .into_iter()
        .filter(|g| g.stack.as_deref() == Some(STACK) && !g.deleting)
        .map(|g| (g.name, g.desired))
        .collect();
    out.sort();
    out
}

fn named(names: &[(&str, u32)]) -> Vec<(String, u32)> {
    names.iter().map(|(n, d)| (n.to_string(), *d)).collect()
}

#[tokio::test(start_paused = true)]
async fn every_copy_is_created_observed_rolled_and_removed_on_its_own() {
    let cloud = SimCloud::new(SimConfig::default(), Stats::new());
    apply(&cloud, &[]).await;
    assert_eq!(
        groups(&cloud),
        named(&[
            ("copies-shard-0-v001", 2),
            ("copies-shard-1-v001", 2),
            ("copies-zone-a-v001", 1),
            ("copies-zone-b-v001", 1),
        ])
    );
    // Each shard's instances are in its own target group; the address tag is one load
    // balancing accepts.
    let tgs = cloud.list_target_groups(STACK, "copies").await.unwrap();
    let mut addresses: Vec<(String, String)> = tgs
        .iter()
        .map(|t| {
            (
                t.spec.name.clone(),
                t.tags.get(tag::ADDRESS).cloned().unwrap_or_default(),
            )
        })
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        [
            (
                "copies-shard-0".to_string(),
                "target_group.shard/0".to_string()
            ),
            (
                "copies-shard-1".to_string(),
                "target_group.shard/1".to_string()
            ),
        ]
    );
    for t in &tgs {
        let healthy = cloud.target_health(&t.arn).await.unwrap();
        assert_eq!(
            healthy.len(),
            2,
            "{}: its shard's two instances",
            t.spec.name
        );
    }

    // Observed again as the same copies: nothing to do.
    let (_, again) = plan(&cloud, &[]).await;
    assert_eq!(changes(&again), [], "a second plan finds every copy");

    // A new image rolls every copy.
    let (_, next) = plan(&cloud, &[("app_version", "1.1.0")]).await;
    let mut replaced = changes(&next);
    replaced.sort();
    assert_eq!(
        replaced,
        [
            ("server_group.shard[0]".to_string(), Action::Replace),
            ("server_group.shard[1]".to_string(), Action::Replace),
            ("server_group.zone[\"a\"]".to_string(), Action::Replace),
            ("server_group.zone[\"b\"]".to_string(), Action::Replace),
        ]
    );
    apply(&cloud, &[("app_version", "1.1.0")]).await;
    assert!(
        groups(&cloud)
            .iter()
            .filter(|(n, _)| n.ends_with("-v002"))
            .count()
            == 4
    );

    // One shard and one zone fewer: only those copies go, with the shard's target group.
    let fewer = [
        ("app_version", "1.1.0"),
        ("shards", "1"),
        ("zones", "[\"a\"]"),
    ];
    let (_, smaller) = plan(&cloud, &fewer).await;
    let mut removed = changes(&smaller);
    removed.sort();
    assert_eq!(
        removed,
        [
            ("load_balancer.shard[1]".to_string(), Action::Delete),
            ("server_group.shard[1]".to_string(), Action::Delete),
            ("server_group.zone[\"b\"]".to_string(), Action::Delete),
            ("target_group.shard[1]".to_string(), Action::Delete),
        ]
    );
    apply(&cloud, &fewer).await;
    let left: Vec<String> = groups(&cloud)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !n.ends_with("-v001"))
        .collect();
    assert_eq!(left, ["copies-shard-0-v002", "copies-zone-a-v002"]);
    let tgs = cloud.list_target_groups(STACK, "copies").await.unwrap();
    assert_eq!(tgs.len(), 1);
    let (_, last) = plan(&cloud, &fewer).await;
    assert_eq!(changes(&last), []);
}
