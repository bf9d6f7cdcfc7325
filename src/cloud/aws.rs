//! The AWS implementation of [`super::Cloud`].
//!
//! A thin translation layer over the official SDK crates: every method is one or a few SDK
//! calls, their results converted into reroll's own types by the small `*_info` functions at
//! the bottom of this file. Three things are shared by all calls:
//!
//! - **Call counting.** Every service client carries a [`CallCounter`] interceptor that records
//!   each operation, each HTTP attempt and each throttled attempt in [`Stats`].
//! - **Error mapping.** Every SDK error goes through [`AwsCloud::call`], which sorts it into a
//!   [`CloudError`] variant by its error code and keeps code and message.
//! - **Published limits.** Describe calls page at the service's maximum page size; batched
//!   calls respect the per-call limits (`DescribeTags` ≤ 20 ARNs, target group attachments
//!   ≤ 10, `DetachInstances` ≤ 20 ids, `RegisterTargets`/`DeregisterTargets` ≤ 200 targets,
//!   `DeleteLaunchTemplateVersions` ≤ 200 versions, `TerminateInstances`/`CreateTags` ≤ 1000
//!   ids and `RunInstances` ≤ 1000 instances per call).
//! - **Idempotent clean-up.** Deregistering, terminating and deleting template versions treat
//!   "already gone" as done, so an interrupted rollout can simply repeat them; every other
//!   error is reported.
//!
//! Observing never trusts server-side filtering alone: whatever a filter asked the service for
//! is checked again on the results, so an endpoint that ignores a filter (an emulator, a proxy)
//! cannot make reroll touch another stack's resources.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling as asg;
use aws_sdk_cloudwatch as cw;
use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_s3 as s3;
use aws_sdk_servicequotas as quotas;
use aws_sdk_sts as sts;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind;
use base64::Engine as _;

use super::stats::Stats;
use super::{
    glob_match, tag, Cloud, CloudError, CloudResult, CopyImageRequest, ElbLimits, Forward,
    GroupInfo, GroupInstance, GroupSpec, HealthCheckSpec, Holder, ImageFilter, ImageInfo,
    InstanceInfo, InstanceRefresh, LaunchSpec, LaunchTemplateInfo, Limit, ListenerInfo,
    ListenerSpec, LoadBalancerInfo, LoadBalancerSpec, NamedKind, ObjectRef, RetryPolicy, RunSpec,
    ScalingActivity, SecurityGroupInfo, Snapshot, StoredObject, SubnetInfo, Tags, TargetGroupInfo,
    TargetGroupSpec, TargetHealth, VpcInfo,
};

mod fleet;
mod objects;

// ---------------------------------------------------------------------------------------------
// Published limits and page sizes

/// DescribeInstances, DescribeImages, DescribeVpcs, DescribeSubnets, DescribeSecurityGroups.
const EC2_PAGE: i32 = 1000;
/// DescribeLaunchTemplates.
const LAUNCH_TEMPLATE_PAGE: i32 = 200;
/// DescribeAutoScalingGroups.
const ASG_PAGE: i32 = 100;
/// DescribeTargetGroups, DescribeLoadBalancers, DescribeListeners.
const ELB_PAGE: i32 = 400;
/// ARNs per ELBv2 DescribeTags call.
const ELB_DESCRIBE_TAGS_MAX: usize = 20;
/// Target groups per AttachLoadBalancerTargetGroups / DetachLoadBalancerTargetGroups call.
const ASG_TARGET_GROUPS_PER_CALL: usize = 10;
/// Instance ids per Auto Scaling AttachInstances / DetachInstances call.
const ASG_INSTANCES_PER_CALL: usize = 20;
/// Calls with no per-call limit of their own (SuspendProcesses, ResumeProcesses): one call,
/// and none for an empty list.
const ONE_CALL: usize = usize::MAX;
/// Targets per ELBv2 RegisterTargets / DeregisterTargets call.
const TARGETS_PER_CALL: usize = 200;
/// Instance ids per EC2 TerminateInstances call, resource ids per CreateTags call.
const EC2_IDS_PER_CALL: usize = 1000;
/// Instances per RunInstances call: the burst of EC2's RunInstances rate limit.
const RUN_INSTANCES_PER_CALL: u32 = 1000;
/// Length limit of an EC2 idempotency token.
const CLIENT_TOKEN_MAX: usize = 64;
/// DescribeScalingActivities.
const ACTIVITY_PAGE: i32 = 100;
/// DescribeInstanceRefreshes: the newest few are all that matter.
const REFRESH_PAGE: i32 = 10;
/// Versions per EC2 DeleteLaunchTemplateVersions call.
const LAUNCH_TEMPLATE_VERSIONS_PER_CALL: usize = 200;
/// DescribeAlarms takes up to 100 alarm names.
const ALARMS_PER_CALL: usize = 100;

/// EC2's error for instance ids that do not exist; its message names them.
const INSTANCE_NOT_FOUND: &str = "InvalidInstanceID.NotFound";
/// ELBv2's error for a target that does not exist (the emulator: that is not registered).
const INVALID_TARGET: &str = "InvalidTarget";
/// ELBv2's health reason for a target that is not registered.
const TARGET_NOT_REGISTERED: &str = "Target.NotRegistered";

/// The target group attribute holding the deregistration delay, and its AWS default.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
const DEFAULT_DEREGISTRATION_DELAY: u32 = 300;

/// Instance states that still count as part of a fleet (everything but `terminated`).
const LIVE_INSTANCE_STATES: [&str; 5] =
    ["pending", "running", "shutting-down", "stopping", "stopped"];

/// Static credentials used against a local emulator when none are configured.
const EMULATOR_KEY: &str = "test";

// ---------------------------------------------------------------------------------------------
// Connecting

/// How to reach AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Region; when `None`, the standard chain (`AWS_REGION`, the profile) decides.
    pub region: Option<String>,
    /// Named profile from `~/.aws/config`; when `None`, `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Endpoint for every service, e.g. a local emulator (`AWS_ENDPOINT_URL` also works).
    pub endpoint_url: Option<String>,
    /// Attempts per call, first one included (adaptive retry mode; the backoff is
    /// [`RetryPolicy::REROLL`]'s).
    pub max_attempts: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            region: None,
            profile: None,
            endpoint_url: None,
            max_attempts: RetryPolicy::REROLL.max_attempts,
        }
    }
}

/// [`Cloud`] on a real AWS account (or anything that speaks its APIs), one region.
#[derive(Debug, Clone)]
pub struct AwsCloud {
    sdk: SdkConfig,
    region: String,
    endpoint_url: Option<String>,
    stats: Stats,
    ec2: ec2::Client,
    asg: asg::Client,
    elb: elb::Client,
    cw: cw::Client,
    s3: s3::Client,
    sts: sts::Client,
    quotas: quotas::Client,
    /// Set once the endpoint answered that it does not implement DescribeInstanceRefreshes,
    /// so that later observations do not ask again.
    refreshes_unsupported: Arc<AtomicBool>,
}

