//! DynamoDB adapters: the tenants table (workspaces, templates, campaigns, suppression lists)
//! and the delivery table (claims and batch outcomes: the send log).
//!
//! Key layout (see docs/architecture.md):
//! - tenants: `pk = TENANT#<tenant>`, `sk = WORKSPACE | CAMPAIGN#<id> | SUPPRESSED#<address> |
//!   TEMPLATE#<id>#V#<version> | LIVE#<template id>`
//! - delivery: claims `pk = MSG#<tenant>#<campaign>#<shard>`, `sk = <message id>`; outcomes
//!   `pk = BATCH#<tenant>#<campaign>#<shard>`, `sk = <batch id>`. The shard (one hex digit of the
//!   id) spreads a large campaign over 16 partitions.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
};

use super::errors::store_error;
use crate::clock::Clock;
use crate::domain::{
    BatchId, CampaignId, CampaignStatus, CustomerId, MAX_FREQUENCY_CAP_WINDOW_DAYS, MessageId,
    TemplateId, TemplateRef, TemplateVersion, TenantId, TenantSettings, TenantStatus,
    TenantWorkspace,
};
use crate::error::StoreError;
use crate::ports::{
    BatchOutcome, ClaimResult, DeliveryContext, DeliveryDirectory, LiveHead,
    MAX_ITEMS_PER_BATCH_WRITE, MessageClaim, PublishResult, RecipientOutcome, SendLog, SlugClaim,
    TemplatePublisher, TemplateStore, TenantAdmin, WorkspaceListing, normalise_address,
};
use futures::StreamExt;

/// BatchGetItem reads at most this many keys per call.
pub const MAX_KEYS_PER_BATCH_GET: usize = 100;
/// Unprocessed keys are retried this many times before the read counts as throttled.
const UNPROCESSED_RETRIES: u32 = 5;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
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

fn corrupt(store: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        store,
        reason: reason.to_string(),
    }
}

const TENANTS: &str = "tenants table";
const DELIVERY: &str = "delivery table";

pub(crate) fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn template_sk(template: &TemplateRef) -> String {
    format!("TEMPLATE#{}#V#{:010}", template.id, template.version)
}

fn status_name<T: serde::Serialize>(status: T) -> Result<String, StoreError> {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        _ => Err(corrupt(TENANTS, "status does not serialise to a name")),
    }
}

fn parse_status<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|e| corrupt(TENANTS, format!("unknown status {name}: {e}")))
}

fn workspace_from_item(item: &Item) -> Result<TenantWorkspace, StoreError> {
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
    })
}

/// The tenants table: implements the directory, the template store and the admin port.
#[derive(Clone)]
pub struct TenantsTable {
    client: Client,
    table: String,
}

