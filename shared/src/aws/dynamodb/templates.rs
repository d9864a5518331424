//! Template versions and live pointers on the tenants table: reading and publishing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamodb::MAX_ITEMS_PER_BATCH_WRITE;
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
/// BatchWriteItem calls in flight at once during a bulk publish.
pub(super) const BATCH_WRITE_CONCURRENCY: usize = 16;

pub(super) fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        store: TENANTS,
        source: Box::new(error),
    }
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
    let document = aws_sdk_dynamodb::primitives::Blob::new(encoder.finish().map_err(rejected)?);
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
