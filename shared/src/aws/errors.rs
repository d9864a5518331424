//! Classifies SDK errors into the ports' errors, keeping the SDK error as the source.

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

use crate::error::{StoreError, StreamError};

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "Throttled",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "SlowDown",
];

/// Where the failure came from, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Throttled,
    /// The request may succeed later (network, timeout, 5xx).
    Transient,
    /// The request itself is wrong or not allowed; retrying gives the same answer.
    Permanent,
}

pub fn classify<E, R>(error: &SdkError<E, R>) -> FailureKind
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                FailureKind::Throttled
            } else if code.ends_with("InternalServerError")
                || code == "InternalFailure"
                || code == "ServiceUnavailable"
                || code == "InternalError"
            {
                FailureKind::Transient
            } else {
                FailureKind::Permanent
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            FailureKind::Transient
        }
        _ => FailureKind::Permanent,
    }
}

pub fn store_error<E, R>(store: &'static str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = classify(&error);
    let source = Box::new(error);
    match kind {
        FailureKind::Throttled => StoreError::Throttled { store, source },
        FailureKind::Transient => StoreError::Unavailable { store, source },
        FailureKind::Permanent => StoreError::Rejected { store, source },
    }
}

pub fn stream_error<E, R>(stream: &str, error: SdkError<E, R>) -> StreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = classify(&error);
    let stream = stream.to_string();
    let source = Box::new(error);
    match kind {
        FailureKind::Throttled => StreamError::Throttled { stream, source },
        FailureKind::Transient => StreamError::Unavailable { stream, source },
        FailureKind::Permanent => StreamError::Rejected { stream, source },
    }
}
