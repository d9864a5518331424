//! The delivery table: claims and batch outcomes (the send log), and the write units they cost.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};

use crate::aws::errors::store_error;
use crate::clock::Clock;
use crate::domain::{BatchId, CampaignId, MessageId, TenantId};
use crate::error::StoreError;
use crate::pipeline::send_log::{
    AttemptId, BatchOutcome, ClaimResult, MessageClaim, OutcomeWrite, OutcomeWritten,
    RecipientOutcome, SendLog,
};

use super::*;

/// The delivery table: claims and batch outcomes.
pub struct DeliveryTable {
    client: Client,
    table: String,
    clock: std::sync::Arc<dyn Clock>,
    /// How long claims and outcomes are kept (TTL): longer than any redelivery or redrive.
    retention: time::Duration,
}

/// Claims and outcomes expire after 30 days: far beyond the stream's retention and any redrive.
pub const SEND_LOG_RETENTION: time::Duration = time::Duration::days(30);

pub(super) fn shard(id: &str) -> &str {
    id.get(..1).unwrap_or("0")
}

pub(super) fn claim_key(tenant: &TenantId, campaign: &CampaignId, message: &MessageId) -> Item {
    key(
        format!("MSG#{tenant}#{campaign}#{}", shard(message.as_str())),
        message.to_string(),
    )
}

pub(super) fn outcome_key(tenant: &TenantId, campaign: &CampaignId, batch: &BatchId) -> Item {
    key(
        format!("BATCH#{tenant}#{campaign}#{}", shard(batch.as_str())),
        batch.to_string(),
    )
}

/// Outcomes are stored compactly (one short string per slot) to keep the batch record within a
/// few write units: `S:<provider id>`, `F:<reason>`, `U:<reason>` unconfirmed, `X` suppressed,
/// `C` frequency capped, `D` duplicate, `W` deferred, `P` pending. A push sent beside devices
/// whose endpoint was disabled is `S<n>:<provider ids>`, `n` those devices.
pub fn encode_outcome(outcome: &RecipientOutcome) -> String {
    match outcome {
        RecipientOutcome::Sent {
            provider_message_id,
            endpoints_disabled: 0,
        } => format!("S:{provider_message_id}"),
        RecipientOutcome::Sent {
            provider_message_id,
            endpoints_disabled,
        } => format!("S{endpoints_disabled}:{provider_message_id}"),
        RecipientOutcome::Failed { reason } => format!("F:{reason}"),
        RecipientOutcome::Suppressed => "X".into(),
        RecipientOutcome::FrequencyCapped => "C".into(),
        RecipientOutcome::Duplicate => "D".into(),
        RecipientOutcome::Unconfirmed { reason } => format!("U:{reason}"),
        RecipientOutcome::Deferred => "W".into(),
        RecipientOutcome::Pending => "P".into(),
    }
}

pub fn decode_outcome(encoded: &str) -> Result<RecipientOutcome, StoreError> {
    Ok(match encoded.split_once(':') {
        Some(("S", id)) => RecipientOutcome::Sent {
            provider_message_id: id.to_string(),
            endpoints_disabled: 0,
        },
        Some(("F", reason)) => RecipientOutcome::Failed {
            reason: reason.to_string(),
        },
        Some(("U", reason)) => RecipientOutcome::Unconfirmed {
            reason: reason.to_string(),
        },
        _ => match encoded {
            "X" => RecipientOutcome::Suppressed,
            "C" => RecipientOutcome::FrequencyCapped,
            "D" => RecipientOutcome::Duplicate,
            "W" => RecipientOutcome::Deferred,
            "P" => RecipientOutcome::Pending,
            other => match other
                .split_once(':')
                .and_then(|(tag, id)| Some((tag.strip_prefix('S')?.parse().ok()?, id)))
            {
                Some((endpoints_disabled, id)) => RecipientOutcome::Sent {
                    provider_message_id: id.to_string(),
                    endpoints_disabled,
                },
                None => return Err(corrupt(DELIVERY, format!("unknown outcome {other:?}"))),
            },
        },
    })
}