impl TenantsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .build()
                    .map_err(|e| StoreError::Rejected {
                        store: TENANTS,
                        source: Box::new(e),
                    })?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| store_error(TENANTS, e))?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > UNPROCESSED_RETRIES {
                        return Err(StoreError::Throttled {
                            store: TENANTS,
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

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryDirectory for TenantsTable {
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError> {
        let pk = tenant_pk(tenant);
        let mut keys = vec![
            key(pk.clone(), "WORKSPACE".into()),
            key(pk.clone(), format!("CAMPAIGN#{campaign}")),
        ];
        let mut unique: Vec<&String> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        keys.extend(
            unique
                .iter()
                .map(|address| key(pk.clone(), format!("SUPPRESSED#{address}"))),
        );
        let mut context = DeliveryContext::default();
        for item in self.batch_get(keys).await? {
            let sk = get_s(&item, "sk", TENANTS)?;
            if sk == "WORKSPACE" {
                context.workspace = Some(workspace_from_item(&item)?);
            } else if sk.starts_with("CAMPAIGN#") {
                context.campaign_status = Some(parse_status::<CampaignStatus>(get_s(
                    &item, "status", TENANTS,
                )?)?);
            } else if let Some(address) = sk.strip_prefix("SUPPRESSED#") {
                context.suppressed.insert(address.to_string());
            }
        }
        Ok(context)
    }
}

/// Suppression entries of one tenant, in BatchGetItem calls of [`MAX_KEYS_PER_BATCH_GET`] keys
/// (duplicates removed: BatchGetItem refuses a request that names a key twice), unprocessed keys
/// read again.
#[async_trait]
impl crate::campaigns::SuppressionCheck for TenantsTable {
    async fn suppressed(
        &self,
        tenant: &TenantId,
        addresses: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let pk = tenant_pk(tenant);
        let mut unique: Vec<&String> = addresses.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|address| key(pk.clone(), format!("SUPPRESSED#{address}")))
            .collect();
        let mut suppressed = std::collections::HashSet::new();
        for item in self.batch_get(keys).await? {
            if let Some(address) = get_s(&item, "sk", TENANTS)?.strip_prefix("SUPPRESSED#") {
                suppressed.insert(address.to_string());
            }
        }
        Ok(suppressed)
    }
}

/// Contact history items: `pk = TENANT#<tenant>, sk = CONTACTS#<customer>`, one attribute
/// `C#<campaign>` per campaign holding the contact time (epoch seconds). Recording sets the
/// campaign's attribute (idempotent: a re-run chunk sets the same value again) and prunes
/// attributes older than the longest cap window from the item it gets back.
const CONTACT_ATTRIBUTE_PREFIX: &str = "C#";
/// Contacts are recorded with this many UpdateItem calls in flight (one per customer: a
/// BatchWriteItem put would replace the other campaigns' attributes).
pub const CONTACT_WRITE_CONCURRENCY: usize = 16;

fn contacts_key(tenant: &TenantId, customer: &CustomerId) -> Item {
    key(tenant_pk(tenant), format!("CONTACTS#{customer}"))
}

impl TenantsTable {
    async fn record_contact(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customer: &CustomerId,
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(contacts_key(tenant, customer)))
            .update_expression("SET #c = :at")
            .expression_attribute_names("#c", format!("{CONTACT_ATTRIBUTE_PREFIX}{campaign}"))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let horizon =
            (at - time::Duration::days(i64::from(MAX_FREQUENCY_CAP_WINDOW_DAYS))).unix_timestamp();
        let stale: Vec<String> = output
            .attributes
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, value)| {
                name.starts_with(CONTACT_ATTRIBUTE_PREFIX)
                    && value
                        .as_n()
                        .ok()
                        .and_then(|v| v.parse::<i64>().ok())
                        .is_some_and(|contacted| contacted < horizon)
            })
            .map(|(name, _)| name)
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(contacts_key(tenant, customer)));
        let mut placeholders = Vec::with_capacity(stale.len());
        for (i, name) in stale.into_iter().enumerate() {
            placeholders.push(format!("#s{i}"));
            request = request.expression_attribute_names(format!("#s{i}"), name);
        }
        request
            .update_expression(format!("REMOVE {}", placeholders.join(", ")))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }
}

#[async_trait]
impl crate::campaigns::ContactHistory for TenantsTable {
    /// BatchGetItem of the customers' contact items in groups of [`MAX_KEYS_PER_BATCH_GET`]
    /// (duplicates removed), unprocessed keys read again.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customers: &[CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<CustomerId, u32>, StoreError> {
        let mut unique: Vec<&CustomerId> = customers.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .iter()
            .map(|customer| contacts_key(tenant, customer))
            .collect();
        let excluded = format!("{CONTACT_ATTRIBUTE_PREFIX}{excluding}");
        let since = since.unix_timestamp();
        let mut counts = HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(customer) = get_s(&item, "sk", TENANTS)?.strip_prefix("CONTACTS#") else {
                continue;
            };
            let customer = CustomerId::parse(customer).map_err(|e| corrupt(TENANTS, e))?;
            let count = item
                .iter()
                .filter(|(name, value)| {
                    name.starts_with(CONTACT_ATTRIBUTE_PREFIX)
                        && **name != excluded
                        && value
                            .as_n()
                            .ok()
                            .and_then(|v| v.parse::<i64>().ok())
                            .is_some_and(|contacted| contacted >= since)
                })
                .count() as u32;
            if count > 0 {
                counts.insert(customer, count);
            }
        }
        Ok(counts)
    }

    async fn record_contacts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customers: &[CustomerId],
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        use futures::{StreamExt as _, TryStreamExt as _};

        let mut unique: Vec<&CustomerId> = customers.iter().collect();
        unique.sort();
        unique.dedup();
        // Built before streaming them: a closure inside the stream is not general enough for
        // the boxed future async_trait makes.
        let writes: Vec<_> = unique
            .into_iter()
            .map(|customer| self.record_contact(tenant, campaign, customer, at))
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(CONTACT_WRITE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }
}

