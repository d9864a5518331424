//! Lazy refresh: the items searches show (the `items-shown` stream, one Kinesis record per
//! result page) get fresh scores from the scoring service when their stored ones are stale, so
//! what shoppers see is refreshed where it is seen, between full syncs.
//!
//! Per invocation: records are parsed (a malformed one is dead-lettered and counted, never
//! failing the batch), grouped by retailer and de-duplicated by (store, item); each retailer's
//! stored scores are read, the items with a synced column missing or older than the
//! configuration's `max_score_age_seconds` are asked of the scoring service in chunks of
//! [`SOURCE_CHUNK_KEYS`], and the answers written, conditionally (a newer value written by the
//! sync in between wins). A retailer whose work failed in a way a retry can pass has its records
//! reported: Lambda retries from the earliest of them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;

use super::config::AvailabilityConfig;
use super::ports::{ConfigStore, ScoreSource, ScoreStore};
use super::scores::{ItemScores, ScoreKey, ScoreWrite, WriteOutcome};
use crate::clock::Clock;
use crate::domain::{ITEMS_SHOWN_CONTRACT_VERSION, ItemsShown, MAX_ITEMS_SHOWN};
use crate::domain::{ScoreColumn, TenantId};
use crate::error::Retryable;
use crate::metrics::Metrics;
use crate::pipeline::archive::{Archive, DeadLetter};
use crate::pipeline::lambda_batch::{
    InboundRecord, MissingSequenceNumber, inbound_records, partial_batch_response,
};

pub const FUNCTION_NAME: &str = "score-refresh";
/// Items are asked of the scoring service this many at a time: one request stays small and
/// quick, well inside the adapter's request timeout.
pub const SOURCE_CHUNK_KEYS: usize = 100;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshSummary {
    pub records: usize,
    /// Items shown, summed over the records read.
    pub impressions: usize,
    /// Distinct (retailer, store, item) shown in the invocation.
    pub unique_items: usize,
    /// Items whose synced columns were all fresh.
    pub fresh: usize,
    /// Items the scoring service gave at least one fresh score for.
    pub refreshed: usize,
    /// Stale items the scoring service did not score.
    pub unscored: usize,
    pub written: usize,
    /// Writes answered stale: a newer value was stored in between.
    pub stale: usize,
    /// Scoring service calls that failed.
    pub source_failures: usize,
    pub malformed: usize,
    /// Records of retailers without an availability configuration: kept, not refreshed.
    pub unconfigured: usize,
    pub dead_lettered: usize,
    /// Records left for Lambda to deliver again.
    pub retried: usize,
}

impl RefreshSummary {
    /// Adds another invocation's counts (the local mapping's totals over many invocations).
    pub fn add(&mut self, other: &RefreshSummary) {
        self.records += other.records;
        self.impressions += other.impressions;
        self.unique_items += other.unique_items;
        self.fresh += other.fresh;
        self.refreshed += other.refreshed;
        self.unscored += other.unscored;
        self.written += other.written;
        self.stale += other.stale;
        self.source_failures += other.source_failures;
        self.malformed += other.malformed;
        self.unconfigured += other.unconfigured;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
    }
}

#[derive(Debug)]
pub struct RefreshOutcome {
    pub summary: RefreshSummary,
    /// Positions of records that must be delivered again.
    pub failed_positions: Vec<usize>,
}

#[derive(Clone)]
pub struct RefreshPorts {
    pub configs: Arc<dyn ConfigStore>,
    pub scores: Arc<dyn ScoreStore>,
    pub source: Arc<dyn ScoreSource>,
    pub archive: Arc<dyn Archive>,
    pub clock: Arc<dyn Clock>,
}

pub struct Refresher {
    ports: RefreshPorts,
    metrics: Metrics,
}

/// One retailer's share of the invocation.
struct TenantWork {
    tenant: TenantId,
    positions: Vec<usize>,
    keys: Vec<ScoreKey>,
    seen: HashSet<ScoreKey>,
}

/// The synced columns of one stored item that need a fresh score: missing, or computed longer
/// than `max_age_seconds` before `now`.
pub fn stale_columns<'c>(
    stored: Option<&ItemScores>,
    synced: &'c [ScoreColumn],
    now: OffsetDateTime,
    max_age_seconds: u64,
) -> Vec<&'c ScoreColumn> {
    let max_age = time::Duration::seconds(i64::try_from(max_age_seconds).unwrap_or(i64::MAX));
    synced
        .iter()
        .filter(|column| match stored.and_then(|item| item.get(column)) {
            Some(value) => now - value.computed_at > max_age,
            None => true,
        })
        .collect()
}

