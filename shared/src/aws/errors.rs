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

/// DynamoDB's answers when another transaction held an item this request needed: nothing was
/// written, and the same request can succeed a moment later.
const TRANSACTION_CONFLICT_CODES: &[&str] = &[
    "TransactionConflictException",
    "TransactionInProgressException",
];
/// A cancelled transaction lists one reason per item in its message
/// (`... cancellation reasons for specific reasons [None, TransactionConflict]`); the error's
/// code alone does not tell a lost race on an item from a failed condition.
const TRANSACTION_CANCELLED: &str = "TransactionCanceledException";

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
            } else if code == TRANSACTION_CANCELLED {
                cancelled_transaction(service.err().message().unwrap_or_default())
            } else if TRANSACTION_CONFLICT_CODES.contains(&code)
                || code.ends_with("InternalServerError")
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

/// A transaction cancelled because another one held an item, or for throughput, may be sent
/// again; one cancelled by a condition or a validation may not.
fn cancelled_transaction(message: &str) -> FailureKind {
    let reasons = message
        .rsplit_once('[')
        .map_or("", |(_, reasons)| reasons.trim_end_matches(']'));
    let mut kind = FailureKind::Permanent;
    for reason in reasons.split(',').map(str::trim) {
        match reason {
            "None" | "" => {}
            "TransactionConflict" => kind = FailureKind::Transient,
            "ThrottlingError" | "ProvisionedThroughputExceeded" => {
                if kind == FailureKind::Permanent {
                    kind = FailureKind::Throttled;
                }
            }
            // One failed condition or invalid item makes the whole request wrong.
            _ => return FailureKind::Permanent,
        }
    }
    kind
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

#[cfg(all(test, feature = "dynamodb"))]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::error::{
        TransactionCanceledException, TransactionConflictException,
    };

    use super::*;

    fn cancelled(reasons: &str) -> SdkError<TransactWriteItemsError, ()> {
        let message = format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{reasons}]"
        );
        let error = TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message(&message)
                .meta(
                    ErrorMetadata::builder()
                        .code(TRANSACTION_CANCELLED)
                        .message(message)
                        .build(),
                )
                .build(),
        );
        SdkError::service_error(error, ())
    }

    #[test]
    fn a_transaction_that_lost_a_race_is_worth_sending_again() {
        assert_eq!(
            classify(&cancelled("None, TransactionConflict")),
            FailureKind::Transient
        );
        let conflict = PutItemError::TransactionConflictException(
            TransactionConflictException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("TransactionConflictException")
                        .build(),
                )
                .build(),
        );
        let conflict: SdkError<_, ()> = SdkError::service_error(conflict, ());
        assert_eq!(classify(&conflict), FailureKind::Transient);
        assert!(matches!(
            store_error("campaigns", cancelled("TransactionConflict, None")),
            StoreError::Unavailable { .. }
        ));
    }

    #[test]
    fn a_transaction_cancelled_for_throughput_is_throttled() {
        assert_eq!(
            classify(&cancelled("ThrottlingError, None")),
            FailureKind::Throttled
        );
    }

    #[test]
    fn a_transaction_cancelled_by_a_condition_or_a_bad_item_is_not_retried() {
        assert_eq!(
            classify(&cancelled("ConditionalCheckFailed, TransactionConflict")),
            FailureKind::Permanent
        );
        assert_eq!(
            classify(&cancelled("None, ValidationError")),
            FailureKind::Permanent
        );
    }
}
