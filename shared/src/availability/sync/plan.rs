//! Planning a retailer's pending exports into queued units.

use std::collections::HashSet;

use serde::Serialize;

use super::export::{Compression, ExportManifest};
use super::report::{RunRecord, SyncUnit};
use super::{ScoreSync, SyncError};
use crate::domain::{ExportId, TenantId};
use crate::error::Retryable;
use crate::ranged_lines::plan_ranges;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Exports planned now, with their number of units.
    pub planned: Vec<(ExportId, usize)>,
    /// Exports whose manifest was refused now (their run record says why).
    pub refused: Vec<(ExportId, String)>,
    /// Exports left alone: they have a run record.
    pub already_planned: usize,
    pub units_queued: usize,
}

impl ScoreSync {
    /// Plans every export of `tenant` that has a manifest and no run record. Units are queued
    /// before the run record is written: a plan that fails between the two plans the export
    /// again next time and queues its units twice, which processing tolerates; the other order
    /// could lose them.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn plan(&self, tenant: &TenantId) -> Result<PlanSummary, SyncError> {
        self.config(tenant).await?;
        let exports = &self.ports.exports;
        let planned: HashSet<ExportId> = exports.runs(tenant).await?.into_iter().collect();
        let mut pending = exports.exports(tenant).await?;
        pending.sort();
        let mut summary = PlanSummary::default();
        for export in pending {
            if planned.contains(&export) {
                summary.already_planned += 1;
                continue;
            }
            let Some(bytes) = exports.manifest(tenant, &export).await? else {
                continue;
            };
            let mut run = RunRecord {
                tenant_id: tenant.clone(),
                export_id: export.clone(),
                planned_at: self.ports.clock.now(),
                units: Vec::new(),
                refused: None,
            };
            match ExportManifest::parse(tenant, &export, &bytes) {
                Ok(manifest) => {
                    run.units = self.units(&manifest).await?;
                    self.ports.queue.send(&run.units).await?;
                    summary.units_queued += run.units.len();
                    summary.planned.push((export, run.units.len()));
                }
                Err(invalid) => {
                    tracing::warn!(export_id = %export, %invalid, "export refused");
                    run.refused = Some(invalid.to_string());
                    summary.refused.push((export, invalid.to_string()));
                }
            }
            exports.put_run(&run).await?;
        }
        tracing::info!(?summary, "planned");
        Ok(summary)
    }

    /// The export's units, numbered from 0. The object's own size is planned, not the
    /// manifest's; a file that cannot be found is still one unit, which fails and says so.
    async fn units(&self, manifest: &ExportManifest) -> Result<Vec<SyncUnit>, SyncError> {
        let mut units = Vec::new();
        for file in &manifest.files {
            let size = match self.ports.exports.object_size(&file.key).await {
                Ok(size) => size,
                Err(error) if error.is_retryable() => return Err(error.into()),
                Err(error) => {
                    tracing::warn!(key = %file.key, %error, "export file unreadable");
                    file.size.max(1)
                }
            };
            let ranges = match manifest.compression {
                Compression::None => plan_ranges(size, self.unit_bytes),
                Compression::Gzip if size > 0 => std::iter::once(0..size).collect(),
                Compression::Gzip => Vec::new(),
            };
            for range in ranges {
                units.push(SyncUnit {
                    tenant_id: manifest.tenant_id.clone(),
                    export_id: manifest.export_id.clone(),
                    index: units.len() as u32,
                    key: file.key.clone(),
                    start: range.start,
                    end: range.end,
                    format: manifest.format,
                    compression: manifest.compression,
                });
            }
        }
        Ok(units)
    }
}
