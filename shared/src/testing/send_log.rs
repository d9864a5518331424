//! Claims and outcomes in memory, with the DynamoDB adapter's conditional semantics.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::domain::{BatchId, CampaignId, MessageId, TenantId};
use crate::error::StoreError;
use crate::pipeline::send_log::{
    BatchOutcome, ClaimResult, DeliveryCounters, DeliveryTally, MessageClaim, OutcomeWrite,
    OutcomeWritten, SendLog,
};

type ClaimKey = (TenantId, CampaignId, MessageId);
type OutcomeKey = (TenantId, CampaignId, BatchId);

#[derive(Default)]
struct SendLogState {
    claims: HashMap<ClaimKey, MessageClaim>,
    outcomes: HashMap<OutcomeKey, BatchOutcome>,
    /// Delivery counters by tenant, campaign and variant.
    tallies: HashMap<(TenantId, CampaignId, String), DeliveryTally>,
    /// Usage counters by tenant and campaign.
    usage: HashMap<(TenantId, CampaignId), crate::costs::Usage>,
}

/// Claims and outcomes, with the same conditional semantics as the DynamoDB adapter. Counts the
/// writes so benchmarks can report write units.
#[derive(Default)]
pub struct MemorySendLog {
    state: Mutex<SendLogState>,
    writes: AtomicU64,
    failing_outcome_writes: AtomicU64,
}

impl MemorySendLog {
    /// The next `times` outcome writes fail as if DynamoDB were unavailable.
    pub fn fail_outcome_writes(&self, times: u64) {
        self.failing_outcome_writes.store(times, Ordering::Relaxed);
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    pub fn outcomes(&self) -> Vec<BatchOutcome> {
        lock(&self.state).outcomes.values().cloned().collect()
    }

    pub fn claims(&self) -> Vec<MessageClaim> {
        lock(&self.state).claims.values().cloned().collect()
    }
}

fn claim_key(claim: &MessageClaim) -> ClaimKey {
    (
        claim.tenant_id.clone(),
        claim.campaign_id.clone(),
        claim.message_id.clone(),
    )
}

#[async_trait]
impl SendLog for MemorySendLog {
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        let key = claim_key(claim);
        if let Some(existing) = state.claims.get(&key) {
            return Ok(ClaimResult::Held(existing.clone()));
        }
        state.claims.insert(key, claim.clone());
        Ok(ClaimResult::Claimed)
    }

    async fn take_over(
        &self,
        previous: &MessageClaim,
        claim: &MessageClaim,
    ) -> Result<bool, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut state = lock(&self.state);
        let key = claim_key(claim);
        match state.claims.get(&key) {
            Some(existing) if existing == previous => {
                state.claims.insert(key, claim.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The same condition as the DynamoDB adapter (the stored revision is still the expected
    /// one), and the counts added under the same lock: both or neither.
    async fn write_outcome(&self, write: &OutcomeWrite<'_>) -> Result<OutcomeWritten, StoreError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let failing = self.failing_outcome_writes.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |left| left.checked_sub(1),
        );
        if failing.is_ok() {
            return Err(StoreError::Unavailable {
                store: "delivery table",
                source: crate::error::Message::boxed("injected outage"),
            });
        }
        let outcome = write.outcome;
        let key = (
            outcome.tenant_id.clone(),
            outcome.campaign_id.clone(),
            outcome.batch_id.clone(),
        );
        let mut state = lock(&self.state);
        if state.outcomes.get(&key).map(|o| o.revision) != write.expected {
            return Ok(OutcomeWritten::Stale);
        }
        state.outcomes.insert(key, outcome.clone());
        state
            .tallies
            .entry((
                outcome.tenant_id.clone(),
                outcome.campaign_id.clone(),
                write.counter_key(),
            ))
            .or_default()
            .add(&write.tally);
        Ok(OutcomeWritten::Written)
    }

    async fn outcome(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        Ok(lock(&self.state)
            .outcomes
            .get(&(tenant.clone(), campaign.clone(), batch.clone()))
            .cloned())
    }

    async fn message_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        Ok(lock(&self.state)
            .claims
            .get(&(tenant.clone(), campaign.clone(), message.clone()))
            .cloned())
    }
}

#[async_trait]
impl crate::pipeline::send_log::CampaignClaims for MemorySendLog {
    async fn campaign_claims(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<MessageClaim>, StoreError> {
        Ok(lock(&self.state)
            .claims
            .values()
            .filter(|c| &c.tenant_id == tenant && &c.campaign_id == campaign)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DeliveryCounters for MemorySendLog {
    async fn campaign_tallies(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, DeliveryTally)>, StoreError> {
        let mut tallies: Vec<_> = lock(&self.state)
            .tallies
            .iter()
            .filter(|((t, c, _), _)| t == tenant && c == campaign)
            .map(|((_, _, variant), tally)| (variant.clone(), *tally))
            .collect();
        tallies.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tallies)
    }

    async fn campaign_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<crate::costs::Usage, StoreError> {
        let key = (tenant.clone(), campaign.clone());
        Ok(lock(&self.state)
            .usage
            .get(&key)
            .copied()
            .unwrap_or_default())
    }
}

#[async_trait]
impl crate::costs::UsageCounters for MemorySendLog {
    async fn add_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        _batch: &BatchId,
        usage: &crate::costs::Usage,
    ) -> Result<(), StoreError> {
        lock(&self.state)
            .usage
            .entry((tenant.clone(), campaign.clone()))
            .or_default()
            .add(usage);
        Ok(())
    }
}
