//! The scores table ([`ScoresTable`]) and the availability configuration's revisions on the
//! tenants table.
//!
//! Scores: one item per retailer, store and item, `pk = I#<tenant>#<store>#<item>` (a hash key
//! alone: the keys of one store spread over every partition, and a lookup is a BatchGetItem of
//! exact keys, which needs no range). Each model column is two attributes, `s_<column>` (the
//! score) and `t_<column>` (when the model computed it, epoch milliseconds). Stores a retailer
//! has: `pk = S#<tenant>#<store>`. Ids cannot hold `#`, so the two layouts never meet.
//!
//! Writes are UpdateItem, not BatchWriteItem: a batch write replaces whole items (a model's
//! write would erase every other model's column) and takes no condition (an older score would
//! overwrite a newer one). One UpdateItem sets the columns of one row of the export with the
//! condition that each column's stored time is older; only when that fails does each column
//! go alone, so a changed row costs one write request.
//!
//! Configuration: `pk = TENANT#<tenant>`, `sk = AVAILABILITY#<version, 12 digits>`, written
//! once (`attribute_not_exists`), so two changes made at once cannot both become one version.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::availability::{
    AvailabilityConfig, ChangeNote, ColumnScore, ConfigRevision, ConfigStore, ItemScores, Score,
    ScoreKey, ScoreStore, ScoreWrite, WriteOutcome,
};
use crate::aws::errors::store_error;
use crate::domain::{ItemId, ScoreColumn, StoreId, TenantId};
use crate::error::StoreError;

use super::*;

pub(super) const SCORES: &str = "scores table";
/// Conditional updates in flight at once per call: enough to hide latency, few enough that one
/// sync unit does not take a whole partition's write capacity.
pub const SCORE_WRITE_CONCURRENCY: usize = 16;
const SCORE_PREFIX: &str = "s_";
const TIME_PREFIX: &str = "t_";
const CONFIG_SK_PREFIX: &str = "AVAILABILITY#";

#[derive(Clone)]
pub struct ScoresTable {
    client: Client,
    table: String,
}

impl ScoresTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

pub(super) fn score_pk(tenant: &TenantId, key: &ScoreKey) -> String {
    format!("I#{tenant}#{}#{}", key.store, key.item)
}

fn store_pk(tenant: &TenantId, store: &StoreId) -> String {
    format!("S#{tenant}#{store}")
}

fn pk_only(pk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk))])
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000_000)
        .map_err(|e| corrupt(SCORES, format!("score time {value}: {e}")))
}

/// The key and the columns of a stored score item.
pub(super) fn decode_scores(
    tenant: &TenantId,
    item: &Item,
) -> Result<(ScoreKey, ItemScores), StoreError> {
    let pk = get_s(item, "pk", SCORES)?;
    let rest = pk
        .strip_prefix(&format!("I#{tenant}#"))
        .ok_or_else(|| corrupt(SCORES, format!("{pk} is not one of {tenant}'s items")))?;
    let (store, item_id) = rest
        .split_once('#')
        .ok_or_else(|| corrupt(SCORES, format!("{pk} has no item")))?;
    let key = ScoreKey {
        store: StoreId::parse(store).map_err(|e| corrupt(SCORES, e))?,
        item: ItemId::parse(item_id).map_err(|e| corrupt(SCORES, e))?,
    };
    let mut scores = ItemScores::default();
    for (name, value) in item {
        let Some(column) = name.strip_prefix(SCORE_PREFIX) else {
            continue;
        };
        let column = ScoreColumn::parse(column).map_err(|e| corrupt(SCORES, e))?;
        let score: f64 = value
            .as_n()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(SCORES, format!("{name} is not a number")))?;
        let at = get_n::<i64>(item, &format!("{TIME_PREFIX}{column}"), SCORES)?;
        scores.columns.insert(
            column,
            ColumnScore {
                score: Score::new(score).map_err(|e| corrupt(SCORES, e))?,
                computed_at: from_millis(at)?,
            },
        );
    }
    Ok((key, scores))
}

impl ScoresTable {
    async fn put_store(&self, tenant: &TenantId, store: &StoreId) -> Result<(), StoreError> {
        let mut item = pk_only(store_pk(tenant, store));
        item.insert("tenant_id".into(), s(tenant.as_str()));
        item.insert("store_id".into(), s(store.as_str()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(SCORES, e))?;
        Ok(())
    }

    /// One conditional UpdateItem setting `writes` (all of one item): applied only if every
    /// column's stored time is older. `Ok(false)` when a condition failed.
    async fn update(&self, tenant: &TenantId, writes: &[&ScoreWrite]) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pk_only(score_pk(tenant, &writes[0].key))));
        let mut sets = Vec::with_capacity(writes.len());
        let mut conditions = Vec::with_capacity(writes.len());
        for (i, write) in writes.iter().enumerate() {
            sets.push(format!("#s{i} = :s{i}, #t{i} = :t{i}"));
            conditions.push(format!("(attribute_not_exists(#t{i}) OR #t{i} < :t{i})"));
            request = request
                .expression_attribute_names(
                    format!("#s{i}"),
                    format!("{SCORE_PREFIX}{}", write.column),
                )
                .expression_attribute_names(
                    format!("#t{i}"),
                    format!("{TIME_PREFIX}{}", write.column),
                )
                .expression_attribute_values(format!(":s{i}"), n(write.value.score.value()))
                .expression_attribute_values(format!(":t{i}"), n(millis(write.value.computed_at)));
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(SCORES, error)),
        }
    }

    /// The outcomes of the writes of one item: together first, then alone when one was stale.
    async fn write_item(
        &self,
        tenant: &TenantId,
        writes: Vec<&ScoreWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if self.update(tenant, &writes).await? {
            return Ok(vec![WriteOutcome::Written; writes.len()]);
        }
        if writes.len() == 1 {
            return Ok(vec![WriteOutcome::Stale]);
        }
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            outcomes.push(if self.update(tenant, &[write]).await? {
                WriteOutcome::Written
            } else {
                WriteOutcome::Stale
            });
        }
        Ok(outcomes)
    }
}

