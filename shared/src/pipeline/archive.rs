//! Parked batches (kept for a redrive) and dead letters (kept for inspection), and the key layout
//! both archives share.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{CampaignId, SendBatch, TenantId, VariantId};
use crate::error::StoreError;
use crate::pipeline::send_log::BatchOutcome;

/// Why a whole batch was set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedBatch {
    pub reason: String,
    pub parked_at: String,
    pub batch: SendBatch,
}

/// Work a delivery set aside to be tried again at `retry_at`, instead of spending the stream's
/// retries on it: recipients held by another delivery's lease, throttled past the retries, or out
/// of the invocation's time, and an outcome that could not be written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredBatch {
    pub reason: String,
    pub deferred_at: String,
    /// Epoch seconds from which the scheduled redrive puts it back.
    pub retry_at: i64,
    /// The recipients still to send, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<SendBatch>,
    /// An outcome whose write failed after its sends: the redrive records it before it puts any
    /// batch back, so nobody takes over those claims and sends again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecorded_outcome: Option<BatchOutcome>,
    /// The campaign variant the unrecorded outcome is counted under (absent in objects kept
    /// before delivery counters: counted under [`UNKNOWN_VARIANT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_variant: Option<VariantId>,
}

/// The variant a kept outcome without one is counted under.
pub const UNKNOWN_VARIANT: &str = "_unknown";

/// A record that could not be processed at all, with the original payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub source: String,
    pub reason: String,
    pub recorded_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The payload exactly as received (base64 when it is not UTF-8).
    pub payload: String,
    pub payload_encoding: PayloadEncoding,
}

