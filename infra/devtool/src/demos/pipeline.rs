//! The demo campaign end to end on the local stack: seed retailers, put a campaign's events on
//! the stream, run both functions through their event source mappings, and report per retailer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use storecast::aws::kinesis::KinesisStream;
use storecast::config::{DeliverSettings, RebatchSettings};
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::directory::TenantAdmin;
use storecast::domain::{CampaignId, CampaignStatus, TenantId, TenantWorkspace};
use storecast::pipeline::archive::{Archive, PayloadEncoding};
use storecast::pipeline::deliver::TenantCounts;
use storecast::pipeline::publish::StreamRecord;
use storecast::pipeline::publish::{RetryPolicy, put_all};
use storecast::pipeline::rebatch::RebatchSummary;
use storecast::testing::samples::{sample_event, sample_workspace, seed_retailer};

use crate::local::esm::{Checkpoints, MappingStats, Runner};
use crate::local::pipeline::LocalPipeline;
use crate::local::pipeline::{DeliverHandler, RebatchHandler};

/// The healthy sample retailers, each with its own template variables and workspace.
pub const RETAILERS: &[&str] = &["alpine-outfitters", "harbor-books", "citrus-kitchen"];
/// A retailer whose from-address is on a domain SES never verified: its sends are refused, its
/// batches parked, and nobody else is slowed down.
pub const MISCONFIGURED_RETAILER: &str = "gadget-garage";
/// Events for a tenant nobody onboarded: dead-lettered.
pub const UNKNOWN_TENANT: &str = "ghost-store";
pub const CAMPAIGN: &str = "winter-warmup";
/// A second campaign of the first retailer, paused by its marketer before delivery.
pub const PAUSED_CAMPAIGN: &str = "flash-sale";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub size: usize,
    /// Resources are named after this stack, as `sam deploy` would name them.
    pub stack_name: String,
    /// Wipe the endpoint first (the demo does; tests sharing an endpoint do not).
    pub reset: bool,
    pub out_dir: PathBuf,
    pub template_path: PathBuf,
    /// Emails saved to disk for a look.
    pub saved_emails: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetailerRow {
    pub input: u64,
    pub counts: TenantCounts,
    pub parked: u64,
    pub dead_lettered: u64,
}

#[derive(Debug, Default)]
pub struct DemoReport {
    pub rows: BTreeMap<String, RetailerRow>,
    pub malformed_records: u64,
    pub malformed_dead_lettered: u64,
    pub redelivered_events: u64,
    pub rebatch: RebatchSummary,
    pub rebatch_stats: MappingStats,
    pub deliver_stats: MappingStats,
    pub emails_at_endpoint: usize,
    pub seconds: f64,
    pub saved: Vec<PathBuf>,
}

