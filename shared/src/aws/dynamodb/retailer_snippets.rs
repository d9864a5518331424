//! A retailer's own snippets on the tenants table: `pk = TENANT#<tenant>`,
//! `sk = SNIPPET#<name>`, attributes `source` and `updated_at` (Unix seconds).

use async_trait::async_trait;

use crate::aws::errors::store_error;
use crate::domain::TenantId;
use crate::error::StoreError;
use crate::templates::ports::{RetailerSnippet, RetailerSnippetStore};

use super::*;

/// The sort key prefix of a retailer's snippets in its partition.
pub const SNIPPET_PREFIX: &str = "SNIPPET#";

fn snippet_sk(name: &str) -> String {
    format!("{SNIPPET_PREFIX}{name}")
}

fn snippet_from_item(item: &Item) -> Result<RetailerSnippet, StoreError> {
    let sk = get_s(item, "sk", TENANTS)?;
    let name = sk
        .strip_prefix(SNIPPET_PREFIX)
        .ok_or_else(|| corrupt(TENANTS, format!("snippet sort key {sk:?}")))?;
    Ok(RetailerSnippet {
        name: name.to_owned(),
        source: get_s(item, "source", TENANTS)?.to_owned(),
        updated_at: get_n(item, "updated_at", TENANTS)?,
    })
}

#[async_trait]
impl RetailerSnippetStore for TenantsTable {
    async fn retailer_snippets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<RetailerSnippet>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :snippet)")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":snippet", s(SNIPPET_PREFIX))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut snippets = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error(TENANTS, e))?;
            snippets.push(snippet_from_item(&item)?);
        }
        Ok(snippets)
    }

    async fn retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<RetailerSnippet>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), snippet_sk(name))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.item.as_ref().map(snippet_from_item).transpose()
    }

    async fn put_retailer_snippet(
        &self,
        tenant: &TenantId,
        snippet: &RetailerSnippet,
    ) -> Result<(), StoreError> {
        let mut item = key(tenant_pk(tenant), snippet_sk(&snippet.name));
        item.insert("source".into(), s(&snippet.source));
        item.insert("updated_at".into(), n(snippet.updated_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }

    async fn delete_retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), snippet_sk(name))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }
}
