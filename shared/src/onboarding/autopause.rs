//! The auto-pause's way to suspend a retailer: the same suspension an operator applies (SES
//! sending off on its configuration set, status `SUSPENDED`), so an operator's reinstate undoes
//! it.

use async_trait::async_trait;

use super::{Onboarding, OnboardingError};
use crate::deliverability::autopause::TenantPauser;
use crate::domain::{TenantId, TenantStatus};
use crate::error::{Retryable as _, StoreError};

#[async_trait]
impl TenantPauser for Onboarding {
    async fn pause(&self, tenant: &TenantId, reason: &str) -> Result<bool, StoreError> {
        let workspace = match self.tenant(tenant).await {
            Ok(workspace) => workspace,
            Err(OnboardingError::NotFound) => return Ok(false),
            Err(error) => return Err(as_store_error(error)),
        };
        if workspace.status != TenantStatus::Active {
            return Ok(false);
        }
        tracing::warn!(tenant_id = %tenant, reason, "suspending the tenant: its rates crossed the pause thresholds");
        self.suspend_if_active(&workspace)
            .await
            .map_err(as_store_error)
    }
}

/// The pauser answers store errors: the tenants table's as they are, the provider's by whether
/// a retry can help.
fn as_store_error(error: OnboardingError) -> StoreError {
    match error {
        OnboardingError::Store(error) => error,
        OnboardingError::Provision(error) if error.is_retryable() => StoreError::Unavailable {
            store: "sending workspaces",
            source: Box::new(error),
        },
        OnboardingError::Provision(error) => StoreError::Rejected {
            store: "sending workspaces",
            source: Box::new(error),
        },
        other => StoreError::Rejected {
            store: "onboarding",
            source: Box::new(other),
        },
    }
}
