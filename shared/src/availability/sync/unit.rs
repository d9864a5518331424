//! Processing one unit: stream its rows, compare each group with what is stored, write what
//! changed, report.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use async_trait::async_trait;

use super::export::Compression;
use super::report::{SyncCounts, SyncUnit, UnitReport};
use super::rows::{ModelSlots, RejectReason, RowReader};
use super::{GROUP_KEYS, STORES_PER_RECORD, ScoreSync, SyncError};
use crate::availability::{
    AvailabilityConfig, ColumnScore, ItemScores, Score, ScoreKey, ScoreStore, ScoreWrite,
    WriteOutcome,
};
use crate::domain::{ItemId, StoreId, TenantId};
use crate::error::{Retryable, StoreError, chain};
use crate::ranged_lines::{OwnedLines, RangeRead};

const EXPORT: &str = "score export";

/// One export file as the shared line reader reads it.
struct ExportObject<'a> {
    sync: &'a ScoreSync,
    key: &'a str,
}

#[async_trait]
impl RangeRead for ExportObject<'_> {
    fn label(&self) -> &'static str {
        EXPORT
    }

    async fn read_range(&self, start: u64, end_exclusive: u64) -> Result<Vec<u8>, StoreError> {
        self.sync
            .ports
            .exports
            .read_range(self.key, start, end_exclusive)
            .await
    }
}

/// Why a unit stopped early.
enum Stop {
    /// The file (reading it, or its header): reported, not retried.
    File(String),
    Sync(SyncError),
}

impl From<SyncError> for Stop {
    fn from(error: SyncError) -> Self {
        Stop::Sync(error)
    }
}

/// An error reading the file: a retry may pass a throttled or unavailable bucket, never a
/// corrupt or missing file.
fn file_error(error: StoreError) -> Stop {
    if error.is_retryable() {
        Stop::Sync(SyncError::Store(error))
    } else {
        Stop::File(chain(&error))
    }
}

/// The rows of the group being collected: up to [`GROUP_KEYS`] of them, so never more keys.
#[derive(Default)]
struct Group {
    /// Row `i`'s key is `keys[i]`: apart from the rows, so the group's read can be given the
    /// keys as they are, without copying them, when none is there twice.
    keys: Vec<ScoreKey>,
    rows: Vec<GroupRow>,
    /// Every row's values, one after the other: (slot, score).
    values: Vec<(usize, Score)>,
}

struct GroupRow {
    scored_at: time::OffsetDateTime,
    values: std::ops::Range<usize>,
}

impl Group {
    /// Whether a key is there twice (exports are usually sorted, which is checked first).
    fn has_repeated_keys(&self) -> bool {
        if self.keys.windows(2).all(|pair| pair[0] < pair[1]) {
            return false;
        }
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_unstable_by(|a, b| self.keys[*a].cmp(&self.keys[*b]));
        order
            .windows(2)
            .any(|pair| self.keys[pair[0]] == self.keys[pair[1]])
    }
}

impl ScoreSync {
    /// Processes one unit and writes its report. Only a retryable error leaves no report (the
    /// unit is retried whole); a file that cannot be read answers
    /// [`SyncError::UnreadableFile`] with the report it wrote.
    #[tracing::instrument(skip_all, fields(
        tenant_id = %unit.tenant_id, export_id = %unit.export_id, unit = unit.index,
        start = unit.start, end = unit.end,
    ))]
    pub async fn process(&self, unit: &SyncUnit) -> Result<UnitReport, SyncError> {
        let started = Instant::now();
        let config = self.config(&unit.tenant_id).await?;
        let mut counts = SyncCounts::default();
        let failure = match self.read_unit(unit, &config, &mut counts).await {
            Ok(()) => None,
            Err(Stop::File(reason)) => Some(reason),
            Err(Stop::Sync(error)) => return Err(error),
        };
        let report = UnitReport {
            tenant_id: unit.tenant_id.clone(),
            export_id: unit.export_id.clone(),
            unit: unit.index,
            key: unit.key.clone(),
            start: unit.start,
            end: unit.end,
            counts,
            duration_ms: started.elapsed().as_millis() as u64,
            finished_at: self.ports.clock.now(),
            failure,
        };
        self.ports.exports.put_unit_report(&report).await?;
        tracing::info!(read = report.counts.read, written = report.counts.written,
            rejected = report.counts.rejected.total(), failure = ?report.failure, "unit synced");
        match report.failure {
            Some(_) => Err(SyncError::UnreadableFile {
                report: Box::new(report),
            }),
            None => Ok(report),
        }
    }

    async fn read_unit(
        &self,
        unit: &SyncUnit,
        config: &AvailabilityConfig,
        counts: &mut SyncCounts,
    ) -> Result<(), Stop> {
        let object = || ExportObject {
            sync: self,
            key: &unit.key,
        };
        let exports = &self.ports.exports;
        let size = exports.object_size(&unit.key).await.map_err(file_error)?;
        let gzip = unit.compression == Compression::Gzip;
        let slots = ModelSlots::new(config);
        let mut reader = RowReader::new(unit.format, slots, self.ports.clock.now());
        let mut header_pending = unit.format == super::ExportFormat::Csv;
        if header_pending && unit.start > 0 && !gzip {
            let mut first = OwnedLines::open(object(), size, 0..1, false)
                .await
                .map_err(file_error)?;
            let header = first.next_line().await.map_err(file_error)?;
            reader
                .read_header(header.map_or(&[][..], |(_, line)| line).trim_ascii())
                .map_err(|e| Stop::File(e.to_string()))?;
            header_pending = false;
        }
        let range = unit.start..unit.end;
        let mut lines = OwnedLines::open(object(), size, range, gzip)
            .await
            .map_err(file_error)?;
        let mut run = UnitRun::new(&unit.tenant_id, self.ports.scores.as_ref(), reader);
        let mut number = 0u64;
        let result = loop {
            let (offset, line) = match lines.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) => break Ok(()),
                Err(error) => break Err(file_error(error)),
            };
            number += 1;
            let line = line.trim_ascii();
            if header_pending {
                header_pending = false;
                if let Err(bad) = run.reader.read_header(line) {
                    break Err(Stop::File(bad.to_string()));
                }
                continue;
            }
            if !line.is_empty() {
                run.row(number, offset, line, counts).await?;
            }
        };
        counts.bytes = lines.bytes_fetched();
        // What was read before a file failure is still compared and written.
        run.finish(counts).await?;
        result
    }
}

