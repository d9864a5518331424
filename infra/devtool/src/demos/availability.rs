//! The availability part of the API demo, for the first retailer before its campaign launches:
//! its data scientist configures two model columns in an A/B split with segment deltas; two
//! scoring exports are synced (gzip JSON lines with bad rows, then CSV with a tenth changed);
//! searches refresh stale scores from the local scoring service through the stream's mapping; a
//! service looks items up, the threshold explained; the optimizer reports on a day's feedback.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde_json::{Value, json};
use storecast::api::Role;
use storecast::availability::refresh::{RefreshSummary, Refresher};
use storecast::availability::settings::{
    DeltaOptimizerSettings, ScoreRefreshSettings, ScoreSyncSettings,
};
use storecast::availability::sync::{RunSummary, ScoreSync, SyncUnit};
use storecast::domain::{ExportId, TenantId};
use storecast::pipeline::lambda_batch::{inbound_records, partial_batch_response};
use time::OffsetDateTime;

use crate::local::esm::{Checkpoints, KinesisHandler, Runner};
use crate::local::pipeline::LocalPipeline;

/// The demo's stores and items: every audience row names one of these stores, and its offers
/// are among these items.
pub const STORES: usize = 4;
pub const ITEMS: usize = 97;
pub const FIRST_MODEL: &str = "avail-2026-10";
pub const SECOND_MODEL: &str = "avail-2026-11";

#[derive(Debug, Default, Clone)]
pub struct AvailabilityDemo {
    pub config_version: u64,
    pub first_sync: Option<RunSummary>,
    pub second_sync: Option<RunSummary>,
    /// Rows of the second export whose scores differ from the first's.
    pub second_changed_rows: u64,
    pub refresh: RefreshSummary,
    pub lookup: Vec<String>,
    /// Users (of 200) per experiment arm's column.
    pub split: Vec<(String, u64)>,
    pub optimizer: Vec<String>,
}

impl AvailabilityDemo {
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "availability configuration: version {}",
            self.config_version
        );
        for (name, run) in [("first", &self.first_sync), ("second", &self.second_sync)] {
            if let Some(run) = run {
                let c = &run.counts;
                let _ = writeln!(
                    out,
                    "score sync, {name} export {}: {} units, {} rows read, {} values unchanged, {} written, {} stale, {} rejected ({})",
                    run.export_id,
                    run.units_reported,
                    c.read,
                    c.unchanged,
                    c.written,
                    c.stale,
                    c.rejected.total(),
                    serde_json::to_string(&c.rejected.counts).unwrap_or_default()
                );
            }
        }
        let _ = writeln!(
            out,
            "  rows changed in the second export: {}",
            self.second_changed_rows
        );
        let _ = writeln!(out, "lazy refresh: {:?}", self.refresh);
        let _ = writeln!(out, "lookup at store-0 (region north):");
        for line in &self.lookup {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "A/B split of 200 users: {:?}", self.split);
        for line in &self.optimizer {
            let _ = writeln!(out, "{line}");
        }
    }

    /// What would make the demo's availability part wrong.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.first_sync, &self.second_sync) {
            (Some(first), Some(second)) => {
                if first.counts.written == 0 || first.counts.rejected.total() < 2 {
                    problems.push(format!("first sync: {:?}", first.counts));
                }
                // Two models per row: at most two values written per changed row.
                if second.counts.written == 0
                    || second.counts.written > 2 * self.second_changed_rows
                {
                    problems.push(format!(
                        "second sync wrote {} values for {} changed rows",
                        second.counts.written, self.second_changed_rows
                    ));
                }
            }
            _ => problems.push("a sync has no run summary".into()),
        }
        if self.split.len() < 2 {
            problems.push(format!(
                "the A/B split reached one arm only: {:?}",
                self.split
            ));
        }
        if self.lookup.len() < 2 {
            problems.push("the lookup answered no items".into());
        }
        if self.optimizer.is_empty() {
            problems.push("the optimizer reported nothing".into());
        }
        problems
    }
}

/// A deterministic score in [0, 1] of one item at one store for one model, with a few items
/// nearly sold out everywhere.
fn score(store: usize, item: usize, model: usize, version: usize) -> f64 {
    let h = ((store as u64 + 1) * 0x9E37_79B9)
        ^ ((item as u64 + 7) * 0x85EB_CA6B)
        ^ ((model as u64 + 3) * 0xC2B2_AE35 + version as u64 * 0x27D4_EB2F);
    let h = h.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
    ((h % 1000) as f64 / 1000.0 * 100.0).round() / 100.0
}

