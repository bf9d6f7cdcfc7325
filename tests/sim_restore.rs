//! Disaster recovery on the simulator: `stacks/dr` restored into a region that lacks its
//! image. The copy is a planned action with its source, snapshots and estimate; apply copies
//! exactly the planned image, waits for it and launches from it; a copy under way is waited
//! on, not started again; encrypted snapshots need `copy_kms_key`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reroll::apply::rollout::Stop;
use reroll::apply::ApplyOptions;
use reroll::cloud::sim::{SimCloud, SimConfig};
use reroll::cloud::stats::Stats;
use reroll::cloud::{tag, Cloud, CopyImageRequest, ImageFilter, ImageInfo, Snapshot, Tags};
use reroll::engine::{self, EngineError};
use reroll::load::Inputs;
use reroll::plan::render::{render, Style};

const SOURCE: &str = "us-east-1";
const TARGET: &str = "us-west-2";
const IMAGE: &str = "demo-app-1.0.0";

fn stack() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stacks/dr")
}

/// A simulated account in the target region, where the image does not exist.
fn target() -> Arc<SimCloud> {
    Arc::new(SimCloud::new(
        SimConfig {
            region: TARGET.into(),
            missing_images: [IMAGE.to_string()].into(),
            ..SimConfig::default()
        },
        Stats::new(),
    ))
}

fn inputs(extra: &[(&str, &str)]) -> Inputs {
    let mut cli = vec![("region".to_string(), TARGET.to_string())];
    cli.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Inputs {
        cli,
        ..Default::default()
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    }
}

async fn copies_in_target(cloud: &dyn Cloud) -> Vec<ImageInfo> {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(IMAGE.into()),
        ..Default::default()
    };
    let mut found = cloud.describe_images(&filter).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

async fn source_image(cloud: &dyn Cloud) -> ImageInfo {
    let filter = ImageFilter {
        owners: vec!["self".into()],
        name: Some(IMAGE.into()),
        ..Default::default()
    };
    cloud
        .describe_images_in(SOURCE, &filter)
        .await
        .unwrap()
        .pop()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_copy_is_planned_applied_and_found_again() {
    let cloud = target();
    let source = source_image(&*cloud).await;
    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();

    // The plan names what is copied, from where, how much and how long.
    assert_eq!(plan.copies.len(), 1, "{plan:#?}");
    let copy = &plan.copies[0];
    assert_eq!(
        (
            copy.address.as_str(),
            copy.source_region.as_str(),
            copy.source_image_id.as_str(),
            copy.name.as_str(),
            copy.total_gib(),
            copy.estimate_seconds,
            copy.in_progress.as_deref(),
        ),
        ("image.app", SOURCE, source.id.as_str(), IMAGE, 8, 240, None)
    );
    let text = render(&plan, Style::default());
    let line = format!(
        "+ image.app             copy {} ({IMAGE}) from {SOURCE}: snap-",
        source.id
    );
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("8 GiB; about 4m"), "{text}");
    assert!(
        text.contains("Plan: 1 image to copy, 3 to create."),
        "{text}"
    );

    let started = cloud.elapsed();
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    // Nothing launched before the copy was available.
    assert!(cloud.elapsed() - started >= Duration::from_secs(240));

    let copies = copies_in_target(&*cloud).await;
    assert_eq!(copies.len(), 1, "{copies:#?}");
    let copied = &copies[0];
    assert_eq!(copied.state, "available");
    assert_eq!(
        copied.tags.get(tag::SOURCE_IMAGE).map(String::as_str),
        Some(format!("{SOURCE}:{}", source.id).as_str())
    );
    assert_eq!(copied.tags.get(tag::STACK).map(String::as_str), Some("dr"));
    assert_eq!(copied.tags.get("team").map(String::as_str), Some("demo"));
    let snap = cloud.snapshot();
    assert!(
        snap.instances
            .iter()
            .filter(|i| i.state != "terminated")
            .all(|i| i.image_id == copied.id),
        "{snap:#?}"
    );

    // A second plan finds the copy: nothing to do, no second copy.
    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let again = session.plan(false).unwrap();
    assert!(!again.has_changes(), "{again:#?}");
    assert_eq!(copies_in_target(&*cloud).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_copy_under_way_is_waited_on_not_started_again() {
    let cloud = target();
    let source = source_image(&*cloud).await;
    let tags: Tags = [(
        tag::SOURCE_IMAGE.to_string(),
        format!("{SOURCE}:{}", source.id),
    )]
    .into();
    let under_way = cloud
        .copy_image(&CopyImageRequest {
            source_region: SOURCE,
            source_image_id: &source.id,
            name: IMAGE,
            kms_key: None,
            tags: &tags,
        })
        .await
        .unwrap();

    let session = engine::open(&*cloud, &stack(), inputs(&[])).await.unwrap();
    let plan = session.plan(false).unwrap();
    assert_eq!(plan.copies.len(), 1, "{plan:#?}");
    assert_eq!(
        plan.copies[0].in_progress.as_deref(),
        Some(under_way.as_str())
    );
    let text = render(&plan, Style::default());
    assert!(
        text.contains(&format!(
            "wait for {under_way}, already copying {}",
            source.id
        )),
        "{text}"
    );
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    let copies = copies_in_target(&*cloud).await;
    assert_eq!(
        copies.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [under_way.as_str()]
    );
}

fn encrypted_bake(cloud: &SimCloud) -> ImageInfo {
    let image = ImageInfo {
        id: "ami-0encrypted00000001".into(),
        name: IMAGE.into(),
        owner: "123456789012".into(),
        creation_date: "2026-02-01T00:00:00.000Z".into(),
        state: "available".into(),
        architecture: Some("x86_64".into()),
        tags: Tags::new(),
        snapshots: vec![Snapshot {
            id: "snap-0secret".into(),
            size_gib: 20,
            encrypted: true,
        }],
    };
    cloud.put_image(SOURCE, image.clone());
    image
}

#[tokio::test(start_paused = true)]
async fn encrypted_snapshots_need_a_key_in_the_target_region() {
    let cloud = target();
    encrypted_bake(&cloud);
    let err = match engine::open(&*cloud, &stack(), inputs(&[])).await {
        Err(EngineError::Stack(d)) => format!("{}\n{}", d.short(), d.render(false)),
        Err(other) => panic!("expected a stack error, got {other}"),
        Ok(_) => panic!("an encrypted copy without a key was planned"),
    };
    for want in [
        "main.hcl:",
        "image.app: image ami-0encrypted00000001 (demo-app-1.0.0) in us-east-1 has encrypted \
         snapshots (snap-0secret); copying it into us-west-2 needs a KMS key in us-west-2",
        "copy_kms_key",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }

    let session = engine::open(&*cloud, &stack(), inputs(&[("copy_kms_key", "alias/dr")]))
        .await
        .unwrap();
    let plan = session.plan(false).unwrap();
    let copy = &plan.copies[0];
    assert_eq!(
        (
            copy.kms_key.as_deref(),
            copy.encrypted(),
            copy.estimate_seconds
        ),
        (Some("alias/dr"), true, 120 + 20 * 15)
    );
    let (result, _) = engine::execute(&*cloud, session, &plan, &options(), &Stop::new()).await;
    result.unwrap();
    let copies = copies_in_target(&*cloud).await;
    assert_eq!(copies.len(), 1);
    assert!(copies[0].snapshots.iter().all(|s| s.encrypted));
}