pub(super) fn claim_item(claim: &MessageClaim, expires_at: AttributeValue) -> Item {
    let mut item = claim_key(&claim.tenant_id, &claim.campaign_id, &claim.message_id);
    item.extend([
        ("batch_id".into(), s(claim.batch_id.as_str())),
        ("slot".into(), n(claim.slot)),
        ("lease_until".into(), n(claim.lease_until)),
        ("attempt".into(), n(claim.attempt.0)),
        ("expires_at".into(), expires_at),
    ]);
    item
}

pub(super) fn outcome_item(outcome: &BatchOutcome, expires_at: AttributeValue) -> Item {
    let mut item = outcome_key(&outcome.tenant_id, &outcome.campaign_id, &outcome.batch_id);
    item.extend([
        ("attempt".into(), n(outcome.attempt.0)),
        ("rev".into(), n(outcome.revision)),
        (
            "o".into(),
            AttributeValue::L(
                outcome
                    .outcomes
                    .iter()
                    .map(|o| s(encode_outcome(o)))
                    .collect(),
            ),
        ),
        ("expires_at".into(), expires_at),
    ]);
    item
}

/// DynamoDB bills a write per started kilobyte of the item.
pub(super) const WRITE_UNIT_BYTES: usize = 1024;

/// An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8 bytes,
/// numbers about one byte per two digits plus one, lists three bytes plus one per element).
pub fn item_size(item: &Item) -> usize {
    fn value_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(text) => text.len(),
            AttributeValue::N(number) => number.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::B(bytes) => bytes.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(values) => {
                3 + values.iter().map(|v| value_size(v) + 1).sum::<usize>()
            }
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| k.len() + value_size(v) + 1)
                    .sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

pub(super) fn write_units(item: &Item) -> u64 {
    item_size(item).div_ceil(WRITE_UNIT_BYTES) as u64
}

/// The write units one claim costs (the per-message cost of idempotency).
pub fn claim_write_units(claim: &MessageClaim) -> u64 {
    write_units(&claim_item(claim, n(i64::MAX)))
}

/// The write units one batch outcome write costs (shared by the batch's recipients): a plain
/// conditional put when it counts nothing; otherwise a transaction of the put and the counter
/// item (under a kilobyte: one unit), each item billed twice as a transactional write.
pub fn outcome_write_units(write: &OutcomeWrite<'_>) -> u64 {
    let outcome = write_units(&outcome_item(write.outcome, n(i64::MAX)));
    if write.tally.is_zero() {
        outcome
    } else {
        TRANSACTIONAL_WRITE_FACTOR * (outcome + 1)
    }
}

/// A transactional write bills each item twice.
pub const TRANSACTIONAL_WRITE_FACTOR: u64 = 2;

pub(super) fn claim_from_item(
    item: &Item,
    tenant: &TenantId,
    campaign: &CampaignId,
) -> Result<MessageClaim, StoreError> {
    Ok(MessageClaim {
        tenant_id: tenant.clone(),
        campaign_id: campaign.clone(),
        message_id: MessageId::parse(get_s(item, "sk", DELIVERY)?)
            .map_err(|e| corrupt(DELIVERY, e))?,
        batch_id: BatchId::parse(get_s(item, "batch_id", DELIVERY)?)
            .map_err(|e| corrupt(DELIVERY, e))?,
        slot: get_n(item, "slot", DELIVERY)?,
        lease_until: get_n(item, "lease_until", DELIVERY)?,
        attempt: AttemptId(get_n(item, "attempt", DELIVERY)?),
    })
}

impl DeliveryTable {
    pub fn new(client: Client, table: impl Into<String>, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
            retention: SEND_LOG_RETENTION,
        }
    }

    fn expires_at(&self) -> AttributeValue {
        n((self.now() + self.retention).unix_timestamp())
    }

    pub(super) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    fn claim_item(&self, claim: &MessageClaim) -> Item {
        claim_item(claim, self.expires_at())
    }

    /// Claims and outcomes are read strongly consistent: a just-written claim or outcome must
    /// be seen by the delivery that resolves it.
    async fn get_consistent(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        crate::costs::record_dynamodb_read(consumed(output.consumed_capacity.as_ref(), 1.0));
        Ok(output.item)
    }

    async fn read_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        self.get_consistent(claim_key(tenant, campaign, message))
            .await?
            .map(|item| claim_from_item(&item, tenant, campaign))
            .transpose()
    }
}

