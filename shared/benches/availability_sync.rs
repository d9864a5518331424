//! Availability sync and refresh, in process. Prints figures, asserts no timing.
//!
//! 1. Full sync on the in-memory score store: rows per second on one core (a current-thread
//!    runtime), for JSONL and CSV, plain and gzip: a first sync (every value written) and a
//!    re-sync of the same rows (every value compared and found unchanged: parsing and diffing
//!    alone). Target: >= 500,000 rows/s/core.
//! 2. Peak heap of a re-sync of 1x and 4x the rows (a counting allocator): flat in export size.
//! 3. An export after one where 10% of the items changed: write requests / changed values
//!    (target <= 1.1).
//! 4. Lazy refresh against full sync only (`storecast::availability::sync::simulation`):
//!    staleness searches see and write volume.
//!
//! `STORECAST_SYNC_ROWS` (default 400,000) sizes 1 and 3; `STORECAST_SIM_ITEMS` (100,000) and
//! `STORECAST_SIM_DAYS` (7) size 4.

mod support;

#[global_allocator]
static ALLOCATOR: support::TrackingAllocator = support::TrackingAllocator;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use storecast::availability::sync::export::keys;
use storecast::availability::sync::rows::{ModelSlots, RowReader};
use storecast::availability::sync::simulation::{self, Strategy, Workload};
use storecast::availability::sync::{ScoreSync, SyncCounts, SyncPorts};
use storecast::availability::{
    AvailabilityConfig, ChangeNote, ConfigStore as _, MissingScore, ModelColumn,
};
use storecast::domain::{ExportId, ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};
use storecast::testing::{
    ManualClock, MemoryConfigStore, MemoryExportStore, MemoryScoreStore, MemorySyncUnitQueue,
};
use time::macros::datetime;

