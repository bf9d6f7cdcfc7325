//! Transient cloud errors during a rollout: wait a jittered while and try again.
//!
//! The client retries each call a few times with a short backoff (see
//! [`crate::cloud::RetryPolicy`]). A throttle, a 5xx, a timeout or a reset connection that
//! outlives those retries does not end a rollout: the round (or the step, or the wait) is
//! tried again after a backoff that doubles from about a second up to a few polls, with
//! jitter so that groups do not retry in step. Each one is logged and counted in `--stats`
//! (`retried`). Only failures that go on without a single success for the rollout's
//! `health.timeout`, or an error that is not transient, end it.
//!
//! The jitter is drawn from the group's address and the number of failures so far: groups
//! spread apart, and a run on the simulator is the same every time.

use std::time::Duration;

use tokio::time::Instant;

use super::types::ApplyOptions;
use crate::cloud::stats::Stats;
use crate::cloud::{CloudError, CloudResult};

/// The retry state of one rollout (or one wait).
#[derive(Debug)]
pub struct Retry {
    address: String,
    stats: Stats,
    /// How long failures may go on without a success.
    patience: Duration,
    /// When the current run of failures began.
    failing_since: Option<Instant>,
    /// Failures in the current run.
    failures: u32,
    /// Failures ever, for the jitter.
    draws: u64,
    seed: u64,
    base: Duration,
    cap: Duration,
}