impl Refresher {
    pub fn new(ports: RefreshPorts) -> Self {
        Self {
            ports,
            metrics: Metrics::new(FUNCTION_NAME),
        }
    }

    /// The Lambda handler's body: decode, refresh, and answer the partial batch response.
    pub async fn handle(
        &self,
        event: KinesisEvent,
    ) -> Result<KinesisEventResponse, MissingSequenceNumber> {
        let records = inbound_records(event);
        let outcome = self.refresh(&records).await;
        tracing::info!(summary = ?outcome.summary, "refreshed");
        if let Err(error) = self.metrics.flush(&mut std::io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics");
        }
        partial_batch_response(&records, outcome.failed_positions)
    }

    pub async fn refresh(&self, records: &[InboundRecord]) -> RefreshOutcome {
        let mut summary = RefreshSummary {
            records: records.len(),
            ..RefreshSummary::default()
        };
        let mut failed_positions = Vec::new();
        let work = self
            .group(records, &mut summary, &mut failed_positions)
            .await;
        for tenant in work {
            summary.unique_items += tenant.keys.len();
            let span = tracing::info_span!("tenant", tenant_id = %tenant.tenant);
            if self
                .refresh_tenant(records, &tenant, &mut summary, &mut failed_positions)
                .instrument(span)
                .await
                .is_err()
            {
                failed_positions.extend(tenant.positions.iter().copied());
            }
        }
        failed_positions.sort_unstable();
        failed_positions.dedup();
        summary.retried = failed_positions
            .first()
            .map_or(0, |first| records.len() - first);
        RefreshOutcome {
            summary,
            failed_positions,
        }
    }

    /// The records' items by retailer, in order of first appearance, each (store, item) once.
    async fn group(
        &self,
        records: &[InboundRecord],
        summary: &mut RefreshSummary,
        failed_positions: &mut Vec<usize>,
    ) -> Vec<TenantWork> {
        let mut work: Vec<TenantWork> = Vec::new();
        let mut index: HashMap<TenantId, usize> = HashMap::new();
        for (position, record) in records.iter().enumerate() {
            let shown = match decode(&record.data) {
                Ok(shown) => shown,
                Err(reason) => {
                    summary.malformed += 1;
                    if !self.keep(record, None, &reason, summary).await {
                        failed_positions.push(position);
                    }
                    continue;
                }
            };
            summary.impressions += shown.item_ids.len();
            let at = *index.entry(shown.tenant_id.clone()).or_insert_with(|| {
                work.push(TenantWork {
                    tenant: shown.tenant_id.clone(),
                    positions: Vec::new(),
                    keys: Vec::new(),
                    seen: HashSet::new(),
                });
                work.len() - 1
            });
            let tenant = &mut work[at];
            tenant.positions.push(position);
            for item in shown.item_ids {
                let key = ScoreKey {
                    store: shown.store_id.clone(),
                    item,
                };
                if tenant.seen.insert(key.clone()) {
                    tenant.keys.push(key);
                }
            }
        }
        work
    }

    /// Refreshes one retailer's stale items. `Err` when a retry may do what failed.
    async fn refresh_tenant(
        &self,
        records: &[InboundRecord],
        work: &TenantWork,
        summary: &mut RefreshSummary,
        failed_positions: &mut Vec<usize>,
    ) -> Result<(), ()> {
        let tenant = &work.tenant;
        let config = match self.ports.configs.current(tenant).await {
            Ok(Some(revision)) => revision.config,
            Ok(None) => {
                summary.unconfigured += work.positions.len();
                let reason = "unknown tenant: no availability configuration";
                for &position in &work.positions {
                    let record = &records[position];
                    if !self.keep(record, Some(tenant), reason, summary).await {
                        failed_positions.push(position);
                    }
                }
                return Ok(());
            }
            Err(error) => return retry_if(&error, "configuration not read"),
        };
        let stored = match self.ports.scores.get(tenant, &work.keys).await {
            Ok(stored) => stored,
            Err(error) => return retry_if(&error, "stored scores not read"),
        };
        let stale = self.select_stale(&config, &work.keys, &stored);
        summary.fresh += work.keys.len() - stale.len();
        let mut result = Ok(());
        for chunk in stale.chunks(SOURCE_CHUNK_KEYS) {
            if self.refresh_chunk(tenant, chunk, summary).await.is_err() {
                // Other chunks still go on: what they write is not written again on the retry.
                result = Err(());
            }
        }
        result
    }

