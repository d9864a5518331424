//! What a Kinesis mapping gives up on lands in the S3 on-failure bucket with the records
//! themselves, and `replay-failures` puts it back on its stream (against the local endpoint).

use crate::support;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use async_trait::async_trait;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use storecast::aws::kinesis::KinesisStream;
use storecast::pipeline::publish::{EntryResult, RecordStream, StreamRecord};
use storecast::pipeline::stream_failures::{GivenUpBatch, ReplayFilter, ReplayOutcome};
use storecast_dev::local::esm::{Checkpoints, KinesisHandler, Runner};
use storecast_dev::local::pipeline::mapping;
use storecast_dev::ops::replay_failures::replay;
use support::{TestStack, test_stack};
use time::OffsetDateTime;

/// Reports every record as a batch item failure, as deliver does while a store it needs is
/// down: the mapping retries until its limit, then gives up.
struct FailsEveryRecord;

#[async_trait]
impl KinesisHandler for FailsEveryRecord {
    async fn invoke(&self, event: KinesisEvent, _: OffsetDateTime) -> Result<KinesisEventResponse> {
        let mut response = KinesisEventResponse::default();
        response.add_failure(&event.records[0].kinesis.sequence_number);
        Ok(response)
    }
}

/// Accepts every record and keeps it.
#[derive(Default)]
struct KeepsRecords(Mutex<Vec<StreamRecord>>);

#[async_trait]
impl KinesisHandler for KeepsRecords {
    async fn invoke(&self, event: KinesisEvent, _: OffsetDateTime) -> Result<KinesisEventResponse> {
        let mut kept = self.0.lock().unwrap();
        for record in event.records {
            kept.push(StreamRecord {
                partition_key: record.kinesis.partition_key,
                data: record.kinesis.data.0,
            });
        }
        Ok(KinesisEventResponse::default())
    }
}

async fn objects(t: &TestStack, bucket: &str) -> Vec<String> {
    let listed = t
        .clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn object(t: &TestStack, bucket: &str, key: &str) -> Vec<u8> {
    let object = t
        .clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

fn stream_failures_bucket(t: &TestStack) -> String {
    let deliver = t.stack.function("deliver").unwrap();
    let bucket = deliver.mappings[0].on_failure_bucket.as_deref().unwrap();
    t.stack.bucket(bucket).unwrap().name.clone()
}

#[tokio::test]
async fn a_given_up_record_is_kept_in_s3_and_replayed_onto_its_stream() {
    let t = test_stack("stream-failures").await;
    let stream_name = t.stack.stream("SendBatchesStream").unwrap().name.clone();
    let bucket = stream_failures_bucket(&t);
    // Not UTF-8, so the payload's base64 is exercised both ways.
    let record = StreamRecord {
        partition_key: "batch-0f9a44".into(),
        data: b"\x00\xffsend batch".to_vec(),
    };
    let stream = KinesisStream::new(t.clients.kinesis.clone(), &stream_name);
    let put = stream.put_records(std::slice::from_ref(&record)).await;
    assert_eq!(put.unwrap(), [EntryResult::Accepted]);

    // GIVEN deliver's mapping gave up on the record after its retries
    let runner = Runner::new(t.clients.kinesis.clone());
    let failing = mapping(&t.stack, &t.clients, "deliver", Arc::new(FailsEveryRecord)).unwrap();
    let mut checkpoints = Checkpoints::default();
    let stats = runner.drain(&failing, &mut checkpoints).await.unwrap();
    assert_eq!(stats.sent_to_on_failure.len(), 1, "{stats:?}");
    assert_eq!(
        stats.retried_invocations,
        u64::from(failing.max_retries) + 1
    );

    // THEN the bucket holds Lambda's invocation record with the record itself
    let keys = objects(&t, &bucket).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let shard = &stats.sent_to_on_failure[0].0;
    assert!(keys[0].starts_with("aws/lambda/"), "{}", keys[0]);
    assert!(keys[0].contains(&format!("/{shard}/")), "{}", keys[0]);
    let given_up = GivenUpBatch::parse(&object(&t, &bucket, &keys[0]).await).unwrap();
    assert_eq!(given_up.records, std::slice::from_ref(&record));
    assert_eq!(
        given_up.kinesis_batch_info.stream_name().unwrap(),
        stream_name
    );
    assert_eq!(&given_up.kinesis_batch_info.shard_id, shard);
    assert!(given_up.function_name().contains("DeliverFunction"));
    assert_eq!(
        given_up.request_context.approximate_invoke_count,
        failing.max_retries + 1
    );

    // WHEN a dry run, or a replay of another function's objects, runs: nothing moves
    let s3 = || t.clients.s3.clone();
    let kinesis = || t.clients.kinesis.clone();
    let all = ReplayFilter::default();
    let dry = replay(s3(), kinesis(), &bucket, &all, true).await.unwrap();
    assert_eq!(dry.objects[0].outcome, ReplayOutcome::WouldReplay);
    let rebatch_only = ReplayFilter {
        function: Some("RebatchFunction".into()),
        stream: None,
    };
    let other = replay(s3(), kinesis(), &bucket, &rebatch_only, false).await;
    assert_eq!(other.unwrap().skipped, 1);
    assert_eq!(objects(&t, &bucket).await, keys);

    // WHEN the replay runs
    let summary = replay(s3(), kinesis(), &bucket, &all, false).await.unwrap();

    // THEN the record is back on the stream, after where the mapping stopped, and the object is
    // gone
    assert_eq!(
        summary.objects[0].outcome,
        ReplayOutcome::Replayed,
        "{summary:?}"
    );
    assert!(objects(&t, &bucket).await.is_empty());
    let keeper = Arc::new(KeepsRecords::default());
    let working = mapping(&t.stack, &t.clients, "deliver", keeper.clone()).unwrap();
    let stats = runner.drain(&working, &mut checkpoints).await.unwrap();
    assert!(stats.sent_to_on_failure.is_empty());
    assert_eq!(*keeper.0.lock().unwrap(), [record]);
}
