//! What the Kinesis event source mappings give up on (retries exhausted, records too old) and
//! putting it back on its stream.
//!
//! Lambda writes one object per discarded invocation to the mappings' S3 on-failure destination:
//! the invocation's metadata (`requestContext`, `responseContext`, `KinesisBatchInfo`) and, as
//! `payload`, the event the function was invoked with (a JSON string whose records carry their
//! data in base64). That payload is the only copy of the records once the stream's retention has
//! passed, so an object is removed only after every one of its records is back on the stream.
//! Putting records back is safe: message ids and batch ids are derived from the content, and
//! delivery claims every message before sending it.

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::pipeline::publish::{PublishFailure, RecordStream, RetryPolicy, StreamRecord, put_all};

/// Lambda writes every on-failure object of an event source mapping under
/// `aws/lambda/<mapping UUID>/<shard id>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`.
pub const ON_FAILURE_KEY_PREFIX: &str = "aws/lambda/";

/// The version Lambda writes in the `version` field of its invocation records.
pub const ON_FAILURE_RECORD_VERSION: &str = "1.0";

/// The condition Lambda names when a record failed `MaximumRetryAttempts` times.
pub const RETRY_ATTEMPTS_EXHAUSTED: &str = "RetryAttemptsExhausted";

/// One on-failure object, in the shape Lambda writes to an S3 destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnFailureRecord {
    pub request_context: RequestContext,
    #[serde(default)]
    pub response_context: ResponseContext,
    pub version: String,
    pub timestamp: String,
    #[serde(rename = "KinesisBatchInfo")]
    pub kinesis_batch_info: KinesisBatchInfo,
    /// The invocation's event as a JSON string. Only S3 destinations get it: an SQS or SNS
    /// record has the metadata alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub request_id: String,
    pub function_arn: String,
    /// Why Lambda gave up: `RetryAttemptsExhausted`, `RecordAgeExceeded`, …
    pub condition: String,
    pub approximate_invoke_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub approximate_arrival_of_first_record: String,
    pub approximate_arrival_of_last_record: String,
    pub batch_size: u32,
    pub stream_arn: String,
}

impl KinesisBatchInfo {
    /// The stream's name, from `arn:<partition>:kinesis:<region>:<account>:stream/<name>`.
    pub fn stream_name(&self) -> Result<&str, OnFailureRecordError> {
        let bad = || OnFailureRecordError::NotAStreamArn(self.stream_arn.clone());
        let mut parts = self.stream_arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some("kinesis"), Some(_), Some(_), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        resource
            .strip_prefix("stream/")
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or_else(bad)
    }
}

/// Why an object is not an on-failure record that can be replayed. Each says what is wrong with
/// the document: replaying it again will not help.
#[derive(Debug, thiserror::Error)]
pub enum OnFailureRecordError {
    #[error("not a Lambda on-failure record")]
    NotARecord(#[source] serde_json::Error),
    #[error(
        "the on-failure record has no payload: only an S3 destination receives the records themselves"
    )]
    NoPayload,
    #[error("the on-failure record's payload is not a Kinesis event")]
    PayloadNotAnEvent(#[source] serde_json::Error),
    #[error("record {position} of the payload has data that is not base64")]
    DataNotBase64 {
        position: usize,
        #[source]
        source: base64::DecodeError,
    },
    #[error("{0} is not the ARN of a Kinesis stream")]
    NotAStreamArn(String),
}

/// The invocation event inside `payload`: only what a replay needs of each record.
#[derive(Deserialize)]
struct PayloadEvent {
    #[serde(rename = "Records")]
    records: Vec<PayloadRecord>,
}

#[derive(Deserialize)]
struct PayloadRecord {
    kinesis: PayloadKinesis,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadKinesis {
    partition_key: String,
    data: String,
}

/// An on-failure record with its records decoded, ready to be put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUpBatch {
    pub request_context: RequestContext,
    pub kinesis_batch_info: KinesisBatchInfo,
    /// Partition key and data of each record, in shard order.
    pub records: Vec<StreamRecord>,
}

