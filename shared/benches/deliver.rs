//! The deliver hot path in process on in-memory adapters, on one core: render (subject, HTML,
//! text) + MIME + claim + send for a realistic retail email, and the AWS calls per 1,000
//! messages the design makes. Run with `make bench` (`cargo bench -p storecast --bench deliver`).
//!
//! Figures printed, not asserted: targets live here, not in timed tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use storecast::aws::dynamodb::{claim_write_units, outcome_write_units};
use storecast::channels::mime::{EmailParts, build_email};
use storecast::clock::SystemClock;
use storecast::domain::{CampaignId, MessageId, TenantId};
use storecast::error::StoreError;
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
use storecast::pipeline::lambda_batch::InboundRecord;
use storecast::pipeline::rebatch::Rebatcher;
use storecast::pipeline::send_log::{
    BatchOutcome, ClaimResult, MessageClaim, OutcomeWrite, OutcomeWritten, SendLog,
};
use storecast::render::{CompiledTemplate, RecipientContext, RenderContext, RenderedMessage};
use storecast::testing::samples::{
    sample_event, sample_template_version, sample_workspace, seed_retailer,
};
use storecast::testing::{MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemoryStream};

mod support;

#[global_allocator]
static ALLOCATOR: support::TrackingAllocator = support::TrackingAllocator;

const TENANTS: &[&str] = &["alpine-outfitters", "harbor-books", "citrus-kitchen"];
const DOMAIN: &str = "mail.storecast.example";
/// Records per deliver invocation, as the template's BatchSize.
const RECORDS_PER_INVOCATION: usize = 10;

/// A send log that accepts every claim (the benchmark has no duplicates) and counts the write
/// units DynamoDB would bill, without keeping 100,000 claims in the process: in production they
/// live in the table, not in the function's memory.
#[derive(Default)]
struct MeteredSendLog {
    claims: AtomicU64,
    outcomes: AtomicU64,
    write_units: AtomicU64,
}

#[async_trait]
impl SendLog for MeteredSendLog {
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError> {
        self.claims.fetch_add(1, Ordering::Relaxed);
        self.write_units
            .fetch_add(claim_write_units(claim), Ordering::Relaxed);
        Ok(ClaimResult::Claimed)
    }

    async fn take_over(&self, _: &MessageClaim, _: &MessageClaim) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn write_outcome(&self, write: &OutcomeWrite<'_>) -> Result<OutcomeWritten, StoreError> {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
        self.write_units
            .fetch_add(outcome_write_units(write), Ordering::Relaxed);
        Ok(OutcomeWritten::Written)
    }

    async fn outcome(
        &self,
        _: &TenantId,
        _: &CampaignId,
        _: &storecast::domain::BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        Ok(None)
    }

    async fn message_claim(
        &self,
        _: &TenantId,
        _: &CampaignId,
        _: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        Ok(None)
    }
}

/// A provider that answers with an id of SES's shape, so outcomes are sized as in production.
struct SesShapedProvider(MemoryEmailProvider);

#[async_trait]
impl storecast::channels::email::EmailProvider for SesShapedProvider {
    async fn send(
        &self,
        email: &storecast::channels::email::OutboundEmail,
    ) -> Result<String, storecast::error::SendError> {
        let id = self.0.send(email).await?;
        Ok(format!(
            "010001933b8a8c3e-5b0b6e2c-8d0a-4b8a-9c53-{:0>12}-000000",
            &id[4..]
        ))
    }
}

struct Setup {
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MeteredSendLog>,
    provider: Arc<SesShapedProvider>,
    deliverer: Deliverer,
}

async fn setup() -> Setup {
    let directory = Arc::new(MemoryDirectory::default());
    for tenant in TENANTS {
        seed_retailer(directory.as_ref(), tenant, "winter-warmup", DOMAIN)
            .await
            .unwrap();
    }
    let send_log = Arc::new(MeteredSendLog::default());
    let provider = Arc::new(SesShapedProvider(MemoryEmailProvider::counting_only()));
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: provider.clone(),
            archive: Arc::new(MemoryArchive::default()),
            clock: Arc::new(SystemClock),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    );
    Setup {
        directory,
        send_log,
        provider,
        deliverer,
    }
}

/// Campaign events for customers `range`, rebatched into send batches exactly as in production.
async fn send_batches(
    range: std::ops::Range<u32>,
    stream: &Arc<MemoryStream>,
) -> (Vec<InboundRecord>, usize) {
    let rebatcher = Rebatcher::new(stream.clone(), Arc::new(MemoryArchive::default()));
    let records: Vec<InboundRecord> = range
        .map(|n| {
            let event = sample_event(TENANTS[n as usize % TENANTS.len()], "winter-warmup", n);
            InboundRecord {
                sequence_number: n.to_string(),
                partition_key: event.message_id.to_string(),
                data: serde_json::to_vec(&event).unwrap(),
                arrived_at: None,
            }
        })
        .collect();
    let calls_before = stream.calls().len();
    let outcome = rebatcher.rebatch(&records).await;
    assert!(outcome.failed_positions.is_empty());
    let put_calls = stream.calls().len() - calls_before;
    let batches = stream
        .take_records()
        .into_iter()
        .enumerate()
        .map(|(i, r)| InboundRecord {
            sequence_number: i.to_string(),
            partition_key: r.partition_key,
            data: r.data,
            arrived_at: None,
        })
        .collect();
    (batches, put_calls)
}