fn configuration() -> Value {
    json!({
        "config": {
            "models": [
                {"model": FIRST_MODEL, "column": "m202610", "base_threshold": 0.45},
                {"model": SECOND_MODEL, "column": "m202611", "base_threshold": 0.5}
            ],
            "default_column": "m202610",
            "experiment": {"key": "model-nov", "coverage": 1.0, "arms": [
                {"column": "m202610", "weight": 0.5}, {"column": "m202611", "weight": 0.5}
            ]},
            "deltas": [
                {"segment": "category", "value": "outerwear", "delta": 0.05},
                {"segment": "region", "value": "north", "delta": -0.03}
            ],
            "max_score_age_seconds": 86400,
            "optimizer": {"apply": true, "min_samples": 50}
        },
        "reason": "first models of the availability pilot, November model against October's",
        "expected_version": null
    })
}

pub async fn run(
    pipeline: &LocalPipeline,
    sdk: &aws_config::SdkConfig,
    base: &str,
    tenant: &TenantId,
) -> Result<AvailabilityDemo> {
    let mut demo = AvailabilityDemo::default();
    let scientist = crate::local::auth::mint(Role::DataScientist, Some(tenant), 3600)?;
    let http = reqwest::Client::new();
    let saved: Value = http
        .put(format!("{base}/tenants/{tenant}/availability/config"))
        .bearer_auth(&scientist)
        .json(&configuration())
        .send()
        .await?
        .error_for_status()
        .context("saving the availability configuration")?
        .json()
        .await?;
    demo.config_version = saved["version"].as_u64().unwrap_or_default();

    let env = &pipeline.stack.function("score-sync")?.environment;
    let settings = ScoreSyncSettings::from_lookup(env)?;
    let (sync, _) = storecast::wiring::score_sync(&settings, sdk);
    let now = OffsetDateTime::now_utc();
    // The first export is two days old for the last store: its scores are stale by the time a
    // search shows them.
    let first = ExportId::parse("2026-12-01T02")?;
    put_export(pipeline, &settings, tenant, &first, now, 0, true).await?;
    demo.first_sync = Some(sync_export(pipeline, &sync, &settings, tenant, &first).await?);
    let second = ExportId::parse("2026-12-01T08")?;
    demo.second_changed_rows =
        put_export(pipeline, &settings, tenant, &second, now, 1, false).await?;
    demo.second_sync = Some(sync_export(pipeline, &sync, &settings, tenant, &second).await?);

    demo.refresh = refresh(pipeline, sdk, tenant).await?;
    lookups(&http, base, tenant, &mut demo).await?;
    demo.optimizer = optimize(pipeline, sdk, &settings, tenant, now).await?;
    Ok(demo)
}

/// Writes an export (its data file, then its manifest) and answers how many of its rows differ
/// from version 0's scores.
async fn put_export(
    pipeline: &LocalPipeline,
    settings: &ScoreSyncSettings,
    tenant: &TenantId,
    export: &ExportId,
    now: OffsetDateTime,
    version: usize,
    gzip: bool,
) -> Result<u64> {
    let folder = format!("availability/exports/{tenant}/{export}");
    let mut text = String::new();
    let mut changed = 0;
    if !gzip {
        writeln!(
            text,
            "store_id,item_id,scored_at,{FIRST_MODEL},{SECOND_MODEL}"
        )?;
    }
    for store in 0..STORES {
        let age = if store == STORES - 1 {
            2 * 86_400
        } else {
            3_600
        };
        for item in 0..ITEMS {
            // A tenth of the items are scored again for the second export; the others keep
            // the time their model computed them, as the warehouse carries it forward.
            let v = if item % 10 == 3 { version } else { 0 };
            changed += u64::from(v != 0);
            let scored_at = (now - time::Duration::seconds(age - v as i64 * 600)).unix_timestamp();
            let (a, b) = (score(store, item, 0, v), score(store, item, 1, v));
            if gzip {
                writeln!(
                    text,
                    r#"{{"store_id":"store-{store}","item_id":"sku-{item}","scored_at":{scored_at},"{FIRST_MODEL}":{a},"{SECOND_MODEL}":{b}}}"#
                )?;
            } else {
                writeln!(text, "store-{store},sku-{item},{scored_at},{a},{b}")?;
            }
        }
    }
    // What a warehouse sometimes writes: a broken line, a score out of range, a future time.
    if gzip {
        writeln!(text, r#"{{"store_id":"store-0","item_id":"sku-1","#)?;
        writeln!(
            text,
            r#"{{"store_id":"store-0","item_id":"sku-2","scored_at":{},"{FIRST_MODEL}":1.7}}"#,
            now.unix_timestamp()
        )?;
    } else {
        writeln!(
            text,
            "store-1,sku-5,{},0.5,0.5",
            (now + time::Duration::days(3)).unix_timestamp()
        )?;
    }
    let (key, bytes) = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes())?;
        (format!("{folder}/data_0_0_0.json.gz"), encoder.finish()?)
    } else {
        (format!("{folder}/data_0_0_0.csv"), text.into_bytes())
    };
    let s3 = &pipeline.clients.s3;
    let size = bytes.len();
    s3.put_object()
        .bucket(&settings.exports_bucket)
        .key(&key)
        .body(bytes.into())
        .send()
        .await
        .context("writing the scoring export")?;
    put_manifest(pipeline, settings, tenant, export, now, gzip, key, size).await?;
    Ok(changed)
}

