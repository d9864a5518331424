use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::*;
use crate::error::StreamError;
use crate::pipeline::publish::EntryResult;
use crate::testing::MemoryStream;

/// An object as Lambda writes it for the deliver function's mapping: two records, one JSON and
/// one binary, given up on after the retries.
const SAMPLE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/on-failure-record.json"
));

fn sample_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut document: serde_json::Value = serde_json::from_slice(SAMPLE).unwrap();
    edit(&mut document);
    serde_json::to_vec(&document).unwrap()
}

#[test]
fn a_lambda_on_failure_record_parses_with_its_records_decoded() {
    let batch = GivenUpBatch::parse(SAMPLE).unwrap();

    assert_eq!(batch.request_context.condition, RETRY_ATTEMPTS_EXHAUSTED);
    assert_eq!(batch.request_context.approximate_invoke_count, 11);
    assert_eq!(
        batch.function_name(),
        "storecast-prod-DeliverFunction-AbC123dEf456"
    );
    let info = &batch.kinesis_batch_info;
    assert_eq!(info.shard_id, "shardId-000000000001");
    assert_eq!(info.batch_size, 2);
    assert_eq!(info.stream_name().unwrap(), "storecast-prod-send-batches");
    assert_eq!(
        batch.records,
        vec![
            StreamRecord {
                partition_key: "b7c1e2".into(),
                data: br#"{"contract_version":1,"batch_id":"b7c1e2"}"#.to_vec(),
            },
            StreamRecord {
                partition_key: "0f9a44".into(),
                data: vec![0, 159, 146, 150, 255],
            },
        ]
    );
}

#[test]
fn the_record_serializes_with_lambdas_field_names() {
    let record: OnFailureRecord = serde_json::from_slice(SAMPLE).unwrap();
    let written: serde_json::Value = serde_json::to_value(&record).unwrap();
    let original: serde_json::Value = serde_json::from_slice(SAMPLE).unwrap();
    assert_eq!(written, original, "nothing lost or renamed on the way");
}

#[test]
fn a_document_that_is_not_an_on_failure_record_is_a_clear_error() {
    let error = GivenUpBatch::parse(b"<Error>AccessDenied</Error>").unwrap_err();
    assert!(
        matches!(error, OnFailureRecordError::NotARecord(_)),
        "{error}"
    );

    let without_batch_info = sample_with(|d| {
        d.as_object_mut().unwrap().remove("KinesisBatchInfo");
    });
    let error = GivenUpBatch::parse(&without_batch_info).unwrap_err();
    assert!(
        matches!(error, OnFailureRecordError::NotARecord(_)),
        "{error}"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("KinesisBatchInfo"), "{cause}");
}

#[test]
fn a_record_without_payload_says_the_destination_holds_no_records() {
    // What an SQS destination receives: the metadata alone.
    let metadata_only = sample_with(|d| {
        d.as_object_mut().unwrap().remove("payload");
    });
    let error = GivenUpBatch::parse(&metadata_only).unwrap_err();
    assert!(matches!(error, OnFailureRecordError::NoPayload));
    assert!(error.to_string().contains("only an S3 destination"));
}

#[test]
fn a_malformed_payload_names_what_is_wrong() {
    let not_json = sample_with(|d| d["payload"] = "{\"Records\": [".into());
    assert!(matches!(
        GivenUpBatch::parse(&not_json).unwrap_err(),
        OnFailureRecordError::PayloadNotAnEvent(_)
    ));

    let bad_data = sample_with(|d| {
        let mut event: serde_json::Value =
            serde_json::from_str(d["payload"].as_str().unwrap()).unwrap();
        event["Records"][1]["kinesis"]["data"] = "not base64!".into();
        d["payload"] = event.to_string().into();
    });
    let error = GivenUpBatch::parse(&bad_data).unwrap_err();
    assert!(
        matches!(
            error,
            OnFailureRecordError::DataNotBase64 { position: 1, .. }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "record 1 of the payload has data that is not base64"
    );
}

#[test]
fn a_stream_arn_that_names_no_stream_is_refused() {
    for arn in [
        "arn:aws:sqs:us-east-1:123456789012:stream/x",
        "arn:aws:kinesis:us-east-1:123456789012:stream/",
        "arn:aws:kinesis:us-east-1:123456789012:stream/x/consumer/y:1",
        "storecast-prod-send-batches",
    ] {
        let document = sample_with(|d| d["KinesisBatchInfo"]["streamArn"] = arn.into());
        let error = GivenUpBatch::parse(&document).unwrap_err();
        assert!(
            matches!(error, OnFailureRecordError::NotAStreamArn(ref a) if a == arn),
            "{arn}: {error}"
        );
    }
}

#[test]
fn keys_follow_lambdas_layout() {
    let at = time::macros::datetime!(2025-03-04 05:06:07 UTC);
    let key = on_failure_key("5b3c0d9e-uuid", "shardId-000000000001", at);
    let unique = key
        .strip_prefix(
            "aws/lambda/5b3c0d9e-uuid/shardId-000000000001/2025/03/04/2025-03-04T05.06.07-",
        )
        .unwrap_or_else(|| panic!("{key}"));
    assert!(uuid::Uuid::parse_str(unique).is_ok(), "{key}");
}

/// The destination in memory.
#[derive(Default)]
struct MemoryObjects(Mutex<BTreeMap<String, Vec<u8>>>);

impl MemoryObjects {
    fn with(objects: &[(&str, Vec<u8>)]) -> Self {
        Self(Mutex::new(
            objects
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ))
    }

    fn keys_left(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

#[async_trait]
impl OnFailureObjects for MemoryObjects {
    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.keys_left())
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.0.lock().unwrap()[key].clone())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
}

/// Every stream by name, each kept in memory.
#[derive(Default)]
struct MemoryStreams(Mutex<BTreeMap<String, Arc<MemoryStream>>>);

impl MemoryStreams {
    fn get(&self, name: &str) -> Arc<MemoryStream> {
        self.0
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .clone()
    }
}

struct SharedStream(Arc<MemoryStream>);

#[async_trait]
impl RecordStream for SharedStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        self.0.put_records(records).await
    }
}