impl AwsCloud {
    /// Resolves region and credentials and builds the service clients.
    ///
    /// Fails when no region can be found, or when no credentials can be found and no endpoint
    /// is set. With an endpoint (a local emulator) and no credentials, static test credentials
    /// are used so the emulator works on a bare machine.
    pub async fn connect(opts: &ConnectOptions, stats: Stats) -> Result<AwsCloud, CloudError> {
        let policy = RetryPolicy {
            max_attempts: opts.max_attempts.max(1),
            ..RetryPolicy::REROLL
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
            RetryConfig::adaptive()
                .with_max_attempts(policy.max_attempts)
                .with_initial_backoff(Duration::from_millis(policy.initial_backoff_ms))
                .with_max_backoff(Duration::from_millis(policy.max_backoff_ms)),
        );
        if let Some(profile) = &opts.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &opts.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CloudError::Service {
                operation: "connect",
                code: None,
                message: "no AWS region configured: pass --region, set AWS_REGION, or set \
                          `region` in the AWS profile"
                    .to_string(),
            });
        }
        let sdk = with_usable_credentials(sdk).await?;
        Ok(AwsCloud::from_sdk(sdk, stats))
    }

    /// The same account, credentials and endpoint in another region (for cross-region copies).
    pub fn for_region(&self, region: &str) -> AwsCloud {
        let sdk = self
            .sdk
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        AwsCloud::from_sdk(sdk, self.stats.clone())
    }

    /// The counters every call of this client (and of its `for_region` siblings) goes into.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The endpoint override, when one is set (a local emulator).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    fn from_sdk(sdk: SdkConfig, stats: Stats) -> AwsCloud {
        let ec2 = ec2::Client::from_conf(
            ec2::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("EC2", &stats))
                .build(),
        );
        let asg = asg::Client::from_conf(
            asg::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("AutoScaling", &stats))
                .build(),
        );
        let elb = elb::Client::from_conf(
            elb::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("ELBv2", &stats))
                .build(),
        );
        let cw = cw::Client::from_conf(
            cw::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("CloudWatch", &stats))
                .build(),
        );
        let s3 = objects::client(&sdk, &stats, None);
        let sts = sts::Client::from_conf(
            sts::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("STS", &stats))
                .build(),
        );
        let quotas = quotas::Client::from_conf(
            quotas::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("ServiceQuotas", &stats))
                .build(),
        );
        AwsCloud {
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            endpoint_url: sdk.endpoint_url().map(str::to_owned),
            sdk,
            stats,
            ec2,
            asg,
            elb,
            cw,
            s3,
            sts,
            quotas,
            refreshes_unsupported: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Awaits one request (or all pages of one) and maps its error to a [`CloudError`].
    /// `what` names the subject of a not-found error.
    async fn call<T, E, R>(
        &self,
        operation: &'static str,
        what: impl fmt::Display,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> CloudResult<T>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + HttpStatus + Send + Sync + 'static,
    {
        request
            .await
            .map_err(|err| self.error(operation, what, err))
    }

    /// Maps the error of a request that [`AwsCloud::call`] did not send (because the caller
    /// looks at the raw error first).
    fn error<E, R>(
        &self,
        operation: &'static str,
        what: impl fmt::Display,
        err: SdkError<E, R>,
    ) -> CloudError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + HttpStatus + Send + Sync + 'static,
    {
        cloud_error(
            operation,
            &what.to_string(),
            err,
            &self.region,
            self.endpoint_url.as_deref(),
        )
    }
}

/// Makes sure `sdk` can sign requests: keeps its credentials when they resolve, falls back to
/// static test credentials for a local endpoint, and fails with advice otherwise.
async fn with_usable_credentials(sdk: SdkConfig) -> Result<SdkConfig, CloudError> {
    let problem = match sdk.credentials_provider() {
        Some(provider) => match provider.provide_credentials().await {
            Ok(_) => return Ok(sdk),
            Err(err) => error_chain(&err),
        },
        None => "no credentials provider".to_string(),
    };
    if sdk.endpoint_url().is_some() {
        tracing::debug!(%problem, "no AWS credentials; using test credentials for the endpoint");
        let creds = Credentials::new(EMULATOR_KEY, EMULATOR_KEY, None, None, "reroll-emulator");
        return Ok(sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build());
    }
    Err(CloudError::Unauthorized {
        operation: "connect",
        message: format!(
            "no AWS credentials found ({problem}); configure them with `aws configure`, \
             choose a profile with --profile or AWS_PROFILE, or set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY"
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Call counting

/// Records every operation, attempt and throttled attempt of one service client in [`Stats`],
/// under `Service.Operation`.
#[derive(Debug)]
struct CallCounter {
    service: &'static str,
    stats: Stats,
}

impl CallCounter {
    fn new(service: &'static str, stats: &Stats) -> Self {
        CallCounter {
            service,
            stats: stats.clone(),
        }
    }

    fn operation(&self, cfg: &ConfigBag) -> String {
        let name = cfg.load::<Metadata>().map_or("Unknown", Metadata::name);
        format!("{}.{name}", self.service)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "reroll.CallCounter"
    }

    // Once per execution. Not `read_before_execution`: client-level interceptors run that hook
    // before the operation's configuration (and with it the operation's name) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.stats.record_call(&self.operation(cfg));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.stats.record_attempt(&self.operation(cfg));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if is_throttled(context.inner(), runtime_components) {
            self.stats.record_throttle(&self.operation(cfg));
        }
        Ok(())
    }
}

/// True when the attempt failed for request rate: HTTP 429, or an error the client's own retry
/// classifiers (which know each operation's error type) call a throttling error.
fn is_throttled(ctx: &InterceptorContext, runtime_components: &RuntimeComponents) -> bool {
    if !matches!(ctx.output_or_error(), Some(Err(_))) {
        return false;
    }
    if ctx.response().is_some_and(|r| r.status().as_u16() == 429) {
        return true;
    }
    runtime_components.retry_classifiers().any(|classifier| {
        matches!(
            classifier.classify_retry(ctx),
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            })
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Error mapping

/// Error codes AWS services use for request-rate refusals.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
];

/// Error codes for missing, invalid or insufficient credentials.
const UNAUTHORIZED_CODES: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "OptInRequired",
];

/// Error codes of the services' own failures (they come with HTTP 5xx).
const SERVER_SIDE_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn is_server_side(code: &str) -> bool {
    SERVER_SIDE_CODES.contains(&code)
}

/// Error codes for a create whose name is taken (ELBv2 answers an identical CreateTargetGroup
/// or CreateLoadBalancer with the existing resource instead).
const ALREADY_EXISTS_CODES: &[&str] = &[
    "AlreadyExists",
    "InvalidLaunchTemplateName.AlreadyExistsException",
    "DuplicateTargetGroupName",
    "DuplicateLoadBalancerName",
];

/// Answers that mean the endpoint does not implement an operation (an emulator), rather than
/// that the request failed.
const NOT_IMPLEMENTED_CODES: &[&str] = &[
    "InvalidAction",
    "UnknownOperationException",
    "NotImplemented",
    "UnsupportedOperation",
];

/// S3's codes for a conditional request whose condition failed (409: another conditional
/// write to the same key was in flight).
const PRECONDITION_CODES: &[&str] = &["PreconditionFailed", "ConditionalRequestConflict"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorClass {
    NotFound,
    AlreadyExists,
    Throttled,
    Unauthorized,
    /// The service failed on its side (5xx).
    ServerSide,
    Precondition,
    Other,
}

/// Sorts a service error by its code (and, for Auto Scaling's generic `ValidationError`, its
/// message).
fn classify(code: &str, message: &str) -> ErrorClass {
    let not_found = code.ends_with("NotFound")
        || code.ends_with("NotFoundException")
        || code.ends_with(".Malformed")
        || code == "NoSuchKey"
        || code == "NoSuchBucket"
        || (code == "ValidationError" && message.to_ascii_lowercase().contains("not found"));
    if not_found {
        ErrorClass::NotFound
    } else if ALREADY_EXISTS_CODES.contains(&code) {
        ErrorClass::AlreadyExists
    } else if THROTTLING_CODES.contains(&code) {
        ErrorClass::Throttled
    } else if UNAUTHORIZED_CODES.contains(&code) {
        ErrorClass::Unauthorized
    } else if PRECONDITION_CODES.contains(&code) {
        ErrorClass::Precondition
    } else {
        ErrorClass::Other
    }
}

/// The HTTP status of a raw response.
trait HttpStatus {
    fn status_code(&self) -> Option<u16>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// The one mapping from SDK errors to [`CloudError`].
fn cloud_error<E, R>(
    operation: &'static str,
    what: &str,
    err: SdkError<E, R>,
    region: &str,
    endpoint_url: Option<&str>,
) -> CloudError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + HttpStatus + Send + Sync + 'static,
{
    let detail = error_chain(&err);
    // A connection that failed before, during or after the request (refused, reset, timed
    // out, a response cut off): nothing the service said.
    if matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    ) {
        let message = match endpoint_url {
            Some(url) => format!(
                "{url} did not answer; is the emulator running? Start it with \
                 `localstack/start.sh` ({detail})"
            ),
            None => format!(
                "AWS in region {region} did not answer; check the network connection ({detail})"
            ),
        };
        return CloudError::Unreachable { operation, message };
    }
    let code = err.code().map(str::to_owned);
    let status = err.raw_response().and_then(HttpStatus::status_code);
    let message = err.message().map_or(detail, str::to_owned);
    let class = match classify(code.as_deref().unwrap_or_default(), &message) {
        // A 5xx that is not a throttle is the service's own failure.
        ErrorClass::Other if status.is_some_and(|s| s >= 500) => ErrorClass::ServerSide,
        ErrorClass::Other if code.as_deref().is_some_and(is_server_side) => ErrorClass::ServerSide,
        class => class,
    };
    match class {
        ErrorClass::NotFound => {
            tracing::debug!(operation, what, ?code, %message, "not found");
            CloudError::NotFound {
                operation,
                what: what.to_string(),
                code,
            }
        }
        ErrorClass::AlreadyExists => {
            tracing::debug!(operation, what, ?code, %message, "already exists");
            CloudError::AlreadyExists {
                operation,
                what: what.to_string(),
                code,
            }
        }
        ErrorClass::Throttled => CloudError::Throttled {
            operation,
            message: format!("{}: {message}", code.unwrap_or_default()),
        },
        ErrorClass::Unauthorized => CloudError::Unauthorized {
            operation,
            message: format!("{}: {message}", code.unwrap_or_default()),
        },
        ErrorClass::ServerSide => CloudError::Unavailable {
            operation,
            code,
            message,
        },
        ErrorClass::Precondition => CloudError::PreconditionFailed {
            operation,
            what: what.to_string(),
            code,
        },
        ErrorClass::Other => CloudError::Service {
            operation,
            code,
            message,
        },
    }
}

/// The service's error code of a mapped error, when it kept one.
fn error_code(err: &CloudError) -> Option<&str> {
    err.code()
}

/// True when an answer says the endpoint does not implement the operation: one of the codes
/// for that, HTTP 501, or an HTTP 500 whose body is not an AWS error at all (no code; the
/// emulator's answer to an action it lacks). AWS's own internal errors carry a code.
fn not_implemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    if err
        .code()
        .is_some_and(|c| NOT_IMPLEMENTED_CODES.contains(&c))
    {
        return true;
    }
    let status = match err {
        SdkError::ServiceError(e) => e.raw().status().as_u16(),
        SdkError::ResponseError(e) => e.raw().status().as_u16(),
        _ => return false,
    };
    status == 501 || (status == 500 && err.code().is_none())
}

/// The ids of `batch` that a failed TerminateInstances says do not exist. EC2 names them in
/// the message: `The instance IDs 'i-1, i-2' do not exist`.
fn missing_instances<E, R>(err: &SdkError<E, R>, batch: &[String]) -> HashSet<String>
where
    E: ProvideErrorMetadata,
{
    if err.code() != Some(INSTANCE_NOT_FOUND) {
        return HashSet::new();
    }
    let named: HashSet<&str> = err
        .message()
        .unwrap_or_default()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .collect();
    batch
        .iter()
        .filter(|id| named.contains(id.as_str()))
        .cloned()
        .collect()
}

/// The error for the versions DeleteLaunchTemplateVersions could not delete, leaving out the
/// ones that do not exist; `None` when that leaves nothing. A missing template is
/// [`CloudError::NotFound`].
fn version_failures_error<'a>(
    operation: &'static str,
    what: &str,
    failures: impl Iterator<Item = &'a ec2::types::DeleteLaunchTemplateVersionsResponseErrorItem>,
) -> Option<CloudError> {
    use ec2::types::LaunchTemplateErrorCode as Code;
    let failures: Vec<(Option<&Code>, String)> = failures
        .filter_map(|item| {
            let error = item.response_error();
            let code = error.and_then(|e| e.code());
            let message = format!(
                "version {}: {}",
                item.version_number().unwrap_or_default(),
                error.and_then(|e| e.message()).unwrap_or("not deleted")
            );
            (code != Some(&Code::LaunchTemplateVersionDoesNotExist)).then_some((code, message))
        })
        .collect();
    let (first_code, _) = failures.first()?;
    let code = first_code.map(|c| c.as_str().to_string());
    let template_missing = failures.iter().all(|(code, _)| {
        matches!(
            code,
            Some(Code::LaunchTemplateIdDoesNotExist | Code::LaunchTemplateNameDoesNotExist)
        )
    });
    Some(if template_missing {
        CloudError::NotFound {
            operation,
            what: what.to_string(),
            code,
        }
    } else {
        let messages: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        CloudError::Service {
            operation,
            code,
            message: format!("{what}: {}", messages.join("; ")),
        }
    })
}

/// An error and its sources, `outer: inner: root cause`, without repeats.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let part = e.to_string();
        if !parts.iter().any(|p| p.contains(&part)) {
            parts.push(part);
        }
        next = e.source();
    }
    parts.join(": ")
}

// ---------------------------------------------------------------------------------------------
// The Cloud implementation

/// Every item of every page of a paginated request (a future of `Result<Vec<Item>, SdkError>`).
macro_rules! all_items {
    ($request:expr) => {
        $request.into_paginator().items().send().try_collect()
    };
}

