//! The sync's unit queue on SQS: one message per unit (JSON), SendMessageBatch in calls of
//! [`MAX_MESSAGES_PER_SEND_BATCH`], the failed entries sent again with jittered backoff, as the
//! launch queue does (`aws::sqs`).

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::errors::store_error;
use crate::availability::sync::{SyncUnit, SyncUnitQueue};
use crate::error::{Message, StoreError};
use crate::pipeline::publish::RetryPolicy;

/// SendMessageBatch takes at most this many messages per call.
pub const MAX_MESSAGES_PER_SEND_BATCH: usize = 10;
const STORE: &str = "sync unit queue";

pub struct SqsSyncUnitQueue {
    client: Client,
    queue_url: String,
    retry: RetryPolicy,
}

fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        store: STORE,
        source: Box::new(error),
    }
}

impl SqsSyncUnitQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// One group of at most ten units, the failed entries sent again until none is left. A
    /// sender fault (an entry SQS will never take) fails at once.
    async fn send_group(&self, group: &[SyncUnit]) -> Result<(), StoreError> {
        let mut pending: Vec<(String, String)> = group
            .iter()
            .enumerate()
            .map(|(position, unit)| {
                let body = serde_json::to_string(unit).map_err(rejected)?;
                Ok((position.to_string(), body))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut attempt = 0;
        loop {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                        .map_err(rejected)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| store_error(STORE, e))?;
            let failed = output.failed();
            if failed.is_empty() {
                return Ok(());
            }
            if let Some(fault) = failed.iter().find(|f| f.sender_fault()) {
                return Err(StoreError::Rejected {
                    store: STORE,
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
                    store: STORE,
                    source: Message::boxed(format!(
                        "{} units not queued after {attempt} attempts: {}",
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

#[async_trait]
impl SyncUnitQueue for SqsSyncUnitQueue {
    async fn send(&self, units: &[SyncUnit]) -> Result<(), StoreError> {
        for group in units.chunks(MAX_MESSAGES_PER_SEND_BATCH) {
            self.send_group(group).await?;
        }
        Ok(())
    }
}

/// The local endpoint never fails single entries; a request-level mock does.
#[cfg(test)]
#[path = "sync_units_tests.rs"]
mod tests;
