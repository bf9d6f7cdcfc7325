//! A wrapper that injects faults into any [`Cloud`]: the way to test what a real account does
//! and an emulator cannot (an image whose instances never pass health checks, a reply lost
//! on the way back, a call that fails at exactly the worst moment).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::*;

/// Faults to inject; change them while a rollout runs.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Instances launched from these images report `unhealthy` in every target group.
    pub unhealthy_images: BTreeSet<String>,
    /// One call that fails.
    pub fail: Option<FailCall>,
    /// Target health lags deregistrations by this long: a target deregistered less than this
    /// ago is still reported as it was (`healthy`), as ELB's eventually consistent reads may.
    pub health_lag: Option<std::time::Duration>,
    /// Creates whose reply is lost, by operation (`CreateAutoScalingGroup`,
    /// `CreateLaunchTemplate`, `CreateTargetGroup`, `CreateLoadBalancer`), and how many more
    /// times: the call takes effect in the inner cloud, but its caller gets a timeout.
    pub lost_replies: BTreeMap<String, u32>,
    /// After a lost reply the call is sent again at once, as the SDK's retry policy does after
    /// a timeout, and the caller gets the answer to that second call instead of the timeout.
    pub retry_lost_replies: bool,
    /// The process dies at this call (counting every call from 1, since the faults were set):
    /// the call reaches the account and takes effect, and neither it nor any later call ever
    /// answers (see [`FaultCloud::kill`]).
    pub crash_at: Option<u64>,
}

/// Fails the `at`-th call (counting from 1, since the faults were set) among the calls of
/// `operations` (the [`Cloud`] method names, `set_group_capacity`; empty: every call), then
/// lets every later call through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailCall {
    pub at: u64,
    pub operations: BTreeSet<String>,
    /// A transient error (a 5xx after the client's retries) rather than a refusal.
    pub transient: bool,
}

impl FailCall {
    /// The `at`-th call of any operation fails with a refusal.
    pub fn at(at: u64) -> FailCall {
        FailCall {
            at,
            operations: BTreeSet::new(),
            transient: false,
        }
    }

