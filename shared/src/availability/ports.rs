//! The availability ports. Every call names the retailer: no adapter can read or write another
//! retailer's scores or configuration. Each has an AWS adapter (`aws::dynamodb::availability`,
//! `aws::scoring`) and an in-memory one (`testing::availability`).

use std::collections::HashMap;

use async_trait::async_trait;

use super::config::{AvailabilityConfig, ChangeNote, ConfigRevision};
use super::scores::{ItemScores, ScoreKey, ScoreWrite, WriteOutcome};
use crate::domain::{ScoreColumn, StoreId, TenantId};
use crate::error::{BoxError, Retryable, StoreError};

/// The scores table.
#[async_trait]
pub trait ScoreStore: Send + Sync {
    /// The stored scores of `keys` (any number; adapters split into requests of their
    /// service's size). Keys with no stored item are missing from the answer.
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
    ) -> Result<HashMap<ScoreKey, ItemScores>, StoreError>;

    /// Applies each write if the stored value of its column was computed earlier or is
    /// missing, leaving the item's other columns untouched. One outcome per write, in order.
    async fn write(
        &self,
        tenant: &TenantId,
        writes: &[ScoreWrite],
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// Records that the retailer has these stores (`score-sync` does, for the stores of the
    /// rows it wrote or found unchanged), so a lookup can tell an unknown store from one whose
    /// items are unscored.
    async fn record_stores(&self, tenant: &TenantId, stores: &[StoreId]) -> Result<(), StoreError>;

    async fn store_known(&self, tenant: &TenantId, store: &StoreId) -> Result<bool, StoreError>;
}

/// The versioned configuration.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// The newest revision; `None` while the retailer has no configuration.
    async fn current(&self, tenant: &TenantId) -> Result<Option<ConfigRevision>, StoreError>;
    async fn revision(
        &self,
        tenant: &TenantId,
        version: u64,
    ) -> Result<Option<ConfigRevision>, StoreError>;
    /// The newest `limit` revisions, newest first.
    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError>;
    /// Stores `config` as version `expected + 1` (1 when `expected` is `None`) if no such
    /// version exists yet. Answers `None`, writing nothing, when another change came first.
    async fn save(
        &self,
        tenant: &TenantId,
        config: &AvailabilityConfig,
        change: &ChangeNote,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The service did not answer in time, answered 5xx or 429, or the breaker is open.
    #[error("the scoring service is unavailable")]
    Unavailable {
        #[source]
        source: BoxError,
    },
    /// The service refused the request or answered what cannot be read.
    #[error("the scoring service refused the request: {reason}")]
    Refused { reason: String },
}

impl Retryable for SourceError {
    fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Unavailable { .. })
    }
}

/// The real-time scoring service: fresh scores of some items for some columns' models.
#[async_trait]
pub trait ScoreSource: Send + Sync {
    /// One write per (key, column) the service scored; items it does not know are left out.
    async fn fresh(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
        columns: &[ScoreColumn],
    ) -> Result<Vec<ScoreWrite>, SourceError>;
}
