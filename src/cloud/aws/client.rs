//! Connecting to one region: [`ConnectOptions`], [`AwsCloud`] and its service clients (each
//! with a [`CallCounter`]), the test credentials a local endpoint gets when none are
//! configured, and the two ways every request is sent: [`AwsCloud::call`] (one request, or all
//! pages of one with [`all_items!`]) and [`AwsCloud::in_batches`].

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling as asg;
use aws_sdk_cloudwatch as cw;
use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_iam as iam;
use aws_sdk_s3 as s3;
use aws_sdk_servicequotas as quotas;
use aws_sdk_sts as sts;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{cloud_error, error_chain, HttpStatus};
use super::intercept::CallCounter;
use crate::cloud::stats::Stats;
use crate::cloud::{CloudError, CloudResult, RetryPolicy};

/// Static credentials used against a local emulator when none are configured.
const EMULATOR_KEY: &str = "test";

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

/// [`Cloud`](crate::cloud::Cloud) on a real AWS account (or anything that speaks its APIs),
/// one region.
#[derive(Debug, Clone)]
pub struct AwsCloud {
    pub(super) sdk: SdkConfig,
    pub(super) region: String,
    pub(super) endpoint_url: Option<String>,
    pub(super) stats: Stats,
    pub(super) ec2: ec2::Client,
    pub(super) asg: asg::Client,
    pub(super) elb: elb::Client,
    pub(super) cw: cw::Client,
    pub(super) s3: s3::Client,
    pub(super) sts: sts::Client,
    pub(super) iam: iam::Client,
    pub(super) quotas: quotas::Client,
    /// Set once the endpoint answered that it does not implement DescribeInstanceRefreshes,
    /// so that later observations do not ask again.
    pub(super) refreshes_unsupported: Arc<AtomicBool>,
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
        let s3 = s3_client(&sdk, &stats, None);
        let sts = sts::Client::from_conf(
            sts::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("STS", &stats))
                .build(),
        );
        let iam = iam::Client::from_conf(
            iam::config::Builder::from(&sdk)
                .interceptor(CallCounter::new("IAM", &stats))
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
            iam,
            quotas,
            refreshes_unsupported: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Awaits one request (or all pages of one) and maps its error to a [`CloudError`].
    /// `what` names the subject of a not-found error.
    pub(super) async fn call<T, E, R>(
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
    pub(super) fn error<E, R>(
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

    /// Sends `request` once per batch of at most `size` of `items`, in order, and returns the
    /// outputs; stops at the first error. An empty `items` sends nothing.
    pub(super) async fn in_batches<I, F, Fut, T, E, R>(
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

/// An S3 client on `sdk`'s credentials and endpoint, in `region` (default: `sdk`'s). Against
/// an endpoint override (a local emulator) requests are path-style
/// (`http://host:port/bucket/key`): an emulator has no DNS for `bucket.host`.
pub(super) fn s3_client(sdk: &SdkConfig, stats: &Stats, region: Option<&str>) -> s3::Client {
    let mut config = s3::config::Builder::from(sdk).interceptor(CallCounter::new("S3", stats));
    if let Some(region) = region {
        config = config.region(Region::new(region.to_string()));
    }
    if sdk.endpoint_url().is_some() {
        config = config.force_path_style(true);
    }
    s3::Client::from_conf(config.build())
}

/// Every item of every page of a paginated request (a future of `Result<Vec<Item>, SdkError>`).
macro_rules! all_items {
    ($request:expr) => {
        $request.into_paginator().items().send().try_collect()
    };
}
pub(super) use all_items;