/// Sets the health check fields shared by CreateTargetGroup and ModifyTargetGroup. Unset
/// fields (empty strings, zeros) are left to AWS's defaults.
macro_rules! with_health_check {
    ($req:expr, $hc:expr) => {{
        let hc: &HealthCheckSpec = $hc;
        $req.set_health_check_protocol(non_empty(&hc.protocol).map(Into::into))
            .set_health_check_port(non_empty(&hc.port).map(str::to_owned))
            .set_health_check_path(hc.path.clone())
            .set_health_check_interval_seconds(positive(hc.interval_seconds))
            .set_health_check_timeout_seconds(positive(hc.timeout_seconds))
            .set_healthy_threshold_count(positive(hc.healthy_threshold))
            .set_unhealthy_threshold_count(positive(hc.unhealthy_threshold))
            .set_matcher(
                hc.matcher
                    .as_ref()
                    .map(|m| elb::types::Matcher::builder().http_code(m).build()),
            )
    }};
}

/// Sets the fields shared by CreateListener and ModifyListener.
macro_rules! with_listener {
    ($req:expr, $spec:expr) => {{
        let spec: &ListenerSpec = $spec;
        $req.port(spec.port.into())
            .protocol(spec.protocol.as_str().into())
            .set_certificates(spec.certificate_arn.as_ref().map(|arn| {
                vec![elb::types::Certificate::builder()
                    .certificate_arn(arn)
                    .build()]
            }))
            .default_actions(forward_action(&spec.forward))
    }};
}

/// Sends SuspendProcesses or ResumeProcesses (the SDK method `$method`), which take the same
/// input, for `processes` of `group`. An empty list sends nothing: to the API, no processes
/// means all of them.
macro_rules! scaling_processes {
    ($cloud:expr, $method:ident, $operation:expr, $group:expr, $processes:expr) => {{
        let (cloud, group): (&AwsCloud, &str) = ($cloud, $group);
        let what = format!("group {group}");
        cloud
            .in_batches($operation, &what, $processes, ONE_CALL, |batch| {
                cloud
                    .asg
                    .$method()
                    .auto_scaling_group_name(group)
                    .set_scaling_processes(Some(batch))
                    .send()
            })
            .await?;
        Ok(())
    }};
}

#[async_trait]
impl Cloud for AwsCloud {
    fn region(&self) -> &str {
        &self.region
    }

    // --- lookups -----------------------------------------------------------------------------

    async fn describe_images(&self, filter: &ImageFilter) -> CloudResult<Vec<ImageInfo>> {
        let mut filters = ec2_tag_filters(&filter.tags);
        if let Some(name) = &filter.name {
            filters.push(ec2_filter("name", [name.as_str()]));
        }
        let mut request = self
            .ec2
            .describe_images()
            .set_owners(non_empty_vec(&filter.owners))
            .set_image_ids(non_empty_vec(&filter.ids))
            .set_filters(Some(filters));
        // EC2 refuses MaxResults together with ImageIds.
        if filter.ids.is_empty() {
            request = request.max_results(EC2_PAGE);
        }
        let what = images_what(filter);
        let images = self
            .call("EC2.DescribeImages", what, all_items!(request))
            .await?;
        Ok(images
            .iter()
            .map(image_info)
            .filter(|image| image_matches(image, filter))
            .collect())
    }

    async fn describe_images_in(
        &self,
        region: &str,
        filter: &ImageFilter,
    ) -> CloudResult<Vec<ImageInfo>> {
        if region == self.region {
            return self.describe_images(filter).await;
        }
        self.for_region(region).describe_images(filter).await
    }

    async fn copy_image(&self, request: &CopyImageRequest<'_>) -> CloudResult<String> {
        let mut call = self
            .ec2
            .copy_image()
            .source_region(request.source_region)
            .source_image_id(request.source_image_id)
            .name(request.name);
        if let Some(key) = request.kms_key {
            call = call.encrypted(true).kms_key_id(key);
        }
        let what = format!(
            "image {} in {}",
            request.source_image_id, request.source_region
        );
        let out = self.call("EC2.CopyImage", what, call.send()).await?;
        let image_id = text(out.image_id());
        if !request.tags.is_empty() {
            let call = self
                .ec2
                .create_tags()
                .resources(&image_id)
                .set_tags(Some(ec2_tags(request.tags)));
            let what = format!("image {image_id}");
            self.call("EC2.CreateTags", what, call.send()).await?;
        }
        Ok(image_id)
    }

    async fn service_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> CloudResult<Option<u64>> {
        let request = self
            .quotas
            .get_service_quota()
            .service_code(service_code)
            .quota_code(quota_code)
            .send();
        let what = format!("quota {service_code}/{quota_code}");
        match request.await {
            Ok(out) => Ok(out
                .quota()
                .and_then(|q| q.value())
                .map(|v| v.max(0.0) as u64)),
            Err(err) if err.code() == Some("NoSuchResourceException") => Ok(None),
            Err(err) => Err(self.error("ServiceQuotas.GetServiceQuota", what, err)),
        }
    }

    async fn instance_type_vcpus(&self, types: &[String]) -> CloudResult<BTreeMap<String, u32>> {
        let mut out = BTreeMap::new();
        // DescribeInstanceTypes takes up to 100 types a call.
        for chunk in types.chunks(100) {
            let request = self
                .ec2
                .describe_instance_types()
                .set_instance_types(Some(chunk.iter().map(|t| t.as_str().into()).collect()));
            let page = self
                .call(
                    "EC2.DescribeInstanceTypes",
                    "instance types",
                    request.send(),
                )
                .await?;
            for t in page.instance_types() {
                let (Some(name), Some(vcpus)) = (
                    t.instance_type(),
                    t.v_cpu_info().and_then(|v| v.default_v_cpus()),
                ) else {
                    continue;
                };
                out.insert(name.as_str().to_string(), vcpus.max(0) as u32);
            }
        }
        Ok(out)
    }

    async fn running_instance_types(&self) -> CloudResult<BTreeMap<String, u64>> {
        let request = self
            .ec2
            .describe_instances()
            .filters(ec2_filter("instance-state-name", ["pending", "running"]))
            .max_results(EC2_PAGE);
        let reservations = self
            .call("EC2.DescribeInstances", "instances", all_items!(request))
            .await?;
        let mut out = BTreeMap::new();
        for i in reservations.iter().flat_map(|r| r.instances()) {
            let state = i.state().and_then(|s| s.name()).map(|n| n.as_str());
            if !matches!(state, Some("pending" | "running")) {
                continue;
            }
            if let Some(t) = i.instance_type() {
                *out.entry(t.as_str().to_string()).or_default() += 1;
            }
        }
        Ok(out)
    }

    async fn auto_scaling_limits(&self) -> CloudResult<Limit> {
        const OP: &str = "AutoScaling.DescribeAccountLimits";
        let request = || self.asg.describe_account_limits();
        // Asked once without retries first, as DescribeInstanceRefreshes is: an endpoint that
        // lacks the operation answers with a server error the retry policy would repeat for
        // seconds on every plan. Any other failure is asked again under the usual policy.
        let once = asg::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        let out = match request().customize().config_override(once).send().await {
            Ok(out) => out,
            Err(err) if not_implemented(&err) => return Err(self.error(OP, "account limits", err)),
            Err(_) => self.call(OP, "account limits", request().send()).await?,
        };
        Ok(Limit {
            max: out.max_number_of_auto_scaling_groups().unwrap_or(0).max(0) as u64,
            used: out.number_of_auto_scaling_groups().unwrap_or(0).max(0) as u64,
        })
    }

    async fn elb_limits(&self) -> CloudResult<ElbLimits> {
        let request = self.elb.describe_account_limits().send();
        let out = self
            .call("ELBv2.DescribeAccountLimits", "account limits", request)
            .await?;
        let limits = out
            .limits()
            .iter()
            .filter_map(|l| {
                let max = l.max()?.parse::<f64>().ok()?;
                Some((l.name()?.to_string(), max.max(0.0) as u64))
            })
            .collect();
        let request = self.elb.describe_target_groups().page_size(400);
        let target_groups = self
            .call(
                "ELBv2.DescribeTargetGroups",
                "target groups",
                all_items!(request),
            )
            .await?;
        let request = self.elb.describe_load_balancers().page_size(400);
        let lbs = self
            .call(
                "ELBv2.DescribeLoadBalancers",
                "load balancers",
                all_items!(request),
            )
            .await?;
        let mut load_balancers = BTreeMap::new();
        for lb in &lbs {
            let kind = lb.r#type().map_or("application", |t| t.as_str());
            *load_balancers.entry(kind.to_string()).or_default() += 1;
        }
        Ok(ElbLimits {
            limits,
            target_groups: target_groups.len() as u64,
            load_balancers,
        })
    }

