//! AWS's request rate limits as token buckets on the simulated clock.
//!
//! A bucket holds up to `burst` tokens and gains `per_second` tokens a second. A request
//! takes its tokens at once and may leave the bucket in debt; the debt is how long the request
//! (and every request queued behind it) waits. This is what the SDK's adaptive retry does
//! against a throttling service: the call is slower, not failed.

use serde::{Deserialize, Serialize};

use super::time::Ms;

/// One published limit: a burst and a sustained rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub burst: f64,
    pub per_second: f64,
}

impl RateLimit {
    pub const fn new(burst: f64, per_second: f64) -> Self {
        RateLimit { burst, per_second }
    }
}

/// The limits the simulator enforces, per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// EC2 `Describe*` requests.
    pub ec2_describe: RateLimit,
    /// Every other EC2 request (RunInstances, TerminateInstances, CreateTags, …).
    pub ec2_mutate: RateLimit,
    /// Instances launched by RunInstances (directly or by Auto Scaling), not requests.
    pub run_instances: RateLimit,
    /// All ELBv2 requests, describes and changes alike.
    pub elb: RateLimit,
    /// All Auto Scaling requests.
    pub autoscaling: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            ec2_describe: RateLimit::new(100.0, 20.0),
            ec2_mutate: RateLimit::new(50.0, 5.0),
            run_instances: RateLimit::new(1000.0, 2.0),
            elb: RateLimit::new(40.0, 10.0),
            autoscaling: RateLimit::new(40.0, 10.0),
        }
    }
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ec2Describe,
    Ec2Mutate,
    RunInstances,
    Elb,
    AutoScaling,
    /// S3 object requests and STS: their limits (thousands a second) are far above what a
    /// lock makes.
    Unlimited,
}

impl Kind {
    /// The bucket of an operation named like the AWS implementation names it.
    pub fn of_operation(operation: &str) -> Kind {
        match operation.split_once('.') {
            Some(("EC2", op)) if op.starts_with("Describe") => Kind::Ec2Describe,
            Some(("EC2", _)) => Kind::Ec2Mutate,
            Some(("ELBv2", _)) => Kind::Elb,
            Some(("S3" | "STS", _)) => Kind::Unlimited,
            _ => Kind::AutoScaling,
        }
    }
}

/// A bucket's level at a point of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// May be negative: requests already promised tokens that have not accrued yet.
    pub tokens: f64,
    pub at: Ms,
}

/// The level of every bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Buckets {
    pub ec2_describe: Option<Bucket>,
    pub ec2_mutate: Option<Bucket>,
    pub run_instances: Option<Bucket>,
    pub elb: Option<Bucket>,
    pub autoscaling: Option<Bucket>,
}

impl Buckets {
    /// Takes `n` tokens at time `t`; returns when they are all available (`>= t`).
    pub fn reserve(&mut self, limits: &RateLimits, kind: Kind, t: Ms, n: f64) -> Ms {
        let (slot, limit) = match kind {
            Kind::Ec2Describe => (&mut self.ec2_describe, limits.ec2_describe),
            Kind::Ec2Mutate => (&mut self.ec2_mutate, limits.ec2_mutate),
            Kind::RunInstances => (&mut self.run_instances, limits.run_instances),
            Kind::Elb => (&mut self.elb, limits.elb),
            Kind::AutoScaling => (&mut self.autoscaling, limits.autoscaling),
            Kind::Unlimited => return t,
        };
        let bucket = slot.get_or_insert(Bucket {
            tokens: limit.burst,
            at: t,
        });
        let now = t.max(bucket.at);
        let rate = limit.per_second.max(1e-6);
        let accrued = (now - bucket.at) as f64 / 1000.0 * rate;
        bucket.tokens = (bucket.tokens + accrued).min(limit.burst);
        bucket.at = now;
        bucket.tokens -= n;
        if bucket.tokens >= 0.0 {
            now
        } else {
            now + (-bucket.tokens / rate * 1000.0).ceil() as Ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_waits_at_the_sustained_rate() {
        let limits = RateLimits {
            elb: RateLimit::new(2.0, 1.0),
            ..RateLimits::default()
        };
        let mut b = Buckets::default();
        assert_eq!(b.reserve(&limits, Kind::Elb, 0, 1.0), 0);
        assert_eq!(b.reserve(&limits, Kind::Elb, 0, 1.0), 0);
        assert_eq!(b.reserve(&limits, Kind::Elb, 0, 1.0), 1000);
        assert_eq!(b.reserve(&limits, Kind::Elb, 0, 1.0), 2000);
        // Ten seconds later the bucket is full again, and no fuller than its burst.
        assert_eq!(b.reserve(&limits, Kind::Elb, 10_000, 2.0), 10_000);
        assert_eq!(b.reserve(&limits, Kind::Elb, 10_000, 1.0), 11_000);
    }

    #[test]
    fn operations_map_to_buckets() {
        assert_eq!(
            Kind::of_operation("EC2.DescribeInstances"),
            Kind::Ec2Describe
        );
        assert_eq!(Kind::of_operation("EC2.RunInstances"), Kind::Ec2Mutate);
        assert_eq!(Kind::of_operation("ELBv2.DescribeTags"), Kind::Elb);
        assert_eq!(
            Kind::of_operation("AutoScaling.UpdateAutoScalingGroup"),
            Kind::AutoScaling
        );
        assert_eq!(Kind::of_operation("S3.PutObject"), Kind::Unlimited);
        assert_eq!(Kind::of_operation("STS.GetCallerIdentity"), Kind::Unlimited);
        let mut b = Buckets::default();
        for _ in 0..10_000 {
            assert_eq!(
                b.reserve(&RateLimits::default(), Kind::Unlimited, 5, 1.0),
                5
            );
        }
    }
}