impl DeadLetter {
    /// Keeps the payload byte for byte: as text when it is UTF-8, base64 otherwise.
    pub fn of_payload(
        source: &str,
        reason: &str,
        tenant_id: Option<String>,
        payload: &[u8],
    ) -> Self {
        use base64::Engine as _;
        let (payload, payload_encoding) = match std::str::from_utf8(payload) {
            Ok(text) => (text.to_string(), PayloadEncoding::Utf8),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(payload),
                PayloadEncoding::Base64,
            ),
        };
        Self {
            source: source.to_string(),
            reason: reason.to_string(),
            recorded_at: crate::clock::now_rfc3339(),
            tenant_id,
            payload,
            payload_encoding,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadEncoding {
    Utf8,
    Base64,
}

/// Parked batches (kept for a later redrive) and dead letters (kept for inspection).
#[async_trait]
pub trait Archive: Send + Sync {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError>;
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    /// Parked batches of a tenant, optionally of one campaign only, with their keys.
    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError>;
    /// One page of those parked batches: at most `limit`, in key order, after the key `after`
    /// (from the first when `None`). An empty page is the end.
    async fn parked_page(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError>;
    /// Removes a parked or deferred batch (after it is back on the stream).
    async fn remove_parked(&self, key: &str) -> Result<(), StoreError>;
    /// Removes a parked batch the redrive put back: the object of that park generation only
    /// (`parked.batch.redrive`; the redrive puts the batch back one generation on, so a park of
    /// the redriven copy is another object). An archive that counts its parked batches
    /// (`pipeline::parked::CountedArchive`) stops counting it too; a bare store only removes it.
    async fn unpark(&self, key: &str, _parked: &ParkedBatch) -> Result<(), StoreError> {
        self.remove_parked(key).await
    }
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;
    async fn defer(&self, deferred: &DeferredBatch) -> Result<(), StoreError>;
    /// Deferred batches whose `retry_at` is at or before `now`, earliest first, at most `limit`.
    async fn due_deferred(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, DeferredBatch)>, StoreError>;
}

pub mod keys {
    //! Keys shared by the AWS and in-memory archives, so both lay data out the same way.
    use crate::domain::{BatchId, CampaignId, TenantId};

    pub fn parked_prefix(tenant: &TenantId, campaign: Option<&CampaignId>) -> String {
        match campaign {
            Some(campaign) => format!("parked/{tenant}/{campaign}/"),
            None => format!("parked/{tenant}/"),
        }
    }

    /// `parked/<tenant>/<campaign>/<batch>.json` for a batch never redriven, and
    /// `parked/<tenant>/<campaign>/<batch>!<generation, descending>.json` for one parked again
    /// after `generation` redrives: each park generation is its own object, so a redrive removes
    /// only the one it read. `!` is not an id character and sorts before `.`, and the generation
    /// is written as `u32::MAX - generation` in 8 hex digits, so a later generation sorts before
    /// every earlier one of its batch: a redrive listing past a batch never meets that batch
    /// parked again behind its cursor.
    pub fn parked(
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
        generation: u32,
    ) -> String {
        match generation {
            0 => format!("parked/{tenant}/{campaign}/{batch}.json"),
            n => format!(
                "parked/{tenant}/{campaign}/{batch}!{:08x}.json",
                u32::MAX - n
            ),
        }
    }

    /// The key of a parked batch, by its group, id and park generation.
    pub fn parked_batch(batch: &crate::domain::SendBatch) -> String {
        parked(
            &batch.group.tenant_id,
            &batch.group.campaign_id,
            &batch.batch_id,
            batch.redrive,
        )
    }

    pub const DEFERRED_PREFIX: &str = "deferred/";

    /// `deferred/<retry_at, 10 digits>/<tenant>/<campaign>/<id>.json`: keys sort by when they are
    /// due, so the redrive lists from the start and stops at the first one not yet due.
    pub fn deferred(retry_at: i64, tenant: &TenantId, campaign: &CampaignId, id: &str) -> String {
        format!(
            "{DEFERRED_PREFIX}{:010}/{tenant}/{campaign}/{id}.json",
            retry_at.max(0)
        )
    }

    /// The `retry_at` of a deferred key.
    pub fn deferred_due(key: &str) -> Option<i64> {
        key.strip_prefix(DEFERRED_PREFIX)?.get(..10)?.parse().ok()
    }

    /// The deferred object's own name: the batch it holds (or whose outcome it holds) and the
    /// attempt, so two attempts never overwrite each other.
    fn deferred_id(deferred: &super::DeferredBatch) -> Option<(TenantId, CampaignId, String)> {
        let (group, batch_id, attempt) = match (&deferred.batch, &deferred.unrecorded_outcome) {
            (_, Some(outcome)) => (
                (&outcome.tenant_id, &outcome.campaign_id),
                &outcome.batch_id,
                Some(outcome.attempt.0),
            ),
            (Some(batch), None) => (
                (&batch.group.tenant_id, &batch.group.campaign_id),
                &batch.batch_id,
                None,
            ),
            (None, None) => return None,
        };
        let id = match attempt {
            Some(attempt) => format!("{batch_id}-{attempt:016x}"),
            None => batch_id.to_string(),
        };
        Some((group.0.clone(), group.1.clone(), id))
    }

    pub fn deferred_key(deferred: &super::DeferredBatch) -> Option<String> {
        let (tenant, campaign, id) = deferred_id(deferred)?;
        Some(self::deferred(deferred.retry_at, &tenant, &campaign, &id))
    }

    pub fn dead_letter(source: &str, tenant: Option<&str>, id: &str) -> String {
        format!(
            "dead-letter/{source}/{}/{id}.json",
            tenant.unwrap_or("_unknown")
        )
    }
}

/// SES events the feedback service could not apply are kept as dead letters, whole.
#[async_trait]
impl<T: Archive + ?Sized> crate::deliverability::feedback::UnmatchedEvents for T {
    async fn keep(
        &self,
        reason: &str,
        tenant: Option<String>,
        event: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let payload = serde_json::to_vec(event).map_err(|e| StoreError::Rejected {
            store: "archive",
            source: Box::new(e),
        })?;
        let source = crate::deliverability::feedback::UNMATCHED_SOURCE;
        self.dead_letter(&DeadLetter::of_payload(source, reason, tenant, &payload))
            .await
    }
}
