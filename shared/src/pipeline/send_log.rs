//! The per-recipient send log: one claim per message and one outcome per batch (the idempotency
//! records delivery writes), and, for operators, each claim joined with the slot of its owning
//! batch's outcome.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{BatchId, CampaignId, Channel, MessageId, TenantId, VariantId};
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
        /// A push: the customer's devices whose endpoint the push service had disabled, beside
        /// the ones that took it (0 for email).
        #[serde(default, skip_serializing_if = "is_zero")]
        endpoints_disabled: u32,
    },
    Failed {
        reason: String,
    },
    Suppressed,
    /// Refused by the retailer's frequency cap when it was about to be sent: other campaigns
    /// already contacted the customer `max_messages` times on this channel within the window.
    /// Final: not sent, not failed, never retried.
    FrequencyCapped,
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

fn is_zero(count: &u32) -> bool {
    *count == 0
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
    /// How many times the batch's outcome was written (1 for the first write; 0 for an outcome
    /// stored before revisions were kept). Each write is conditioned on the revision it read.
    #[serde(default)]
    pub revision: u64,
    /// The batch's channel: its counters are kept apart (not stored with the outcome item; kept
    /// with an outcome set aside in the archive, so its redrive counts it under its channel).
    #[serde(default)]
    pub channel: Channel,
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
    /// Writes `write.outcome` only if the stored outcome is still the one at `write.expected`,
    /// and adds `write.tally` to the campaign variant's delivery counters in the same atomic
    /// write. Use [`record_outcome`], which computes both.
    async fn write_outcome(&self, write: &OutcomeWrite<'_>) -> Result<OutcomeWritten, StoreError>;
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

/// What a campaign variant's delivery counters count (per channel): each message once, when its
/// slot in a batch outcome first becomes final (see [`record_outcome`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct DeliveryTally {
    pub sent: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub unconfirmed: u64,
    /// Refused at send time by the retailer's frequency cap (`RecipientOutcome::FrequencyCapped`).
    #[serde(default)]
    pub frequency_capped: u64,
    /// Push: devices whose endpoint the push service had disabled, in messages that another
    /// device of the customer took (sent). The messages whose every device was disabled are
    /// `failed_by_reason.endpoint_disabled`. Each device is counted once per message.
    #[serde(default)]
    pub endpoints_disabled: u64,
    /// The failed ones by reason.
    #[serde(default)]
    pub failed_by_reason: FailedByReason,
}

/// Failed messages in the classes the stats tell apart, from the outcome's reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct FailedByReason {
    /// The customer has no address (email) or no device token (push).
    pub no_address: u64,
    /// A device token that is malformed or the provider refused.
    pub invalid_address: u64,
    /// Every device's endpoint was disabled by the push service (its tokens are suppressed).
    pub endpoint_disabled: u64,
    /// The rendered push is over its platform's size limit.
    pub payload_too_large: u64,
    /// The retailer has no push application for the devices' platform.
    pub no_push_application: u64,
    /// Anything else: rejected by the provider, a template that failed to render.
    pub other: u64,
}

impl FailedByReason {
    /// The counter names as stored, in order.
    pub const NAMES: [&'static str; 6] = [
        "failed_no_address",
        "failed_invalid_address",
        "failed_endpoint_disabled",
        "failed_payload_too_large",
        "failed_no_push_application",
        "failed_other",
    ];

    fn slots(&mut self) -> [&mut u64; 6] {
        [
            &mut self.no_address,
            &mut self.invalid_address,
            &mut self.endpoint_disabled,
            &mut self.payload_too_large,
            &mut self.no_push_application,
            &mut self.other,
        ]
    }

