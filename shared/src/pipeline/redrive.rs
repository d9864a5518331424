//! Parked batches go back on the send-batches stream: when a campaign is resumed or a tenant is
//! reinstated. A parked object is removed only after its batch is back on the stream.

use serde::Serialize;

use crate::directory::TenantAdmin;
use crate::domain::{CampaignId, CampaignStatus, TenantId, TenantStatus};
use crate::error::StoreError;
use crate::pipeline::archive::Archive;
use crate::pipeline::publish::{PublishFailure, RetryPolicy, put_all};
use crate::pipeline::publish::{RecordStream, StreamRecord};

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
}

pub async fn redrive_parked(
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    tenant: &TenantId,
    campaign: Option<&CampaignId>,
) -> Result<RedriveSummary, RedriveError> {
    let parked = archive.parked(tenant, campaign).await?;
    let mut records = Vec::with_capacity(parked.len());
    for (_, parked) in &parked {
        records.push(StreamRecord {
            partition_key: parked.batch.batch_id.to_string(),
            data: serde_json::to_vec(&parked.batch)?,
        });
    }
    let results = put_all(stream, &records, RetryPolicy::default()).await;
    let mut summary = RedriveSummary::default();
    for ((key, parked), result) in parked.iter().zip(results) {
        match result {
            Ok(()) => {
                archive.remove_parked(key).await?;
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
    tracing::info!(tenant_id = %tenant, ?summary, "redrove parked batches");
    Ok(summary)
}

/// Resumes a paused campaign: new batches flow again, and the parked ones are redriven.
pub async fn resume_campaign(
    admin: &dyn TenantAdmin,
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    tenant: &TenantId,
    campaign: &CampaignId,
) -> Result<RedriveSummary, RedriveError> {
    admin
        .set_campaign_status(tenant, campaign, CampaignStatus::Active)
        .await?;
    redrive_parked(archive, stream, tenant, Some(campaign)).await
}

/// Reinstates a paused or suspended tenant with the given workspace status and redrives all its
/// parked batches.
pub async fn reinstate_tenant(
    admin: &dyn TenantAdmin,
    archive: &dyn Archive,
    stream: &dyn RecordStream,
    workspace: &crate::domain::TenantWorkspace,
) -> Result<RedriveSummary, RedriveError> {
    let mut active = workspace.clone();
    active.status = TenantStatus::Active;
    admin.put_workspace(&active).await?;
    redrive_parked(archive, stream, &workspace.tenant_id, None).await
}
