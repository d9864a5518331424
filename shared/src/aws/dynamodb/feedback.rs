//! The feedback half of the send log on the delivery table ([`FeedbackTable`]): one record per
//! message with the first time of each kind of feedback, the counters per campaign variant and
//! per tenant day, and the soft-bounce history of an address.
//!
//! Keys (beside the claims `MSG#…` and outcomes `BATCH#…`):
//! - feedback record: `pk = FB#<tenant>#<campaign>#<shard>`, `sk = <message id>`, with
//!   `<kind>_at` and `<kind>_detail` per kind;
//! - campaign counters: `pk = COUNT#<tenant>#<campaign>`, `sk = <variant>#<shard>`;
//! - day counters: `pk = DAY#<tenant>#<YYYY-MM-DD>`, `sk = <shard>`;
//! - soft bounces: `pk = SOFT#<tenant>`, `sk = <address>`, a map of message id to time.
//!
//! The shard (the message id's first hex digit) spreads each counter over 16 items, so a
//! million-message campaign's events (thousands a second) never meet one item's limit of
//! 1,000 writes a second. One event is one TransactWriteItems of four items (the claim must
//! exist, the record's kind must be new, two counters): the record and its counts cannot
//! diverge, whatever crashes or redeliveries happen.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update,
};

use super::send_log::{KEY_SHARDS, claim_key, shard};
use super::{DELIVERY, Item, corrupt, is_update_condition_failure, key, n, s};
use crate::aws::errors::store_error;
use crate::clock::Clock;
use crate::deliverability::counters::{
    CounterKey, Day, FeedbackCounters, FeedbackCounts, FeedbackKind,
};
use crate::deliverability::feedback::{FeedbackLog, FeedbackRecord, MessageFeedback, Recorded};
use crate::domain::{CampaignId, MessageId, TenantId};
use crate::error::StoreError;

/// Campaign counters and feedback records outlive the claims: stats stay readable for a year.
pub const CAMPAIGN_COUNTER_RETENTION: time::Duration = time::Duration::days(400);
/// What the warm-up and the auto-pause read: a quarter of days.
pub const DAY_COUNTER_RETENTION: time::Duration = time::Duration::days(90);
/// A TransactWriteItems call holds at most this many items.
pub const MAX_ITEMS_PER_TRANSACTION: usize = 100;
/// Items written per feedback event (claim check, record, two counters).
pub const ITEMS_PER_FEEDBACK_EVENT: usize = 4;
/// A soft-bounce history keeps at most this many messages (the newest); older ones are dropped.
pub const MAX_SOFT_BOUNCES_KEPT: usize = 20;

pub struct FeedbackTable {
    client: Client,
    table: String,
    clock: std::sync::Arc<dyn Clock>,
}

fn record_key(tenant: &TenantId, campaign: &CampaignId, message: &MessageId) -> Item {
    key(
        format!("FB#{tenant}#{campaign}#{}", shard(message.as_str())),
        message.to_string(),
    )
}

/// One more of a kind on a counter item, which keeps itself alive while it is counted.
const COUNTER_ADD: &str = "ADD #kind :one SET expires_at = :expires";

/// The two counter items one piece of feedback increments in `shard`: the campaign variant's and
/// the tenant day's, with how long each is kept.
fn counter_keys(key: &CounterKey, shard: &str) -> [(Item, time::Duration); 2] {
    [
        (
            super::key(
                campaign_counter_pk(&key.tenant, &key.campaign),
                format!("{}#{shard}", key.variant),
            ),
            CAMPAIGN_COUNTER_RETENTION,
        ),
        (
            super::key(day_counter_pk(&key.tenant, &key.day), shard.to_string()),
            DAY_COUNTER_RETENTION,
        ),
    ]
}

fn campaign_counter_pk(tenant: &TenantId, campaign: &CampaignId) -> String {
    format!("COUNT#{tenant}#{campaign}")
}

fn day_counter_pk(tenant: &TenantId, day: &Day) -> String {
    format!("DAY#{tenant}#{}", day.0)
}