    /// The items with at least one stale synced column, with those columns.
    fn select_stale(
        &self,
        config: &AvailabilityConfig,
        keys: &[ScoreKey],
        stored: &HashMap<ScoreKey, ItemScores>,
    ) -> Vec<(ScoreKey, Vec<ScoreColumn>)> {
        let synced: Vec<ScoreColumn> = config.synced_columns().map(|m| m.column.clone()).collect();
        let now = self.ports.clock.now();
        keys.iter()
            .filter_map(|key| {
                let columns =
                    stale_columns(stored.get(key), &synced, now, config.max_score_age_seconds);
                (!columns.is_empty()).then(|| (key.clone(), columns.into_iter().cloned().collect()))
            })
            .collect()
    }

    async fn refresh_chunk(
        &self,
        tenant: &TenantId,
        chunk: &[(ScoreKey, Vec<ScoreColumn>)],
        summary: &mut RefreshSummary,
    ) -> Result<(), ()> {
        let keys: Vec<ScoreKey> = chunk.iter().map(|(key, _)| key.clone()).collect();
        let mut columns: Vec<ScoreColumn> = Vec::new();
        for column in chunk.iter().flat_map(|(_, columns)| columns) {
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
        let answers = match self.ports.source.fresh(tenant, &keys, &columns).await {
            Ok(answers) => answers,
            Err(error) => {
                summary.source_failures += 1;
                self.metrics.add(tenant.as_str(), "SourceFailures", 1.0);
                return retry_if(&error, "scoring service failed");
            }
        };
        let wanted: HashMap<&ScoreKey, &Vec<ScoreColumn>> =
            chunk.iter().map(|(key, columns)| (key, columns)).collect();
        // Only what was stale: a fresh column the service also scored is left as it is.
        let writes: Vec<ScoreWrite> = answers
            .into_iter()
            .filter(|w| wanted.get(&w.key).is_some_and(|c| c.contains(&w.column)))
            .collect();
        let scored: HashSet<&ScoreKey> = writes.iter().map(|w| &w.key).collect();
        summary.refreshed += scored.len();
        summary.unscored += chunk.len() - scored.len();
        if writes.is_empty() {
            return Ok(());
        }
        let outcomes = match self.ports.scores.write(tenant, &writes).await {
            Ok(outcomes) => outcomes,
            Err(error) => return retry_if(&error, "fresh scores not written"),
        };
        let written = outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Written)
            .count();
        summary.written += written;
        summary.stale += outcomes.len() - written;
        self.metrics
            .add(tenant.as_str(), "ScoresRefreshed", written as f64);
        Ok(())
    }

    /// Keeps a record that cannot be refreshed as a dead letter; `false` when even that failed
    /// (the record is then retried rather than lost).
    async fn keep(
        &self,
        record: &InboundRecord,
        tenant: Option<&TenantId>,
        reason: &str,
        summary: &mut RefreshSummary,
    ) -> bool {
        let tenant = tenant.map(TenantId::to_string);
        let letter = DeadLetter::of_payload(FUNCTION_NAME, reason, tenant.clone(), &record.data);
        match self.ports.archive.dead_letter(&letter).await {
            Ok(()) => {
                summary.dead_lettered += 1;
                let tenant = tenant.as_deref().unwrap_or("_unknown");
                self.metrics.add(tenant, "DeadLettered", 1.0);
                tracing::warn!(reason, sequence_number = %record.sequence_number, "record kept");
                true
            }
            Err(error) => {
                tracing::error!(%error, reason, "dead letter could not be kept; record will be retried");
                false
            }
        }
    }
}

/// `Err` (retry the retailer's records) when `error` is worth retrying; else logged and done.
fn retry_if(error: &(impl Retryable + std::error::Error + 'static), what: &str) -> Result<(), ()> {
    let retryable = error.is_retryable();
    tracing::warn!(error = %crate::error::chain(error), retryable, "{what}");
    if retryable { Err(()) } else { Ok(()) }
}

fn decode(data: &[u8]) -> Result<ItemsShown, String> {
    let shown: ItemsShown =
        serde_json::from_slice(data).map_err(|e| format!("malformed items-shown record: {e}"))?;
    if shown.contract_version == 0 || shown.contract_version > ITEMS_SHOWN_CONTRACT_VERSION {
        return Err(format!(
            "unsupported items-shown contract version {} (this build reads 1..={ITEMS_SHOWN_CONTRACT_VERSION})",
            shown.contract_version
        ));
    }
    if shown.item_ids.len() > MAX_ITEMS_SHOWN {
        return Err(format!(
            "{} items shown, at most {MAX_ITEMS_SHOWN} are read",
            shown.item_ids.len()
        ));
    }
    Ok(shown)
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
