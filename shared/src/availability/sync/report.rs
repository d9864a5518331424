//! What a sync did: one report per unit (written to the run record, overwritten when the unit is
//! processed again), the run's plan, and the summary of a run aggregated from its units.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::export::{Compression, ExportFormat};
use super::rows::RejectReason;
use crate::domain::{ExportId, TenantId};

/// A unit's report keeps at most this many refused rows as samples, and so does a summary.
pub const MAX_REJECTED_SAMPLES: usize = 20;
/// A sample keeps at most this many characters of its line.
pub const MAX_EXCERPT_CHARS: usize = 160;

/// One piece of work: a byte range of an uncompressed file, or a whole gzip file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncUnit {
    pub tenant_id: TenantId,
    pub export_id: ExportId,
    /// The unit's number within its run: its report's name.
    pub index: u32,
    pub key: String,
    pub start: u64,
    pub end: u64,
    pub format: ExportFormat,
    pub compression: Compression,
}

/// The run record: written once the export's units are queued, so an export with one is
/// synced (or refused) and the next plan leaves it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tenant_id: TenantId,
    pub export_id: ExportId,
    #[serde(with = "time::serde::rfc3339")]
    pub planned_at: OffsetDateTime,
    pub units: Vec<SyncUnit>,
    /// Why the export was not synced at all (its manifest could not be read or was invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Refused rows and values, counted by reason, with the first few as samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rejections {
    pub counts: BTreeMap<RejectReason, u64>,
    pub samples: Vec<RejectedSample>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedSample {
    /// The line's number, 1-based, within its unit (within the file for a unit that starts at
    /// byte 0, and for every gzip unit).
    pub line: u64,
    /// The line's first byte in the (decompressed) file.
    pub offset: u64,
    pub reason: RejectReason,
    pub excerpt: String,
}

impl Rejections {
    pub fn add(&mut self, reason: RejectReason, line: u64, offset: u64, text: &[u8]) {
        *self.counts.entry(reason).or_default() += 1;
        if self.samples.len() < MAX_REJECTED_SAMPLES {
            self.samples.push(RejectedSample {
                line,
                offset,
                reason,
                excerpt: excerpt(text),
            });
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    fn merge(&mut self, other: &Rejections) {
        for (reason, count) in &other.counts {
            *self.counts.entry(*reason).or_default() += count;
        }
        let room = MAX_REJECTED_SAMPLES.saturating_sub(self.samples.len());
        self.samples
            .extend(other.samples.iter().take(room).cloned());
    }
}

fn excerpt(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// What processing one unit did. Counts are per row, except `written`, `unchanged`, `stale`
/// and the value reasons of `rejected` (`unknown_model`, `not_a_number`, `out_of_range`), which
/// are per value (one row holds one value per model).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncCounts {
    /// Non-empty lines read (the CSV header is not one).
    pub read: u64,
    /// Values equal to the stored ones (same score, stored as recent or more).
    pub unchanged: u64,
    /// Values written.
    pub written: u64,
    /// Values older than the stored ones (found so before the write, or answered so by the
    /// conditional write).
    pub stale: u64,
    /// Values of models that are configured but not synced.
    pub not_synced: u64,
    pub rejected: Rejections,
    /// Bytes fetched from the object (compressed bytes for gzip).
    pub bytes: u64,
}

impl SyncCounts {
    fn add(&mut self, other: &SyncCounts) {
        self.read += other.read;
        self.unchanged += other.unchanged;
        self.written += other.written;
        self.stale += other.stale;
        self.not_synced += other.not_synced;
        self.bytes += other.bytes;
        self.rejected.merge(&other.rejected);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitReport {
    pub tenant_id: TenantId,
    pub export_id: ExportId,
    pub unit: u32,
    pub key: String,
    pub start: u64,
    pub end: u64,
    #[serde(flatten)]
    pub counts: SyncCounts,
    pub duration_ms: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Why the unit stopped before its end (its file could not be read or decompressed). What
    /// it wrote before stays written; retrying would fail the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A run as its units reported it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub tenant_id: TenantId,
    pub export_id: ExportId,
    #[serde(with = "time::serde::rfc3339")]
    pub planned_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    pub units_planned: usize,
    pub units_reported: usize,
    /// Units that stopped on their file (see [`UnitReport::failure`]), with their reasons.
    pub units_failed: Vec<(u32, String)>,
    #[serde(flatten)]
    pub counts: SyncCounts,
    /// The slowest unit's duration.
    pub max_unit_duration_ms: u64,
}

impl RunSummary {
    /// Every planned unit has reported.
    pub fn is_complete(&self) -> bool {
        self.units_reported >= self.units_planned
    }

    /// Aggregates the reports of the run's planned units (a report of a unit the plan does not
    /// name is ignored; each unit has one report, however often it ran).
    pub fn of(run: &RunRecord, reports: &[UnitReport]) -> Self {
        let mut summary = RunSummary {
            tenant_id: run.tenant_id.clone(),
            export_id: run.export_id.clone(),
            planned_at: run.planned_at,
            refused: run.refused.clone(),
            units_planned: run.units.len(),
            units_reported: 0,
            units_failed: Vec::new(),
            counts: SyncCounts::default(),
            max_unit_duration_ms: 0,
        };
        let mut seen = std::collections::HashSet::new();
        for report in reports {
            let planned = run.units.iter().any(|u| u.index == report.unit);
            if !planned || !seen.insert(report.unit) {
                continue;
            }
            summary.units_reported += 1;
            summary.counts.add(&report.counts);
            summary.max_unit_duration_ms = summary.max_unit_duration_ms.max(report.duration_ms);
            if let Some(failure) = &report.failure {
                summary.units_failed.push((report.unit, failure.clone()));
            }
        }
        summary
    }
}
