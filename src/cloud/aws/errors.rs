//! The one mapping from SDK errors to [`CloudError`] ([`cloud_error`]): a service error is
//! sorted by its code (and HTTP status) into a variant that keeps code and message, a
//! connection that failed is [`CloudError::Unreachable`]. Also what is read from a raw SDK
//! error before or instead of mapping it: whether the endpoint implements the operation at
//! all, and whether an attempt was throttled.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind;

use crate::cloud::CloudError;

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
        || code == "NoSuchEntity"
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
pub(super) trait HttpStatus {
    fn status_code(&self) -> Option<u16>;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// The one mapping from SDK errors to [`CloudError`].
pub(super) fn cloud_error<E, R>(
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
pub(super) fn error_code(err: &CloudError) -> Option<&str> {
    err.code()
}

/// True when an answer says the endpoint does not implement the operation: one of the codes
/// for that, HTTP 501, or an HTTP 500 whose body is not an AWS error at all (no code; the
/// emulator's answer to an action it lacks). AWS's own internal errors carry a code.
pub(super) fn not_implemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
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

/// An error and its sources, `outer: inner: root cause`, without repeats.
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
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

/// True when the attempt failed for request rate: HTTP 429, or an error the client's own retry
/// classifiers (which know each operation's error type) call a throttling error.
pub(super) fn is_throttled(
    ctx: &InterceptorContext,
    runtime_components: &RuntimeComponents,
) -> bool {
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
}
