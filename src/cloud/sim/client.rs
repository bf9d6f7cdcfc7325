//! The client side of a simulated call: faults that fail attempts at random, and what the
//! AWS SDK's adaptive retry mode does about them before an error reaches reroll.
//!
//! [`ApiFaults`] fails a fraction of attempts with a throttle, a 5xx, a timeout or a reset
//! connection. The [`Client`] retries them as the SDK (Retry Behavior 2.0, adaptive mode)
//! does, with the numbers of a [`RetryPolicy`]:
//!
//! - up to `max_attempts` attempts; the last failure is returned as a [`CloudError`];
//! - one client-side rate limiter per service (the SDK's retry partition is the service and
//!   region), off until the first throttle. Then every first attempt takes a token, waiting
//!   for one at the limiter's rate, and the rate follows CUBIC: cut to 0.7 of the measured
//!   send rate at each throttle, grown back between them, never below 0.5 a second;
//! - the wait before a retry: while the limiter is on, the time until it holds 5 tokens (10
//!   after a throttle), else a random share of `initial_backoff · 2^(attempt−1)`; either way
//!   at most `max_backoff`.
//!
//! Not modelled: the SDK's retry quota (500 tokens; a run of failures can empty it and stop
//! retries early), `Retry-After` hints, and calls that succeed on the service but whose answer
//! is lost (every faulty attempt here changes nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cloud::{CloudError, RetryPolicy};

/// Fractions (0–1) of attempts that fail, each way. They add up; the rest succeed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiFaults {
    /// Refused for request rate (`Throttling`, HTTP 400/429), whatever the actual rate.
    pub throttle: f64,
    /// The service fails on its side (`InternalFailure`, HTTP 500/503).
    pub server_error: f64,
    /// No answer: the attempt takes [`ApiFaults::timeout_ms`], then fails.
    pub timeout: f64,
    /// The connection is reset at once.
    pub reset: f64,
    /// How long a timed-out attempt takes (the SDK's connect timeout is 3.1 s).
    pub timeout_ms: u64,
}

impl ApiFaults {
    pub fn any(&self) -> bool {
        self.throttle + self.server_error + self.timeout + self.reset > 0.0
    }
}

/// One way an attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Timeout,
    Reset,
}

impl Fault {
    /// The error reroll sees when the last attempt failed this way.
    pub fn error(self, operation: &'static str) -> CloudError {
        match self {
            Fault::Throttle => CloudError::Throttled {
                operation,
                message: "Throttling: Rate exceeded".into(),
            },
            Fault::ServerError => CloudError::Unavailable {
                operation,
                code: Some("InternalFailure".into()),
                message: "We encountered an internal error. Please try again.".into(),
            },
            Fault::Timeout => CloudError::Unreachable {
                operation,
                message: "the simulated endpoint did not answer in time".into(),
            },
            Fault::Reset => CloudError::Unreachable {
                operation,
                message: "connection reset by peer".into(),
            },
        }
    }
}

/// The SDK's client state: one adaptive rate limiter per service, and the random draws.
#[derive(Debug, Clone)]
pub struct Client {
    rng: u64,
    limiters: BTreeMap<String, RateLimiter>,
}

impl Client {
    pub fn new(seed: u64) -> Client {
        Client {
            rng: seed ^ 0x0C11_E177,
            limiters: BTreeMap::new(),
        }
    }

    /// splitmix64, as a fraction in [0, 1).
    fn unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether, and how, one attempt fails.
    pub fn draw(&mut self, faults: &ApiFaults) -> Option<Fault> {
        let x = self.unit();
        let mut edge = 0.0;
        for (p, fault) in [
            (faults.throttle, Fault::Throttle),
            (faults.server_error, Fault::ServerError),
            (faults.timeout, Fault::Timeout),
            (faults.reset, Fault::Reset),
        ] {
            edge += p.max(0.0);
            if x < edge {
                return Some(fault);
            }
        }
        None
    }

