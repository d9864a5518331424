//! Campaign records, launch progress and the schedule index on the tenants table.
//!
//! | item | pk | sk |
//! | --- | --- | --- |
//! | campaign record | `TENANT#<t>` | `CAMPAIGN_DEF#<campaign>` (`record` JSON, `revision`, `state`) |
//! | delivery status | `TENANT#<t>` | `CAMPAIGN#<campaign>` (`status`), written in the same transaction |
//! | chunk progress | `TENANT#<t>` | `LAUNCH#<campaign>#<launch>#CHUNK#<index, 6 digits>` (and the checkpoint: `checkpoint`, `checkpoint_report`) |
//! | schedule entry | `SCHEDULE` | `<due, epoch seconds, 12 digits>#<t>#<campaign>#<launch>` |
//!
//! The schedule index is the one partition not keyed by a tenant: the scheduler reads it by due
//! time across tenants, and then reads each campaign under the tenant its entry names.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, PutRequest, ReturnConsumedCapacity, TransactWriteItem,
    WriteRequest,
};
use time::OffsetDateTime;

use super::send_log::{TRANSACTIONAL_WRITE_FACTOR, write_units};
use super::{
    Item, QUIET_HOURS_ZONE_ATTRIBUTE, SMALL_ITEM_UNITS, batch_write, count_read, count_update,
    get_n, get_s, is_update_condition_failure, key, n, s, tenant_pk,
};
use crate::aws::dynamodb::MAX_ITEMS_PER_BATCH_WRITE;
use crate::aws::errors::store_error;
use crate::campaigns::checkpoint::ChunkCheckpoint;
use crate::campaigns::report::LaunchReport;
use crate::campaigns::store::{
    CampaignRecord, CampaignState, CampaignStore, ChunkProgress, ChunkStatus, LaunchId, LaunchKey,
    ScheduleEntry,
};
use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;

const STORE: &str = "tenants table";
const SCHEDULE_PK: &str = "SCHEDULE";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        store: STORE,
        reason: reason.to_string(),
    }
}

fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        store: STORE,
        source: Box::new(error),
    }
}

fn record_key(tenant: &TenantId, campaign: &CampaignId) -> Item {
    key(tenant_pk(tenant), format!("CAMPAIGN_DEF#{campaign}"))
}

fn chunk_prefix(launch: &LaunchKey) -> String {
    format!("LAUNCH#{}#{}#CHUNK#", launch.campaign_id, launch.launch_id)
}

fn chunk_key(launch: &LaunchKey, index: u32) -> Item {
    key(
        tenant_pk(&launch.tenant_id),
        format!("{}{index:06}", chunk_prefix(launch)),
    )
}

fn schedule_sk(entry: &ScheduleEntry) -> String {
    format!(
        "{:012}#{}#{}#{}",
        entry.due.unix_timestamp().max(0),
        entry.launch.tenant_id,
        entry.launch.campaign_id,
        entry.launch.launch_id
    )
}

fn status_name(status: ChunkStatus) -> &'static str {
    match status {
        ChunkStatus::Pending => "PENDING",
        ChunkStatus::Done => "DONE",
        ChunkStatus::Failed => "FAILED",
    }
}

fn record_from_item(item: &Item) -> Result<CampaignRecord, StoreError> {
    let mut record: CampaignRecord = serde_json::from_str(get_s(item, "record", STORE)?)
        .map_err(|e| corrupt(format!("campaign record: {e}")))?;
    record.revision = get_n(item, "revision", STORE)?;
    Ok(record)
}

fn chunk_from_item(item: &Item) -> Result<ChunkProgress, StoreError> {
    let status = match get_s(item, "status", STORE)? {
        "PENDING" => ChunkStatus::Pending,
        "DONE" => ChunkStatus::Done,
        "FAILED" => ChunkStatus::Failed,
        other => return Err(corrupt(format!("unknown chunk status {other}"))),
    };
    let report = report_from_item(item, "report")?;
    let checkpoint = match report_from_item(item, "checkpoint_report")? {
        Some(report) => Some(ChunkCheckpoint {
            last_row: get_n(item, "checkpoint", STORE)?,
            report,
        }),
        None => None,
    };
    Ok(ChunkProgress {
        index: get_n(item, "index", STORE)?,
        start: get_n(item, "start", STORE)?,
        end: get_n(item, "end", STORE)?,
        status,
        attempts: get_n(item, "attempts", STORE)?,
        report,
        last_error: item.get("last_error").and_then(|v| v.as_s().ok()).cloned(),
        checkpoint,
    })
}

/// A chunk's counts kept as JSON in `attribute`, if it is there.
fn report_from_item(item: &Item, attribute: &str) -> Result<Option<LaunchReport>, StoreError> {
    let Some(value) = item.get(attribute) else {
        return Ok(None);
    };
    let json = value
        .as_s()
        .map_err(|_| corrupt(format!("attribute {attribute} is not a string")))?;
    serde_json::from_str::<LaunchReport>(json)
        .map(Some)
        .map_err(|e| corrupt(format!("chunk {attribute}: {e}")))
}

