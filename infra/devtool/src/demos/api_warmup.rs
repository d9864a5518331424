//! The warm-up in the API demo: the `warmup` function's daily run, as its schedule makes it
//! just after midnight, sets the warm-up retailer's cap of today; after the campaigns, what the
//! platform recorded of that day is read back: the cap item and the deferred batches.

use anyhow::Result;
use storecast::aws::dynamodb::{DailyCaps, FeedbackTable};
use storecast::config::WarmupSettings;
use storecast::deliverability::counters::Day;
use storecast::deliverability::warmup::SendCap as _;
use storecast::domain::TenantId;

use crate::demos::api_report::WARMUP_RETAILER;
use crate::local::pipeline::LocalPipeline;

/// Runs the `warmup` function's daily service (settings from template.yaml's environment) and
/// answers the cap it set for the warm-up retailer.
pub async fn run_daily_warmup(
    pipeline: &LocalPipeline,
    sdk: &aws_config::SdkConfig,
) -> Result<u64> {
    let environment = pipeline.stack.function("warmup")?.environment.clone();
    let settings = WarmupSettings::from_lookup(&environment)?;
    let feedback = std::sync::Arc::new(FeedbackTable::new(
        pipeline.clients.dynamodb.clone(),
        &settings.delivery_table,
        std::sync::Arc::new(storecast::clock::SystemClock),
    ));
    let summary = storecast::wiring::warmup(&settings, sdk, feedback)
        .run_daily(time::OffsetDateTime::now_utc())
        .await?;
    anyhow::ensure!(
        summary.failures.is_empty(),
        "warm-up run: {:?}",
        summary.failures
    );
    summary
        .results
        .iter()
        .find(|r| r.tenant == WARMUP_RETAILER)
        .map(|r| r.cap)
        .ok_or_else(|| anyhow::anyhow!("the warm-up run did not decide {WARMUP_RETAILER}"))
}

/// The warm-up retailer's day, as the platform recorded it: the cap item of today, the
/// campaigns' messages still on their way, and the deferred batches waiting for the next day.
#[derive(Debug, Clone, Default)]
pub struct WarmupLine {
    pub day: String,
    pub cap: Option<u64>,
    pub used: u64,
    /// Recipients of the retailer's deferred batches in the archive.
    pub deferred: u64,
    /// Those recipients per (retry-at in RFC 3339, reason): the cap's are due at the next UTC
    /// midnight; a batch deferred for another reason (a send budget's wait) may be due sooner.
    pub deferred_until: std::collections::BTreeMap<(String, String), u64>,
    /// `GET /tenants/{t}/deliverability?days=2` as the retailer's marketer: status and body.
    pub api_report: (u16, serde_json::Value),
}

impl WarmupLine {
    /// `370 deferred to 2026-12-08T00:00:00Z (daily warm-up cap reached)`, one part per
    /// retry-at and reason.
    pub fn deferred_text(&self) -> String {
        let parts: Vec<String> = self
            .deferred_until
            .iter()
            .map(|((at, reason), n)| format!("{n} deferred to {at} ({reason})"))
            .collect();
        if parts.is_empty() {
            "0 deferred".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Reads today's cap item and the warm-up retailer's deferred batches.
pub async fn read_warmup(pipeline: &LocalPipeline) -> Result<WarmupLine> {
    let tenant = TenantId::parse(WARMUP_RETAILER)?;
    let caps = DailyCaps::new(
        pipeline.clients.dynamodb.clone(),
        &pipeline.stack.table("DeliveryTable")?.name,
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let day = Day::of_epoch(now);
    let usage = caps.usage(&tenant, &day).await?;
    let mut line = WarmupLine {
        day: day.0.clone(),
        cap: usage.and_then(|u| u.cap),
        used: usage.map_or(0, |u| u.used),
        ..WarmupLine::default()
    };
    for deferred in crate::demos::api_deferred::deferred_batches(pipeline).await? {
        let Some(batch) = &deferred.batch else {
            continue;
        };
        if batch.group.tenant_id != tenant {
            continue;
        }
        let recipients = batch.recipients.len() as u64;
        line.deferred += recipients;
        let at = time::OffsetDateTime::from_unix_timestamp(deferred.retry_at)?
            .format(&time::format_description::well_known::Rfc3339)?;
        *line
            .deferred_until
            .entry((at, deferred.reason.clone()))
            .or_default() += recipients;
    }
    Ok(line)
}
