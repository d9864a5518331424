//! The onboarding service's push applications: `PUT /tenants/{tenant}/push/{platform}`.

use std::sync::Arc;

use super::push::{PushApplicationProvider, PushApplicationRequest, PushSetup, PushSetupError};
use super::service::{Onboarding, OnboardingError};
use crate::domain::{PushPlatform, TenantId, TenantWorkspace};

impl Onboarding {
    /// With it, [`Onboarding::put_push_application`] creates the retailer's push applications.
    pub fn with_push_applications(mut self, provider: Arc<dyn PushApplicationProvider>) -> Self {
        self.push = Some(PushSetup::new(provider, self.admin.clone()));
        self
    }

    /// `PUT /tenants/{tenant}/push/{platform}` (operator): the retailer's push application on
    /// the platform, created or its credentials replaced, its ARN kept in the workspace.
    pub async fn put_push_application(
        &self,
        tenant: &TenantId,
        platform: PushPlatform,
        request: PushApplicationRequest,
    ) -> Result<TenantWorkspace, OnboardingError> {
        let Some(push) = &self.push else {
            return Err(OnboardingError::Conflict(
                "push applications are not configured on this deployment".into(),
            ));
        };
        push.put(tenant, platform, request)
            .await
            .map_err(|error| match error {
                PushSetupError::Invalid { field, reason } => {
                    OnboardingError::Invalid { field, reason }
                }
                PushSetupError::NotFound => OnboardingError::NotFound,
                PushSetupError::Provision(e) => OnboardingError::Provision(e),
                PushSetupError::Store(e) => OnboardingError::Store(e),
            })
    }
}
