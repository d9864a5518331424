//! The sync's ports: the exports bucket (the warehouse's unloads, read by byte range, and the
//! sync's run records beside them) and the queue of units. AWS adapters:
//! `aws::score_exports`, `aws::sync_units`; in-memory: `testing::score_exports`,
//! `testing::sync_units`. Every key is built by [`super::export::keys`], so both adapters lay
//! the bucket out the same way.

use async_trait::async_trait;

use super::report::{RunRecord, SyncUnit, UnitReport};
use crate::domain::{ExportId, TenantId};
use crate::error::StoreError;

#[async_trait]
pub trait ExportStore: Send + Sync {
    /// The exports of `tenant` that have a manifest (`availability/exports/<tenant>/*/manifest.json`).
    async fn exports(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError>;
    /// The manifest's bytes; `None` when there is none (yet).
    async fn manifest(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    async fn object_size(&self, key: &str) -> Result<u64, StoreError>;
    /// The bytes from `start` up to `end_exclusive` (cut at the end of the object).
    async fn read_range(
        &self,
        key: &str,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError>;

    /// The exports of `tenant` that have a run record.
    async fn runs(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError>;
    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    async fn run(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<RunRecord>, StoreError>;
    /// Writes (or overwrites) the report of `report.unit`.
    async fn put_unit_report(&self, report: &UnitReport) -> Result<(), StoreError>;
    async fn unit_reports(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Vec<UnitReport>, StoreError>;
}

/// The queue `score-sync` works from: one message per unit, so each unit is its own invocation
/// and is retried alone.
#[async_trait]
pub trait SyncUnitQueue: Send + Sync {
    /// Queues every unit or answers an error; a unit may be queued twice (a retried call),
    /// which processing tolerates.
    async fn send(&self, units: &[SyncUnit]) -> Result<(), StoreError>;
}
