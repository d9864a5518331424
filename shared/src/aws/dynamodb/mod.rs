//! DynamoDB adapters, one file per port on each table: the tenants table ([`TenantsTable`]:
//! [`tenants`] the delivery directory and suppression check, [`suppressions`] the retailers'
//! suppression lists, [`contacts`], [`templates`], [`admin`];
//! [`campaigns`]: campaign records, launches, the schedule index; [`redrive_jobs`]: the redrive
//! jobs of resumes and reinstates, and the index of the running ones) and the delivery table
//! ([`send_log`]: claims and batch outcomes).
//!
//! Key layout (see docs/architecture.md):
//! - tenants: `pk = TENANT#<tenant>`, `sk = WORKSPACE | CAMPAIGN#<id> | SUPPRESSED#<address> |
//!   TEMPLATE#<id>#V#<version> | LIVE#<template id> | SNIPPET#<name> | WARMUP |
//!   ENDPOINT#<platform>#<token hash> | REDRIVE#CAMPAIGN#<id> | REDRIVE#TENANT | CONTACTS#<customer> |
//!   CONTACTS#PUSH#<customer>` (`retailer_snippets`: a retailer's own snippets; [`push_endpoints`]:
//!   the push endpoint cache; [`contacts`]: the frequency cap's); the
//!   running redrive jobs' index `pk = REDRIVING`
//! - delivery: claims `pk = MSG#<tenant>#<campaign>#<shard>`, `sk = <message id>`; outcomes
//!   `pk = BATCH#<tenant>#<campaign>#<shard>`, `sk = <batch id>`. The shard (one hex digit of the
//!   id) spreads a large campaign over 16 partitions. Parked batches ([`parked_counts`]): markers
//!   `pk = PARKED#<tenant>#<campaign>`, `sk = <batch id>`; counters
//!   `pk = PARKCOUNT#<tenant>#<campaign>`, `sk = <shard>`. The day's send caps of the warm-up
//!   ([`warmup`]): `pk = CAP#<tenant>`, `sk = <YYYY-MM-DD>`, expired by TTL. The send budget
//!   ([`budget`]): one item, `pk = SEND_BUDGET`, `sk = ACCOUNT`. The API's request
//!   quota ([`request_quota`]): `pk = QUOTA#<tenant>`, `sk = <unix second>`, expired by TTL.

mod admin;
#[cfg(feature = "availability")]
mod availability;
mod budget;
#[cfg(feature = "campaigns")]
pub mod campaigns;
#[cfg(any(feature = "campaigns", feature = "deliver"))]
mod contacts;
mod delivery_counts;
mod feedback;
mod parked_counts;
#[cfg(feature = "deliver")]
mod push_endpoints;
mod redrive_jobs;
#[cfg(feature = "api")]
mod request_quota;
#[cfg(feature = "api")]
mod retailer_snippets;
mod send_log;
mod suppressions;
mod templates;
mod tenants;
mod usage;
mod warmup;
mod workspace_writes;

pub use admin::{REGISTRY_ATTRIBUTE, REGISTRY_WORKSPACES, WORKSPACE_REGISTRY_INDEX};
#[cfg(feature = "availability")]
pub use availability::{SCORE_WRITE_CONCURRENCY, ScoresTable};
pub use budget::BudgetTable;
#[cfg(any(feature = "campaigns", feature = "deliver"))]
pub use contacts::CONTACT_WRITE_CONCURRENCY;
pub use delivery_counts::ITEMS_PER_COUNTED_OUTCOME;
pub use feedback::FeedbackTable;
pub use parked_counts::ITEMS_PER_PARKED_COUNT;
pub use redrive_jobs::{ITEMS_PER_STATE_CHANGE, RUNNING_PK};
#[cfg(feature = "api")]
pub use request_quota::{QUOTA_ITEM_RETENTION_SECONDS, RequestQuotaTable};
pub use send_log::{
    DeliveryTable, SEND_LOG_RETENTION, claim_write_units, decode_outcome, encode_outcome,
    item_size, outcome_write_units,
};
pub use tenants::TenantsTable;
pub use warmup::{CAP_RETENTION, DailyCaps};

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, KeysAndAttributes, ReturnConsumedCapacity,
};

