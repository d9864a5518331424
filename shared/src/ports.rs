//! The narrow capabilities the pipeline needs. Each has an AWS adapter (`crate::aws`) and an
//! in-memory adapter (`crate::memory`); no SDK type crosses these traits.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{
    BatchId, CampaignId, CampaignStatus, MessageId, SendBatch, TemplateId, TemplateRef,
    TemplateVersion, TenantId, TenantWorkspace,
};
use crate::error::{SendError, StoreError, StreamError};

/// Kinesis PutRecords accepts at most this many records per call.
pub const MAX_RECORDS_PER_PUT: usize = 500;
/// ... and at most this many bytes (data plus partition keys) per call.
pub const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;
/// ... and at most this many bytes of data per record.
pub const MAX_BYTES_PER_RECORD: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl StreamRecord {
    pub fn size(&self) -> usize {
        self.partition_key.len() + self.data.len()
    }
}

/// The answer to one entry of a PutRecords call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Accepted,
    Failed { code: String, message: String },
}

/// Writes records to one stream.
#[async_trait]
pub trait RecordStream: Send + Sync {
    /// One PutRecords call: at most [`MAX_RECORDS_PER_PUT`] records and [`MAX_BYTES_PER_PUT`]
    /// bytes. Answers one result per record, in order; a 200 response can still carry failed
    /// entries.
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError>;
}

/// Everything delivery needs to know about a tenant and campaign before sending a batch, read in
/// one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryContext {
    pub workspace: Option<TenantWorkspace>,
    pub campaign_status: Option<CampaignStatus>,
    /// The given addresses (normalised) that are on the tenant's suppression list.
    pub suppressed: HashSet<String>,
}

#[async_trait]
pub trait DeliveryDirectory: Send + Sync {
    /// `addresses` must be normalised with [`normalise_address`].
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError>;
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    async fn template_version(
        &self,
        tenant: &TenantId,
        template: &TemplateRef,
    ) -> Result<Option<TemplateVersion>, StoreError>;

    /// The version the template's live pointer names, whole, in one read; `None` before the
    /// template's first publish.
    async fn live_template(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<Option<TemplateVersion>, StoreError>;
}

/// BatchWriteItem writes at most this many items per call.
pub const MAX_ITEMS_PER_BATCH_WRITE: usize = 25;

/// What the deploy tool needs to know of a template's live version without reading it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHead {
    /// The template and its live version number.
    pub template: TemplateRef,
    /// [`crate::templates::content_hash`] of the live version: equal hashes, same content.
    pub content_hash: String,
    /// The retailer's own variable values in the live version.
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

/// How a conditional publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishResult {
    Published,
    /// The live pointer was not at the expected version any more (someone else published):
    /// nothing was written.
    Conflict,
}

/// Publishing retailer-specific template versions: immutable versions, one live pointer per
/// template and tenant.
#[async_trait]
pub trait TemplatePublisher: Send + Sync {
    /// Writes `version` and moves the live pointer to it in one transaction, only if the pointer
    /// is still at `expected_live` (`None`: no live version yet) and the version is new.
    async fn publish(
        &self,
        version: &TemplateVersion,
        expected_live: Option<u32>,
    ) -> Result<PublishResult, StoreError>;

    /// Bulk publish for the deploy tool: every version first (in writes of
    /// [`MAX_ITEMS_PER_BATCH_WRITE`]), then every live pointer, so a pointer never names a version
    /// that is not written. Unconditional: the caller computed the numbers from [`Self::live_heads`].
    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<(), StoreError>;

    /// The live heads of every template of the tenant.
    async fn live_heads(&self, tenant: &TenantId) -> Result<Vec<LiveHead>, StoreError>;
}

/// Every onboarded retailer's workspace: for tools that work across tenants (template deploys).
#[async_trait]
pub trait WorkspaceListing: Send + Sync {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError>;
}

/// What operators (and, later, the marketer API) change: workspaces, templates, campaign status,
/// suppression lists.
#[async_trait]
pub trait TenantAdmin: Send + Sync {
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError>;
    async fn put_template_version(&self, version: &TemplateVersion) -> Result<(), StoreError>;
    async fn set_campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: CampaignStatus,
    ) -> Result<(), StoreError>;
    async fn suppress(&self, tenant: &TenantId, address: &str) -> Result<(), StoreError>;
    /// The tenant's workspace, if it was onboarded.
    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError>;
    /// Claims `slug` (a from-address local part: platform-wide, not per tenant) for `tenant`
    /// with a conditional write. Claiming a slug the tenant already owns succeeds again.
    async fn claim_slug(&self, slug: &str, tenant: &TenantId) -> Result<SlugClaim, StoreError>;
}

/// The answer to a slug claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugClaim {
    /// The slug is the tenant's (newly, or already).
    Claimed,
    /// Another tenant owns it.
    Taken { owner: TenantId },
}

/// Suppression lists and idempotency compare addresses case-insensitively.
pub fn normalise_address(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}

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
    pub outcomes: Vec<RecipientOutcome>,
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

/// One email ready for the provider, routed to exactly one tenant's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub configuration_set: String,
    pub ses_tenant: String,
    pub from_address: String,
    pub to_address: String,
    pub raw_mime: Vec<u8>,
    pub tags: Vec<(String, String)>,
}

#[async_trait]
pub trait EmailProvider: Send + Sync {
    /// Answers the provider's message id.
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError>;
}

/// Why a whole batch was set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedBatch {
    pub reason: String,
    pub parked_at: String,
    pub batch: SendBatch,
}

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
    async fn remove_parked(&self, key: &str) -> Result<(), StoreError>;
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;
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

    pub fn parked(tenant: &TenantId, campaign: &CampaignId, batch: &BatchId) -> String {
        format!("parked/{tenant}/{campaign}/{batch}.json")
    }

    pub fn dead_letter(source: &str, tenant: Option<&str>, id: &str) -> String {
        format!(
            "dead-letter/{source}/{}/{id}.json",
            tenant.unwrap_or("_unknown")
        )
    }
}
