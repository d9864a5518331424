//! Workspaces, campaign status, suppressions and slug claims on the tenants table, and the
//! cross-tenant workspace listing (the registry index).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::aws::errors::store_error;
use crate::directory::{
    MAX_WORKSPACE_PAGE, SlugClaim, TenantAdmin, WorkspaceListing, WorkspacePage,
};
use crate::domain::{
    CampaignId, CampaignStatus, QuietHoursZone, TemplateVersion, TenantId, TenantSettings,
    TenantStatus, TenantWorkspace,
};
use crate::error::StoreError;

use super::workspace_writes::{workspace_item, workspace_key};
use super::*;

/// The sparse index of workspace items (template.yaml, `TenantsTable`): only a workspace item
/// carries the [`REGISTRY_ATTRIBUTE`], so the index holds one entry per retailer.
pub const WORKSPACE_REGISTRY_INDEX: &str = "workspaces";
/// The attribute that puts an item in the workspace registry, and its one value.
pub const REGISTRY_ATTRIBUTE: &str = "registry";
pub const REGISTRY_WORKSPACES: &str = "WORKSPACE";

/// The workspaces, from the registry index: one Query (paged) over one entry per retailer,
/// never a read of a contact, suppression or template item. The index is eventually
/// consistent: a retailer onboarded a moment ago may be listed on the next call.
#[async_trait]
impl WorkspaceListing for TenantsTable {
    async fn workspaces(&self) -> Result<Vec<TenantWorkspace>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(WORKSPACE_REGISTRY_INDEX)
            .key_condition_expression("#registry = :workspaces")
            .expression_attribute_names("#registry", REGISTRY_ATTRIBUTE)
            .expression_attribute_values(":workspaces", s(REGISTRY_WORKSPACES))
            .into_paginator()
            .items()
            .send();
        let mut workspaces = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error(TENANTS, e))?;
            workspaces.push(workspace_from_item(&item)?);
        }
        workspaces.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(workspaces)
    }

    /// One Query of the registry index in key order (`TENANT#<id>`: tenant id order), one item
    /// more than the page to know whether another follows.
    async fn workspace_page(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<WorkspacePage, StoreError> {
        let limit = limit.clamp(1, MAX_WORKSPACE_PAGE);
        let start = after.map(|tenant| {
            let mut start = workspace_key(tenant);
            start.insert(REGISTRY_ATTRIBUTE.into(), s(REGISTRY_WORKSPACES));
            start
        });
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(WORKSPACE_REGISTRY_INDEX)
            .key_condition_expression("#registry = :workspaces")
            .expression_attribute_names("#registry", REGISTRY_ATTRIBUTE)
            .expression_attribute_values(":workspaces", s(REGISTRY_WORKSPACES))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let mut workspaces = answer
            .items()
            .iter()
            .map(workspace_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let more = workspaces.len() > limit;
        workspaces.truncate(limit);
        Ok(WorkspacePage {
            next_after: more
                .then(|| workspaces.last().map(|w| w.tenant_id.clone()))
                .flatten(),
            workspaces,
        })
    }
}

#[async_trait]
impl TenantAdmin for TenantsTable {
    async fn put_workspace(&self, workspace: &TenantWorkspace) -> Result<(), StoreError> {
        self.put(workspace_item(workspace)?).await
    }

    async fn create_workspace(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError> {
        self.create_workspace_item(workspace).await
    }

    async fn update_onboarding(&self, workspace: &TenantWorkspace) -> Result<bool, StoreError> {
        self.update_onboarding_item(workspace).await
    }

    async fn update_settings(
        &self,
        tenant: &TenantId,
        expected: &TenantSettings,
        settings: &TenantSettings,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.update_settings_item(tenant, expected, settings, display_name)
            .await
    }

    async fn set_workspace_status(
        &self,
        tenant: &TenantId,
        expected: Option<TenantStatus>,
        status: TenantStatus,
    ) -> Result<bool, StoreError> {
        self.set_workspace_status_item(tenant, expected, status)
            .await
    }

    async fn set_push_application(
        &self,
        tenant: &TenantId,
        platform: crate::domain::PushPlatform,
        arn: &str,
    ) -> Result<bool, StoreError> {
        self.set_push_application_item(tenant, platform, arn).await
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

    /// `SET quiet_hours_zone = :zone` (`REMOVE` for the retailer's, the default).
    async fn set_campaign_quiet_hours(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        zone: QuietHoursZone,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), format!("CAMPAIGN#{campaign}"))))
            .expression_attribute_names("#zone", QUIET_HOURS_ZONE_ATTRIBUTE);
        let update = match zone {
            QuietHoursZone::Retailer => update.update_expression("REMOVE #zone"),
            QuietHoursZone::Customer => update
                .update_expression("SET #zone = :zone")
                .expression_attribute_values(":zone", s(zone.as_str())),
        };
        update.send().await.map_err(|e| store_error(TENANTS, e))?;
        Ok(())
    }

    /// `SET #status = :status` if `#status = :expected`.
    async fn set_campaign_status_if(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        expected: CampaignStatus,
        status: CampaignStatus,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), format!("CAMPAIGN#{campaign}"))))
            .update_expression("SET #status = :status")
            .condition_expression("#status = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status_name(status)?))
            .expression_attribute_values(":expected", s(status_name(expected)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    async fn workspace(&self, tenant: &TenantId) -> Result<Option<TenantWorkspace>, StoreError> {
        // Strongly consistent: an operator's PATCH right after a PUT must see the PUT.
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(workspace_key(tenant)))
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

pub(super) fn slug_key(slug: &str) -> Item {
    key(format!("SLUG#{slug}"), "OWNER".into())
}

impl TenantsTable {
    /// Puts the workspaces written before the registry existed into it: one Scan for workspace
    /// items without the registry attribute, and a conditional update of each. Run once on a
    /// stack deployed before the registry index (docs/operations.md); answers how many it added.
    pub async fn register_unlisted_workspaces(&self) -> Result<usize, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :workspace AND attribute_not_exists(#registry)")
            .expression_attribute_names("#registry", REGISTRY_ATTRIBUTE)
            .expression_attribute_values(":workspace", s("WORKSPACE"))
            .projection_expression("pk, sk")
            .into_paginator()
            .items()
            .send();
        let mut registered = 0;
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error(TENANTS, e))?;
            let key = item
                .into_iter()
                .filter(|(name, _)| name == "pk" || name == "sk")
                .collect();
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET #registry = :workspaces")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#registry)")
                .expression_attribute_names("#registry", REGISTRY_ATTRIBUTE)
                .expression_attribute_values(":workspaces", s(REGISTRY_WORKSPACES))
                .send()
                .await;
            match updated {
                Ok(_) => registered += 1,
                Err(error) if is_update_condition_failure(&error) => {}
                Err(error) => return Err(store_error(TENANTS, error)),
            }
        }
        Ok(registered)
    }
}
