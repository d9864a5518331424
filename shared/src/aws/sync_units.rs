//! The sync's unit queue on SQS: one JSON message per unit, sent by the batch sender every
//! queue adapter uses (`aws::sqs`).

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use super::sqs::SqsBatchSender;
use crate::availability::sync::{SyncUnit, SyncUnitQueue};
use crate::error::StoreError;
use crate::pipeline::publish::RetryPolicy;

const STORE: &str = "sync unit queue";

pub struct SqsSyncUnitQueue {
    sender: SqsBatchSender,
}

impl SqsSyncUnitQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            sender: SqsBatchSender::new(client, queue_url, STORE),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.sender.retry = retry;
        self
    }
}

#[async_trait]
impl SyncUnitQueue for SqsSyncUnitQueue {
    async fn send(&self, units: &[SyncUnit]) -> Result<(), StoreError> {
        self.sender.send_all(units).await
    }
}

/// The local endpoint never fails single entries; a request-level mock does.
#[cfg(test)]
#[path = "sync_units_tests.rs"]
mod tests;
