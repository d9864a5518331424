//! The campaigns engine in process on one core: reading an export, parsing rows, consent,
//! suppression (in memory), segment rules, variant assignment, offers and event encoding, with
//! the events handed to a stream that counts and drops them. Prints customers per second and the
//! peak heap for two audience sizes (memory must be flat in the audience size). Run with
//! `cargo bench -p storecast --bench audience`; without `--bench` (as under `cargo test
//! --all-targets`) it is a quick smoke run of the same code.
//!
//! The export is synthetic and generated per byte range on demand (fixed-width rows, the
//! customer id patched into a few hundred distinct row bodies), so the benchmark itself holds
//! no audience in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use storecast::campaigns::{
    AssumeAvailable, AudienceLocation, AudienceSource, CampaignDefinition, CampaignEngine,
    DEFAULT_CHUNK_BYTES, Launch,
};
use storecast::deliverability::suppression::SuppressionList as _;
use storecast::error::{StoreError, StreamError};
use storecast::pipeline::publish::RetryPolicy;
use storecast::pipeline::publish::{EntryResult, RecordStream, StreamRecord};
use storecast::testing::MemoryDirectory;

mod support;

#[global_allocator]
static ALLOCATOR: support::TrackingAllocator = support::TrackingAllocator;

/// Every synthetic row takes exactly this many bytes, newline included.
const ROW_BYTES: usize = 1024;
/// Distinct row bodies; row `i` is body `i % BODIES` with its own customer id.
const BODIES: usize = 257;
const ID_DIGITS: usize = 10;

/// A customer export of `rows` fixed-width rows, generated for any byte range.
struct SyntheticAudience {
    rows: u64,
    bodies: Vec<Vec<u8>>,
    /// Where the id's digits are in each body: in `id` and in the email's local part.
    id_at: Vec<[usize; 2]>,
}

impl SyntheticAudience {
    fn new(rows: u64) -> Self {
        let mut bodies = Vec::with_capacity(BODIES);
        let mut id_at = Vec::with_capacity(BODIES);
        for b in 0..BODIES {
            let placeholder = "0".repeat(ID_DIGITS);
            let countries = ["DE", "AT", "CH", "FR", "NL", "IT"];
            let tiers = ["bronze", "silver", "gold"];
            let candidates: Vec<serde_json::Value> = (0..5)
                .map(|c| {
                    serde_json::json!({
                        "item_id": format!("sku-{}", (b * 7 + c) % 300),
                        "title": format!("Trail item {c}"),
                        "url": format!("https://shop.example/p/sku-{}", (b * 7 + c) % 300),
                        "price": 19.9 + c as f64 * 10.0,
                        "currency": "EUR",
                        "score": ((b * 31 + c * 17) % 100) as f64 / 100.0
                    })
                })
                .collect();
            let row = serde_json::json!({
                "id": format!("c-{placeholder}"),
                "email": format!("c-{placeholder}@example.com"),
                "consent": {"email": b % 10 != 0, "push": false},
                "attributes": {
                    "first_name": "Alex",
                    "tier": tiers[b % 3],
                    "orders": b % 9,
                    "country": countries[b % 6],
                    "last_order_at": format!("2026-{:02}-{:02}T10:00:00Z", 1 + b % 11, 1 + b % 28),
                    "address": {"city": "Berlin", "zip": "10115"}
                },
                "candidates": candidates
            })
            .to_string();
            assert!(row.len() < ROW_BYTES, "row of {} bytes", row.len());
            let mut body = row.into_bytes();
            body.resize(ROW_BYTES - 1, b' ');
            body.push(b'\n');
            let first = find(&body, placeholder.as_bytes()).unwrap();
            let second = first
                + ID_DIGITS
                + find(&body[first + ID_DIGITS..], placeholder.as_bytes()).unwrap();
            id_at.push([first, second]);
            bodies.push(body);
        }
        Self {
            rows,
            bodies,
            id_at,
        }
    }

    fn size(&self) -> u64 {
        self.rows * ROW_BYTES as u64
    }

