//! The campaigns engine's AWS adapters against the local endpoint, and a small launch from an
//! export in S3 onto the campaign-events stream.

use crate::support;

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::kinesis::KinesisStream;
use storecast::aws::s3::S3AudienceSource;
use storecast::campaigns::{
    AssumeAvailable, AudienceLocation, AudienceSource, CampaignDefinition, CampaignEngine, Launch,
    SuppressionCheck,
};
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::domain::{CONTRACT_VERSION, MessageId, TenantId};
use storecast::error::{Retryable, StoreError};
use storecast::pipeline::publish::RetryPolicy;
use support::{TestStack, stream_events, test_stack};

async fn put_object(t: &TestStack, key: &str, body: Vec<u8>) -> AudienceLocation {
    let bucket = t.stack.bucket("ArchiveBucket").unwrap().name.clone();
    t.clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
    AudienceLocation {
        bucket,
        key: key.to_string(),
    }
}

fn tenants(t: &TestStack) -> TenantsTable {
    TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    )
}

#[tokio::test]
async fn s3_audience_source_reads_sizes_and_byte_ranges() {
    let t = test_stack("audience-s3").await;
    let body: Vec<u8> = (0..=255u8).cycle().take(5_000).collect();
    let location = put_object(&t, "exports/bytes.bin", body.clone()).await;
    let source = S3AudienceSource::new(t.clients.s3.clone());

    assert_eq!(source.object_size(&location).await.unwrap(), 5_000);
    assert_eq!(
        source.read_range(&location, 3, 10).await.unwrap(),
        body[3..10]
    );
    assert_eq!(
        source.read_range(&location, 4_990, 6_000).await.unwrap(),
        body[4_990..],
        "a range past the end is cut at the end"
    );
    assert!(source.read_range(&location, 7, 7).await.unwrap().is_empty());

    let missing = AudienceLocation {
        key: "exports/missing.jsonl".into(),
        ..location
    };
    let error = source.object_size(&missing).await.unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn tenants_table_answers_which_addresses_are_suppressed_over_many_batches() {
    let t = test_stack("suppression-check").await;
    let table = tenants(&t);
    let alpine = TenantId::parse("alpine").unwrap();
    let harbor = TenantId::parse("harbor").unwrap();
    for address in ["c7@example.com", "C150@Example.com", "c249@example.com"] {
        table
            .add(&alpine, &Suppression::manual(address, 0))
            .await
            .unwrap();
    }
    table
        .add(&harbor, &Suppression::manual("c8@example.com", 0))
        .await
        .unwrap();
    let mut addresses: Vec<String> = (0..250).map(|i| format!("c{i}@example.com")).collect();
    addresses.push("c7@example.com".into());

    let suppressed = table.suppressed(&alpine, &addresses).await.unwrap();

    let expected: HashSet<String> = ["c7@example.com", "c150@example.com", "c249@example.com"]
        .map(String::from)
        .into();
    assert_eq!(suppressed, expected, "only this tenant's list counts");
    assert!(table.suppressed(&alpine, &[]).await.unwrap().is_empty());
}

fn row(i: usize) -> String {
    serde_json::json!({
        "id": format!("cust-{i}"),
        "email": format!("cust-{i}@example.com"),
        "consent": {"email": !i.is_multiple_of(10)},
        "attributes": {"first_name": format!("Customer {i}"), "orders": i % 7},
        "candidates": [
            {"item_id": "boots", "title": "Boots", "url": "https://shop/boots", "price": 90,
             "currency": "EUR", "score": 0.4},
            {"item_id": "hat", "title": "Hat", "url": "https://shop/hat", "price": 20,
             "currency": "EUR", "score": 0.8}
        ]
    })
    .to_string()
}

fn campaign(location: &AudienceLocation) -> CampaignDefinition {
    serde_json::from_value(serde_json::json!({
        "tenant_id": "alpine",
        "campaign_id": "spring",
        "template": {"id": "weekly", "version": 1},
        "channel": "email",
        "audience": {
            "source": location,
            "rules": [{"op": "range", "field": "orders", "min": 1}]
        },
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": 10.0,
        "offers": {"slots": 1}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_campaign_launched_from_s3_lands_on_the_campaign_events_stream_as_the_contract() {
    let t = test_stack("campaign-launch").await;
    let rows: Vec<String> = (0..600).map(row).collect();
    let mut plain = rows.join("\n").into_bytes();
    plain.push(b'\n');
    plain.extend_from_slice(b"{\"id\": oops}\n");
    let plain_location = put_object(&t, "exports/alpine.jsonl", plain.clone()).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    let gzip_location = put_object(&t, "exports/alpine.jsonl.gz", encoder.finish().unwrap()).await;
    let table = tenants(&t);
    let alpine = TenantId::parse("alpine").unwrap();
    table
        .add(&alpine, &Suppression::manual("cust-1@example.com", 0))
        .await
        .unwrap();
    let stream_name = t.stack.stream("CampaignEventsStream").unwrap().name.clone();
    let engine = CampaignEngine {
        source: Arc::new(S3AudienceSource::new(t.clients.s3.clone())),
        suppression: Arc::new(table),
        availability: Arc::new(AssumeAvailable),
        events: Arc::new(KinesisStream::new(t.clients.kinesis.clone(), &stream_name)),
        contacts: Arc::new(tenants(&t)),
        retry: RetryPolicy::default(),
    };
    let now = time::OffsetDateTime::now_utc();

    let launch = Launch::new(campaign(&plain_location), now).unwrap();
    let plan = engine.plan(&launch, 16 * 1024).await.unwrap();
    assert!(plan.len() > 5, "the export is read in several chunks");
    let report = engine.run(&launch, 16 * 1024).await.unwrap();

    assert_eq!(report.rows, 601);
    assert_eq!(report.malformed, 1);
    assert_eq!(report.not_consented, 60);
    assert_eq!(report.suppressed, 1);
    assert_eq!(
        report.held_out + report.matched_total() + report.not_in_segment,
        601 - 1 - 60 - 1
    );
    assert!(report.held_out > 0);
    let events = stream_events(&t, &stream_name).await;
    assert_eq!(events.len() as u64, report.events_emitted);
    assert_eq!(events.len() as u64, report.matched_total());
    for (partition_key, event) in &events {
        assert_eq!(event.contract_version, CONTRACT_VERSION);
        assert_eq!(partition_key, event.message_id.as_str());
        assert_eq!(
            event.message_id,
            MessageId::derive(
                &event.tenant_id,
                &event.campaign_id,
                &event.customer.id,
                event.channel
            )
        );
        assert_eq!(event.offers.len(), 1);
        assert_eq!(event.offers[0].item_id, "hat");
        assert_ne!(event.customer.id.as_str(), "cust-1");
    }

    let gzip_launch = Launch::new(campaign(&gzip_location), now).unwrap();
    let gzip_report = engine.run(&gzip_launch, 16 * 1024).await.unwrap();
    assert_eq!(gzip_report, report, "the gzip export evaluates the same");
    let after = stream_events(&t, &stream_name).await;
    let ids: HashSet<&str> = after.iter().map(|(_, e)| e.message_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        events.len(),
        "the same customers get the same message ids"
    );
}