use crate::aws::errors::store_error;
use crate::domain::{
    PushApplications, PushPlatform, TemplateRef, TenantId, TenantSettings, TenantStatus,
    TenantWorkspace,
};
use crate::error::StoreError;

/// BatchWriteItem writes at most this many items per call.
pub const MAX_ITEMS_PER_BATCH_WRITE: usize = 25;
/// DynamoDB refuses a partition key longer than this.
pub const MAX_PARTITION_KEY_BYTES: usize = 2_048;
/// BatchGetItem reads at most this many keys per call.
pub const MAX_KEYS_PER_BATCH_GET: usize = 100;
/// Unprocessed keys are retried this many times before the read counts as throttled.
pub(super) const UNPROCESSED_RETRIES: u32 = 5;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The capacity units a call's `ConsumedCapacity` reports, or `model` (the units the call is
/// billed by its items' sizes) where the answer has none.
pub(super) fn consumed(capacity: Option<&ConsumedCapacity>, model: f64) -> f64 {
    capacity.and_then(|c| c.capacity_units()).unwrap_or(model)
}

/// The units of a call on a small item (under a kilobyte written, four read consistently): one.
pub(super) const SMALL_ITEM_UNITS: f64 = 1.0;

/// Counts an UpdateItem's write units in the current task's meter (`costs::metered`): what its
/// answer reports, or `model` where DynamoDB refused its condition (billed as the write, with no
/// capacity in the error). A call that failed otherwise counts nothing.
#[cfg(any(feature = "campaigns", feature = "deliver"))]
pub(super) fn count_update<R: std::fmt::Debug>(
    result: &Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<UpdateItemError, R>,
    >,
    model: f64,
) {
    match result {
        Ok(output) => {
            crate::costs::record_dynamodb_write(consumed(output.consumed_capacity(), model))
        }
        Err(error) if is_update_condition_failure(error) => {
            crate::costs::record_dynamodb_write(model)
        }
        Err(_) => {}
    }
}

/// Counts a read's units in the current task's meter: what its answer reports, or `model`.
pub(super) fn count_read(capacity: Option<&ConsumedCapacity>, model: f64) {
    crate::costs::record_dynamodb_read(consumed(capacity, model));
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(crate) fn get_s<'a>(
    item: &'a Item,
    name: &str,
    store: &'static str,
) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt {
            store,
            reason: format!("attribute {name} missing or not a string"),
        })
}

pub(crate) fn get_n<T: std::str::FromStr>(
    item: &Item,
    name: &str,
    store: &'static str,
) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            store,
            reason: format!("attribute {name} missing or not a number"),
        })
}

pub(super) fn corrupt(store: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        store,
        reason: reason.to_string(),
    }
}

/// The attribute of a campaign's delivery status item that names its quiet-hours zone
/// (`customer`); absent for the retailer's, the default.
pub const QUIET_HOURS_ZONE_ATTRIBUTE: &str = "quiet_hours_zone";

pub(super) const TENANTS: &str = "tenants table";
pub(super) const DELIVERY: &str = "delivery table";

pub(crate) fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub(super) fn template_sk(template: &TemplateRef) -> String {
    format!("TEMPLATE#{}#V#{:010}", template.id, template.version)
}

pub(super) fn status_name<T: serde::Serialize>(status: T) -> Result<String, StoreError> {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        _ => Err(corrupt(TENANTS, "status does not serialise to a name")),
    }
}

pub(super) fn parse_status<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|e| corrupt(TENANTS, format!("unknown status {name}: {e}")))
}