    async fn missing_key_pairs(&self, names: &[String]) -> CloudResult<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.ec2.describe_key_pairs().send();
        let out = self
            .call("EC2.DescribeKeyPairs", "key pairs", request)
            .await?;
        let known: HashSet<&str> = out
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name())
            .collect();
        Ok(names
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .cloned()
            .collect())
    }

    async fn find_vpcs(&self, tags: &Tags) -> CloudResult<Vec<VpcInfo>> {
        let request = self
            .ec2
            .describe_vpcs()
            .set_filters(Some(ec2_tag_filters(tags)))
            .max_results(EC2_PAGE);
        let vpcs = self
            .call("EC2.DescribeVpcs", "VPCs", all_items!(request))
            .await?;
        Ok(vpcs
            .iter()
            .map(vpc_info)
            .filter(|vpc| has_tags(&vpc.tags, tags))
            .collect())
    }

    async fn find_subnets(&self, vpc_id: &str, tags: &Tags) -> CloudResult<Vec<SubnetInfo>> {
        let request = self
            .ec2
            .describe_subnets()
            .set_filters(Some(ec2_vpc_filters(vpc_id, tags)))
            .max_results(EC2_PAGE);
        let what = format!("subnets of {vpc_id}");
        let subnets = self
            .call("EC2.DescribeSubnets", what, all_items!(request))
            .await?;
        Ok(subnets
            .iter()
            .map(subnet_info)
            .filter(|s| s.vpc_id == vpc_id && has_tags(&s.tags, tags))
            .collect())
    }

    async fn find_security_groups(
        &self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> CloudResult<Vec<SecurityGroupInfo>> {
        let mut filters = ec2_vpc_filters(vpc_id, tags);
        if !names.is_empty() {
            filters.push(ec2_filter("group-name", names));
        }
        let request = self
            .ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .max_results(EC2_PAGE);
        let what = format!("security groups of {vpc_id}");
        let groups = self
            .call("EC2.DescribeSecurityGroups", what, all_items!(request))
            .await?;
        Ok(groups
            .iter()
            .map(security_group_info)
            .filter(|sg| {
                sg.vpc_id.as_deref() == Some(vpc_id)
                    && (names.is_empty() || names.contains(&sg.name))
                    && has_tags(&sg.tags, tags)
            })
            .collect())
    }

    // --- observing a stack -------------------------------------------------------------------

    async fn list_groups(&self, stack: &str) -> CloudResult<Vec<GroupInfo>> {
        let stack_filter = asg::types::Filter::builder()
            .name(format!("tag:{}", tag::STACK))
            .values(stack)
            .build();
        let request = self
            .asg
            .describe_auto_scaling_groups()
            .filters(stack_filter)
            .max_records(ASG_PAGE);
        let groups = self
            .call(
                "AutoScaling.DescribeAutoScalingGroups",
                "groups",
                all_items!(request),
            )
            .await?;
        Ok(groups
            .iter()
            .map(group_info)
            .filter(|g| in_stack(&g.tags, stack))
            .collect())
    }

    async fn list_instances(&self, stack: &str) -> CloudResult<Vec<InstanceInfo>> {
        let request = self
            .ec2
            .describe_instances()
            .filters(ec2_stack_filter(stack))
            .filters(ec2_filter("instance-state-name", LIVE_INSTANCE_STATES))
            .max_results(EC2_PAGE);
        let reservations = self
            .call("EC2.DescribeInstances", "instances", all_items!(request))
            .await?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.instances())
            .map(instance_info)
            .filter(|i| in_stack(&i.tags, stack) && LIVE_INSTANCE_STATES.contains(&&*i.state))
            .collect())
    }

    async fn list_launch_templates(&self, stack: &str) -> CloudResult<Vec<LaunchTemplateInfo>> {
        let request = self
            .ec2
            .describe_launch_templates()
            .filters(ec2_stack_filter(stack))
            .max_results(LAUNCH_TEMPLATE_PAGE);
        let templates = self
            .call(
                "EC2.DescribeLaunchTemplates",
                "launch templates",
                all_items!(request),
            )
            .await?;
        Ok(templates
            .iter()
            .map(launch_template_info)
            .filter(|t| in_stack(&t.tags, stack))
            .collect())
    }

    async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        const OP: &str = "EC2.DescribeLaunchTemplateVersions";
        let what = format!("launch template {template_id} version {version}");
        let request = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .versions(version);
        let out = self.call(OP, &what, request.send()).await?;
        out.launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .map(launch_spec)
            .ok_or(CloudError::NotFound {
                operation: OP,
                what,
                code: None,
            })
    }

    async fn list_target_groups(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<TargetGroupInfo>> {
        let request = self.elb.describe_target_groups().page_size(ELB_PAGE);
        let all = self
            .call(
                "ELBv2.DescribeTargetGroups",
                "target groups",
                all_items!(request),
            )
            .await?;
        let candidates = named_with_prefix(all, |tg| tg.target_group_name(), name_prefix);
        let mut out = Vec::new();
        for (tg, tags) in self
            .stack_members(candidates, |tg| tg.target_group_arn(), stack)
            .await?
        {
            let delay = self
                .deregistration_delay(&text(tg.target_group_arn()))
                .await?;
            out.push(target_group_info(&tg, delay, tags));
        }
        Ok(out)
    }

    async fn target_health(&self, target_group_arn: &str) -> CloudResult<Vec<TargetHealth>> {
        let request = self
            .elb
            .describe_target_health()
            .target_group_arn(target_group_arn);
        let what = format!("target group {target_group_arn}");
        let out = self
            .call("ELBv2.DescribeTargetHealth", what, request.send())
            .await?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(target_health_info)
            .collect())
    }

    async fn list_load_balancers(
        &self,
        stack: &str,
        name_prefix: &str,
    ) -> CloudResult<Vec<LoadBalancerInfo>> {
        let request = self.elb.describe_load_balancers().page_size(ELB_PAGE);
        let all = self
            .call(
                "ELBv2.DescribeLoadBalancers",
                "load balancers",
                all_items!(request),
            )
            .await?;
        let candidates = named_with_prefix(all, |lb| lb.load_balancer_name(), name_prefix);
        let members = self
            .stack_members(candidates, |lb| lb.load_balancer_arn(), stack)
            .await?;
        Ok(members
            .iter()
            .map(|(lb, tags)| load_balancer_info(lb, tags.clone()))
            .collect())
    }

    async fn list_listeners(&self, load_balancer_arn: &str) -> CloudResult<Vec<ListenerInfo>> {
        let request = self
            .elb
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .page_size(ELB_PAGE);
        let what = format!("load balancer {load_balancer_arn}");
        let listeners = self
            .call("ELBv2.DescribeListeners", what, all_items!(request))
            .await?;
        Ok(listeners.iter().map(listener_info).collect())
    }

    // --- changes: target groups --------------------------------------------------------------

    async fn create_target_group(
        &self,
        spec: &TargetGroupSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let target_type = non_empty(&spec.target_type).unwrap_or("instance");
        let request = self
            .elb
            .create_target_group()
            .name(&spec.name)
            .protocol(spec.protocol.as_str().into())
            .port(spec.port.into())
            .vpc_id(&spec.vpc_id)
            .target_type(target_type.into())
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let request = with_health_check!(request, &spec.health_check);
        let what = format!("target group {}", spec.name);
        let out = self
            .call("ELBv2.CreateTargetGroup", what, request.send())
            .await?;
        let arn = out
            .target_groups()
            .first()
            .map(|tg| text(tg.target_group_arn()))
            .unwrap_or_default();
        self.set_deregistration_delay(&arn, spec.deregistration_delay_seconds)
            .await?;
        Ok(arn)
    }

    async fn modify_target_group(&self, arn: &str, spec: &TargetGroupSpec) -> CloudResult<()> {
        let request = self.elb.modify_target_group().target_group_arn(arn);
        let request = with_health_check!(request, &spec.health_check);
        let what = format!("target group {arn}");
        self.call("ELBv2.ModifyTargetGroup", what, request.send())
            .await?;
        self.set_deregistration_delay(arn, spec.deregistration_delay_seconds)
            .await
    }

    async fn delete_target_group(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_target_group().target_group_arn(arn);
        let what = format!("target group {arn}");
        self.call("ELBv2.DeleteTargetGroup", what, request.send())
            .await?;
        Ok(())
    }

    // --- changes: load balancers and listeners -----------------------------------------------

    async fn create_load_balancer(
        &self,
        spec: &LoadBalancerSpec,
        tags: &Tags,
    ) -> CloudResult<LoadBalancerInfo> {
        const OP: &str = "ELBv2.CreateLoadBalancer";
        let scheme = if spec.internal {
            elb::types::LoadBalancerSchemeEnum::Internal
        } else {
            elb::types::LoadBalancerSchemeEnum::InternetFacing
        };
        let security_groups = if is_application(spec) {
            non_empty_vec(&spec.security_group_ids)
        } else {
            None
        };
        let request = self
            .elb
            .create_load_balancer()
            .name(&spec.name)
            .r#type(spec.kind.as_str().into())
            .scheme(scheme)
            .set_subnets(Some(spec.subnet_ids.clone()))
            .set_security_groups(security_groups)
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let what = format!("load balancer {}", spec.name);
        let out = self.call(OP, &what, request.send()).await?;
        out.load_balancers()
            .first()
            .map(|lb| load_balancer_info(lb, tags.clone()))
            .ok_or_else(|| CloudError::Service {
                operation: OP,
                code: None,
                message: format!("no {what} in the response"),
            })
    }

    async fn modify_load_balancer(&self, arn: &str, spec: &LoadBalancerSpec) -> CloudResult<()> {
        let what = format!("load balancer {arn}");
        let request = self
            .elb
            .set_subnets()
            .load_balancer_arn(arn)
            .set_subnets(Some(spec.subnet_ids.clone()));
        self.call("ELBv2.SetSubnets", &what, request.send()).await?;
        if is_application(spec) {
            let request = self
                .elb
                .set_security_groups()
                .load_balancer_arn(arn)
                .set_security_groups(Some(spec.security_group_ids.clone()));
            self.call("ELBv2.SetSecurityGroups", &what, request.send())
                .await?;
        }
        Ok(())
    }

    async fn delete_load_balancer(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_load_balancer().load_balancer_arn(arn);
        let what = format!("load balancer {arn}");
        self.call("ELBv2.DeleteLoadBalancer", what, request.send())
            .await?;
        Ok(())
    }

    async fn create_listener(
        &self,
        load_balancer_arn: &str,
        spec: &ListenerSpec,
        tags: &Tags,
    ) -> CloudResult<String> {
        let request = self
            .elb
            .create_listener()
            .load_balancer_arn(load_balancer_arn)
            .set_tags(non_empty_vec(&elb_tags(tags)));
        let request = with_listener!(request, spec);
        let what = format!("load balancer {load_balancer_arn}");
        let out = self
            .call("ELBv2.CreateListener", what, request.send())
            .await?;
        Ok(out
            .listeners()
            .first()
            .map(|l| text(l.listener_arn()))
            .unwrap_or_default())
    }

    async fn modify_listener(&self, arn: &str, spec: &ListenerSpec) -> CloudResult<()> {
        let request = self.elb.modify_listener().listener_arn(arn);
        let request = with_listener!(request, spec);
        let what = format!("listener {arn}");
        self.call("ELBv2.ModifyListener", what, request.send())
            .await?;
        Ok(())
    }

    async fn delete_listener(&self, arn: &str) -> CloudResult<()> {
        let request = self.elb.delete_listener().listener_arn(arn);
        let what = format!("listener {arn}");
        self.call("ELBv2.DeleteListener", what, request.send())
            .await?;
        Ok(())
    }

    // --- changes: launch templates -----------------------------------------------------------

    async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        let template_tags = (!tags.is_empty()).then(|| {
            vec![ec2::types::TagSpecification::builder()
                .resource_type(ec2::types::ResourceType::LaunchTemplate)
                .set_tags(Some(ec2_tags(tags)))
                .build()]
        });
        let request = self
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(launch_template_data(spec))
            .set_tag_specifications(template_tags);
        let what = format!("launch template {name}");
        let out = self
            .call("EC2.CreateLaunchTemplate", what, request.send())
            .await?;
        let template = out.launch_template();
        Ok((
            text(template.and_then(|t| t.launch_template_id())),
            template
                .and_then(|t| t.latest_version_number())
                .unwrap_or(1),
        ))
    }

    async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        let request = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(template_id)
            .launch_template_data(launch_template_data(spec));
        let what = format!("launch template {template_id}");
        let out = self
            .call("EC2.CreateLaunchTemplateVersion", what, request.send())
            .await?;
        Ok(out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .unwrap_or_default())
    }

    async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()> {
        let request = self
            .ec2
            .delete_launch_template()
            .launch_template_id(template_id);
        let what = format!("launch template {template_id}");
        self.call("EC2.DeleteLaunchTemplate", what, request.send())
            .await?;
        Ok(())
    }

    // --- changes: Auto Scaling groups --------------------------------------------------------

    async fn create_group(&self, spec: &GroupSpec) -> CloudResult<()> {
        let template = asg::types::LaunchTemplateSpecification::builder()
            .launch_template_id(&spec.launch_template_id)
            .version(&spec.launch_template_version)
            .build();
        let request = fleet::create_group(
            self.asg.create_auto_scaling_group(),
            template,
            &spec.settings,
        )
        .auto_scaling_group_name(&spec.name)
        .min_size(to_i32(spec.min))
        .max_size(to_i32(spec.max))
        .desired_capacity(to_i32(spec.desired))
        .vpc_zone_identifier(spec.subnet_ids.join(","))
        .set_target_group_arns(non_empty_vec(&spec.target_group_arns))
        .set_health_check_type(non_empty(&spec.health_check_type).map(str::to_owned))
        .health_check_grace_period(to_i32(spec.health_check_grace_seconds))
        .set_tags(non_empty_vec(&asg_tags(&spec.name, &spec.tags)));
        let what = format!("group {}", spec.name);
        self.call("AutoScaling.CreateAutoScalingGroup", what, request.send())
            .await?;
        Ok(())
    }

    async fn configure_group(
        &self,
        name: &str,
        settings: &crate::cloud::scaling::GroupSettings,
    ) -> CloudResult<()> {
        for p in &settings.scaling_policies {
            let request =
                fleet::put_policy(self.asg.put_scaling_policy(), p).auto_scaling_group_name(name);
            let what = format!("scaling policy {} of group {name}", p.name);
            self.call("AutoScaling.PutScalingPolicy", what, request.send())
                .await?;
        }
        for a in &settings.scheduled_actions {
            let request = fleet::put_scheduled(self.asg.put_scheduled_update_group_action(), a)?
                .auto_scaling_group_name(name);
            let what = format!("scheduled action {} of group {name}", a.name);
            self.call(
                "AutoScaling.PutScheduledUpdateGroupAction",
                what,
                request.send(),
            )
            .await?;
        }
        for h in &settings.lifecycle_hooks {
            let request =
                fleet::put_hook(self.asg.put_lifecycle_hook(), h).auto_scaling_group_name(name);
            let what = format!("lifecycle hook {} of group {name}", h.name);
            self.call("AutoScaling.PutLifecycleHook", what, request.send())
                .await?;
        }
        Ok(())
    }

    async fn set_group_capacity(
        &self,
        name: &str,
        min: u32,
        desired: u32,
        max: u32,
    ) -> CloudResult<()> {
        let request = self
            .asg
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(to_i32(min))
            .max_size(to_i32(max))
            .desired_capacity(to_i32(desired));
        let what = format!("group {name}");
        self.call("AutoScaling.UpdateAutoScalingGroup", what, request.send())
            .await?;
        Ok(())
    }

    async fn set_group_tags(&self, name: &str, tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let request = self
            .asg
            .create_or_update_tags()
            .set_tags(Some(asg_tags(name, tags)));
        let what = format!("group {name}");
        self.call("AutoScaling.CreateOrUpdateTags", what, request.send())
            .await?;
        Ok(())
    }

    async fn attach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        let op = "AutoScaling.AttachLoadBalancerTargetGroups";
        let what = format!("group {name}");
        self.in_batches(op, &what, arns, ASG_TARGET_GROUPS_PER_CALL, |batch| {
            self.asg
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(batch))
                .send()
        })
        .await?;
        Ok(())
    }

    async fn detach_target_groups(&self, name: &str, arns: &[String]) -> CloudResult<()> {
        let op = "AutoScaling.DetachLoadBalancerTargetGroups";
        let what = format!("group {name}");
        self.in_batches(op, &what, arns, ASG_TARGET_GROUPS_PER_CALL, |batch| {
            self.asg
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(name)
                .set_target_group_arns(Some(batch))
                .send()
        })
        .await?;
        Ok(())
    }

    async fn delete_group(&self, name: &str) -> CloudResult<()> {
        let request = self
            .asg
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true);
        let what = format!("group {name}");
        match self
            .call("AutoScaling.DeleteAutoScalingGroup", what, request.send())
            .await
        {
            Err(err) if !err.is_not_found() => Err(err),
            _ => Ok(()),
        }
    }

    async fn scaling_activities(
        &self,
        group: &str,
        since: SystemTime,
    ) -> CloudResult<Vec<ScalingActivity>> {
        const OP: &str = "AutoScaling.DescribeScalingActivities";
        let what = format!("group {group}");
        let mut pages = self
            .asg
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(ACTIVITY_PAGE)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        // Newest first: once a page reaches back past `since`, later pages are older still.
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error(OP, &what, err))?;
            let mut older = false;
            for a in page.activities() {
                let activity = scaling_activity(a);
                match activity.start_time {
                    Some(t) if t < since => older = true,
                    _ => out.push(activity),
                }
            }
            if older {
                break;
            }
        }
        Ok(out)
    }

    async fn instance_refreshes(&self, group: &str) -> CloudResult<Option<Vec<InstanceRefresh>>> {
        const OP: &str = "AutoScaling.DescribeInstanceRefreshes";
        if self.refreshes_unsupported.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let what = format!("group {group}");
        let request = || {
            self.asg
                .describe_instance_refreshes()
                .auto_scaling_group_name(group)
                .max_records(REFRESH_PAGE)
        };
        // Asked once without retries: an endpoint that lacks the operation answers with a
        // server error, which the retry policy would repeat for seconds. Any other failure is
        // asked again under the usual policy.
        let once = asg::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        let out = match request().customize().config_override(once).send().await {
            Ok(out) => out,
            Err(err) if not_implemented(&err) => {
                self.refreshes_unsupported.store(true, Ordering::Relaxed);
                tracing::debug!(
                    %group, error = %error_chain(&err),
                    "the endpoint does not implement DescribeInstanceRefreshes; whether an \
                     instance refresh is in progress is unknown"
                );
                return Ok(None);
            }
            Err(_) => self.call(OP, &what, request().send()).await?,
        };
        Ok(Some(
            out.instance_refreshes()
                .iter()
                .map(instance_refresh)
                .collect(),
        ))
    }

    async fn find_by_name(&self, kind: NamedKind, name: &str) -> CloudResult<Option<Holder>> {
        let what = format!("{} {name}", kind.noun());
        let found = match kind {
            NamedKind::Group => {
                let request = self
                    .asg
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(name);
                let out = self
                    .call(
                        "AutoScaling.DescribeAutoScalingGroups",
                        &what,
                        request.send(),
                    )
                    .await?;
                return Ok(out
                    .auto_scaling_groups()
                    .iter()
                    .find(|g| g.auto_scaling_group_name() == Some(name))
                    .map(|g| Holder {
                        id: name.to_string(),
                        tags: tags_of(g.tags()),
                    }));
            }
            NamedKind::LaunchTemplate => {
                let request = self
                    .ec2
                    .describe_launch_templates()
                    .launch_template_names(name);
                let out = self
                    .call("EC2.DescribeLaunchTemplates", &what, request.send())
                    .await;
                return match out {
                    Ok(out) => Ok(out
                        .launch_templates()
                        .iter()
                        .find(|t| t.launch_template_name() == Some(name))
                        .map(|t| Holder {
                            id: t.launch_template_id().unwrap_or(name).to_string(),
                            tags: tags_of(t.tags()),
                        })),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                };
            }
            NamedKind::TargetGroup => {
                let request = self.elb.describe_target_groups().names(name);
                match self
                    .call("ELBv2.DescribeTargetGroups", &what, request.send())
                    .await
                {
                    Ok(out) => out
                        .target_groups()
                        .iter()
                        .find(|t| t.target_group_name() == Some(name))
                        .and_then(|t| t.target_group_arn().map(str::to_owned)),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                }
            }
            NamedKind::LoadBalancer => {
                let request = self.elb.describe_load_balancers().names(name);
                match self
                    .call("ELBv2.DescribeLoadBalancers", &what, request.send())
                    .await
                {
                    Ok(out) => out
                        .load_balancers()
                        .iter()
                        .find(|l| l.load_balancer_name() == Some(name))
                        .and_then(|l| l.load_balancer_arn().map(str::to_owned)),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                }
            }
        };
        let Some(arn) = found else {
            return Ok(None);
        };
        let request = self.elb.describe_tags().resource_arns(&arn);
        let out = self
            .call("ELBv2.DescribeTags", &what, request.send())
            .await?;
        let tags = out
            .tag_descriptions()
            .iter()
            .find(|d| d.resource_arn() == Some(arn.as_str()))
            .map(|d| tags_of(d.tags()))
            .unwrap_or_default();
        Ok(Some(Holder { id: arn, tags }))
    }

    async fn suspend_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        scaling_processes!(
            self,
            suspend_processes,
            "AutoScaling.SuspendProcesses",
            group,
            processes
        )
    }

    async fn resume_processes(&self, group: &str, processes: &[String]) -> CloudResult<()> {
        scaling_processes!(
            self,
            resume_processes,
            "AutoScaling.ResumeProcesses",
            group,
            processes
        )
    }

    async fn detach_instances(
        &self,
        group: &str,
        instance_ids: &[String],
        decrement: bool,
    ) -> CloudResult<()> {
        let op = "AutoScaling.DetachInstances";
        let what = format!("group {group}");
        self.in_batches(op, &what, instance_ids, ASG_INSTANCES_PER_CALL, |batch| {
            self.asg
                .detach_instances()
                .auto_scaling_group_name(group)
                .set_instance_ids(Some(batch))
                .should_decrement_desired_capacity(decrement)
                .send()
        })
        .await?;
        Ok(())
    }

    // --- targets and instances ---------------------------------------------------------------

    async fn register_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        let what = format!("target group {target_group_arn}");
        self.in_batches(
            "ELBv2.RegisterTargets",
            &what,
            instance_ids,
            TARGETS_PER_CALL,
            |batch| {
                self.elb
                    .register_targets()
                    .target_group_arn(target_group_arn)
                    .set_targets(Some(instance_targets(batch)))
                    .send()
            },
        )
        .await?;
        Ok(())
    }

    async fn deregister_targets(
        &self,
        target_group_arn: &str,
        instance_ids: &[String],
    ) -> CloudResult<()> {
        for batch in instance_ids.chunks(TARGETS_PER_CALL) {
            match self
                .deregister_batch(target_group_arn, batch.to_vec())
                .await
            {
                Err(err) if error_code(&err) == Some(INVALID_TARGET) => {
                    // Some of the batch are not registered (or no longer exist), and the call
                    // may have stopped part-way: deregister those the target group still has.
                    let registered: HashSet<String> = self
                        .target_health(target_group_arn)
                        .await?
                        .into_iter()
                        .filter(|t| t.reason.as_deref() != Some(TARGET_NOT_REGISTERED))
                        .map(|t| t.id)
                        .collect();
                    let remaining: Vec<String> = batch
                        .iter()
                        .filter(|id| registered.contains(*id))
                        .cloned()
                        .collect();
                    if !remaining.is_empty() {
                        self.deregister_batch(target_group_arn, remaining).await?;
                    }
                }
                result => result?,
            }
        }
        Ok(())
    }

    async fn terminate_instances(&self, instance_ids: &[String]) -> CloudResult<()> {
        const OP: &str = "EC2.TerminateInstances";
        for batch in instance_ids.chunks(EC2_IDS_PER_CALL) {
            let mut batch = batch.to_vec();
            // Each round drops the ids EC2 says do not exist (already gone), so it ends.
            while !batch.is_empty() {
                let request = self
                    .ec2
                    .terminate_instances()
                    .set_instance_ids(Some(batch.clone()));
                let Err(err) = request.send().await else {
                    break;
                };
                let gone = missing_instances(&err, &batch);
                if gone.is_empty() {
                    return Err(self.error(OP, ids_what("instance", &batch), err));
                }
                batch.retain(|id| !gone.contains(id));
            }
        }
        Ok(())
    }

    async fn run_instances(&self, spec: &RunSpec) -> CloudResult<Vec<String>> {
        let template = ec2::types::LaunchTemplateSpecification::builder()
            .launch_template_id(&spec.launch_template_id)
            .version(&spec.launch_template_version)
            .build();
        let tag_specs = launched_tag_specs(&spec.tags, |kind, tags| {
            ec2::types::TagSpecification::builder()
                .resource_type(kind)
                .set_tags(Some(tags))
                .build()
        });
        let what = format!(
            "launch template {} version {} in {}",
            spec.launch_template_id, spec.launch_template_version, spec.subnet_id
        );
        let mut ids = Vec::new();
        for (index, count) in launch_batches(spec.count).enumerate() {
            let request = self
                .ec2
                .run_instances()
                .launch_template(template.clone())
                .subnet_id(&spec.subnet_id)
                .min_count(to_i32(count))
                .max_count(to_i32(count))
                .set_tag_specifications(tag_specs.clone())
                .set_client_token(
                    spec.client_token
                        .as_deref()
                        .map(|token| batch_client_token(token, index)),
                );
            let out = self.call("EC2.RunInstances", &what, request.send()).await?;
            ids.extend(out.instances().iter().map(|i| text(i.instance_id())));
        }
        Ok(ids)
    }

    async fn tag_instances(&self, instance_ids: &[String], tags: &Tags) -> CloudResult<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let what = ids_what("instance", instance_ids);
        self.in_batches(
            "EC2.CreateTags",
            &what,
            instance_ids,
            EC2_IDS_PER_CALL,
            |batch| {
                self.ec2
                    .create_tags()
                    .set_resources(Some(batch))
                    .set_tags(Some(ec2_tags(tags)))
                    .send()
            },
        )
        .await?;
        Ok(())
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        const OP: &str = "EC2.DeleteLaunchTemplateVersions";
        let what = format!("launch template {template_id}");
        let versions: Vec<String> = versions.iter().map(i64::to_string).collect();
        let size = LAUNCH_TEMPLATE_VERSIONS_PER_CALL;
        let outputs = self
            .in_batches(OP, &what, &versions, size, |batch| {
                self.ec2
                    .delete_launch_template_versions()
                    .launch_template_id(template_id)
                    .set_versions(Some(batch))
                    .send()
            })
            .await?;
        let failures = outputs
            .iter()
            .flat_map(|out| out.unsuccessfully_deleted_launch_template_versions());
        match version_failures_error(OP, &what, failures) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    // --- alarms ------------------------------------------------------------------------------

    async fn alarm_states(&self, names: &[String]) -> CloudResult<BTreeMap<String, String>> {
        const OP: &str = "CloudWatch.DescribeAlarms";
        let mut out = BTreeMap::new();
        for batch in names.chunks(ALARMS_PER_CALL) {
            let request = self
                .cw
                .describe_alarms()
                .set_alarm_names(Some(batch.to_vec()))
                .alarm_types(cw::types::AlarmType::MetricAlarm)
                .alarm_types(cw::types::AlarmType::CompositeAlarm)
                .max_records(ALARMS_PER_CALL as i32);
            let pages: Vec<_> = self
                .call(OP, "alarms", request.into_paginator().send().try_collect())
                .await?;
            for page in pages {
                let metric = page
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                let composite = page
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value()));
                for (name, state) in metric.chain(composite) {
                    if let (Some(n), Some(s)) = (name, state) {
                        out.insert(n.to_string(), s.as_str().to_string());
                    }
                }
            }
        }
        Ok(out)
    }

    // --- the account and its objects ---------------------------------------------------------

    async fn account_id(&self) -> CloudResult<String> {
        let identity = self
            .call(
                "STS.GetCallerIdentity",
                "caller identity",
                self.sts.get_caller_identity().send(),
            )
            .await?;
        identity
            .account()
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| CloudError::Service {
                operation: "STS.GetCallerIdentity",
                code: None,
                message: "the answer names no account".into(),
            })
    }

    async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>> {
        self.object_get(at).await
    }

    async fn put_object_if_absent(&self, at: &ObjectRef, body: &[u8]) -> CloudResult<String> {
        self.object_put(at, body, objects::Condition::Absent).await
    }

    async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String> {
        self.object_put(at, body, objects::Condition::Matches(etag))
            .await
    }

    async fn delete_object_if_match(&self, at: &ObjectRef, etag: &str) -> CloudResult<()> {
        self.object_delete(at, etag).await
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by several calls

impl AwsCloud {
    /// Keeps the `items` whose ARN carries `reroll:stack = stack`, with their tags. Reads tags
    /// with DescribeTags, at most [`ELB_DESCRIBE_TAGS_MAX`] ARNs a call.
    async fn stack_members<T>(
        &self,
        items: Vec<T>,
        arn_of: impl Fn(&T) -> Option<&str>,
        stack: &str,
    ) -> CloudResult<Vec<(T, Tags)>> {
        let arns: Vec<String> = items
            .iter()
            .filter_map(|i| arn_of(i).map(str::to_owned))
            .collect();
        let mut tags_by_arn = HashMap::new();
        for batch in arns.chunks(ELB_DESCRIBE_TAGS_MAX) {
            let request = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()));
            let out = self
                .call("ELBv2.DescribeTags", "tagged resources", request.send())
                .await?;
            for description in out.tag_descriptions() {
                tags_by_arn.insert(
                    text(description.resource_arn()),
                    tags_of(description.tags()),
                );
            }
        }
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let tags = tags_by_arn.remove(arn_of(&item)?)?;
                in_stack(&tags, stack).then_some((item, tags))
            })
            .collect())
    }

    /// Sends `request` once per batch of at most `size` of `items`, in order, and returns the
    /// outputs; stops at the first error. An empty `items` sends nothing.
    async fn in_batches<I, F, Fut, T, E, R>(
        &self,
        operation: &'static str,
        what: &str,
        items: &[I],
        size: usize,
        request: F,
    ) -> CloudResult<Vec<T>>
    where
        I: Clone,
        F: Fn(Vec<I>) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + HttpStatus + Send + Sync + 'static,
    {
        let mut outputs = Vec::new();
        for batch in items.chunks(size) {
            outputs.push(self.call(operation, what, request(batch.to_vec())).await?);
        }
        Ok(outputs)
    }

    async fn deregister_batch(
        &self,
        target_group_arn: &str,
        instance_ids: Vec<String>,
    ) -> CloudResult<()> {
        let request = self
            .elb
            .deregister_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(instance_targets(instance_ids)));
        let what = format!("target group {target_group_arn}");
        self.call("ELBv2.DeregisterTargets", what, request.send())
            .await?;
        Ok(())
    }

    async fn deregistration_delay(&self, target_group_arn: &str) -> CloudResult<u32> {
        let request = self
            .elb
            .describe_target_group_attributes()
            .target_group_arn(target_group_arn);
        let what = format!("target group {target_group_arn}");
        let out = self
            .call("ELBv2.DescribeTargetGroupAttributes", what, request.send())
            .await?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value()?.parse().ok())
            .unwrap_or(DEFAULT_DEREGISTRATION_DELAY))
    }

    async fn set_deregistration_delay(
        &self,
        target_group_arn: &str,
        seconds: u32,
    ) -> CloudResult<()> {
        let delay = elb::types::TargetGroupAttribute::builder()
            .key(DEREGISTRATION_DELAY)
            .value(seconds.to_string())
            .build();
        let request = self
            .elb
            .modify_target_group_attributes()
            .target_group_arn(target_group_arn)
            .attributes(delay);
        let what = format!("target group {target_group_arn}");
        self.call("ELBv2.ModifyTargetGroupAttributes", what, request.send())
            .await?;
        Ok(())
    }
}

