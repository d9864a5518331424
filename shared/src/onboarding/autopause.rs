//! The auto-pause's way to suspend a retailer: the same suspension an operator applies (SES
//! sending off on its configuration set, status `SUSPENDED`), so an operator's reinstate undoes
//! it.

use async_trait::async_trait;

use super::{Onboarding, OnboardingError};
use crate::deliverability::autopause::TenantPauser;
use crate::domain::{TenantId, TenantStatus};
use crate::error::StoreError;
use crate::onboarding::workspaces::ProvisionError;

#[async_trait]
impl TenantPauser for Onboarding {
    async fn pause(&self, tenant: &TenantId, reason: &str) -> Result<bool, StoreError> {
        let active = self
            .admin()
            .workspace(tenant)
            .await?
            .is_some_and(|workspace| workspace.status == TenantStatus::Active);
        if !active {
            return Ok(false);
        }
        tracing::warn!(tenant_id = %tenant, reason, "suspending the tenant: its rates crossed the pause thresholds");
        match self.suspend(tenant).await {
            Ok(_) => Ok(true),
            Err(OnboardingError::Store(error)) => Err(error),
            Err(OnboardingError::Provision(error)) => Err(provision_store_error(error)),
            Err(other) => Err(StoreError::Rejected {
                store: "onboarding",
                source: Box::new(other),
            }),
        }
    }
}

fn provision_store_error(error: ProvisionError) -> StoreError {
    let retryable = crate::error::Retryable::is_retryable(&error);
    let source = Box::new(error);
    if retryable {
        StoreError::Unavailable {
            store: "sending workspaces",
            source,
        }
    } else {
        StoreError::Rejected {
            store: "sending workspaces",
            source,
        }
    }
}
