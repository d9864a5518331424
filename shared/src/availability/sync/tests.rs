use std::io::Write as _;
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use super::export::keys;
use super::*;
use crate::availability::{
    ChangeNote, ColumnScore, MissingScore, ModelColumn, Score, ScoreKey, ScoreWrite,
};
use crate::domain::{ItemId, ModelVersion, ScoreColumn, StoreId};
use crate::testing::{
    ManualClock, MemoryConfigStore, MemoryExportStore, MemoryScoreStore, MemorySyncUnitQueue,
};

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct World {
    exports: Arc<MemoryExportStore>,
    scores: Arc<MemoryScoreStore>,
    queue: Arc<MemorySyncUnitQueue>,
    sync: ScoreSync,
    tenant: TenantId,
}

fn config() -> AvailabilityConfig {
    let model = |model: &str, column: &str, synced| ModelColumn {
        model: ModelVersion::parse(model).unwrap(),
        column: ScoreColumn::parse(column).unwrap(),
        synced,
        enabled: true,
        base_threshold: 0.5,
    };
    AvailabilityConfig {
        models: vec![
            model("avail-2026-11", "s1", true),
            model("avail-2026-12", "s2", true),
            model("avail-2026-10", "s0", false),
        ],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

async fn world() -> World {
    let exports = Arc::new(MemoryExportStore::default());
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(MemoryConfigStore::default());
    let queue = Arc::new(MemorySyncUnitQueue::default());
    let tenant = TenantId::parse("alpine").unwrap();
    let note = ChangeNote {
        author: "ops".into(),
        at: NOW,
        reason: "start".into(),
        rollback_of: None,
    };
    configs.save(&tenant, &config(), &note, None).await.unwrap();
    let sync = ScoreSync::new(SyncPorts {
        exports: exports.clone(),
        scores: scores.clone(),
        configs: configs.clone(),
        queue: queue.clone(),
        clock: Arc::new(ManualClock::new(NOW)),
    });
    World {
        exports,
        scores,
        queue,
        sync,
        tenant,
    }
}

fn json_rows(count: usize, score: f64, at: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "{{\"store_id\":\"st{}\",\"item_id\":\"it{i}\",\"scored_at\":\"{at}\",\"avail-2026-11\":{score},\"avail-2026-12\":0.5}}\n",
                i % 7
            )
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Puts the data files and, last, the manifest of one export.
fn put_export(w: &World, export: &str, format: &str, compression: &str, files: &[Vec<u8>]) {
    let export_id = ExportId::parse(export).unwrap();
    let folder = keys::export_folder(&w.tenant, &export_id);
    let mut listed = Vec::new();
    for (index, bytes) in files.iter().enumerate() {
        let key = format!("{folder}data_0_0_{index}");
        listed.push(serde_json::json!({"key": key, "size": bytes.len()}));
        w.exports.put(key, bytes.clone());
    }
    let manifest = serde_json::json!({
        "tenant_id": w.tenant, "export_id": export, "exported_at": "2026-11-30T02:00:00Z",
        "format": format, "compression": compression, "files": listed,
    });
    w.exports.put(
        keys::manifest(&w.tenant, &export_id),
        serde_json::to_vec(&manifest).unwrap(),
    );
}

async fn process_all(w: &World) -> Vec<Result<UnitReport, SyncError>> {
    let mut results = Vec::new();
    for unit in w.queue.take() {
        results.push(w.sync.process(&unit).await);
    }
    results
}

fn key(store: &str, item: &str) -> ScoreKey {
    ScoreKey {
        store: StoreId::parse(store).unwrap(),
        item: ItemId::parse(item).unwrap(),
    }
}

fn column(name: &str) -> ScoreColumn {
    ScoreColumn::parse(name).unwrap()
}

fn stored(w: &World, store: &str, item: &str, col: &str) -> Option<ColumnScore> {
    w.scores
        .item(&w.tenant, &key(store, item))
        .and_then(|item| item.get(&column(col)).copied())
}

#[tokio::test]
async fn given_a_new_export_when_planned_and_processed_then_every_synced_column_is_written_once() {
    let w = world().await;
    put_export(
        &w,
        "e1",
        "jsonl",
        "none",
        &[json_rows(250, 0.25, "2026-11-30T02:00:00Z").into_bytes()],
    );

    let plan = w.sync.plan(&w.tenant).await.unwrap();
    assert_eq!(plan.planned, vec![(ExportId::parse("e1").unwrap(), 1)]);
    let results = process_all(&w).await;

    let report = results[0].as_ref().unwrap();
    assert_eq!(report.counts.read, 250);
    assert_eq!(report.counts.written, 500, "two synced columns per row");
    assert_eq!(report.counts.rejected.total(), 0);
    let s1 = stored(&w, "st3", "it3", "s1").unwrap();
    assert_eq!(s1.score.value(), 0.25);
    assert_eq!(s1.computed_at, datetime!(2026-11-30 02:00 UTC));
    assert!(
        stored(&w, "st3", "it3", "s0").is_none(),
        "s0's model is not synced"
    );
    assert!(
        w.scores
            .store_known(&w.tenant, &StoreId::parse("st6").unwrap())
            .await
            .unwrap()
    );
    assert!(
        w.scores.keys_read() <= 250 && w.scores.get_calls() == 3,
        "groups of 100 keys"
    );
    assert_eq!(w.sync.plan(&w.tenant).await.unwrap().already_planned, 1);
    assert!(w.queue.is_empty(), "a planned export is not planned again");
}

#[tokio::test]
async fn given_a_unit_delivered_twice_then_nothing_is_written_again_and_the_summary_counts_it_once()
{
    let w = world().await;
    put_export(
        &w,
        "e1",
        "jsonl",
        "none",
        &[json_rows(120, 0.25, "2026-11-30T02:00:00Z").into_bytes()],
    );
    w.sync.plan(&w.tenant).await.unwrap();
    let unit = w.queue.take().remove(0);

    let first = w.sync.process(&unit).await.unwrap();
    let writes_after_first = w.scores.write_requests();
    let second = w.sync.process(&unit).await.unwrap();

    assert_eq!(first.counts.written, 240);
    assert_eq!(second.counts.written, 0);
    assert_eq!(second.counts.unchanged, 240);
    assert_eq!(w.scores.write_requests(), writes_after_first);
    let export = ExportId::parse("e1").unwrap();
    let summary = w.sync.summary(&w.tenant, &export).await.unwrap().unwrap();
    assert!(summary.is_complete());
    assert_eq!(summary.units_reported, 1);
    assert_eq!(
        summary.counts.read, 120,
        "the report was overwritten, not added"
    );
}

#[tokio::test]
async fn given_a_csv_file_split_in_small_units_then_each_row_is_read_once_with_the_header() {
    let w = world().await;
    let sync = ScoreSync::new(w.sync.ports.clone()).with_unit_bytes(97);
    let mut csv = String::from("store_id,item_id,scored_at,avail-2026-11\r\n");
    for i in 0..300 {
        csv.push_str(&format!("st{},it{i},1796004000,0.{i:03}\r\n", i % 5));
    }
    put_export(&w, "e1", "csv", "none", &[csv.clone().into_bytes()]);

    let plan = sync.plan(&w.tenant).await.unwrap();
    assert_eq!(plan.units_queued, csv.len().div_ceil(97));
    let mut read = 0;
    let mut written = 0;
    for unit in w.queue.take() {
        let report = sync.process(&unit).await.unwrap();
        assert_eq!(report.counts.rejected.total(), 0, "unit {}", unit.index);
        read += report.counts.read;
        written += report.counts.written;
    }
    assert_eq!((read, written), (300, 300));
    assert_eq!(
        stored(&w, "st4", "it299", "s1").unwrap().score.value(),
        0.299
    );
    let summary = sync
        .summary(&w.tenant, &ExportId::parse("e1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.counts.read, summary.counts.written), (300, 300));
    assert_eq!(summary.units_reported, summary.units_planned);
}

#[tokio::test]
async fn given_a_gzip_file_and_a_corrupt_one_then_only_the_corrupt_unit_fails_and_says_why() {
    let w = world().await;
    let good = gzip(json_rows(500, 0.5, "2026-11-30T02:00:00Z").as_bytes());
    let mut corrupt = gzip(json_rows(20_000, 0.5, "2026-11-30T02:00:00Z").as_bytes());
    corrupt.truncate(corrupt.len() / 2);
    put_export(&w, "e1", "jsonl", "gzip", &[good, corrupt]);

    let plan = w.sync.plan(&w.tenant).await.unwrap();
    assert_eq!(plan.units_queued, 2, "one unit per gzip file");
    let results = process_all(&w).await;

    assert_eq!(results[0].as_ref().unwrap().counts.written, 1000);
    let Err(error) = &results[1] else {
        panic!("the corrupt file's unit fails")
    };
    assert!(!error.is_retryable());
    let SyncError::UnreadableFile { report } = error else {
        panic!("{error}")
    };
    assert!(report.failure.as_deref().unwrap().contains("gzip"));
    assert!(
        report.counts.read > 0,
        "what was read before the damage is kept"
    );
    let summary = w
        .sync
        .summary(&w.tenant, &ExportId::parse("e1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.units_reported, 2);
    assert_eq!(summary.units_failed.len(), 1);
    assert_eq!(summary.units_failed[0].0, 1);
}

#[tokio::test]
async fn given_bad_rows_then_each_is_counted_by_reason_with_its_line_and_none_is_written() {
    let w = world().await;
    let lines = [
        r#"{"store_id":"s1","item_id":"ok","scored_at":"2026-11-30T02:00:00Z","avail-2026-11":0.5}"#,
        r#"{"store_id":"s 1","item_id":"i","scored_at":1,"avail-2026-11":0.5}"#,
        r#"{"store_id":"s1","item_id":"","scored_at":1,"avail-2026-11":0.5}"#,
        r#"not json at all"#,
        "",
        r#"{"store_id":"s1","item_id":"future","scored_at":"2026-12-01T00:00:00Z","avail-2026-11":0.5}"#,
        r#"{"store_id":"s1","item_id":"range","scored_at":1,"avail-2026-11":1.5,"avail-2026-12":0.5}"#,
        r#"{"store_id":"s1","item_id":"unknown","scored_at":1,"avail-1999":0.5}"#,
        r#"{"store_id":"s1","item_id":"text","scored_at":1,"avail-2026-11":"high"}"#,
    ];
    put_export(&w, "e1", "jsonl", "none", &[lines.join("\n").into_bytes()]);
    w.sync.plan(&w.tenant).await.unwrap();

    let report = process_all(&w).await.remove(0).unwrap();

    let counts = &report.counts.rejected.counts;
    for (reason, count) in [
        (RejectReason::BadStoreId, 1),
        (RejectReason::BadItemId, 1),
        (RejectReason::Malformed, 1),
        (RejectReason::FutureTimestamp, 1),
        (RejectReason::OutOfRange, 1),
        (RejectReason::UnknownModel, 1),
        (RejectReason::NotANumber, 1),
    ] {
        assert_eq!(counts.get(&reason), Some(&count), "{reason:?}");
    }
    assert_eq!(report.counts.read, 8, "the empty line is not a row");
    assert_eq!(report.counts.written, 2, "ok's s1 and range's s2");
    let future = &report.counts.rejected.samples[3];
    assert_eq!(
        (future.line, future.reason),
        (6, RejectReason::FutureTimestamp)
    );
    assert!(future.excerpt.contains("future"));
    assert!(stored(&w, "s1", "future", "s1").is_none());
    assert!(stored(&w, "s1", "range", "s1").is_none());
    assert_eq!(stored(&w, "s1", "range", "s2").unwrap().score.value(), 0.5);
}

#[tokio::test]
async fn given_stored_scores_then_only_newer_rows_are_written_and_older_ones_are_stale() {
    let w = world().await;
    let later = datetime!(2026-11-30 03:00 UTC);
    let write = |item: &str, score: f64, at| ScoreWrite {
        key: key("st0", item),
        column: column("s1"),
        value: ColumnScore {
            score: Score::new(score).unwrap(),
            computed_at: at,
        },
    };
    w.scores
        .write(
            &w.tenant,
            &[write("it0", 0.25, later), write("it1", 0.9, later)],
        )
        .await
        .unwrap();
    let lines = [
        r#"{"store_id":"st0","item_id":"it0","scored_at":"2026-11-30T03:00:00Z","avail-2026-11":0.25}"#,
        r#"{"store_id":"st0","item_id":"it1","scored_at":"2026-11-30T02:00:00Z","avail-2026-11":0.1}"#,
        r#"{"store_id":"st0","item_id":"it2","scored_at":"2026-11-30T02:00:00Z","avail-2026-11":0.1}"#,
        r#"{"store_id":"st0","item_id":"it2","scored_at":"2026-11-30T01:00:00Z","avail-2026-11":0.3}"#,
        r#"{"store_id":"st0","item_id":"it0","scored_at":"2026-11-30T04:00:00Z","avail-2026-11":0.25,"avail-2026-10":0.5}"#,
    ];
    put_export(&w, "e1", "jsonl", "none", &[lines.join("\n").into_bytes()]);
    w.sync.plan(&w.tenant).await.unwrap();

    let report = process_all(&w).await.remove(0).unwrap();

    assert_eq!(report.counts.unchanged, 1, "it0 as stored");
    assert_eq!(
        report.counts.stale, 2,
        "it1 older than stored, it2's second row older than its first"
    );
    assert_eq!(report.counts.written, 2, "it2, and it0 computed later");
    assert_eq!(report.counts.not_synced, 1);
    assert_eq!(stored(&w, "st0", "it1", "s1").unwrap().score.value(), 0.9);
    assert_eq!(stored(&w, "st0", "it2", "s1").unwrap().score.value(), 0.1);
    assert_eq!(
        stored(&w, "st0", "it0", "s1").unwrap().computed_at,
        datetime!(2026-11-30 04:00 UTC)
    );
}

#[tokio::test]
async fn given_a_throttled_bucket_or_an_unavailable_table_then_the_unit_is_retried_without_a_report()
 {
    let w = world().await;
    put_export(
        &w,
        "e1",
        "jsonl",
        "none",
        &[json_rows(10, 0.5, "2026-11-30T02:00:00Z").into_bytes()],
    );
    w.sync.plan(&w.tenant).await.unwrap();
    let unit = w.queue.take().remove(0);

    w.exports.throttle_reads(1);
    let throttled = w.sync.process(&unit).await.unwrap_err();
    w.scores.set_unavailable(true);
    let unavailable = w.sync.process(&unit).await.unwrap_err();
    w.scores.set_unavailable(false);

    assert!(throttled.is_retryable() && unavailable.is_retryable());
    let export = ExportId::parse("e1").unwrap();
    assert!(
        w.exports
            .unit_reports(&w.tenant, &export)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.sync.process(&unit).await.unwrap().counts.written, 20);
}

#[tokio::test]
async fn given_a_manifest_naming_another_retailers_file_then_that_export_is_refused_and_others_run()
{
    let w = world().await;
    let bad = serde_json::json!({
        "tenant_id": "alpine", "export_id": "e0", "exported_at": "2026-11-30T02:00:00Z",
        "format": "jsonl", "compression": "none",
        "files": [{"key": "availability/exports/other/e0/data", "size": 10}],
    });
    w.exports.put(
        "availability/exports/alpine/e0/manifest.json",
        serde_json::to_vec(&bad).unwrap(),
    );
    w.exports.put(
        "availability/exports/other/e0/data",
        json_rows(3, 0.5, "2026-11-30T02:00:00Z").into_bytes(),
    );
    put_export(
        &w,
        "e1",
        "jsonl",
        "none",
        &[json_rows(3, 0.5, "2026-11-30T02:00:00Z").into_bytes()],
    );

    let plan = w.sync.plan(&w.tenant).await.unwrap();

    assert_eq!(plan.refused.len(), 1);
    assert!(plan.refused[0].1.contains("not a data file of this export"));
    assert_eq!(plan.planned.len(), 1);
    let refused = w
        .sync
        .summary(&w.tenant, &ExportId::parse("e0").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(refused.refused.is_some() && refused.units_planned == 0);
    assert!(
        w.queue
            .take()
            .iter()
            .all(|u| u.key.starts_with("availability/exports/alpine/e1/"))
    );
}

#[tokio::test]
async fn given_a_queue_that_fails_then_no_run_record_is_written_and_the_next_plan_queues_again() {
    let w = world().await;
    put_export(
        &w,
        "e1",
        "jsonl",
        "none",
        &[json_rows(3, 0.5, "2026-11-30T02:00:00Z").into_bytes()],
    );
    w.queue.set_unavailable(true);
    assert!(w.sync.plan(&w.tenant).await.unwrap_err().is_retryable());
    w.queue.set_unavailable(false);
    assert_eq!(w.sync.plan(&w.tenant).await.unwrap().units_queued, 1);
}

#[tokio::test]
async fn given_a_csv_file_without_store_ids_or_a_retailer_without_configuration_then_nothing_is_written()
 {
    let w = world().await;
    put_export(
        &w,
        "e1",
        "csv",
        "none",
        &[b"item_id,scored_at,avail-2026-11\ni1,1,0.5\n".to_vec()],
    );
    w.sync.plan(&w.tenant).await.unwrap();
    let error = process_all(&w).await.remove(0).unwrap_err();
    assert!(error.to_string().contains("has no store_id"), "{error}");
    assert!(w.scores.is_empty());

    let other = TenantId::parse("unconfigured").unwrap();
    let error = w.sync.plan(&other).await.unwrap_err();
    assert!(matches!(error, SyncError::NotConfigured { .. }) && !error.is_retryable());
}
