//! Redrive jobs on the tenants table, each written over the revision it was made from.
//!
//! | item | pk | sk |
//! | --- | --- | --- |
//! | job | `TENANT#<t>` | `REDRIVE#CAMPAIGN#<campaign>` (a resume) or `REDRIVE#TENANT` (a reinstate): `state`, `cursor`, counts, times, `lease_until`, `holder`, `revision` |
//! | running index | `REDRIVING` | `<t>#CAMPAIGN#<campaign>` or `<t>#TENANT`: `tenant_id`, `campaign_id` |
//!
//! The index holds an entry while its job runs: written and deleted in the same transaction as
//! the job's state changes, so the scheduler lists the running jobs across tenants (one small
//! partition, like the schedule index) and reads each job under its own tenant.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::feedback::{MAX_ITEMS_PER_TRANSACTION, is_contention};
use super::{Item, TENANTS, TenantsTable, corrupt, get_n, get_s, is_condition_failure, key, n, s};
use super::{parse_status, status_name, tenant_pk};
use crate::aws::errors::store_error;
use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;
use crate::pipeline::redrive::{RedriveJob, RedriveJobs, RedriveScope, RedriveState};

/// The partition of the running jobs' index.
pub const RUNNING_PK: &str = "REDRIVING";
/// Items in a write that changes a job's state: the job and its index entry.
pub const ITEMS_PER_STATE_CHANGE: usize = 2;
const _: () = assert!(ITEMS_PER_STATE_CHANGE <= MAX_ITEMS_PER_TRANSACTION);

fn scope_suffix(scope: &RedriveScope) -> String {
    match &scope.campaign_id {
        Some(campaign) => format!("CAMPAIGN#{campaign}"),
        None => "TENANT".to_string(),
    }
}

fn job_key(scope: &RedriveScope) -> Item {
    key(
        tenant_pk(&scope.tenant_id),
        format!("REDRIVE#{}", scope_suffix(scope)),
    )
}

fn index_key(scope: &RedriveScope) -> Item {
    key(
        RUNNING_PK.to_string(),
        format!("{}#{}", scope.tenant_id, scope_suffix(scope)),
    )
}

fn scope_attributes(scope: &RedriveScope, item: &mut Item) {
    item.insert("tenant_id".into(), s(scope.tenant_id.as_str()));
    if let Some(campaign) = &scope.campaign_id {
        item.insert("campaign_id".into(), s(campaign.as_str()));
    }
}

fn scope_from_item(item: &Item) -> Result<RedriveScope, StoreError> {
    let tenant_id =
        TenantId::parse(get_s(item, "tenant_id", TENANTS)?).map_err(|e| corrupt(TENANTS, e))?;
    let campaign_id = match item.get("campaign_id").and_then(|v| v.as_s().ok()) {
        Some(campaign) => Some(CampaignId::parse(campaign).map_err(|e| corrupt(TENANTS, e))?),
        None => None,
    };
    Ok(RedriveScope {
        tenant_id,
        campaign_id,
    })
}

pub(super) fn job_item(job: &RedriveJob) -> Result<Item, StoreError> {
    let mut item = job_key(&job.scope);
    scope_attributes(&job.scope, &mut item);
    item.extend([
        ("state".into(), s(status_name(job.state)?)),
        ("batches".into(), n(job.batches)),
        ("recipients".into(), n(job.recipients)),
        ("still_parked".into(), n(job.still_parked)),
        ("passes".into(), n(job.passes)),
        ("started_at".into(), n(job.started_at)),
        ("updated_at".into(), n(job.updated_at)),
        ("lease_until".into(), n(job.lease_until)),
        ("holder".into(), n(job.holder)),
        ("revision".into(), n(job.revision)),
    ]);
    let optional = [
        ("cursor", job.cursor.clone().map(s)),
        ("finished_at", job.finished_at.map(n)),
        ("last_error", job.last_error.clone().map(s)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), value);
        }
    }
    Ok(item)
}