fn render_only(iterations: usize) -> (f64, usize) {
    let version = sample_template_version(TENANTS[0], 1);
    let template = CompiledTemplate::compile(&version).unwrap();
    let workspace = sample_workspace(TENANTS[0], DOMAIN);
    let events: Vec<_> = (0..100)
        .map(|n| sample_event(TENANTS[0], "c1", n))
        .collect();
    let mut rendered = RenderedMessage::default();
    let mut mime = Vec::with_capacity(64 * 1024);
    let mut html_bytes = 0;
    let started = Instant::now();
    for i in 0..iterations {
        let event = &events[i % events.len()];
        let unsubscribe = format!("https://prefs.example/u?m={}", event.message_id);
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &event.customer,
            offers: &event.offers,
            workspace: &workspace,
            campaign_id: &event.campaign_id,
            variant: &event.variant,
            message_id: &event.message_id,
            unsubscribe_url: &unsubscribe,
        });
        template.render(&context, &mut rendered).unwrap();
        mime.clear();
        build_email(
            &EmailParts {
                from_name: &workspace.display_name,
                from_address: &workspace.from_address,
                to_address: event.customer.email.as_deref().unwrap(),
                subject: &rendered.subject,
                html: &rendered.html,
                text: &rendered.text,
                message_id: event.message_id.as_str(),
                sending_domain: DOMAIN,
                unsubscribe_url: &unsubscribe,
                unsubscribe_mailto: None,
            },
            &mut mime,
        )
        .unwrap();
        html_bytes = rendered.html.len();
    }
    (
        iterations as f64 / started.elapsed().as_secs_f64(),
        html_bytes,
    )
}

fn rss_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, as
    // a quick smoke run of the same code.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let total: u32 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benchmarking { 100_000 } else { 300 });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    let (render_rate, html_bytes) = render_only(if benchmarking { 20_000 } else { 100 });
    println!("render + MIME only (subject, {html_bytes}-byte HTML, text, MIME):");
    println!(
        "  {:>10.0} messages/s on one core, {:.1} µs/message",
        render_rate,
        1e6 / render_rate
    );

    runtime.block_on(async {
        let setup = setup().await;
        let stream = Arc::new(MemoryStream::default());
        let chunk = 1_000u32;
        let mut put_calls = 0;
        let mut events = 0u64;
        let mut delivered_batches = 0u64;
        let mut elapsed = std::time::Duration::ZERO;
        let heap_before = support::live_bytes();
        support::reset_peak();
        let mut start = 0;
        while start < total {
            let end = (start + chunk).min(total);
            let (batches, calls) = send_batches(start..end, &stream).await;
            put_calls += calls;
            events += u64::from(end - start);
            delivered_batches += batches.len() as u64;
            let started = Instant::now();
            for invocation in batches.chunks(RECORDS_PER_INVOCATION) {
                let deadline = time::OffsetDateTime::now_utc() + time::Duration::minutes(15);
                let outcome = setup.deliverer.deliver(invocation, deadline).await;
                assert!(outcome.failed_positions.is_empty());
            }
            elapsed += started.elapsed();
            start = end;
        }
        let sent = setup.provider.0.sent_count();
        let rate = sent as f64 / elapsed.as_secs_f64();
        println!("deliver hot path, {sent} messages in {delivered_batches} batches (in-memory adapters, one core):");
        println!("  {rate:>10.0} messages/s, {:.1} µs/message", 1e6 / rate);
        println!(
            "  peak heap above start: {:.1} MiB; peak RSS of the whole bench: {:.1} MiB",
            (support::peak_bytes() - heap_before) as f64 / (1024.0 * 1024.0),
            rss_peak_kib().unwrap_or(0) as f64 / 1024.0
        );

        let per_thousand = |value: f64| value * 1000.0 / events as f64;
        let lookups = setup.directory.lookups() as f64;
        // BatchGetItem: the workspace, the campaign and one suppression key per address; an
        // eventually consistent read of an item under 4 KB is half a read unit.
        let read_units = (lookups * 2.0 + sent as f64) * 0.5;
        let write_units = setup.send_log.write_units.load(Ordering::Relaxed) as f64;
        println!("AWS calls per 1,000 messages:");
        println!("  Kinesis PutRecords (rebatch):      {:>8.1}", per_thousand(put_calls as f64));
        println!("  DynamoDB BatchGetItem (directory): {:>8.1}  ({:.0} read units)", per_thousand(lookups), per_thousand(read_units));
        println!("  DynamoDB GetItem (templates):      {:>8.1}  (cached per version)", 0.0);
        println!(
            "  DynamoDB PutItem:                  {:>8.1}  ({:.0} write units: {:.3} per message)",
            per_thousand((setup.send_log.claims.load(Ordering::Relaxed) + setup.send_log.outcomes.load(Ordering::Relaxed)) as f64),
            per_thousand(write_units),
            write_units / sent as f64
        );
        println!("  SES SendEmail:                     {:>8.1}", per_thousand(sent as f64));
        println!("targets: >= 10,000 messages/s on one core; peak memory < 64 MiB; <= 1.1 write units per message");
    });
}
