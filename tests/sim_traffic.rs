//! A listener never points at a target group with nothing healthy in it: renaming a target
//! group (a new one for the listener and the server group, the old one deleted), alone or with a
//! new image, keeps every request served. On the simulator, whose target groups health-check
//! only once a listener forwards to them, as AWS's do; sampled every simulated second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::ApplyOptions;
use reroll::apply::Stop;
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{Cloud, TargetState};
use reroll::engine;
use reroll::load::Inputs;

const STACK: &str = "simroll";
const DESIRED: usize = 12;

/// The simulator's rolling fixture with its target group named `name`.
fn stack(dir: &Path, name: &str) {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sim-rolling/main.hcl"),
    )
    .unwrap();
    let src = src
        .replace("target_group \"web\"", &format!("target_group \"{name}\""))
        .replace("target_group.web", &format!("target_group.{name}"));
    std::fs::write(dir.join("main.hcl"), src).unwrap();
}

fn inputs(version: &str) -> Inputs {
    Inputs {
        cli: vec![("app_version".into(), version.into())],
        ..Default::default()
    }
}

async fn apply(cloud: &SimCloud, dir: &Path, version: &str) {
    let session = engine::open(cloud, dir, inputs(version)).await.unwrap();
    let plan = session.plan(false).unwrap();
    let opts = ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let (result, reports) = engine::execute(cloud, session, &plan, &opts, &Stop::new()).await;
    if let Err(e) = result {
        panic!("apply failed: {e}\n{reports:#?}");
    }
}

/// Healthy targets behind the stack's listener, counting only target groups it sends traffic
/// to (a lone target group, or a weight above zero).
async fn serving(cloud: &dyn Cloud) -> usize {
    let mut n = 0;
    for lb in cloud.list_load_balancers(STACK, STACK).await.unwrap() {
        for l in cloud.list_listeners(&lb.arn).await.unwrap() {
            let lone = l.spec.forward.len() == 1;
            for f in l.spec.forward.iter().filter(|f| lone || f.weight > 0) {
                n += cloud
                    .target_health(&f.target_group_arn)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|t| t.state == TargetState::Healthy)
                    .count();
            }
        }
    }
    n
}

#[tokio::test(start_paused = true)]
async fn renaming_a_target_group_never_leaves_the_listener_without_healthy_targets() {
    // (what else changes with the rename)
    for version in ["1.0.0", "1.1.0"] {
        let cloud = Arc::new(SimCloud::new(SimConfig::default(), Stats::new()));
        let dir = tempfile::tempdir().unwrap();
        stack(dir.path(), "web");
        apply(&cloud, dir.path(), "1.0.0").await;
        assert_eq!(serving(&*cloud).await, DESIRED);

        stack(dir.path(), "web2");
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (cloud, done) = (cloud.clone(), done.clone());
            tokio::spawn(async move {
                let mut low = Vec::new();
                let mut samples = 0;
                while !done.load(Ordering::SeqCst) {
                    let n = serving(&*cloud).await;
                    samples += 1;
                    if n < DESIRED {
                        low.push((cloud.elapsed(), n));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (samples, low)
            })
        };
        apply(&cloud, dir.path(), version).await;
        done.store(true, Ordering::SeqCst);
        let (samples, low) = sampler.await.unwrap();
        assert!(samples > 10, "{version}: too few samples");
        assert!(
            low.is_empty(),
            "{version}: fewer than {DESIRED} healthy targets behind the listener: {low:?}"
        );
        // The listener now forwards to the new target group alone, which holds the group.
        let lbs = cloud.list_load_balancers(STACK, STACK).await.unwrap();
        let listeners = cloud.list_listeners(&lbs[0].arn).await.unwrap();
        let tgs = cloud.list_target_groups(STACK, STACK).await.unwrap();
        let names: Vec<&str> = tgs.iter().map(|t| t.spec.name.as_str()).collect();
        assert_eq!(names, ["simroll-web2"], "{version}: the old one is deleted");
        assert_eq!(listeners[0].spec.forward.len(), 1, "{listeners:#?}");
        assert_eq!(listeners[0].spec.forward[0].target_group_arn, tgs[0].arn);
        assert_eq!(serving(&*cloud).await, DESIRED, "{version}");
    }
}
