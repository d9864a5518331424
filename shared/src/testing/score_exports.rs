//! The exports bucket in memory (stand-in for `aws::score_exports`): objects by key, laid out by
//! the same `export::keys`, every ranged read recorded; faults on demand.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::availability::sync::export::keys;
use crate::availability::sync::{ExportStore, RunRecord, UnitReport};
use crate::domain::{ExportId, TenantId};
use crate::error::{Message, StoreError};

const STORE: &str = "exports bucket";

#[derive(Default)]
pub struct MemoryExportStore {
    objects: Mutex<BTreeMap<String, std::sync::Arc<Vec<u8>>>>,
    reads: Mutex<Vec<(String, Range<u64>)>>,
    /// The next this many ranged reads answer throttled.
    throttled_reads: AtomicU32,
}

impl MemoryExportStore {
    pub fn put(&self, key: impl Into<String>, bytes: Vec<u8>) {
        lock(&self.objects).insert(key.into(), std::sync::Arc::new(bytes));
    }

    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.objects).get(key).map(|o| o.to_vec())
    }

    pub fn remove(&self, key: &str) {
        lock(&self.objects).remove(key);
    }

    /// Every ranged read so far: (key, range).
    pub fn reads(&self) -> Vec<(String, Range<u64>)> {
        lock(&self.reads).clone()
    }

    /// The next `count` ranged reads fail as a throttled bucket would.
    pub fn throttle_reads(&self, count: u32) {
        self.throttled_reads.store(count, Ordering::Relaxed);
    }

    fn get(&self, key: &str) -> Option<std::sync::Arc<Vec<u8>>> {
        lock(&self.objects).get(key).cloned()
    }

    fn keys_under(&self, prefix: &str) -> Vec<String> {
        lock(&self.objects)
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn put_json(&self, key: String, value: &impl serde::Serialize) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Rejected {
            store: STORE,
            source: Box::new(e),
        })?;
        self.put(key, bytes);
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(key)
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    store: STORE,
                    reason: format!("{key}: {e}"),
                })
            })
            .transpose()
    }
}

fn missing(key: &str) -> StoreError {
    StoreError::Rejected {
        store: STORE,
        source: Message::boxed(format!("NoSuchKey: {key}")),
    }
}

#[async_trait]
impl ExportStore for MemoryExportStore {
    async fn exports(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError> {
        Ok(self
            .keys_under(&keys::exports_prefix(tenant))
            .iter()
            .filter_map(|key| keys::export_of_manifest(tenant, key))
            .collect())
    }

    async fn manifest(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .get(&keys::manifest(tenant, export))
            .map(|o| o.to_vec()))
    }

    async fn object_size(&self, key: &str) -> Result<u64, StoreError> {
        self.get(key)
            .map(|o| o.len() as u64)
            .ok_or_else(|| missing(key))
    }

    async fn read_range(
        &self,
        key: &str,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let throttled = self
            .throttled_reads
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if throttled {
            return Err(StoreError::Throttled {
                store: STORE,
                source: Message::boxed("SlowDown"),
            });
        }
        let object = self.get(key).ok_or_else(|| missing(key))?;
        let end = (end_exclusive as usize).min(object.len());
        let start = (start as usize).min(end);
        lock(&self.reads).push((key.to_string(), start as u64..end as u64));
        Ok(object[start..end].to_vec())
    }

    async fn runs(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError> {
        Ok(self
            .keys_under(&keys::runs_prefix(tenant))
            .iter()
            .filter_map(|key| keys::export_of_run(tenant, key))
            .collect())
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.put_json(keys::run(&run.tenant_id, &run.export_id), run)
    }

    async fn run(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<RunRecord>, StoreError> {
        self.read_json(&keys::run(tenant, export))
    }

    async fn put_unit_report(&self, report: &UnitReport) -> Result<(), StoreError> {
        let key = keys::unit_report(&report.tenant_id, &report.export_id, report.unit);
        self.put_json(key, report)
    }

    async fn unit_reports(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Vec<UnitReport>, StoreError> {
        let mut reports = Vec::new();
        for key in self.keys_under(&keys::unit_reports_prefix(tenant, export)) {
            reports.extend(self.read_json(&key)?);
        }
        Ok(reports)
    }
}
