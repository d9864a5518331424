//! Parked batches counted per campaign, so `stats` reads a few counters instead of listing the
//! archive: a batch is counted when it is parked and uncounted when a redrive removes it,
//! exactly once each however often either is retried.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{CampaignId, SendBatch, TenantId};
use crate::error::{Retryable, StoreError};
use crate::pipeline::archive::{Archive, DeadLetter, DeferredBatch, ParkedBatch};

/// What a campaign has parked: batches and their recipients.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParkedTally {
    pub batches: u64,
    pub recipients: u64,
}

/// Counts of parked batches, one count per parked object: a batch id and its park generation
/// (`SendBatch::redrive`). A batch id names its recipients (it is derived from their message
/// ids), so a batch parked twice in one generation (a redelivered record) is the same park:
/// counting it again changes nothing, and uncounting a park not counted changes nothing. A
/// batch parked again after a redrive is one generation on: a new count, which the redrive's
/// uncount of the generation it read leaves alone.
#[async_trait]
pub trait ParkedCounts: Send + Sync {
    /// Counts a parked batch, once.
    async fn count_parked(&self, batch: &SendBatch) -> Result<(), StoreError>;
    /// Stops counting a batch the redrive put back, once.
    async fn uncount_parked(&self, batch: &SendBatch) -> Result<(), StoreError>;
    async fn campaign_parked(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<ParkedTally, StoreError>;
}

/// Attempts at a count (each after [`COUNT_BACKOFF`] times the attempt) before the park or the
/// redrive reports the error: two counts on one counter item at once conflict.
pub const COUNT_ATTEMPTS: u32 = 3;
pub const COUNT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// An archive whose parked batches are counted: the object is kept first, then counted; on a
/// redrive the batch is uncounted first, then removed. Either way a batch can be parked and not
/// counted for a while (a failure between the two steps), never counted without being parked:
/// a failed park is retried by the stream and counted then, an object left after its uncount is
/// put back again by the next redrive, which finds nothing left to uncount.
pub struct CountedArchive {
    archive: Arc<dyn Archive>,
    counts: Arc<dyn ParkedCounts>,
}

impl CountedArchive {
    pub fn new(archive: Arc<dyn Archive>, counts: Arc<dyn ParkedCounts>) -> Self {
        Self { archive, counts }
    }
}

async fn with_retries<'a, F, Fut>(count: F) -> Result<(), StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>> + 'a,
{
    let mut attempt = 1;
    loop {
        match count().await {
            Err(error) if error.is_retryable() && attempt < COUNT_ATTEMPTS => {
                tokio::time::sleep(COUNT_BACKOFF * attempt).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[async_trait]
impl Archive for CountedArchive {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError> {
        self.archive.park(parked).await?;
        with_retries(|| self.counts.count_parked(&parked.batch)).await
    }

    async fn unpark(&self, key: &str, parked: &ParkedBatch) -> Result<(), StoreError> {
        with_retries(|| self.counts.uncount_parked(&parked.batch)).await?;
        self.archive.remove_parked(key).await
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.archive.dead_letter(letter).await
    }

    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        self.archive.parked(tenant, campaign).await
    }

    async fn parked_page(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        self.archive
            .parked_page(tenant, campaign, after, limit)
            .await
    }

    async fn remove_parked(&self, key: &str) -> Result<(), StoreError> {
        self.archive.remove_parked(key).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.archive.dead_letters().await
    }

    async fn defer(&self, deferred: &DeferredBatch) -> Result<(), StoreError> {
        self.archive.defer(deferred).await
    }

    async fn due_deferred(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, DeferredBatch)>, StoreError> {
        self.archive.due_deferred(now, limit).await
    }
}

#[cfg(test)]
#[path = "parked_tests.rs"]
mod tests;
