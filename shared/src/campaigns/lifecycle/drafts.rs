//! Changing and deleting a campaign before it is launched. Both name the revision they read, so
//! a launch (or another edit) landing in between is a conflict, never overwritten.

use super::{CONCURRENT_WRITE_RETRIES, CampaignChanges, CampaignError, CampaignView, Campaigns};
use super::{conflict, invalid};
use crate::campaigns::schedule;
use crate::campaigns::store::{CampaignRecord, CampaignState};
use crate::domain::{CampaignId, TemplateRef, TenantId};

impl Campaigns {
    /// Applies the changes to a draft and checks the result as `create` does.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn edit(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
        changes: CampaignChanges,
    ) -> Result<CampaignView, CampaignError> {
        let mut record = self.record(tenant, id).await?;
        if record.state != CampaignState::Draft {
            return Err(conflict(&record, "edit"));
        }
        if changes.revision.is_some_and(|r| r != record.revision) {
            return Err(stale(&record));
        }
        apply(&mut record, changes);
        self.check_draft(&record)?;
        let record = self.write(record).await?;
        tracing::info!(revision = record.revision, "draft edited");
        Ok(record.into())
    }

    /// Deletes a draft (its record and delivery status item). A launched campaign is cancelled,
    /// never deleted: its stats and send log stay.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, campaign_id = %id))]
    pub async fn delete_draft(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
        revision: Option<u64>,
    ) -> Result<(), CampaignError> {
        for _ in 0..CONCURRENT_WRITE_RETRIES {
            let record = self.record(tenant, id).await?;
            if record.state != CampaignState::Draft {
                return Err(conflict(&record, "delete"));
            }
            if revision.is_some_and(|r| r != record.revision) {
                return Err(stale(&record));
            }
            if self.ports.store.delete_draft(&record).await? {
                tracing::info!("draft deleted");
                return Ok(());
            }
            // Changed since it was read: read it again (it may have been launched).
        }
        Err(CampaignError::Conflict(
            "the campaign kept changing while it was being deleted; read it again".into(),
        ))
    }

    /// What `create` checks, on a whole draft: the name, the definition, where the audience is
    /// read from, the schedule.
    pub(super) fn check_draft(&self, record: &CampaignRecord) -> Result<(), CampaignError> {
        let name = record.name.trim();
        if name.is_empty() || name.chars().count() > super::MAX_NAME_CHARS {
            return Err(invalid(
                "name",
                format!("1 to {} characters", super::MAX_NAME_CHARS),
            ));
        }
        if record.definition.campaign_id.as_str() == crate::domain::TEST_SEND_CAMPAIGN {
            return Err(invalid(
                "campaign_id",
                "is reserved: template test sends are tagged with it",
            ));
        }
        record.definition.validate()?;
        self.check_audience_location(&record.definition)?;
        if let Some(text) = &record.schedule {
            schedule::parse_local_time(text)?;
        }
        Ok(())
    }
}

fn stale(record: &CampaignRecord) -> CampaignError {
    CampaignError::Conflict(format!(
        "the campaign is at revision {}: read it again",
        record.revision
    ))
}

fn apply(record: &mut CampaignRecord, changes: CampaignChanges) {
    let definition = &mut record.definition;
    if let Some(name) = changes.name {
        record.name = name.trim().to_string();
    }
    if let Some(template) = changes.template {
        definition.template = TemplateRef {
            id: template.id,
            version: template.version.unwrap_or(0),
        };
    }
    if let Some(channel) = changes.channel {
        definition.channel = channel;
    }
    if let Some(audience) = changes.audience {
        definition.audience = audience;
    }
    if let Some(variants) = changes.variants {
        definition.variants = variants;
    }
    if let Some(holdout) = changes.holdout_percent {
        definition.holdout_percent = holdout;
    }
    if let Some(offers) = changes.offers {
        definition.offers = offers;
    }
    if let Some(zone) = changes.quiet_hours_zone {
        definition.quiet_hours_zone = zone;
    }
    if let Some(schedule) = changes.schedule {
        record.schedule = schedule;
    }
}
