use std::sync::Arc;

use crate::costs::{Usage, UsageCounters};
use crate::deliverability::budget::{BudgetAnnouncer, ChannelAnnouncers};
use crate::domain::{BatchId, CampaignEvent, CampaignId, Channel, SendBatch, TenantId, VariantId};
use crate::error::StoreError;
use crate::pipeline::lambda_batch::InboundRecord;
use crate::pipeline::rebatch::Rebatcher;
use crate::pipeline::send_log::DeliveryCounters;
use crate::testing::{ManualClock, MemoryArchive, MemoryBudgetStore, MemorySendLog, MemoryStream};

fn event(tenant: &str, campaign: &str, n: u32) -> CampaignEvent {
    let mut event = crate::testing::samples::sample_event(tenant, campaign, n);
    event.variant = VariantId::parse("A").unwrap();
    event
}

fn records(events: &[CampaignEvent]) -> Vec<InboundRecord> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| InboundRecord {
            sequence_number: format!("{}", 1000 + i),
            partition_key: e.message_id.to_string(),
            data: serde_json::to_vec(e).unwrap(),
            arrived_at: None,
        })
        .collect()
}

async fn usage_of(log: &MemorySendLog, tenant: &str, campaign: &str) -> Usage {
    log.campaign_usage(
        &TenantId::parse(tenant).unwrap(),
        &CampaignId::parse(campaign).unwrap(),
    )
    .await
    .unwrap()
}

/// The PUT units of the send batches of `campaign` the stream holds.
fn put_units_written(stream: &MemoryStream, campaign: &str) -> f64 {
    stream
        .records()
        .iter()
        .filter(|r| {
            let batch: SendBatch = serde_json::from_slice(&r.data).unwrap();
            batch.group.campaign_id.as_str() == campaign
        })
        .map(|r| Usage::put_units(r.data.len()))
        .sum()
}

fn setup() -> (
    Arc<MemoryStream>,
    Arc<MemorySendLog>,
    Arc<MemoryBudgetStore>,
    Rebatcher,
) {
    let stream = Arc::new(MemoryStream::default());
    let log = Arc::new(MemorySendLog::default());
    let email = Arc::new(MemoryBudgetStore::default());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-12-01 09:00 UTC),
    ));
    let rebatcher = Rebatcher::new(stream.clone(), Arc::new(MemoryArchive::default()))
        .with_budget_announcers(ChannelAnnouncers {
            email: Arc::new(BudgetAnnouncer::new(email.clone(), clock.clone())),
            push: Arc::new(BudgetAnnouncer::new(
                Arc::new(MemoryBudgetStore::default()),
                clock,
            )),
        })
        .with_usage(log.clone(), 512);
    (stream, log, email, rebatcher)
}

#[tokio::test]
async fn each_campaign_counts_the_put_units_of_its_own_batches_and_its_share_of_the_invocation() {
    let (stream, log, _, rebatcher) = setup();
    // Two retailers side by side in one invocation: 120 events of alpine's c1, 30 of boreal's c2.
    let mut events: Vec<_> = (0..120).map(|i| event("alpine", "c1", i)).collect();
    events.extend((0..30).map(|i| event("boreal", "c2", i)));
    let outcome = rebatcher.rebatch(&records(&events)).await;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!(outcome.summary.batches, 4);

    let alpine = usage_of(&log, "alpine", "c1").await;
    let boreal = usage_of(&log, "boreal", "c2").await;
    assert_eq!(alpine.kinesis_put_units, put_units_written(&stream, "c1"));
    assert_eq!(boreal.kinesis_put_units, put_units_written(&stream, "c2"));
    assert!(
        alpine.kinesis_put_units >= 3.0,
        "three batches, each at least a unit"
    );
    assert!(boreal.kinesis_put_units >= 1.0);
    // The request and the time are shared by events: 120 to 30.
    assert!((alpine.lambda_requests - 0.8).abs() < 1e-9);
    assert!((boreal.lambda_requests - 0.2).abs() < 1e-9);
    assert!(alpine.lambda_gb_seconds > 0.0);
    assert!((alpine.lambda_gb_seconds - 4.0 * boreal.lambda_gb_seconds).abs() < 1e-9);
    // Each tenant's own announcement: one write each (the in-memory budget counts a unit).
    assert_eq!(alpine.dynamodb_write_units, 1.0);
    assert_eq!(boreal.dynamodb_write_units, 1.0);
    // Nothing of either is counted for a campaign not in the invocation.
    assert!(usage_of(&log, "alpine", "c2").await.is_zero());
    assert!(usage_of(&log, "boreal", "c1").await.is_zero());
}

#[tokio::test]
async fn a_tenants_announcement_is_shared_by_its_campaigns_on_the_channel() {
    let (_, log, _, rebatcher) = setup();
    let mut events: Vec<_> = (0..30).map(|i| event("alpine", "c1", i)).collect();
    events.extend((0..10).map(|i| event("alpine", "c2", i)));
    let mut pushed = event("alpine", "c3", 0);
    pushed.channel = Channel::Push;
    events.push(pushed);
    rebatcher.rebatch(&records(&events)).await;
    let c1 = usage_of(&log, "alpine", "c1").await;
    let c2 = usage_of(&log, "alpine", "c2").await;
    let c3 = usage_of(&log, "alpine", "c3").await;
    // One email announcement (one unit) shared 30 to 10; the push one is c3's alone.
    assert!((c1.dynamodb_write_units - 0.75).abs() < 1e-9);
    assert!((c2.dynamodb_write_units - 0.25).abs() < 1e-9);
    assert_eq!(c3.dynamodb_write_units, 1.0);
}

#[tokio::test]
async fn a_batch_the_stream_did_not_take_counts_no_put_unit() {
    let (stream, log, _, rebatcher) = setup();
    let rebatcher = rebatcher.with_retry(crate::pipeline::publish::RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    });
    stream.fail_always(true);
    let events: Vec<_> = (0..5).map(|i| event("alpine", "c1", i)).collect();
    let outcome = rebatcher.rebatch(&records(&events)).await;
    assert!(!outcome.failed_positions.is_empty());
    let usage = usage_of(&log, "alpine", "c1").await;
    assert_eq!(usage.kinesis_put_units, 0.0);
    // The time spent is still the campaign's.
    assert_eq!(usage.lambda_requests, 1.0);
}

/// Usage counters that are down.
struct DownCounters;

#[async_trait::async_trait]
impl UsageCounters for DownCounters {
    async fn add_usage(
        &self,
        _: &TenantId,
        _: &CampaignId,
        _: &BatchId,
        _: &Usage,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable {
            store: "delivery table",
            source: "down".into(),
        })
    }
}

#[tokio::test]
async fn a_usage_write_that_fails_is_counted_and_never_fails_a_record() {
    let stream = Arc::new(MemoryStream::default());
    let rebatcher = Rebatcher::new(stream.clone(), Arc::new(MemoryArchive::default()))
        .with_usage(Arc::new(DownCounters), 512);
    let events: Vec<_> = (0..3).map(|i| event("alpine", "c1", i)).collect();
    let outcome = rebatcher.rebatch(&records(&events)).await;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!(stream.records().len(), 1);
    let not_counted: Vec<_> = rebatcher
        .metrics()
        .documents(0)
        .into_iter()
        .filter_map(|d| Some((d["TenantId"].clone(), d.get("UsageNotCounted")?.clone())))
        .collect();
    assert_eq!(
        not_counted,
        [(serde_json::json!("alpine"), serde_json::json!(1.0))]
    );
}
