//! Campaign records, launches, the schedule index and the launch queue in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::campaigns::checkpoint::ChunkCheckpoint;
use crate::campaigns::queue::{ChunkMessage, ChunkQueue};
use crate::campaigns::report::LaunchReport;
use crate::campaigns::store::{
    CampaignRecord, CampaignStore, ChunkProgress, ChunkStatus, LaunchKey, ScheduleEntry,
};
use crate::directory::TenantAdmin;
use crate::domain::{CampaignId, TenantId};
use crate::error::{Message, StoreError};

#[derive(Default)]
struct MemoryState {
    records: BTreeMap<(TenantId, CampaignId), CampaignRecord>,
    chunks: HashMap<LaunchKey, BTreeMap<u32, ChunkProgress>>,
    schedule: BTreeMap<(OffsetDateTime, LaunchKey), ScheduleEntry>,
    unavailable: bool,
}

/// In memory, with the DynamoDB adapter's conditional semantics. Given the directory, it keeps
/// the delivery status item in step as the DynamoDB adapter's transactions do.
#[derive(Default)]
pub struct MemoryCampaignStore {
    state: Mutex<MemoryState>,
    status_items: Option<Arc<dyn TenantAdmin>>,
}

impl MemoryCampaignStore {
    pub fn syncing_status_to(directory: Arc<dyn TenantAdmin>) -> Self {
        Self {
            state: Mutex::default(),
            status_items: Some(directory),
        }
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        super::lock(&self.state).unavailable = unavailable;
    }

    pub fn schedule_entries(&self) -> Vec<ScheduleEntry> {
        super::lock(&self.state)
            .schedule
            .values()
            .cloned()
            .collect()
    }

