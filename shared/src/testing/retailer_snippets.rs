//! Retailers' own snippets in memory, keyed by tenant and name as the tenants table keys them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::TenantId;
use crate::error::StoreError;
use crate::templates::ports::{RetailerSnippet, RetailerSnippetStore};

#[derive(Default)]
pub struct MemoryRetailerSnippets {
    snippets: Mutex<BTreeMap<(String, String), RetailerSnippet>>,
}

#[async_trait]
impl RetailerSnippetStore for MemoryRetailerSnippets {
    async fn retailer_snippets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<RetailerSnippet>, StoreError> {
        Ok(lock(&self.snippets)
            .iter()
            .filter(|((t, _), _)| t == tenant.as_str())
            .map(|(_, snippet)| snippet.clone())
            .collect())
    }

    async fn retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<RetailerSnippet>, StoreError> {
        Ok(lock(&self.snippets)
            .get(&(tenant.to_string(), name.to_string()))
            .cloned())
    }

    async fn put_retailer_snippet(
        &self,
        tenant: &TenantId,
        snippet: &RetailerSnippet,
    ) -> Result<(), StoreError> {
        lock(&self.snippets).insert((tenant.to_string(), snippet.name.clone()), snippet.clone());
        Ok(())
    }

    async fn delete_retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.snippets)
            .remove(&(tenant.to_string(), name.to_string()))
            .is_some())
    }
}