/// The state of one unit's pass over its rows.
struct UnitRun<'a> {
    tenant: &'a TenantId,
    scores: &'a dyn ScoreStore,
    reader: RowReader,
    group: Group,
    stores: HashSet<StoreId>,
}

impl<'a> UnitRun<'a> {
    fn new(tenant: &'a TenantId, scores: &'a dyn ScoreStore, reader: RowReader) -> Self {
        Self {
            tenant,
            scores,
            reader,
            group: Group::default(),
            stores: HashSet::new(),
        }
    }

    async fn row(
        &mut self,
        number: u64,
        offset: u64,
        line: &[u8],
        counts: &mut SyncCounts,
    ) -> Result<(), SyncError> {
        counts.read += 1;
        let key = match self.reader.read(line).and_then(|row| {
            let store = StoreId::parse(row.store).map_err(|_| RejectReason::BadStoreId)?;
            let item = ItemId::parse(row.item).map_err(|_| RejectReason::BadItemId)?;
            Ok((ScoreKey { store, item }, row.scored_at))
        }) {
            Ok(key) => key,
            Err(reason) => {
                counts.rejected.add(reason, number, offset, line);
                return Ok(());
            }
        };
        for reason in &self.reader.value_rejections {
            counts.rejected.add(*reason, number, offset, line);
        }
        let (key, scored_at) = key;
        if !self.stores.contains(&key.store) {
            self.stores.insert(key.store.clone());
        }
        let start = self.group.values.len();
        self.group.values.extend_from_slice(&self.reader.values);
        self.group.keys.push(key);
        self.group.rows.push(GroupRow {
            scored_at,
            values: start..self.group.values.len(),
        });
        if self.group.rows.len() >= GROUP_KEYS {
            self.flush_group(counts).await?;
        }
        if self.stores.len() >= STORES_PER_RECORD {
            self.flush_stores().await?;
        }
        Ok(())
    }

    async fn finish(&mut self, counts: &mut SyncCounts) -> Result<(), SyncError> {
        self.flush_group(counts).await?;
        self.flush_stores().await
    }

    async fn flush_stores(&mut self) -> Result<(), SyncError> {
        if self.stores.is_empty() {
            return Ok(());
        }
        let stores: Vec<StoreId> = self.stores.drain().collect();
        self.scores.record_stores(self.tenant, &stores).await?;
        Ok(())
    }

    /// Reads the group's stored items, decides each value, writes what changed.
    async fn flush_group(&mut self, counts: &mut SyncCounts) -> Result<(), SyncError> {
        if self.group.rows.is_empty() {
            return Ok(());
        }
        let mut stored = if self.group.has_repeated_keys() {
            let mut keys = self.group.keys.clone();
            keys.sort_unstable();
            keys.dedup();
            self.scores.get(self.tenant, &keys).await?
        } else {
            self.scores.get(self.tenant, &self.group.keys).await?
        };
        let writes = self.changes(&mut stored, counts);
        if !writes.is_empty() {
            let outcomes = self.scores.write(self.tenant, &writes).await?;
            for outcome in outcomes {
                match outcome {
                    WriteOutcome::Written => counts.written += 1,
                    WriteOutcome::Stale => counts.stale += 1,
                }
            }
        }
        self.group.keys.clear();
        self.group.rows.clear();
        self.group.values.clear();
        Ok(())
    }

    /// The writes the group needs. `stored` is updated with each write decided, so a key that
    /// appears twice in a group is compared with what its earlier row will have written.
    fn changes(
        &self,
        stored: &mut HashMap<ScoreKey, ItemScores>,
        counts: &mut SyncCounts,
    ) -> Vec<ScoreWrite> {
        let mut writes = Vec::new();
        for (row, key) in self.group.rows.iter().zip(&self.group.keys) {
            // One lookup per row; an item not stored yet is built here and kept at the end.
            let mut found = stored.get_mut(key);
            let mut created: Option<ItemScores> = None;
            for &(slot, score) in &self.group.values[row.values.clone()] {
                let Some(column) = self.reader.slots().synced_column(slot) else {
                    counts.not_synced += 1;
                    continue;
                };
                let item = found.as_deref().or(created.as_ref());
                match item.and_then(|item| item.get(column)) {
                    Some(c) if c.computed_at >= row.scored_at && c.score == score => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(c) if c.computed_at >= row.scored_at => {
                        counts.stale += 1;
                        continue;
                    }
                    _ => {}
                }
                let value = ColumnScore {
                    score,
                    computed_at: row.scored_at,
                };
                let item = match found.as_deref_mut() {
                    Some(item) => item,
                    None => created.get_or_insert_with(ItemScores::default),
                };
                item.columns.insert(column.clone(), value);
                writes.push(ScoreWrite {
                    key: key.clone(),
                    column: column.clone(),
                    value,
                });
            }
            if let Some(item) = created {
                stored.insert(key.clone(), item);
            }
        }
        writes
    }
}
