//! The campaign lifecycle behind the API: create, read, list, launch, pause, resume, cancel and
//! stats; the launch queue's worker (one chunk per message) and the scheduler's tick.
//!
//! A launch that may start now plans its chunks (HeadObject → byte ranges), writes one progress
//! item per chunk, marks the campaign LAUNCHING and queues one message per chunk: the API answers
//! at once and the chunks run in parallel invocations. A launch with a later start (a scheduled
//! send time, or the retailer's quiet hours) is SCHEDULED and started by the scheduler.
//! See docs/campaigns-engine.md.

mod drafts;
mod launch;
mod launch_worker;
mod scheduler;
pub use scheduler::{DEFERRED_REDRIVE_EVERY, MinuteSummary, SCHEDULER_MINUTE, TickSummary};
mod stats;
mod usage;
pub use usage::LAUNCH_MEMORY_MB;
mod views;

pub use views::*;

use std::sync::Arc;

use serde::Serialize;

use super::definition::CampaignDefinition;
use super::invalid::InvalidCampaign;
use super::queue::{ChunkMessage, ChunkQueue, ChunkRetry};
use super::schedule;
use super::store::{
    CampaignRecord, CampaignState, CampaignStore, ChunkProgress, ChunkStatus, LaunchId, LaunchKey,
    LaunchRecord, ScheduleEntry,
};
use super::{CampaignEngine, DEFAULT_CHUNK_BYTES, Launch};
use crate::clock::{Clock, rfc3339};
use crate::directory::DeliveryDirectory;
use crate::directory::TenantAdmin;
use crate::domain::{CampaignId, TemplateRef, TenantId, TenantStatus, TenantWorkspace};
use crate::error::{Retryable, StoreError};
use crate::pipeline::archive::Archive;
use crate::pipeline::publish::RecordStream;
use crate::pipeline::redrive::{RedriveError, RedriveJobs, RedriveScope, RedriveWorker};
use crate::pipeline::send_log::DeliveryCounters;
use crate::pipeline::send_log::SendLog;
use crate::templates::ports::TemplateStore;