    /// Counts one failure by its reason, once: a push failed on several devices for different
    /// reasons counts under the first that matches of no address, endpoint disabled, invalid
    /// token, payload too large, no push application.
    pub fn count(&mut self, reason: &str) {
        let class = if reason.starts_with("customer has no") {
            0
        } else if reason.contains("endpoint disabled") {
            2
        } else if reason.contains("invalid device token") {
            1
        } else if reason.contains("payload too large") {
            3
        } else if reason.contains("no push application") {
            4
        } else {
            5
        };
        *self.slots()[class] += 1;
    }

    fn values(mut self) -> [u64; 6] {
        self.slots().map(|slot| *slot)
    }
}

impl DeliveryTally {
    /// The slots final in `merged` and not in `previous`, by the class the stats count.
    /// `Duplicate` is final but not counted: its message is counted by the batch that owns it.
    pub fn newly_final(previous: Option<&[RecipientOutcome]>, merged: &[RecipientOutcome]) -> Self {
        let mut tally = Self::default();
        for (slot, outcome) in merged.iter().enumerate() {
            let was_final = previous
                .and_then(|p| p.get(slot))
                .is_some_and(RecipientOutcome::is_final);
            if was_final {
                continue;
            }
            match outcome {
                RecipientOutcome::Sent {
                    endpoints_disabled, ..
                } => {
                    tally.sent += 1;
                    tally.endpoints_disabled += u64::from(*endpoints_disabled);
                }
                RecipientOutcome::Failed { reason } => {
                    tally.failed += 1;
                    tally.failed_by_reason.count(reason);
                }
                RecipientOutcome::Suppressed => tally.suppressed += 1,
                RecipientOutcome::Unconfirmed { .. } => tally.unconfirmed += 1,
                RecipientOutcome::FrequencyCapped => tally.frequency_capped += 1,
                _ => {}
            }
        }
        tally
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    pub fn add(&mut self, other: &DeliveryTally) {
        for (name, value) in other.fields() {
            self.set(name, self.get(name) + value);
        }
    }

    /// The counters by name, as stored.
    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        let mut fields = vec![
            ("sent", self.sent),
            ("failed", self.failed),
            ("suppressed", self.suppressed),
            ("unconfirmed", self.unconfirmed),
            ("frequency_capped", self.frequency_capped),
            ("endpoints_disabled", self.endpoints_disabled),
        ];
        fields.extend(
            FailedByReason::NAMES
                .into_iter()
                .zip(self.failed_by_reason.values()),
        );
        fields
    }

    fn get(&self, name: &str) -> u64 {
        self.fields()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, value)| value)
    }

    pub fn set(&mut self, name: &str, value: u64) {
        match name {
            "sent" => self.sent = value,
            "failed" => self.failed = value,
            "suppressed" => self.suppressed = value,
            "unconfirmed" => self.unconfirmed = value,
            "frequency_capped" => self.frequency_capped = value,
            "endpoints_disabled" => self.endpoints_disabled = value,
            other => {
                if let Some(index) = FailedByReason::NAMES.iter().position(|n| *n == other) {
                    *self.failed_by_reason.slots()[index] = value;
                }
            }
        }
    }
}

/// One conditional outcome write and the counts it adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeWrite<'a> {
    /// The outcome to store, its `revision` one past `expected`.
    pub outcome: &'a BatchOutcome,
    /// The revision of the stored outcome this write replaces: `None` when there must be none.
    pub expected: Option<u64>,
    /// The counters are kept per campaign variant.
    pub variant: &'a VariantId,
    /// What the slots this write makes final add (may be zero).
    pub tally: DeliveryTally,
}

impl OutcomeWrite<'_> {
    /// The counters' group: the variant, for email; `<variant>#push` for push (variant ids hold
    /// no `#`), so each channel of a campaign is counted apart.
    pub fn counter_key(&self) -> String {
        counter_key(self.variant, self.outcome.channel)
    }
}

/// See [`OutcomeWrite::counter_key`].
pub fn counter_key(variant: &VariantId, channel: Channel) -> String {
    match channel {
        Channel::Email => variant.to_string(),
        other => format!("{variant}#{other}"),
    }
}

