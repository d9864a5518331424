//! A new retailer gets the standard templates at onboarding, so its marketers can set variables
//! and launch at once, without waiting for the next catalog deploy.

use std::sync::Arc;

use super::{Onboarding, OnboardingError};
use crate::domain::TenantWorkspace;
use crate::templates::Catalog;
use crate::templates::deploy::deploy_to;
use crate::templates::ports::TemplatePublisher;

/// The catalog onboarding publishes and where.
pub struct StandardTemplates {
    pub catalog: Arc<Catalog>,
    pub publisher: Arc<dyn TemplatePublisher>,
}

impl Onboarding {
    pub fn with_standard_templates(mut self, standard: StandardTemplates) -> Self {
        self.standard_templates = Some(standard);
        self
    }

    /// Publishes the catalog's templates for the retailer, as the deploy tool would, when it
    /// was just created or has no live template yet (a first PUT whose publish failed is
    /// completed by the next one). A retailer that has templates is left to the deploy tool.
    pub(super) async fn publish_standard_templates(
        &self,
        workspace: &TenantWorkspace,
        created: bool,
    ) -> Result<(), OnboardingError> {
        let Some(standard) = &self.standard_templates else {
            return Ok(());
        };
        if !created
            && !standard
                .publisher
                .live_heads(&workspace.tenant_id)
                .await?
                .is_empty()
        {
            return Ok(());
        }
        let report = deploy_to(
            &standard.catalog,
            vec![workspace.clone()],
            Vec::new(),
            standard.publisher.as_ref(),
            false,
        )
        .await?;
        let errors: Vec<String> = report
            .retailers
            .into_iter()
            .flat_map(|retailer| retailer.errors)
            .collect();
        if !errors.is_empty() {
            return Err(OnboardingError::StandardTemplates(errors.join("; ")));
        }
        tracing::info!(published = report.published, "standard templates published");
        Ok(())
    }
}
