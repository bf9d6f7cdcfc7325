//! Forecasts: a plan played forward in a simulated account, to predict how long its rollouts
//! take and when each wave starts, is healthy and has drained.
//!
//! [`seed`] reads what a session observed (plus the few lookups a model needs: subnets with
//! their zones, security groups, launch template versions) into a [`SimSeed`]; [`forecast`]
//! loads it into a fresh [`SimCloud`] on its own paused clock, plans again there, applies, and
//! turns the rollouts' progress into a timeline. Nothing real is touched: the simulated account
//! is a copy. It is a model: boot times, health checks and draining follow the simulator's
//! rules ([`crate::cloud::sim`]) and the target groups' own settings, not the real fleet's
//! history.
//!
//! [`play`] is the part both use and the benchmarks reuse: apply a plan to a simulated account
//! and record the capacity of every rollout at each of its rounds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apply::progress::{Progress, RolloutProgress};
use crate::apply::Stop;
use crate::apply::{ApplyOptions, GroupReport};
use crate::cloud::sim::SimSeed;
use crate::cloud::sim::{SeedLoadBalancer, SeedTargetGroup, SeedTemplate, SimCloud, SimConfig};
use crate::cloud::stats::Stats;
use crate::cloud::{Cloud, CloudError, ImageInfo};
use crate::engine::{self, EngineError, Session};
use crate::load::{Inputs, Parsed};
use crate::observe;
use crate::plan::{Action, Plan};
use crate::resolve;
use crate::stack::Known;

#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("cannot read the account for the forecast: {0}")]
    Cloud(#[from] CloudError),
    #[error("the forecast's simulated account could not be planned: {0}")]
    Engine(#[from] EngineError),
    #[error("cannot start the forecast's simulated clock: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Reads what `session` observed in `cloud` into a seed for a simulated account.
pub async fn seed(cloud: &dyn Cloud, session: &Session) -> Result<SimSeed, CloudError> {
    let observed = &session.observed;
    let mut seed = SimSeed::default();
    for img in session.known.images.values() {
        seed.images.push(ImageInfo {
            id: img.id.clone(),
            name: img.name.clone(),
            owner: "self".into(),
            creation_date: img.creation_date.clone(),
            state: "available".into(),
            architecture: None,
            tags: Default::default(),
            snapshots: Vec::new(),
        });
    }
    for lookup in &session.stack.networks {
        let Some(net) = session.known.networks.get(&lookup.address) else {
            continue;
        };
        let subnets = cloud.find_subnets(&net.vpc_id, &lookup.subnet_tags).await?;
        seed.subnets.extend(
            subnets
                .into_iter()
                .filter(|s| net.subnet_ids.contains(&s.id)),
        );
        seed.vpcs.extend(
            cloud
                .find_vpcs(&lookup.vpc_tags)
                .await?
                .into_iter()
                .filter(|v| v.id == net.vpc_id),
        );
    }
    // Subnets a generation uses that no lookup returned (a stack that names subnet ids).
    let mut known_subnets: Vec<String> = seed.subnets.iter().map(|s| s.id.clone()).collect();
    for i in &observed.instances {
        if let (Some(id), Some(zone)) = (&i.subnet_id, &i.availability_zone) {
            if !known_subnets.contains(id) {
                known_subnets.push(id.clone());
                seed.subnets.push(crate::cloud::SubnetInfo {
                    id: id.clone(),
                    vpc_id: String::new(),
                    availability_zone: zone.clone(),
                    cidr: None,
                    tags: Default::default(),
                });
            }
        }
    }
    for g in observed.groups.values() {
        if let Some(lt) = &g.launch_template {
            let mut versions = BTreeMap::new();
            for gen in &g.generations {
                let Some(v) = &gen.group.launch_template_version else {
                    continue;
                };
                let Ok(number) = v.parse::<i64>() else {
                    continue;
                };
                if let std::collections::btree_map::Entry::Vacant(e) = versions.entry(number) {
                    e.insert(cloud.launch_template_version(&lt.id, v).await?);
                }
            }
            seed.launch_templates.push(SeedTemplate {
                info: lt.clone(),
                versions,
            });
        }
        seed.groups
            .extend(g.generations.iter().map(|gen| gen.group.clone()));
    }
    for tg in observed.target_groups.values() {
        // A plan's observation leaves target health out: the model needs the registrations.
        let targets = if observed.health_unread {
            cloud.target_health(&tg.info.arn).await?
        } else {
            tg.health.clone()
        };
        seed.target_groups.push(SeedTargetGroup {
            info: tg.info.clone(),
            targets,
        });
    }
    for lb in observed.load_balancers.values() {
        seed.load_balancers.push(SeedLoadBalancer {
            info: lb.info.clone(),
            listeners: lb.listeners.clone(),
        });
    }
    seed.instances = observed
        .instances
        .iter()
        .filter(|i| i.state.is_live())
        .cloned()
        .collect();
    Ok(seed)
}

/// Capacity of one rollout at one of its rounds, at a simulated time since the apply began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub at: Duration,
    pub progress: RolloutProgress,
}

/// What applying a plan to a simulated account did.
pub struct Played {
    pub result: Result<(), EngineError>,
    pub reports: Vec<GroupReport>,
    /// In the order they were reported.
    pub samples: Vec<Sample>,
    /// Simulated time from the start of the apply to its end.
    pub duration: Duration,
}

/// Applies `plan` to `sim`, recording every rollout's progress against simulated time.
pub async fn play(
    sim: Arc<SimCloud>,
    session: Session,
    plan: &Plan,
    opts: &ApplyOptions,
    stop: &Stop,
) -> Played {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = sim.elapsed();
    let (sink, clock) = (samples.clone(), sim.clone());
    let forward = opts.progress.clone();
    let opts = ApplyOptions {
        progress: Progress::new(move |p| {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(Sample {
                at: clock.elapsed().saturating_sub(start),
                progress: p.clone(),
            });
            forward.report(p);
        }),
        ..opts.clone()
    };
    let (result, reports) = engine::execute(&*sim, session, plan, &opts, stop).await;
    let duration = sim.elapsed().saturating_sub(start);
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    Played {
        result: result.map(|_| ()),
        reports,
        samples,
        duration,
    }
}

/// One wave as forecast. Times are since the apply began; `None` when the model never got
/// there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveForecast {
    pub launch: u32,
    pub drain: u32,
    pub start: Option<Duration>,
    pub healthy: Option<Duration>,
    pub drained: Option<Duration>,
}