fn job_from_item(item: &Item) -> Result<RedriveJob, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Ok(RedriveJob {
        scope: scope_from_item(item)?,
        state: parse_status(get_s(item, "state", TENANTS)?)?,
        cursor: text("cursor"),
        batches: get_n(item, "batches", TENANTS)?,
        recipients: get_n(item, "recipients", TENANTS)?,
        still_parked: get_n(item, "still_parked", TENANTS)?,
        passes: get_n(item, "passes", TENANTS)?,
        started_at: get_n(item, "started_at", TENANTS)?,
        updated_at: get_n(item, "updated_at", TENANTS)?,
        finished_at: match item.contains_key("finished_at") {
            true => Some(get_n(item, "finished_at", TENANTS)?),
            false => None,
        },
        lease_until: get_n(item, "lease_until", TENANTS)?,
        holder: get_n(item, "holder", TENANTS)?,
        last_error: text("last_error"),
        revision: get_n(item, "revision", TENANTS)?,
    })
}

/// A job is written only over the revision it was made from (the first, only where none is).
fn revision_condition(job: &RedriveJob) -> (String, Option<Item>) {
    match job.revision {
        0 | 1 => ("attribute_not_exists(pk)".into(), None),
        revision => (
            "revision = :expected".into(),
            Some(Item::from([(":expected".to_string(), n(revision - 1))])),
        ),
    }
}

impl TenantsTable {
    /// The job's put, on its revision condition.
    pub(super) fn job_put(&self, job: &RedriveJob) -> Result<Put, StoreError> {
        let (condition, values) = revision_condition(job);
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(|e| corrupt(TENANTS, e))
    }

    /// The job's put and its index entry's put (running) or delete (done), in one transaction.
    pub(super) fn state_change_items(
        &self,
        job: &RedriveJob,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let index = match job.state {
            RedriveState::Running => {
                let mut item = index_key(&job.scope);
                scope_attributes(&job.scope, &mut item);
                let put = Put::builder().table_name(&self.table).set_item(Some(item));
                TransactWriteItem::builder()
                    .put(put.build().map_err(|e| corrupt(TENANTS, e))?)
                    .build()
            }
            RedriveState::Done => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(index_key(&job.scope)));
                TransactWriteItem::builder()
                    .delete(delete.build().map_err(|e| corrupt(TENANTS, e))?)
                    .build()
            }
        };
        Ok(vec![
            TransactWriteItem::builder().put(self.job_put(job)?).build(),
            index,
        ])
    }

    async fn save_with_index(&self, job: &RedriveJob) -> Result<bool, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(self.state_change_items(job)?))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if job_condition_failed(&error) => Ok(false),
            Err(error) if is_contention(&error) => Err(StoreError::Throttled {
                store: TENANTS,
                source: Box::new(error),
            }),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }
}

/// Whether a state change was cancelled because the job (its first item) moved on.
fn job_condition_failed(error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled
                .cancellation_reasons()
                .first()
                .and_then(|reason| reason.code())
                == Some("ConditionalCheckFailed")
        }
        _ => false,
    }
}

#[async_trait]
impl RedriveJobs for TenantsTable {
    async fn job(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(scope)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let job = job_from_item(&item)?;
        if &job.scope != scope {
            return Err(corrupt(TENANTS, "redrive job names another scope"));
        }
        Ok(Some(job))
    }

    async fn save(&self, job: &RedriveJob, was: Option<RedriveState>) -> Result<bool, StoreError> {
        if was != Some(job.state) {
            return self.save_with_index(job).await;
        }
        let (condition, values) = revision_condition(job);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    async fn running(&self, limit: usize) -> Result<Vec<RedriveScope>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(RUNNING_PK))
            .consistent_read(true)
            .limit(limit.clamp(1, i32::MAX as usize) as i32)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.items().iter().map(scope_from_item).collect()
    }
}

#[cfg(test)]
#[path = "redrive_jobs_tests.rs"]
mod tests;