    fn row_into(&self, index: u64, out: &mut Vec<u8>, from: usize, to: usize) {
        let b = (index % BODIES as u64) as usize;
        let mut row = [0u8; ROW_BYTES];
        row.copy_from_slice(&self.bodies[b]);
        let mut digits = index;
        for position in (0..ID_DIGITS).rev() {
            let digit = b'0' + (digits % 10) as u8;
            digits /= 10;
            for at in self.id_at[b] {
                row[at + position] = digit;
            }
        }
        out.extend_from_slice(&row[from..to]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[async_trait]
impl AudienceSource for SyntheticAudience {
    async fn object_size(&self, _: &AudienceLocation) -> Result<u64, StoreError> {
        Ok(self.size())
    }

    async fn read_range(
        &self,
        _: &AudienceLocation,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let end = end.min(self.size());
        let mut out = Vec::with_capacity((end.saturating_sub(start)) as usize);
        let mut at = start;
        while at < end {
            let index = at / ROW_BYTES as u64;
            let from = (at % ROW_BYTES as u64) as usize;
            let to = (ROW_BYTES as u64).min(end - index * ROW_BYTES as u64) as usize;
            self.row_into(index, &mut out, from, to);
            at = index * ROW_BYTES as u64 + to as u64;
        }
        Ok(out)
    }
}

/// Counts what is put and keeps nothing: in production the events live in the stream.
#[derive(Default)]
struct CountingStream {
    records: AtomicU64,
    bytes: AtomicU64,
    calls: AtomicU64,
}

#[async_trait]
impl RecordStream for CountingStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(
            records.iter().map(|r| r.size() as u64).sum(),
            Ordering::Relaxed,
        );
        Ok(vec![EntryResult::Accepted; records.len()])
    }
}

fn campaign() -> CampaignDefinition {
    serde_json::from_value(serde_json::json!({
        "tenant_id": "alpine-outfitters",
        "campaign_id": "winter-sale",
        "template": {"id": "weekly", "version": 3},
        "channel": "email",
        "audience": {
            "source": {"bucket": "exports", "key": "alpine/customers.jsonl"},
            "rules": [
                {"op": "range", "field": "orders", "min": 1},
                {"op": "in", "field": "country", "values": ["DE", "AT", "CH", "FR"]},
                {"op": "any", "rules": [
                    {"op": "recency", "field": "last_order_at", "within_days": 300},
                    {"op": "equals", "field": "tier", "value": "gold"}
                ]}
            ]
        },
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": 10.0,
        "offers": {"slots": 3}
    }))
    .unwrap()
}

struct Run {
    customers: u64,
    seconds: f64,
    events: u64,
    event_bytes: u64,
    put_calls: u64,
    peak_heap: usize,
    source_only_seconds: f64,
}

async fn run(customers: u64) -> Run {
    let source = Arc::new(SyntheticAudience::new(customers));
    let directory = Arc::new(MemoryDirectory::default());
    let tenant = storecast::domain::TenantId::parse("alpine-outfitters").unwrap();
    for i in 0..1_000u64 {
        directory
            .add(
                &tenant,
                &storecast::deliverability::suppression::Suppression::manual(
                    &format!("c-{:010}@example.com", i * 97),
                    0,
                ),
            )
            .await
            .unwrap();
    }
    let stream = Arc::new(CountingStream::default());
    let engine = CampaignEngine {
        source: source.clone(),
        suppression: directory,
        availability: Arc::new(AssumeAvailable),
        events: stream.clone(),
        contacts: Arc::new(storecast::testing::MemoryContactHistory::default()),
        retry: RetryPolicy::default(),
    };
    let launch = Launch::new(campaign(), time::macros::datetime!(2026-11-20 12:00 UTC)).unwrap();

    let location = &launch.campaign().audience.source;
    let started = Instant::now();
    let mut at = 0;
    while at < source.size() {
        let until = (at + 1024 * 1024).min(source.size());
        std::hint::black_box(source.read_range(location, at, until).await.unwrap());
        at = until;
    }
    let source_only_seconds = started.elapsed().as_secs_f64();

    let baseline = support::live_bytes();
    support::reset_peak();
    let started = Instant::now();
    let report = engine.run(&launch, DEFAULT_CHUNK_BYTES).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_heap = support::peak_bytes() - baseline;
    assert_eq!(report.rows, customers);
    assert_eq!(
        report.events_emitted,
        stream.records.load(Ordering::Relaxed)
    );
    assert!(report.events_emitted > 0 && report.held_out > 0 && report.suppressed > 0);
    Run {
        customers,
        seconds,
        events: report.events_emitted,
        event_bytes: stream.bytes.load(Ordering::Relaxed),
        put_calls: stream.calls.load(Ordering::Relaxed),
        peak_heap,
        source_only_seconds,
    }
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let sizes: &[u64] = if benchmarking {
        &[100_000, 1_000_000]
    } else {
        &[2_000, 20_000]
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    println!(
        "campaigns engine, one core: read + parse + consent + suppression + rules + assignment + offers + encoding"
    );
    let mut peaks = Vec::new();
    for &customers in sizes {
        let run = runtime.block_on(run(customers));
        let rate = run.customers as f64 / run.seconds;
        let engine_rate = run.customers as f64 / (run.seconds - run.source_only_seconds).max(1e-9);
        println!(
            "  {:>9} customers: {:>9.0} customers/s ({:.2} µs each; {:.0}/s without the synthetic export's own cost), {} events ({:.0} bytes each) in {} PutRecords calls, peak heap {:.1} MiB",
            run.customers,
            rate,
            1e6 / rate,
            engine_rate,
            run.events,
            run.event_bytes as f64 / run.events as f64,
            run.put_calls,
            run.peak_heap as f64 / (1024.0 * 1024.0),
        );
        peaks.push(run.peak_heap);
    }
    println!(
        "  peak heap ratio, largest to smallest audience: {:.2} (flat means close to 1)",
        *peaks.last().unwrap() as f64 / peaks[0] as f64
    );
}
