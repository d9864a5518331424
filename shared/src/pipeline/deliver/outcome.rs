//! The end of an attempt: its outcome recorded (retried until close to the deadline, kept in
//! the archive when it cannot be written), and what is left parked or deferred.

use time::OffsetDateTime;

use crate::domain::{BatchId, CONTRACT_VERSION, MessageId, Recipient, SendBatch};
use crate::error::{Retryable, StoreError};
use crate::pipeline::send_log::{BatchOutcome, RecipientOutcome, record_outcome};

use super::*;

impl Deliverer {
    /// Records the batch's outcome (merged with what earlier attempts made final), then parks
    /// the unsent remainder of a refused tenant, or defers what is still to send. Only when the
    /// archive cannot keep it either is the record given back to Lambda.
    pub(super) async fn finish(
        &self,
        batch: &SendBatch,
        resolver: &ClaimResolver<'_>,
        mut attempt: AttemptResults,
        deadline: OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let group = &batch.group;
        let record = BatchOutcome {
            tenant_id: group.tenant_id.clone(),
            campaign_id: group.campaign_id.clone(),
            batch_id: batch.batch_id.clone(),
            attempt: resolver.attempt,
            outcomes: resolver
                .merge_with_previous(std::mem::take(&mut attempt.slots))
                .await,
            revision: 0,
            channel: group.channel,
        };
        let mut unrecorded = None;
        if resolver.previous_matches(&record.outcomes).await {
            tracing::debug!("outcome unchanged; not written again");
        } else if let Err(error) = self.write_outcome(&record, batch, resolver, deadline).await {
            // The sends happened and their claims are leased; the outcome goes to the archive
            // and the scheduled redrive writes it before anything else. See docs/architecture.md,
            // "the crash window".
            tracing::error!(error = %error, "batch outcome could not be recorded; deferring it");
            unrecorded = Some((record.clone(), group.variant.clone()));
        }
        let remainder = remainder_of(batch, &record.outcomes);
        let pending = remainder.as_ref().map_or(0, |r| r.recipients.len() as u64);
        if let (Some(reason), Some(remaining)) = (&attempt.tenant_rejection, &remainder) {
            // The unsent recipients are parked as a batch of their own: their claims are released
            // (`Pending` in this attempt's outcome), so a redrive takes them over.
            let parked = self.park(remaining, reason, counts, pending).await;
            return match unrecorded {
                Some(outcome) => {
                    self.defer(
                        None,
                        Some(outcome),
                        0,
                        "outcome write failed",
                        deadline,
                        counts,
                    )
                    .await
                }
                None => parked,
            };
        }
        let quiet = (&attempt.quiet_held[..], unrecorded.is_some());
        let remainder = match self
            .defer_quiet(batch, remainder, quiet, deadline, counts)
            .await
        {
            Ok(rest) => rest,
            Err(disposition) => return disposition,
        };
        if remainder.is_none() && unrecorded.is_none() {
            return BatchDisposition::Done;
        }
        let retry_at = self.retry_at(&attempt, unrecorded.is_some(), remainder.as_ref());
        let remainder = remainder.map(|mut r| {
            r.share_reservation = attempt.share_reservation;
            r
        });
        let reason = if unrecorded.is_some() {
            "outcome write failed"
        } else if let Some((_, why)) = attempt.capped_until {
            why
        } else {
            "recipients left to send"
        };
        self.defer(remainder, unrecorded, retry_at, reason, deadline, counts)
            .await
    }

    /// When what is left is due again: an unrecorded outcome at once (before any deferral that
    /// waits for the same leases); recipients held elsewhere after that lease; recipients the cap
    /// or the budget held back when they said; the rest after `retry_delay`.
    fn retry_at(
        &self,
        attempt: &AttemptResults,
        unrecorded: bool,
        remainder: Option<&SendBatch>,
    ) -> i64 {
        let now = self.clock.now().unix_timestamp();
        let later = now + self.config.retry_delay.as_secs() as i64;
        if unrecorded {
            return now;
        }
        let retry_at = match attempt.held_until {
            Some(lease_until) => later.max(lease_until + 1),
            None => later,
        };
        let only_held_back = attempt.held_until.is_none()
            && remainder.is_some_and(|r| r.recipients.len() <= attempt.held_back);
        match attempt.capped_until {
            Some((capped_until, _)) if only_held_back => capped_until.max(now + 1),
            Some((capped_until, _)) => retry_at.max(capped_until),
            None => retry_at,
        }
    }