/// The `items` whose name starts with `prefix`.
fn named_with_prefix<T>(
    items: Vec<T>,
    name_of: impl Fn(&T) -> Option<&str>,
    prefix: &str,
) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| name_of(item).unwrap_or_default().starts_with(prefix))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Building SDK inputs

fn ec2_filter<I, S>(name: &str, values: I) -> ec2::types::Filter
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    ec2::types::Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// One `tag:K = V` filter per tag.
fn ec2_tag_filters(tags: &Tags) -> Vec<ec2::types::Filter> {
    tags.iter()
        .map(|(k, v)| ec2_filter(&format!("tag:{k}"), [v.as_str()]))
        .collect()
}

fn ec2_stack_filter(stack: &str) -> ec2::types::Filter {
    ec2_filter(&format!("tag:{}", tag::STACK), [stack])
}

fn ec2_vpc_filters(vpc_id: &str, tags: &Tags) -> Vec<ec2::types::Filter> {
    let mut filters = vec![ec2_filter("vpc-id", [vpc_id])];
    filters.extend(ec2_tag_filters(tags));
    filters
}

fn ec2_tags(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

fn elb_tags(tags: &Tags) -> Vec<elb::types::Tag> {
    tags.iter()
        .map(|(k, v)| elb::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Group tags, all copied to instances at launch.
fn asg_tags(group: &str, tags: &Tags) -> Vec<asg::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            asg::types::Tag::builder()
                .resource_id(group)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        })
        .collect()
}

