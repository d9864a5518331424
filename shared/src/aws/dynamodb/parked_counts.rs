//! The parked counts on the delivery table: a marker per parked batch and a counter per
//! campaign, changed together in one transaction conditioned on the marker, so a park or a
//! redrive retried (or run twice) counts once.
//!
//! Keys: markers `pk = PARKED#<tenant>#<campaign>`, `sk = <batch id>` (`<batch id>#<park
//! generation>` for a batch parked again after a redrive), with `recipients`;
//! counters `pk = PARKCOUNT#<tenant>#<campaign>`, `sk = <first two hex digits of the batch id>`,
//! with `batches` and `recipients` (up to 256 items, one query page, so parks of one campaign
//! at once rarely conflict). Neither expires: a batch stays parked until it is redriven.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::delivery_counts::counter_shard;
use super::feedback::{MAX_ITEMS_PER_TRANSACTION, is_contention};
use super::send_log::DeliveryTable;
use super::{DELIVERY, Item, corrupt, get_s, key, n, s};
use crate::domain::{CampaignId, SendBatch, TenantId};
use crate::error::StoreError;
use crate::pipeline::parked::{ParkedCounts, ParkedTally};

/// Items in one count or uncount: the batch's marker and its campaign's counter.
pub const ITEMS_PER_PARKED_COUNT: usize = 2;
const _: () = assert!(ITEMS_PER_PARKED_COUNT <= MAX_ITEMS_PER_TRANSACTION);

pub(super) const MARKER_PREFIX: &str = "PARKED#";
pub(super) const COUNTER_PREFIX: &str = "PARKCOUNT#";

/// The marker of one parked object: the batch id, and for a batch parked again after a redrive,
/// its park generation (`<batch id>#<generation>`), so a redrive uncounts only the park it read.
fn marker_key(batch: &SendBatch) -> Item {
    let group = &batch.group;
    let sk = match batch.redrive {
        0 => batch.batch_id.to_string(),
        generation => format!("{}#{generation}", batch.batch_id),
    };
    key(
        format!("{MARKER_PREFIX}{}#{}", group.tenant_id, group.campaign_id),
        sk,
    )
}

fn counter_pk(tenant: &TenantId, campaign: &CampaignId) -> String {
    format!("{COUNTER_PREFIX}{tenant}#{campaign}")
}

/// The counter update: `sign` is 1 for a park, -1 for a redrive.
fn counter_update(table: &str, batch: &SendBatch, sign: i64) -> Result<Update, StoreError> {
    let group = &batch.group;
    Update::builder()
        .table_name(table)
        .set_key(Some(key(
            counter_pk(&group.tenant_id, &group.campaign_id),
            counter_shard(batch.batch_id.as_str()).to_string(),
        )))
        .update_expression("ADD batches :batches, recipients :recipients")
        .expression_attribute_values(":batches", n(sign))
        .expression_attribute_values(":recipients", n(sign * batch.recipients.len() as i64))
        .build()
        .map_err(|e| corrupt(DELIVERY, e))
}

impl DeliveryTable {
    /// The marker's conditional put (absent: not counted yet) and the counter's increment.
    pub(super) fn count_items(
        &self,
        batch: &SendBatch,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut item = marker_key(batch);
        item.insert("recipients".into(), n(batch.recipients.len()));
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| corrupt(DELIVERY, e))?;
        Ok(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder()
                .update(counter_update(self.table(), batch, 1)?)
                .build(),
        ])
    }

    /// The marker's conditional delete (present: still counted) and the counter's decrement.
    pub(super) fn uncount_items(
        &self,
        batch: &SendBatch,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(marker_key(batch)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| corrupt(DELIVERY, e))?;
        Ok(vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder()
                .update(counter_update(self.table(), batch, -1)?)
                .build(),
        ])
    }

    async fn transact_once(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => already_done(error),
        }
    }
}

/// A refused marker condition means the park (or the redrive) was counted before: done. A
/// conflict with another count, or throttling, is worth a retry.
fn already_done(
    error: SdkError<TransactWriteItemsError, impl std::fmt::Debug + Send + Sync + 'static>,
) -> Result<(), StoreError> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    {
        let marker_refused = cancelled
            .cancellation_reasons()
            .first()
            .and_then(|reason| reason.code())
            == Some("ConditionalCheckFailed");
        if marker_refused {
            return Ok(());
        }
    }
    if is_contention(&error) {
        return Err(StoreError::Throttled {
            store: DELIVERY,
            source: Box::new(error),
        });
    }
    Err(crate::aws::errors::store_error(DELIVERY, error))
}

#[async_trait]
impl ParkedCounts for DeliveryTable {
    async fn count_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.transact_once(self.count_items(batch)?).await
    }

    async fn uncount_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.transact_once(self.uncount_items(batch)?).await
    }

    async fn campaign_parked(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<ParkedTally, StoreError> {
        let mut tally = ParkedTally::default();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(counter_pk(tenant, campaign)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| crate::aws::errors::store_error(DELIVERY, e))?;
            let (batches, recipients) = (count(&item, "batches")?, count(&item, "recipients")?);
            tally.batches = tally.batches.saturating_add_signed(batches);
            tally.recipients = tally.recipients.saturating_add_signed(recipients);
        }
        Ok(tally)
    }
}

fn count(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name).and_then(|v| v.as_n().ok()) {
        None => Ok(0),
        Some(value) => value.parse().map_err(|_| {
            let sk = get_s(item, "sk", DELIVERY).unwrap_or("?");
            corrupt(DELIVERY, format!("parked counter {sk}: {name} is {value}"))
        }),
    }
}

#[cfg(test)]
#[path = "parked_counts_tests.rs"]
mod tests;
