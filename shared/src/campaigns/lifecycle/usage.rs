//! What a launch chunk used, added to its campaign's usage (docs/operations.md, "Cost per send"):
//! the chunk's time in the launch function at its memory and its share of the invocation, the
//! DynamoDB units its calls consumed (the adapters' `ConsumedCapacity`, metered per chunk: the
//! campaign record and chunk progress, the suppression check, the contact history, the stock
//! filter's scores) and the Kinesis PUT units of the campaign events the stream accepted. A chunk
//! is one tenant's campaign, so the usage is that campaign's. The scheduler counts the PUT units
//! of the deferred batches it puts back, each for its batch's campaign.

use std::sync::Arc;
use std::time::Instant;

use crate::campaigns::queue::ChunkMessage;
use crate::costs::{USAGE_NOT_COUNTED, Usage, UsageCounters, metered, within_usage_timeout};
use std::collections::BTreeMap;

use crate::domain::{BatchId, CampaignId, TenantId};

use super::launch_worker::NO_SUCH_CAMPAIGN;
use super::{CampaignError, Campaigns, ChunkOutcome};

/// The launch function's name in its metrics.
pub(super) const FUNCTION_NAME: &str = "launch";
/// The scheduler function's name in its metrics.
const SCHEDULER_FUNCTION_NAME: &str = "scheduler";

/// The launch function's `MemorySize` in template.yaml: its GB-seconds outside Lambda.
pub const LAUNCH_MEMORY_MB: u32 = 1024;

impl Campaigns {
    /// Adds the usage of every launch chunk to its campaign's (`UsageCounters`).
    pub fn with_usage(mut self, usage: Arc<dyn UsageCounters>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Runs the chunk, then adds what it used to its campaign's usage (a chunk of a campaign that
    /// is not there counts nothing). A usage write that fails is logged and counted
    /// (`UsageNotCounted`), never failing the chunk.
    pub(super) async fn run_chunk_counting_usage(
        &self,
        message: &ChunkMessage,
        receive_count: u32,
        messages_in_invocation: usize,
    ) -> Result<ChunkOutcome, CampaignError> {
        let started = Instant::now();
        let (outcome, units) = metered(self.run_chunk(message, receive_count)).await;
        let Some(counters) = &self.usage else {
            return outcome;
        };
        if matches!(outcome, Ok(ChunkOutcome::Skipped(reason)) if reason == NO_SUCH_CAMPAIGN) {
            // Nothing to count it for (and no counter item for a campaign that is not there).
            return outcome;
        }
        let usage = Usage {
            lambda_gb_seconds: Usage::gb_seconds(self.config.lambda_memory_mb, started.elapsed()),
            lambda_requests: 1.0 / messages_in_invocation.max(1) as f64,
            dynamodb_read_units: units.read,
            dynamodb_write_units: units.write,
            kinesis_put_units: units.kinesis_put,
            ..Usage::default()
        };
        let key = &message.launch;
        let shard = chunk_usage_shard(message);
        let add = counters.add_usage(&key.tenant_id, &key.campaign_id, &shard, &usage);
        if let Err(error) = within_usage_timeout(add).await {
            // Only the cost figure is short: the chunk's events are unaffected.
            tracing::warn!(%error, "launch chunk usage could not be counted");
            self.metrics
                .add(key.tenant_id.as_str(), USAGE_NOT_COUNTED, 1.0);
        }
        outcome
    }

    /// Adds the PUT units of the deferred batches put back on the stream to their campaigns'
    /// usage (one update per campaign, sharded by its first batch). A write that fails is
    /// logged and counted, never failing the redrive.
    pub(super) async fn count_put_back(&self, put_back: &[(TenantId, CampaignId, BatchId, u64)]) {
        let Some(counters) = &self.usage else {
            return;
        };
        let mut per_campaign: BTreeMap<(&TenantId, &CampaignId), (&BatchId, u64)> = BTreeMap::new();
        for (tenant, campaign, batch, units) in put_back {
            per_campaign
                .entry((tenant, campaign))
                .or_insert((batch, 0))
                .1 += units;
        }
        // The scheduler's own metrics (the campaigns' are the launch function's).
        let metrics = crate::metrics::Metrics::new(SCHEDULER_FUNCTION_NAME);
        for ((tenant, campaign), (batch, units)) in per_campaign {
            let usage = Usage {
                kinesis_put_units: units as f64,
                ..Usage::default()
            };
            if let Err(error) =
                within_usage_timeout(counters.add_usage(tenant, campaign, batch, &usage)).await
            {
                tracing::warn!(%error, tenant_id = %tenant, campaign_id = %campaign, "put-back usage could not be counted");
                metrics.add(tenant.as_str(), USAGE_NOT_COUNTED, 1.0);
            }
        }
        if let Err(error) = metrics.flush(&mut std::io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics");
        }
    }

    /// Writes the invocation's metrics (embedded metric format, on stdout).
    pub(super) fn flush_metrics(&self) {
        if let Err(error) = self.metrics.flush(&mut std::io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics");
        }
    }
}

/// The id the chunk's usage is sharded by: the chunks of a launch spread over the counter items
/// as the batches of a delivery do.
fn chunk_usage_shard(message: &ChunkMessage) -> BatchId {
    let launch = &message.launch;
    BatchId::of_work(&[
        "launch",
        launch.tenant_id.as_str(),
        launch.campaign_id.as_str(),
        launch.launch_id.as_str(),
        &message.index.to_string(),
    ])
}
