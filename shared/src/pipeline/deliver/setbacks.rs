//! Where a batch goes when it cannot be sent now: deferred to a scheduled redrive, parked for an
//! operator's redrive, dead-lettered with its payload, or (only when the archive fails too)
//! given back to Lambda.

use crate::clock::rfc3339;
use crate::deliverability::quiet_hours::held_until;
use crate::domain::{QuietHoursZone, SendBatch, TenantWorkspace, VariantId};
use crate::error::{Retryable, StoreError};
use crate::pipeline::archive::{DeadLetter, DeferredBatch, ParkedBatch};
use crate::pipeline::send_log::BatchOutcome;

use super::*;

/// Deferring stops retrying this close to the deadline, so the invocation still answers in time.
const DEFER_RESERVE: time::Duration = time::Duration::seconds(1);
/// The reason a batch held by the retailer's quiet hours is deferred with.
pub const QUIET_HOURS_REASON: &str = "quiet hours";
/// Attempts to defer at most (each after the send retry's backoff), within the deadline.
const DEFER_ATTEMPTS: u32 = 20;

impl Deliverer {
    /// A store that is down or throttled is tried again later: the batch is deferred, so the
    /// shard moves on and Lambda's retries are kept for what nothing else can hold. A tenant item
    /// that cannot be read is that tenant's problem: its batch is parked with the reason, to be
    /// redriven once the data is fixed.
    pub(super) async fn store_failure(
        &self,
        batch: &SendBatch,
        what: &str,
        error: &StoreError,
        deadline: time::OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let recipients = batch.recipients.len() as u64;
        if let StoreError::Corrupt { .. } = error {
            tracing::error!(error = %error, "{what}: tenant data unreadable; parking the batch");
            return self
                .park(batch, &format!("{what}: {error}"), counts, recipients)
                .await;
        }
        tracing::warn!(error = %error, retryable = error.is_retryable(), "{what} failed; batch deferred");
        let retry_at = self.clock.now().unix_timestamp() + self.config.retry_delay.as_secs() as i64;
        let reason = format!("{what} failed");
        self.defer(
            Some(batch.clone()),
            None,
            retry_at,
            &reason,
            deadline,
            counts,
        )
        .await
    }

    /// A batch that reaches the retailer's quiet hours (a launch that ran into its window, or
    /// batches redriven during it) is deferred whole to the window's end, in the retailer's
    /// time zone: nothing is claimed or sent, and the scheduler's tick puts it back then. A
    /// campaign that keeps the quiet hours in the customer's time zone is never held whole:
    /// each recipient is held in their own (`quiet.rs`).
    pub(super) async fn quiet_hours_hold(
        &self,
        batch: &SendBatch,
        workspace: &TenantWorkspace,
        zone: QuietHoursZone,
        deadline: time::OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> Option<BatchDisposition> {
        if zone == QuietHoursZone::Customer {
            return None;
        }
        let settings = &workspace.settings;
        let open = held_until(self.clock.now(), &settings.timezone, settings.quiet_hours)?;
        counts.quiet_hours_held += batch.recipients.len() as u64;
        Some(
            self.defer(
                Some(batch.clone()),
                None,
                open.unix_timestamp(),
                QUIET_HOURS_REASON,
                deadline,
                counts,
            )
            .await,
        )
    }

    /// Keeps what is left of a batch (and an outcome that could not be written) in the archive
    /// until `retry_at`, for the scheduled redrive (`pipeline::redrive::redrive_due`). An
    /// archive that is down is retried until close to the deadline: a record given back to
    /// Lambda is retried at once, and its retries would run out long before a short outage.
    pub(super) async fn defer(
        &self,
        remainder: Option<SendBatch>,
        unrecorded_outcome: Option<(BatchOutcome, VariantId)>,
        retry_at: i64,
        reason: &str,
        deadline: time::OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let recipients = remainder.as_ref().map_or(0, |b| b.recipients.len() as u64);
        let deferred = DeferredBatch {
            reason: reason.to_string(),
            deferred_at: rfc3339(self.clock.now()),
            retry_at,
            batch: remainder,
            outcome_variant: unrecorded_outcome.as_ref().map(|(_, v)| v.clone()),
            unrecorded_outcome: unrecorded_outcome.map(|(o, _)| o),
        };
        let keep_until = deadline - DEFER_RESERVE;
        let mut attempt = 0;
        loop {
            match self
                .bounded(keep_until, self.archive.defer(&deferred))
                .await
            {
                Ok(()) => {
                    tracing::info!(reason, recipients, retry_at, "deferred for a later redrive");
                    counts.deferred += recipients;
                    return BatchDisposition::Done;
                }
                Err(error) => {
                    attempt += 1;
                    let pause = self.config.send_retry.backoff(attempt);
                    if !error.is_retryable()
                        || attempt >= DEFER_ATTEMPTS
                        || self.clock.now() + pause >= keep_until
                    {
                        tracing::error!(%error, reason, "could not defer; the record will be retried");
                        counts.retried += recipients;
                        return BatchDisposition::Retry;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    pub(super) async fn park(
        &self,
        batch: &SendBatch,
        reason: &str,
        counts: &mut TenantCounts,
        recipients: u64,
    ) -> BatchDisposition {
        let parked = ParkedBatch {
            reason: reason.to_string(),
            parked_at: rfc3339(self.clock.now()),
            batch: batch.clone(),
        };
        match self.archive.park(&parked).await {
            Ok(()) => {
                tracing::warn!(reason, recipients, "batch parked");
                counts.parked += recipients;
                BatchDisposition::Done
            }
            Err(error) => {
                tracing::error!(%error, reason, "batch could not be parked; will be retried");
                counts.retried += recipients;
                BatchDisposition::Retry
            }
        }
    }

    pub(super) async fn dead_letter_batch(
        &self,
        batch: &SendBatch,
        raw: &[u8],
        reason: &str,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let letter = DeadLetter::of_payload(
            FUNCTION_NAME,
            reason,
            Some(batch.group.tenant_id.to_string()),
            raw,
        );
        match self.archive.dead_letter(&letter).await {
            Ok(()) => {
                tracing::warn!(reason, "batch dead-lettered");
                counts.dead_lettered += batch.recipients.len() as u64;
                BatchDisposition::Done
            }
            Err(error) => {
                tracing::error!(%error, reason, "dead letter could not be kept; batch will be retried");
                counts.retried += batch.recipients.len() as u64;
                BatchDisposition::Retry
            }
        }
    }
}