#[async_trait]
impl ScoreStore for ScoresTable {
    async fn get(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
    ) -> Result<HashMap<ScoreKey, ItemScores>, StoreError> {
        let mut unique: Vec<&ScoreKey> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let requested = unique
            .into_iter()
            .map(|key| pk_only(score_pk(tenant, key)))
            .collect();
        let items = batch_get(&self.client, &self.table, SCORES, requested).await?;
        items
            .iter()
            .map(|item| decode_scores(tenant, item))
            .collect()
    }

    async fn write(
        &self,
        tenant: &TenantId,
        writes: &[ScoreWrite],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        // Writes of one item go in one request; the groups keep their first write's position.
        let mut groups: Vec<(ScoreKey, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<&ScoreKey, usize> = HashMap::new();
        for (position, write) in writes.iter().enumerate() {
            match group_of.get(&write.key) {
                Some(&g)
                    if !groups[g]
                        .1
                        .iter()
                        .any(|&p| writes[p].column == write.column) =>
                {
                    groups[g].1.push(position)
                }
                _ => {
                    group_of.insert(&write.key, groups.len());
                    groups.push((write.key.clone(), vec![position]));
                }
            }
        }
        let results: Vec<(Vec<usize>, Vec<WriteOutcome>)> = futures::stream::iter(groups)
            .map(|(_, positions)| async move {
                let members = positions.iter().map(|&p| &writes[p]).collect();
                let outcomes = self.write_item(tenant, members).await?;
                Ok::<_, StoreError>((positions, outcomes))
            })
            .buffered(SCORE_WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        let mut outcomes = vec![WriteOutcome::Stale; writes.len()];
        for (positions, group) in results {
            for (position, outcome) in positions.into_iter().zip(group) {
                outcomes[position] = outcome;
            }
        }
        Ok(outcomes)
    }

    async fn record_stores(&self, tenant: &TenantId, stores: &[StoreId]) -> Result<(), StoreError> {
        let mut unique: Vec<&StoreId> = stores.iter().collect();
        unique.sort();
        unique.dedup();
        for group in unique.chunks(SCORE_WRITE_CONCURRENCY) {
            futures::future::try_join_all(group.iter().map(|store| self.put_store(tenant, store)))
                .await?;
        }
        Ok(())
    }

    async fn store_known(&self, tenant: &TenantId, store: &StoreId) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(pk_only(store_pk(tenant, store))))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| store_error(SCORES, e))?;
        Ok(output.item.is_some())
    }
}

fn config_sk(version: u64) -> String {
    format!("{CONFIG_SK_PREFIX}{version:012}")
}

fn decode_revision(item: &Item) -> Result<ConfigRevision, StoreError> {
    serde_json::from_str(get_s(item, "revision", TENANTS)?)
        .map_err(|e| corrupt(TENANTS, format!("availability configuration: {e}")))
}

impl TenantsTable {
    async fn newest_revisions(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(CONFIG_SK_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.items().iter().map(decode_revision).collect()
    }
}

#[async_trait]
impl ConfigStore for TenantsTable {
    async fn current(&self, tenant: &TenantId) -> Result<Option<ConfigRevision>, StoreError> {
        Ok(self.newest_revisions(tenant, 1).await?.into_iter().next())
    }

    async fn revision(
        &self,
        tenant: &TenantId,
        version: u64,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant), config_sk(version))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.item.as_ref().map(decode_revision).transpose()
    }

    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.newest_revisions(tenant, limit).await
    }

    async fn save(
        &self,
        tenant: &TenantId,
        config: &AvailabilityConfig,
        change: &ChangeNote,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let version = expected.map_or(1, |v| v + 1);
        let revision = ConfigRevision {
            version,
            config: config.clone(),
            change: change.clone(),
        };
        let json = serde_json::to_string(&revision).map_err(|e| StoreError::Rejected {
            store: TENANTS,
            source: Box::new(e),
        })?;
        let mut item = key(tenant_pk(tenant), config_sk(version));
        item.insert("revision".into(), s(json));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(version)),
            Err(error) if is_condition_failure(&error) => Ok(None),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }
}

#[cfg(test)]
#[path = "availability_tests.rs"]
mod tests;
