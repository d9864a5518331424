//! Parked batches and dead letters in memory, under the S3 archive's keys.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::{CampaignId, TenantId};
use crate::error::{Message, StoreError};
use crate::pipeline::archive::{Archive, DeadLetter, DeferredBatch, ParkedBatch, keys};

#[derive(Default)]
struct ArchiveState {
    objects: BTreeMap<String, Vec<u8>>,
    /// The size of each page of parked batches handed out, in order.
    parked_pages: Vec<usize>,
    unavailable: bool,
}

/// Parked batches and dead letters, laid out under the same keys as the S3 archive.
#[derive(Default)]
pub struct MemoryArchive {
    state: Mutex<ArchiveState>,
    sequence: AtomicU64,
}

impl MemoryArchive {
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// How many parked batches each `parked_page` call handed out, in order.
    pub fn parked_pages(&self) -> Vec<usize> {
        lock(&self.state).parked_pages.clone()
    }

    pub fn keys(&self) -> Vec<String> {
        lock(&self.state).objects.keys().cloned().collect()
    }

    fn get<T: serde::de::DeserializeOwned>(
        key: &str,
        body: &[u8],
    ) -> Result<(String, T), StoreError> {
        serde_json::from_slice(body)
            .map(|value| (key.to_string(), value))
            .map_err(|e| StoreError::Corrupt {
                store: "archive",
                reason: e.to_string(),
            })
    }

    fn check_available(state: &ArchiveState) -> Result<(), StoreError> {
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "archive",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(())
    }

    /// Every deferred batch, due or not, with its key.
    pub fn deferred(&self) -> Vec<(String, DeferredBatch)> {
        let state = lock(&self.state);
        state
            .objects
            .range(keys::DEFERRED_PREFIX.to_string()..)
            .take_while(|(key, _)| key.starts_with(keys::DEFERRED_PREFIX))
            .filter_map(|(key, body)| Self::get(key, body).ok())
            .collect()
    }

    fn put(&self, key: String, value: &impl serde::Serialize) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check_available(&state)?;
        let body = serde_json::to_vec(value).map_err(|e| StoreError::Rejected {
            store: "archive",
            source: Box::new(e),
        })?;
        state.objects.insert(key, body);
        Ok(())
    }
}

#[async_trait]
impl Archive for MemoryArchive {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError> {
        self.put(keys::parked_batch(&parked.batch), parked)
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let id = self.sequence.fetch_add(1, Ordering::Relaxed);
        let key = keys::dead_letter(&letter.source, letter.tenant_id.as_deref(), &id.to_string());
        self.put(key, letter)
    }

    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        let prefix = keys::parked_prefix(tenant, campaign);
        let state = lock(&self.state);
        state
            .objects
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, body)| Self::get(key, body))
            .collect()
    }

    async fn parked_page(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        use std::ops::Bound;
        let prefix = keys::parked_prefix(tenant, campaign);
        let from = match after {
            Some(after) => Bound::Excluded(after.to_string()),
            None => Bound::Included(prefix.clone()),
        };
        let mut state = lock(&self.state);
        Self::check_available(&state)?;
        let page: Vec<(String, ParkedBatch)> = state
            .objects
            .range((from, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(&prefix))
            .take(limit)
            .map(|(key, body)| Self::get(key, body))
            .collect::<Result<_, _>>()?;
        state.parked_pages.push(page.len());
        Ok(page)
    }

    async fn remove_parked(&self, key: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check_available(&state)?;
        state.objects.remove(key);
        Ok(())
    }

    async fn defer(&self, deferred: &DeferredBatch) -> Result<(), StoreError> {
        let key = keys::deferred_key(deferred).ok_or_else(|| StoreError::Rejected {
            store: "archive",
            source: Message::boxed("a deferral with neither a batch nor an outcome"),
        })?;
        self.put(key, deferred)
    }

    async fn due_deferred(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, DeferredBatch)>, StoreError> {
        let state = lock(&self.state);
        Self::check_available(&state)?;
        state
            .objects
            .range(keys::DEFERRED_PREFIX.to_string()..)
            .take_while(|(key, _)| {
                key.starts_with(keys::DEFERRED_PREFIX)
                    && keys::deferred_due(key).is_some_and(|due| due <= now)
            })
            .take(limit)
            .map(|(key, body)| Self::get(key, body))
            .collect()
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let state = lock(&self.state);
        state
            .objects
            .iter()
            .filter(|(key, _)| key.starts_with("dead-letter/"))
            .map(|(_, body)| {
                serde_json::from_slice(body).map_err(|e| StoreError::Corrupt {
                    store: "archive",
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}