#[async_trait]
impl TemplateStore for TenantsTable {
    async fn template_version(
        &self,
        tenant: &TenantId,
        template: &TemplateRef,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), template_sk(template))))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        template_document(&item).map(Some)
    }

    async fn live_template(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        // Strongly consistent: a save reads the live version to publish the next one, and a
        // stale read would only make it conflict and retry.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), live_sk(template))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        template_document(&item).map(Some)
    }
}

/// A template item's document: gzip-compressed JSON (`document_gz`, written by publishing) or
/// plain JSON (`document`, written by `put_template_version`).
fn template_document(item: &Item) -> Result<TemplateVersion, StoreError> {
    let json = match item.get("document_gz").map(|v| v.as_b()) {
        Some(Ok(bytes)) => {
            use std::io::Read as _;
            let mut json = String::new();
            flate2::read::GzDecoder::new(bytes.as_ref())
                .read_to_string(&mut json)
                .map_err(|e| corrupt(TENANTS, format!("template document: {e}")))?;
            json
        }
        Some(Err(_)) => return Err(corrupt(TENANTS, "attribute document_gz is not binary")),
        None => get_s(item, "document", TENANTS)?.to_string(),
    };
    serde_json::from_str(&json).map_err(|e| corrupt(TENANTS, format!("template document: {e}")))
}

fn live_sk(template: &TemplateId) -> String {
    format!("{LIVE_PREFIX}{template}")
}

/// Live pointers: `sk = LIVE#<template id>`, queried by this prefix for a tenant's live heads.
const LIVE_PREFIX: &str = "LIVE#";
/// BatchWriteItem calls in flight at once during a bulk publish.
const BATCH_WRITE_CONCURRENCY: usize = 16;

fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        store: TENANTS,
        source: Box::new(error),
    }
}

/// The immutable version item and the live pointer item of a published version. Both hold the
/// whole document (gzip-compressed: a 10 KB template is about 3 KB, three times fewer write
/// units), so delivery reads the live version in one GetItem.
fn published_items(version: &TemplateVersion) -> Result<(Item, Item), StoreError> {
    use std::io::Write as _;
    let json = serde_json::to_vec(version).map_err(rejected)?;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 3),
        flate2::Compression::fast(),
    );
    encoder.write_all(&json).map_err(rejected)?;
    let document = aws_sdk_dynamodb::primitives::Blob::new(encoder.finish().map_err(rejected)?);
    let hash = s(crate::templates::content_hash(version));
    let pk = tenant_pk(&version.tenant_id);
    let mut version_item = key(pk.clone(), template_sk(&version.template));
    version_item.insert("document_gz".into(), AttributeValue::B(document.clone()));
    version_item.insert("content_hash".into(), hash.clone());
    let mut live_item = key(pk, live_sk(&version.template.id));
    live_item.extend([
        ("version".into(), n(version.template.version)),
        ("document_gz".into(), AttributeValue::B(document)),
        ("content_hash".into(), hash),
        (
            "overrides".into(),
            s(serde_json::to_string(&version.overrides).map_err(rejected)?),
        ),
    ]);
    Ok((version_item, live_item))
}

impl TenantsTable {
    /// Writes `items` in BatchWriteItem calls of [`MAX_ITEMS_PER_BATCH_WRITE`], several in
    /// flight, retrying unprocessed items with backoff.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests: Vec<Vec<WriteRequest>> = items
            .chunks(MAX_ITEMS_PER_BATCH_WRITE)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|item| {
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .map(|put| WriteRequest::builder().put_request(put).build())
                            .map_err(rejected)
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let mut calls = futures::stream::iter(requests)
            .map(|chunk| batch_write(&self.client, &self.table, TENANTS, chunk))
            .buffer_unordered(BATCH_WRITE_CONCURRENCY);
        while let Some(result) = calls.next().await {
            result?;
        }
        Ok(())
    }
}

/// One BatchWriteItem of at most [`MAX_ITEMS_PER_BATCH_WRITE`] requests, with the unprocessed
/// ones written again (backing off) until none is left or the retries run out.
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

