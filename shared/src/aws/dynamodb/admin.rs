//! Workspaces, campaign status, suppressions and slug claims on the tenants table, and the
//! cross-tenant workspace listing.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::aws::errors::store_error;
use crate::directory::{SlugClaim, TenantAdmin, WorkspaceListing};
use crate::domain::{CampaignId, CampaignStatus, TemplateVersion, TenantId, TenantWorkspace};
use crate::error::StoreError;

use super::*;

/// Scan segments read in parallel when listing workspaces.
pub(super) const SCAN_SEGMENTS: i32 = 4;

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

pub(super) fn slug_key(slug: &str) -> Item {
    key(format!("SLUG#{slug}"), "OWNER".into())
}