impl DemoReport {
    /// Every unique input message is accounted for exactly once.
    pub fn reconciliation_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut total_sent = 0;
        for (tenant, row) in &self.rows {
            let accounted = row.counts.sent
                + row.counts.suppressed
                + row.counts.failed
                + row.counts.cancelled
                + row.parked
                + row.dead_lettered;
            if accounted != row.input {
                errors.push(format!(
                    "{tenant}: {} messages in, {accounted} accounted for",
                    row.input
                ));
            }
            total_sent += row.counts.sent;
        }
        if self.malformed_dead_lettered != self.malformed_records {
            errors.push(format!(
                "{} malformed records put, {} dead-lettered",
                self.malformed_records, self.malformed_dead_lettered
            ));
        }
        if total_sent as usize != self.emails_at_endpoint {
            errors.push(format!(
                "{total_sent} counted as sent, {} accepted by the endpoint",
                self.emails_at_endpoint
            ));
        }
        if !self.rebatch_stats.sent_to_on_failure.is_empty()
            || !self.deliver_stats.sent_to_on_failure.is_empty()
        {
            errors.push("records were given up on (on-failure destination)".into());
        }
        errors
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<20} {:>7} {:>7} {:>10} {:>10} {:>7} {:>9} {:>7}",
            "retailer", "input", "sent", "duplicate", "suppressed", "parked", "dead-ltr", "failed"
        );
        for (tenant, row) in &self.rows {
            let _ = writeln!(
                out,
                "{:<20} {:>7} {:>7} {:>10} {:>10} {:>7} {:>9} {:>7}",
                tenant,
                row.input,
                row.counts.sent,
                row.counts.duplicates,
                row.counts.suppressed,
                row.parked,
                row.dead_lettered,
                row.counts.failed
            );
        }
        let _ = writeln!(
            out,
            "malformed records: {} put, {} dead-lettered by rebatch",
            self.malformed_records, self.malformed_dead_lettered
        );
        let _ = writeln!(
            out,
            "redelivered campaign events: {} (same message twice in one rebatch invocation: {}; the rest skipped as duplicates at delivery)",
            self.redelivered_events, self.rebatch.repeated_in_input
        );
        let _ = writeln!(
            out,
            "rebatch: {} invocations, {} send batches; deliver: {} invocations, {} retried",
            self.rebatch_stats.invocations,
            self.rebatch.batches,
            self.deliver_stats.invocations,
            self.deliver_stats.retried_invocations
        );
        let _ = writeln!(
            out,
            "emails accepted by the endpoint: {}; took {:.1}s",
            self.emails_at_endpoint, self.seconds
        );
        let errors = self.reconciliation_errors();
        if errors.is_empty() {
            let _ = writeln!(out, "reconciled: every input message is accounted for once");
        } else {
            for error in errors {
                let _ = writeln!(out, "NOT RECONCILED: {error}");
            }
        }
        for path in &self.saved {
            let _ = writeln!(out, "saved {}", path.display());
        }
        out
    }
}

/// Seeds the sample retailers: workspaces, their template versions, campaigns, suppressions.
pub async fn seed(pipeline: &LocalPipeline, size: usize) -> Result<()> {
    let tenants = pipeline.tenants()?;
    for retailer in RETAILERS {
        seed_retailer(&tenants, retailer, CAMPAIGN, &pipeline.sending_domain).await?;
        let tenant = TenantId::parse(*retailer)?;
        for n in suppressed_customers(size) {
            tenants
                .add(
                    &tenant,
                    &Suppression::manual(&format!("customer{n}@{retailer}.customers.example"), 0),
                )
                .await?;
        }
    }
    let first = TenantId::parse(RETAILERS[0])?;
    tenants
        .set_campaign_status(
            &first,
            &CampaignId::parse(PAUSED_CAMPAIGN)?,
            CampaignStatus::Paused,
        )
        .await?;
    seed_retailer(
        &tenants,
        MISCONFIGURED_RETAILER,
        CAMPAIGN,
        &pipeline.sending_domain,
    )
    .await?;
    let mut misconfigured = sample_workspace(MISCONFIGURED_RETAILER, &pipeline.sending_domain);
    misconfigured.from_address =
        TenantWorkspace::from_address_for(MISCONFIGURED_RETAILER, "unverified.example");
    tenants.put_workspace(&misconfigured).await?;
    Ok(())
}

fn suppressed_customers(size: usize) -> impl Iterator<Item = u32> {
    (0..size as u32).filter(|n| n % 50 == 3)
}

/// Which (tenant, campaign) customer `n` of the demo belongs to.
fn audience_member(n: usize) -> (&'static str, &'static str) {
    match n % 20 {
        0..=5 => (RETAILERS[0], CAMPAIGN),
        6 => (RETAILERS[0], PAUSED_CAMPAIGN),
        7..=11 => (RETAILERS[1], CAMPAIGN),
        12..=16 => (RETAILERS[2], CAMPAIGN),
        17 | 18 => (MISCONFIGURED_RETAILER, CAMPAIGN),
        _ => (UNKNOWN_TENANT, CAMPAIGN),
    }
}

