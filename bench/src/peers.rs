//! The same replacement done the way other tools do it, **modelled** on the simulator from
//! their documented algorithms (these are models, not the tools):
//!
//! - EC2 Auto Scaling instance refresh with MinHealthyPercentage and MaxHealthyPercentage: per
//!   group, a batch of (max − min)% (at least one instance) at a time. The part of the batch
//!   that fits above 100% (up to MaxHealthyPercentage) is launched before any old instance
//!   goes; the rest is terminated first (Auto Scaling deregisters and waits out the
//!   deregistration delay). The batch's new instances count once they are InService, the
//!   instance warmup has passed since (AWS counts warmup from InService), and they pass the
//!   load balancer's health checks; then the old instances launched-for go, and the next
//!   batch starts. 90/100 is AWS's default (terminate, then launch); 100/110 launches first
//!   and never drops below the desired capacity.
//! - CloudFormation AutoScalingRollingUpdate with MaxBatchSize 10%: per group, a batch at a
//!   time; with MinInstancesInService at the desired capacity the batch is launched first,
//!   below it old instances are terminated first. New instances count once InService (without
//!   resource signals CloudFormation does not look at load balancer health), then PauseTime.
//!
//! Replacements come from a second Auto Scaling group on the new launch template version, so
//! the simulator's group, draining and launch-rate rules apply as they do to reroll.
//!
//! Also here: the observer that samples the simulated account every few simulated seconds,
//! for the capacity picture and the healthy floor of each run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;

use reroll::cloud::sim::{SimCloud, SimSnapshot};
use reroll::cloud::{tag, Cloud, GroupSpec, ImageFilter, Lifecycle, TargetState};

/// Capacity at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Point {
    pub at: f64,
    /// Live instances (pending or running) of the first generation.
    pub old: u32,
    /// Live instances of any later generation.
    pub new: u32,
    /// Targets healthy in their target group.
    pub healthy: u32,
    /// Targets draining.
    pub draining: u32,
}

pub struct Observer {
    stop: Arc<AtomicBool>,
    pub snapshots: watch::Receiver<Arc<SimSnapshot>>,
    handle: tokio::task::JoinHandle<Vec<Point>>,
}

fn point(s: &SimSnapshot, stack: &str, since: Duration) -> Point {
    let mut p = Point {
        at: s.at.saturating_sub(since).as_secs_f64(),
        ..Point::default()
    };
    for i in &s.instances {
        if i.stack.as_deref() != Some(stack) || !i.state.is_live() {
            continue;
        }
        if i.launched_by
            .as_deref()
            .is_some_and(|g| g.ends_with("-v001"))
        {
            p.old += 1;
        } else {
            p.new += 1;
        }
    }
    for tg in s
        .target_groups
        .iter()
        .filter(|t| t.stack.as_deref() == Some(stack))
    {
        for state in tg.targets.values() {
            match state {
                TargetState::Healthy => p.healthy += 1,
                TargetState::Draining => p.draining += 1,
                _ => {}
            }
        }
    }
    p
}

/// Samples the account every `every` of simulated time until finished.
pub fn observe(sim: Arc<SimCloud>, stack: &'static str, every: Duration) -> Observer {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let since = sim.elapsed();
    let (tx, rx) = watch::channel(Arc::new(sim.snapshot()));
    let handle = tokio::spawn(async move {
        let mut points = Vec::new();
        loop {
            let snap = Arc::new(sim.snapshot());
            points.push(point(&snap, stack, since));
            let _ = tx.send(snap);
            if flag.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(every).await;
        }
        points
    });
    Observer {
        stop,
        snapshots: rx,
        handle,
    }
}

impl Observer {
    pub async fn finish(self) -> Vec<Point> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.unwrap_or_default()
    }
}

/// Which peer, with its settings.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    InstanceRefresh {
        min_healthy: u32,
        max_healthy: u32,
        warmup: Duration,
    },
    CloudFormation {
        /// MinInstancesInService, percent of the desired capacity.
        min_in_service: u32,
        pause: Duration,
    },
}

impl Peer {
    /// Instances replaced a batch, and how many of them are launched before any old one goes.
    fn batch(self, size: u32, batch_percent: u32) -> (u32, u32) {
        let pct = |p: u32| (size * p).div_ceil(100);
        match self {
            Peer::InstanceRefresh {
                min_healthy,
                max_healthy,
                ..
            } => {
                let above = pct(max_healthy.saturating_sub(100));
                let below = size - (size * min_healthy / 100).min(size);
                let batch = (above + below).max(1);
                (batch, if below == 0 { batch } else { above })
            }
            Peer::CloudFormation { min_in_service, .. } => {
                let b = pct(batch_percent).max(1);
                (b, if min_in_service >= 100 { b } else { 0 })
            }
        }
    }
}

/// One group to replace: the old Auto Scaling group, the one replacements go into, the
/// target group both serve, the group's size and the batch.
struct Job {
    old: String,
    new: String,
    target_group: String,
    size: u32,
    batch: u32,
    /// Of each batch, launched before any old instance goes.
    first: u32,
}