const STORES: usize = 200;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> AvailabilityConfig {
    let model = |model: &str, column: &str| ModelColumn {
        model: ModelVersion::parse(model).unwrap(),
        column: ScoreColumn::parse(column).unwrap(),
        synced: true,
        enabled: true,
        base_threshold: 0.5,
    };
    AvailabilityConfig {
        models: vec![model("avail-2026-11", "s1"), model("avail-2026-12", "s2")],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 6 * 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Jsonl,
    Csv,
}

/// `rows` rows of two models; with `changed_every`, every that many-th row has new scores
/// computed an hour later.
fn export_rows(rows: usize, format: Format, changed_every: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 110);
    if format == Format::Csv {
        out.extend_from_slice(b"store_id,item_id,scored_at,avail-2026-11,avail-2026-12\n");
    }
    for i in 0..rows {
        let changed = changed_every.is_some_and(|every| i % every == 0);
        let (at, a, b) = if changed {
            ("2026-11-30T03:00:00Z", (i % 997) as f64 / 1000.0, 0.25)
        } else {
            ("2026-11-30T02:00:00Z", (i % 991) as f64 / 1000.0, 0.5)
        };
        let store = i % STORES;
        match format {
            Format::Jsonl => writeln!(
                out,
                r#"{{"store_id":"store-{store:03}","item_id":"sku-{i:08}","scored_at":"{at}","avail-2026-11":{a},"avail-2026-12":{b}}}"#
            ),
            Format::Csv => writeln!(out, "store-{store:03},sku-{i:08},{at},{a},{b}"),
        }
        .unwrap();
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

struct Harness {
    exports: Arc<MemoryExportStore>,
    scores: Arc<MemoryScoreStore>,
    queue: Arc<MemorySyncUnitQueue>,
    sync: ScoreSync,
    tenant: TenantId,
    next_export: usize,
}

async fn harness() -> Harness {
    let exports = Arc::new(MemoryExportStore::default());
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(MemoryConfigStore::default());
    let queue = Arc::new(MemorySyncUnitQueue::default());
    let tenant = TenantId::parse("alpine").unwrap();
    let now = datetime!(2026-11-30 12:00 UTC);
    let note = ChangeNote {
        author: "bench".into(),
        at: now,
        reason: "bench".into(),
        rollback_of: None,
    };
    configs.save(&tenant, &config(), &note, None).await.unwrap();
    let sync = ScoreSync::new(SyncPorts {
        exports: exports.clone(),
        scores: scores.clone(),
        configs,
        queue: queue.clone(),
        clock: Arc::new(ManualClock::new(now)),
    })
    .with_unit_bytes(1 << 40);
    Harness {
        exports,
        scores,
        queue,
        sync,
        tenant,
        next_export: 0,
    }
}

/// What one sync of an export did: its counts, the wall time of processing and the peak heap
/// above what was in use when it started (the export's bytes and the store included in that).
struct Run {
    counts: SyncCounts,
    seconds: f64,
    /// CPU seconds of the process (the runtime has one thread): the per-core cost, whatever else
    /// the machine runs meanwhile.
    cpu_seconds: f64,
    peak_heap: usize,
}

async fn sync_once(h: &mut Harness, format: Format, gzipped: bool, bytes: Vec<u8>) -> Run {
    h.next_export += 1;
    let export = ExportId::parse(format!("e{}", h.next_export)).unwrap();
    let key = format!("{}data_0_0_0", keys::export_folder(&h.tenant, &export));
    let manifest = serde_json::json!({"tenant_id": h.tenant, "export_id": export,
        "exported_at": "2026-11-30T02:10:00Z",
        "format": if format == Format::Csv { "csv" } else { "jsonl" },
        "compression": if gzipped { "gzip" } else { "none" },
        "files": [{"key": key, "size": bytes.len()}]});
    h.exports.put(key.clone(), bytes);
    h.exports.put(
        keys::manifest(&h.tenant, &export),
        serde_json::to_vec(&manifest).unwrap(),
    );
    h.sync.plan(&h.tenant).await.unwrap();
    let units = h.queue.take();
    let baseline = support::live_bytes();
    support::reset_peak();
    let started = Instant::now();
    let cpu_started = support::cpu_seconds();
    let mut counts = SyncCounts::default();
    for unit in &units {
        let report = h.sync.process(unit).await.unwrap();
        counts.read += report.counts.read;
        counts.written += report.counts.written;
        counts.unchanged += report.counts.unchanged;
        counts.stale += report.counts.stale;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = support::cpu_seconds() - cpu_started;
    let peak_heap = support::peak_bytes().saturating_sub(baseline);
    h.exports.remove(&key);
    Run {
        counts,
        seconds,
        cpu_seconds,
        peak_heap,
    }
}

fn encode(rows: usize, format: Format, gzipped: bool, changed: Option<usize>) -> Vec<u8> {
    let plain = export_rows(rows, format, changed);
    if gzipped { gzip(&plain) } else { plain }
}

fn name(format: Format, gzipped: bool) -> String {
    let format = if format == Format::Csv {
        "csv"
    } else {
        "jsonl"
    };
    format!("{format}{}", if gzipped { "+gzip" } else { "" })
}

const VARIANTS: [(Format, bool); 4] = [
    (Format::Jsonl, false),
    (Format::Csv, false),
    (Format::Jsonl, true),
    (Format::Csv, true),
];

async fn throughput(rows: usize) {
    println!("\n1. full sync, in-memory store, one core: {rows} rows of 2 models");
    println!("   rows per CPU-second (the target: >= 500,000), and per wall second");
    println!(
        "{:<11} {:>10} {:>14} {:>14} {:>14} {:>14} {:>12}",
        "export",
        "bytes",
        "first/CPU-s",
        "first/wall-s",
        "re-sync/CPU-s",
        "re-sync/wall-s",
        "re-sync heap"
    );
    for (format, gzipped) in VARIANTS {
        let mut h = harness().await;
        let bytes = encode(rows, format, gzipped, None);
        let size = bytes.len();
        let first = sync_once(&mut h, format, gzipped, bytes).await;
        assert_eq!(first.counts.written as usize, 2 * rows);
        let again = sync_once(&mut h, format, gzipped, encode(rows, format, gzipped, None)).await;
        assert_eq!(again.counts.unchanged as usize, 2 * rows);
        let per = |seconds: f64| rows as f64 / seconds.max(0.01);
        println!(
            "{:<11} {:>10} {:>14.0} {:>14.0} {:>14.0} {:>14.0} {:>9.1} MiB",
            name(format, gzipped),
            size,
            per(first.cpu_seconds),
            per(first.seconds),
            per(again.cpu_seconds),
            per(again.seconds),
            again.peak_heap as f64 / (1 << 20) as f64
        );
    }
}

/// Rows per second of the row reader alone (parsing, ids validated), no store: what the sync's
/// own hot path costs before the score store's port.
fn parse_only(rows: usize) {
    println!("\n1b. parsing alone (row reader and id validation, plain bytes in memory)");
    for format in [Format::Jsonl, Format::Csv] {
        let bytes = export_rows(rows, format, None);
        let export_format = match format {
            Format::Jsonl => storecast::availability::sync::ExportFormat::Jsonl,
            Format::Csv => storecast::availability::sync::ExportFormat::Csv,
        };
        let now = datetime!(2026-11-30 12:00 UTC);
        let mut reader = RowReader::new(export_format, ModelSlots::new(&config()), now);
        let mut lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        if format == Format::Csv {
            reader.read_header(lines.next().unwrap()).unwrap();
        }
        let started = Instant::now();
        let mut values = 0;
        for line in lines {
            let row = reader.read(line).unwrap();
            let store = StoreId::parse(row.store).unwrap();
            let item = ItemId::parse(row.item).unwrap();
            values += reader.values.len() + store.as_str().len() / 64 + item.as_str().len() / 128;
        }
        let seconds = started.elapsed().as_secs_f64();
        assert!(values >= 2 * rows);
        println!(
            "{:<11} {:>16.0} rows/s",
            name(format, false),
            rows as f64 / seconds
        );
    }
}

async fn heap_flatness(rows: usize) {
    println!("\n2. peak heap of a re-sync (unchanged rows), 1x and 4x the export");
    for (format, gzipped) in [(Format::Csv, false), (Format::Jsonl, true)] {
        let mut peaks = Vec::new();
        for factor in [1, 4] {
            let mut h = harness().await;
            let n = rows * factor;
            sync_once(&mut h, format, gzipped, encode(n, format, gzipped, None)).await;
            let again = sync_once(&mut h, format, gzipped, encode(n, format, gzipped, None)).await;
            peaks.push((n, again.peak_heap));
        }
        let line: Vec<String> = peaks
            .iter()
            .map(|(n, peak)| format!("{n} rows: {:.2} MiB", *peak as f64 / (1 << 20) as f64))
            .collect();
        println!("{:<11} {}", name(format, gzipped), line.join(", "));
    }
}

async fn write_amplification(rows: usize) {
    println!("\n3. an export after one where 10% of the items changed (both models)");
    let mut h = harness().await;
    sync_once(
        &mut h,
        Format::Csv,
        false,
        encode(rows, Format::Csv, false, None),
    )
    .await;
    let before = h.scores.write_requests();
    let run = sync_once(
        &mut h,
        Format::Csv,
        false,
        encode(rows, Format::Csv, false, Some(10)),
    )
    .await;
    let requests = h.scores.write_requests() - before;
    let changed = 2 * rows.div_ceil(10);
    println!(
        "changed values {changed}, write requests {requests}, written {}, unchanged {}: {:.3} write requests per changed value (target <= 1.1)",
        run.counts.written,
        run.counts.unchanged,
        requests as f64 / changed as f64
    );
}

fn staleness() {
    let workload = Workload {
        items: env("STORECAST_SIM_ITEMS", 100_000),
        zipf_exponent: 1.0,
        impressions_per_minute: 2_000,
        minutes: env("STORECAST_SIM_DAYS", 7) as u32 * 1440,
        seed: 2026,
    };
    let allowed_hours = 6;
    println!(
        "\n4. staleness at impression: {} items (Zipf s = {}), {} impressions a minute, {} days, allowed age {allowed_hours} h, export lag {} min",
        workload.items,
        workload.zipf_exponent,
        workload.impressions_per_minute,
        workload.minutes / 1440,
        simulation::EXPORT_LAG_MINUTES
    );
    println!(
        "{:<34} {:>9} {:>9} {:>10} {:>10} {:>12} {:>12} {:>12}",
        "strategy",
        "mean age",
        "p95 age",
        "> allowed",
        "mean err",
        "sync writes",
        "refresh wr.",
        "all writes"
    );
    let strategies = [
        ("(a) full sync every 6 h", 6, None),
        ("(a') full sync every 1 h", 1, None),
        (
            "(b) full sync daily + lazy refresh",
            24,
            Some(allowed_hours * 3600),
        ),
    ];
    let mut outcomes = Vec::new();
    for (label, hours, refresh) in strategies {
        let started = Instant::now();
        let outcome = simulation::run(
            &workload,
            Strategy {
                full_sync_every_minutes: hours * 60,
                lazy_refresh_max_age_seconds: refresh,
            },
        );
        println!(
            "{label:<34} {:>7.1} h {:>7.1} h {:>9.2}% {:>10.4} {:>12} {:>12} {:>12}   ({:.1} s)",
            outcome.mean_age_minutes() / 60.0,
            f64::from(outcome.age_quantile_minutes(0.95)) / 60.0,
            100.0 * outcome.share_older_than(allowed_hours as u32 * 60),
            outcome.mean_error,
            outcome.sync_writes,
            outcome.refresh_writes,
            outcome.writes(),
            started.elapsed().as_secs_f64()
        );
        outcomes.push(outcome);
    }
    println!(
        "write reduction of (b): {:.1}x fewer writes than (a), {:.1}x fewer than (a')",
        outcomes[0].writes() as f64 / outcomes[2].writes() as f64,
        outcomes[1].writes() as f64 / outcomes[2].writes() as f64
    );
}

fn main() {
    let rows = env("STORECAST_SYNC_ROWS", 400_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        throughput(rows).await;
        parse_only(rows);
        heap_flatness(rows / 4).await;
        write_amplification(rows).await;
    });
    staleness();
}
