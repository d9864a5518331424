//! Runs a Kinesis event source mapping the way Lambda does: poll each shard, build the same event
//! JSON, call the handler in process, checkpoint by its partial batch response, retry what
//! failed, and give up on a record after the mapping's retry limit, writing it to the S3
//! on-failure destination as Lambda does (`storecast::pipeline::stream_failures`).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine as _;
use serde_json::json;
use storecast::pipeline::stream_failures::{
    KinesisBatchInfo, ON_FAILURE_RECORD_VERSION, OnFailureRecord, RETRY_ATTEMPTS_EXHAUSTED,
    RequestContext, ResponseContext, on_failure_key,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::local::REGION;

/// A function as the mapping sees it: event in, partial batch response out.
#[async_trait]
pub trait KinesisHandler: Send + Sync {
    async fn invoke(
        &self,
        event: KinesisEvent,
        deadline: OffsetDateTime,
    ) -> Result<KinesisEventResponse>;
}

pub struct Mapping {
    pub stream_name: String,
    pub batch_size: usize,
    pub max_retries: u32,
    pub timeout: time::Duration,
    pub handler: Arc<dyn KinesisHandler>,
    /// Where given-up records go; without one they are dropped, as Lambda drops them.
    pub on_failure: Option<OnFailureDestination>,
}

/// An S3 on-failure destination, and who writes to it.
#[derive(Clone)]
pub struct OnFailureDestination {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub function_arn: String,
    /// Lambda names each mapping by a UUID, the first part of the destination's keys.
    pub mapping_uuid: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MappingStats {
    pub invocations: u64,
    pub records: u64,
    pub retried_invocations: u64,
    /// Records given up on after the retry limit: (shard, sequence number). Each was written to
    /// the on-failure destination as one object.
    pub sent_to_on_failure: Vec<(String, String)>,
}

impl MappingStats {
    pub fn add(&mut self, other: &MappingStats) {
        self.invocations += other.invocations;
        self.records += other.records;
        self.retried_invocations += other.retried_invocations;
        self.sent_to_on_failure
            .extend(other.sent_to_on_failure.iter().cloned());
    }
}

/// Where the mapping stands in each shard: the last checkpointed sequence number.
#[derive(Debug, Default, Clone)]
pub struct Checkpoints(HashMap<String, String>);

pub struct Runner {
    kinesis: aws_sdk_kinesis::Client,
}

impl Runner {
    pub fn new(kinesis: aws_sdk_kinesis::Client) -> Self {
        Self { kinesis }
    }

    /// Polls every shard (concurrently, one invocation at a time per shard, as Lambda does
    /// without a parallelization factor) until none has records left.
    pub async fn drain(
        &self,
        mapping: &Mapping,
        checkpoints: &mut Checkpoints,
    ) -> Result<MappingStats> {
        let shards = self
            .kinesis
            .list_shards()
            .stream_name(&mapping.stream_name)
            .send()
            .await
            .with_context(|| format!("listing shards of {}", mapping.stream_name))?;
        let shard_ids: Vec<String> = shards
            .shards()
            .iter()
            .map(|s| s.shard_id().to_string())
            .collect();
        let results = futures::future::join_all(shard_ids.iter().map(|shard| {
            let start = checkpoints.0.get(shard).cloned();
            self.drain_shard(mapping, shard, start)
        }))
        .await;
        let mut total = MappingStats::default();
        for (shard, result) in shard_ids.iter().zip(results) {
            let (stats, checkpoint) = result?;
            if let Some(checkpoint) = checkpoint {
                checkpoints.0.insert(shard.clone(), checkpoint);
            }
            total.add(&stats);
        }
        Ok(total)
    }

    async fn drain_shard(
        &self,
        mapping: &Mapping,
        shard: &str,
        mut checkpoint: Option<String>,
    ) -> Result<(MappingStats, Option<String>)> {
        let mut stats = MappingStats::default();
        let mut attempts: HashMap<String, u32> = HashMap::new();
        loop {
            let iterator = self
                .shard_iterator(mapping, shard, checkpoint.as_deref())
                .await?;
            let output = self
                .kinesis
                .get_records()
                .shard_iterator(iterator)
                .limit(mapping.batch_size as i32)
                .send()
                .await
                .context("getting records")?;
            let records = output.records();
            if records.is_empty() {
                return Ok((stats, checkpoint));
            }
            let event = lambda_event(&mapping.stream_name, shard, records)?;
            let sequence_numbers: Vec<String> = records
                .iter()
                .map(|r| r.sequence_number().to_string())
                .collect();
            stats.invocations += 1;
            match first_failure(mapping, event, &sequence_numbers).await {
                None => {
                    stats.records += sequence_numbers.len() as u64;
                    checkpoint = sequence_numbers.last().cloned();
                }
                Some(position) => {
                    stats.records += position as u64;
                    if position > 0 {
                        checkpoint = Some(sequence_numbers[position - 1].clone());
                    }
                    let failed = &sequence_numbers[position];
                    let tries = attempts.entry(failed.clone()).or_default();
                    *tries += 1;
                    stats.retried_invocations += 1;
                    let record = &records[position];
                    if self
                        .give_up_or_back_off(mapping, shard, record, *tries, &mut stats)
                        .await?
                    {
                        checkpoint = Some(failed.clone());
                    }
                }
            }
        }
    }

    /// Where to read the shard from: after the checkpoint, or from its oldest record.
    async fn shard_iterator(
        &self,
        mapping: &Mapping,
        shard: &str,
        checkpoint: Option<&str>,
    ) -> Result<String> {
        match checkpoint {
            Some(sequence) => self
                .kinesis
                .get_shard_iterator()
                .stream_name(&mapping.stream_name)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
            None => self
                .kinesis
                .get_shard_iterator()
                .stream_name(&mapping.stream_name)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon),
        }
        .send()
        .await
        .context("getting a shard iterator")?
        .shard_iterator
        .context("no shard iterator")
    }

    /// After a failed record's `tries`th attempt: past the retry limit it goes to the on-failure
    /// destination and the answer is true (the checkpoint moves past it); otherwise the next
    /// attempt waits a little longer each time.
    async fn give_up_or_back_off(
        &self,
        mapping: &Mapping,
        shard: &str,
        record: &aws_sdk_kinesis::types::Record,
        tries: u32,
        stats: &mut MappingStats,
    ) -> Result<bool> {
        if tries <= mapping.max_retries {
            tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(tries))).await;
            return Ok(false);
        }
        self.give_up(mapping, shard, record, tries).await?;
        stats
            .sent_to_on_failure
            .push((shard.to_string(), record.sequence_number().to_string()));
        Ok(true)
    }
}