/// One group's replacement as the peer does it.
async fn replace_group(
    sim: &SimCloud,
    mut snapshots: watch::Receiver<Arc<SimSnapshot>>,
    job: Job,
    peer: Peer,
) -> Result<()> {
    let Job {
        old,
        new,
        target_group,
        size,
        batch,
        first,
    } = job;
    let (old, new, target_group) = (old.as_str(), new.as_str(), target_group.as_str());
    let max = size * 2;
    let mut old_left = size;
    let mut new_desired = 0;
    while old_left > 0 {
        let b = batch.min(old_left);
        let up = first.min(b);
        // Below 100%: old instances go first.
        if b > up {
            shrink(sim, &mut snapshots, old, old_left - (b - up), max).await?;
        }
        new_desired += b;
        sim.set_group_capacity(new, 0, new_desired, max).await?;
        let in_service = |s: &SimSnapshot| {
            s.groups.iter().find(|g| g.name == new).is_some_and(|g| {
                g.instances
                    .iter()
                    .filter_map(|id| s.instance(id))
                    .filter(|i| i.lifecycle == Some(Lifecycle::InService))
                    .count() as u32
                    >= new_desired
            })
        };
        wait(&mut snapshots, in_service).await?;
        match peer {
            Peer::InstanceRefresh { warmup, .. } => {
                tokio::time::sleep(warmup).await;
                wait(&mut snapshots, |s| {
                    let Some(g) = s.groups.iter().find(|g| g.name == new) else {
                        return false;
                    };
                    let Some(tg) = s.target_groups.iter().find(|t| t.arn == target_group) else {
                        return false;
                    };
                    g.instances
                        .iter()
                        .filter(|id| {
                            tg.targets
                                .get(*id)
                                .is_some_and(|st| *st == TargetState::Healthy)
                        })
                        .count() as u32
                        >= new_desired
                })
                .await?;
            }
            Peer::CloudFormation { pause, .. } => tokio::time::sleep(pause).await,
        }
        old_left -= b;
        // Above 100%: the old instances launched-for go now.
        if up > 0 {
            shrink(sim, &mut snapshots, old, old_left, max).await?;
        }
    }
    Ok(())
}

/// Lowers the old group to `to` and waits until it holds no more: Auto Scaling deregisters,
/// drains, then terminates.
async fn shrink(
    sim: &SimCloud,
    snapshots: &mut watch::Receiver<Arc<SimSnapshot>>,
    old: &str,
    to: u32,
    max: u32,
) -> Result<()> {
    sim.set_group_capacity(old, 0, to, max).await?;
    wait(snapshots, |s| {
        s.groups
            .iter()
            .find(|g| g.name == old)
            .is_none_or(|g| g.instances.len() as u32 <= to)
    })
    .await
}

async fn wait(
    snapshots: &mut watch::Receiver<Arc<SimSnapshot>>,
    done: impl Fn(&SimSnapshot) -> bool,
) -> Result<()> {
    loop {
        if done(&snapshots.borrow_and_update()) {
            return Ok(());
        }
        snapshots
            .changed()
            .await
            .context("the observer stopped before the model finished")?;
    }
}

/// Replaces every first-generation group of `stack` with `image_name`, as `peer` would, all
/// groups at once; batches of `batch_percent` of each group.
pub async fn replace(
    sim: &SimCloud,
    snapshots: watch::Receiver<Arc<SimSnapshot>>,
    stack: &str,
    image_name: &str,
    batch_percent: u32,
    peer: Peer,
) -> Result<()> {
    let image = sim
        .describe_images(&ImageFilter {
            name: Some(image_name.to_string()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .next()
        .context("no image for the model")?;
    let groups: Vec<_> = sim
        .list_groups(stack)
        .await?
        .into_iter()
        .filter(|g| g.name.ends_with("-v001") && g.desired > 0)
        .collect();
    let mut jobs = Vec::new();
    for g in groups {
        let lt = g
            .launch_template_id
            .clone()
            .context("group without template")?;
        let version = g
            .launch_template_version
            .clone()
            .unwrap_or("$Latest".into());
        let mut spec = sim.launch_template_version(&lt, &version).await?;
        spec.image_id = image.id.clone();
        let v = sim.create_launch_template_version(&lt, &spec).await?;
        let new = g.name.replace("-v001", "-peer");
        let mut tags = g.tags.clone();
        tags.retain(|k, _| k == tag::STACK);
        sim.create_group(&GroupSpec {
            settings: Default::default(),
            name: new.clone(),
            launch_template_id: lt,
            launch_template_version: v.to_string(),
            min: 0,
            max: g.desired * 2,
            desired: 0,
            subnet_ids: g.subnet_ids.clone(),
            target_group_arns: g.target_group_arns.clone(),
            health_check_type: "ELB".into(),
            health_check_grace_seconds: 30,
            tags,
        })
        .await?;
        let (batch, first) = peer.batch(g.desired, batch_percent);
        let target_group = g.target_group_arns.first().cloned().unwrap_or_default();
        let rx = snapshots.clone();
        let job = Job {
            old: g.name.clone(),
            new,
            target_group,
            size: g.desired,
            batch,
            first,
        };
        jobs.push(replace_group(sim, rx, job, peer));
    }
    for r in futures::future::join_all(jobs).await {
        r?;
    }
    Ok(())
}
