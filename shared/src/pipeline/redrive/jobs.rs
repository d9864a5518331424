//! Redrive jobs: one per campaign (started by a resume) or per tenant (started by a reinstate),
//! holding the cursor of a pass over the parked batches and what it put back, so a redrive of
//! any size runs a bounded slice at a time (`super::worker`). The port and its records; the
//! DynamoDB adapter is `crate::aws::dynamodb::RedriveJobsTable`, the in-memory one
//! `crate::testing::MemoryRedriveJobs`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;

/// What a job puts back: one campaign's parked batches, or every parked batch of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedriveScope {
    pub tenant_id: TenantId,
    /// `None`: the whole tenant (a reinstate).
    pub campaign_id: Option<CampaignId>,
}

impl RedriveScope {
    pub fn campaign(tenant: &TenantId, campaign: &CampaignId) -> Self {
        Self {
            tenant_id: tenant.clone(),
            campaign_id: Some(campaign.clone()),
        }
    }

    pub fn tenant(tenant: &TenantId) -> Self {
        Self {
            tenant_id: tenant.clone(),
            campaign_id: None,
        }
    }
}

impl std::fmt::Display for RedriveScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.campaign_id {
            Some(campaign) => write!(f, "{}/{campaign}", self.tenant_id),
            None => write!(f, "{}", self.tenant_id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedriveState {
    /// Its pass has not reached the last parked batch yet: the scheduler's tick continues it.
    Running,
    /// Its pass listed every parked batch of its scope.
    Done,
}

/// One redrive job and its progress. `revision` grows by one with every write, and a write is
/// made only over the revision it read: two workers never move one cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveJob {
    pub scope: RedriveScope,
    pub state: RedriveState,
    /// The last parked key the pass listed; the next slice lists after it (`None`: from the
    /// first).
    pub cursor: Option<String>,
    /// Batches and recipients put back on the stream (and removed from the archive).
    pub batches: u64,
    pub recipients: u64,
    /// Batches of this pass the stream refused: they stay parked for the next resume.
    pub still_parked: u64,
    /// Passes over the parked batches: 1, and one more each time a resume (or reinstate) came
    /// while the job ran and sent its cursor back to the first key.
    pub passes: u32,
    /// Epoch seconds.
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// The slice running now holds the job until then (epoch seconds; 0: nobody).
    pub lease_until: i64,
    /// Which slice holds the lease (random per slice).
    pub holder: u64,
    /// Why the last slice stopped short, if it did (the next tick tries again).
    pub last_error: Option<String>,
    pub revision: u64,
}

impl RedriveJob {
    /// A job that starts a pass from the first parked key, written over `previous` (the done job
    /// of the scope, if there was one).
    pub fn new(scope: RedriveScope, now: i64, previous: Option<&RedriveJob>) -> Self {
        Self {
            scope,
            state: RedriveState::Running,
            cursor: None,
            batches: 0,
            recipients: 0,
            still_parked: 0,
            passes: 1,
            started_at: now,
            updated_at: now,
            finished_at: None,
            lease_until: 0,
            holder: 0,
            last_error: None,
            revision: previous.map_or(1, |job| job.revision + 1),
        }
    }

    pub fn is_running(&self) -> bool {
        self.state == RedriveState::Running
    }

    /// Whether a slice holds the job at `now`.
    pub fn is_leased(&self, now: i64) -> bool {
        self.lease_until > now
    }

    /// The same job as the next revision, written at `now`.
    pub fn next(&self, now: i64) -> Self {
        Self {
            updated_at: now,
            revision: self.revision + 1,
            ..self.clone()
        }
    }
}

/// The redrive jobs. Each write is conditional on the revision it was made from: `save`
/// answers `false` when the stored job moved on meanwhile (another worker, a resume restarting
/// the pass), and the caller reads it again.
#[async_trait]
pub trait RedriveJobs: Send + Sync {
    /// The scope's job, running or done, if one was ever started.
    async fn job(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, StoreError>;
    /// Writes `job` if the stored one is still at `job.revision - 1` (absent when `job.revision`
    /// is 1). `was` is the state of the job it was made from: when the state changes, the index
    /// of running jobs changes in the same write.
    async fn save(&self, job: &RedriveJob, was: Option<RedriveState>) -> Result<bool, StoreError>;
    /// Scopes of running jobs (across tenants: the scheduler's index), at most `limit`.
    async fn running(&self, limit: usize) -> Result<Vec<RedriveScope>, StoreError>;
}

/// A job's progress as the API shows it (on a campaign's stats, and in a reinstate's answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct RedriveProgress {
    pub state: RedriveState,
    /// Parked batches put back on the send-batches stream so far, and their recipients.
    pub batches: u64,
    pub recipients: u64,
    /// Batches the stream refused in this pass: still parked (resume again to retry them).
    pub still_parked: u64,
    /// 1, plus one for each resume (or reinstate) that came while the job ran.
    pub passes: u32,
    /// RFC 3339.
    pub started_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why the last slice stopped short; the scheduler's next tick tries again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(crate::clock::rfc3339)
        .unwrap_or_default()
}

impl From<&RedriveJob> for RedriveProgress {
    fn from(job: &RedriveJob) -> Self {
        Self {
            state: job.state,
            batches: job.batches,
            recipients: job.recipients,
            still_parked: job.still_parked,
            passes: job.passes,
            started_at: rfc3339(job.started_at),
            updated_at: rfc3339(job.updated_at),
            finished_at: job.finished_at.map(rfc3339),
            last_error: job.last_error.clone(),
        }
    }
}