#[async_trait]
impl TemplatePublisher for TenantsTable {
    async fn publish(
        &self,
        version: &TemplateVersion,
        expected_live: Option<u32>,
    ) -> Result<PublishResult, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let (version_item, live_item) = published_items(version)?;
        let put_version = Put::builder()
            .table_name(&self.table)
            .set_item(Some(version_item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(rejected)?;
        let mut put_live = Put::builder()
            .table_name(&self.table)
            .set_item(Some(live_item));
        put_live = match expected_live {
            None => put_live.condition_expression("attribute_not_exists(pk)"),
            Some(live) => put_live
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(live)),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_version).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(put_live.build().map_err(rejected)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(PublishResult::Published),
            Err(error) => {
                let condition_failed = matches!(
                    error.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                        if cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if condition_failed {
                    Ok(PublishResult::Conflict)
                } else {
                    Err(store_error(TENANTS, error))
                }
            }
        }
    }

    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<(), StoreError> {
        let mut version_items = Vec::with_capacity(versions.len());
        let mut live_items = Vec::with_capacity(versions.len());
        for version in versions {
            let (version_item, live_item) = published_items(version)?;
            version_items.push(version_item);
            live_items.push(live_item);
        }
        // Every version is written before any pointer names it.
        self.batch_put(version_items).await?;
        self.batch_put(live_items).await
    }

    async fn live_heads(&self, tenant: &TenantId) -> Result<Vec<LiveHead>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :live)")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":live", s(LIVE_PREFIX))
            .projection_expression("sk, version, content_hash, overrides")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut heads = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error(TENANTS, e))?;
            let id = get_s(&item, "sk", TENANTS)?
                .strip_prefix(LIVE_PREFIX)
                .unwrap_or_default();
            let overrides = get_s(&item, "overrides", TENANTS)?;
            heads.push(LiveHead {
                template: TemplateRef {
                    id: TemplateId::parse(id).map_err(|e| corrupt(TENANTS, e))?,
                    version: get_n(&item, "version", TENANTS)?,
                },
                content_hash: get_s(&item, "content_hash", TENANTS)?.to_string(),
                overrides: serde_json::from_str(overrides)
                    .map_err(|e| corrupt(TENANTS, format!("live overrides: {e}")))?,
            });
        }
        Ok(heads)
    }
}

/// Scan segments read in parallel when listing workspaces.
const SCAN_SEGMENTS: i32 = 4;

/// A Scan of the whole table filtered to workspace items: the only cross-tenant read, used by
/// the deploy tool only (not by any per-tenant path). See docs/templates.md for its cost.
#[async_trait]
impl WorkspaceListing for TenantsTable {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError> {
        let segments = (0..SCAN_SEGMENTS).map(|segment| async move {
            let mut pages = self
                .client
                .scan()
                .table_name(&self.table)
                .segment(segment)
                .total_segments(SCAN_SEGMENTS)
                .filter_expression("sk = :workspace")
                .expression_attribute_values(":workspace", s("WORKSPACE"))
                .into_paginator()
                .items()
                .send();
            let mut found = Vec::new();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| store_error(TENANTS, e))?;
                found.push(workspace_from_item(&item)?);
            }
            Ok::<_, StoreError>(found)
        });
        let mut workspaces = Vec::new();
        for segment in futures::future::join_all(segments).await {
            workspaces.extend(segment?);
        }
        workspaces.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(workspaces)
    }
}

#[async_trait]
impl TenantAdmin for TenantsTable {
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError> {
        let mut item = key(tenant_pk(&workspace.tenant_id), "WORKSPACE".into());
        item.extend([
            ("tenant_id".into(), s(workspace.tenant_id.as_str())),
            ("slug".into(), s(&workspace.slug)),
            ("display_name".into(), s(&workspace.display_name)),
            ("configuration_set".into(), s(&workspace.configuration_set)),
            ("ses_tenant".into(), s(&workspace.ses_tenant)),
            ("from_address".into(), s(&workspace.from_address)),
            ("status".into(), s(status_name(workspace.status)?)),
            (
                "unsubscribe_base_url".into(),
                s(&workspace.unsubscribe_base_url),
            ),
            (
                "settings".into(),
                s(serde_json::to_string(&workspace.settings).map_err(|e| {
                    StoreError::Rejected {
                        store: TENANTS,
                        source: Box::new(e),
                    }
                })?),
            ),
        ]);
        self.put(item).await
    }

