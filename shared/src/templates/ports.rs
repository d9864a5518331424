//! Reading and publishing a retailer's template versions.

use async_trait::async_trait;

use crate::domain::{TemplateId, TemplateRef, TemplateVersion, TenantId};
use crate::error::StoreError;

#[async_trait]
pub trait TemplateStore: Send + Sync {
    async fn template_version(
        &self,
        tenant: &TenantId,
        template: &TemplateRef,
    ) -> Result<Option<TemplateVersion>, StoreError>;

    /// The version the template's live pointer names, whole, in one read; `None` before the
    /// template's first publish.
    async fn live_template(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
    ) -> Result<Option<TemplateVersion>, StoreError>;
}

/// What the deploy tool needs to know of a template's live version without reading it whole.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveHead {
    /// The template and its live version number.
    pub template: TemplateRef,
    /// [`crate::domain::content_hash`] of the live version: equal hashes, same content.
    pub content_hash: String,
    /// The retailer's own variable values in the live version.
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

/// How a conditional publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishResult {
    Published,
    /// The live pointer was not at the expected version any more (someone else published):
    /// nothing was written.
    Conflict,
}

/// Publishing retailer-specific template versions: immutable versions, one live pointer per
/// template and tenant.
#[async_trait]
pub trait TemplatePublisher: Send + Sync {
    /// Writes `version` and moves the live pointer to it in one transaction, only if the pointer
    /// is still at `expected_live` (`None`: no live version yet) and the version is new.
    async fn publish(
        &self,
        version: &TemplateVersion,
        expected_live: Option<u32>,
    ) -> Result<PublishResult, StoreError>;

    /// Bulk publish for the deploy tool: every version first, each only if no item of that
    /// number exists (`attribute_not_exists`: versions are immutable), then the live pointers of
    /// the versions written, each only if it still names the version before (`version = n - 1`;
    /// none for version 1), so a pointer never names a version that is not written and a
    /// marketer's save during the deploy is never overwritten. Answers the indexes (into
    /// `versions`) of those that were not published because a condition failed: the caller
    /// reads the live heads again and renumbers them.
    async fn publish_all(&self, versions: &[TemplateVersion]) -> Result<Vec<usize>, StoreError>;

    /// The live heads of every template of the tenant.
    async fn live_heads(&self, tenant: &TenantId) -> Result<Vec<LiveHead>, StoreError>;
}

/// A snippet a retailer saved for its own templates: it overrides the library's snippet of the
/// same name, or adds one, for that retailer only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetailerSnippet {
    /// Checked by [`crate::templates::snippets::check_snippet_name`].
    pub name: String,
    /// Liquid source.
    pub source: String,
    /// When it was last saved, Unix seconds.
    pub updated_at: i64,
}

/// A retailer's own snippets, each keyed by its tenant: no call reaches another tenant's.
#[async_trait]
pub trait RetailerSnippetStore: Send + Sync {
    /// Every snippet of the tenant, by name.
    async fn retailer_snippets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<RetailerSnippet>, StoreError>;

    async fn retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<RetailerSnippet>, StoreError>;

    /// Creates or replaces the snippet of that name.
    async fn put_retailer_snippet(
        &self,
        tenant: &TenantId,
        snippet: &RetailerSnippet,
    ) -> Result<(), StoreError>;

    /// Whether there was one to delete.
    async fn delete_retailer_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<bool, StoreError>;
}
