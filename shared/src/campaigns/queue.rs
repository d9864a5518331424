//! The launch queue: one message per chunk, so each chunk is its own invocation and is retried
//! alone. The SQS adapter is `crate::aws::sqs`.

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
}