    async fn put_template_version(&self, version: &TemplateVersion) -> Result<(), StoreError> {
        let document = serde_json::to_string(version).map_err(|e| StoreError::Rejected {
            store: TENANTS,
            source: Box::new(e),
        })?;
        let mut item = key(
            tenant_pk(&version.tenant_id),
            template_sk(&version.template),
        );
        item.insert("document".into(), s(document));
        self.put(item).await
    }

    async fn set_campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: CampaignStatus,
    ) -> Result<(), StoreError> {
        let mut item = key(tenant_pk(tenant), format!("CAMPAIGN#{campaign}"));
        item.insert("status".into(), s(status_name(status)?));
        self.put(item).await
    }

    async fn suppress(&self, tenant: &TenantId, address: &str) -> Result<(), StoreError> {
        let item = key(
            tenant_pk(tenant),
            format!("SUPPRESSED#{}", normalise_address(address)),
        );
        self.put(item).await
    }

    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError> {
        // Strongly consistent: an operator's PATCH right after a PUT must see the PUT.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), "WORKSPACE".into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.item.as_ref().map(workspace_from_item).transpose()
    }

    /// `pk = SLUG#<slug>, sk = OWNER` with the owner's tenant id: the one platform-wide item of
    /// the table (a slug is the from-address, so it is unique across tenants). Written with
    /// `attribute_not_exists(pk) OR tenant_id = :tenant`, so the owner may claim it again.
    async fn claim_slug(&self, slug: &str, tenant: &TenantId) -> Result<SlugClaim, StoreError> {
        let mut item = slug_key(slug);
        item.insert("tenant_id".into(), s(tenant.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR tenant_id = :tenant")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(SlugClaim::Claimed),
            Err(error) if is_condition_failure(&error) => {
                let old = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                    _ => None,
                };
                let old = match old {
                    Some(item) => item,
                    None => self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(slug_key(slug)))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(|e| store_error(TENANTS, e))?
                        .item
                        .ok_or_else(|| {
                            corrupt(TENANTS, "slug claim vanished after a failed condition")
                        })?,
                };
                let owner = TenantId::parse(get_s(&old, "tenant_id", TENANTS)?)
                    .map_err(|e| corrupt(TENANTS, e))?;
                Ok(SlugClaim::Taken { owner })
            }
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }
}

fn slug_key(slug: &str) -> Item {
    key(format!("SLUG#{slug}"), "OWNER".into())
}

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

fn shard(id: &str) -> &str {
    id.get(..1).unwrap_or("0")
}

fn claim_key(tenant: &TenantId, campaign: &CampaignId, message: &MessageId) -> Item {
    key(
        format!("MSG#{tenant}#{campaign}#{}", shard(message.as_str())),
        message.to_string(),
    )
}

fn outcome_key(tenant: &TenantId, campaign: &CampaignId, batch: &BatchId) -> Item {
    key(
        format!("BATCH#{tenant}#{campaign}#{}", shard(batch.as_str())),
        batch.to_string(),
    )
}

/// Outcomes are stored compactly (one short string per slot) to keep the batch record within a
/// few write units: `S:<provider id>`, `F:<reason>`, `X` suppressed, `D` duplicate, `W` deferred,
/// `P` pending.
pub fn encode_outcome(outcome: &RecipientOutcome) -> String {
    match outcome {
        RecipientOutcome::Sent {
            provider_message_id,
        } => format!("S:{provider_message_id}"),
        RecipientOutcome::Failed { reason } => format!("F:{reason}"),
        RecipientOutcome::Suppressed => "X".into(),
        RecipientOutcome::Duplicate => "D".into(),
        RecipientOutcome::Deferred => "W".into(),
        RecipientOutcome::Pending => "P".into(),
    }
}

pub fn decode_outcome(encoded: &str) -> Result<RecipientOutcome, StoreError> {
    Ok(match encoded.split_once(':') {
        Some(("S", id)) => RecipientOutcome::Sent {
            provider_message_id: id.to_string(),
        },
        Some(("F", reason)) => RecipientOutcome::Failed {
            reason: reason.to_string(),
        },
        _ => match encoded {
            "X" => RecipientOutcome::Suppressed,
            "D" => RecipientOutcome::Duplicate,
            "W" => RecipientOutcome::Deferred,
            "P" => RecipientOutcome::Pending,
            other => return Err(corrupt(DELIVERY, format!("unknown outcome {other:?}"))),
        },
    })
}