    fn limiter(&mut self, service: &str, now: f64) -> &mut RateLimiter {
        self.limiters
            .entry(service.to_string())
            .or_insert_with(|| RateLimiter::new(now))
    }

    /// Seconds a first attempt waits for a token (0 while the limiter is off). Call again
    /// after the wait: the token is taken only when there is one.
    pub fn send_token(&mut self, service: &str, now: f64) -> f64 {
        self.limiter(service, now)
            .acquire(now, INITIAL_REQUEST_COST)
    }

    /// Every attempt's outcome feeds the limiter.
    pub fn attempted(&mut self, service: &str, now: f64, throttled: bool) {
        self.limiter(service, now).update(now, throttled);
    }

    /// Seconds to wait before retrying after attempt number `attempt` failed with `fault`.
    pub fn backoff(
        &mut self,
        service: &str,
        now: f64,
        attempt: u32,
        fault: Fault,
        policy: &RetryPolicy,
    ) -> f64 {
        let max = policy.max_backoff_ms as f64 / 1000.0;
        let cost = if fault == Fault::Throttle {
            RETRY_TIMEOUT_COST
        } else {
            RETRY_COST
        };
        let wait = self.limiter(service, now).acquire(now, cost);
        if wait > 0.0 {
            return wait.min(max);
        }
        let initial = policy.initial_backoff_ms as f64 / 1000.0;
        let exponential = initial * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        self.unit() * exponential.min(max)
    }
}

const RETRY_COST: f64 = 5.0;
const RETRY_TIMEOUT_COST: f64 = RETRY_COST * 2.0;
const INITIAL_REQUEST_COST: f64 = 1.0;
const MIN_FILL_RATE: f64 = 0.5;
const MIN_CAPACITY: f64 = 1.0;
const SMOOTH: f64 = 0.8;
const BETA: f64 = 0.7;
const SCALE_CONSTANT: f64 = 0.4;

/// The SDK's `ClientRateLimiter`, on simulated seconds.
#[derive(Debug, Clone)]
struct RateLimiter {
    fill_rate: f64,
    max_capacity: f64,
    current_capacity: f64,
    last_timestamp: Option<f64>,
    enabled: bool,
    measured_tx_rate: f64,
    last_tx_rate_bucket: f64,
    request_count: u64,
    last_max_rate: f64,
    time_of_last_throttle: f64,
}

impl RateLimiter {
    fn new(now: f64) -> RateLimiter {
        RateLimiter {
            fill_rate: 0.0,
            max_capacity: f64::MAX,
            current_capacity: 0.0,
            last_timestamp: None,
            enabled: false,
            measured_tx_rate: MIN_FILL_RATE,
            last_tx_rate_bucket: now.floor(),
            request_count: 0,
            last_max_rate: 0.0,
            time_of_last_throttle: now,
        }
    }

    /// 0 and the tokens taken, or the seconds until there are enough (nothing taken).
    fn acquire(&mut self, now: f64, amount: f64) -> f64 {
        if !self.enabled {
            return 0.0;
        }
        self.refill(now);
        if amount > self.current_capacity {
            let wait = (amount - self.current_capacity) / self.fill_rate;
            if wait > 1e-9 {
                return wait;
            }
            self.current_capacity = (self.current_capacity - amount).max(0.0);
            return 0.0;
        }
        self.current_capacity -= amount;
        0.0
    }

    fn update(&mut self, now: f64, throttled: bool) {
        self.update_measured_rate(now);
        let calculated = if throttled {
            let rate = if self.enabled {
                self.measured_tx_rate.min(self.fill_rate)
            } else {
                self.measured_tx_rate
            };
            self.last_max_rate = rate;
            self.time_of_last_throttle = now;
            self.enabled = true;
            rate * BETA
        } else {
            let dt = now - self.time_of_last_throttle - self.time_window();
            SCALE_CONSTANT * dt.powi(3) + self.last_max_rate
        };
        let new_rate = calculated.min(2.0 * self.measured_tx_rate);
        self.refill(now);
        self.fill_rate = new_rate.max(MIN_FILL_RATE);
        self.max_capacity = new_rate.max(MIN_CAPACITY);
        self.current_capacity = self.current_capacity.min(self.max_capacity);
    }

