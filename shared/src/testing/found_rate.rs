//! In-memory found-rate feedback and optimizer reports (stand-ins for `aws::found_rate`), keyed
//! as the bucket is: feedback objects served in chunks of a chosen size, so a reader that
//! assumes one chunk per object fails here too.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use time::Date;

use super::lock;
use crate::availability::optimizer::{
    ChunkStream, FeedbackObject, FoundRateFeedback, OptimizerReport, OptimizerReports, keys,
};
use crate::domain::TenantId;
use crate::error::StoreError;

/// The chunk size objects are served in unless set otherwise.
pub const DEFAULT_CHUNK_BYTES: usize = 64 * 1024;

pub struct MemoryFoundRateFeedback {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    chunk_bytes: usize,
    unavailable: AtomicBool,
}

impl Default for MemoryFoundRateFeedback {
    fn default() -> Self {
        Self::with_chunk_bytes(DEFAULT_CHUNK_BYTES)
    }
}

impl MemoryFoundRateFeedback {
    pub fn with_chunk_bytes(chunk_bytes: usize) -> Self {
        Self {
            objects: Mutex::default(),
            chunk_bytes: chunk_bytes.max(1),
            unavailable: AtomicBool::new(false),
        }
    }

    /// Stores `body` (plain or gzip) as `name` under the tenant's day; answers its key.
    pub fn put(&self, tenant: &TenantId, day: Date, name: &str, body: Vec<u8>) -> String {
        let key = format!("{}{name}", keys::feedback_prefix(tenant, day));
        lock(&self.objects).insert(key.clone(), body);
        key
    }

    /// Drops every object of days before `day` (the simulation keeps only what it reads).
    pub fn forget_before(&self, tenant: &TenantId, day: Date) {
        let keep_from = keys::feedback_prefix(tenant, day);
        let tenant_prefix = keys::tenant_feedback_prefix(tenant);
        lock(&self.objects).retain(|key, _| !key.starts_with(&tenant_prefix) || *key >= keep_from);
    }

    /// Every call fails as an unavailable bucket would, until set back.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                store: "feedback bucket",
                source: "the in-memory bucket is set unavailable".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl FoundRateFeedback for MemoryFoundRateFeedback {
    async fn objects(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Vec<FeedbackObject>, StoreError> {
        self.check()?;
        let prefix = keys::feedback_prefix(tenant, day);
        Ok(lock(&self.objects)
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, body)| FeedbackObject {
                key: key.clone(),
                size: body.len() as u64,
            })
            .collect())
    }

    async fn open(
        &self,
        tenant: &TenantId,
        object: &FeedbackObject,
    ) -> Result<ChunkStream, StoreError> {
        self.check()?;
        if !object
            .key
            .starts_with(&keys::tenant_feedback_prefix(tenant))
        {
            return Err(StoreError::Rejected {
                store: "feedback bucket",
                source: format!("{} is not {tenant}'s", object.key).into(),
            });
        }
        let body = lock(&self.objects)
            .get(&object.key)
            .cloned()
            .ok_or_else(|| StoreError::Rejected {
                store: "feedback bucket",
                source: format!("no object {}", object.key).into(),
            })?;
        let chunks: Vec<Result<Vec<u8>, StoreError>> = body
            .chunks(self.chunk_bytes)
            .map(|chunk| Ok(chunk.to_vec()))
            .collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }
}

#[derive(Default)]
pub struct MemoryOptimizerReports {
    reports: Mutex<BTreeMap<String, OptimizerReport>>,
}

impl MemoryOptimizerReports {
    /// The keys written so far.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.reports).keys().cloned().collect()
    }
}

#[async_trait]
impl OptimizerReports for MemoryOptimizerReports {
    async fn put(&self, report: &OptimizerReport) -> Result<(), StoreError> {
        let tenant = TenantId::parse(report.tenant.as_str()).map_err(|e| StoreError::Rejected {
            store: "optimizer reports",
            source: Box::new(e),
        })?;
        let day = parse_day(&report.day)?;
        lock(&self.reports).insert(keys::report(&tenant, day), report.clone());
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Option<OptimizerReport>, StoreError> {
        Ok(lock(&self.reports).get(&keys::report(tenant, day)).cloned())
    }
}

fn parse_day(day: &str) -> Result<Date, StoreError> {
    keys::parse_day(day).ok_or_else(|| StoreError::Rejected {
        store: "optimizer reports",
        source: format!("{day} is not a yyyy-mm-dd day").into(),
    })
}
