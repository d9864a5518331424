//! The idempotency protocol, message by message.

use std::collections::HashMap;

use crate::clock::Clock;
use crate::domain::{BatchId, MessageId, SendBatch};
use crate::error::StoreError;
use crate::pipeline::send_log::{
    AttemptId, BatchOutcome, ClaimResult, MessageClaim, RecipientOutcome, SendLog,
};

pub(super) enum ClaimDecision {
    Send,
    AlreadyDone,
    /// Another delivery may be sending it: try again once its lease (epoch seconds) has ended.
    HeldElsewhere {
        lease_until: i64,
    },
}

/// Decides, message by message, whether this delivery may send: the idempotency protocol.
///
/// A claim names the batch and slot that owns the message and a lease. The owner's batch outcome
/// says how it ended. A message is sent only by the delivery that holds its claim; a claim is
/// taken over only when its owner released it (outcome `Pending`) or its lease ran out with no
/// final outcome recorded.
pub(super) struct ClaimResolver<'a> {
    pub(super) send_log: &'a dyn SendLog,
    pub(super) clock: &'a dyn Clock,
    pub(super) batch: &'a SendBatch,
    /// This attempt: written into every claim it takes and into its outcome.
    pub(super) attempt: AttemptId,
    pub(super) outcomes: tokio::sync::Mutex<HashMap<BatchId, Option<BatchOutcome>>>,
    /// Whether this attempt holds any claim (claimed or taken over): its outcome then names it,
    /// even unchanged, or the releases in it would not be recognised as its own.
    pub(super) holds_claims: std::sync::atomic::AtomicBool,
}

impl<'a> ClaimResolver<'a> {
    pub(super) fn new(
        send_log: &'a dyn SendLog,
        clock: &'a dyn Clock,
        batch: &'a SendBatch,
    ) -> Self {
        Self {
            send_log,
            clock,
            batch,
            attempt: AttemptId::new(),
            outcomes: tokio::sync::Mutex::new(HashMap::new()),
            holds_claims: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(super) async fn outcome_of(
        &self,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        let mut outcomes = self.outcomes.lock().await;
        if let Some(known) = outcomes.get(batch) {
            return Ok(known.clone());
        }
        let group = &self.batch.group;
        let outcome = self
            .send_log
            .outcome(&group.tenant_id, &group.campaign_id, batch)
            .await?;
        outcomes.insert(batch.clone(), outcome.clone());
        Ok(outcome)
    }

    pub(super) async fn claim(
        &self,
        slot: usize,
        message: &MessageId,
        lease_until: i64,
    ) -> Result<ClaimDecision, StoreError> {
        let group = &self.batch.group;
        let claim = MessageClaim {
            tenant_id: group.tenant_id.clone(),
            campaign_id: group.campaign_id.clone(),
            message_id: message.clone(),
            batch_id: self.batch.batch_id.clone(),
            slot: slot as u16,
            lease_until,
            attempt: self.attempt,
        };
        let existing = match self.send_log.claim(&claim).await? {
            ClaimResult::Claimed => return Ok(self.holds()),
            ClaimResult::Held(existing) => existing,
        };
        let owner_outcome = self.outcome_of(&existing.batch_id).await?;
        let slot_outcome = owner_outcome
            .as_ref()
            .and_then(|o| o.outcomes.get(existing.slot as usize));
        if slot_outcome.is_some_and(RecipientOutcome::is_final) {
            return Ok(ClaimDecision::AlreadyDone);
        }
        let released = owner_outcome
            .as_ref()
            .is_some_and(|o| o.releases(&existing))
            || existing.lease_until < self.clock.now().unix_timestamp();
        let held = ClaimDecision::HeldElsewhere {
            lease_until: existing.lease_until,
        };
        if !released {
            tracing::info!(owner = %existing.batch_id, "message held by a delivery in flight");
            return Ok(held);
        }
        if self.send_log.take_over(&existing, &claim).await? {
            tracing::info!(previous_owner = %existing.batch_id, "took over a released or expired claim");
            Ok(self.holds())
        } else {
            Ok(held)
        }
    }

    /// The batch's stored outcome if this attempt read it (`Some(None)`: there was none).
    pub(super) async fn known_outcome(&self, batch: &BatchId) -> Option<Option<BatchOutcome>> {
        self.outcomes.lock().await.get(batch).cloned()
    }

    /// Outcomes already final in an earlier attempt of this batch are kept as they were.
    pub(super) async fn merge_with_previous(
        &self,
        slots: Vec<RecipientOutcome>,
    ) -> Vec<RecipientOutcome> {
        let previous = self
            .outcomes
            .lock()
            .await
            .get(&self.batch.batch_id)
            .cloned()
            .flatten();
        match previous {
            Some(previous) => slots
                .into_iter()
                .enumerate()
                .map(|(slot, outcome)| match previous.outcomes.get(slot) {
                    Some(earlier) if earlier.is_final() => earlier.clone(),
                    _ => outcome,
                })
                .collect(),
            None => slots,
        }
    }

    fn holds(&self) -> ClaimDecision {
        self.holds_claims
            .store(true, std::sync::atomic::Ordering::Relaxed);
        ClaimDecision::Send
    }

    /// Whether the stored outcome already says all this attempt would write: the same slots,
    /// and no claim of this attempt whose release (`Pending`) must carry its attempt. A batch
    /// taken over and left pending again (deferred twice) is written again; else the next
    /// copy would find its claims held by an attempt no outcome names, and wait for the lease.
    pub(super) async fn previous_matches(&self, outcomes: &[RecipientOutcome]) -> bool {
        if self.holds_claims.load(std::sync::atomic::Ordering::Relaxed)
            && outcomes.contains(&RecipientOutcome::Pending)
        {
            return false;
        }
        self.outcomes
            .lock()
            .await
            .get(&self.batch.batch_id)
            .cloned()
            .flatten()
            .is_some_and(|previous| previous.outcomes == outcomes)
    }
}
