//! Campaign records, launch progress and the schedule index: the port and its records (the
//! DynamoDB adapter is `crate::aws::dynamodb::campaigns`, the in-memory one
//! `crate::testing::MemoryCampaignStore`).
//!
//! Every record is keyed by its tenant. The one exception is the schedule index, which the
//! scheduler reads across tenants by due time; its entries name the tenant, and the scheduler
//! then reads the campaign under that tenant only.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::checkpoint::ChunkCheckpoint;
use super::definition::CampaignDefinition;
use super::report::LaunchReport;
use crate::domain::{CampaignId, CampaignStatus, TenantId};
use crate::error::StoreError;

/// A launch's id: random, so a relaunch after a failure is told apart from the first one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "api", schema(value_type = String))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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
    /// How far a pending chunk got: a retry resumes after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<ChunkCheckpoint>,
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
    /// Deletes a draft's record and its delivery status item, only while the stored record is
    /// still a draft at `record.revision`; `false` when it changed (or is gone).
    async fn delete_draft(&self, record: &CampaignRecord) -> Result<bool, StoreError>;

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
    /// Records how far a pending chunk got, only forward: a checkpoint at or before the stored
    /// one, or on a chunk no longer pending, changes nothing. `true` when this call moved it.
    async fn checkpoint_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        checkpoint: &ChunkCheckpoint,
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