/// A page of the campaign list holds at most this many campaigns.
pub const MAX_PAGE_SIZE: usize = 100;
/// A campaign's name is at most this many characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The scheduler starts at most this many due launches per query.
pub const SCHEDULER_PAGE: usize = 25;
/// A conditional write that lost a race is re-read and retried this many times.
const CONCURRENT_WRITE_RETRIES: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("campaign not found")]
    NotFound,
    /// A duplicate id, a transition the campaign's state does not allow, or a concurrent change.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid campaign: {0}")]
    Invalid(#[from] InvalidCampaign),
    #[error("the tenant's workspace is missing or not active")]
    TenantNotActive,
    #[error("campaign store failed")]
    Store(#[source] StoreError),
    #[error("launch queue failed")]
    Queue(#[source] StoreError),
    #[error("parked batches could not be redriven")]
    Redrive(#[source] RedriveError),
}

impl Retryable for CampaignError {
    fn is_retryable(&self) -> bool {
        match self {
            CampaignError::Store(e) | CampaignError::Queue(e) => e.is_retryable(),
            CampaignError::Redrive(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<StoreError> for CampaignError {
    fn from(error: StoreError) -> Self {
        CampaignError::Store(error)
    }
}

/// Everything the lifecycle talks to.
pub struct CampaignPorts {
    pub store: Arc<dyn CampaignStore>,
    pub queue: Arc<dyn ChunkQueue>,
    /// Reads the tenant's workspace (status, time zone, quiet hours).
    pub directory: Arc<dyn DeliveryDirectory>,
    pub templates: Arc<dyn TemplateStore>,
    /// Reads the workspace (the frequency cap) for the launch worker.
    pub admin: Arc<dyn TenantAdmin>,
    /// Counts what it parks and redrives (`pipeline::parked::CountedArchive` on `parked`).
    pub archive: Arc<dyn Archive>,
    /// The parked batches counted per campaign (what `stats` reads).
    pub parked: Arc<dyn crate::pipeline::parked::ParkedCounts>,
    /// Where resumed campaigns' parked batches go back to.
    pub send_batches: Arc<dyn RecordStream>,
    /// The redrive jobs resumes start and the scheduler's tick continues.
    pub redrive_jobs: Arc<dyn RedriveJobs>,
    /// The delivery counters the outcome writes keep (what `stats` reads).
    pub delivery: Arc<dyn DeliveryCounters>,
    pub send_log: Arc<dyn SendLog>,
    /// What SES's events counted per variant (delivered, bounced, opened...).
    pub feedback: Arc<dyn crate::deliverability::counters::FeedbackCounters>,
    pub engine: Arc<CampaignEngine>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
pub struct CampaignsConfig {
    pub chunk_bytes: u64,
    /// Where audience exports must live; `None` accepts any bucket (tests).
    pub exports_bucket: Option<String>,
    /// The launch queue's maxReceiveCount: the attempt that reaches it fails the chunk for good.
    pub max_chunk_attempts: u32,
    /// When a chunk that failed and may be retried comes back.
    pub chunk_retry: ChunkRetry,
    /// The redrive a resume runs itself before it answers (the scheduler's tick does the rest).
    pub redrive_first_slice: crate::pipeline::redrive::SliceBudget,
    /// The launch function's memory: a chunk's GB-seconds are counted at it.
    pub lambda_memory_mb: u32,
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        Self {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            exports_bucket: None,
            max_chunk_attempts: 5,
            chunk_retry: ChunkRetry::default(),
            redrive_first_slice: crate::pipeline::redrive::worker::START_SLICE,
            lambda_memory_mb: LAUNCH_MEMORY_MB,
        }
    }
}

/// How one chunk message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Processed now; `completed_launch` when it was the last one.
    Done { events: u64, completed_launch: bool },
    /// Already done, cancelled, or of an older launch: nothing emitted.
    Skipped(&'static str),
    /// Failed, worth another attempt: the message is reported as a batch item failure.
    Retry(String),
    /// Failed for good: the chunk and the campaign are marked failed.
    Failed(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerSummary {
    pub started: u64,
    /// Held again: the quiet hours began since the launch was scheduled.
    pub held: u64,
    /// Entries of campaigns no longer scheduled (paused, cancelled, relaunched).
    pub dropped: u64,
    /// Launches that could not start (kept for the next tick when retrying can help).
    pub failed: u64,
}

pub struct Campaigns {
    ports: CampaignPorts,
    config: CampaignsConfig,
    /// Where each launch chunk's usage is added to its campaign's (`with_usage`).
    usage: Option<Arc<dyn crate::costs::UsageCounters>>,
    metrics: crate::metrics::Metrics,
}

fn invalid(field: &str, reason: impl Into<String>) -> CampaignError {
    CampaignError::Invalid(InvalidCampaign {
        field: field.to_string(),
        reason: reason.into(),
    })
}

fn conflict(record: &CampaignRecord, action: &str) -> CampaignError {
    CampaignError::Conflict(format!(
        "cannot {action} a campaign that is {}",
        record.state.as_str()
    ))
}

impl Campaigns {
    pub fn new(ports: CampaignPorts, config: CampaignsConfig) -> Self {
        Self {
            ports,
            config,
            usage: None,
            metrics: crate::metrics::Metrics::new(usage::FUNCTION_NAME),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %request.campaign_id))]
    pub async fn create(
        &self,
        tenant: &TenantId,
        request: NewCampaign,
    ) -> Result<CampaignView, CampaignError> {
        let definition = CampaignDefinition {
            tenant_id: tenant.clone(),
            campaign_id: request.campaign_id,
            template: TemplateRef {
                id: request.template.id,
                version: request.template.version.unwrap_or(0),
            },
            channel: request.channel,
            audience: request.audience,
            variants: request.variants,
            holdout_percent: request.holdout_percent,
            offers: request.offers,
            quiet_hours_zone: request.quiet_hours_zone,
        };
        let now = self.ports.clock.now();
        let record = CampaignRecord {
            definition,
            name: request.name.trim().to_string(),
            state: CampaignState::Draft,
            schedule: request.schedule,
            created_at: now,
            updated_at: now,
            launch: None,
            revision: 1,
        };
        self.check_draft(&record)?;
        if !self.ports.store.create(&record).await? {
            return Err(CampaignError::Conflict(format!(
                "campaign {} already exists",
                record.campaign_id()
            )));
        }
        tracing::info!("campaign created");
        Ok(record.into())
    }

    /// A tenant's export is read under its own prefix only: a campaign can never name another
    /// tenant's customers.
    fn check_audience_location(
        &self,
        definition: &CampaignDefinition,
    ) -> Result<(), CampaignError> {
        let source = &definition.audience.source;
        if let Some(bucket) = &self.config.exports_bucket
            && &source.bucket != bucket
        {
            return Err(invalid(
                "audience.source.bucket",
                format!("exports are read from {bucket}"),
            ));
        }
        let prefix = format!("{}/", definition.tenant_id);
        if !source.key.starts_with(&prefix) || source.key.contains("..") {
            return Err(invalid(
                "audience.source.key",
                format!("must start with {prefix}"),
            ));
        }
        Ok(())
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignView, CampaignError> {
        Ok(self.record(tenant, id).await?.into())
    }

    async fn record(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignRecord, CampaignError> {
        self.ports
            .store
            .get(tenant, id)
            .await?
            .ok_or(CampaignError::NotFound)
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<CampaignPage, CampaignError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let after = cursor
            .map(CampaignId::parse)
            .transpose()
            .map_err(|e| invalid("cursor", e.to_string()))?;
        let mut records = self
            .ports
            .store
            .list(tenant, after.as_ref(), limit + 1)
            .await?;
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|r| r.campaign_id().to_string())
        } else {
            None
        };
        Ok(CampaignPage {
            campaigns: records.into_iter().map(CampaignView::from).collect(),
            next_cursor,
        })
    }

    /// Writes the record with the next revision; a lost race is a conflict.
    async fn write(&self, mut record: CampaignRecord) -> Result<CampaignRecord, CampaignError> {
        record.revision += 1;
        record.updated_at = self.ports.clock.now();
        if self.ports.store.update(&record).await? {
            Ok(record)
        } else {
            Err(CampaignError::Conflict(
                "the campaign was changed concurrently; read it again".into(),
            ))
        }
    }

    async fn active_workspace(
        &self,
        record: &CampaignRecord,
    ) -> Result<TenantWorkspace, CampaignError> {
        let context = self
            .ports
            .directory
            .delivery_context(record.tenant_id(), record.campaign_id(), &[])
            .await?;
        match context.workspace {
            Some(workspace) if workspace.status == TenantStatus::Active => Ok(workspace),
            _ => Err(CampaignError::TenantNotActive),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn pause(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignView, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        match record.state {
            CampaignState::Scheduled | CampaignState::Launching | CampaignState::Sent => {}
            // Pausing twice keeps it paused (and writes the delivery status again).
            CampaignState::Paused => {}
            _ => return Err(conflict(&record, "pause")),
        }
        record.state = CampaignState::Paused;
        Ok(self.write(record).await?.into())
    }

    /// Resumes a paused campaign where it was, and starts the redrive job of its parked batches
    /// (its first slice runs now, the scheduler's tick continues it). On a campaign that is
    /// launching or sent, it only redrives what is still parked. Resuming while the job runs
    /// starts no second job: the running one goes back to the first parked key.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn resume(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignView, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        match record.state {
            CampaignState::Paused => {
                let launch = record.launch.clone();
                record.state = match &launch {
                    Some(launch) if launch.started_at.is_none() => CampaignState::Scheduled,
                    Some(launch) if launch.failure.is_some() => CampaignState::Failed,
                    Some(launch) if launch.completed => CampaignState::Sent,
                    Some(_) => CampaignState::Launching,
                    None => CampaignState::Draft,
                };
                record = self.write(record).await?;
                if let Some(launch) = launch.filter(|l| l.started_at.is_none()) {
                    // The scheduler dropped the entry while the campaign was paused.
                    self.ports
                        .store
                        .schedule(&ScheduleEntry {
                            due: launch.starts_at,
                            launch: launch_key(&record, &launch.launch_id),
                        })
                        .await?;
                }
            }
            CampaignState::Launching | CampaignState::Sent => {}
            _ => return Err(conflict(&record, "resume")),
        }
        // The delivery status was written with the record, in one transaction conditional on
        // the revision read; it is not written again, so a pause landing after it stays.
        let job = self
            .redrive_worker()
            .start(&RedriveScope::campaign(tenant, id))
            .await
            .map_err(CampaignError::Redrive)?;
        tracing::info!(
            batches = job.batches,
            running = job.is_running(),
            "campaign resumed"
        );
        Ok(record.into())
    }

    /// The redrive worker on the lifecycle's archive, stream and jobs.
    pub fn redrive_worker(&self) -> RedriveWorker {
        RedriveWorker {
            archive: self.ports.archive.clone(),
            stream: self.ports.send_batches.clone(),
            jobs: self.ports.redrive_jobs.clone(),
            clock: self.ports.clock.clone(),
            first_slice: self.config.redrive_first_slice,
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignView, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        // Cancelling twice is the same cancel: nothing is written again.
        if record.state == CampaignState::Cancelled {
            return Ok(record.into());
        }
        record.state = CampaignState::Cancelled;
        Ok(self.write(record).await?.into())
    }
}

fn accepted(record: &CampaignRecord, launch: &LaunchRecord) -> LaunchAccepted {
    LaunchAccepted {
        launch_id: launch.launch_id.clone(),
        state: record.state,
        starts_at: rfc3339(launch.starts_at),
    }
}

fn launch_key(record: &CampaignRecord, launch: &LaunchId) -> LaunchKey {
    LaunchKey {
        tenant_id: record.tenant_id().clone(),
        campaign_id: record.campaign_id().clone(),
        launch_id: launch.clone(),
    }
}

/// An error with its sources, for logs and the chunk's last error.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