/// A forward default action: a plain forward for one target group, a weighted forward
/// config for several.
fn forward_action(forwards: &[Forward]) -> elb::types::Action {
    let action = elb::types::Action::builder().r#type(elb::types::ActionTypeEnum::Forward);
    match forwards {
        [single] => action.target_group_arn(&single.target_group_arn),
        _ => action.forward_config(
            elb::types::ForwardActionConfig::builder()
                .set_target_groups(Some(
                    forwards
                        .iter()
                        .map(|f| {
                            elb::types::TargetGroupTuple::builder()
                                .target_group_arn(&f.target_group_arn)
                                .weight(to_i32(f.weight))
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        ),
    }
    .build()
}

/// One tag specification per kind of resource a launch creates (instances and their volumes),
/// built by `spec`; `None` when there are no tags.
fn launched_tag_specs<T>(
    tags: &Tags,
    spec: impl Fn(ec2::types::ResourceType, Vec<ec2::types::Tag>) -> T,
) -> Option<Vec<T>> {
    (!tags.is_empty()).then(|| {
        [
            ec2::types::ResourceType::Instance,
            ec2::types::ResourceType::Volume,
        ]
        .into_iter()
        .map(|kind| spec(kind, ec2_tags(tags)))
        .collect()
    })
}

/// The targets of a RegisterTargets / DeregisterTargets call: instances, on the target
/// group's port.
fn instance_targets(instance_ids: Vec<String>) -> Vec<elb::types::TargetDescription> {
    instance_ids
        .into_iter()
        .map(|id| elb::types::TargetDescription::builder().id(id).build())
        .collect()
}

/// The number of instances each RunInstances call launches: `count` in order, at most
/// [`RUN_INSTANCES_PER_CALL`] a call.
fn launch_batches(count: u32) -> impl Iterator<Item = u32> {
    (0..count.div_ceil(RUN_INSTANCES_PER_CALL))
        .map(move |i| (count - i * RUN_INSTANCES_PER_CALL).min(RUN_INSTANCES_PER_CALL))
}

/// The idempotency token of the `index`th RunInstances call of one launch: the caller's token
/// for the first, a distinct token derived from it for the others (within EC2's 64 characters).
fn batch_client_token(token: &str, index: usize) -> String {
    if index == 0 {
        return token.to_string();
    }
    let suffix = format!("-{index}");
    let keep = token
        .char_indices()
        .map(|(at, c)| at + c.len_utf8())
        .take_while(|end| end + suffix.len() <= CLIENT_TOKEN_MAX)
        .last()
        .unwrap_or(0);
    format!("{}{suffix}", &token[..keep])
}

fn launch_template_data(spec: &LaunchSpec) -> ec2::types::RequestLaunchTemplateData {
    let profile = spec.instance_profile.as_ref().map(|p| {
        let builder = ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        if p.starts_with("arn:") {
            builder.arn(p).build()
        } else {
            builder.name(p).build()
        }
    });
    let tag_specs: Vec<_> = fleet::launched_tags(&spec.instance_tags, &spec.options)
        .into_iter()
        .filter(|(_, tags)| !tags.is_empty())
        .map(|(kind, tags)| {
            ec2::types::LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(kind)
                .set_tags(Some(ec2_tags(&tags)))
                .build()
        })
        .collect();
    let tag_specs = (!tag_specs.is_empty()).then_some(tag_specs);
    fleet::request_data(
        ec2::types::RequestLaunchTemplateData::builder(),
        &spec.options,
    )
    .image_id(&spec.image_id)
    .instance_type(spec.instance_type.as_str().into())
    .set_user_data(
        spec.user_data
            .as_ref()
            .map(|u| base64::engine::general_purpose::STANDARD.encode(u)),
    )
    .set_security_group_ids(non_empty_vec(&spec.security_group_ids))
    .set_iam_instance_profile(profile)
    .set_key_name(spec.key_name.clone())
    .set_tag_specifications(tag_specs)
    .build()
}

// ---------------------------------------------------------------------------------------------
// Reading SDK outputs

/// Tag shapes of the three services, read alike.
trait KeyValue {
    fn pair(&self) -> (Option<&str>, Option<&str>);
}

macro_rules! impl_key_value {
    ($($ty:ty),*) => {$(
        impl KeyValue for $ty {
            fn pair(&self) -> (Option<&str>, Option<&str>) {
                (self.key(), self.value())
            }
        }
    )*};
}
impl_key_value!(ec2::types::Tag, asg::types::TagDescription, elb::types::Tag);

fn tags_of<T: KeyValue>(tags: &[T]) -> Tags {
    tags.iter()
        .filter_map(|t| match t.pair() {
            (Some(k), v) => Some((k.to_string(), text(v))),
            _ => None,
        })
        .collect::<BTreeMap<_, _>>()
}

fn image_info(image: &ec2::types::Image) -> ImageInfo {
    ImageInfo {
        id: text(image.image_id()),
        name: text(image.name()),
        owner: text(image.owner_id()),
        creation_date: text(image.creation_date()),
        state: text(image.state().map(|s| s.as_str())),
        architecture: image.architecture().map(|a| a.as_str().to_string()),
        tags: tags_of(image.tags()),
        snapshots: image
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs())
            .map(|ebs| Snapshot {
                id: text(ebs.snapshot_id()),
                size_gib: ebs.volume_size().map_or(0, |s| s.max(0) as u64),
                encrypted: ebs.encrypted().unwrap_or(false),
            })
            .collect(),
    }
}

fn vpc_info(vpc: &ec2::types::Vpc) -> VpcInfo {
    VpcInfo {
        id: text(vpc.vpc_id()),
        cidr: vpc.cidr_block().map(str::to_owned),
        tags: tags_of(vpc.tags()),
    }
}

fn subnet_info(subnet: &ec2::types::Subnet) -> SubnetInfo {
    SubnetInfo {
        id: text(subnet.subnet_id()),
        vpc_id: text(subnet.vpc_id()),
        availability_zone: text(subnet.availability_zone()),
        cidr: subnet.cidr_block().map(str::to_owned),
        tags: tags_of(subnet.tags()),
    }
}

fn security_group_info(sg: &ec2::types::SecurityGroup) -> SecurityGroupInfo {
    SecurityGroupInfo {
        id: text(sg.group_id()),
        name: text(sg.group_name()),
        vpc_id: sg.vpc_id().map(str::to_owned),
        tags: tags_of(sg.tags()),
    }
}

fn group_info(group: &asg::types::AutoScalingGroup) -> GroupInfo {
    let template = group.launch_template().or_else(|| {
        group
            .mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification())
    });
    GroupInfo {
        name: text(group.auto_scaling_group_name()),
        min: count(group.min_size()),
        max: count(group.max_size()),
        desired: count(group.desired_capacity()),
        tags: tags_of(group.tags()),
        launch_template_id: template
            .and_then(|t| t.launch_template_id())
            .map(str::to_owned),
        launch_template_version: template.and_then(|t| t.version()).map(str::to_owned),
        target_group_arns: group.target_group_arns().to_vec(),
        subnet_ids: group
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        instances: group.instances().iter().map(group_instance).collect(),
        suspended_processes: group
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_owned))
            .collect(),
        status: group.status().map(str::to_owned),
    }
}

