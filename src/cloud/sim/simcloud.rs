//! `SimCloud`: the simulated account behind a lock, on tokio's clock, and its requests
//! (counted, rate limited, slowed and failed as configured).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::client::{Client, Fault};
use super::config::SimConfig;
use super::limits::Kind;
use super::snapshot::SimSnapshot;
use super::time::Ms;
use super::world::World;
use crate::cloud::stats::Stats;
use crate::cloud::{CloudResult, ImageInfo};

/// The simulated account. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct SimCloud {
    pub(super) world: Mutex<World>,
    pub(super) stats: Stats,
    pub(super) region: String,
    /// Simulated time `base` is tokio's `epoch`.
    pub(super) epoch: Instant,
    pub(super) base: Ms,
    /// Wall-clock time spent in the simulator (see [`SimCloud::busy`]).
    pub(super) busy: Mutex<Duration>,
    /// The SDK's side of the calls (retries, the adaptive rate limiter), for
    /// [`SimConfig::api_faults`]. Not saved: it is the process's, not the account's.
    pub(super) client: Mutex<Client>,
}

impl SimCloud {
    /// A fresh, empty account.
    pub fn new(config: SimConfig, stats: Stats) -> SimCloud {
        Self::with_world(World::new(config), 0, stats)
    }

    /// The same, shared.
    pub fn shared(config: SimConfig, stats: Stats) -> Arc<SimCloud> {
        Arc::new(Self::new(config, stats))
    }

    pub(super) fn with_world(world: World, base: Ms, stats: Stats) -> SimCloud {
        SimCloud {
            region: world.config.region.clone(),
            client: Mutex::new(Client::new(world.config.seed)),
            world: Mutex::new(world),
            stats,
            epoch: Instant::now(),
            base,
            busy: Mutex::new(Duration::ZERO),
        }
    }

