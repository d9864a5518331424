//! The tenants' records: what delivery reads about a tenant and campaign before sending a batch,
//! in one round trip ([`DeliveryDirectory`]), what operators and the lifecycle write
//! ([`TenantAdmin`]), and the cross-tenant workspace listing ([`WorkspaceListing`]).

use std::collections::HashSet;

use async_trait::async_trait;

use crate::domain::{CampaignId, CampaignStatus, TemplateVersion, TenantId, TenantWorkspace};
use crate::error::StoreError;

/// Everything delivery needs to know about a tenant and campaign before sending a batch, read in
/// one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryContext {
    pub workspace: Option<TenantWorkspace>,
    pub campaign_status: Option<CampaignStatus>,
    /// The given addresses (normalised) that are on the tenant's suppression list.
    pub suppressed: HashSet<String>,
}

#[async_trait]
pub trait DeliveryDirectory: Send + Sync {
    /// `addresses` must be normalised with [`crate::domain::normalise_address`].
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError>;
}

/// Every onboarded retailer's workspace: for tools that work across tenants (template deploys).
#[async_trait]
pub trait WorkspaceListing: Send + Sync {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError>;
}

/// What operators and the lifecycle change: workspaces, templates, campaign status. Suppression
/// lists have their own port ([`crate::deliverability::suppression::SuppressionList`]).
#[async_trait]
pub trait TenantAdmin: Send + Sync {
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError>;
    async fn put_template_version(&self, version: &TemplateVersion) -> Result<(), StoreError>;
    async fn set_campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: CampaignStatus,
    ) -> Result<(), StoreError>;
    /// The tenant's workspace, if it was onboarded.
    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError>;
    /// Claims `slug` (a from-address local part: platform-wide, not per tenant) for `tenant`
    /// with a conditional write. Claiming a slug the tenant already owns succeeds again.
    async fn claim_slug(&self, slug: &str, tenant: &TenantId) -> Result<SlugClaim, StoreError>;
}

/// The answer to a slug claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugClaim {
    /// The slug is the tenant's (newly, or already).
    Claimed,
    /// Another tenant owns it.
    Taken { owner: TenantId },
}