    fn check(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, StoreError> {
        let state = super::lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "campaign store",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(state)
    }

    async fn sync_status(&self, record: &CampaignRecord) -> Result<(), StoreError> {
        match &self.status_items {
            Some(admin) => {
                admin
                    .set_campaign_status(
                        record.tenant_id(),
                        record.campaign_id(),
                        record.state.delivery_status(),
                    )
                    .await?;
                admin
                    .set_campaign_quiet_hours(
                        record.tenant_id(),
                        record.campaign_id(),
                        record.definition.quiet_hours_zone,
                    )
                    .await
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl CampaignStore for MemoryCampaignStore {
    async fn create(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        {
            let mut state = self.check()?;
            let key = (record.tenant_id().clone(), record.campaign_id().clone());
            if state.records.contains_key(&key) {
                return Ok(false);
            }
            state.records.insert(key, record.clone());
        }
        self.sync_status(record).await?;
        Ok(true)
    }

    async fn get(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        Ok(self
            .check()?
            .records
            .get(&(tenant.clone(), campaign.clone()))
            .cloned())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        after: Option<&CampaignId>,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, StoreError> {
        let state = self.check()?;
        Ok(state
            .records
            .iter()
            .filter(|((t, c), _)| t == tenant && after.is_none_or(|after| c > after))
            .take(limit)
            .map(|(_, record)| record.clone())
            .collect())
    }

    async fn update(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        {
            let mut state = self.check()?;
            let key = (record.tenant_id().clone(), record.campaign_id().clone());
            match state.records.get(&key) {
                Some(stored) if stored.revision + 1 == record.revision => {
                    state.records.insert(key, record.clone());
                }
                _ => return Ok(false),
            }
        }
        self.sync_status(record).await?;
        Ok(true)
    }

    async fn delete_draft(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        let mut state = self.check()?;
        let key = (record.tenant_id().clone(), record.campaign_id().clone());
        match state.records.get(&key) {
            Some(stored)
                if stored.revision == record.revision
                    && stored.state == crate::campaigns::store::CampaignState::Draft =>
            {
                state.records.remove(&key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_chunks(
        &self,
        launch: &LaunchKey,
        chunks: &[ChunkProgress],
    ) -> Result<(), StoreError> {
        let mut state = self.check()?;
        let stored = state.chunks.entry(launch.clone()).or_default();
        for chunk in chunks {
            stored.insert(chunk.index, chunk.clone());
        }
        Ok(())
    }

    async fn chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
    ) -> Result<Option<ChunkProgress>, StoreError> {
        Ok(self
            .check()?
            .chunks
            .get(launch)
            .and_then(|chunks| chunks.get(&index))
            .cloned())
    }

    async fn chunks(&self, launch: &LaunchKey) -> Result<Vec<ChunkProgress>, StoreError> {
        Ok(self
            .check()?
            .chunks
            .get(launch)
            .map(|chunks| chunks.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn finish_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        report: &LaunchReport,
    ) -> Result<bool, StoreError> {
        let mut state = self.check()?;
        match state.chunks.get_mut(launch).and_then(|c| c.get_mut(&index)) {
            Some(chunk) if chunk.status != ChunkStatus::Done => {
                chunk.status = ChunkStatus::Done;
                chunk.report = Some(report.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn checkpoint_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        checkpoint: &ChunkCheckpoint,
    ) -> Result<bool, StoreError> {
        let mut state = self.check()?;
        match state.chunks.get_mut(launch).and_then(|c| c.get_mut(&index)) {
            Some(chunk)
                if chunk.status == ChunkStatus::Pending
                    && chunk
                        .checkpoint
                        .as_ref()
                        .is_none_or(|c| c.last_row < checkpoint.last_row) =>
            {
                chunk.checkpoint = Some(checkpoint.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn fail_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        error: &str,
        permanent: bool,
    ) -> Result<(), StoreError> {
        let mut state = self.check()?;
        if let Some(chunk) = state.chunks.get_mut(launch).and_then(|c| c.get_mut(&index))
            && chunk.status != ChunkStatus::Done
        {
            chunk.attempts += 1;
            chunk.last_error = Some(error.to_string());
            if permanent {
                chunk.status = ChunkStatus::Failed;
            }
        }
        Ok(())
    }

    async fn schedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError> {
        self.check()?
            .schedule
            .insert((entry.due, entry.launch.clone()), entry.clone());
        Ok(())
    }

    async fn due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StoreError> {
        Ok(self
            .check()?
            .schedule
            .values()
            .take_while(|entry| entry.due <= now)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn unschedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError> {
        self.check()?
            .schedule
            .remove(&(entry.due, entry.launch.clone()));
        Ok(())
    }
}

#[derive(Default)]
struct QueueState {
    messages: Vec<ChunkMessage>,
    /// Receipt handle → the delay a worker asked for, until taken.
    retries: HashMap<String, std::time::Duration>,
    unavailable: bool,
}

/// Keeps queued messages until a test takes them, and the visibility changes workers asked
/// for (by receipt handle) until the simulation or a test takes them.
#[derive(Default)]
pub struct MemoryChunkQueue {
    state: Mutex<QueueState>,
}

impl MemoryChunkQueue {
    pub fn take(&self) -> Vec<ChunkMessage> {
        std::mem::take(&mut self.lock().messages)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// The delay asked for the message received with this handle, if any (taken).
    pub fn take_retry(&self, receipt_handle: &str) -> Option<std::time::Duration> {
        self.lock().retries.remove(receipt_handle)
    }

    fn outage(&self) -> Result<std::sync::MutexGuard<'_, QueueState>, StoreError> {
        let state = self.lock();
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "launch queue",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ChunkQueue for MemoryChunkQueue {
    async fn enqueue(&self, messages: &[ChunkMessage]) -> Result<(), StoreError> {
        self.outage()?.messages.extend_from_slice(messages);
        Ok(())
    }

    async fn retry_after(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.outage()?
            .retries
            .insert(receipt_handle.to_string(), delay);
        Ok(())
    }
}
