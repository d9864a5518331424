//! The per-recipient send log: one claim per message and one outcome per batch (the idempotency
//! records delivery writes), and, for operators, each claim joined with the slot of its owning
//! batch's outcome.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{BatchId, CampaignId, MessageId, TenantId};
use crate::error::StoreError;

/// Where a message's idempotency record says it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageClaim {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub message_id: MessageId,
    /// The batch (and the recipient's position in it) that claimed the message.
    pub batch_id: BatchId,
    pub slot: u16,
    /// Epoch seconds until which the claiming invocation may still be sending.
    pub lease_until: i64,
    /// The delivery attempt that wrote this claim: a release (`Pending` in an outcome) counts
    /// only when the outcome was written by this same attempt.
    pub attempt: AttemptId,
}

/// One delivery attempt of one batch: a random 64-bit value, new for every attempt, so a
/// release written by an earlier attempt can never be mistaken for one by the claim's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttemptId(pub u64);

impl AttemptId {
    pub fn new() -> Self {
        Self(crate::random::next_u64())
    }
}

impl Default for AttemptId {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// This batch now owns the message and may send it.
    Claimed,
    /// Another (or an earlier) claim exists: the caller resolves it with the owner's outcome.
    Held(MessageClaim),
}

/// Final state of one recipient of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipientOutcome {
    Sent {
        provider_message_id: String,
    },
    Failed {
        reason: String,
    },
    Suppressed,
    /// Already sent (or failed) by an earlier delivery.
    Duplicate,
    /// Handed to the provider, but its answer was lost (a timeout, a broken connection, an
    /// internal error): it may have been sent. Never retried, since a retry could send it twice;
    /// the provider's event feedback confirms it later.
    Unconfirmed {
        reason: String,
    },
    /// Held by another delivery that may still be sending: retried later.
    Deferred,
    /// Not attempted (throttled, or the invocation ran out of time): retried later.
    Pending,
}

impl RecipientOutcome {
    /// True when a later delivery must not try again.
    pub fn is_final(&self) -> bool {
        !matches!(self, RecipientOutcome::Deferred | RecipientOutcome::Pending)
    }
}

/// The outcome of one delivery attempt of a batch, slot by slot in recipient order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub batch_id: BatchId,
    /// The attempt that wrote this outcome: its `Pending` slots release only claims of this
    /// attempt.
    pub attempt: AttemptId,
    pub outcomes: Vec<RecipientOutcome>,
}

impl BatchOutcome {
    /// True when the owner of `claim` gave it up: the claim's slot is `Pending` in an outcome
    /// written by the very attempt that wrote the claim. A `Pending` left by an earlier attempt
    /// says nothing about a later attempt that has since taken the claim back.
    pub fn releases(&self, claim: &MessageClaim) -> bool {
        self.attempt == claim.attempt
            && self.batch_id == claim.batch_id
            && matches!(
                self.outcomes.get(claim.slot as usize),
                Some(RecipientOutcome::Pending)
            )
    }
}

/// The idempotency records: one claim per message, one outcome per batch. Together they are the
/// per-recipient send log.
#[async_trait]
pub trait SendLog: Send + Sync {
    /// Conditionally creates the claim; answers the existing claim if there is one.
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError>;
    /// Replaces `previous` (an expired claim) with `claim`, only if nobody else did first.
    async fn take_over(
        &self,
        previous: &MessageClaim,
        claim: &MessageClaim,
    ) -> Result<bool, StoreError>;
    async fn record_outcome(&self, outcome: &BatchOutcome) -> Result<(), StoreError>;
    async fn outcome(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError>;
    async fn message_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError>;
}

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
