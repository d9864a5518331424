//! The batch's template: a pinned version, or the live one, compiled once per container.

use std::sync::Arc;

use crate::domain::SendBatch;
use crate::error::StoreError;
use crate::render::CompiledTemplate;

use super::*;

impl Deliverer {
    pub(super) async fn template(
        &self,
        batch: &SendBatch,
    ) -> Result<Arc<CompiledTemplate>, TemplateProblem> {
        let group = &batch.group;
        if group.template.is_live() {
            return self.live_template(batch).await;
        }
        if let Some(template) = self.cache.get(&group.tenant_id, &group.template) {
            return Ok(template);
        }
        let version = self
            .templates
            .template_version(&group.tenant_id, &group.template)
            .await
            .map_err(TemplateProblem::Store)?
            .ok_or_else(|| {
                TemplateProblem::Unusable(format!(
                    "unknown template {} version {}",
                    group.template.id, group.template.version
                ))
            })?;
        if version.tenant_id != group.tenant_id || version.template != group.template {
            return Err(TemplateProblem::Unusable(
                "template store answered another tenant's or version's template".into(),
            ));
        }
        self.cache
            .get_or_compile(&version)
            .map_err(|e| TemplateProblem::Unusable(format!("template failed to compile: {e}")))
    }

    /// The template's live version, read through its live pointer at most once a minute
    /// ([`crate::render::LIVE_POINTER_TTL`]) per warm container.
    pub(super) async fn live_template(
        &self,
        batch: &SendBatch,
    ) -> Result<Arc<CompiledTemplate>, TemplateProblem> {
        let group = &batch.group;
        let now = self.clock.now();
        if let Some(template) = self
            .cache
            .get_live(&group.tenant_id, &group.template.id, now)
        {
            return Ok(template);
        }
        let version = self
            .templates
            .live_template(&group.tenant_id, &group.template.id)
            .await
            .map_err(TemplateProblem::Store)?
            .ok_or_else(|| {
                TemplateProblem::Unusable(format!(
                    "template {} has no live version",
                    group.template.id
                ))
            })?;
        if version.tenant_id != group.tenant_id
            || version.template.id != group.template.id
            || version.template.is_live()
        {
            return Err(TemplateProblem::Unusable(
                "template store answered another tenant's or template's live version".into(),
            ));
        }
        self.cache
            .put_live(&version, now)
            .map_err(|e| TemplateProblem::Unusable(format!("template failed to compile: {e}")))
    }
}

pub(super) enum TemplateProblem {
    Store(StoreError),
    Unusable(String),
}