/// One server group's rollout as forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupForecast {
    pub address: String,
    pub from: Option<u32>,
    pub to: u32,
    pub desired: u32,
    pub started: Duration,
    pub finished: Duration,
    /// `ok`, `rolled back`, …
    pub result: String,
    pub waves: Vec<WaveForecast>,
}

/// A plan played forward in a model of the account.
#[derive(Debug, Clone)]
pub struct Forecast {
    pub total: Duration,
    pub groups: Vec<GroupForecast>,
    /// Why the apply failed in the model, if it did.
    pub failure: Option<String>,
    /// Changes the model planned differently from the plan given (address, action there).
    pub differences: Vec<(String, Action)>,
    /// API calls the apply made in the model.
    pub calls: u64,
    pub config: SimConfig,
    /// Image copies the plan starts with (address, source region, the model's copy time):
    /// every group starts after them.
    pub copies: Vec<(String, String, Duration)>,
    /// First generations (no waves to time): address, instances, how long from asking for
    /// them to all healthy, result.
    pub created: Vec<(String, u32, Duration, String)>,
}

/// Everything a forecast needs, owned, so that it can run on its own thread and clock.
pub struct ForecastInput {
    pub parsed: Parsed,
    pub inputs: Inputs,
    /// The real session's lookups (images and networks).
    pub known: Known,
    pub seed: SimSeed,
    pub plan: Plan,
    pub config: SimConfig,
    pub force: bool,
    pub parallelism: usize,
}

/// Plays `input.plan` forward in a simulated copy of the account. Builds its own runtime on a
/// paused clock: call it from a thread that is not running one (`spawn_blocking`).
pub fn forecast(input: ForecastInput) -> Result<Forecast, ForecastError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    // The model's own log lines are not news about the real account: keep them out.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        runtime.block_on(run(input))
    })
}