fn group_instance(instance: &asg::types::Instance) -> GroupInstance {
    GroupInstance {
        id: text(instance.instance_id()),
        lifecycle_state: text(instance.lifecycle_state().map(|s| s.as_str())),
        health_status: text(instance.health_status()),
        availability_zone: instance.availability_zone().map(str::to_owned),
        launch_template_version: instance
            .launch_template()
            .and_then(|t| t.version())
            .map(str::to_owned),
    }
}

fn scaling_activity(a: &asg::types::Activity) -> ScalingActivity {
    ScalingActivity {
        id: text(a.activity_id()),
        group: text(a.auto_scaling_group_name()),
        description: text(a.description()),
        cause: text(a.cause()),
        status: text(a.status_code().map(|c| c.as_str())),
        status_message: a.status_message().map(str::to_owned),
        start_time: a.start_time().and_then(|t| SystemTime::try_from(*t).ok()),
        end_time: a.end_time().and_then(|t| SystemTime::try_from(*t).ok()),
    }
}

fn instance_refresh(r: &asg::types::InstanceRefresh) -> InstanceRefresh {
    InstanceRefresh {
        id: text(r.instance_refresh_id()),
        status: text(r.status().map(|s| s.as_str())),
        status_reason: r.status_reason().map(str::to_owned),
        percentage_complete: r.percentage_complete().map(count_i32),
        start_time: r.start_time().and_then(|t| SystemTime::try_from(*t).ok()),
    }
}

fn instance_info(instance: &ec2::types::Instance) -> InstanceInfo {
    InstanceInfo {
        id: text(instance.instance_id()),
        state: text(instance.state().and_then(|s| s.name()).map(|n| n.as_str())),
        image_id: instance.image_id().map(str::to_owned),
        instance_type: instance.instance_type().map(|t| t.as_str().to_string()),
        subnet_id: instance.subnet_id().map(str::to_owned),
        availability_zone: instance
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_owned),
        private_ip: instance.private_ip_address().map(str::to_owned),
        launch_time: instance
            .launch_time()
            .and_then(|t| SystemTime::try_from(*t).ok()),
        tags: tags_of(instance.tags()),
    }
}

fn launch_template_info(template: &ec2::types::LaunchTemplate) -> LaunchTemplateInfo {
    LaunchTemplateInfo {
        id: text(template.launch_template_id()),
        name: text(template.launch_template_name()),
        latest_version: template.latest_version_number().unwrap_or_default(),
        tags: tags_of(template.tags()),
    }
}

fn launch_spec(data: &ec2::types::ResponseLaunchTemplateData) -> LaunchSpec {
    let (options, instance_tags) = fleet::response_options(data);
    let user_data = data.user_data().map(|encoded| {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|_| encoded.to_string())
    });
    LaunchSpec {
        image_id: text(data.image_id()),
        instance_type: text(data.instance_type().map(|t| t.as_str())),
        user_data,
        security_group_ids: data.security_group_ids().to_vec(),
        instance_profile: data
            .iam_instance_profile()
            .and_then(|p| p.arn().or(p.name()))
            .map(str::to_owned),
        key_name: data.key_name().map(str::to_owned),
        instance_tags,
        options,
    }
}