fn entry_from_item(item: &Item) -> Result<ScheduleEntry, StoreError> {
    let due = OffsetDateTime::from_unix_timestamp(get_n(item, "due", STORE)?)
        .map_err(|e| corrupt(format!("due time: {e}")))?;
    Ok(ScheduleEntry {
        due,
        launch: LaunchKey {
            tenant_id: TenantId::parse(get_s(item, "tenant_id", STORE)?).map_err(corrupt)?,
            campaign_id: CampaignId::parse(get_s(item, "campaign_id", STORE)?).map_err(corrupt)?,
            launch_id: LaunchId::parse(get_s(item, "launch_id", STORE)?).map_err(corrupt)?,
        },
    })
}

/// Whether a transaction was cancelled because its first item's condition failed.
fn condition_failed(error: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> bool {
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

#[derive(Clone)]
pub struct DynamoCampaignStore {
    client: Client,
    table: String,
}

impl DynamoCampaignStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put(
        &self,
        item: Item,
        condition: Option<(&str, Option<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expression, value)) = condition {
            put = put.condition_expression(expression);
            if let Some((name, value)) = value {
                put = put.expression_attribute_values(name, value);
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(rejected)?)
            .build())
    }

    /// The record (conditional) and its delivery status item, in one transaction.
    async fn write_record(
        &self,
        record: &CampaignRecord,
        condition: (&str, Option<(&str, AttributeValue)>),
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record).map_err(rejected)?;
        let mut item = record_key(record.tenant_id(), record.campaign_id());
        item.extend([
            ("record".into(), s(json)),
            ("revision".into(), n(record.revision)),
            ("state".into(), s(record.state.as_str())),
        ]);
        let mut status = key(
            tenant_pk(record.tenant_id()),
            format!("CAMPAIGN#{}", record.campaign_id()),
        );
        let status_value = match record.state.delivery_status() {
            crate::domain::CampaignStatus::Active => "ACTIVE",
            crate::domain::CampaignStatus::Paused => "PAUSED",
            crate::domain::CampaignStatus::Cancelled => "CANCELLED",
        };
        status.insert("status".into(), s(status_value));
        let item_for_units = item.clone();
        // Delivery reads the campaign's quiet-hours zone with its status (one read a batch).
        let zone = record.definition.quiet_hours_zone;
        if zone != crate::domain::QuietHoursZone::Retailer {
            status.insert(QUIET_HOURS_ZONE_ATTRIBUTE.into(), s(zone.as_str()));
        }
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(item, Some(condition))?)
            .transact_items(self.put(status, None)?)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        // Two items, each billed twice in a transaction (a cancelled one too, with no capacity
        // in its answer); the record is modelled at its size.
        let model = (TRANSACTIONAL_WRITE_FACTOR * (write_units(&item_for_units) + 1)) as f64;
        match result {
            Ok(output) => {
                let units: f64 = output
                    .consumed_capacity()
                    .iter()
                    .filter_map(|c| c.capacity_units())
                    .sum();
                let counted = if output.consumed_capacity().is_empty() {
                    model
                } else {
                    units
                };
                crate::costs::record_dynamodb_write(counted);
                Ok(true)
            }
            Err(error) if condition_failed(&error) => {
                crate::costs::record_dynamodb_write(model);
                Ok(false)
            }
            Err(error) => Err(store_error(STORE, error)),
        }
    }

    async fn query_all(
        &self,
        pk: String,
        prefix: String,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(STORE, e))?;
            count_read(page.consumed_capacity(), SMALL_ITEM_UNITS);
            items.extend(page.items.unwrap_or_default());
        }
        Ok(items)
    }
}