async fn run(input: ForecastInput) -> Result<Forecast, ForecastError> {
    let ForecastInput {
        parsed,
        inputs,
        known,
        seed,
        plan,
        config,
        force,
        parallelism,
    } = input;
    let stats = Stats::new();
    let sim = Arc::new(SimCloud::seeded(config.clone(), &seed, stats.clone()));
    // Images the plan copies in: the model's source regions hold them, as planned.
    for c in &plan.copies {
        sim.put_image(
            &c.source_region,
            crate::cloud::ImageInfo {
                id: c.source_image_id.clone(),
                name: c.name.clone(),
                owner: "self".into(),
                creation_date: String::new(),
                state: "available".into(),
                architecture: None,
                tags: c.source_tags.clone(),
                snapshots: c.snapshots.clone(),
            },
        );
    }
    let observed = observe::observe(&*sim, &plan.stack)
        .await
        .map_err(|source| EngineError::Cloud {
            context: "cannot read the simulated copy",
            cause: source,
        })?;
    let mut known = Known {
        images: known.images,
        networks: known.networks,
        attributes: Default::default(),
    };
    observed.known_attributes(&mut known);
    let stack = resolve::resolve(&parsed, &inputs, &*sim, &mut known)
        .await
        .map_err(EngineError::from)?;
    let session = Session {
        parsed,
        inputs,
        stack,
        known,
        observed,
    };
    let model_plan = session.plan(force)?;
    let differences = model_plan
        .changes
        .iter()
        .filter(|c| {
            !plan
                .changes
                .iter()
                .any(|p| p.address == c.address && p.action == c.action)
        })
        .map(|c| (c.address.clone(), c.action))
        .collect();
    let before = stats.total_calls();
    let opts = ApplyOptions {
        parallelism,
        poll: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let played = play(sim, session, &model_plan, &opts, &Stop::new()).await;
    let groups = timeline(&model_plan, &played.samples);
    let created = played
        .reports
        .iter()
        .filter(|r| r.action == Action::Create && !groups.iter().any(|g| g.address == r.address))
        .map(|r| {
            let desired = model_plan
                .changes
                .iter()
                .find(|c| c.address == r.address)
                .and_then(|c| c.rollout.as_ref())
                .map_or(0, |ro| ro.desired);
            (r.address.clone(), desired, r.duration, r.result.clone())
        })
        .collect();
    Ok(Forecast {
        created,
        total: played.duration,
        groups,
        failure: played.result.err().map(|e| e.to_string()),
        differences,
        calls: stats.total_calls() - before,
        config,
        copies: model_plan
            .copies
            .iter()
            .map(|c| {
                (
                    c.address.clone(),
                    c.source_region.clone(),
                    Duration::from_secs(crate::plan::copy::copy_seconds(&c.snapshots)),
                )
            })
            .collect(),
    })
}

/// Per rolled-out group, when each planned wave started, was healthy and had drained, read
/// from the rollout's rounds (so to within one poll).
pub fn timeline(plan: &Plan, samples: &[Sample]) -> Vec<GroupForecast> {
    let mut out = Vec::new();
    for change in &plan.changes {
        let Some(rollout) = &change.rollout else {
            continue;
        };
        let mine: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.progress.address == change.address)
            .collect();
        let (Some(first), Some(last)) = (mine.first(), mine.last()) else {
            continue;
        };
        let mut waves = Vec::new();
        let mut launched = 0u32;
        for (n, w) in rollout.waves.iter().enumerate() {
            launched += w.launch;
            let when = |f: &dyn Fn(&RolloutProgress) -> bool| {
                mine.iter().find(|s| f(&s.progress)).map(|s| s.at)
            };
            // A wave starts when the new generation is asked for its instances, is healthy
            // when they all are, and has drained once the rollout has got through it (the old
            // instances it replaces are gone), as the executor counts waves.
            let start = when(&|p| p.healthy + p.launching >= launched);
            let healthy = when(&|p| p.healthy >= launched && p.finished.is_none());
            let drained_at = when(&|p| p.waves > n as u32);
            waves.push(WaveForecast {
                launch: w.launch,
                drain: w.drain,
                start,
                healthy,
                drained: drained_at,
            });
        }
        out.push(GroupForecast {
            address: change.address.clone(),
            from: rollout.from_generation,
            to: rollout.to_generation,
            desired: rollout.desired,
            started: first.at,
            finished: last.at,
            result: last
                .progress
                .finished
                .clone()
                .unwrap_or_else(|| "unfinished".into()),
            waves,
        });
    }
    out
}