impl StreamsByName for MemoryStreams {
    fn stream(&self, name: &str) -> Box<dyn RecordStream> {
        Box::new(SharedStream(self.get(name)))
    }
}

const SEND_BATCHES: &str = "storecast-prod-send-batches";

fn rebatch_sample() -> Vec<u8> {
    sample_with(|d| {
        d["requestContext"]["functionArn"] =
            "arn:aws:lambda:us-east-1:123456789012:function:storecast-prod-RebatchFunction-Zz9"
                .into();
        d["KinesisBatchInfo"]["streamArn"] =
            "arn:aws:kinesis:us-east-1:123456789012:stream/storecast-prod-campaign-events".into();
    })
}

#[tokio::test]
async fn given_given_up_records_when_replayed_then_they_are_back_on_their_stream_and_the_object_is_gone()
 {
    let objects = MemoryObjects::with(&[("aws/lambda/m/s/deliver", SAMPLE.to_vec())]);
    let streams = MemoryStreams::default();

    let summary = replay_failures(&objects, &streams, &ReplayFilter::default(), false)
        .await
        .unwrap();

    assert_eq!(summary.count(|o| *o == ReplayOutcome::Replayed), 1);
    assert_eq!(summary.objects[0].stream, SEND_BATCHES);
    assert_eq!(summary.objects[0].records, 2);
    let expected = GivenUpBatch::parse(SAMPLE).unwrap().records;
    assert_eq!(streams.get(SEND_BATCHES).records(), expected);
    assert!(objects.keys_left().is_empty());
}

#[tokio::test]
async fn given_a_stream_that_refuses_records_when_replayed_then_the_object_stays() {
    let objects = MemoryObjects::with(&[("aws/lambda/m/s/deliver", SAMPLE.to_vec())]);
    let streams = MemoryStreams::default();
    streams
        .get(SEND_BATCHES)
        .fail_next_entries_with(&[1], "ValidationException");

    let summary = replay_failures(&objects, &streams, &ReplayFilter::default(), false)
        .await
        .unwrap();

    assert!(
        matches!(&summary.objects[0].outcome, ReplayOutcome::Kept(reason) if reason.starts_with("1 of 2 records")),
        "{summary:?}"
    );
    assert_eq!(objects.keys_left(), ["aws/lambda/m/s/deliver"]);
}

#[tokio::test]
async fn a_dry_run_puts_and_removes_nothing() {
    let objects = MemoryObjects::with(&[("aws/lambda/m/s/deliver", SAMPLE.to_vec())]);
    let streams = MemoryStreams::default();

    let summary = replay_failures(&objects, &streams, &ReplayFilter::default(), true)
        .await
        .unwrap();

    assert_eq!(summary.objects[0].outcome, ReplayOutcome::WouldReplay);
    assert!(streams.get(SEND_BATCHES).records().is_empty());
    assert_eq!(objects.keys_left().len(), 1);
}

#[tokio::test]
async fn the_filter_keeps_other_functions_and_streams_objects() {
    let objects = MemoryObjects::with(&[
        ("aws/lambda/a/s/deliver", SAMPLE.to_vec()),
        ("aws/lambda/b/s/rebatch", rebatch_sample()),
    ]);
    let streams = MemoryStreams::default();
    let by_function = ReplayFilter {
        function: Some("RebatchFunction".into()),
        stream: None,
    };

    let summary = replay_failures(&objects, &streams, &by_function, false)
        .await
        .unwrap();

    assert_eq!(summary.skipped, 1);
    assert_eq!(summary.objects[0].stream, "storecast-prod-campaign-events");
    assert_eq!(objects.keys_left(), ["aws/lambda/a/s/deliver"]);

    let by_stream = ReplayFilter {
        function: None,
        stream: Some("storecast-prod-campaign-events".into()),
    };
    let summary = replay_failures(&objects, &streams, &by_stream, false)
        .await
        .unwrap();
    assert_eq!((summary.objects.len(), summary.skipped), (0, 1));
}

#[tokio::test]
async fn an_unreadable_object_is_reported_and_kept_while_the_others_replay() {
    let objects = MemoryObjects::with(&[
        ("aws/lambda/a/s/broken", b"{}".to_vec()),
        ("aws/lambda/b/s/deliver", SAMPLE.to_vec()),
    ]);
    let streams = MemoryStreams::default();

    let summary = replay_failures(&objects, &streams, &ReplayFilter::default(), false)
        .await
        .unwrap();

    assert!(
        matches!(&summary.objects[0].outcome, ReplayOutcome::Unreadable(reason) if reason.starts_with("not a Lambda on-failure record: missing field")),
        "{summary:?}"
    );
    assert_eq!(summary.count(|o| *o == ReplayOutcome::Replayed), 1);
    assert_eq!(objects.keys_left(), ["aws/lambda/a/s/broken"]);
}
