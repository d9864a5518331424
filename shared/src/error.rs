//! Errors of the ports. Each knows whether retrying can help; none loses its source.

use std::error::Error as StdError;

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Whether an error is worth retrying: the runtime reports it as `Retryable` or `NonRetryable`,
/// and the pipelines decide between "report a batch item failure" and "dead-letter".
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream {stream} throttled the request")]
    Throttled {
        stream: String,
        #[source]
        source: BoxError,
    },
    #[error("stream {stream} is unavailable")]
    Unavailable {
        stream: String,
        #[source]
        source: BoxError,
    },
    #[error("stream {stream} rejected the request")]
    Rejected {
        stream: String,
        #[source]
        source: BoxError,
    },
}

impl Retryable for StreamError {
    fn is_retryable(&self) -> bool {
        !matches!(self, StreamError::Rejected { .. })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{store} throttled the request")]
    Throttled {
        store: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("{store} is unavailable")]
    Unavailable {
        store: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("{store} holds an item it cannot read: {reason}")]
    Corrupt { store: &'static str, reason: String },
    #[error("{store} rejected the request")]
    Rejected {
        store: &'static str,
        #[source]
        source: BoxError,
    },
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled { .. } | StoreError::Unavailable { .. }
        )
    }
}

/// How the email provider answered one send.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Sending rate exceeded: retry with backoff, then report the batch for a later retry.
    #[error("provider throttled the send")]
    Throttled {
        #[source]
        source: BoxError,
    },
    /// The provider is unreachable or failed internally: retry later.
    #[error("provider unavailable")]
    Unavailable {
        #[source]
        source: BoxError,
    },
    /// The tenant's workspace cannot send (tenant paused, configuration set or identity
    /// rejected, sending paused): every message of this tenant would fail the same way, so the
    /// batch is parked and the other tenants keep flowing.
    #[error("tenant workspace rejected the send: {reason}")]
    TenantRejected {
        reason: String,
        #[source]
        source: BoxError,
    },
    /// This one message can never be sent (bad address, rejected content).
    #[error("message rejected: {reason}")]
    MessageRejected {
        reason: String,
        #[source]
        source: BoxError,
    },
    /// The request may have reached the provider but its answer was lost (a timeout, a broken
    /// connection, an internal error): the message may have been sent. Never retried, because a
    /// send is not idempotent; the provider's event feedback confirms it later.
    #[error("send unconfirmed: {reason}")]
    Unconfirmed {
        reason: String,
        #[source]
        source: BoxError,
    },
}

impl Retryable for SendError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::Throttled { .. } | SendError::Unavailable { .. }
        )
    }
}

/// The error and every source beneath it, `: `-separated: for a log line or a reason kept with
/// a record, where the source chain would otherwise be lost.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error that carries only a message, for sources that are not errors themselves (a per-entry
/// error code in a 200 response, a fault injected by a test).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl Message {
    pub fn boxed(text: impl Into<String>) -> BoxError {
        Box::new(Message(text.into()))
    }
}
