//! What a campaign costs to send: the usage the launch (per chunk), rebatch (per invocation,
//! shared among its campaigns) and delivery (per batch) count for it (Lambda GB-seconds and
//! requests, DynamoDB read and write units, Kinesis PUT payload units, SES messages, SNS
//! publishes), kept per campaign beside its delivery counters, and that usage priced at the
//! published unit prices. See docs/operations.md, "Cost per send".

mod meter;

pub use meter::{
    MeteredUnits, metered, record_dynamodb_read, record_dynamodb_write, record_kinesis_put,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{BatchId, CampaignId, TenantId};
use crate::error::StoreError;

// Unit prices: AWS's published on-demand list prices for us-east-1 (N. Virginia), as read on
// 2026-12-07 from the services' pricing pages (aws.amazon.com/<service>/pricing). Other regions
// cost up to about a third more; free tiers are not taken off.

/// Lambda, arm64 (the template's default `Architecture`), per GB-second of duration
/// ($0.0000133334; x86_64 is $0.0000166667).
pub const LAMBDA_GB_SECOND_USD: f64 = 0.000_013_333_4;
/// Lambda, per request ($0.20 per million).
pub const LAMBDA_REQUEST_USD: f64 = 0.20 / 1e6;
/// DynamoDB on-demand (the template's tables are `PAY_PER_REQUEST`), per write request unit
/// ($0.625 per million since the price cut of November 2024; it was $1.25).
pub const DYNAMODB_WRITE_UNIT_USD: f64 = 0.625 / 1e6;
/// DynamoDB on-demand, per read request unit ($0.125 per million; it was $0.25).
pub const DYNAMODB_READ_UNIT_USD: f64 = 0.125 / 1e6;
/// Kinesis Data Streams in provisioned mode (the template's streams have a `ShardCount`), per
/// PUT payload unit of 25 KB ($0.014 per million). The shard hours are a fixed cost of the
/// stack, not of a send, and are not counted.
pub const KINESIS_PUT_UNIT_USD: f64 = 0.014 / 1e6;
/// The size of a Kinesis PUT payload unit: each record is billed in started 25 KB units.
pub const KINESIS_PUT_UNIT_BYTES: usize = 25 * 1024;
/// SES, per outbound email ($0.10 per thousand; attachments' data charge not counted).
pub const SES_MESSAGE_USD: f64 = 0.10 / 1e3;
/// SNS mobile push, per notification published to an endpoint: the publish request ($0.50 per
/// million requests) and the mobile push delivery ($0.50 per million notifications).
pub const SNS_PUBLISH_USD: f64 = (0.50 + 0.50) / 1e6;

/// Counted usage of one campaign (or one of its batches). Fractions are kept: a batch gets its
/// share of an invocation's request, and DynamoDB bills reads in half units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Lambda duration times its configured memory, in GB-seconds: the launch's chunks,
    /// rebatch's share of its invocations and deliver's time on the batches.
    pub lambda_gb_seconds: f64,
    /// Lambda requests: each chunk, group or batch counts its share of its invocation.
    pub lambda_requests: f64,
    /// DynamoDB read request units the counted calls of launch and delivery consumed.
    pub dynamodb_read_units: f64,
    /// DynamoDB write request units the counted calls of launch, rebatch and delivery consumed.
    pub dynamodb_write_units: f64,
    /// Kinesis PUT payload units of what each stage put: the launch's events, rebatch's send
    /// batches, the scheduler's redriven batches and delivery's campaign events.
    pub kinesis_put_units: f64,
    /// Emails handed to SES (sent, or unconfirmed: those may have been billed).
    pub ses_messages: f64,
    /// Pushes published to SNS endpoints that took them (or may have).
    pub sns_publishes: f64,
}