#[async_trait]
impl CampaignStore for DynamoCampaignStore {
    async fn create(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        self.write_record(record, ("attribute_not_exists(pk)", None))
            .await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(record_key(tenant, campaign)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        count_read(output.consumed_capacity(), SMALL_ITEM_UNITS);
        let Some(item) = output.item else {
            return Ok(None);
        };
        let record = record_from_item(&item)?;
        if record.tenant_id() != tenant || record.campaign_id() != campaign {
            return Err(corrupt("campaign record names another tenant or campaign"));
        }
        Ok(Some(record))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        after: Option<&CampaignId>,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, StoreError> {
        let mut records = Vec::new();
        let mut start = after.map(|after| record_key(tenant, after));
        while records.len() < limit {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s("CAMPAIGN_DEF#"))
                .set_exclusive_start_key(start.take())
                .limit((limit - records.len()).min(i32::MAX as usize) as i32)
                .send()
                .await
                .map_err(|e| store_error(STORE, e))?;
            for item in output.items() {
                records.push(record_from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        records.truncate(limit);
        Ok(records)
    }

    async fn update(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        let expected = record.revision.saturating_sub(1);
        self.write_record(
            record,
            ("revision = :expected", Some((":expected", n(expected)))),
        )
        .await
    }

    async fn delete_draft(&self, record: &CampaignRecord) -> Result<bool, StoreError> {
        let definition = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(record_key(record.tenant_id(), record.campaign_id())))
            .condition_expression("revision = :revision AND #state = :draft")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":revision", n(record.revision))
            .expression_attribute_values(":draft", s(CampaignState::Draft.as_str()))
            .build()
            .map_err(rejected)?;
        let status = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                tenant_pk(record.tenant_id()),
                format!("CAMPAIGN#{}", record.campaign_id()),
            )))
            .build()
            .map_err(rejected)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(definition).build())
            .transact_items(TransactWriteItem::builder().delete(status).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if condition_failed(&error) => Ok(false),
            Err(error) => Err(store_error(STORE, error)),
        }
    }

    async fn put_chunks(
        &self,
        launch: &LaunchKey,
        chunks: &[ChunkProgress],
    ) -> Result<(), StoreError> {
        for group in chunks.chunks(MAX_ITEMS_PER_BATCH_WRITE) {
            let mut pending: Vec<WriteRequest> = Vec::with_capacity(group.len());
            for chunk in group {
                let mut item = chunk_key(launch, chunk.index);
                item.extend([
                    ("index".into(), n(chunk.index)),
                    ("start".into(), n(chunk.start)),
                    ("end".into(), n(chunk.end)),
                    ("status".into(), s(status_name(chunk.status))),
                    ("attempts".into(), n(chunk.attempts)),
                ]);
                pending.push(
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item))
                                .build()
                                .map_err(rejected)?,
                        )
                        .build(),
                );
            }
            batch_write(&self.client, &self.table, STORE, pending).await?;
        }
        Ok(())
    }

    async fn chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
    ) -> Result<Option<ChunkProgress>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(chunk_key(launch, index)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        count_read(output.consumed_capacity(), SMALL_ITEM_UNITS);
        output.item.as_ref().map(chunk_from_item).transpose()
    }

    async fn chunks(&self, launch: &LaunchKey) -> Result<Vec<ChunkProgress>, StoreError> {
        let items = self
            .query_all(tenant_pk(&launch.tenant_id), chunk_prefix(launch), true)
            .await?;
        items.iter().map(chunk_from_item).collect()
    }

    async fn finish_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        report: &LaunchReport,
    ) -> Result<bool, StoreError> {
        let report = serde_json::to_string(report).map_err(rejected)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(chunk_key(launch, index)))
            .update_expression("SET #status = :done, report = :report")
            .condition_expression("attribute_exists(pk) AND #status <> :done")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("DONE"))
            .expression_attribute_values(":report", s(report))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        count_update(&result, SMALL_ITEM_UNITS);
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(STORE, error)),
        }
    }

    async fn checkpoint_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        checkpoint: &ChunkCheckpoint,
    ) -> Result<bool, StoreError> {
        let report = serde_json::to_string(&checkpoint.report).map_err(rejected)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(chunk_key(launch, index)))
            .update_expression("SET #checkpoint = :row, checkpoint_report = :report")
            .condition_expression(
                "#status = :pending AND \
                 (attribute_not_exists(#checkpoint) OR #checkpoint < :row)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#checkpoint", "checkpoint")
            .expression_attribute_values(":pending", s("PENDING"))
            .expression_attribute_values(":row", n(checkpoint.last_row))
            .expression_attribute_values(":report", s(report))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        count_update(&result, SMALL_ITEM_UNITS);
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(STORE, error)),
        }
    }

    async fn fail_chunk(
        &self,
        launch: &LaunchKey,
        index: u32,
        error: &str,
        permanent: bool,
    ) -> Result<(), StoreError> {
        let status = if permanent { "FAILED" } else { "PENDING" };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(chunk_key(launch, index)))
            .update_expression(
                "SET attempts = attempts + :one, last_error = :error, #status = :status",
            )
            .condition_expression("attribute_exists(pk) AND #status <> :done")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":error", s(error.chars().take(1000).collect::<String>()))
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":done", s("DONE"))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        count_update(&result, SMALL_ITEM_UNITS);
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_update_condition_failure(&error) => Ok(()),
            Err(error) => Err(store_error(STORE, error)),
        }
    }

    async fn schedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError> {
        let mut item = key(SCHEDULE_PK.into(), schedule_sk(entry));
        item.extend([
            ("due".into(), n(entry.due.unix_timestamp())),
            ("tenant_id".into(), s(entry.launch.tenant_id.as_str())),
            ("campaign_id".into(), s(entry.launch.campaign_id.as_str())),
            ("launch_id".into(), s(entry.launch.launch_id.as_str())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        Ok(())
    }

    async fn due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ScheduleEntry>, StoreError> {
        // '~' sorts after every character an id may hold, so entries due this second are in.
        let upper = format!("{:012}#~", now.unix_timestamp().max(0));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk <= :upper")
            .expression_attribute_values(":pk", s(SCHEDULE_PK))
            .expression_attribute_values(":upper", s(upper))
            .limit(limit.min(i32::MAX as usize) as i32)
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        output.items().iter().map(entry_from_item).collect()
    }

    async fn unschedule(&self, entry: &ScheduleEntry) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(SCHEDULE_PK.into(), schedule_sk(entry))))
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        Ok(())
    }
}
