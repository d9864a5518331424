//! The tenants' records: what delivery reads about a tenant and campaign before sending a batch,
//! in one round trip ([`DeliveryDirectory`]), what operators and the lifecycle write
//! ([`TenantAdmin`]), and the cross-tenant workspace listing ([`WorkspaceListing`]).

use std::collections::HashSet;

use async_trait::async_trait;

use crate::domain::{
    CampaignId, CampaignStatus, PushPlatform, QuietHoursZone, TemplateVersion, TenantId,
    TenantSettings, TenantStatus, TenantWorkspace,
};
use crate::error::StoreError;

/// Everything delivery needs to know about a tenant and campaign before sending a batch, read in
/// one round trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryContext {
    pub workspace: Option<TenantWorkspace>,
    pub campaign_status: Option<CampaignStatus>,
    /// In whose time zone the campaign keeps the retailer's quiet hours (on the same status
    /// item, so no extra read): the retailer's when the item does not say.
    pub campaign_quiet_hours: QuietHoursZone,
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

/// The most workspaces one page of [`WorkspaceListing::workspace_page`] holds.
pub const MAX_WORKSPACE_PAGE: usize = 100;

/// Workspaces in tenant id order, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePage {
    pub workspaces: Vec<TenantWorkspace>,
    /// The last tenant listed, when more follow: the next page's `after`.
    pub next_after: Option<TenantId>,
}

/// Every onboarded retailer's workspace: for tools that work across tenants (template deploys)
/// and the operators' list of retailers.
#[async_trait]
pub trait WorkspaceListing: Send + Sync {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError>;

    /// At most `limit` (1 to [`MAX_WORKSPACE_PAGE`]) workspaces of tenants after `after`.
    async fn workspace_page(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<WorkspacePage, StoreError>;
}

/// What operators and the lifecycle change: workspaces, templates, campaign status. Suppression
/// lists have their own port ([`crate::deliverability::suppression::SuppressionList`]).
///
/// The services never write a workspace item whole: each change is one conditional write of the
/// attributes it owns (`create_workspace`, `update_onboarding`, `update_settings`,
/// `set_workspace_status`), so a concurrent change of another attribute (an operator's suspend
/// racing a marketer's PATCH) is never undone. Each answers `false` when its condition failed.
#[async_trait]
pub trait TenantAdmin: Send + Sync {
    /// The whole item, unconditionally: for seeding (tests, demos, tools), not for the services.
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError>;
    /// Writes a new workspace item; `false` if the tenant already has one.
    async fn create_workspace(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError>;
    /// Sets what onboarding owns (display name, SES names, from-address, unsubscribe URL,
    /// settings) on the tenant's workspace if its slug is `workspace.slug`; never the status.
    async fn update_onboarding(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError>;
    /// Sets the settings (and the display name, if given) if the stored settings are still
    /// `expected`; `false` if they changed since they were read (or the workspace is gone).
    async fn update_settings(
        &self,
        tenant: &TenantId,
        expected: &TenantSettings,
        settings: &TenantSettings,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Sets the status if it is still `expected` (`None`: whatever it is, if the workspace
    /// exists); `false` otherwise.
    async fn set_workspace_status(
        &self,
        tenant: &TenantId,
        expected: Option<TenantStatus>,
        status: TenantStatus,
    ) -> Result<bool, StoreError>;
    async fn put_template_version(&self, version: &TemplateVersion) -> Result<(), StoreError>;
    /// The campaign's delivery status, unconditionally: the campaign store writes it in the same
    /// transaction as the revision-checked record.
    async fn set_campaign_status(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: CampaignStatus,
    ) -> Result<(), StoreError>;
    /// The campaign's delivery status, if it is still `expected`; `false` otherwise.
    async fn set_campaign_status_if(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        expected: CampaignStatus,
        status: CampaignStatus,
    ) -> Result<bool, StoreError>;
    /// The campaign's quiet-hours zone on its delivery status item (that attribute alone): the
    /// campaign store writes it with the status. `set_campaign_status` writes the item whole,
    /// so it is the retailer's again after one.
    async fn set_campaign_quiet_hours(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        zone: QuietHoursZone,
    ) -> Result<(), StoreError>;
    /// Sets the retailer's push application ARN on `platform` (that attribute alone) if the
    /// workspace exists; `false` otherwise.
    async fn set_push_application(
        &self,
        tenant: &TenantId,
        platform: PushPlatform,
        arn: &str,
    ) -> Result<bool, StoreError>;
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
