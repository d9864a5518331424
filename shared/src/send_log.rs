//! The per-recipient send log for operators: each claim joined with the slot of its owning
//! batch's outcome.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{BatchId, CampaignId, MessageId, TenantId};
use crate::error::StoreError;
use crate::ports::{MessageClaim, RecipientOutcome, SendLog};

/// Lists a campaign's claims (a query per key shard; not on the delivery path).
#[async_trait]
pub trait CampaignClaims: Send + Sync {
    async fn campaign_claims(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<MessageClaim>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientStatus {
    pub message_id: MessageId,
    pub batch_id: BatchId,
    /// `None` while the owning delivery has not recorded an outcome (in flight, or crashed and
    /// waiting for its lease to end).
    pub outcome: Option<RecipientOutcome>,
    pub lease_until: i64,
}

pub async fn recipient_status(
    log: &dyn SendLog,
    tenant: &TenantId,
    campaign: &CampaignId,
    message: &MessageId,
) -> Result<Option<RecipientStatus>, StoreError> {
    let Some(claim) = log.message_claim(tenant, campaign, message).await? else {
        return Ok(None);
    };
    let outcome = log.outcome(tenant, campaign, &claim.batch_id).await?;
    Ok(Some(status_of(
        claim,
        outcome.as_ref().map(|o| &o.outcomes[..]),
    )))
}

pub async fn campaign_statuses(
    claims: &dyn CampaignClaims,
    log: &dyn SendLog,
    tenant: &TenantId,
    campaign: &CampaignId,
) -> Result<Vec<RecipientStatus>, StoreError> {
    let mut outcomes: HashMap<BatchId, Option<Vec<RecipientOutcome>>> = HashMap::new();
    let mut statuses = Vec::new();
    for claim in claims.campaign_claims(tenant, campaign).await? {
        if !outcomes.contains_key(&claim.batch_id) {
            let outcome = log.outcome(tenant, campaign, &claim.batch_id).await?;
            outcomes.insert(claim.batch_id.clone(), outcome.map(|o| o.outcomes));
        }
        let slots = outcomes.get(&claim.batch_id).and_then(|o| o.as_deref());
        statuses.push(status_of(claim, slots));
    }
    statuses.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    Ok(statuses)
}

fn status_of(claim: MessageClaim, slots: Option<&[RecipientOutcome]>) -> RecipientStatus {
    RecipientStatus {
        outcome: slots.and_then(|s| s.get(claim.slot as usize)).cloned(),
        message_id: claim.message_id,
        batch_id: claim.batch_id,
        lease_until: claim.lease_until,
    }
}