    /// Writes the outcome and its counts (`send_log::record_outcome`), retrying until close to
    /// the deadline; each call is bounded by the time left, so a slow store cannot run the
    /// invocation into its timeout.
    async fn write_outcome(
        &self,
        record: &BatchOutcome,
        batch: &SendBatch,
        resolver: &ClaimResolver<'_>,
        deadline: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let write_until = deadline - self.config.outcome_write_reserve;
        let known_previous = resolver.known_outcome(&batch.batch_id).await;
        let mut attempt = 0;
        loop {
            let write = record_outcome(
                self.send_log.as_ref(),
                record,
                &batch.group.variant,
                known_previous.clone(),
            );
            let result = self.bounded(write_until, write).await;
            match result {
                Ok(()) => return Ok(()),
                Err(error) if error.is_retryable() && attempt + 1 < OUTCOME_WRITE_ATTEMPTS => {
                    attempt += 1;
                    let pause = self.config.send_retry.backoff(attempt);
                    if self.clock.now() + pause >= write_until {
                        return Err(error);
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs a store call for at most `store_call_timeout`, and never past `until`.
    pub(super) async fn bounded<T>(
        &self,
        until: OffsetDateTime,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let left = (until - self.clock.now()).max(time::Duration::ZERO);
        let limit = self.config.store_call_timeout.min(left.unsigned_abs());
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(elapsed) => Err(StoreError::Unavailable {
                store: "send log or archive",
                source: Box::new(elapsed),
            }),
        }
    }
}

/// Attempts of one outcome write at most (and never past the outcome-write reserve).
pub const OUTCOME_WRITE_ATTEMPTS: u32 = 8;

/// What one attempt at a batch's recipients came to.
pub(super) struct AttemptResults {
    pub(super) slots: Vec<RecipientOutcome>,
    /// Why the tenant's workspace refused a send, if it did.
    pub(super) tenant_rejection: Option<String>,
    /// The latest lease of another delivery holding one of the recipients.
    pub(super) held_until: Option<i64>,
    /// Recipients the warm-up cap or the send budget did not grant wait until then, and why.
    pub(super) capped_until: Option<(i64, &'static str)>,
    /// How many recipients the cap or the budget held back.
    pub(super) held_back: usize,
    /// The tenant's share the send budget reserved for them: a deferred remainder keeps it,
    /// and then takes only the account's slots.
    pub(super) share_reservation: Option<crate::domain::ShareReservation>,
    /// Recipients held by their own quiet hours, each with when its window ends (epoch seconds).
    pub(super) quiet_held: Vec<(usize, i64)>,
    /// Recipients whose quiet hours were kept in the retailer's zone for want of their own.
    pub(super) zone_fallbacks: u64,
}

/// The recipients without a final outcome, as a batch of their own (same group; its id derived
/// from its recipients, so the whole batch unchanged keeps its id).
fn remainder_of(batch: &SendBatch, outcomes: &[RecipientOutcome]) -> Option<SendBatch> {
    let remaining: Vec<Recipient> = batch
        .recipients
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| !outcome.is_final())
        .map(|(recipient, _)| recipient.clone())
        .collect();
    if remaining.is_empty() {
        return None;
    }
    Some(batch_of(batch, remaining))
}

/// Some of `batch`'s recipients as a batch of their own: the same group, its id derived from
/// its recipients (so the whole batch unchanged keeps its id).
pub(super) fn batch_of(batch: &SendBatch, recipients: Vec<Recipient>) -> SendBatch {
    let ids: Vec<&MessageId> = recipients.iter().map(|r| &r.message_id).collect();
    SendBatch {
        contract_version: CONTRACT_VERSION,
        batch_id: BatchId::derive(&batch.group, &ids),
        group: batch.group.clone(),
        recipients,
        share_reservation: None,
        redrive: batch.redrive,
    }
}
