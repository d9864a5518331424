//! The campaign lifecycle behind the API: create, read, list, launch, pause, resume, cancel and
//! stats; the launch queue's worker (one chunk per message) and the scheduler's tick.
//!
//! A launch that may start now plans its chunks (HeadObject → byte ranges), writes one progress
//! item per chunk, marks the campaign LAUNCHING and queues one message per chunk: the API answers
//! at once and the chunks run in parallel invocations. A launch with a later start (a scheduled
//! send time, or the retailer's quiet hours) is SCHEDULED and started by the scheduler.
//! See docs/campaigns-engine.md.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::definition::{
    AudienceDefinition, CampaignDefinition, InvalidCampaign, OfferSettings, VariantWeight,
};
use super::queue::{ChunkMessage, ChunkQueue};
use super::report::LaunchReport;
use super::schedule;
use super::store::{
    CampaignRecord, CampaignState, CampaignStore, ChunkProgress, ChunkStatus, LaunchId, LaunchKey,
    LaunchRecord, ScheduleEntry,
};
use super::{CampaignEngine, DEFAULT_CHUNK_BYTES, Launch};
use crate::clock::{Clock, rfc3339};
use crate::domain::{
    CampaignId, Channel, TemplateId, TemplateRef, TenantId, TenantStatus, TenantWorkspace,
};
use crate::error::{Retryable, StoreError};
use crate::ports::{
    Archive, DeliveryDirectory, RecipientOutcome, RecordStream, SendLog, TemplateStore, TenantAdmin,
};
use crate::redrive::RedriveError;
use crate::send_log::CampaignClaims;

/// A page of the campaign list holds at most this many campaigns.
pub const MAX_PAGE_SIZE: usize = 100;
/// A campaign's name is at most this many characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The scheduler starts at most this many due launches per query.
pub const SCHEDULER_PAGE: usize = 25;
/// A conditional write that lost a race is re-read and retried this many times.
const CONCURRENT_WRITE_RETRIES: u32 = 5;

/// What the API accepts to create a campaign. The tenant is the caller's, never the body's.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub campaign_id: CampaignId,
    pub name: String,
    pub template: NewTemplateRef,
    pub channel: Channel,
    pub audience: AudienceDefinition,
    pub variants: Vec<VariantWeight>,
    #[serde(default)]
    pub holdout_percent: f64,
    pub offers: OfferSettings,
    /// Local send time in the retailer's time zone, `YYYY-MM-DDTHH:MM`; launched at once when
    /// missing.
    #[serde(default)]
    pub schedule: Option<String>,
}

/// A template by id, at a published version or (version missing or 0) its live version.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateRef {
    pub id: TemplateId,
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LaunchView {
    pub launch_id: LaunchId,
    /// RFC 3339.
    pub requested_at: String,
    pub starts_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub chunks: u32,
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub campaign_id: CampaignId,
    pub name: String,
    pub state: CampaignState,
    pub definition: CampaignDefinition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchView>,
    pub revision: u64,
}