    fn refill(&mut self, now: f64) {
        if let Some(last) = self.last_timestamp {
            let fill = (now - last).max(0.0) * self.fill_rate;
            self.current_capacity = self.max_capacity.min(self.current_capacity + fill);
        }
        self.last_timestamp = Some(now);
    }

    fn update_measured_rate(&mut self, now: f64) {
        let bucket = (now * 2.0).floor() / 2.0;
        self.request_count += 1;
        if bucket > self.last_tx_rate_bucket {
            let rate = self.request_count as f64 / (bucket - self.last_tx_rate_bucket);
            self.measured_tx_rate = rate * SMOOTH + self.measured_tx_rate * (1.0 - SMOOTH);
            self.request_count = 0;
            self.last_tx_rate_bucket = bucket;
        }
    }

    fn time_window(&self) -> f64 {
        (self.last_max_rate * (1.0 - BETA) / SCALE_CONSTANT).cbrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_come_in_their_proportions() {
        let mut c = Client::new(1);
        let faults = ApiFaults {
            throttle: 0.1,
            server_error: 0.1,
            ..ApiFaults::default()
        };
        let n = 20_000;
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(format!("{:?}", c.draw(&faults))).or_insert(0) += 1;
        }
        let share = |k: &str| f64::from(counts[k]) / f64::from(n);
        assert!((share("Some(Throttle)") - 0.1).abs() < 0.01, "{counts:?}");
        assert!(
            (share("Some(ServerError)") - 0.1).abs() < 0.01,
            "{counts:?}"
        );
        assert!((share("None") - 0.8).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn the_limiter_is_off_until_a_throttle_then_paces_first_attempts() {
        let mut c = Client::new(1);
        assert_eq!(c.send_token("EC2", 0.0), 0.0);
        c.attempted("EC2", 0.0, false);
        assert_eq!(c.send_token("EC2", 0.1), 0.0);
        c.attempted("EC2", 0.2, true);
        // At the lowest rate, half a token a second: a token is two seconds away.
        let wait = c.send_token("EC2", 0.2);
        assert!(wait > 1.0 && wait <= 2.0, "{wait}");
        // Other services are not held.
        assert_eq!(c.send_token("ELBv2", 0.2), 0.0);
    }

    /// At a rollout's low request rate, a retry after a throttle waits for ten tokens at half
    /// a token a second: the SDK's 20 s cap is what ends the wait.
    #[test]
    fn a_retry_after_a_throttle_waits_up_to_the_cap() {
        let policy = RetryPolicy::sdk_default(3);
        let mut c = Client::new(1);
        c.attempted("ELBv2", 10.0, true);
        let wait = c.backoff("ELBv2", 10.0, 1, Fault::Throttle, &policy);
        assert_eq!(wait, 20.0);
        let capped = c.backoff("ELBv2", 10.0, 1, Fault::Throttle, &RetryPolicy::REROLL);
        assert_eq!(capped, RetryPolicy::REROLL.max_backoff_ms as f64 / 1000.0);
    }

    #[test]
    fn without_throttles_retries_back_off_exponentially_with_jitter() {
        let policy = RetryPolicy::sdk_default(5);
        let mut c = Client::new(3);
        for attempt in 1..=4 {
            let wait = c.backoff("EC2", 0.0, attempt, Fault::ServerError, &policy);
            assert!(
                wait >= 0.0 && wait <= 2f64.powi(attempt as i32 - 1),
                "{wait}"
            );
        }
    }
}
