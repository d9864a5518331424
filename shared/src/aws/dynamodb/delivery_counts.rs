//! The delivery counters on the delivery table: what the batch outcomes made final, per campaign
//! variant, counted in the same transaction that writes the outcome.
//!
//! Keys: `pk = DLV#<tenant>#<campaign>`, `sk = <variant>#<shard>` (email) or
//! `<variant>#push#<shard>` (push), with `sent`, `failed`, `suppressed`, `unconfirmed`,
//! `frequency_capped` and the failed ones by reason (`failed_no_address`, ...: `FailedByReason::NAMES`). The shard is the batch id's first two hex digits, so a variant's
//! counters are up to 256 items: two transactions on one item at once conflict (one is
//! cancelled and retried), and at 5,000 sends a second (100 batch outcomes) each item is
//! written about once every two and a half seconds. `stats` reads them all with one query
//! (256 small items are one page).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, ReturnConsumedCapacity, TransactWriteItem, Update};

use super::feedback::{CAMPAIGN_COUNTER_RETENTION, MAX_ITEMS_PER_TRANSACTION};
use super::send_log::DeliveryTable;
use super::{DELIVERY, Item, corrupt, get_s, n};
use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;
use crate::pipeline::send_log::{DeliveryCounters, DeliveryTally, OutcomeWrite, OutcomeWritten};

/// Items in one counted outcome write: the outcome and its variant's counter.
pub const ITEMS_PER_COUNTED_OUTCOME: usize = 2;
const _: () = assert!(ITEMS_PER_COUNTED_OUTCOME <= MAX_ITEMS_PER_TRANSACTION);

/// How many leading characters of the batch id shard the counters (two hex digits: 256 items).
pub const COUNTER_SHARD_CHARS: usize = 2;

pub(super) fn counter_shard(batch: &str) -> &str {
    batch.get(..COUNTER_SHARD_CHARS).unwrap_or(batch)
}

pub(super) fn counter_pk(tenant: &TenantId, campaign: &CampaignId) -> String {
    format!("DLV#{tenant}#{campaign}")
}

/// The condition that the stored outcome is still at `expected` (none; one written before
/// revisions, revision 0; or that revision), with its placeholder's value.
pub(super) fn revision_condition(expected: Option<u64>) -> (&'static str, Option<u64>) {
    match expected {
        None => ("attribute_not_exists(pk)", None),
        Some(0) => ("attribute_exists(pk) AND attribute_not_exists(rev)", None),
        Some(revision) => ("rev = :rev", Some(revision)),
    }
}

/// The counter update a write adds: `ADD` of each non-zero count.
pub(super) fn counter_update(
    table: &str,
    write: &OutcomeWrite<'_>,
    expires_at: i64,
) -> Result<Update, StoreError> {
    let outcome = write.outcome;
    let adds: Vec<_> = write
        .tally
        .fields()
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .collect();
    let expression = adds
        .iter()
        .map(|(name, _)| format!("{name} :{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(super::key(
            counter_pk(&outcome.tenant_id, &outcome.campaign_id),
            format!(
                "{}#{}",
                write.counter_key(),
                counter_shard(outcome.batch_id.as_str())
            ),
        )))
        .update_expression(format!("ADD {expression} SET expires_at = :expires"))
        .expression_attribute_values(":expires", n(expires_at));
    for (name, count) in adds {
        update = update.expression_attribute_values(format!(":{name}"), n(count));
    }
    update.build().map_err(|e| corrupt(DELIVERY, e))
}

impl DeliveryTable {
    /// The outcome's conditional put and its counter update, in one transaction.
    pub(super) fn counted_outcome(
        &self,
        item: Item,
        write: &OutcomeWrite<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (condition, revision) = revision_condition(write.expected);
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(
                revision.map(|r| std::collections::HashMap::from([(":rev".to_string(), n(r))])),
            )
            .build()
            .map_err(|e| corrupt(DELIVERY, e))?;
        let expires_at = (self.now() + CAMPAIGN_COUNTER_RETENTION).unix_timestamp();
        let update = counter_update(self.table(), write, expires_at)?;
        Ok(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ])
    }

    pub(super) async fn write_counted_outcome(
        &self,
        item: Item,
        write: &OutcomeWrite<'_>,
    ) -> Result<OutcomeWritten, StoreError> {
        let result = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(self.counted_outcome(item, write)?))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let model = super::outcome_write_units(write) as f64;
        match result {
            Ok(output) => {
                let reported: f64 = output
                    .consumed_capacity()
                    .iter()
                    .filter_map(|c| c.capacity_units())
                    .sum();
                let units = if reported > 0.0 { reported } else { model };
                crate::costs::record_dynamodb_write(units);
                Ok(OutcomeWritten::Written)
            }
            Err(error) => {
                // Counted at the model: at most what a cancelled transaction is billed.
                crate::costs::record_dynamodb_write(model);
                cancelled(error)
            }
        }
    }
}

/// A cancelled transaction wrote nothing: a failed condition on the outcome means another write
/// came first (the caller reads and merges again); a conflict or throttling is retried later.
fn cancelled(
    error: SdkError<TransactWriteItemsError, impl std::fmt::Debug + Send + Sync + 'static>,
) -> Result<OutcomeWritten, StoreError> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    {
        let outcome_refused = cancelled
            .cancellation_reasons()
            .first()
            .and_then(|reason| reason.code())
            == Some("ConditionalCheckFailed");
        if outcome_refused || cancelled.cancellation_reasons().is_empty() {
            return Ok(OutcomeWritten::Stale);
        }
    }
    if super::feedback::is_contention(&error) {
        return Err(StoreError::Throttled {
            store: DELIVERY,
            source: Box::new(error),
        });
    }
    Err(crate::aws::errors::store_error(DELIVERY, error))
}

#[async_trait]
impl DeliveryCounters for DeliveryTable {
    async fn campaign_tallies(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, DeliveryTally)>, StoreError> {
        let mut by_variant: std::collections::BTreeMap<String, DeliveryTally> = Default::default();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", super::s(counter_pk(tenant, campaign)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| crate::aws::errors::store_error(DELIVERY, e))?;
            let sk = get_s(&item, "sk", DELIVERY)?;
            let variant = sk.rsplit_once('#').map_or(sk, |(v, _)| v);
            let tally = by_variant.entry(variant.to_string()).or_default();
            let mut counts = DeliveryTally::default();
            for (name, _) in DeliveryTally::default().fields() {
                if let Some(value) = item.get(name).and_then(|v| v.as_n().ok()) {
                    let value = value
                        .parse()
                        .map_err(|_| corrupt(DELIVERY, format!("counter {name} is {value}")))?;
                    counts.set(name, value);
                }
            }
            tally.add(&counts);
        }
        Ok(by_variant.into_iter().collect())
    }

    async fn campaign_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<crate::costs::Usage, StoreError> {
        self.read_usage(tenant, campaign).await
    }
}

#[cfg(test)]
#[path = "delivery_counts_tests.rs"]
mod tests;
