//! The launch queue: one message per chunk, so each chunk is its own invocation and is retried
//! alone. The SQS adapter is `crate::aws::sqs`.

use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::store::LaunchKey;
use crate::error::{Message, StoreError};

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

#[derive(Default)]
struct QueueState {
    messages: Vec<ChunkMessage>,
    unavailable: bool,
}

/// Keeps queued messages until a test takes them.
#[derive(Default)]
pub struct MemoryChunkQueue {
    state: Mutex<QueueState>,
}

impl MemoryChunkQueue {
    pub fn take(&self) -> Vec<ChunkMessage> {
        std::mem::take(&mut self.lock().messages)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ChunkQueue for MemoryChunkQueue {
    async fn enqueue(&self, messages: &[ChunkMessage]) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "launch queue",
                source: Message::boxed("injected outage"),
            });
        }
        state.messages.extend_from_slice(messages);
        Ok(())
    }
}