/// Invokes the handler with the batch; answers the position of the first record to retry from
/// (none when all succeeded). A failure without an identifier, or an error, retries it all.
async fn first_failure(
    mapping: &Mapping,
    event: KinesisEvent,
    sequence_numbers: &[String],
) -> Option<usize> {
    let deadline = OffsetDateTime::now_utc() + mapping.timeout;
    match mapping.handler.invoke(event, deadline).await {
        Ok(response) => {
            let failed: Vec<String> = response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.clone())
                .collect();
            if response.batch_item_failures.len() != failed.len() {
                tracing::warn!(
                    "handler reported a failure without an identifier: whole batch retried"
                );
                Some(0)
            } else {
                failed
                    .iter()
                    .filter_map(|id| sequence_numbers.iter().position(|s| s == id))
                    .min()
            }
        }
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "handler failed: whole batch retried");
            Some(0)
        }
    }
}

impl Runner {
    /// Writes the record to the mapping's on-failure destination as Lambda does for an
    /// invocation it discards. Here the invocation is the failed record alone: the emulation
    /// skips just that record and goes on with the next ones.
    async fn give_up(
        &self,
        mapping: &Mapping,
        shard: &str,
        record: &aws_sdk_kinesis::types::Record,
        invocations: u32,
    ) -> Result<()> {
        let sequence_number = record.sequence_number();
        tracing::error!(
            shard,
            sequence_number,
            "retries exhausted: record goes to the on-failure destination"
        );
        let Some(destination) = &mapping.on_failure else {
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();
        let document = on_failure_record(mapping, destination, shard, record, invocations, now)?;
        let key = on_failure_key(&destination.mapping_uuid, shard, now);
        destination
            .s3
            .put_object()
            .bucket(&destination.bucket)
            .key(&key)
            .content_type("application/json")
            .body(serde_json::to_vec(&document)?.into())
            .send()
            .await
            .with_context(|| format!("writing the on-failure object {key}"))?;
        tracing::info!(
            bucket = destination.bucket,
            key,
            "on-failure object written"
        );
        Ok(())
    }
}

/// The invocation record of one given-up record, in the shape Lambda writes to S3.
fn on_failure_record(
    mapping: &Mapping,
    destination: &OnFailureDestination,
    shard: &str,
    record: &aws_sdk_kinesis::types::Record,
    invocations: u32,
    now: OffsetDateTime,
) -> Result<OnFailureRecord> {
    let event = lambda_event(&mapping.stream_name, shard, std::slice::from_ref(record))?;
    let arrival = record
        .approximate_arrival_timestamp()
        .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
        .unwrap_or(now)
        .format(&Rfc3339)?;
    Ok(OnFailureRecord {
        request_context: RequestContext {
            request_id: uuid::Uuid::new_v4().to_string(),
            function_arn: destination.function_arn.clone(),
            condition: RETRY_ATTEMPTS_EXHAUSTED.into(),
            approximate_invoke_count: invocations,
        },
        response_context: ResponseContext {
            status_code: Some(200),
            executed_version: Some("$LATEST".into()),
            function_error: None,
        },
        version: ON_FAILURE_RECORD_VERSION.into(),
        timestamp: now.format(&Rfc3339)?,
        kinesis_batch_info: KinesisBatchInfo {
            shard_id: shard.to_string(),
            start_sequence_number: record.sequence_number().to_string(),
            end_sequence_number: record.sequence_number().to_string(),
            approximate_arrival_of_first_record: arrival.clone(),
            approximate_arrival_of_last_record: arrival,
            batch_size: 1,
            stream_arn: stream_arn(&mapping.stream_name),
        },
        payload: Some(serde_json::to_string(&event)?),
    })
}

fn stream_arn(stream_name: &str) -> String {
    format!("arn:aws:kinesis:{REGION}:123456789012:stream/{stream_name}")
}

/// The event exactly as Lambda delivers it to a Kinesis-triggered function.
pub fn lambda_event(
    stream_name: &str,
    shard: &str,
    records: &[aws_sdk_kinesis::types::Record],
) -> Result<KinesisEvent> {
    let arn = stream_arn(stream_name);
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            let arrival = record
                .approximate_arrival_timestamp()
                .map(|t| t.as_secs_f64())
                .unwrap_or_default();
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key(),
                    "sequenceNumber": record.sequence_number(),
                    "data": base64::engine::general_purpose::STANDARD.encode(record.data().as_ref()),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{}", record.sequence_number()),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/storecast-local",
                "awsRegion": REGION,
                "eventSourceARN": arn,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).context("building the Kinesis event")
}
