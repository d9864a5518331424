//! What delivering one batch used, added to its campaign's usage (docs/operations.md, "Cost per
//! send"): the batch's time at the function's memory and its share of the invocation, the
//! DynamoDB units its calls consumed (the adapters' `ConsumedCapacity`, metered per batch: the
//! claims and outcomes, the send budget, the warm-up cap, the frequency cap, the push endpoint
//! cache), and the messages handed to SES or SNS. The Kinesis PUT units of the batch's record and
//! of its campaign events are counted by who put them (rebatch, the launch worker). One batch is one tenant's campaign, so the usage is that campaign's.

use std::time::{Duration, Instant};

use crate::costs::{MeteredUnits, Usage, UsageCounters, metered};
use crate::domain::Channel;

use super::*;

/// One batch's record and how it is delivered.
pub(super) struct BatchRun<'a> {
    pub raw: &'a [u8],
    pub deadline: OffsetDateTime,
    pub lagging: bool,
    /// The records of the invocation: each batch counts its share of the request.
    pub records_in_invocation: usize,
}

impl Deliverer {
    /// Counts the usage of every batch of the invocation in its campaign (`UsageCounters`).
    pub fn with_usage(mut self, usage: Arc<dyn UsageCounters>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Delivers the batch, then adds what it used to its campaign's usage and to the
    /// `SendCostUsd` metric. A dead-lettered batch counts nothing (its tenant or campaign may not
    /// exist); a usage write that fails is logged and counted (`UsageNotCounted`), never failing
    /// the batch.
    pub(super) async fn deliver_counting_usage(
        &self,
        batch: &SendBatch,
        run: BatchRun<'_>,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let started = Instant::now();
        let (disposition, units) =
            metered(self.deliver_batch(batch, run.raw, run.deadline, run.lagging, counts)).await;
        let Some(counters) = &self.usage else {
            return disposition;
        };
        if counts.dead_lettered > 0 {
            return disposition;
        }
        let usage = batch_usage(
            batch.group.channel,
            &run,
            (self.config.lambda_memory_mb, started.elapsed()),
            units,
            counts,
        );
        let group = &batch.group;
        self.metrics
            .add(group.tenant_id.as_str(), "SendCostUsd", usage.usd());
        let add = counters.add_usage(
            &group.tenant_id,
            &group.campaign_id,
            &batch.batch_id,
            &usage,
        );
        if let Err(error) = self.bounded(run.deadline, add).await {
            // Only the cost figure is short: the messages are unaffected.
            tracing::warn!(%error, "batch usage could not be counted");
            self.metrics.add(
                group.tenant_id.as_str(),
                crate::costs::USAGE_NOT_COUNTED,
                1.0,
            );
        }
        disposition
    }
}

/// The usage of one batch from what its delivery counted.
pub(super) fn batch_usage(
    channel: Channel,
    run: &BatchRun<'_>,
    (memory_mb, elapsed): (u32, Duration),
    units: MeteredUnits,
    counts: &TenantCounts,
) -> Usage {
    let (ses_messages, sns_publishes) = match channel {
        Channel::Email => (counts.sent + counts.unconfirmed, 0),
        Channel::Push => (0, counts.push_publishes + counts.unconfirmed),
    };
    Usage {
        lambda_gb_seconds: Usage::gb_seconds(memory_mb, elapsed),
        lambda_requests: 1.0 / run.records_in_invocation.max(1) as f64,
        dynamodb_read_units: units.read,
        dynamodb_write_units: units.write,
        // The batch's record and its campaign events were counted where they were put (rebatch,
        // the launch); only what delivery itself puts on a stream counts here.
        kinesis_put_units: units.kinesis_put,
        ses_messages: ses_messages as f64,
        sns_publishes: sns_publishes as f64,
    }
}