    /// CPU time spent inside the simulator so far, by the threads that ran it: moving the
    /// world along, answering requests, loading and saving. What a process spends beyond it
    /// is its own.
    pub fn busy(&self) -> Duration {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f`, counting the CPU time its thread spends in it as the simulator's.
    pub(super) fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = thread_cpu();
        let out = super::memory::in_simulator(f);
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) += thread_cpu() - started;
        out
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration in force.
    pub fn config(&self) -> SimConfig {
        self.lock().config.clone()
    }

    /// Changes the configuration while the world runs (faults, limits, latency). The region
    /// cannot change.
    pub fn configure(&self, change: impl FnOnce(&mut SimConfig)) {
        let mut w = self.lock();
        change(&mut w.config);
        w.config.region = self.region.clone();
    }

    /// Registers an image in `region` (a bake, for tests): it replaces one of the same id.
    pub fn put_image(&self, region: &str, image: ImageInfo) {
        self.with(|w, _| w.put_image(region, image));
    }

    /// Sets a CloudWatch alarm's state, creating the alarm if needed (for tests).
    pub fn set_alarm_state(&self, name: &str, state: &str) {
        self.with(|w, _| w.set_alarm_state(name, state));
    }

    /// Starts an instance refresh on a group, as another controller would (it replaces
    /// nothing here); returns its id.
    pub fn start_instance_refresh(&self, group: &str) -> CloudResult<String> {
        self.with(|w, t| w.start_instance_refresh("AutoScaling.StartInstanceRefresh", group, t))
    }

    /// Completes the lifecycle action holding an instance of `group` (`CONTINUE` or
    /// `ABANDON`), as the instance's bootstrap or a drain script would.
    pub fn complete_lifecycle_action(
        &self,
        group: &str,
        instance_id: &str,
        result: &str,
    ) -> CloudResult<()> {
        self.with(|w, t| {
            w.complete_lifecycle_action(
                "AutoScaling.CompleteLifecycleAction",
                group,
                instance_id,
                result,
                t,
            )
        })
    }

    /// Moves the group's instance refresh in progress to `status` (`Successful`, `Cancelled`,
    /// `Cancelling`, …).
    pub fn set_instance_refresh(&self, group: &str, status: &str) {
        self.with(|w, _| w.set_instance_refresh(group, status, None));
    }

    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }

    /// A consistent view of every instance, group and target group now.
    pub fn snapshot(&self) -> SimSnapshot {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            w.snapshot(t)
        })
    }

    pub(super) fn now_ms(&self) -> Ms {
        self.base + self.epoch.elapsed().as_millis() as Ms
    }

    pub(super) fn instant(&self, t: Ms) -> Instant {
        self.epoch + Duration::from_millis(t.saturating_sub(self.base))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One request: counted, rate limited (waiting out throttling) and as slow as configured;
    /// with [`SimConfig::api_faults`], attempts fail at random and are retried as the SDK
    /// would, and the last failure is returned.
    pub(super) async fn request(&self, operation: &'static str) -> CloudResult<()> {
        self.stats.record_call(operation);
        let (faults, policy) = {
            let w = self.lock();
            (w.config.api_faults, w.config.retry)
        };
        if !faults.any() {
            self.attempt(operation).await;
            return Ok(());
        }
        let service = operation.split_once('.').map_or(operation, |(s, _)| s);
        loop {
            let wait = self.client().send_token(service, self.seconds());
            if wait <= 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let mut attempt = 1;
        loop {
            self.attempt(operation).await;
            let fault = self.client().draw(&faults);
            if fault == Some(Fault::Timeout) {
                tokio::time::sleep(Duration::from_millis(faults.timeout_ms)).await;
            }
            let throttled = fault == Some(Fault::Throttle);
            if throttled {
                self.stats.record_throttle(operation);
            }
            self.client().attempted(service, self.seconds(), throttled);
            let Some(fault) = fault else {
                return Ok(());
            };
            if attempt >= policy.max_attempts.max(1) {
                return Err(fault.error(operation));
            }
            let backoff = self
                .client()
                .backoff(service, self.seconds(), attempt, fault, &policy);
            tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
            attempt += 1;
        }
    }

    pub(super) fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulated seconds, for the client's rate limiter.
    pub(super) fn seconds(&self) -> f64 {
        self.now_ms() as f64 / 1000.0
    }

    /// One attempt of a request: rate limited and as slow as configured.
    pub(super) async fn attempt(&self, operation: &'static str) {
        self.stats.record_attempt(operation);
        let t = self.now_ms();
        let (ready, latency) = {
            let mut w = self.lock();
            let ready = w.reserve(Kind::of_operation(operation), t, 1.0);
            (ready, w.config.call_latency_ms)
        };
        if ready > t {
            self.stats.record_throttle(operation);
            self.stats.record_attempt(operation);
            tokio::time::sleep_until(self.instant(ready)).await;
        }
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
    }

    /// `pages` more requests of a listing whose first page is already done.
    pub(super) async fn more_pages(
        &self,
        operation: &'static str,
        items: usize,
        page: usize,
    ) -> CloudResult<()> {
        for _ in 1..items.div_ceil(page).max(1) {
            self.request(operation).await?;
        }
        Ok(())
    }

    /// Runs `f` on the world brought up to now, and settles again after it.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut World, Ms) -> T) -> T {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            // The request itself, and the answer it builds, are the caller's: against AWS the
            // SDK would hold the same answer in reroll's memory.
            let out = super::memory::outside_simulator(|| f(&mut w, t));
            w.settle(t);
            out
        })
    }

    /// A request that changes the world.
    pub(super) async fn call<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut World, &'static str, Ms) -> CloudResult<T>,
    ) -> CloudResult<T> {
        self.request(operation).await?;
        self.with(|w, t| f(w, operation, t))
    }

    /// Sends one request per batch of `items`, none for no items.
    pub(super) async fn batches<I>(
        &self,
        operation: &'static str,
        items: &[I],
        size: usize,
        mut f: impl FnMut(&mut World, &'static str, &[I], Ms) -> CloudResult<()>,
    ) -> CloudResult<()> {
        for batch in items.chunks(size) {
            self.request(operation).await?;
            self.with(|w, t| f(w, operation, batch, t))?;
        }
        Ok(())
    }
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`): not the wall clock, so a
/// loaded machine does not count its other work as the simulator's.
pub(super) fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