pub async fn run(options: &DemoOptions) -> Result<DemoReport> {
    let started = std::time::Instant::now();
    let resolution = crate::local::template::Resolution {
        stack_name: options.stack_name.clone(),
        ..crate::local::template::Resolution::default()
    };
    let pipeline = LocalPipeline::connect_as(&options.template_path, &resolution).await?;
    if options.reset {
        pipeline.endpoint.reset().await?;
    }
    pipeline.provision().await?;
    seed(&pipeline, options.size).await?;

    let mut report = DemoReport::default();
    let (records, late) = campaign_records(options.size, &mut report)?;
    let events_stream = pipeline.stream("CampaignEventsStream")?;
    put_or_bail(&events_stream, &records, "the campaign's events").await?;
    run_mappings(&pipeline, &events_stream, late, &mut report).await?;
    let archive = pipeline.archive()?;
    count_parked(&archive, &mut report).await?;
    count_dead_letters(&archive, &mut report).await?;
    // Only this campaign's audience: other users of the endpoint may have sent mail too.
    let sent: Vec<_> = pipeline
        .endpoint
        .sent_emails()
        .await?
        .into_iter()
        .filter(|e| {
            e.destinations
                .iter()
                .all(|d| d.ends_with(".customers.example"))
        })
        .collect();
    report.emails_at_endpoint = sent.len();
    report.saved = save_emails(&sent, &options.out_dir, options.saved_emails)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The campaign's events for the stream, counted per retailer in the report, and the ones
/// redelivered late (put after the first round was delivered).
fn campaign_records(
    size: usize,
    report: &mut DemoReport,
) -> Result<(Vec<StreamRecord>, Vec<StreamRecord>)> {
    let mut records = Vec::with_capacity(size + size / 20 + 8);
    let mut late = Vec::new();
    for n in 0..size {
        let (tenant, campaign) = audience_member(n);
        let mut event = sample_event(tenant, campaign, n as u32);
        if n % 97 == 5 {
            event.customer.email = None;
        }
        report.rows.entry(tenant.to_string()).or_default().input += 1;
        let data = serde_json::to_vec(&event)?;
        records.push(StreamRecord {
            partition_key: event.message_id.to_string(),
            data: data.clone(),
        });
        // At-least-once: some events arrive twice, some much later.
        if n % 25 == 1 {
            records.push(StreamRecord {
                partition_key: event.message_id.to_string(),
                data,
            });
            report.redelivered_events += 1;
        }
        // ... and some arrive again after their first copy was delivered.
        if n % 23 == 7 {
            late.push(StreamRecord {
                partition_key: event.message_id.to_string(),
                data: serde_json::to_vec(&event)?,
            });
            report.redelivered_events += 1;
        }
        if n % 500 == 250 {
            records.push(StreamRecord {
                partition_key: format!("garbage-{n}"),
                data: b"{\"tenant_id\": \"alpine-outfitters\", \"oops\": ".to_vec(),
            });
            report.malformed_records += 1;
        }
    }
    Ok((records, late))
}

async fn put_or_bail(stream: &KinesisStream, records: &[StreamRecord], what: &str) -> Result<()> {
    let results = put_all(stream, records, RetryPolicy::default()).await;
    if let Some(Err(failure)) = results.into_iter().find(Result::is_err) {
        bail!("could not put {what}: {failure}");
    }
    Ok(())
}

/// Runs both functions through their mappings until the stream is drained, then again after the
/// late redeliveries are put; the report gets their stats, the rebatch summary and the
/// per-retailer counts of delivery.
async fn run_mappings(
    pipeline: &LocalPipeline,
    events_stream: &KinesisStream,
    late: Vec<StreamRecord>,
    report: &mut DemoReport,
) -> Result<()> {
    let (rebatch, deliver) = handlers(pipeline).await?;
    let runner = Runner::new(pipeline.clients.kinesis.clone());
    let rebatch_mapping = pipeline.mapping("rebatch", rebatch.clone())?;
    let deliver_mapping = pipeline.mapping("deliver", deliver.clone())?;
    let mut rebatch_checkpoints = Checkpoints::default();
    let mut deliver_checkpoints = Checkpoints::default();
    for (round, extra) in [Vec::new(), late].into_iter().enumerate() {
        if round > 0 {
            put_or_bail(events_stream, &extra, "the redelivered events").await?;
        }
        let rebatched = runner
            .drain(&rebatch_mapping, &mut rebatch_checkpoints)
            .await?;
        let delivered = runner
            .drain(&deliver_mapping, &mut deliver_checkpoints)
            .await?;
        report.rebatch_stats.add(&rebatched);
        report.deliver_stats.add(&delivered);
    }
    report.rebatch = rebatch
        .summary
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let counts = deliver
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for (tenant, tenant_counts) in counts {
        report.rows.entry(tenant).or_default().counts = tenant_counts;
    }
    Ok(())
}

/// The rebatch and deliver functions in process, with the settings the template gives them.
async fn handlers(pipeline: &LocalPipeline) -> Result<(Arc<RebatchHandler>, Arc<DeliverHandler>)> {
    let settings_env = |binary: &str| -> Result<BTreeMap<String, String>> {
        Ok(pipeline.stack.function(binary)?.environment.clone())
    };
    let sdk = pipeline.sdk_config().await;
    let rebatch = Arc::new(RebatchHandler {
        rebatcher: storecast::wiring::rebatcher(
            &RebatchSettings::from_lookup(&settings_env("rebatch")?)?,
            &sdk,
        ),
        summary: Mutex::default(),
    });
    let deliver_settings = DeliverSettings::from_lookup(&settings_env("deliver")?)?;
    let signer =
        crate::local::api::unsubscribe_signer(&deliver_settings.unsubscribe_keys_secret, &sdk)
            .await?;
    let deliver = Arc::new(DeliverHandler::new(storecast::wiring::deliverer(
        &deliver_settings,
        &sdk,
        signer,
    )));
    Ok((rebatch, deliver))
}

async fn count_parked(archive: &dyn Archive, report: &mut DemoReport) -> Result<()> {
    for tenant in report.rows.keys().cloned().collect::<Vec<_>>() {
        let parked = archive.parked(&TenantId::parse(&tenant)?, None).await?;
        // A redelivered event of a paused campaign is parked in two batches; the redrive sends
        // it once, so it counts once.
        let unique: BTreeSet<_> = parked
            .iter()
            .flat_map(|(_, p)| p.batch.recipients.iter().map(|r| r.message_id.clone()))
            .collect();
        if let Some(row) = report.rows.get_mut(&tenant) {
            row.parked = unique.len() as u64;
        }
    }
    Ok(())
}

/// Dead-lettered send batches count per retailer; any other dead letter is a malformed record.
async fn count_dead_letters(archive: &dyn Archive, report: &mut DemoReport) -> Result<()> {
    let mut dead: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for letter in archive.dead_letters().await? {
        let recipients = dead_letter_recipients(&letter.payload, letter.payload_encoding);
        match (
            letter.source.as_str(),
            letter.tenant_id.as_deref(),
            recipients,
        ) {
            ("deliver", Some(tenant), Some(ids)) => {
                dead.entry(tenant.to_string()).or_default().extend(ids);
            }
            _ => report.malformed_dead_lettered += 1,
        }
    }
    for (tenant, ids) in dead {
        report.rows.entry(tenant).or_default().dead_lettered = ids.len() as u64;
    }
    Ok(())
}

/// The message ids of a dead-lettered send batch (a redelivered event can be dead-lettered in
/// two batches; it counts once).
fn dead_letter_recipients(payload: &str, encoding: PayloadEncoding) -> Option<Vec<String>> {
    if encoding != PayloadEncoding::Utf8 {
        return None;
    }
    let batch: serde_json::Value = serde_json::from_str(payload).ok()?;
    Some(
        batch
            .get("recipients")?
            .as_array()?
            .iter()
            .filter_map(|r| r.get("message_id")?.as_str().map(str::to_string))
            .collect(),
    )
}

/// A few rendered emails of each retailer, as .eml files.
fn save_emails(
    sent: &[crate::local::SentEmail],
    out_dir: &Path,
    per_retailer: usize,
) -> Result<Vec<PathBuf>> {
    let dir = out_dir.join("emails");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut saved = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut senders = BTreeSet::new();
    for email in sent {
        let count = seen.entry(email.source.clone()).or_default();
        if *count >= per_retailer {
            continue;
        }
        *count += 1;
        senders.insert(email.source.clone());
        let name = format!(
            "{}-{}.eml",
            email.source.split('@').next().unwrap_or("unknown"),
            count
        );
        let path = dir.join(name);
        std::fs::write(&path, &email.raw).with_context(|| format!("writing {}", path.display()))?;
        saved.push(path);
    }
    Ok(saved)
}