    fn error(&self, operation: &'static str) -> CloudError {
        if self.transient {
            CloudError::Unavailable {
                operation,
                code: Some("InternalFailure".into()),
                message: "injected fault".into(),
            }
        } else {
            CloudError::Service {
                operation,
                code: Some("InjectedFault".into()),
                message: "injected fault".into(),
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    faults: Faults,
    /// Every call since the faults were set, by method name, in order.
    calls: Vec<&'static str>,
    /// Calls that count towards [`FailCall::at`].
    counted: u64,
    /// When each target (target group, instance) was deregistered, for the health lag.
    deregistered: BTreeMap<(String, String), tokio::time::Instant>,
}

/// What happens to a call's reply.
enum Reply {
    Delivered,
    /// Lost: the caller times out.
    TimedOut,
    /// Lost, and the call sent again.
    Retried,
}

/// A [`Cloud`] that behaves like `inner` except for the configured [`Faults`].
pub struct FaultCloud {
    inner: Arc<dyn Cloud>,
    /// The stack whose instances are looked up to apply image faults.
    stack: String,
    state: Mutex<State>,
    /// Set when the process "died": no call answers from then on.
    dead: AtomicBool,
    died: tokio::sync::Notify,
}

impl FaultCloud {
    pub fn new(inner: Arc<dyn Cloud>, stack: &str, faults: Faults) -> Self {
        FaultCloud {
            inner,
            stack: stack.to_string(),
            state: Mutex::new(State {
                faults,
                ..State::default()
            }),
            dead: AtomicBool::new(false),
            died: tokio::sync::Notify::new(),
        }
    }

    /// The process dies now, as under `kill -9`: a call on its way completes in the account,
    /// but no call answers any more, so nothing the caller would have done next happens.
    /// Drop the caller's future once [`FaultCloud::dead`] returns.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        self.died.notify_waiters();
    }

    /// Returns once the process has died ([`Faults::crash_at`] or [`FaultCloud::kill`]).
    pub async fn dead(&self) {
        loop {
            let notified = self.died.notified();
            if self.dead.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// The answer to call number `n`: none at all once the process is dead.
    async fn answer<T>(&self, n: u64, result: CloudResult<T>) -> CloudResult<T> {
        if self.state().faults.crash_at == Some(n) {
            tracing::debug!(at = n, "the process dies");
            self.kill();
        }
        if self.dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        result
    }

    /// Replaces the faults and starts counting calls afresh.
    pub fn set_faults(&self, faults: Faults) {
        *self.state() = State {
            faults,
            ..State::default()
        };
    }

    /// The calls made since the faults were set, by method name, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.state().calls.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Counts a call, and fails it when it is the one to fail; returns its number (from 1).
    /// A dead process makes no more calls.
    async fn enter(&self, operation: &'static str) -> CloudResult<u64> {
        if self.dead.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let mut state = self.state();
        state.calls.push(operation);
        let n = state.calls.len() as u64;
        let Some(fail) = state.faults.fail.clone() else {
            return Ok(n);
        };
        if !fail.operations.is_empty() && !fail.operations.contains(operation) {
            return Ok(n);
        }
        state.counted += 1;
        if state.counted == fail.at {
            tracing::debug!(operation, at = fail.at, "injecting a fault");
            return Err(fail.error(operation));
        }
        Ok(n)
    }

    /// Whether the reply of this call of `operation` is lost, counting it.
    fn reply(&self, operation: &str) -> Reply {
        let mut state = self.state();
        let retry = state.faults.retry_lost_replies;
        match state.faults.lost_replies.get_mut(operation) {
            Some(n) if *n > 0 => {
                *n -= 1;
                tracing::debug!(operation, "losing the reply");
                if retry {
                    Reply::Retried
                } else {
                    Reply::TimedOut
                }
            }
            _ => Reply::Delivered,
        }
    }

    /// Target health as the faults make it look.
    async fn faulty_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
        let mut health = self.inner.target_health(target_group_arn).await?;
        let faults = self.faults();
        if let Some(lag) = faults.health_lag {
            let state = self.state();
            for t in health
                .iter_mut()
                .filter(|t| t.state == TargetState::Draining)
            {
                let key = (target_group_arn.to_string(), t.id.clone());
                if state
                    .deregistered
                    .get(&key)
                    .is_some_and(|at| at.elapsed() < lag)
                {
                    t.state = TargetState::Healthy;
                }
            }
        }
        if faults.unhealthy_images.is_empty() {
            return Ok(health);
        }
        let bad: BTreeSet<String> = self
            .inner
            .list_instances(&self.stack)
            .await?
            .into_iter()
            .filter(|i| {
                i.image_id
                    .as_ref()
                    .is_some_and(|img| faults.unhealthy_images.contains(img))
            })
            .map(|i| i.id)
            .collect();
        for t in health.iter_mut().filter(|t| bad.contains(&t.id)) {
            if matches!(t.state, TargetState::Healthy | TargetState::Initial) {
                t.state = TargetState::Unhealthy;
                t.reason = Some("Target.FailedHealthChecks".into());
            }
        }
        Ok(health)
    }
}

/// Runs a create through the lost-reply fault of `operation`.
macro_rules! lossy {
    ($self:ident, $operation:literal, $call:expr) => {{
        let reply = $self.reply($operation);
        let first = $call.await;
        match reply {
            Reply::Delivered => first,
            Reply::Retried => $call.await,
            Reply::TimedOut => Err(CloudError::Unreachable {
                operation: concat!("fault.", $operation),
                message: "the request timed out (the reply was lost; the call took effect)"
                    .to_string(),
            }),
        }
    }};
}

/// Implements `Cloud` for `FaultCloud`: the listed overrides, and everything else passed
/// through to the inner cloud unchanged.
macro_rules! fault_cloud {
    (
        overrides { $($over:item)* }
        pass { $( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )* }
    ) => {
        #[async_trait]
        impl Cloud for FaultCloud {
            fn region(&self) -> &str {
                self.inner.region()
            }
            fn now(&self) -> std::time::SystemTime {
                self.inner.now()
            }
            $($over)*
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                let n = self.enter(stringify!($name)).await?;
                let result = self.inner.$name($($arg),*).await;
                self.answer(n, result).await
            } )*
        }
    };
}

fault_cloud! {
    overrides {
        async fn deregister_targets(&self, target_group_arn: &str, instance_ids: &[String]) -> CloudResult<()> {
            let n = self.enter("deregister_targets").await?;
            let result = self.inner.deregister_targets(target_group_arn, instance_ids).await;
            if result.is_ok() {
                let now = tokio::time::Instant::now();
                let mut state = self.state();
                for id in instance_ids {
                    state
                        .deregistered
                        .entry((target_group_arn.to_string(), id.clone()))
                        .or_insert(now);
                }
            }
            self.answer(n, result).await
        }

        async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
            let n = self.enter("target_health").await?;
            let result = self.faulty_health(target_group_arn).await;
            self.answer(n, result).await
        }

        async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
            let n = self.enter("create_group").await?;
            let result = lossy!(self, "CreateAutoScalingGroup", self.inner.create_group(spec));
            self.answer(n, result).await
        }

