//! Campaign records, launch progress and the schedule index: the port, its records and the
//! in-memory adapter (the DynamoDB adapter is `crate::aws::campaigns`).
//!
//! Every record is keyed by its tenant. The one exception is the schedule index, which the
//! scheduler reads across tenants by due time; its entries name the tenant, and the scheduler
//! then reads the campaign under that tenant only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::definition::CampaignDefinition;
use super::report::LaunchReport;
use crate::domain::{CampaignId, CampaignStatus, TenantId};
use crate::error::{Message, StoreError};
use crate::ports::TenantAdmin;

/// A launch's id: random, so a relaunch after a failure is told apart from the first one.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct LaunchId(String);

impl LaunchId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(value: impl Into<String>) -> Result<Self, crate::domain::InvalidId> {
        let value = value.into();
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(value))
        } else {
            Err(crate::domain::InvalidId {
                kind: "launch id",
                reason: "1 to 64 ASCII letters, digits, '-' or '_'",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LaunchId {
    type Error = crate::domain::InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<LaunchId> for String {
    fn from(value: LaunchId) -> String {
        value.0
    }
}

impl std::fmt::Display for LaunchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a campaign stands. See docs/campaigns-engine.md for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CampaignState {
    /// Created, not launched.
    Draft,
    /// Launched, waiting for its send time (or for the retailer's quiet hours to end).
    Scheduled,
    /// Chunks planned and queued; not all of them are done.
    Launching,
    /// Every chunk is done: every matched customer's event is on the stream.
    Sent,
    /// Delivery parks the campaign's batches until it is resumed.
    Paused,
    /// Nothing more is emitted or sent.
    Cancelled,
    /// A chunk failed for good (its reason is on the launch).
    Failed,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "DRAFT",
            CampaignState::Scheduled => "SCHEDULED",
            CampaignState::Launching => "LAUNCHING",
            CampaignState::Sent => "SENT",
            CampaignState::Paused => "PAUSED",
            CampaignState::Cancelled => "CANCELLED",
            CampaignState::Failed => "FAILED",
        }
    }

    /// The status item delivery reads (`CAMPAIGN#<id>`), kept in step with the record.
    pub fn delivery_status(self) -> CampaignStatus {
        match self {
            CampaignState::Paused => CampaignStatus::Paused,
            CampaignState::Cancelled => CampaignStatus::Cancelled,
            // A failed launch stops emitting; what it emitted is still delivered.
            _ => CampaignStatus::Active,
        }
    }
}

/// One launch of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub launch_id: LaunchId,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// When it may start: the schedule in the retailer's zone, past the quiet hours.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When the chunks were planned; the engine's `now` (recency rules count back from it), so
    /// a retried chunk evaluates the audience as its first attempt did.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub chunks: u32,
    /// Every chunk's message reached the queue.
    #[serde(default)]
    pub enqueued: bool,
    /// Every chunk is done.
    #[serde(default)]
    pub completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub definition: CampaignDefinition,
    pub name: String,
    pub state: CampaignState,
    /// The requested local send time (`YYYY-MM-DDTHH:MM` in the retailer's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchRecord>,
    /// Incremented by every write; a write names the revision it read (optimistic concurrency).
    pub revision: u64,
}

impl CampaignRecord {
    pub fn tenant_id(&self) -> &TenantId {
        &self.definition.tenant_id
    }

    pub fn campaign_id(&self) -> &CampaignId {
        &self.definition.campaign_id
    }
}

/// Which launch a chunk or schedule entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LaunchKey {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub launch_id: LaunchId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChunkStatus {
    Pending,
    Done,
    /// Failed for good: not retryable, or out of attempts.
    Failed,
}

/// One chunk of a launch: a byte range of the export, its state and, once done, its counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkProgress {
    pub index: u32,
    pub start: u64,
    pub end: u64,
    pub status: ChunkStatus,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<LaunchReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A scheduled launch in the due-time index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
    pub launch: LaunchKey,
}

/// Campaign records, launch progress and the schedule index.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Writes a new record (and its delivery status item); `false` when the id is taken.
    async fn create(&self, record: &CampaignRecord) -> Result<bool, StoreError>;
    async fn get(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Option<CampaignRecord>, StoreError>;
    /// The tenant's records in campaign id order, after `after`, at most `limit`.
    async fn list(
        &self,
        tenant: &TenantId,
        after: Option<&CampaignId>,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, StoreError>;
    /// Replaces the record (and its delivery status item) only if the stored revision is
    /// `record.revision - 1`; `false` when someone else wrote first.
    async fn update(&self, record: &CampaignRecord) -> Result<bool, StoreError>;

    async fn put_chunks(
        &self,
        launch: &LaunchKey,
        chunks: &[ChunkProgress],
    ) -> Result<(), StoreError>;
    async fn chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
    ) -> Result<Option<ChunkProgress>, StoreError>;
    /// Every chunk of the launch, by index (read consistently: the last chunk's worker decides
    /// whether the launch is complete).
    async fn chunks(&self, launch: &LaunchKey) -> Result<Vec<ChunkProgress>, StoreError>;
    /// Marks the chunk done with its counts, unless it already is; `true` when this call did.
    async fn finish_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        report: &LaunchReport,
    ) -> Result<bool, StoreError>;
    /// Counts a failed attempt (and marks the chunk failed for good when `permanent`), unless
    /// the chunk is already done.
    async fn fail_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        error: &str,
        permanent: bool,
    ) -> Result<(), StoreError>;

    async fn schedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError>;
    /// Entries due at or before `now`, earliest first, at most `limit`.
    async fn due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StoreError>;
    async fn unschedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError>;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
        lock(&self.state).unavailable = unavailable;
    }

    pub fn schedule_entries(&self) -> Vec<ScheduleEntry> {
        lock(&self.state).schedule.values().cloned().collect()
    }

    fn check(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, StoreError> {
        let state = lock(&self.state);
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