fn claim_item(claim: &MessageClaim, expires_at: AttributeValue) -> Item {
    let mut item = claim_key(&claim.tenant_id, &claim.campaign_id, &claim.message_id);
    item.extend([
        ("batch_id".into(), s(claim.batch_id.as_str())),
        ("slot".into(), n(claim.slot)),
        ("lease_until".into(), n(claim.lease_until)),
        ("expires_at".into(), expires_at),
    ]);
    item
}

fn outcome_item(outcome: &BatchOutcome, expires_at: AttributeValue) -> Item {
    let mut item = outcome_key(&outcome.tenant_id, &outcome.campaign_id, &outcome.batch_id);
    item.extend([
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
const WRITE_UNIT_BYTES: usize = 1024;

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

fn write_units(item: &Item) -> u64 {
    item_size(item).div_ceil(WRITE_UNIT_BYTES) as u64
}

/// The write units one claim costs (the per-message cost of idempotency).
pub fn claim_write_units(claim: &MessageClaim) -> u64 {
    write_units(&claim_item(claim, n(i64::MAX)))
}

/// The write units one batch outcome costs (shared by the batch's recipients).
pub fn outcome_write_units(outcome: &BatchOutcome) -> u64 {
    write_units(&outcome_item(outcome, n(i64::MAX)))
}

fn claim_from_item(
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
        n((self.clock.now() + self.retention).unix_timestamp())
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
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
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
const KEY_SHARDS: &str = "0123456789abcdef";

#[async_trait]
impl crate::send_log::CampaignClaims for DeliveryTable {
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

fn is_condition_failure(error: &SdkError<PutItemError, impl std::fmt::Debug>) -> bool {
    matches!(
        error.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
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
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimResult::Claimed),
            Err(error) if is_condition_failure(&error) => {
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
            .condition_expression("batch_id = :batch AND slot = :slot AND lease_until = :lease")
            .expression_attribute_values(":batch", s(previous.batch_id.as_str()))
            .expression_attribute_values(":slot", n(previous.slot))
            .expression_attribute_values(":lease", n(previous.lease_until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(DELIVERY, error)),
        }
    }

    async fn record_outcome(&self, outcome: &BatchOutcome) -> Result<(), StoreError> {
        let item = outcome_item(outcome, self.expires_at());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(DELIVERY, e))?;
        Ok(())
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
            outcomes,
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
            },
            RecipientOutcome::Failed {
                reason: "bad: address".into(),
            },
            RecipientOutcome::Suppressed,
            RecipientOutcome::Duplicate,
            RecipientOutcome::Deferred,
            RecipientOutcome::Pending,
        ] {
            assert_eq!(decode_outcome(&encode_outcome(&outcome)).unwrap(), outcome);
        }
        assert!(decode_outcome("?").is_err());
    }

    #[test]
    fn a_claim_costs_one_write_unit_and_a_full_batch_outcome_a_few() {
        let claim = MessageClaim {
            tenant_id: TenantId::parse("alpine-outfitters").unwrap(),
            campaign_id: CampaignId::parse("winter-warmup-2026").unwrap(),
            message_id: MessageId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            batch_id: BatchId::parse("0123456789abcdef01234567").unwrap(),
            slot: 49,
            lease_until: 1_795_322_134,
        };
        assert_eq!(claim_write_units(&claim), 1);
        let outcome = BatchOutcome {
            tenant_id: claim.tenant_id.clone(),
            campaign_id: claim.campaign_id.clone(),
            batch_id: claim.batch_id.clone(),
            outcomes: vec![
                RecipientOutcome::Sent {
                    // The shape of an SES message id.
                    provider_message_id:
                        "010001933b8a8c3e-5b0b6e2c-8d0a-4b8a-9c53-0c9b2a7f6e1a-000000".into(),
                };
                crate::domain::PROVIDER_BATCH_SIZE
            ],
        };
        let units = outcome_write_units(&outcome);
        assert!((3..=4).contains(&units), "{units} write units");
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

/// The local endpoint never answers UnprocessedKeys; a request-level mock does.
#[cfg(test)]
mod batch_get_tests {
    use super::*;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn unprocessed_keys_are_read_again_until_done() {
        let workspace_item = {
            let mut item = key("TENANT#alpine".into(), "WORKSPACE".into());
            for (name, value) in [
                ("tenant_id", "alpine"),
                ("slug", "alpine"),
                ("display_name", "Alpine"),
                ("configuration_set", "cs"),
                ("ses_tenant", "st"),
                ("from_address", "alpine@mail.example"),
                ("status", "ACTIVE"),
                ("unsubscribe_base_url", "https://u"),
            ] {
                item.insert(name.into(), s(value));
            }
            item
        };
        let campaign_key = key("TENANT#alpine".into(), "CAMPAIGN#c1".into());
        let first = {
            let workspace_item = workspace_item.clone();
            let campaign_key = campaign_key.clone();
            mock!(Client::batch_get_item)
                .match_requests(|r| {
                    r.request_items()
                        .is_some_and(|i| i["tenants"].keys().len() == 3)
                })
                .then_output(move || {
                    BatchGetItemOutput::builder()
                        .responses("tenants", vec![workspace_item.clone()])
                        .unprocessed_keys(
                            "tenants",
                            KeysAndAttributes::builder()
                                .keys(campaign_key.clone())
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
        };
        let second = mock!(Client::batch_get_item)
            .match_requests(|r| {
                r.request_items()
                    .is_some_and(|i| i["tenants"].keys().len() == 1)
            })
            .then_output(|| {
                let mut item = key("TENANT#alpine".into(), "CAMPAIGN#c1".into());
                item.insert("status".into(), s("PAUSED"));
                BatchGetItemOutput::builder()
                    .responses("tenants", vec![item])
                    .build()
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]);
        let table = TenantsTable::new(client, "tenants");
        let context = table
            .delivery_context(
                &TenantId::parse("alpine").unwrap(),
                &CampaignId::parse("c1").unwrap(),
                &["ann@example.com".to_string()],
            )
            .await
            .unwrap();
        assert_eq!(context.campaign_status, Some(CampaignStatus::Paused));
        assert_eq!(context.workspace.unwrap().configuration_set, "cs");
        assert!(context.suppressed.is_empty());
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn suppression_check_reads_unique_keys_in_groups_of_100_and_retries_unprocessed_ones() {
        use crate::campaigns::SuppressionCheck;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};

        let calls = Arc::new(Mutex::new(Vec::new()));
        let first_call = Arc::new(AtomicBool::new(true));
        let rule = {
            let calls = calls.clone();
            mock!(Client::batch_get_item).then_compute_output(move |request| {
                let keys = request.request_items().unwrap()["tenants"].keys().to_vec();
                calls.lock().unwrap().push(keys.len());
                let (processed, unprocessed) = if first_call.swap(false, Ordering::SeqCst) {
                    keys.split_at(keys.len() - 10)
                } else {
                    (&keys[..], &[][..])
                };
                let found: Vec<Item> = processed
                    .iter()
                    .filter(|k| k["sk"].as_s().unwrap().contains("blocked"))
                    .cloned()
                    .collect();
                let mut output = BatchGetItemOutput::builder().responses("tenants", found);
                if !unprocessed.is_empty() {
                    output = output.unprocessed_keys(
                        "tenants",
                        KeysAndAttributes::builder()
                            .set_keys(Some(unprocessed.to_vec()))
                            .build()
                            .unwrap(),
                    );
                }
                output.build()
            })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let table = TenantsTable::new(client, "tenants");
        let mut addresses: Vec<String> = (0..250)
            .map(|i| {
                if i % 50 == 0 {
                    format!("blocked{i}@example.com")
                } else {
                    format!("c{i}@example.com")
                }
            })
            .collect();
        addresses.extend(addresses[..10].to_vec());

        let suppressed = table
            .suppressed(&TenantId::parse("alpine").unwrap(), &addresses)
            .await
            .unwrap();

        assert_eq!(suppressed.len(), 5);
        assert!(suppressed.contains("blocked0@example.com"));
        assert_eq!(
            *calls.lock().unwrap(),
            vec![MAX_KEYS_PER_BATCH_GET, 10, 100, 50]
        );
    }
}

/// Contact history requests, with request-level mocks: unprocessed keys (the local endpoint
/// never answers them) and pruning on write.
#[cfg(test)]
mod contact_tests {
    use super::*;
    use crate::campaigns::ContactHistory;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const NOW: time::OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

    fn customer(i: usize) -> CustomerId {
        CustomerId::parse(format!("c{i}")).unwrap()
    }

    #[tokio::test]
    async fn recent_contacts_read_unique_keys_in_groups_of_100_and_count_within_the_window() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let first_call = Arc::new(AtomicBool::new(true));
        let rule = {
            let calls = calls.clone();
            mock!(Client::batch_get_item).then_compute_output(move |request| {
                let keys = request.request_items().unwrap()["tenants"].keys().to_vec();
                calls.lock().unwrap().push(keys.len());
                let (processed, unprocessed) = if first_call.swap(false, Ordering::SeqCst) {
                    keys.split_at(keys.len() - 7)
                } else {
                    (&keys[..], &[][..])
                };
                let found: Vec<Item> = processed
                    .iter()
                    .map(|k| {
                        assert_eq!(k["pk"].as_s().unwrap(), "TENANT#alpine");
                        let mut item = k.clone();
                        // Every customer: spring inside the window, an old one outside it, and
                        // the campaign being launched (never counted).
                        item.insert(
                            "C#spring".into(),
                            n((NOW - time::Duration::days(2)).unix_timestamp()),
                        );
                        item.insert(
                            "C#old".into(),
                            n((NOW - time::Duration::days(20)).unix_timestamp()),
                        );
                        item.insert("C#summer".into(), n(NOW.unix_timestamp()));
                        item
                    })
                    .collect();
                let mut output = BatchGetItemOutput::builder().responses("tenants", found);
                if !unprocessed.is_empty() {
                    output = output.unprocessed_keys(
                        "tenants",
                        KeysAndAttributes::builder()
                            .set_keys(Some(unprocessed.to_vec()))
                            .build()
                            .unwrap(),
                    );
                }
                output.build()
            })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let table = TenantsTable::new(client, "tenants");
        let mut customers: Vec<CustomerId> = (0..250).map(customer).collect();
        customers.extend((0..10).map(customer));
        let counts = table
            .recent_contacts(
                &TenantId::parse("alpine").unwrap(),
                &customers,
                NOW - time::Duration::days(7),
                &CampaignId::parse("summer").unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(counts.len(), 250);
        assert!(counts.values().all(|count| *count == 1), "{counts:?}");
        assert_eq!(*calls.lock().unwrap(), vec![100, 7, 100, 50]);
    }

    #[tokio::test]
    async fn recording_sets_the_campaigns_attribute_and_prunes_old_ones() {
        let set = mock!(Client::update_item)
            .match_requests(|r| r.update_expression() == Some("SET #c = :at"))
            .then_compute_output(|request| {
                assert_eq!(
                    request.expression_attribute_names().unwrap()["#c"],
                    "C#winter"
                );
                let mut item = request.key().unwrap().clone();
                item.insert("C#winter".into(), n(NOW.unix_timestamp()));
                item.insert(
                    "C#recent".into(),
                    n((NOW - time::Duration::days(30)).unix_timestamp()),
                );
                item.insert(
                    "C#ancient".into(),
                    n((NOW - time::Duration::days(91)).unix_timestamp()),
                );
                UpdateItemOutput::builder()
                    .set_attributes(Some(item))
                    .build()
            });
        let removed = Arc::new(Mutex::new(Vec::new()));
        let prune = {
            let removed = removed.clone();
            mock!(Client::update_item)
                .match_requests(|r| {
                    r.update_expression()
                        .is_some_and(|e| e.starts_with("REMOVE"))
                })
                .then_compute_output(move |request| {
                    let names = request.expression_attribute_names().unwrap();
                    removed.lock().unwrap().extend(names.values().cloned());
                    UpdateItemOutput::builder().build()
                })
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&set, &prune]);
        let table = TenantsTable::new(client, "tenants");
        table
            .record_contacts(
                &TenantId::parse("alpine").unwrap(),
                &CampaignId::parse("winter").unwrap(),
                &[customer(1), customer(2), customer(1)],
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(set.num_calls(), 2, "one write per distinct customer");
        assert_eq!(prune.num_calls(), 2);
        assert_eq!(*removed.lock().unwrap(), vec!["C#ancient", "C#ancient"]);
    }
}