impl FeedbackTable {
    pub fn new(client: Client, table: impl Into<String>, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn expiry(&self, retention: time::Duration) -> AttributeValue {
        n((self.clock.now() + retention).unix_timestamp())
    }

    fn transaction(&self, record: &FeedbackRecord) -> Result<Vec<TransactWriteItem>, StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| corrupt(DELIVERY, e);
        let kind = record.kind.as_str();
        let shard = shard(record.message.as_str()).to_string();
        let claim = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(claim_key(
                &record.tenant,
                &record.campaign,
                &record.message,
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build)?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(record_key(
                &record.tenant,
                &record.campaign,
                &record.message,
            )))
            .condition_expression("attribute_not_exists(#at)")
            .expression_attribute_names("#at", format!("{kind}_at"))
            .expression_attribute_values(":at", n(record.at))
            .expression_attribute_values(":expires", self.expiry(CAMPAIGN_COUNTER_RETENTION));
        update = match &record.detail {
            Some(detail) => update
                .update_expression("SET #at = :at, #detail = :detail, expires_at = :expires")
                .expression_attribute_names("#detail", format!("{kind}_detail"))
                .expression_attribute_values(":detail", s(detail.as_str())),
            None => update.update_expression("SET #at = :at, expires_at = :expires"),
        };
        let [campaign_counter, day_counter] =
            counter_keys(&record.counter_key(), &shard).map(|(key, retention)| {
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(COUNTER_ADD)
                    .expression_attribute_names("#kind", kind)
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":expires", self.expiry(retention))
                    .build()
                    .map_err(build)
            });
        let (campaign_counter, day_counter) = (campaign_counter?, day_counter?);
        Ok(vec![
            TransactWriteItem::builder().condition_check(claim).build(),
            TransactWriteItem::builder()
                .update(update.build().map_err(build)?)
                .build(),
            TransactWriteItem::builder()
                .update(campaign_counter)
                .build(),
            TransactWriteItem::builder().update(day_counter).build(),
        ])
    }

    /// Why a transaction was cancelled: its first item (the claim) or its second (the record).
    async fn cancelled(
        &self,
        record: &FeedbackRecord,
        error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
    ) -> Result<Option<Recorded>, StoreError> {
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            error.as_service_error()
        else {
            return Ok(None);
        };
        let failed = |index: usize| {
            cancelled
                .cancellation_reasons()
                .get(index)
                .and_then(|reason| reason.code())
                == Some("ConditionalCheckFailed")
        };
        if failed(0) {
            return Ok(Some(Recorded::UnknownMessage));
        }
        if failed(1) {
            return Ok(Some(Recorded::Again));
        }
        if !cancelled.cancellation_reasons().is_empty() {
            // Cancelled for another reason (a conflict with a concurrent transaction on the same
            // items, throttling): the caller retries the event.
            return Ok(None);
        }
        // No reasons given: tell the two apart by reading.
        let claim = self
            .get(claim_key(&record.tenant, &record.campaign, &record.message))
            .await?;
        Ok(Some(if claim.is_none() {
            Recorded::UnknownMessage
        } else {
            Recorded::Again
        }))
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?
            .item)
    }

    async fn query_all(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(DELIVERY, e))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Cancelled by a concurrent transaction on the same items or by throttling: worth a retry.
pub(super) fn is_contention(
    error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|reason| {
                matches!(
                    reason.code(),
                    Some(
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                )
            })
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        _ => false,
    }
}

fn counts_of(item: &Item, counts: &mut FeedbackCounts) {
    for kind in FeedbackKind::ALL {
        if let Some(value) = item
            .get(kind.as_str())
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            counts.add(kind, value);
        }
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[async_trait]
impl FeedbackLog for FeedbackTable {
    async fn record(&self, record: &FeedbackRecord) -> Result<Recorded, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(self.transaction(record)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::First),
            Err(error) => match self.cancelled(record, &error).await? {
                Some(recorded) => Ok(recorded),
                None if is_contention(&error) => Err(StoreError::Throttled {
                    store: DELIVERY,
                    source: Box::new(error),
                }),
                None => Err(store_error(DELIVERY, error)),
            },
        }
    }

    async fn message_feedback(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageFeedback>, StoreError> {
        let Some(item) = self.get(record_key(tenant, campaign, message)).await? else {
            return Ok(None);
        };
        let events = FeedbackKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let at = number(&item, &format!("{}_at", kind.as_str()))?;
                let detail = item
                    .get(&format!("{}_detail", kind.as_str()))
                    .and_then(|v| v.as_s().ok())
                    .cloned();
                Some((kind, at, detail))
            })
            .collect();
        Ok(Some(MessageFeedback { events }))
    }

    async fn soft_bounces(
        &self,
        tenant: &TenantId,
        address: &str,
        message: &MessageId,
        at: i64,
        since: i64,
    ) -> Result<u32, StoreError> {
        let history = self.note_soft_bounce(tenant, address, message, at).await?;
        let mut times: Vec<i64> = history.values().copied().collect();
        if times.len() > MAX_SOFT_BOUNCES_KEPT {
            self.prune_soft_bounces(tenant, address, &history).await?;
            times.sort_unstable();
            times.drain(..times.len() - MAX_SOFT_BOUNCES_KEPT);
        }
        Ok(times.iter().filter(|t| **t >= since).count() as u32)
    }
}