        async fn create_launch_template(&self, name: &str, spec: &LaunchSpec, tags: &Tags) -> CloudResult<(String, i64)> {
            let n = self.enter("create_launch_template").await?;
            let result = lossy!(self, "CreateLaunchTemplate", self.inner.create_launch_template(name, spec, tags));
            self.answer(n, result).await
        }

        async fn create_target_group(&self, spec: &TargetGroupSpec, tags: &Tags) -> CloudResult<String> {
            let n = self.enter("create_target_group").await?;
            let result = lossy!(self, "CreateTargetGroup", self.inner.create_target_group(spec, tags));
            self.answer(n, result).await
        }

        async fn create_load_balancer(&self, spec: &LoadBalancerSpec, tags: &Tags) -> CloudResult<LoadBalancerInfo> {
            let n = self.enter("create_load_balancer").await?;
            let result = lossy!(self, "CreateLoadBalancer", self.inner.create_load_balancer(spec, tags));
            self.answer(n, result).await
        }
    }
    pass {
        fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>>;
        fn describe_images_in(&self, region: &str, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>>;
        fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String>;
        fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>>;
        fn service_quota(&self, service_code: &str, quota_code: &str) -> CloudResult<Option<u64>>;
        fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>>;
        fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>>;
        fn auto_scaling_limits(&self) -> CloudResult<Limit>;
        fn elb_limits(&self) -> CloudResult<ElbLimits>;
        fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>>;
        fn missing_instance_profiles(&self, profiles: &[String]) -> CloudResult<Vec<String>>;
        fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>>;
        fn find_security_groups(&self, vpc_id: &str, names: &[String], tags: &Tags) -> CloudResult<Vec<SecurityGroupInfo>>;
        fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>>;
        fn describe_groups(&self, stack: &str, names: &[String]) -> CloudResult<Vec<GroupInfo>>;
        fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>>;
        fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>>;
        fn live_instances(&self, ids: &[String]) -> CloudResult<BTreeSet<String>>;
        fn list_instances_tagged(&self, stack: &str, key: &str) -> CloudResult<Vec<InstanceInfo>>;
        fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>>;
        fn launch_template_version(&self, template_id: &str, version: &str) -> CloudResult<LaunchSpec>;
        fn terminate_in_group(&self, group: &str, instance_ids: &[String]) -> CloudResult<()>;
        fn latest_launch_template_versions(&self) -> CloudResult<Vec<(String, i64, LaunchSpec)>>;
        fn list_target_groups(&self, stack: &str, name_prefix: &str) -> CloudResult<Vec<TargetGroupInfo>>;
        fn list_load_balancers(&self, stack: &str, name_prefix: &str) -> CloudResult<Vec<LoadBalancerInfo>>;
        fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>>;
        fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()>;
        fn delete_target_group(&self, arn: &str) -> CloudResult<()>;
        fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()>;
        fn delete_load_balancer(&self, arn: &str) -> CloudResult<()>;
        fn create_listener(&self, load_balancer_arn: &str, spec: &ListenerSpec, tags: &Tags) -> CloudResult<String>;
        fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()>;
        fn delete_listener(&self, arn: &str) -> CloudResult<()>;
        fn create_launch_template_version(&self, template_id: &str, spec: &LaunchSpec) -> CloudResult<i64>;
        fn delete_launch_template(&self, template_id: &str) -> CloudResult<()>;
        fn set_group_capacity(&self, name: &str, min: u32, desired: u32, max: u32) -> CloudResult<()>;
        fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()>;
        fn configure_group(&self, name: &str, settings: &crate::cloud::scaling::GroupSettings) -> CloudResult<()>;
        fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()>;
        fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()>;
        fn delete_group(&self, name: &str) -> CloudResult<()>;
        fn scaling_activities(&self, group: &str, since: std::time::SystemTime) -> CloudResult<Vec<ScalingActivity>>;
        fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>>;
        fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>>;
        fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()>;
        fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()>;
        fn detach_instances(&self, group: &str, instance_ids: &[String], decrement: bool) -> CloudResult<()>;
        fn register_targets(&self, target_group_arn: &str, instance_ids: &[String]) -> CloudResult<()>;
        fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()>;
        fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>>;
        fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()>;
        fn delete_launch_template_versions(&self, template_id: &str, versions: &[i64]) -> CloudResult<()>;
        fn account_id(&self) -> CloudResult<String>;
        fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>>;
        fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String>;
        fn put_object_if_match(&self, at: &ObjectRef, body: &[u8], etag: &str) -> CloudResult<String>;
        fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()>;
    }
}
