//! Score sync: the retailer's scoring export (S3, see [`export`]) into the scores table.
//!
//! A run has two steps, each its own invocation:
//!
//! 1. [`ScoreSync::plan`] (per retailer, on a schedule or an S3 notification): every export with
//!    a manifest and no run record is split into units (an uncompressed file into byte ranges
//!    of at most [`UNIT_BYTES`], each owning the lines that start in it; a gzip file whole) and
//!    the units are queued ([`SyncUnitQueue`]); then its run record is written, so the next
//!    plan leaves it alone.
//! 2. [`ScoreSync::process`] (one queue message): the unit's rows are streamed in groups of
//!    [`GROUP_KEYS`], each group's stored items read in one `ScoreStore::get`, compared column
//!    by column, and only what changed written, conditionally. The unit's report goes to the
//!    run record, under the unit's own key.
//!
//! The queue delivers at least once: a unit processed twice writes nothing new (every write is
//! conditional on the stored value being older) and overwrites its report.

pub mod export;
pub mod ports;
pub mod report;
pub mod rows;
#[cfg(any(test, feature = "testing"))]
pub mod simulation;

mod plan;
mod unit;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use export::{Compression, ExportFile, ExportFormat, ExportManifest, InvalidManifest};
pub use plan::PlanSummary;
pub use ports::{ExportStore, SyncUnitQueue};
pub use report::{
    RejectedSample, Rejections, RunRecord, RunSummary, SyncCounts, SyncUnit, UnitReport,
};
pub use rows::{MAX_CLOCK_SKEW_SECONDS, RejectReason};

use crate::availability::{AvailabilityConfig, ConfigStore, ScoreStore};
use crate::clock::Clock;
use crate::domain::{ExportId, TenantId};
use crate::error::{Retryable, StoreError};

/// An uncompressed file is split into units of at most this many bytes: at the sync's pace a
/// unit takes a few minutes of one invocation, far inside Lambda's 15.
pub const UNIT_BYTES: u64 = 64 * 1024 * 1024;
/// Rows are compared and written in groups of this many: one BatchGetItem's worth of keys.
pub const GROUP_KEYS: usize = 100;
/// The stores seen by a unit are recorded whenever this many are waiting, and at its end.
pub const STORES_PER_RECORD: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The exports bucket, the scores or configuration table, or the queue failed: retried when
    /// the store's error is.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("retailer {tenant} has no availability configuration")]
    NotConfigured { tenant: TenantId },
    /// The unit's file could not be read or decompressed past some point. Its report (what it
    /// did before, and why it stopped) is written; retrying would fail the same way.
    #[error("unit {} of export {} stopped: {}", report.unit, report.export_id,
        report.failure.as_deref().unwrap_or_default())]
    UnreadableFile { report: Box<UnitReport> },
}

impl Retryable for SyncError {
    fn is_retryable(&self) -> bool {
        match self {
            SyncError::Store(error) => error.is_retryable(),
            SyncError::NotConfigured { .. } | SyncError::UnreadableFile { .. } => false,
        }
    }
}

/// What the sync reads and writes.
#[derive(Clone)]
pub struct SyncPorts {
    pub exports: Arc<dyn ExportStore>,
    pub scores: Arc<dyn ScoreStore>,
    pub configs: Arc<dyn ConfigStore>,
    pub queue: Arc<dyn SyncUnitQueue>,
    pub clock: Arc<dyn Clock>,
}

pub struct ScoreSync {
    ports: SyncPorts,
    unit_bytes: u64,
}

impl ScoreSync {
    pub fn new(ports: SyncPorts) -> Self {
        Self {
            ports,
            unit_bytes: UNIT_BYTES,
        }
    }

    /// Splits uncompressed files into units of `unit_bytes` instead of [`UNIT_BYTES`].
    pub fn with_unit_bytes(mut self, unit_bytes: u64) -> Self {
        self.unit_bytes = unit_bytes.max(1);
        self
    }

    /// The run of `export` as its units reported it so far; `None` before it is planned.
    pub async fn summary(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<RunSummary>, SyncError> {
        let Some(run) = self.ports.exports.run(tenant, export).await? else {
            return Ok(None);
        };
        let reports = self.ports.exports.unit_reports(tenant, export).await?;
        Ok(Some(RunSummary::of(&run, &reports)))
    }

    async fn config(&self, tenant: &TenantId) -> Result<AvailabilityConfig, SyncError> {
        match self.ports.configs.current(tenant).await? {
            Some(revision) => Ok(revision.config),
            None => Err(SyncError::NotConfigured {
                tenant: tenant.clone(),
            }),
        }
    }
}