/// Hex digits: the key shards of a campaign's claims and outcomes.
pub(super) const KEY_SHARDS: &str = "0123456789abcdef";

#[async_trait]
impl crate::pipeline::send_log::CampaignClaims for DeliveryTable {
    async fn campaign_claims(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<MessageClaim>, StoreError> {
        let mut claims = Vec::new();
        for shard in KEY_SHARDS.chars() {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("MSG#{tenant}#{campaign}#{shard}")))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| store_error(DELIVERY, e))?;
                claims.push(claim_from_item(&item, tenant, campaign)?);
            }
        }
        Ok(claims)
    }
}

#[async_trait]
impl SendLog for DeliveryTable {
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.claim_item(claim)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let model = claim_write_units(claim) as f64;
        match result {
            Ok(output) => {
                let units = consumed(output.consumed_capacity.as_ref(), model);
                crate::costs::record_dynamodb_write(units);
                Ok(ClaimResult::Claimed)
            }
            Err(error) if is_condition_failure(&error) => {
                // A refused condition is billed as the write; its answer carries no capacity.
                crate::costs::record_dynamodb_write(model);
                let old = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                    _ => None,
                };
                let existing = match old {
                    Some(item) => claim_from_item(&item, &claim.tenant_id, &claim.campaign_id)?,
                    // The old item is free with the failed write; read it only where the
                    // endpoint does not return it.
                    None => self
                        .read_claim(&claim.tenant_id, &claim.campaign_id, &claim.message_id)
                        .await?
                        .ok_or_else(|| {
                            corrupt(DELIVERY, "claim vanished after a failed condition")
                        })?,
                };
                Ok(ClaimResult::Held(existing))
            }
            Err(error) => Err(store_error(DELIVERY, error)),
        }
    }

    async fn take_over(
        &self,
        previous: &MessageClaim,
        claim: &MessageClaim,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.claim_item(claim)))
            // The attempt is new for every claim written, so it alone names the exact claim read.
            .condition_expression("batch_id = :batch AND attempt = :attempt")
            .expression_attribute_values(":batch", s(previous.batch_id.as_str()))
            .expression_attribute_values(":attempt", n(previous.attempt.0))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let model = claim_write_units(claim) as f64;
        match result {
            Ok(output) => {
                let units = consumed(output.consumed_capacity.as_ref(), model);
                crate::costs::record_dynamodb_write(units);
                Ok(true)
            }
            Err(error) if is_condition_failure(&error) => {
                crate::costs::record_dynamodb_write(model);
                Ok(false)
            }
            Err(error) => Err(store_error(DELIVERY, error)),
        }
    }

    /// A write that counts nothing is one conditional put; one that counts is a transaction
    /// of the put and the counter update (see `delivery_counts`).
    async fn write_outcome(&self, write: &OutcomeWrite<'_>) -> Result<OutcomeWritten, StoreError> {
        let item = outcome_item(write.outcome, self.expires_at());
        if !write.tally.is_zero() {
            return self.write_counted_outcome(item, write).await;
        }
        let (condition, revision) = super::delivery_counts::revision_condition(write.expected);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(
                revision.map(|r| std::collections::HashMap::from([(":rev".to_string(), n(r))])),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let model = outcome_write_units(write) as f64;
        match result {
            Ok(output) => {
                let units = consumed(output.consumed_capacity.as_ref(), model);
                crate::costs::record_dynamodb_write(units);
                Ok(OutcomeWritten::Written)
            }
            Err(error) if is_condition_failure(&error) => {
                crate::costs::record_dynamodb_write(model);
                Ok(OutcomeWritten::Stale)
            }
            Err(error) => Err(store_error(DELIVERY, error)),
        }
    }

    async fn outcome(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        let Some(item) = self
            .get_consistent(outcome_key(tenant, campaign, batch))
            .await?
        else {
            return Ok(None);
        };
        let encoded = item
            .get("o")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| corrupt(DELIVERY, "outcome list missing"))?;
        let outcomes = encoded
            .iter()
            .map(|v| {
                v.as_s()
                    .map_err(|_| corrupt(DELIVERY, "outcome entry is not a string"))
                    .and_then(|s| decode_outcome(s))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(BatchOutcome {
            tenant_id: tenant.clone(),
            campaign_id: campaign.clone(),
            batch_id: batch.clone(),
            attempt: AttemptId(get_n(&item, "attempt", DELIVERY)?),
            outcomes,
            revision: match item.get("rev") {
                Some(_) => get_n(&item, "rev", DELIVERY)?,
                None => 0,
            },
            // Not stored: a write merges into the outcome it is given, with its own channel.
            channel: Default::default(),
        }))
    }

    async fn message_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        self.read_claim(tenant, campaign, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_compact_form() {
        for outcome in [
            RecipientOutcome::Sent {
                provider_message_id: "0100-abc:def".into(),
                endpoints_disabled: 0,
            },
            RecipientOutcome::Sent {
                provider_message_id: "sns-1,sns-2".into(),
                endpoints_disabled: 3,
            },
            RecipientOutcome::Failed {
                reason: "bad: address".into(),
            },
            RecipientOutcome::Suppressed,
            RecipientOutcome::FrequencyCapped,
            RecipientOutcome::Duplicate,
            RecipientOutcome::Deferred,
            RecipientOutcome::Pending,
            RecipientOutcome::Unconfirmed {
                reason: "timeout: response lost".into(),
            },
        ] {
            assert_eq!(decode_outcome(&encode_outcome(&outcome)).unwrap(), outcome);
        }
        assert!(decode_outcome("?").is_err());
    }

    #[test]
    fn a_claim_costs_one_write_unit_and_a_full_batch_outcome_a_few_or_twice_that_plus_its_counter()
    {
        let claim = MessageClaim {
            tenant_id: TenantId::parse("alpine-outfitters").unwrap(),
            campaign_id: CampaignId::parse("winter-warmup-2026").unwrap(),
            message_id: MessageId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            batch_id: BatchId::parse("0123456789abcdef01234567").unwrap(),
            slot: 49,
            lease_until: 1_795_322_134,
            attempt: AttemptId(u64::MAX),
        };
        assert_eq!(claim_write_units(&claim), 1);
        let outcome = BatchOutcome {
            tenant_id: claim.tenant_id.clone(),
            campaign_id: claim.campaign_id.clone(),
            batch_id: claim.batch_id.clone(),
            attempt: AttemptId(u64::MAX),
            outcomes: vec![
                RecipientOutcome::Sent {
                    // The shape of an SES message id.
                    provider_message_id:
                        "010001933b8a8c3e-5b0b6e2c-8d0a-4b8a-9c53-0c9b2a7f6e1a-000000".into(),
                    endpoints_disabled: 0,
                };
                crate::domain::PROVIDER_BATCH_SIZE
            ],
            revision: 1,
            channel: Default::default(),
        };
        let variant = crate::domain::VariantId::parse("A").unwrap();
        let uncounted = OutcomeWrite {
            outcome: &outcome,
            expected: None,
            variant: &variant,
            tally: Default::default(),
        };
        let units = outcome_write_units(&uncounted);
        assert!((3..=4).contains(&units), "{units} write units");
        let counted = OutcomeWrite {
            tally: crate::pipeline::send_log::DeliveryTally::newly_final(None, &outcome.outcomes),
            ..uncounted
        };
        assert_eq!(
            counted.tally.sent,
            crate::domain::PROVIDER_BATCH_SIZE as u64
        );
        assert_eq!(outcome_write_units(&counted), 2 * (units + 1));
    }

    #[test]
    fn claim_keys_spread_one_campaign_over_sixteen_partitions() {
        let t = TenantId::parse("t").unwrap();
        let c = CampaignId::parse("c").unwrap();
        let partitions: std::collections::HashSet<_> = (0..500)
            .map(|i| {
                let m = MessageId::derive(
                    &t,
                    &c,
                    &crate::domain::CustomerId::parse(format!("u{i}")).unwrap(),
                    crate::domain::Channel::Email,
                );
                claim_key(&t, &c, &m)["pk"].as_s().unwrap().clone()
            })
            .collect();
        assert_eq!(partitions.len(), 16);
    }
}
