//! The workspace item's conditional writes: each change is one UpdateItem (or, for a new
//! workspace, one PutItem) of the attributes it owns, with a condition, so that a concurrent
//! change of another attribute is never written back over. The item holds `tenant_id`, `slug`,
//! `display_name`, `configuration_set`, `ses_tenant`, `from_address`, `status`,
//! `unsubscribe_base_url`, `settings` (JSON) and `push_app_<platform>` (the push applications).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::aws::errors::store_error;
use crate::domain::{TenantId, TenantSettings, TenantStatus, TenantWorkspace};
use crate::error::StoreError;

use super::admin::{REGISTRY_ATTRIBUTE, REGISTRY_WORKSPACES};
use super::*;

pub(super) const WORKSPACE_SK: &str = "WORKSPACE";

pub(super) fn workspace_key(tenant: &TenantId) -> Item {
    key(tenant_pk(tenant), WORKSPACE_SK.into())
}

pub(super) fn settings_json(settings: &TenantSettings) -> Result<String, StoreError> {
    serde_json::to_string(settings).map_err(|e| StoreError::Rejected {
        store: TENANTS,
        source: Box::new(e),
    })
}

/// The whole item, as [`TenantsTable::put_workspace`] and [`TenantsTable::create_workspace`]
/// write it.
pub(super) fn workspace_item(workspace: &TenantWorkspace) -> Result<Item, StoreError> {
    let mut item = workspace_key(&workspace.tenant_id);
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
        ("settings".into(), s(settings_json(&workspace.settings)?)),
        (REGISTRY_ATTRIBUTE.into(), s(REGISTRY_WORKSPACES)),
    ]);
    for platform in crate::domain::PushPlatform::ALL {
        if let Some(arn) = workspace.push_applications.get(platform) {
            item.insert(push_app_attribute(platform), s(arn));
        }
    }
    Ok(item)
}

/// A failed condition is `Ok(false)`, any other failure the store's error.
fn applied<O, R: std::fmt::Debug + Send + Sync + 'static>(
    result: Result<O, SdkError<UpdateItemError, R>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_update_condition_failure(&error) => Ok(false),
        Err(error) => Err(store_error(TENANTS, error)),
    }
}

impl TenantsTable {
    fn update_workspace(&self, tenant: &TenantId) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(workspace_key(tenant)))
    }

    /// `PutItem` of the whole item with `attribute_not_exists(pk)`.
    pub(super) async fn create_workspace_item(
        &self,
        workspace: &TenantWorkspace,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(workspace_item(workspace)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    /// `SET` what onboarding owns, if the item exists with this slug; never `status`.
    pub(super) async fn update_onboarding_item(
        &self,
        workspace: &TenantWorkspace,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_workspace(&workspace.tenant_id)
            .update_expression(
                "SET display_name = :display_name, configuration_set = :configuration_set, \
                 ses_tenant = :ses_tenant, from_address = :from_address, \
                 unsubscribe_base_url = :unsubscribe_base_url, settings = :settings",
            )
            .condition_expression("attribute_exists(pk) AND slug = :slug")
            .expression_attribute_values(":slug", s(&workspace.slug))
            .expression_attribute_values(":display_name", s(&workspace.display_name))
            .expression_attribute_values(":configuration_set", s(&workspace.configuration_set))
            .expression_attribute_values(":ses_tenant", s(&workspace.ses_tenant))
            .expression_attribute_values(":from_address", s(&workspace.from_address))
            .expression_attribute_values(
                ":unsubscribe_base_url",
                s(&workspace.unsubscribe_base_url),
            )
            .expression_attribute_values(":settings", s(settings_json(&workspace.settings)?))
            .send()
            .await;
        applied(result)
    }

    /// `SET push_app_<platform> = :arn` if the item exists.
    pub(super) async fn set_push_application_item(
        &self,
        tenant: &TenantId,
        platform: crate::domain::PushPlatform,
        arn: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_workspace(tenant)
            .update_expression("SET #app = :arn")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#app", push_app_attribute(platform))
            .expression_attribute_values(":arn", s(arn))
            .send()
            .await;
        applied(result)
    }

    /// `SET settings = :settings` (and `display_name`) if `settings = :expected`. The stored
    /// JSON is compared as text: if the condition fails on a text that is `expected` written
    /// another way (an item written before a field was added, or with no settings at all), the
    /// write is tried once more on that exact text.
    pub(super) async fn update_settings_item(
        &self,
        tenant: &TenantId,
        expected: &TenantSettings,
        settings: &TenantSettings,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut stored = Some(settings_json(expected)?);
        for attempt in 0..2 {
            let mut update = self
                .update_workspace(tenant)
                .expression_attribute_values(":settings", s(settings_json(settings)?))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            update = match display_name {
                Some(name) => update
                    .update_expression("SET settings = :settings, display_name = :display_name")
                    .expression_attribute_values(":display_name", s(name)),
                None => update.update_expression("SET settings = :settings"),
            };
            update = match &stored {
                Some(text) => update
                    .condition_expression("settings = :expected")
                    .expression_attribute_values(":expected", s(text)),
                None => update.condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(settings)",
                ),
            };
            let error = match update.send().await {
                Ok(_) => return Ok(true),
                Err(error) if attempt == 0 && is_update_condition_failure(&error) => error,
                result => return applied(result),
            };
            let Some(UpdateItemError::ConditionalCheckFailedException(failure)) =
                error.as_service_error()
            else {
                return Ok(false);
            };
            let Some(old) = failure.item() else {
                return Ok(false);
            };
            let old_text = old.get("settings").and_then(|v| v.as_s().ok()).cloned();
            let same = match &old_text {
                Some(text) => {
                    serde_json::from_str::<TenantSettings>(text).ok() == Some(expected.clone())
                }
                None => *expected == TenantSettings::default(),
            };
            if !same || old_text == stored {
                return Ok(false);
            }
            stored = old_text;
        }
        Ok(false)
    }

    /// `SET #status = :status` if the status is still `:expected` (or, without one, if the
    /// item exists).
    pub(super) async fn set_workspace_status_item(
        &self,
        tenant: &TenantId,
        expected: Option<TenantStatus>,
        status: TenantStatus,
    ) -> Result<bool, StoreError> {
        let update = self
            .update_workspace(tenant)
            .update_expression("SET #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status_name(status)?));
        let update = match expected {
            Some(expected) => update
                .condition_expression("#status = :expected")
                .expression_attribute_values(":expected", s(status_name(expected)?)),
            None => update.condition_expression("attribute_exists(pk)"),
        };
        applied(update.send().await)
    }
}

#[cfg(test)]
#[path = "workspace_writes_tests.rs"]
mod tests;