impl From<CampaignRecord> for CampaignView {
    fn from(record: CampaignRecord) -> Self {
        Self {
            campaign_id: record.definition.campaign_id.clone(),
            name: record.name,
            state: record.state,
            schedule: record.schedule,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            launch: record.launch.map(|launch| LaunchView {
                launch_id: launch.launch_id,
                requested_at: rfc3339(launch.requested_at),
                starts_at: rfc3339(launch.starts_at),
                started_at: launch.started_at.map(rfc3339),
                chunks: launch.chunks,
                completed: launch.completed,
                failure: launch.failure,
            }),
            revision: record.revision,
            definition: record.definition,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignPage {
    pub campaigns: Vec<CampaignView>,
    /// Pass as `cursor` for the next page; missing on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The answer to a launch (HTTP 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LaunchAccepted {
    pub launch_id: LaunchId,
    /// LAUNCHING when the chunks are queued, SCHEDULED when it starts later.
    pub state: CampaignState,
    /// RFC 3339: when the launch starts (or started).
    pub starts_at: String,
}

/// Customers left out, by reason (from the chunks' launch reports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SkippedCounts {
    pub not_consented: u64,
    pub no_address: u64,
    pub suppressed: u64,
    pub not_in_segment: u64,
    /// Over the retailer's frequency cap (no more than N marketing messages in a window).
    pub frequency_capped: u64,
    /// Rows that could not be read (counted, never failing the launch).
    pub malformed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LaunchProgress {
    pub chunks_total: u32,
    pub chunks_done: u32,
    pub chunks_failed: u32,
    pub chunks_pending: u32,
}

/// What delivery recorded, from the send log and the archive's parked batches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    pub sent: u64,
    pub failed: u64,
    /// On the suppression list when the message was sent.
    pub suppressed: u64,
    /// Claimed, not final yet (in flight, deferred, pending a retry).
    pub in_flight: u64,
    /// Recipients of parked batches, waiting for a resume or a redrive.
    pub parked: u64,
    pub parked_batches: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignStats {
    pub campaign_id: CampaignId,
    pub state: CampaignState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_id: Option<LaunchId>,
    pub progress: LaunchProgress,
    /// Non-blank rows read by the done chunks.
    pub rows: u64,
    /// Matched and not held out, per variant.
    pub matched: BTreeMap<String, u64>,
    pub held_out: u64,
    pub skipped: SkippedCounts,
    pub events_emitted: u64,
    pub delivery: DeliveryCounts,
}

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
            CampaignError::Redrive(RedriveError::Archive(e)) => e.is_retryable(),
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
    /// `resume_campaign` sets the delivery status through it.
    pub admin: Arc<dyn TenantAdmin>,
    pub archive: Arc<dyn Archive>,
    /// Where resumed campaigns' parked batches go back to.
    pub send_batches: Arc<dyn RecordStream>,
    pub claims: Arc<dyn CampaignClaims>,
    pub send_log: Arc<dyn SendLog>,
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
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        Self {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            exports_bucket: None,
            max_chunk_attempts: 5,
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
        Self { ports, config }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %request.campaign_id))]
    pub async fn create(
        &self,
        tenant: &TenantId,
        request: NewCampaign,
    ) -> Result<CampaignView, CampaignError> {
        let name = request.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid("name", format!("1 to {MAX_NAME_CHARS} characters")));
        }
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
        };
        definition.validate()?;
        self.check_audience_location(&definition)?;
        if let Some(text) = &request.schedule {
            schedule::parse_local_time(text)?;
        }
        let now = self.ports.clock.now();
        let record = CampaignRecord {
            definition,
            name,
            state: CampaignState::Draft,
            schedule: request.schedule,
            created_at: now,
            updated_at: now,
            launch: None,
            revision: 1,
        };
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
    pub async fn launch(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<LaunchAccepted, CampaignError> {
        let record = self.record(tenant, id).await?;
        match (record.state, &record.launch) {
            (CampaignState::Draft | CampaignState::Failed, _) => {}
            // A launch answered again: the same launch (a repeated request is no second launch).
            (CampaignState::Scheduled, Some(launch)) => return Ok(accepted(&record, launch)),
            (CampaignState::Launching, Some(launch)) if launch.enqueued => {
                return Ok(accepted(&record, launch));
            }
            // Chunks planned but not all queued (the queue failed): queue them again.
            (CampaignState::Launching, Some(_)) => return self.enqueue_chunks(record).await,
            _ => return Err(conflict(&record, "launch")),
        }
        let workspace = self.active_workspace(&record).await?;
        let template = &record.definition.template;
        // Version 0 is the live version, resolved when it is published (not checked here).
        if template.version != 0
            && self
                .ports
                .templates
                .template_version(tenant, template)
                .await?
                .is_none()
        {
            return Err(invalid(
                "template",
                format!(
                    "{} version {} is not published",
                    template.id, template.version
                ),
            ));
        }
        let now = self.ports.clock.now();
        Launch::new(record.definition.clone(), now)?;
        let zone = schedule::time_zone(&workspace.settings.timezone)?;
        let starts_at = schedule::start_time(
            now,
            record.schedule.as_deref(),
            &zone,
            workspace.settings.quiet_hours,
        )?;
        let launch = LaunchRecord {
            launch_id: LaunchId::generate(),
            requested_at: now,
            starts_at,
            started_at: None,
            chunks: 0,
            enqueued: false,
            completed: false,
            failure: None,
        };
        if starts_at <= now {
            return self.start(record, launch).await;
        }
        self.hold(record, launch).await
    }

    /// Marks the launch SCHEDULED and indexes it by its start time. The entry is written first:
    /// an entry whose record never changed is dropped by the scheduler.
    async fn hold(
        &self,
        mut record: CampaignRecord,
        launch: LaunchRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        self.ports
            .store
            .schedule(&ScheduleEntry {
                due: launch.starts_at,
                launch: launch_key(&record, &launch.launch_id),
            })
            .await?;
        record.state = CampaignState::Scheduled;
        record.launch = Some(launch);
        let record = self.write(record).await?;
        let launch = record.launch.as_ref().expect("just set");
        tracing::info!(starts_at = %rfc3339(launch.starts_at), "launch scheduled");
        Ok(accepted(&record, launch))
    }

    /// Plans the chunks, records them PENDING, marks the campaign LAUNCHING and queues one
    /// message per chunk.
    async fn start(
        &self,
        mut record: CampaignRecord,
        mut launch: LaunchRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        let now = self.ports.clock.now();
        let engine_launch = Launch::new(record.definition.clone(), now)?;
        let ranges = self
            .ports
            .engine
            .plan(&engine_launch, self.config.chunk_bytes)
            .await
            .map_err(|error| {
                if error.is_retryable() {
                    CampaignError::Store(error)
                } else {
                    invalid(
                        "audience.source",
                        format!("the export cannot be read: {}", DisplayChain(&error)),
                    )
                }
            })?;
        let key = launch_key(&record, &launch.launch_id);
        let chunks: Vec<ChunkProgress> = ranges
            .iter()
            .enumerate()
            .map(|(index, range)| ChunkProgress {
                index: index as u32,
                start: range.start,
                end: range.end,
                status: ChunkStatus::Pending,
                attempts: 0,
                report: None,
                last_error: None,
            })
            .collect();
        // Progress items before the state: a worker never meets a LAUNCHING campaign without
        // them; orphaned items of a launch that lost the race are never read.
        self.ports.store.put_chunks(&key, &chunks).await?;
        launch.started_at = Some(now);
        launch.chunks = chunks.len() as u32;
        launch.completed = chunks.is_empty();
        launch.enqueued = chunks.is_empty();
        record.state = if chunks.is_empty() {
            CampaignState::Sent
        } else {
            CampaignState::Launching
        };
        record.launch = Some(launch);
        let record = self.write(record).await?;
        tracing::info!(chunks = chunks.len(), "launch started");
        if chunks.is_empty() {
            let launch = record.launch.as_ref().expect("just set");
            return Ok(accepted(&record, launch));
        }
        self.enqueue_chunks(record).await
    }

    /// Queues a message for every chunk not done yet, then notes that they are queued.
    async fn enqueue_chunks(
        &self,
        record: CampaignRecord,
    ) -> Result<LaunchAccepted, CampaignError> {
        let launch = record
            .launch
            .clone()
            .expect("a launching campaign has a launch");
        let key = launch_key(&record, &launch.launch_id);
        let messages: Vec<ChunkMessage> = self
            .ports
            .store
            .chunks(&key)
            .await?
            .into_iter()
            .filter(|chunk| chunk.status == ChunkStatus::Pending)
            .map(|chunk| ChunkMessage {
                launch: key.clone(),
                index: chunk.index,
                start: chunk.start,
                end: chunk.end,
            })
            .collect();
        self.ports
            .queue
            .enqueue(&messages)
            .await
            .map_err(CampaignError::Queue)?;
        let mut updated = record.clone();
        if let Some(launch) = updated.launch.as_mut() {
            launch.enqueued = true;
        }
        // Only a hint for a repeated launch request: a lost race changes nothing that matters.
        let record = match self.write(updated).await {
            Ok(record) => record,
            Err(CampaignError::Conflict(_)) => record,
            Err(error) => return Err(error),
        };
        Ok(accepted(&record, &launch))
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

    /// Resumes a paused campaign where it was, and redrives its parked batches. On a campaign
    /// that is launching or sent, it only redrives what is still parked.
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
        let summary = crate::redrive::resume_campaign(
            self.ports.admin.as_ref(),
            self.ports.archive.as_ref(),
            self.ports.send_batches.as_ref(),
            tenant,
            id,
        )
        .await
        .map_err(CampaignError::Redrive)?;
        tracing::info!(?summary, "campaign resumed");
        Ok(record.into())
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignView, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        record.state = CampaignState::Cancelled;
        Ok(self.write(record).await?.into())
    }

    pub async fn stats(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignStats, CampaignError> {
        let record = self.record(tenant, id).await?;
        let mut progress = LaunchProgress::default();
        let mut report = LaunchReport::default();
        if let Some(launch) = record.launch.as_ref().filter(|l| l.started_at.is_some()) {
            progress.chunks_total = launch.chunks;
            for chunk in self
                .ports
                .store
                .chunks(&launch_key(&record, &launch.launch_id))
                .await?
            {
                match chunk.status {
                    ChunkStatus::Done => progress.chunks_done += 1,
                    ChunkStatus::Failed => progress.chunks_failed += 1,
                    ChunkStatus::Pending => progress.chunks_pending += 1,
                }
                if let Some(chunk_report) = &chunk.report {
                    report.merge(chunk_report);
                }
            }
        }
        let mut delivery = DeliveryCounts::default();
        for status in crate::send_log::campaign_statuses(
            self.ports.claims.as_ref(),
            self.ports.send_log.as_ref(),
            tenant,
            id,
        )
        .await?
        {
            match status.outcome {
                Some(RecipientOutcome::Sent { .. }) => delivery.sent += 1,
                Some(RecipientOutcome::Failed { .. }) => delivery.failed += 1,
                Some(RecipientOutcome::Suppressed) => delivery.suppressed += 1,
                _ => delivery.in_flight += 1,
            }
        }
        for (_, parked) in self.ports.archive.parked(tenant, Some(id)).await? {
            delivery.parked_batches += 1;
            delivery.parked += parked.batch.recipients.len() as u64;
        }
        Ok(CampaignStats {
            campaign_id: id.clone(),
            state: record.state,
            launch_id: record.launch.map(|l| l.launch_id),
            progress,
            rows: report.rows,
            held_out: report.held_out,
            skipped: SkippedCounts {
                not_consented: report.not_consented,
                no_address: report.no_address,
                suppressed: report.suppressed,
                not_in_segment: report.not_in_segment,
                frequency_capped: report.frequency_capped,
                malformed: report.malformed,
            },
            events_emitted: report.events_emitted,
            matched: report.matched,
            delivery,
        })
    }

    /// One chunk of a launch (one queue message).
    #[tracing::instrument(skip_all, fields(
        tenant_id = %message.launch.tenant_id,
        campaign_id = %message.launch.campaign_id,
        launch_id = %message.launch.launch_id,
        chunk = message.index,
    ))]
    pub async fn run_chunk(
        &self,
        message: &ChunkMessage,
        receive_count: u32,
    ) -> Result<ChunkOutcome, CampaignError> {
        let key = &message.launch;
        let Some(record) = self
            .ports
            .store
            .get(&key.tenant_id, &key.campaign_id)
            .await?
        else {
            return Ok(ChunkOutcome::Skipped("no such campaign"));
        };
        let Some(launch) = record
            .launch
            .as_ref()
            .filter(|l| l.launch_id == key.launch_id)
        else {
            return Ok(ChunkOutcome::Skipped("an older launch"));
        };
        if matches!(
            record.state,
            CampaignState::Cancelled | CampaignState::Failed
        ) {
            return Ok(ChunkOutcome::Skipped("campaign cancelled or failed"));
        }
        let Some(started_at) = launch.started_at else {
            return Ok(ChunkOutcome::Skipped("launch not started"));
        };
        match self.ports.store.chunk(key, message.index).await? {
            Some(chunk) if chunk.status == ChunkStatus::Pending => {}
            Some(_) => return Ok(ChunkOutcome::Skipped("chunk already done or failed")),
            None => return Ok(ChunkOutcome::Skipped("no such chunk")),
        }
        let frequency_cap = self
            .ports
            .admin
            .workspace(&record.definition.tenant_id)
            .await?
            .and_then(|workspace| workspace.settings.frequency_cap);
        let engine_launch =
            Launch::new(record.definition.clone(), started_at)?.with_frequency_cap(frequency_cap);
        match self
            .ports
            .engine
            .process_chunk(&engine_launch, message.start..message.end)
            .await
        {
            Ok(report) => {
                let events = report.events_emitted;
                let newly_done = self
                    .ports
                    .store
                    .finish_chunk(key, message.index, &report)
                    .await?;
                let completed_launch = newly_done && self.complete_if_done(key).await?;
                Ok(ChunkOutcome::Done {
                    events,
                    completed_launch,
                })
            }
            Err(error) => {
                let reason = format!("{:#}", DisplayChain(&error));
                let permanent =
                    !error.is_retryable() || receive_count >= self.config.max_chunk_attempts;
                tracing::warn!(%reason, permanent, receive_count, "chunk failed");
                self.ports
                    .store
                    .fail_chunk(key, message.index, &reason, permanent)
                    .await?;
                if permanent {
                    self.fail_launch(key, &reason).await?;
                    Ok(ChunkOutcome::Failed(reason))
                } else {
                    Ok(ChunkOutcome::Retry(reason))
                }
            }
        }
    }

    /// After a chunk is done: when every chunk is, the launch is complete and the campaign SENT.
    async fn complete_if_done(&self, key: &LaunchKey) -> Result<bool, CampaignError> {
        let chunks = self.ports.store.chunks(key).await?;
        if chunks.iter().any(|c| c.status != ChunkStatus::Done) {
            return Ok(false);
        }
        self.change_launch(key, |record| {
            let launch = record.launch.as_mut().expect("matched launch");
            if launch.completed {
                return false;
            }
            launch.completed = true;
            if record.state == CampaignState::Launching {
                record.state = CampaignState::Sent;
            }
            true
        })
        .await
    }

    async fn fail_launch(&self, key: &LaunchKey, reason: &str) -> Result<bool, CampaignError> {
        self.change_launch(key, |record| {
            let launch = record.launch.as_mut().expect("matched launch");
            if launch.failure.is_some() {
                return false;
            }
            launch.failure = Some(reason.to_string());
            if matches!(
                record.state,
                CampaignState::Scheduled | CampaignState::Launching
            ) {
                record.state = CampaignState::Failed;
            }
            true
        })
        .await
    }

    /// Applies `change` to the campaign of this launch, re-reading after a lost race. `change`
    /// answers whether there is anything to write.
    async fn change_launch(
        &self,
        key: &LaunchKey,
        change: impl Fn(&mut CampaignRecord) -> bool,
    ) -> Result<bool, CampaignError> {
        for _ in 0..CONCURRENT_WRITE_RETRIES {
            let Some(mut record) = self
                .ports
                .store
                .get(&key.tenant_id, &key.campaign_id)
                .await?
            else {
                return Ok(false);
            };
            if record.launch.as_ref().map(|l| &l.launch_id) != Some(&key.launch_id)
                || !change(&mut record)
            {
                return Ok(false);
            }
            match self.write(record).await {
                Ok(_) => return Ok(true),
                Err(CampaignError::Conflict(_)) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(CampaignError::Conflict(
            "the campaign kept changing concurrently".into(),
        ))
    }

    /// The launch queue's handler: one chunk per message; failed ones worth retrying are
    /// reported as batch item failures, so SQS retries them alone (and moves them to the
    /// dead-letter queue after the queue's maxReceiveCount).
    pub async fn handle_chunk_messages(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let message: ChunkMessage =
                match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
                    Ok(message) => message,
                    Err(error) => {
                        // Left to reach the dead-letter queue, where it can be looked at.
                        tracing::error!(%error, message_id = %id, "unreadable launch message");
                        response.add_failure(id);
                        continue;
                    }
                };
            match self.run_chunk(&message, receive_count).await {
                Ok(ChunkOutcome::Retry(_)) => response.add_failure(id),
                Ok(outcome) => tracing::info!(?outcome, "chunk message handled"),
                Err(error) => {
                    tracing::warn!(error = %DisplayChain(&error), "chunk message failed");
                    response.add_failure(id);
                }
            }
        }
        response
    }

    /// The scheduler's tick: starts every due SCHEDULED launch (held again if the retailer's
    /// quiet hours began meanwhile) and drops entries that are no longer scheduled.
    pub async fn start_due(&self) -> Result<SchedulerSummary, CampaignError> {
        let mut summary = SchedulerSummary::default();
        loop {
            let now = self.ports.clock.now();
            let due = self.ports.store.due(now, SCHEDULER_PAGE).await?;
            if due.is_empty() {
                return Ok(summary);
            }
            let mut retry_later = false;
            for entry in due {
                match self.start_entry(&entry, now, &mut summary).await {
                    Ok(()) => {}
                    // Changed meanwhile (paused, cancelled, started by another tick): whoever
                    // changed it owns what happens next.
                    Err(CampaignError::Conflict(reason)) => {
                        tracing::info!(%reason, "scheduled launch changed meanwhile");
                        summary.dropped += 1;
                    }
                    Err(error) if error.is_retryable() => {
                        // Kept: the next tick tries again.
                        tracing::warn!(error = %DisplayChain(&error), "scheduled launch not started");
                        summary.failed += 1;
                        retry_later = true;
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(error = %DisplayChain(&error), "scheduled launch failed");
                        summary.failed += 1;
                        self.fail_launch(&entry.launch, &DisplayChain(&error).to_string())
                            .await?;
                    }
                }
                self.ports.store.unschedule(&entry).await?;
            }
            if retry_later {
                return Ok(summary);
            }
        }
    }

    #[tracing::instrument(skip_all, fields(
        tenant_id = %entry.launch.tenant_id,
        campaign_id = %entry.launch.campaign_id,
    ))]
    async fn start_entry(
        &self,
        entry: &ScheduleEntry,
        now: OffsetDateTime,
        summary: &mut SchedulerSummary,
    ) -> Result<(), CampaignError> {
        let key = &entry.launch;
        let record = self
            .ports
            .store
            .get(&key.tenant_id, &key.campaign_id)
            .await?;
        let Some(record) = record.filter(|r| {
            r.state == CampaignState::Scheduled
                && r.launch.as_ref().map(|l| &l.launch_id) == Some(&key.launch_id)
        }) else {
            summary.dropped += 1;
            return Ok(());
        };
        let mut launch = record.launch.clone().expect("filtered");
        // Settings may have changed since the launch was scheduled: look again.
        let workspace = match self.active_workspace(&record).await {
            Ok(workspace) => Some(workspace),
            // Started anyway: delivery parks a paused tenant's batches until it is reinstated.
            Err(CampaignError::TenantNotActive) => None,
            Err(error) => return Err(error),
        };
        if let Some(workspace) = workspace
            && let Ok(zone) = schedule::time_zone(&workspace.settings.timezone)
        {
            let opens = schedule::past_quiet_hours(now, &zone, workspace.settings.quiet_hours);
            if opens > now {
                launch.starts_at = opens;
                let mut record = record.clone();
                record.launch = Some(launch.clone());
                self.ports
                    .store
                    .schedule(&ScheduleEntry {
                        due: opens,
                        launch: key.clone(),
                    })
                    .await?;
                self.write(record).await?;
                summary.held += 1;
                return Ok(());
            }
        }
        match self.start(record, launch).await {
            Ok(_) => summary.started += 1,
            // Another tick or a cancel got there first.
            Err(CampaignError::Conflict(_)) => summary.dropped += 1,
            Err(error) => return Err(error),
        }
        Ok(())
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