impl GivenUpBatch {
    /// Parses an object of the on-failure destination, decoding every record of its payload.
    pub fn parse(object: &[u8]) -> Result<Self, OnFailureRecordError> {
        let record: OnFailureRecord =
            serde_json::from_slice(object).map_err(OnFailureRecordError::NotARecord)?;
        let payload = record.payload.ok_or(OnFailureRecordError::NoPayload)?;
        let event: PayloadEvent =
            serde_json::from_str(&payload).map_err(OnFailureRecordError::PayloadNotAnEvent)?;
        let records = event
            .records
            .into_iter()
            .enumerate()
            .map(|(position, record)| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(record.kinesis.data.as_bytes())
                    .map_err(|source| OnFailureRecordError::DataNotBase64 { position, source })?;
                Ok(StreamRecord {
                    partition_key: record.kinesis.partition_key,
                    data,
                })
            })
            .collect::<Result<_, OnFailureRecordError>>()?;
        let batch = Self {
            request_context: record.request_context,
            kinesis_batch_info: record.kinesis_batch_info,
            records,
        };
        batch.kinesis_batch_info.stream_name()?;
        Ok(batch)
    }

    /// The name of the function that gave up: the last part of its ARN, without a qualifier.
    pub fn function_name(&self) -> &str {
        let arn = &self.request_context.function_arn;
        let after = arn
            .split_once(":function:")
            .map_or(arn.as_str(), |(_, f)| f);
        after.split(':').next().unwrap_or(after)
    }
}

/// A key in Lambda's layout for the on-failure object of one discarded invocation (the local
/// emulation writes where Lambda would).
pub fn on_failure_key(mapping_uuid: &str, shard_id: &str, at: OffsetDateTime) -> String {
    let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
    format!(
        "{ON_FAILURE_KEY_PREFIX}{mapping_uuid}/{shard_id}/{year:04}/{month:02}/{day:02}/\
         {year:04}-{month:02}-{day:02}T{:02}.{:02}.{:02}-{}",
        at.hour(),
        at.minute(),
        at.second(),
        uuid::Uuid::new_v4()
    )
}

/// The objects of the on-failure destination.
#[async_trait]
pub trait OnFailureObjects: Send + Sync {
    /// Every object's key under [`ON_FAILURE_KEY_PREFIX`].
    async fn keys(&self) -> Result<Vec<String>, StoreError>;
    async fn read(&self, key: &str) -> Result<Vec<u8>, StoreError>;
    async fn remove(&self, key: &str) -> Result<(), StoreError>;
}

/// The stream a batch goes back to, by name (each object names the stream it came from).
pub trait StreamsByName: Send + Sync {
    fn stream(&self, name: &str) -> Box<dyn RecordStream>;
}

/// Which objects to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Only objects of a function whose name contains this (`DeliverFunction`: SAM names
    /// functions `<stack>-<logical id>-<suffix>`).
    pub function: Option<String>,
    /// Only objects of this stream (its name).
    pub stream: Option<String>,
}

impl ReplayFilter {
    fn matches(&self, batch: &GivenUpBatch) -> bool {
        let function = self
            .function
            .as_deref()
            .is_none_or(|f| batch.function_name().contains(f));
        let stream = self
            .stream
            .as_deref()
            .is_none_or(|s| batch.kinesis_batch_info.stream_name().ok() == Some(s));
        function && stream
    }
}

/// One object of the destination, and what the replay did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayedObject {
    pub key: String,
    pub stream: String,
    pub shard_id: String,
    pub condition: String,
    pub records: usize,
    pub outcome: ReplayOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum ReplayOutcome {
    /// Every record is back on the stream and the object is removed.
    Replayed,
    /// `--dry-run`: nothing put, nothing removed.
    WouldReplay,
    /// Some records were not accepted: the object stays (a later replay puts them all again,
    /// which the functions' idempotency makes harmless).
    Kept(String),
    /// The object is not a replayable on-failure record; it stays for an operator to read.
    Unreadable(String),
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub objects: Vec<ReplayedObject>,
    /// Objects the filter left out.
    pub skipped: usize,
}

