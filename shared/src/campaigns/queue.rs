//! The launch queue: one message per chunk, so each chunk is its own invocation and is retried
//! alone. The SQS adapter is `crate::aws::sqs`.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::store::LaunchKey;
use crate::error::StoreError;

/// The body of one launch queue message (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMessage {
    #[serde(flatten)]
    pub launch: LaunchKey,
    pub index: u32,
    pub start: u64,
    pub end: u64,
}

#[async_trait]
pub trait ChunkQueue: Send + Sync {
    /// Queues every message or answers an error; a message may be queued twice (a retried call),
    /// which the worker tolerates (a done chunk is skipped, a re-run emits the same events).
    async fn enqueue(&self, messages: &[ChunkMessage]) -> Result<(), StoreError>;
    /// Makes a received message visible again `delay` from now instead of after the queue's
    /// visibility timeout (SQS: ChangeMessageVisibility with the receive's handle).
    async fn retry_after(&self, receipt_handle: &str, delay: Duration) -> Result<(), StoreError>;
}

/// When a chunk that failed and may be retried runs again: a delay that doubles with each
/// receive, from `first` up to `max`, with half of it random ("equal jitter", so chunks that
/// failed together spread out, and none comes back at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRetry {
    pub first: Duration,
    pub max: Duration,
}

impl Default for ChunkRetry {
    /// 1 to 2 minutes after the first receive, then 2 to 4, 4 to 8 and 8 to 16: the four
    /// retries of the queue's five receives span 15 to 30 minutes.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(120),
            max: Duration::from_secs(1800),
        }
    }
}

impl ChunkRetry {
    /// The delay after the `receive_count`-th receive failed (1 for the first).
    pub fn delay(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(16);
        let bound = self
            .first
            .saturating_mul(2u32.pow(doublings))
            .min(self.max)
            .as_millis() as u64;
        Duration::from_millis(bound / 2 + crate::random::up_to(bound / 2))
    }
}