/// The manifest, written last: its presence says the export is complete.
#[allow(clippy::too_many_arguments)]
async fn put_manifest(
    pipeline: &LocalPipeline,
    settings: &ScoreSyncSettings,
    tenant: &TenantId,
    export: &ExportId,
    now: OffsetDateTime,
    gzip: bool,
    key: String,
    size: usize,
) -> Result<()> {
    let manifest = json!({
        "tenant_id": tenant, "export_id": export,
        "exported_at": now.format(&time::format_description::well_known::Rfc3339)?,
        "format": if gzip { "jsonl" } else { "csv" },
        "compression": if gzip { "gzip" } else { "none" },
        "files": [{"key": key, "size": size}]
    });
    pipeline
        .clients
        .s3
        .put_object()
        .bucket(&settings.exports_bucket)
        .key(format!(
            "availability/exports/{tenant}/{export}/manifest.json"
        ))
        .body(serde_json::to_vec(&manifest)?.into())
        .send()
        .await?;
    Ok(())
}

/// The schedule's plan, then every queued unit as the queue's mapping would hand them over.
async fn sync_export(
    pipeline: &LocalPipeline,
    sync: &ScoreSync,
    settings: &ScoreSyncSettings,
    tenant: &TenantId,
    export: &ExportId,
) -> Result<RunSummary> {
    sync.plan(tenant).await?;
    let sqs = &pipeline.clients.sqs;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(10)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let unit: SyncUnit = serde_json::from_str(message.body().unwrap_or_default())?;
            sync.process(&unit).await?;
            sqs.delete_message()
                .queue_url(&settings.queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
    }
    sync.summary(tenant, export)
        .await?
        .context("the export has no run record after its plan")
}

/// The function's handler, adding up what each invocation refreshed.
struct RefreshHandler {
    refresher: Refresher,
    totals: std::sync::Mutex<RefreshSummary>,
}

#[async_trait::async_trait]
impl KinesisHandler for RefreshHandler {
    async fn invoke(
        &self,
        event: KinesisEvent,
        _deadline: OffsetDateTime,
    ) -> Result<KinesisEventResponse> {
        let records = inbound_records(event);
        let outcome = self.refresher.refresh(&records).await;
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&outcome.summary);
        Ok(partial_batch_response(&records, outcome.failed_positions)?)
    }
}

/// Searches show every item of two stores (one fresh, one stale), each item a few times.
async fn refresh(
    pipeline: &LocalPipeline,
    sdk: &aws_config::SdkConfig,
    tenant: &TenantId,
) -> Result<RefreshSummary> {
    let (address, scoring) =
        crate::local::scoring::serve_scoring(([127, 0, 0, 1], 0).into()).await?;
    let function = pipeline.stack.function("score-refresh")?;
    let mut env = function.environment.clone();
    env.insert("SCORING_SERVICE_URL".into(), format!("http://{address}"));
    let refresher =
        storecast::wiring::score_refresh(&ScoreRefreshSettings::from_lookup(&env)?, sdk)?;
    let stream = &pipeline
        .stack
        .stream(&function.mappings[0].stream_logical_id)?
        .name;
    let now = OffsetDateTime::now_utc();
    for round in 0..3 {
        for store in [0, STORES - 1] {
            let shown = json!({
                "contract_version": 1, "tenant_id": tenant, "store_id": format!("store-{store}"),
                "item_ids": (0..ITEMS).filter(|i| i % 3 == round).map(|i| format!("sku-{i}")).collect::<Vec<_>>(),
                "shown_at": now.format(&time::format_description::well_known::Rfc3339)?
            });
            pipeline
                .clients
                .kinesis
                .put_record()
                .stream_name(stream)
                .partition_key(format!("{tenant}-{store}"))
                .data(serde_json::to_vec(&shown)?.into())
                .send()
                .await?;
        }
    }
    let handler = Arc::new(RefreshHandler {
        refresher,
        totals: Default::default(),
    });
    let mapping = pipeline.mapping("score-refresh", handler.clone())?;
    Runner::new(pipeline.clients.kinesis.clone())
        .drain(&mapping, &mut Checkpoints::default())
        .await?;
    scoring.abort();
    let totals = handler
        .totals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(totals)
}

