//! In-memory scores and configuration (stand-ins for `aws::dynamodb::availability`), with the
//! same rules: a write applies only over an older value of its own column, configuration
//! versions are written once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::availability::{
    AvailabilityConfig, ChangeNote, ConfigRevision, ConfigStore, ItemScores, ScoreKey, ScoreStore,
    ScoreWrite, WriteOutcome,
};
use crate::domain::{StoreId, TenantId};
use crate::error::StoreError;

#[derive(Default)]
pub struct MemoryScoreStore {
    /// By retailer first, so a read finds a key without building an owned (tenant, key) pair.
    items: Mutex<HashMap<TenantId, HashMap<ScoreKey, ItemScores>>>,
    stores: Mutex<HashMap<TenantId, HashSet<StoreId>>>,
    gets: AtomicU64,
    keys_read: AtomicU64,
    writes: AtomicU64,
    unavailable: AtomicBool,
}

impl MemoryScoreStore {
    /// `get` calls so far.
    pub fn get_calls(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }
    /// Keys asked for by `get` so far.
    pub fn keys_read(&self) -> u64 {
        self.keys_read.load(Ordering::Relaxed)
    }
    /// Write requests so far (applied or stale).
    pub fn write_requests(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
    pub fn item(&self, tenant: &TenantId, key: &ScoreKey) -> Option<ItemScores> {
        lock(&self.items)
            .get(tenant)
            .and_then(|items| items.get(key))
            .cloned()
    }
    pub fn len(&self) -> usize {
        lock(&self.items).values().map(HashMap::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every call fails as an unavailable table would, until set back.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                store: "scores table",
                source: "the in-memory table is set unavailable".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ScoreStore for MemoryScoreStore {
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
    ) -> Result<HashMap<ScoreKey, ItemScores>, StoreError> {
        self.check()?;
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.keys_read
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let items = lock(&self.items);
        let Some(items) = items.get(tenant) else {
            return Ok(HashMap::new());
        };
        Ok(keys
            .iter()
            .filter_map(|key| {
                items
                    .get_key_value(key)
                    .map(|(key, scores)| (key.clone(), scores.clone()))
            })
            .collect())
    }

    async fn write(
        &self,
        tenant: &TenantId,
        writes: &[ScoreWrite],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        self.check()?;
        self.writes
            .fetch_add(writes.len() as u64, Ordering::Relaxed);
        let mut items = lock(&self.items);
        let items = items.entry(tenant.clone()).or_default();
        Ok(writes
            .iter()
            .map(|write| {
                if !items.contains_key(&write.key) {
                    items.insert(write.key.clone(), ItemScores::default());
                }
                let item = items.get_mut(&write.key).expect("inserted above");
                match item.columns.get(&write.column) {
                    Some(stored) if stored.computed_at >= write.value.computed_at => {
                        WriteOutcome::Stale
                    }
                    _ => {
                        item.columns.insert(write.column.clone(), write.value);
                        WriteOutcome::Written
                    }
                }
            })
            .collect())
    }

    async fn record_stores(&self, tenant: &TenantId, stores: &[StoreId]) -> Result<(), StoreError> {
        self.check()?;
        let mut known = lock(&self.stores);
        let known = known.entry(tenant.clone()).or_default();
        for store in stores {
            if !known.contains(store) {
                known.insert(store.clone());
            }
        }
        Ok(())
    }

    async fn store_known(&self, tenant: &TenantId, store: &StoreId) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.stores)
            .get(tenant)
            .is_some_and(|known| known.contains(store)))
    }
}

#[derive(Default)]
pub struct MemoryConfigStore {
    revisions: Mutex<HashMap<TenantId, BTreeMap<u64, ConfigRevision>>>,
}

#[async_trait]
impl ConfigStore for MemoryConfigStore {
    async fn current(&self, tenant: &TenantId) -> Result<Option<ConfigRevision>, StoreError> {
        Ok(lock(&self.revisions)
            .get(tenant)
            .and_then(|r| r.values().next_back().cloned()))
    }

    async fn revision(
        &self,
        tenant: &TenantId,
        version: u64,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        Ok(lock(&self.revisions)
            .get(tenant)
            .and_then(|r| r.get(&version).cloned()))
    }

    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        Ok(lock(&self.revisions)
            .get(tenant)
            .map(|r| r.values().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    async fn save(
        &self,
        tenant: &TenantId,
        config: &AvailabilityConfig,
        change: &ChangeNote,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let mut revisions = lock(&self.revisions);
        let tenant_revisions = revisions.entry(tenant.clone()).or_default();
        let version = expected.map_or(1, |v| v + 1);
        if tenant_revisions.contains_key(&version) {
            return Ok(None);
        }
        tenant_revisions.insert(
            version,
            ConfigRevision {
                version,
                config: config.clone(),
                change: change.clone(),
            },
        );
        Ok(Some(version))
    }
}
