//! The warm-up on DynamoDB: each tenant's state on the tenants table (`sk = WARMUP`, written
//! only if its version is unchanged) and the day's send cap on the delivery table
//! (`pk = CAP#<tenant>`, `sk = <day>`, expired by TTL), taken with conditional updates.
//!
//! A cap item holds `cap` (once a decision set it), `used` (granted so far) and `remaining`
//! (what the cap still allows; negative when a lower cap came after the day's first sends). A
//! take is one UpdateItem `remaining = remaining - :n, ADD used :n` if `remaining >= :n`; when
//! that fails, the old item tells what is left, and one more conditional update takes exactly
//! that. DynamoDB conditions cannot compute `cap - used`, hence `remaining`.
//!
//! A take and a give-back add to counters, so each is sent as a one-item TransactWriteItems: the
//! SDK gives the request an idempotency token (`ClientRequestToken`) and resends the same token
//! when it retries an attempt that timed out, and DynamoDB applies a token once. As a plain
//! UpdateItem, an attempt applied but unanswered would be applied again by the retry: a doubled
//! take under-sends, a doubled give-back lets a batch past the day's cap.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use crate::aws::errors::store_error;
use crate::deliverability::counters::Day;
use crate::deliverability::warmup::{CapUsage, SendCap, WarmupRecord, WarmupState, WarmupStore};
use crate::domain::TenantId;
use crate::error::StoreError;

use super::send_log::TRANSACTIONAL_WRITE_FACTOR;
use super::*;

/// Cap items are kept this long after their day starts (TTL), for operators to read back.
pub const CAP_RETENTION: time::Duration = time::Duration::days(8);
const WARMUP_SK: &str = "WARMUP";

#[async_trait]
impl WarmupStore for TenantsTable {
    async fn load(&self, tenant: &TenantId) -> Result<Option<WarmupRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), WARMUP_SK.into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let state: WarmupState = serde_json::from_str(get_s(&item, "state", TENANTS)?)
            .map_err(|e| corrupt(TENANTS, format!("warm-up state: {e}")))?;
        Ok(Some(WarmupRecord {
            state,
            version: get_n(&item, "version", TENANTS)?,
        }))
    }

    async fn save(
        &self,
        tenant: &TenantId,
        state: &WarmupState,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(state).map_err(|e| StoreError::Rejected {
            store: TENANTS,
            source: Box::new(e),
        })?;
        let mut item = key(tenant_pk(tenant), WARMUP_SK.into());
        item.insert("state".into(), s(json));
        item.insert("version".into(), n(expected.map_or(1, |v| v + 1)));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(version) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }
}

/// The day's send caps on the delivery table.
#[derive(Clone)]
pub struct DailyCaps {
    client: Client,
    table: String,
}

enum Take {
    Granted,
    /// The condition failed: what the cap had left (at most 0 when exhausted).
    Left(i64),
}

impl DailyCaps {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(tenant: &TenantId, day: &Day) -> Item {
        key(format!("CAP#{tenant}"), day.0.clone())
    }

