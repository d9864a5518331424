//! Where a batch goes when it cannot be sent now: retried, parked for a redrive, or
//! dead-lettered with its payload.

use crate::clock::rfc3339;
use crate::domain::SendBatch;
use crate::error::{Retryable, StoreError};
use crate::pipeline::archive::{DeadLetter, ParkedBatch};

use super::*;

impl Deliverer {
    /// A store that is down or throttled is retried (the record goes back to Lambda). A tenant
    /// item that cannot be read is that tenant's problem: its batch is parked with the reason,
    /// to be redriven once the data is fixed, and the shard moves on.
    pub(super) async fn store_failure(
        &self,
        batch: &SendBatch,
        what: &str,
        error: &StoreError,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let recipients = batch.recipients.len() as u64;
        if let StoreError::Corrupt { .. } = error {
            tracing::error!(error = %error, "{what}: tenant data unreadable; parking the batch");
            return self
                .park(batch, &format!("{what}: {error}"), counts, recipients)
                .await;
        }
        tracing::warn!(error = %error, retryable = error.is_retryable(), "{what} failed; batch will be retried");
        counts.retried += recipients;
        BatchDisposition::Retry
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