impl ReplaySummary {
    pub fn count(&self, wanted: fn(&ReplayOutcome) -> bool) -> usize {
        self.objects.iter().filter(|o| wanted(&o.outcome)).count()
    }
}

/// Reading or removing the destination's objects failed: nothing more can be replayed now.
#[derive(Debug, thiserror::Error)]
#[error("the on-failure destination could not be read or written")]
pub struct ReplayError(#[from] StoreError);

/// Puts the records of every matching on-failure object back on the stream it came from,
/// removing each object once all its records were accepted.
pub async fn replay_failures(
    objects: &dyn OnFailureObjects,
    streams: &dyn StreamsByName,
    filter: &ReplayFilter,
    dry_run: bool,
) -> Result<ReplaySummary, ReplayError> {
    let mut summary = ReplaySummary::default();
    for key in objects.keys().await? {
        let batch = match GivenUpBatch::parse(&objects.read(&key).await?) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(key, error = %crate::error::chain(&error), "on-failure object not replayable");
                summary.objects.push(unreadable(key, &error));
                continue;
            }
        };
        if !filter.matches(&batch) {
            summary.skipped += 1;
            continue;
        }
        let outcome = if dry_run {
            ReplayOutcome::WouldReplay
        } else {
            put_back(objects, streams, &key, &batch).await?
        };
        summary.objects.push(replayed_object(key, &batch, outcome));
    }
    tracing::info!(
        replayed = summary.count(|o| matches!(o, ReplayOutcome::Replayed)),
        kept = summary.count(|o| matches!(o, ReplayOutcome::Kept(_))),
        unreadable = summary.count(|o| matches!(o, ReplayOutcome::Unreadable(_))),
        skipped = summary.skipped,
        "replayed the on-failure destination"
    );
    Ok(summary)
}

async fn put_back(
    objects: &dyn OnFailureObjects,
    streams: &dyn StreamsByName,
    key: &str,
    batch: &GivenUpBatch,
) -> Result<ReplayOutcome, ReplayError> {
    // `parse` checked the ARN.
    let name = batch.kinesis_batch_info.stream_name().unwrap_or_default();
    let stream = streams.stream(name);
    let results = put_all(stream.as_ref(), &batch.records, RetryPolicy::default()).await;
    let failures: Vec<PublishFailure> = results.into_iter().filter_map(Result::err).collect();
    if let Some(first) = failures.first() {
        tracing::warn!(key, failed = failures.len(), %first, "records not put back; the object stays");
        return Ok(ReplayOutcome::Kept(format!(
            "{} of {} records not accepted: {first}",
            failures.len(),
            batch.records.len()
        )));
    }
    objects.remove(key).await?;
    Ok(ReplayOutcome::Replayed)
}

fn replayed_object(key: String, batch: &GivenUpBatch, outcome: ReplayOutcome) -> ReplayedObject {
    ReplayedObject {
        key,
        stream: batch
            .kinesis_batch_info
            .stream_name()
            .unwrap_or_default()
            .to_string(),
        shard_id: batch.kinesis_batch_info.shard_id.clone(),
        condition: batch.request_context.condition.clone(),
        records: batch.records.len(),
        outcome,
    }
}

fn unreadable(key: String, error: &OnFailureRecordError) -> ReplayedObject {
    ReplayedObject {
        key,
        stream: String::new(),
        shard_id: String::new(),
        condition: String::new(),
        records: 0,
        outcome: ReplayOutcome::Unreadable(crate::error::chain(error)),
    }
}

#[cfg(test)]
#[path = "stream_failures_tests.rs"]
mod tests;
