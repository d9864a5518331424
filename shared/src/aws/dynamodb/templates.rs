//! Template versions and live pointers on the tenants table: reading and publishing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::errors::store_error;
use crate::domain::{TemplateId, TemplateRef, TemplateVersion, TenantId};
use crate::error::StoreError;
use crate::templates::ports::{LiveHead, PublishResult, TemplatePublisher, TemplateStore};
use futures::StreamExt;

use super::*;

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
pub(super) fn template_document(item: &Item) -> Result<TemplateVersion, StoreError> {
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

pub(super) fn live_sk(template: &TemplateId) -> String {
    format!("{LIVE_PREFIX}{template}")
}

/// Live pointers: `sk = LIVE#<template id>`, queried by this prefix for a tenant's live heads.
pub(super) const LIVE_PREFIX: &str = "LIVE#";
/// Conditional PutItem calls in flight at once during a bulk publish.
pub(super) const BATCH_WRITE_CONCURRENCY: usize = 16;

pub(super) fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        store: TENANTS,
        source: Box::new(error),
    }
}

/// The largest compressed version document a publish writes: DynamoDB's items hold at most
/// 400 KB, and the live item keeps its keys, hash and overrides beside the document. The standard
/// templates with their snippets are about 3 KB.
pub const MAX_TEMPLATE_DOCUMENT_BYTES: usize = 300 * 1024;

#[derive(Debug, thiserror::Error)]
#[error(
    "the template version is {bytes} bytes compressed, more than the {MAX_TEMPLATE_DOCUMENT_BYTES} \
     a template item can hold: shorten its sources or snippets"
)]
struct DocumentTooLarge {
    bytes: usize,
}

/// The immutable version item and the live pointer item of a published version. Both hold the
/// whole document (gzip-compressed: a 10 KB template is about 3 KB, three times fewer write
/// units), so delivery reads the live version in one GetItem.
pub(super) fn published_items(version: &TemplateVersion) -> Result<(Item, Item), StoreError> {
    use std::io::Write as _;
    let json = serde_json::to_vec(version).map_err(rejected)?;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 3),
        flate2::Compression::fast(),
    );
    encoder.write_all(&json).map_err(rejected)?;
    let compressed = encoder.finish().map_err(rejected)?;
    if compressed.len() > MAX_TEMPLATE_DOCUMENT_BYTES {
        return Err(rejected(DocumentTooLarge {
            bytes: compressed.len(),
        }));
    }
    let document = aws_sdk_dynamodb::primitives::Blob::new(compressed);
    let hash = s(crate::domain::content_hash(version));
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
    /// One conditional PutItem: `Ok(false)` when the condition failed, unless the item there
    /// holds the same content (`content_hash`): a version an interrupted deploy wrote already.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        expected: Option<u32>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
        // Only a version item: a pointer is refused whatever it names.
        let hash = item
            .get("sk")
            .and_then(|sk| sk.as_s().ok())
            .filter(|sk| sk.starts_with("TEMPLATE#"))
            .and_then(|_| item.get("content_hash").cloned());
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(expected) = expected {
            put = put.expression_attribute_values(":expected", n(expected));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => {
                let same = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(failure)) => {
                        hash.is_some()
                            && failure.item().and_then(|old| old.get("content_hash"))
                                == hash.as_ref()
                    }
                    _ => false,
                };
                Ok(same)
            }
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    /// Writes each `(index, item, condition, expected)`, [`BATCH_WRITE_CONCURRENCY`] at once;
    /// answers the indexes whose condition failed.
    async fn put_all_if(
        &self,
        puts: Vec<(usize, Item, &'static str, Option<u32>)>,
    ) -> Result<Vec<usize>, StoreError> {
        let calls: Vec<_> = puts
            .into_iter()
            .map(|(index, item, condition, expected)| async move {
                self.put_if(item, condition, expected)
                    .await
                    .map(|written| (index, written))
            })
            .collect();
        let mut calls = futures::stream::iter(calls).buffer_unordered(BATCH_WRITE_CONCURRENCY);
        let mut refused = Vec::new();
        while let Some(result) = calls.next().await {
            let (index, written) = result?;
            if !written {
                refused.push(index);
            }
        }
        Ok(refused)
    }
}

/// A live pointer moves from the version before (`version = :expected`), or is created for a
/// first version.
pub(super) fn pointer_condition(version: u32) -> (&'static str, Option<u32>) {
    match version.checked_sub(1).filter(|before| *before > 0) {
        Some(before) => ("version = :expected", Some(before)),
        None => ("attribute_not_exists(pk)", None),
    }
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

    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<Vec<usize>, StoreError> {
        let mut version_puts = Vec::with_capacity(versions.len());
        let mut live_items = Vec::with_capacity(versions.len());
        for (index, version) in versions.iter().enumerate() {
            let (version_item, live_item) = published_items(version)?;
            version_puts.push((index, version_item, "attribute_not_exists(pk)", None));
            live_items.push(Some(live_item));
        }
        // Every version is written before any pointer names it; a number that exists already
        // (a marketer's save) is not overwritten, and its pointer not moved.
        let mut refused = self.put_all_if(version_puts).await?;
        for index in &refused {
            live_items[*index] = None;
        }
        let pointer_puts = live_items
            .into_iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let (condition, expected) = pointer_condition(versions[index].template.version);
                item.map(|item| (index, item, condition, expected))
            })
            .collect();
        refused.extend(self.put_all_if(pointer_puts).await?);
        refused.sort_unstable();
        Ok(refused)
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

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
