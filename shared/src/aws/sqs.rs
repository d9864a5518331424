//! The batch sender every SQS queue adapter uses (the launch queue, the sync's unit queue):
//! SendMessageBatch in calls of [`MAX_MESSAGES_PER_SEND_BATCH`], failed entries sent again with
//! jittered backoff; and the visibility change of a received message.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;

use super::errors::store_error;
use crate::error::{Message, StoreError};
use crate::pipeline::publish::RetryPolicy;

/// The longest visibility timeout SQS takes (12 hours).
pub const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;

/// SendMessageBatch takes at most this many messages per call.
pub const MAX_MESSAGES_PER_SEND_BATCH: usize = 10;

/// Sends JSON messages to one queue: SendMessageBatch in calls of
/// [`MAX_MESSAGES_PER_SEND_BATCH`], the failed entries sent again with jittered backoff until
/// none is left; a sender fault (an entry SQS will never take) fails at once. Each queue's
/// adapter is one of these.
pub(crate) struct SqsBatchSender {
    client: Client,
    queue_url: String,
    store: &'static str,
    pub(crate) retry: RetryPolicy,
}

impl SqsBatchSender {
    pub(crate) fn new(client: Client, queue_url: impl Into<String>, store: &'static str) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            store,
            retry: RetryPolicy::default(),
        }
    }

    fn rejected(&self, error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Rejected {
            store: self.store,
            source: Box::new(error),
        }
    }

    /// ChangeMessageVisibility: the message received with `receipt_handle` becomes visible
    /// again `delay` from now (whole seconds, at most [`MAX_VISIBILITY_TIMEOUT_SECS`]). Only the
    /// launch queue backs off this way; the sync's units keep their queue's timeout.
    #[cfg(feature = "campaigns")]
    pub(crate) async fn change_visibility(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        let seconds = delay.as_secs().min(MAX_VISIBILITY_TIMEOUT_SECS) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| store_error(self.store, e))?;
        Ok(())
    }

    pub(crate) async fn send_all<T: Serialize>(&self, messages: &[T]) -> Result<(), StoreError> {
        for group in messages.chunks(MAX_MESSAGES_PER_SEND_BATCH) {
            self.send_group(group).await?;
        }
        Ok(())
    }

    /// One group of at most ten messages, failed entries retried until none is left.
    async fn send_group<T: Serialize>(&self, group: &[T]) -> Result<(), StoreError> {
        let mut pending: Vec<(String, String)> = group
            .iter()
            .enumerate()
            .map(|(position, message)| {
                serde_json::to_string(message)
                    .map(|body| (position.to_string(), body))
                    .map_err(|e| self.rejected(e))
            })
            .collect::<Result<_, _>>()?;
        let mut attempt = 0;
        loop {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                        .map_err(|e| self.rejected(e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| store_error(self.store, e))?;
            let failed = output.failed();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(fault) = failed.iter().find(|f| f.sender_fault()) {
                return Err(StoreError::Rejected {
                    store: self.store,
                    source: Message::boxed(format!(
                        "{}: {}",
                        fault.code(),
                        fault.message().unwrap_or_default()
                    )),
                });
            }
            attempt += 1;
            if attempt >= self.retry.max_attempts {
                return Err(StoreError::Unavailable {
                    store: self.store,
                    source: Message::boxed(format!(
                        "{} messages not queued after {attempt} attempts: {}",
                        failed.len(),
                        failed[0].code()
                    )),
                });
            }
            pending.retain(|(id, _)| failed.iter().any(|f| f.id() == id));
            tokio::time::sleep(self.retry.backoff(attempt)).await;
        }
    }
}