impl Usage {
    /// The counters' names as stored, and their values.
    pub fn fields(&self) -> [(&'static str, f64); 7] {
        [
            ("lambda_gb_seconds", self.lambda_gb_seconds),
            ("lambda_requests", self.lambda_requests),
            ("dynamodb_read_units", self.dynamodb_read_units),
            ("dynamodb_write_units", self.dynamodb_write_units),
            ("kinesis_put_units", self.kinesis_put_units),
            ("ses_messages", self.ses_messages),
            ("sns_publishes", self.sns_publishes),
        ]
    }

    fn slot(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "lambda_gb_seconds" => &mut self.lambda_gb_seconds,
            "lambda_requests" => &mut self.lambda_requests,
            "dynamodb_read_units" => &mut self.dynamodb_read_units,
            "dynamodb_write_units" => &mut self.dynamodb_write_units,
            "kinesis_put_units" => &mut self.kinesis_put_units,
            "ses_messages" => &mut self.ses_messages,
            "sns_publishes" => &mut self.sns_publishes,
            _ => return None,
        })
    }

    /// Sets a counter by its stored name; an unknown name is ignored (a later build's counter).
    pub fn set(&mut self, name: &str, value: f64) {
        if let Some(slot) = self.slot(name) {
            *slot = value;
        }
    }

    pub fn add(&mut self, other: &Usage) {
        for (name, value) in other.fields() {
            if let Some(slot) = self.slot(name) {
                *slot += value;
            }
        }
    }

    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|(_, value)| *value == 0.0)
    }

    /// The usage at the unit prices above, in US dollars.
    pub fn usd(&self) -> f64 {
        self.lambda_gb_seconds * LAMBDA_GB_SECOND_USD
            + self.lambda_requests * LAMBDA_REQUEST_USD
            + self.dynamodb_read_units * DYNAMODB_READ_UNIT_USD
            + self.dynamodb_write_units * DYNAMODB_WRITE_UNIT_USD
            + self.kinesis_put_units * KINESIS_PUT_UNIT_USD
            + self.ses_messages * SES_MESSAGE_USD
            + self.sns_publishes * SNS_PUBLISH_USD
    }

    /// Lambda GB-seconds of `elapsed` at `memory_mb` of configured memory (1 GB = 1,024 MB, as
    /// Lambda bills).
    pub fn gb_seconds(memory_mb: u32, elapsed: std::time::Duration) -> f64 {
        f64::from(memory_mb) / 1024.0 * elapsed.as_secs_f64()
    }

    /// The PUT payload units of one Kinesis record of `bytes` (at least one).
    pub fn put_units(bytes: usize) -> f64 {
        bytes.div_ceil(KINESIS_PUT_UNIT_BYTES).max(1) as f64
    }
}

/// The metric a usage write that failed is counted in (per function, like every metric): the
/// campaign's cost is then short of it, the messages are unaffected.
pub const USAGE_NOT_COUNTED: &str = "UsageNotCounted";

/// A campaign's cost as its stats show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct CampaignCost {
    /// What delivery counted for the campaign so far.
    pub usage: Usage,
    /// The usage at the published unit prices (US dollars, us-east-1 list prices).
    pub usd: f64,
    /// `usd` over the messages sent (all channels); absent while none was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_sent: Option<f64>,
}

impl CampaignCost {
    pub fn new(usage: Usage, sent: u64) -> Self {
        let usd = usage.usd();
        Self {
            usage,
            usd,
            usd_per_sent: (sent > 0).then(|| usd / sent as f64),
        }
    }
}

/// Where the usage of each launch chunk, rebatch invocation and delivered batch is added to its
/// campaign's (atomic counters: added, never rewritten); `batch` only picks the counter shard.
/// Reading it back is `DeliveryCounters::campaign_usage`.
#[async_trait]
pub trait UsageCounters: Send + Sync {
    async fn add_usage(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
        usage: &Usage,
    ) -> Result<(), StoreError>;
}

/// A usage write of launch, rebatch or the scheduler waits at most this long: the work it counts
/// is done, and its cost figure can be short.
pub const USAGE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `add` (a usage write), given up after [`USAGE_WRITE_TIMEOUT`] as an unavailable store.
pub async fn within_usage_timeout(
    add: impl std::future::Future<Output = Result<(), StoreError>>,
) -> Result<(), StoreError> {
    match tokio::time::timeout(USAGE_WRITE_TIMEOUT, add).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable {
            store: "usage counters",
            source: "timed out".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