impl Retry {
    /// Retries for `address`, giving up after `patience` of failures without a success.
    pub fn new(address: &str, opts: &ApplyOptions, patience: Duration) -> Retry {
        let poll = opts.poll.max(Duration::from_millis(50));
        Retry {
            address: address.to_string(),
            stats: opts.stats.clone(),
            patience,
            failing_since: None,
            failures: 0,
            draws: 0,
            seed: address.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            }),
            base: poll.min(Duration::from_secs(1)),
            cap: poll.max(Duration::from_secs(1)) * 4,
        }
    }

    /// The delay before trying again after `e`, logged and counted; or `e` itself when it is
    /// not transient or failures have gone on for the whole patience.
    pub fn after(&mut self, e: CloudError) -> CloudResult<Duration> {
        if !e.is_transient() {
            return Err(e);
        }
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.patience {
            tracing::error!(
                address = %self.address, error = %e,
                "AWS kept failing for {}; giving up",
                humantime::format_duration(Duration::from_secs(self.patience.as_secs()))
            );
            return Err(e);
        }
        self.failures += 1;
        self.draws += 1;
        let delay = self.delay();
        self.stats.record_retry(e.operation());
        tracing::warn!(
            address = %self.address, operation = e.operation(), error = %e,
            failures = self.failures, retry_in = ?delay,
            "transient AWS error; trying again"
        );
        Ok(delay)
    }

    /// Waits out the delay after `e`, or returns `e` (see [`Retry::after`]).
    pub async fn pause(&mut self, e: CloudError) -> CloudResult<()> {
        let delay = self.after(e)?;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// A call went through: the next failure starts a new run.
    pub fn succeeded(&mut self) {
        self.failing_since = None;
        self.failures = 0;
    }

    /// Runs `f` until it succeeds, waiting out transient errors.
    pub async fn run<T>(&mut self, mut f: impl AsyncFnMut() -> CloudResult<T>) -> CloudResult<T> {
        loop {
            match f().await {
                Ok(v) => {
                    self.succeeded();
                    return Ok(v);
                }
                Err(e) => self.pause(e).await?,
            }
        }
    }

    /// Runs an idempotent step until it succeeds: transient errors for the patience, and
    /// other errors a few times more. For steps that must not be left half-done once a
    /// rollout has committed (cleanup, retiring the old generation): Auto Scaling refuses
    /// changes to a group for a moment while a scaling activity runs, for one.
    pub async fn persist<T>(
        &mut self,
        mut step: impl AsyncFnMut() -> CloudResult<T>,
    ) -> CloudResult<T> {
        let mut refusals = 0;
        loop {
            match step().await {
                Ok(v) => {
                    self.succeeded();
                    return Ok(v);
                }
                Err(e) if e.is_transient() => self.pause(e).await?,
                Err(e) if refusals < REFUSALS => {
                    refusals += 1;
                    self.stats.record_retry(e.operation());
                    tracing::warn!(address = %self.address, error = %e, "refused; trying again");
                    tokio::time::sleep(Duration::from_secs(refusals.into())).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Half the doubled backoff, plus a random part of the other half.
    fn delay(&self) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16))
            .min(self.cap);
        doubled / 2 + doubled.mul_f64(unit(self.seed ^ self.draws) / 2.0)
    }
}

/// How many times [`Retry::persist`] tries again after an error that is not transient.
const REFUSALS: u32 = 3;

/// splitmix64 of `x`, as a fraction in [0, 1).
fn unit(x: u64) -> f64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled() -> CloudError {
        CloudError::Throttled {
            operation: "ELBv2.DescribeTargetHealth",
            message: "Rate exceeded".into(),
        }
    }

    fn options() -> ApplyOptions {
        ApplyOptions {
            poll: Duration::from_secs(5),
            ..ApplyOptions::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_back_off_doubling_with_jitter_up_to_a_cap() {
        let mut r = Retry::new("server_group.web", &options(), Duration::from_secs(600));
        let delays: Vec<Duration> = (0..8).map(|_| r.after(throttled()).unwrap()).collect();
        // (lower, upper) bounds of each delay: half the doubled backoff to all of it.
        let bounds = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0)];
        for (d, (lo, hi)) in delays.iter().zip(bounds) {
            let s = d.as_secs_f64();
            assert!(s >= lo && s <= hi, "{delays:?}");
        }
        assert!(
            delays[5..].iter().all(|d| d.as_secs_f64() <= 20.0),
            "{delays:?}"
        );
        assert_eq!(options().stats.total_retried(), 0, "a fresh Stats");
    }

    #[tokio::test(start_paused = true)]
    async fn groups_do_not_retry_in_step() {
        let mut a = Retry::new("server_group.a", &options(), Duration::from_secs(600));
        let mut b = Retry::new("server_group.b", &options(), Duration::from_secs(600));
        let da: Vec<Duration> = (0..4).map(|_| a.after(throttled()).unwrap()).collect();
        let db: Vec<Duration> = (0..4).map(|_| b.after(throttled()).unwrap()).collect();
        assert_ne!(da, db);
    }

    #[tokio::test(start_paused = true)]
    async fn only_transient_errors_are_retried_and_only_for_the_patience() {
        let opts = options();
        let mut r = Retry::new("server_group.web", &opts, Duration::from_secs(60));
        let refused = CloudError::Service {
            operation: "AutoScaling.UpdateAutoScalingGroup",
            code: Some("ValidationError".into()),
            message: "bad".into(),
        };
        assert!(r.after(refused).is_err());
        r.pause(throttled()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert!(r.after(throttled()).is_err(), "failing for over a minute");
        // A success starts a new run of failures.
        r.succeeded();
        assert!(r.after(throttled()).is_ok());
        assert_eq!(
            opts.stats.snapshot()["ELBv2.DescribeTargetHealth"].retried,
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn persist_tries_a_refused_step_a_few_times_more() {
        let refused = || CloudError::Service {
            operation: "AutoScaling.ResumeProcesses",
            code: Some("ScalingActivityInProgress".into()),
            message: "busy".into(),
        };
        let mut r = Retry::new("server_group.web", &options(), Duration::from_secs(600));
        let mut left = 2;
        let once_busy = r
            .persist(async || {
                if left > 0 {
                    left -= 1;
                    Err(refused())
                } else {
                    Ok(())
                }
            })
            .await;
        assert!(once_busy.is_ok());
        let mut tries = 0;
        let always = r
            .persist(async || {
                tries += 1;
                Err::<(), _>(refused())
            })
            .await;
        assert!(always.is_err());
        assert_eq!(tries, 1 + REFUSALS);
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_until_it_succeeds() {
        let mut r = Retry::new("server_group.web", &options(), Duration::from_secs(600));
        let mut left = 3;
        let v = r
            .run(async || {
                if left > 0 {
                    left -= 1;
                    Err(throttled())
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!((v, left), (7, 0));
    }
}