pub(super) fn workspace_from_item(item: &Item) -> Result<TenantWorkspace, StoreError> {
    Ok(TenantWorkspace {
        tenant_id: TenantId::parse(get_s(item, "tenant_id", TENANTS)?)
            .map_err(|e| corrupt(TENANTS, e))?,
        slug: get_s(item, "slug", TENANTS)?.to_string(),
        display_name: get_s(item, "display_name", TENANTS)?.to_string(),
        configuration_set: get_s(item, "configuration_set", TENANTS)?.to_string(),
        ses_tenant: get_s(item, "ses_tenant", TENANTS)?.to_string(),
        from_address: get_s(item, "from_address", TENANTS)?.to_string(),
        status: parse_status::<TenantStatus>(get_s(item, "status", TENANTS)?)?,
        unsubscribe_base_url: get_s(item, "unsubscribe_base_url", TENANTS)?.to_string(),
        settings: match item.get("settings").map(|v| v.as_s()) {
            None => TenantSettings::default(),
            Some(Ok(json)) => serde_json::from_str(json)
                .map_err(|e| corrupt(TENANTS, format!("tenant settings: {e}")))?,
            Some(Err(_)) => return Err(corrupt(TENANTS, "attribute settings is not a string")),
        },
        push_applications: push_applications_from_item(item)?,
    })
}

/// The workspace's push application attribute of each platform (`push_app_<platform>`).
pub(super) fn push_app_attribute(platform: PushPlatform) -> String {
    format!("push_app_{platform}")
}

fn push_applications_from_item(item: &Item) -> Result<PushApplications, StoreError> {
    let mut applications = PushApplications::default();
    for platform in PushPlatform::ALL {
        if item.contains_key(&push_app_attribute(platform)) {
            let arn = get_s(item, &push_app_attribute(platform), TENANTS)?;
            applications.set(platform, arn.to_string());
        }
    }
    Ok(applications)
}

/// One BatchWriteItem of at most [`MAX_ITEMS_PER_BATCH_WRITE`] requests, with the unprocessed
/// ones written again (backing off) until none is left or the retries run out.
#[cfg(feature = "campaigns")]
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    store: &'static str,
    mut pending: Vec<aws_sdk_dynamodb::types::WriteRequest>,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    while !pending.is_empty() {
        let output = client
            .batch_write_item()
            .request_items(table, std::mem::take(&mut pending))
            .send()
            .await
            .map_err(|e| store_error(store, e))?;
        pending = output
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
        if !pending.is_empty() {
            attempt += 1;
            if attempt > UNPROCESSED_RETRIES {
                return Err(StoreError::Throttled {
                    store,
                    source: crate::error::Message::boxed(format!(
                        "{} items still unprocessed after {UNPROCESSED_RETRIES} retries",
                        pending.len()
                    )),
                });
            }
            tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
        }
    }
    Ok(())
}

/// Reads `keys` in requests of [`MAX_KEYS_PER_BATCH_GET`], reading unprocessed keys again (with
/// backoff) until done; what is still unprocessed after [`UNPROCESSED_RETRIES`] counts as
/// throttled.
pub(super) async fn batch_get(
    client: &Client,
    table: &str,
    store: &'static str,
    keys: Vec<Item>,
) -> Result<Vec<Item>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .build()
                .map_err(|e| StoreError::Rejected {
                    store,
                    source: Box::new(e),
                })?;
            let output = client
                .batch_get_item()
                .request_items(table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| store_error(store, e))?;
            crate::costs::record_dynamodb_read(
                output
                    .consumed_capacity()
                    .iter()
                    .filter_map(|c| c.capacity_units())
                    .sum(),
            );
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(table).unwrap_or_default());
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > UNPROCESSED_RETRIES {
                    return Err(StoreError::Throttled {
                        store,
                        source: crate::error::Message::boxed(format!(
                            "{} keys still unprocessed after {UNPROCESSED_RETRIES} retries",
                            pending.len()
                        )),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
    }
    Ok(found)
}

pub(super) fn is_condition_failure(error: &SdkError<PutItemError, impl std::fmt::Debug>) -> bool {
    matches!(
        error.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}

pub(super) fn is_update_condition_failure(
    error: &SdkError<UpdateItemError, impl std::fmt::Debug>,
) -> bool {
    matches!(
        error.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

/// What the request-shape tests of the transactional writes share.
#[cfg(test)]
mod metering_tests;

#[cfg(test)]
pub(crate) mod test_support {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;

    /// A TransactWriteItems refused with one cancellation reason per item, as DynamoDB answers.
    pub(crate) fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .set_cancellation_reasons(Some(
                    codes
                        .iter()
                        .map(|code| CancellationReason::builder().code(*code).build())
                        .collect(),
                ))
                .build(),
        )
    }
}