    fn expires_at(day: &Day) -> Result<i64, StoreError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(&day.0, &format)
            .map_err(|e| corrupt(DELIVERY, format!("day {}: {e}", day.0)))?;
        Ok((date.midnight().assume_utc() + CAP_RETENTION).unix_timestamp())
    }

    /// One conditional take of `count`.
    async fn try_take(
        &self,
        tenant: &TenantId,
        day: &Day,
        count: u64,
        fallback: u64,
    ) -> Result<Take, StoreError> {
        // A day without an item yet starts from the fallback, if that allows the take.
        let condition = if fallback >= count {
            "remaining >= :n OR attribute_not_exists(remaining)"
        } else {
            "remaining >= :n"
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, day)))
            .update_expression(
                "SET remaining = if_not_exists(remaining, :fallback) - :n, \
                 expires_at = if_not_exists(expires_at, :expires) ADD used :n",
            )
            .condition_expression(condition)
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":fallback", n(fallback))
            .expression_attribute_values(":expires", n(Self::expires_at(day)?))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| corrupt(DELIVERY, e))?;
        match self.write_once(update).await {
            Ok(()) => Ok(Take::Granted),
            Err(error) => match refused_item(&error) {
                // No old item: the day had none, so the fallback is what it had.
                Some(old) => Ok(Take::Left(match old {
                    Some(old) => get_n::<i64>(old, "remaining", DELIVERY)?,
                    None => fallback as i64,
                })),
                None => Err(store_error(DELIVERY, error)),
            },
        }
    }

    /// One update as a one-item transaction, for its idempotency token (see the module docs).
    /// Its write units go to the task's meter (`costs::metered`): what the answer reports, or a
    /// small item's twice (a transaction's) where it has none or the transaction was cancelled.
    async fn write_once(&self, update: Update) -> Result<(), SdkError<TransactWriteItemsError>> {
        let model = TRANSACTIONAL_WRITE_FACTOR as f64 * SMALL_ITEM_UNITS;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match &result {
            Ok(output) => crate::costs::record_dynamodb_write(consumed(
                output.consumed_capacity().first(),
                model,
            )),
            Err(error) if refused_item(error).is_some() => {
                crate::costs::record_dynamodb_write(model)
            }
            Err(_) => {}
        }
        result.map(|_| ())
    }
}

/// When the one item's condition failed: the item as it was (if there was one).
fn refused_item(error: &SdkError<TransactWriteItemsError>) -> Option<Option<&Item>> {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let reason = cancelled.cancellation_reasons().first()?;
            (reason.code() == Some("ConditionalCheckFailed")).then_some(reason.item())
        }
        _ => None,
    }
}

#[async_trait]
impl SendCap for DailyCaps {
    async fn set_cap(&self, tenant: &TenantId, day: &Day, cap: u64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, day)))
            .update_expression(
                "SET cap = :cap, remaining = :cap - if_not_exists(used, :zero), \
                 expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":cap", n(cap))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":expires", n(Self::expires_at(day)?))
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        Ok(())
    }

    /// At most two writes: the take, and when the cap had less left than wanted, a take of
    /// exactly what it had. A concurrent take winning the second round leaves this one with 0
    /// (deferred, never over-granted).
    async fn take(
        &self,
        tenant: &TenantId,
        day: &Day,
        wanted: u64,
        fallback: u64,
    ) -> Result<u64, StoreError> {
        if wanted == 0 {
            return Ok(0);
        }
        let left = match self.try_take(tenant, day, wanted, fallback).await? {
            Take::Granted => return Ok(wanted),
            Take::Left(left) if left <= 0 => return Ok(0),
            Take::Left(left) => (left as u64).min(wanted),
        };
        match self.try_take(tenant, day, left, fallback).await? {
            Take::Granted => Ok(left),
            Take::Left(_) => Ok(0),
        }
    }

    async fn give_back(&self, tenant: &TenantId, day: &Day, count: u64) -> Result<(), StoreError> {
        if count == 0 {
            return Ok(());
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, day)))
            .update_expression("SET remaining = remaining + :n ADD used :minus")
            .condition_expression("attribute_exists(remaining)")
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":minus", n(-(count as i64)))
            .build()
            .map_err(|e| corrupt(DELIVERY, e))?;
        match self.write_once(update).await {
            Ok(()) => Ok(()),
            // No cap item: nothing was taken from it that day.
            Err(error) if refused_item(&error).is_some() => Ok(()),
            Err(error) => Err(store_error(DELIVERY, error)),
        }
    }

    async fn usage(&self, tenant: &TenantId, day: &Day) -> Result<Option<CapUsage>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        Ok(Some(CapUsage {
            cap: item
                .get("cap")
                .map(|_| get_n(&item, "cap", DELIVERY))
                .transpose()?,
            used: get_n::<i64>(&item, "used", DELIVERY)?.max(0) as u64,
        }))
    }
}

#[cfg(test)]
mod tests;
