//! The delta optimizer's S3 adapters against the local endpoint (moto), through the real SDK:
//! the day's feedback listed and streamed, the reports written and read back, and the whole
//! optimizer run on them.

use std::io::Write;
use std::sync::Arc;

use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use storecast::availability::optimizer::{
    DeltaOptimizer, FeedbackObject, FoundRateFeedback, OptimizerPorts, OptimizerReport,
    OptimizerReports, RunOutcome, keys,
};
use storecast::availability::{ChangeNote, ConfigStore, OptimizerSettings, Segment};
use storecast::aws::found_rate::{S3FoundRateFeedback, S3OptimizerReports};
use storecast::domain::TenantId;
use storecast::error::{Retryable, StoreError};
use storecast::testing::optimizer_sim::{FoundRateWorld, sim_config};
use storecast::testing::{ManualClock, MemoryConfigStore, MemoryDirectory};
use storecast_dev::local::{Clients, Endpoint};

const DAY: time::Date = time::macros::date!(2026 - 04 - 02);

async fn bucket(name: &str) -> (aws_sdk_s3::Client, String) {
    let endpoint = Endpoint::from_env().expect(
        "these tests need the local endpoint: run them with `make test` \
         (or infra/scripts/with-local-stack.sh cargo test)",
    );
    let clients = Clients::new(&endpoint.sdk_config().await);
    let bucket = format!("t-{name}-{}", std::process::id());
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    (clients.s3, bucket)
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn feedback_objects_are_listed_by_tenant_and_day_and_streamed_whole() {
    let (s3, bucket) = bucket("feedback").await;
    let acme = TenantId::parse("acme").unwrap();
    let prefix = keys::feedback_prefix(&acme, DAY);
    let big: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    put(&s3, &bucket, &format!("{prefix}b.jsonl"), big.clone()).await;
    put(&s3, &bucket, &format!("{prefix}a.jsonl.gz"), gzip(b"x\n")).await;
    put(
        &s3,
        &bucket,
        &format!(
            "{}c.jsonl",
            keys::feedback_prefix(&acme, DAY.next_day().unwrap())
        ),
        vec![1],
    )
    .await;
    let other = TenantId::parse("acme2").unwrap();
    put(
        &s3,
        &bucket,
        &format!("{}d.jsonl", keys::feedback_prefix(&other, DAY)),
        vec![2],
    )
    .await;
    let feedback = S3FoundRateFeedback::new(s3.clone(), &bucket);

    let objects = feedback.objects(&acme, DAY).await.unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        names,
        vec![format!("{prefix}a.jsonl.gz"), format!("{prefix}b.jsonl")]
    );
    assert_eq!(objects[1].size, big.len() as u64);
    let mut read = Vec::new();
    let mut chunks = feedback.open(&acme, &objects[1]).await.unwrap();
    while let Some(chunk) = chunks.next().await {
        read.extend(chunk.unwrap());
    }
    assert_eq!(read, big);

    // Another tenant's key is refused; a key that does not exist is a rejection, not a retry.
    let theirs = feedback.objects(&other, DAY).await.unwrap();
    assert!(matches!(
        feedback.open(&acme, &theirs[0]).await,
        Err(StoreError::Rejected { .. })
    ));
    let gone = FeedbackObject {
        key: format!("{prefix}gone.jsonl"),
        size: 0,
    };
    let error = feedback.open(&acme, &gone).await.err().unwrap();
    assert!(!error.is_retryable(), "{error}");
    assert!(
        feedback
            .objects(&acme, DAY.previous_day().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_bucket_is_a_rejection() {
    let (s3, _) = bucket("nobucket").await;
    let feedback = S3FoundRateFeedback::new(s3, "t-no-such-bucket");
    let error = feedback
        .objects(&TenantId::parse("acme").unwrap(), DAY)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error}");
}

#[tokio::test]
async fn the_optimizer_runs_on_s3_and_its_report_reads_back() {
    let (s3, bucket) = bucket("optimizer").await;
    let tenant = TenantId::parse("sim-grocer").unwrap();
    let world = FoundRateWorld {
        lines_per_day: 5_000,
        ..FoundRateWorld::standard()
    };
    let lines = world.day_lines(&mut StdRng::seed_from_u64(3));
    let cut = lines
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1_999)
        .unwrap()
        .0
        + 1;
    let (first, second) = lines.split_at(cut);
    let prefix = keys::feedback_prefix(&tenant, DAY);
    put(
        &s3,
        &bucket,
        &format!("{prefix}part-1.jsonl"),
        first.to_vec(),
    )
    .await;
    put(
        &s3,
        &bucket,
        &format!("{prefix}part-2.jsonl.gz"),
        gzip(second),
    )
    .await;
    let configs = Arc::new(MemoryConfigStore::default());
    let settings = OptimizerSettings {
        apply: true,
        min_samples: 100,
        ..OptimizerSettings::default()
    };
    let note = ChangeNote {
        author: "ops".into(),
        at: time::macros::datetime!(2026-04-01 09:00 UTC),
        reason: "set up".into(),
        rollback_of: None,
    };
    configs
        .save(&tenant, &sim_config(&settings), &note, None)
        .await
        .unwrap();
    let reports = Arc::new(S3OptimizerReports::new(s3.clone(), &bucket));
    let optimizer = DeltaOptimizer::new(OptimizerPorts {
        workspaces: Arc::new(MemoryDirectory::default()),
        configs: configs.clone(),
        feedback: Arc::new(S3FoundRateFeedback::new(s3.clone(), &bucket)),
        reports: reports.clone(),
        clock: Arc::new(ManualClock::new(
            time::macros::datetime!(2026-04-03 04:00 UTC),
        )),
    });

    let report = optimizer.run(&tenant, DAY).await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Applied { version: 2 });
    assert_eq!(report.objects, 2);
    assert_eq!(report.rows_used + report.refused.total(), 5_000);
    assert!(
        report
            .segment(Segment::Category, "electronics")
            .unwrap()
            .new_delta
            > 0.0
    );
    // As read back from JSON text (serde_json's float parsing may move the last bit).
    let as_json: OptimizerReport =
        serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(reports.get(&tenant, DAY).await.unwrap(), Some(as_json));
    assert_eq!(
        reports.get(&tenant, DAY.next_day().unwrap()).await.unwrap(),
        None
    );
    let stored = s3
        .get_object()
        .bucket(&bucket)
        .key("availability/optimizer/sim-grocer/2026-04-02.json")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("application/json"));
}
