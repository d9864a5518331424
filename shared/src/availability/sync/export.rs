//! The scoring export: what the retailer's warehouse unloads for `score-sync`, in the shape
//! Snowflake's `COPY INTO @stage` writes (one folder per unload, data files plus a manifest).
//!
//! ```text
//! availability/exports/<tenant>/<export_id>/manifest.json
//! availability/exports/<tenant>/<export_id>/data_0_0_0.csv.gz   (any names, listed in the manifest)
//! ```
//!
//! `manifest.json`, written last (its presence means the export is complete):
//!
//! ```json
//! {"tenant_id": "alpine", "export_id": "2026-11-30T02", "exported_at": "2026-11-30T02:10:00Z",
//!  "format": "csv", "compression": "gzip",
//!  "files": [{"key": "availability/exports/alpine/2026-11-30T02/data_0_0_0.csv.gz", "size": 1048576}]}
//! ```
//!
//! - `format`: `jsonl` (one JSON object per line) or `csv` (a header row, then one row per line,
//!   `,`-separated; a field may be `"`-quoted, with no `"` or newline inside);
//! - `compression`: `gzip` (each file one gzip stream, read whole as one unit) or `none` (split
//!   into byte ranges of at most [`super::UNIT_BYTES`]);
//! - `files[].key`: the object's full key, under the export's own folder (a manifest naming
//!   anything else is refused: one retailer's manifest can never make the sync read another's
//!   data); `size` is informative, the object's own size is what is planned.
//!
//! Each row: `store_id`, `item_id`, `scored_at` (RFC 3339, or epoch seconds as a number or a
//! digit string) and one column per model version, named by the version (e.g. `avail-2026-11`),
//! holding that model's score in `[0, 1]` (an empty value or `null`: the model did not score the
//! item). The retailer's `AvailabilityConfig.models` maps each version to the column it is
//! stored in; only `synced` models are written. What is refused, per reason, is in
//! [`super::rows::RejectReason`].
//!
//! Run records (the sync's own, never the warehouse's):
//!
//! ```text
//! availability/runs/<tenant>/<export_id>/run.json              the plan: its units (or why refused)
//! availability/runs/<tenant>/<export_id>/units/<index>.json    one report per processed unit
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{ExportId, TenantId};

pub const EXPORTS_PREFIX: &str = "availability/exports/";
pub const RUNS_PREFIX: &str = "availability/runs/";
pub const MANIFEST_NAME: &str = "manifest.json";
/// A manifest is small; one larger than this is refused rather than read into memory.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// One export lists at most this many files (Snowflake writes one per unload thread and size
/// step: tens, rarely hundreds).
pub const MAX_EXPORT_FILES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub tenant_id: TenantId,
    pub export_id: ExportId,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub format: ExportFormat,
    pub compression: Compression,
    pub files: Vec<ExportFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    pub key: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid export manifest: {0}")]
pub struct InvalidManifest(pub String);

impl ExportManifest {
    /// Reads the manifest found at `availability/exports/<tenant>/<export>/manifest.json` and
    /// checks that it speaks of that export only.
    pub fn parse(
        tenant: &TenantId,
        export: &ExportId,
        bytes: &[u8],
    ) -> Result<Self, InvalidManifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(InvalidManifest(format!(
                "{} bytes, at most {MAX_MANIFEST_BYTES} are read",
                bytes.len()
            )));
        }
        let manifest: ExportManifest =
            serde_json::from_slice(bytes).map_err(|e| InvalidManifest(e.to_string()))?;
        manifest.validate(tenant, export)?;
        Ok(manifest)
    }

    fn validate(&self, tenant: &TenantId, export: &ExportId) -> Result<(), InvalidManifest> {
        if &self.tenant_id != tenant {
            return Err(InvalidManifest(format!(
                "tenant_id {} in the folder of {tenant}",
                self.tenant_id
            )));
        }
        if &self.export_id != export {
            return Err(InvalidManifest(format!(
                "export_id {} in the folder of {export}",
                self.export_id
            )));
        }
        if self.files.len() > MAX_EXPORT_FILES {
            return Err(InvalidManifest(format!(
                "{} files, at most {MAX_EXPORT_FILES}",
                self.files.len()
            )));
        }
        let folder = keys::export_folder(tenant, export);
        let mut seen = HashSet::new();
        for file in &self.files {
            let name = file.key.strip_prefix(&folder).unwrap_or_default();
            if name.is_empty() || name == MANIFEST_NAME || name.split('/').any(|p| p == "..") {
                return Err(InvalidManifest(format!(
                    "file {} is not a data file of this export (under {folder})",
                    file.key
                )));
            }
            if !seen.insert(&file.key) {
                return Err(InvalidManifest(format!(
                    "file {} is listed twice",
                    file.key
                )));
            }
        }
        Ok(())
    }
}

pub mod keys {
    //! Keys shared by the S3 and in-memory export stores, so both lay data out the same way.
    use super::{EXPORTS_PREFIX, MANIFEST_NAME, RUNS_PREFIX};
    use crate::domain::{ExportId, TenantId};

    pub fn exports_prefix(tenant: &TenantId) -> String {
        format!("{EXPORTS_PREFIX}{tenant}/")
    }

    pub fn export_folder(tenant: &TenantId, export: &ExportId) -> String {
        format!("{EXPORTS_PREFIX}{tenant}/{export}/")
    }

    pub fn manifest(tenant: &TenantId, export: &ExportId) -> String {
        format!("{}{MANIFEST_NAME}", export_folder(tenant, export))
    }

    /// The export of a key `availability/exports/<tenant>/<export>/manifest.json`, if it is one
    /// of `tenant`'s manifests (a manifest deeper down is a data folder's business, not one).
    pub fn export_of_manifest(tenant: &TenantId, key: &str) -> Option<ExportId> {
        let rest = key.strip_prefix(&exports_prefix(tenant))?;
        let export = rest.strip_suffix(MANIFEST_NAME)?.strip_suffix('/')?;
        if export.contains('/') {
            return None;
        }
        ExportId::parse(export).ok()
    }

    pub fn runs_prefix(tenant: &TenantId) -> String {
        format!("{RUNS_PREFIX}{tenant}/")
    }

    pub fn run(tenant: &TenantId, export: &ExportId) -> String {
        format!("{RUNS_PREFIX}{tenant}/{export}/run.json")
    }

    /// The export of a key `availability/runs/<tenant>/<export>/run.json`.
    pub fn export_of_run(tenant: &TenantId, key: &str) -> Option<ExportId> {
        let rest = key.strip_prefix(&runs_prefix(tenant))?;
        let export = rest.strip_suffix("/run.json")?;
        if export.contains('/') {
            return None;
        }
        ExportId::parse(export).ok()
    }

    pub fn unit_reports_prefix(tenant: &TenantId, export: &ExportId) -> String {
        format!("{RUNS_PREFIX}{tenant}/{export}/units/")
    }

    /// One key per unit: a unit processed again overwrites its report, never adds one.
    pub fn unit_report(tenant: &TenantId, export: &ExportId, unit: u32) -> String {
        format!("{}{unit:06}.json", unit_reports_prefix(tenant, export))
    }
}