/// The variant and channel of a counter group ([`counter_key`]).
pub fn split_counter_key(key: &str) -> (&str, Channel) {
    match key.split_once('#') {
        Some((variant, "push")) => (variant, Channel::Push),
        _ => (key, Channel::Email),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeWritten {
    Written,
    /// The stored outcome is not at the expected revision: nothing was written or counted.
    Stale,
}

/// Conflicting writers (the redrive of a kept outcome, a redelivered copy of the batch) re-read
/// and merge at most this many times before the write is reported as contended.
pub const OUTCOME_WRITE_CONFLICTS: u32 = 4;

/// Records a batch outcome and counts it, exactly once per message whatever is retried.
///
/// The outcome is merged with the stored one (slots already final stay as they are) and written
/// on condition that the stored outcome is still the revision it was merged with; the counters
/// get the slots the write makes final, in the same atomic write. So a retried call whose first
/// write went through (a timeout after DynamoDB applied it), a redelivered batch, or the redrive
/// of a kept outcome finds those slots final already and counts nothing again; and nothing is
/// counted that was not written. `known_previous` is the stored outcome if the caller read it
/// (`Some(None)`: read, there was none); otherwise the first write assumes there is none, and a
/// stale answer makes it read.
pub async fn record_outcome(
    log: &dyn SendLog,
    outcome: &BatchOutcome,
    variant: &VariantId,
    known_previous: Option<Option<BatchOutcome>>,
) -> Result<(), StoreError> {
    let mut previous = known_previous.flatten();
    for _ in 0..OUTCOME_WRITE_CONFLICTS {
        let stored = previous.as_ref().map(|p| &p.outcomes[..]);
        let merged = merge_outcomes(stored, &outcome.outcomes);
        // Unchanged, unless its releases (`Pending`) are another attempt's: they must name the
        // attempt whose claims they release (`BatchOutcome::releases`).
        let same_attempt = previous
            .as_ref()
            .is_some_and(|p| p.attempt == outcome.attempt);
        if stored == Some(&merged[..])
            && (same_attempt || !merged.contains(&RecipientOutcome::Pending))
        {
            return Ok(());
        }
        let write = BatchOutcome {
            outcomes: merged,
            revision: previous.as_ref().map_or(1, |p| p.revision + 1),
            ..outcome.clone()
        };
        let tally = DeliveryTally::newly_final(stored, &write.outcomes);
        let result = log
            .write_outcome(&OutcomeWrite {
                outcome: &write,
                expected: previous.as_ref().map(|p| p.revision),
                variant,
                tally,
            })
            .await?;
        if result == OutcomeWritten::Written {
            return Ok(());
        }
        previous = log
            .outcome(&outcome.tenant_id, &outcome.campaign_id, &outcome.batch_id)
            .await?;
    }
    Err(StoreError::Throttled {
        store: "delivery table",
        source: crate::error::Message::boxed("batch outcome kept changing under its writes"),
    })
}

/// `outcomes` over `stored`: a slot final in `stored` keeps its outcome.
pub fn merge_outcomes(
    stored: Option<&[RecipientOutcome]>,
    outcomes: &[RecipientOutcome],
) -> Vec<RecipientOutcome> {
    outcomes
        .iter()
        .enumerate()
        .map(|(slot, outcome)| match stored.and_then(|s| s.get(slot)) {
            Some(earlier) if earlier.is_final() => earlier.clone(),
            _ => outcome.clone(),
        })
        .collect()
}

/// A campaign's delivery counters, per variant: a few reads whatever the campaign's size.
#[async_trait]
pub trait DeliveryCounters: Send + Sync {
    async fn campaign_tallies(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, DeliveryTally)>, StoreError>;
    /// What delivery counted of the campaign's usage (`crate::costs::UsageCounters`).
    async fn campaign_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<crate::costs::Usage, StoreError>;
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

#[cfg(test)]
#[path = "send_log_tests.rs"]
mod tests;
