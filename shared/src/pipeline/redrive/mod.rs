//! Parked batches go back on the send-batches stream when a campaign is resumed or a tenant is
//! reinstated (through a redrive job: [`jobs`], [`worker`]); deferred batches go back on a
//! schedule once they are due. An archived object is removed only after its batch is back on the
//! stream.

pub mod jobs;
pub mod worker;

pub use jobs::{RedriveJob, RedriveJobs, RedriveProgress, RedriveScope, RedriveState};
pub use worker::{JobsTick, RedriveWorker, Slice, SliceBudget};

use serde::Serialize;

use crate::directory::TenantAdmin;
use crate::domain::{CampaignId, CampaignStatus, TenantId, VariantId};
use crate::error::{Retryable, StoreError};
use crate::pipeline::archive::{Archive, ParkedBatch, UNKNOWN_VARIANT};
use crate::pipeline::publish::{PublishFailure, RetryPolicy, put_all};
use crate::pipeline::publish::{RecordStream, StreamRecord};
use crate::pipeline::send_log::{SendLog, record_outcome};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RedriveSummary {
    pub batches: usize,
    pub recipients: usize,
    /// Batches still parked because they could not be put back (they stay for the next try).
    pub still_parked: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("parked batches could not be read or removed")]
    Archive(#[from] StoreError),
    #[error("parked batch could not be encoded")]
    Encode(#[from] serde_json::Error),
    #[error("the redrive job could not be read or written")]
    Job(#[source] StoreError),
    /// Its conditional writes kept losing to other writers: try again.
    #[error("the redrive job kept changing concurrently")]
    Contended,
}

impl Retryable for RedriveError {
    fn is_retryable(&self) -> bool {
        match self {
            RedriveError::Archive(error) | RedriveError::Job(error) => error.is_retryable(),
            RedriveError::Encode(_) => false,
            RedriveError::Contended => true,
        }
    }
}

/// Parked batches are read and put back this many at a time (one ListObjectsV2 page).
pub const PARKED_PAGE: usize = 100;

/// Puts the parked batches of a tenant (or of one of its campaigns) back on the stream, a page
/// at a time: each page is listed, read, put and removed before the next is listed, so memory
/// stays one page whatever is parked. A batch that could not be put stays parked and the next
/// page lists past it. Redriving a batch twice (a page redriven again after a failure) sends
/// nothing twice: the copy has the same batch and message ids, and delivery's claims resolve it
/// as a duplicate of the first.
pub async fn redrive_parked(
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    tenant: &TenantId,
    campaign: Option<&CampaignId>,
) -> Result<RedriveSummary, RedriveError> {
    let mut summary = RedriveSummary::default();
    let mut after: Option<String> = None;
    loop {
        let page = archive
            .parked_page(tenant, campaign, after.as_deref(), PARKED_PAGE)
            .await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        let full = page.len() == PARKED_PAGE;
        redrive_page(archive, stream, page, &mut summary).await?;
        if !full {
            break;
        }
    }
    tracing::info!(tenant_id = %tenant, ?summary, "redrove parked batches");
    Ok(summary)
}

/// Puts one page of parked batches back and removes each one the stream took.
async fn redrive_page(
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    parked: Vec<(String, ParkedBatch)>,
    summary: &mut RedriveSummary,
) -> Result<(), RedriveError> {
    let mut records = Vec::with_capacity(parked.len());
    for (_, parked) in &parked {
        // One park generation on: if delivery parks the copy again before the unpark below,
        // that is another object and another count, and the unpark removes only this one.
        records.push(StreamRecord {
            partition_key: parked.batch.batch_id.to_string(),
            data: serde_json::to_vec(&parked.batch.redriven())?,
        });
    }
    let results = put_all(stream, &records, RetryPolicy::default()).await;
    for ((key, parked), result) in parked.iter().zip(results) {
        match result {
            Ok(()) => {
                archive.unpark(key, parked).await?;
                summary.batches += 1;
                summary.recipients += parked.batch.recipients.len();
            }
            Err(
                failure @ (PublishFailure::Exhausted { .. }
                | PublishFailure::Rejected { .. }
                | PublishFailure::EntryRefused { .. }
                | PublishFailure::TooLarge { .. }),
            ) => {
                tracing::warn!(%failure, key, "parked batch not redriven; it stays parked");
                summary.still_parked += 1;
            }
        }
    }
    Ok(())
}

/// Resumes a paused campaign (an operator's tool, beside the campaign record): its delivery
/// status goes from `PAUSED` to `ACTIVE` on that condition, so a campaign that is not paused
/// (cancelled, or paused and resumed by someone else) keeps its status; the parked batches are
/// redriven either way (delivery parks them again while the campaign is not active).
pub async fn resume_campaign(
    admin: &dyn TenantAdmin,
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    tenant: &TenantId,
    campaign: &CampaignId,
) -> Result<RedriveSummary, RedriveError> {
    let resumed = admin
        .set_campaign_status_if(
            tenant,
            campaign,
            CampaignStatus::Paused,
            CampaignStatus::Active,
        )
        .await?;
    if !resumed {
        tracing::info!(tenant_id = %tenant, campaign_id = %campaign, "the campaign was not paused; its status is left as it is");
    }
    redrive_parked(archive, stream, tenant, Some(campaign)).await
}

/// How many deferred batches one scheduled tick puts back at most (the rest wait for the next).
pub const DEFERRED_PER_TICK: usize = 2_000;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DeferredRedrive {
    pub batches: usize,
    pub recipients: usize,
    /// Outcomes that a delivery could not write, recorded now.
    pub outcomes_recorded: usize,
    /// Due deferrals left for the next tick: an outcome or a put failed, and nothing after the
    /// first such one is redriven, so a message whose outcome is still unwritten is never handed
    /// to another delivery before it.
    pub left: usize,
    /// Each batch put back: its campaign and id, and its record's Kinesis PUT payload units (what
    /// the campaign's usage counts of it).
    #[serde(skip)]
    pub put_back: Vec<(TenantId, CampaignId, crate::domain::BatchId, u64)>,
}

/// Puts the deferred batches that are due back on the send-batches stream, earliest first.
///
/// An unrecorded outcome is written before anything after it is redriven: a deferral is due no
/// later than any other that waits for the same claims' leases, so the delivery that finds those
/// claims finds their outcome too. The first outcome that still cannot be written ends the tick.
pub async fn redrive_due(
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    send_log: &dyn SendLog,
    now: i64,
) -> Result<DeferredRedrive, RedriveError> {
    let due = archive.due_deferred(now, DEFERRED_PER_TICK).await?;
    let mut summary = DeferredRedrive::default();
    let mut ready = Vec::with_capacity(due.len());
    for (position, (key, deferred)) in due.iter().enumerate() {
        if let Some(outcome) = &deferred.unrecorded_outcome {
            let variant = match &deferred.outcome_variant {
                Some(variant) => variant.clone(),
                None => VariantId::parse(UNKNOWN_VARIANT).expect("a valid variant id"),
            };
            if let Err(error) = record_outcome(send_log, outcome, &variant, None).await {
                tracing::warn!(%error, key, "deferred outcome still cannot be written; next tick");
                summary.left = due.len() - position;
                break;
            }
            summary.outcomes_recorded += 1;
        }
        ready.push((key, deferred.batch.as_ref()));
    }
    let mut records = Vec::new();
    for (_, batch) in &ready {
        if let Some(batch) = batch {
            records.push(StreamRecord {
                partition_key: batch.batch_id.to_string(),
                data: serde_json::to_vec(batch)?,
            });
        }
    }
    let sizes: Vec<usize> = records.iter().map(|record| record.data.len()).collect();
    let mut results = put_all(stream, &records, RetryPolicy::default())
        .await
        .into_iter()
        .zip(sizes);
    for (key, batch) in ready {
        let (put, size) = match batch {
            Some(_) => results.next().unwrap_or((Ok(()), 0)),
            None => (Ok(()), 0),
        };
        match put {
            Ok(()) => {
                archive.remove_parked(key).await?;
                if let Some(batch) = batch {
                    summary.batches += 1;
                    summary.recipients += batch.recipients.len();
                    summary.put_back.push((
                        batch.group.tenant_id.clone(),
                        batch.group.campaign_id.clone(),
                        batch.batch_id.clone(),
                        crate::costs::Usage::put_units(size) as u64,
                    ));
                }
            }
            Err(failure) => {
                tracing::warn!(%failure, key, "deferred batch not redriven; it stays deferred");
                summary.left += 1;
            }
        }
    }
    if summary != DeferredRedrive::default() {
        tracing::info!(?summary, "redrove deferred batches");
    }
    Ok(summary)
}

#[cfg(test)]
mod tests;