async fn lookups(
    http: &reqwest::Client,
    base: &str,
    tenant: &TenantId,
    demo: &mut AvailabilityDemo,
) -> Result<()> {
    let service = crate::local::auth::mint(Role::Service, Some(tenant), 3600)?;
    let ask = |user: String, items: Vec<Value>| {
        http.post(format!("{base}/tenants/{tenant}/availability"))
            .bearer_auth(&service)
            .json(
                &json!({"store_id": "store-0", "region": "north", "user_id": user, "items": items}),
            )
            .send()
    };
    let items = vec![
        json!({"item_id": "sku-3", "category": "outerwear"}),
        json!({"item_id": "sku-4"}),
        json!({"item_id": "sku-5", "category": "boots"}),
        json!({"item_id": "sku-999"}),
    ];
    let answer: Value = ask(format!("{tenant}-1"), items)
        .await?
        .error_for_status()?
        .json()
        .await?;
    demo.lookup = explain(&answer);
    let mut arms = std::collections::BTreeMap::<String, u64>::new();
    for user in 0..200 {
        let answer: Value = ask(
            format!("{tenant}-{user}"),
            vec![json!({"item_id": "sku-1"})],
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        let column = answer["items"][0]["column"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *arms.entry(column).or_default() += 1;
    }
    demo.split = arms.into_iter().collect();
    Ok(())
}

/// One line per item of a lookup's answer: score, threshold and the deltas that made it.
fn explain(answer: &Value) -> Vec<String> {
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(first) = items.first() {
        lines.push(format!(
            "model {} (column {}, arm {}), base threshold {}",
            first["model"].as_str().unwrap_or("?"),
            first["column"].as_str().unwrap_or("?"),
            first["arm"],
            first["base_threshold"]
        ));
    }
    for item in &items {
        let deltas: Vec<String> = item["deltas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{}={} {:+}",
                    d["segment"].as_str().unwrap_or("?"),
                    d["value"].as_str().unwrap_or("?"),
                    d["delta"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        lines.push(format!(
            "{:<8} score {:<5} threshold {:<6.3} {:<13} deltas [{}]{}",
            item["item_id"].as_str().unwrap_or("?"),
            item["score"].to_string(),
            item["threshold"].as_f64().unwrap_or(f64::NAN),
            if item["available"] == true {
                "available"
            } else {
                "not available"
            },
            deltas.join(", "),
            if item["missing_score"] == true {
                " (no score: the default)"
            } else {
                ""
            }
        ));
    }
    lines
}

/// Yesterday's order lines, where outerwear is found less often than scored and the north more
/// often, then the optimizer's run over them.
async fn optimize(
    pipeline: &LocalPipeline,
    sdk: &aws_config::SdkConfig,
    sync: &ScoreSyncSettings,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<Vec<String>> {
    let env = &pipeline.stack.function("delta-optimizer")?.environment;
    let optimizer =
        storecast::wiring::delta_optimizer(&DeltaOptimizerSettings::from_lookup(env)?, sdk);
    let yesterday = (now - time::Duration::days(1)).date();
    let mut lines = String::new();
    for i in 0..2_000usize {
        let (category, region) = (
            ["outerwear", "boots", "tents"][i % 3],
            ["north", "south"][i % 2],
        );
        let shown = score(i % STORES, i % ITEMS, 0, 0).clamp(0.2, 0.9);
        let bias = match (category, region) {
            ("outerwear", _) => -0.15,
            (_, "north") => 0.05,
            _ => 0.0,
        };
        let found = ((i * 7919) % 1000) as f64 / 1000.0 < shown + bias;
        writeln!(
            lines,
            r#"{{"store_id":"store-{}","item_id":"sku-{}","category":"{category}","region":"{region}","user_bucket":"b{}","score":{shown},"found":{found}}}"#,
            i % STORES,
            i % ITEMS,
            i % 10
        )?;
    }
    pipeline
        .clients
        .s3
        .put_object()
        .bucket(&sync.exports_bucket)
        .key(format!(
            "{}orders.jsonl",
            storecast::availability::optimizer::keys::feedback_prefix(tenant, yesterday)
        ))
        .body(lines.into_bytes().into())
        .send()
        .await?;
    let report = optimizer.run(tenant, yesterday).await?;
    let mut out = vec![format!(
        "optimizer, {}: {} rows used, {} refused, outcome {}",
        report.day,
        report.rows_used,
        report.refused.total(),
        report.outcome.as_str()
    )];
    for segment in report.segments.iter().filter(|s| s.samples >= 200) {
        out.push(format!(
            "  {:<12} {:<10} samples {:>5} bias {:>+.3} delta {:>+.3} -> {:>+.3} {}",
            segment.segment.as_str(),
            segment.value,
            segment.samples,
            segment.bias,
            segment.old_delta,
            segment.new_delta,
            if segment.applied { "applied" } else { "" }
        ));
    }
    ensure!(!report.segments.is_empty(), "the optimizer saw no segment");
    Ok(out)
}
