//! The usage counters on the delivery table: what delivery counted for a campaign's batches
//! (`crate::costs::Usage`), added with `ADD` (never rewritten), one counter item per shard.
//!
//! Keys: `pk = USAGE#<tenant>#<campaign>`, `sk = <first two hex digits of the batch id>` (as the
//! delivery counters: up to 256 items, one query page), with one number per usage counter
//! (`lambda_gb_seconds`, `dynamodb_write_units`, ...: `Usage::fields`) and `expires_at` (the
//! delivery counters' retention, kept alive by each write).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::delivery_counts::counter_shard;
use super::feedback::CAMPAIGN_COUNTER_RETENTION;
use super::send_log::DeliveryTable;
use super::{DELIVERY, corrupt, key, n, s};
use crate::costs::{Usage, UsageCounters};
use crate::domain::{BatchId, CampaignId, TenantId};
use crate::error::StoreError;

fn usage_pk(tenant: &TenantId, campaign: &CampaignId) -> String {
    format!("USAGE#{tenant}#{campaign}")
}

/// The write units of the counter update itself (a small item: one unit), counted with the
/// usage it adds.
pub const USAGE_UPDATE_WRITE_UNITS: f64 = 1.0;

#[async_trait]
impl UsageCounters for DeliveryTable {
    async fn add_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
        usage: &Usage,
    ) -> Result<(), StoreError> {
        let mut usage = *usage;
        usage.dynamodb_write_units += USAGE_UPDATE_WRITE_UNITS;
        let adds: Vec<_> = usage
            .fields()
            .into_iter()
            .filter(|(_, value)| *value > 0.0 && value.is_finite())
            .collect();
        let expression = adds
            .iter()
            .map(|(name, _)| format!("{name} :{name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let expires_at = (self.now() + CAMPAIGN_COUNTER_RETENTION).unix_timestamp();
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(
                usage_pk(tenant, campaign),
                counter_shard(batch.as_str()).to_string(),
            )))
            .update_expression(format!("ADD {expression} SET expires_at = :expires"))
            .expression_attribute_values(":expires", n(expires_at))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (name, value) in adds {
            update = update.expression_attribute_values(format!(":{name}"), n(value));
        }
        update
            .send()
            .await
            .map_err(|e| crate::aws::errors::store_error(DELIVERY, e))?;
        Ok(())
    }
}

impl DeliveryTable {
    /// A campaign's usage: its counter items summed (one query).
    pub(super) async fn read_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Usage, StoreError> {
        let mut total = Usage::default();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(usage_pk(tenant, campaign)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| crate::aws::errors::store_error(DELIVERY, e))?;
            let mut shard = Usage::default();
            for (name, _) in Usage::default().fields() {
                if let Some(value) = item.get(name).and_then(|v| v.as_n().ok()) {
                    let value = value
                        .parse()
                        .map_err(|_| corrupt(DELIVERY, format!("usage {name} is {value}")))?;
                    shard.set(name, value);
                }
            }
            total.add(&shard);
        }
        Ok(total)
    }
}