fn target_group_info(
    tg: &elb::types::TargetGroup,
    deregistration_delay_seconds: u32,
    tags: Tags,
) -> TargetGroupInfo {
    let spec = TargetGroupSpec {
        name: text(tg.target_group_name()),
        port: tg
            .port()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default(),
        protocol: text(tg.protocol().map(|p| p.as_str())),
        vpc_id: text(tg.vpc_id()),
        target_type: text(tg.target_type().map(|t| t.as_str())),
        health_check: HealthCheckSpec {
            protocol: text(tg.health_check_protocol().map(|p| p.as_str())),
            port: text(tg.health_check_port()),
            path: tg.health_check_path().map(str::to_owned),
            interval_seconds: count(tg.health_check_interval_seconds()),
            timeout_seconds: count(tg.health_check_timeout_seconds()),
            healthy_threshold: count(tg.healthy_threshold_count()),
            unhealthy_threshold: count(tg.unhealthy_threshold_count()),
            matcher: tg.matcher().and_then(|m| m.http_code()).map(str::to_owned),
        },
        deregistration_delay_seconds,
    };
    TargetGroupInfo {
        arn: text(tg.target_group_arn()),
        spec,
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
        tags,
    }
}

fn target_health_info(description: &elb::types::TargetHealthDescription) -> TargetHealth {
    let health = description.target_health();
    TargetHealth {
        id: text(description.target().and_then(|t| t.id())),
        port: description
            .target()
            .and_then(|t| t.port())
            .and_then(|p| u16::try_from(p).ok()),
        state: text(health.and_then(|h| h.state()).map(|s| s.as_str())),
        reason: health
            .and_then(|h| h.reason())
            .map(|r| r.as_str().to_string()),
    }
}

fn load_balancer_info(lb: &elb::types::LoadBalancer, tags: Tags) -> LoadBalancerInfo {
    LoadBalancerInfo {
        arn: text(lb.load_balancer_arn()),
        dns_name: text(lb.dns_name()),
        spec: LoadBalancerSpec {
            name: text(lb.load_balancer_name()),
            kind: text(lb.r#type().map(|t| t.as_str())),
            internal: lb.scheme() == Some(&elb::types::LoadBalancerSchemeEnum::Internal),
            subnet_ids: lb
                .availability_zones()
                .iter()
                .filter_map(|az| az.subnet_id().map(str::to_owned))
                .collect(),
            security_group_ids: lb.security_groups().to_vec(),
        },
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string()),
        tags,
    }
}

fn listener_info(listener: &elb::types::Listener) -> ListenerInfo {
    ListenerInfo {
        arn: text(listener.listener_arn()),
        load_balancer_arn: text(listener.load_balancer_arn()),
        spec: ListenerSpec {
            port: listener
                .port()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_default(),
            protocol: text(listener.protocol().map(|p| p.as_str())),
            certificate_arn: listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_owned),
            forward: forwards_of(listener.default_actions()),
        },
    }
}

/// The target groups the forward actions among `actions` send traffic to. A weighted forward
/// config wins over the plain target group ARN (AWS reports both for a single target group).
fn forwards_of(actions: &[elb::types::Action]) -> Vec<Forward> {
    actions
        .iter()
        .filter(|a| a.r#type() == Some(&elb::types::ActionTypeEnum::Forward))
        .flat_map(|action| {
            let weighted: Vec<Forward> = action
                .forward_config()
                .map(|c| c.target_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|t| {
                    Some(Forward {
                        target_group_arn: t.target_group_arn()?.to_string(),
                        weight: t.weight().map_or(1, count_i32),
                    })
                })
                .collect();
            if weighted.is_empty() {
                action
                    .target_group_arn()
                    .map(|arn| Forward {
                        target_group_arn: arn.to_string(),
                        weight: 1,
                    })
                    .into_iter()
                    .collect()
            } else {
                weighted
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Small conversions and checks

fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

fn non_empty_vec<T: Clone>(values: &[T]) -> Option<Vec<T>> {
    (!values.is_empty()).then(|| values.to_vec())
}

/// A count the services report as i32; negative or missing reads as 0.
fn count(value: Option<i32>) -> u32 {
    value.map_or(0, count_i32)
}

fn count_i32(value: i32) -> u32 {
    u32::try_from(value).unwrap_or_default()
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A setting where 0 means "leave it to AWS".
fn positive(value: u32) -> Option<i32> {
    (value > 0).then(|| to_i32(value))
}

fn is_application(spec: &LoadBalancerSpec) -> bool {
    spec.kind.is_empty() || spec.kind == "application"
}

fn in_stack(tags: &Tags, stack: &str) -> bool {
    tags.get(tag::STACK).map(String::as_str) == Some(stack)
}

fn has_tags(tags: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

/// `instance i-1, i-2, i-3` or, for longer lists, `instance i-1, i-2, i-3 and 997 more`.
fn ids_what(kind: &str, ids: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown = ids[..ids.len().min(SHOWN)].join(", ");
    match ids.len().saturating_sub(SHOWN) {
        0 => format!("{kind} {shown}"),
        more => format!("{kind} {shown} and {more} more"),
    }
}

fn images_what(filter: &ImageFilter) -> String {
    if filter.ids.is_empty() {
        format!("image {}", filter.name.as_deref().unwrap_or("*"))
    } else {
        format!("image {}", filter.ids.join(", "))
    }
}

/// The client-side check of an image filter (owners excepted: `self` needs the account id).
fn image_matches(image: &ImageInfo, filter: &ImageFilter) -> bool {
    (filter.ids.is_empty() || filter.ids.contains(&image.id))
        && filter
            .name
            .as_deref()
            .is_none_or(|pattern| glob_match(pattern, &image.name))
        && has_tags(&image.tags, &filter.tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_error_codes() {
        for code in [
            "InvalidAMIID.NotFound",
            "InvalidAMIID.Malformed",
            "InvalidVpcID.NotFound",
            "InvalidGroup.NotFound",
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.VersionNotFound",
            "TargetGroupNotFound",
            "LoadBalancerNotFound",
            "ListenerNotFound",
        ] {
            assert_eq!(classify(code, ""), ErrorClass::NotFound, "{code}");
        }
        assert_eq!(
            classify(
                "ValidationError",
                "AutoScalingGroup name not found - AutoScalingGroup 'x' not found"
            ),
            ErrorClass::NotFound
        );
        assert_eq!(classify("ValidationError", "bad size"), ErrorClass::Other);
        for code in ["Throttling", "RequestLimitExceeded", "SlowDown"] {
            assert_eq!(classify(code, ""), ErrorClass::Throttled, "{code}");
        }
        for code in [
            "AuthFailure",
            "UnauthorizedOperation",
            "AccessDenied",
            "ExpiredToken",
        ] {
            assert_eq!(classify(code, ""), ErrorClass::Unauthorized, "{code}");
        }
        for code in [
            "AlreadyExists",
            "InvalidLaunchTemplateName.AlreadyExistsException",
            "DuplicateTargetGroupName",
            "DuplicateLoadBalancerName",
        ] {
            assert_eq!(classify(code, ""), ErrorClass::AlreadyExists, "{code}");
        }
        assert_eq!(classify("InvalidParameterValue", ""), ErrorClass::Other);
        for code in ["InternalError", "InternalFailure", "ServiceUnavailable"] {
            assert!(is_server_side(code), "{code}");
        }
        assert!(!is_server_side("ValidationError"));
    }

    #[test]
    fn globs_like_ec2_filters() {
        assert!(glob_match("demo-app-*", "demo-app-1.0.0"));
        assert!(glob_match("demo-app-1.?.0", "demo-app-1.1.0"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("demo-app-*", "other-1.0.0"));
        assert!(!glob_match("demo-app-1.?.0", "demo-app-1.10.0"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact2"));
    }

    #[test]
    fn launches_in_batches_with_distinct_tokens() {
        let batches = |count| launch_batches(count).collect::<Vec<_>>();
        assert_eq!(batches(0), Vec::<u32>::new());
        assert_eq!(batches(3), vec![3]);
        assert_eq!(batches(1000), vec![1000]);
        assert_eq!(batches(2500), vec![1000, 1000, 500]);

        assert_eq!(batch_client_token("wave-1", 0), "wave-1");
        assert_eq!(batch_client_token("wave-1", 2), "wave-1-2");
        let long = "x".repeat(CLIENT_TOKEN_MAX);
        assert_eq!(batch_client_token(&long, 0), long);
        let derived = batch_client_token(&long, 12);
        assert_eq!(derived.len(), CLIENT_TOKEN_MAX);
        assert!(derived.ends_with("x-12"), "{derived}");
    }

    #[test]
    fn names_a_few_ids() {
        let ids: Vec<String> = (1..=5).map(|i| format!("i-{i}")).collect();
        assert_eq!(ids_what("instance", &ids[..2]), "instance i-1, i-2");
        assert_eq!(
            ids_what("instance", &ids),
            "instance i-1, i-2, i-3 and 2 more"
        );
    }

    fn forward(arn: &str, weight: u32) -> Forward {
        Forward {
            target_group_arn: arn.to_string(),
            weight,
        }
    }

    #[test]
    fn forward_actions_round_trip() {
        let single = vec![forward("arn:a", 1)];
        let action = forward_action(&single);
        assert_eq!(action.target_group_arn(), Some("arn:a"));
        assert_eq!(forwards_of(&[action]), single);

        let weighted = vec![forward("arn:a", 90), forward("arn:b", 10)];
        let action = forward_action(&weighted);
        assert!(action.target_group_arn().is_none());
        assert_eq!(forwards_of(&[action]), weighted);
    }

    #[test]
    fn launch_template_data_encodes_user_data_and_profiles() {
        let mut spec = LaunchSpec {
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            user_data: Some("#!/bin/sh\necho hi\n".into()),
            instance_profile: Some("arn:aws:iam::1:instance-profile/web".into()),
            ..LaunchSpec::default()
        };
        spec.instance_tags
            .insert("reroll:stack".into(), "shop".into());
        let data = launch_template_data(&spec);
        assert_eq!(data.user_data(), Some("IyEvYmluL3NoCmVjaG8gaGkK"));
        let profile = data.iam_instance_profile().unwrap();
        assert_eq!(profile.arn(), Some("arn:aws:iam::1:instance-profile/web"));
        assert!(profile.name().is_none());
        assert_eq!(data.tag_specifications().len(), 2);

        spec.instance_profile = Some("web".into());
        let data = launch_template_data(&spec);
        assert_eq!(data.iam_instance_profile().unwrap().name(), Some("web"));
    }
}