impl FeedbackTable {
    /// Adds the message to the address's history (a map, so noting it twice keeps one entry)
    /// and answers the whole history.
    async fn note_soft_bounce(
        &self,
        tenant: &TenantId,
        address: &str,
        message: &MessageId,
        at: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let item_key = key(format!("SOFT#{tenant}"), address.to_string());
        // Two shapes of one write: into the existing map, or the map's first entry. A path into
        // a map that does not exist is an error in DynamoDB, so the first write makes the map.
        for _ in 0..3 {
            let into_existing = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(item_key.clone()))
                .update_expression("SET bounces.#m = :at, expires_at = :expires")
                .condition_expression("attribute_exists(bounces)")
                .expression_attribute_names("#m", message.as_str())
                .expression_attribute_values(":at", n(at))
                .expression_attribute_values(":expires", self.expiry(DAY_COUNTER_RETENTION))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match into_existing {
                Ok(output) => return Ok(history_of(output.attributes.as_ref())),
                Err(error) if !is_update_condition_failure(&error) => {
                    return Err(store_error(DELIVERY, error));
                }
                Err(_) => {}
            }
            let first = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(item_key.clone()))
                .update_expression("SET bounces = :bounces, expires_at = :expires")
                .condition_expression("attribute_not_exists(bounces)")
                .expression_attribute_values(
                    ":bounces",
                    AttributeValue::M(HashMap::from([(message.to_string(), n(at))])),
                )
                .expression_attribute_values(":expires", self.expiry(DAY_COUNTER_RETENTION))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match first {
                Ok(output) => return Ok(history_of(output.attributes.as_ref())),
                Err(error) if !is_update_condition_failure(&error) => {
                    return Err(store_error(DELIVERY, error));
                }
                // Another bounce made the map first: write into it.
                Err(_) => {}
            }
        }
        Err(corrupt(DELIVERY, "soft-bounce history kept changing shape"))
    }

    async fn prune_soft_bounces(
        &self,
        tenant: &TenantId,
        address: &str,
        history: &HashMap<String, i64>,
    ) -> Result<(), StoreError> {
        let mut entries: Vec<(&String, &i64)> = history.iter().collect();
        entries.sort_by_key(|(_, at)| **at);
        let oldest = &entries[..entries.len() - MAX_SOFT_BOUNCES_KEPT];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SOFT#{tenant}"), address.to_string())));
        let mut names = Vec::new();
        for (index, (message, _)) in oldest.iter().enumerate() {
            update = update.expression_attribute_names(format!("#o{index}"), message.as_str());
            names.push(format!("bounces.#o{index}"));
        }
        update
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        Ok(())
    }
}

fn history_of(attributes: Option<&Item>) -> HashMap<String, i64> {
    attributes
        .and_then(|item| item.get("bounces"))
        .and_then(|bounces| bounces.as_m().ok())
        .map(|map| {
            map.iter()
                .filter_map(|(message, at)| Some((message.clone(), at.as_n().ok()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl FeedbackCounters for FeedbackTable {
    /// Both counters in one transaction: they move together, and the SDK's idempotency token
    /// keeps a retried attempt that was applied from counting twice.
    async fn increment(&self, key: &CounterKey, kind: FeedbackKind) -> Result<(), StoreError> {
        // Counted without a message (an unsubscribe by link): spread over the shards by time.
        let shard_index = (self.clock.now().unix_timestamp_nanos() as usize) % KEY_SHARDS.len();
        let shard = &KEY_SHARDS[shard_index..=shard_index];
        let mut items = Vec::new();
        for (item_key, retention) in counter_keys(key, shard) {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(item_key))
                .update_expression(COUNTER_ADD)
                .expression_attribute_names("#kind", kind.as_str())
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":expires", self.expiry(retention))
                .build()
                .map_err(|e| corrupt(DELIVERY, e))?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        Ok(())
    }

    async fn campaign_counts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, FeedbackCounts)>, StoreError> {
        let mut by_variant: std::collections::BTreeMap<String, FeedbackCounts> = Default::default();
        for item in self
            .query_all(campaign_counter_pk(tenant, campaign))
            .await?
        {
            let sk = super::get_s(&item, "sk", DELIVERY)?;
            let variant = sk.rsplit_once('#').map(|(v, _)| v).unwrap_or(sk);
            counts_of(&item, by_variant.entry(variant.to_string()).or_default());
        }
        Ok(by_variant.into_iter().collect())
    }

    async fn day_counts(&self, tenant: &TenantId, day: &Day) -> Result<FeedbackCounts, StoreError> {
        let mut counts = FeedbackCounts::default();
        for item in self.query_all(day_counter_pk(tenant, day)).await? {
            counts_of(&item, &mut counts);
        }
        Ok(counts)
    }
}

const _: () = assert!(ITEMS_PER_FEEDBACK_EVENT <= MAX_ITEMS_PER_TRANSACTION);

#[cfg(test)]
#[path = "feedback_tests.rs"]
mod tests;
