//! Runs an SQS event source mapping the way Lambda does: receive up to the batch size, build the
//! same event JSON, call the handler in process, delete what succeeded (everything but the
//! reported batch item failures), and leave the failed messages to reappear when their
//! visibility timeout ends. The queue's redrive policy moves a message to its dead-letter queue
//! after maxReceiveCount receives, as on AWS.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::json;

use crate::local::REGION;

#[async_trait]
pub trait SqsHandler: Send + Sync {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse>;
}

pub struct SqsMapping {
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    /// How long a received message stays invisible: failed ones reappear after it (the queue's
    /// own timeout is minutes; a local run waits seconds).
    pub visibility_timeout: Duration,
    pub handler: Arc<dyn SqsHandler>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SqsStats {
    pub invocations: u64,
    pub messages: u64,
    pub deleted: u64,
    /// Messages reported as batch item failures (or of a failed invocation), each time.
    pub failures: u64,
}

/// Upper bound on receive rounds in one drain, so a handler that never succeeds cannot hang a
/// local run (its messages end in the dead-letter queue long before).
const MAX_ROUNDS: usize = 10_000;

pub struct SqsRunner {
    sqs: aws_sdk_sqs::Client,
}

impl SqsRunner {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Self { sqs }
    }

    /// Receives and invokes until the queue has no message left, visible or in flight.
    pub async fn drain(&self, mapping: &SqsMapping) -> Result<SqsStats> {
        let mut stats = SqsStats::default();
        for _ in 0..MAX_ROUNDS {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&mapping.queue_url)
                .max_number_of_messages(mapping.batch_size.clamp(1, 10) as i32)
                .visibility_timeout(mapping.visibility_timeout.as_secs().max(1) as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .context("receiving from the queue")?;
            let messages = output.messages();
            if messages.is_empty() {
                if self.in_flight(mapping).await? == 0 {
                    return Ok(stats);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let event = lambda_event(mapping, messages)?;
            stats.invocations += 1;
            stats.messages += messages.len() as u64;
            let failed: Vec<String> = match mapping.handler.invoke(event).await {
                Ok(response) => response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect(),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "handler failed: every message comes back");
                    messages
                        .iter()
                        .filter_map(|m| m.message_id().map(str::to_string))
                        .collect()
                }
            };
            for message in messages {
                let id = message.message_id().unwrap_or_default();
                if failed.iter().any(|f| f == id) {
                    stats.failures += 1;
                    continue;
                }
                self.sqs
                    .delete_message()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .context("deleting a processed message")?;
                stats.deleted += 1;
            }
        }
        anyhow::bail!("the queue did not drain in {MAX_ROUNDS} rounds")
    }

    async fn in_flight(&self, mapping: &SqsMapping) -> Result<u64> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&mapping.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .context("reading the queue's attributes")?;
        Ok(attributes
            .attributes()
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .unwrap_or(0))
    }

    /// Messages waiting in a queue (a dead-letter queue, say), received and left in place.
    pub async fn peek(&self, queue_url: &str) -> Result<Vec<String>> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .context("receiving from the queue")?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect())
    }
}

/// The event exactly as Lambda delivers it to an SQS-triggered function.
pub fn lambda_event(
    mapping: &SqsMapping,
    messages: &[aws_sdk_sqs::types::Message],
) -> Result<SqsEvent> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|message| {
            let mut attributes = serde_json::Map::new();
            for (name, value) in message.attributes().into_iter().flatten() {
                attributes.insert(name.as_str().to_string(), json!(value));
            }
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).context("building the SQS event")
}
