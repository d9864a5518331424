//! The campaign lifecycle against the local endpoint: the DynamoDB campaign store (records with
//! revisions and their delivery status item, chunk progress, the schedule index), and a launch
//! whose chunks run through the launch queue's mapping as parallel invocations would.

use crate::support;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::dynamodb::campaigns::DynamoCampaignStore;
use storecast::aws::launch_queue::SqsChunkQueue;
use storecast::campaigns::report::LaunchReport;
use storecast::campaigns::{
    CampaignRecord, CampaignState, CampaignStore, ChunkCheckpoint, ChunkProgress, ChunkQueue,
    ChunkStatus, LaunchId, LaunchKey, NewCampaign, ScheduleEntry,
};
use storecast::directory::DeliveryDirectory;
use storecast::domain::{CampaignEvent, CampaignId, CampaignStatus, QuietHoursZone, TenantId};
use storecast::testing::samples::{SAMPLE_TEMPLATE_ID, seed_retailer};
use storecast_dev::local::campaigns::LocalCampaigns;
use support::{TestStack, stream_events, test_stack};
use time::macros::datetime;

fn tenants_table(t: &TestStack) -> String {
    t.stack.table("TenantsTable").unwrap().name.clone()
}

fn record(tenant: &str, campaign: &str) -> CampaignRecord {
    CampaignRecord {
        definition: serde_json::from_value(serde_json::json!({
            "tenant_id": tenant,
            "campaign_id": campaign,
            "template": {"id": "weekly", "version": 0},
            "channel": "email",
            "audience": {"source": {"bucket": "exports", "key": format!("{tenant}/c.jsonl")}},
            "variants": [{"id": "A", "weight": 1}],
            "holdout_percent": 0.0,
            "offers": {"slots": 1}
        }))
        .unwrap(),
        name: format!("Campaign {campaign}"),
        state: CampaignState::Draft,
        schedule: Some("2026-12-01T09:00".into()),
        created_at: datetime!(2026-11-20 10:00:00.5 UTC),
        updated_at: datetime!(2026-11-20 10:00:00.5 UTC),
        launch: None,
        revision: 1,
    }
}

#[tokio::test]
async fn campaign_records_are_conditional_per_tenant_and_keep_the_delivery_status_in_step() {
    let t = test_stack("campaign-store").await;
    let store = DynamoCampaignStore::new(t.clients.dynamodb.clone(), tenants_table(&t));
    let directory = TenantsTable::new(t.clients.dynamodb.clone(), tenants_table(&t));
    let alpine = TenantId::parse("alpine").unwrap();
    let spring = CampaignId::parse("spring").unwrap();
    let first = record("alpine", "spring");

    assert!(store.create(&first).await.unwrap());
    assert!(!store.create(&first).await.unwrap(), "the same id twice");
    assert_eq!(
        store.get(&alpine, &spring).await.unwrap(),
        Some(first.clone())
    );
    let harbor = TenantId::parse("harbor").unwrap();
    assert_eq!(store.get(&harbor, &spring).await.unwrap(), None);
    let status = |campaign: CampaignId| {
        let directory = &directory;
        let alpine = alpine.clone();
        async move {
            directory
                .delivery_context(&alpine, &campaign, &[])
                .await
                .unwrap()
                .campaign_status
        }
    };
    assert_eq!(status(spring.clone()).await, Some(CampaignStatus::Active));
    let zone = |campaign: CampaignId| {
        let directory = &directory;
        let alpine = alpine.clone();
        async move {
            directory
                .delivery_context(&alpine, &campaign, &[])
                .await
                .unwrap()
                .campaign_quiet_hours
        }
    };
    assert_eq!(zone(spring.clone()).await, QuietHoursZone::Retailer);

    let mut paused = first.clone();
    paused.state = CampaignState::Paused;
    paused.revision = 2;
    paused.definition.quiet_hours_zone = QuietHoursZone::Customer;
    assert!(store.update(&paused).await.unwrap());
    assert_eq!(status(spring.clone()).await, Some(CampaignStatus::Paused));
    assert_eq!(
        zone(spring.clone()).await,
        QuietHoursZone::Customer,
        "written with the status"
    );
    let mut stale = first.clone();
    stale.state = CampaignState::Cancelled;
    stale.revision = 2;
    assert!(!store.update(&stale).await.unwrap(), "revision 2 is taken");
    assert_eq!(status(spring.clone()).await, Some(CampaignStatus::Paused));
    assert_eq!(
        store.get(&alpine, &spring).await.unwrap().unwrap().state,
        CampaignState::Paused
    );

    for name in ["c1", "c2", "c3", "c4"] {
        assert!(store.create(&record("alpine", name)).await.unwrap());
    }
    assert!(store.create(&record("harbor", "h1")).await.unwrap());
    let ids = |records: Vec<CampaignRecord>| -> Vec<String> {
        records
            .iter()
            .map(|r| r.campaign_id().to_string())
            .collect()
    };
    assert_eq!(
        ids(store.list(&alpine, None, 3).await.unwrap()),
        ["c1", "c2", "c3"]
    );
    let after = CampaignId::parse("c3").unwrap();
    assert_eq!(
        ids(store.list(&alpine, Some(&after), 10).await.unwrap()),
        ["c4", "spring"]
    );

    // A draft is deleted with its delivery status item, only at the revision read and only
    // while it is a draft.
    let paused_spring = store.get(&alpine, &spring).await.unwrap().unwrap();
    assert!(
        !store.delete_draft(&paused_spring).await.unwrap(),
        "not a draft"
    );
    let c1 = CampaignId::parse("c1").unwrap();
    let mut draft = store.get(&alpine, &c1).await.unwrap().unwrap();
    draft.revision = 5;
    assert!(
        !store.delete_draft(&draft).await.unwrap(),
        "another revision"
    );
    draft.revision = 1;
    assert!(store.delete_draft(&draft).await.unwrap());
    assert_eq!(store.get(&alpine, &c1).await.unwrap(), None);
    assert_eq!(
        status(c1.clone()).await,
        None,
        "the status item went with it"
    );
    assert!(!store.delete_draft(&draft).await.unwrap(), "already gone");
    assert!(
        store
            .get(&harbor, &CampaignId::parse("h1").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn chunk_progress_is_idempotent_and_the_schedule_is_read_by_due_time() {
    let t = test_stack("campaign-progress").await;
    let store = DynamoCampaignStore::new(t.clients.dynamodb.clone(), tenants_table(&t));
    let launch = LaunchKey {
        tenant_id: TenantId::parse("alpine").unwrap(),
        campaign_id: CampaignId::parse("spring").unwrap(),
        launch_id: LaunchId::generate(),
    };
    let chunks: Vec<ChunkProgress> = (0..30)
        .map(|index| ChunkProgress {
            index,
            start: u64::from(index) * 100,
            end: u64::from(index + 1) * 100,
            status: ChunkStatus::Pending,
            attempts: 0,
            report: None,
            last_error: None,
            checkpoint: None,
        })
        .collect();
    store.put_chunks(&launch, &chunks).await.unwrap();
    assert_eq!(
        store.chunks(&launch).await.unwrap(),
        chunks,
        "over two BatchWriteItem calls"
    );

    let mut report = LaunchReport {
        rows: 12,
        events_emitted: 7,
        ..LaunchReport::default()
    };
    report.matched.insert("A".into(), 7);
    assert!(store.finish_chunk(&launch, 3, &report).await.unwrap());
    assert!(
        !store.finish_chunk(&launch, 3, &report).await.unwrap(),
        "done once"
    );
    store
        .fail_chunk(&launch, 3, "late failure", true)
        .await
        .unwrap();
    store
        .fail_chunk(&launch, 4, "throttled", false)
        .await
        .unwrap();
    store
        .fail_chunk(&launch, 5, "corrupt gzip", true)
        .await
        .unwrap();
    let three = store.chunk(&launch, 3).await.unwrap().unwrap();
    assert_eq!((three.status, three.attempts), (ChunkStatus::Done, 0));
    assert_eq!(three.report, Some(report));
    let four = store.chunk(&launch, 4).await.unwrap().unwrap();
    assert_eq!((four.status, four.attempts), (ChunkStatus::Pending, 1));
    assert_eq!(four.last_error.as_deref(), Some("throttled"));
    let five = store.chunk(&launch, 5).await.unwrap().unwrap();
    assert_eq!(five.status, ChunkStatus::Failed);
    assert_eq!(store.chunk(&launch, 30).await.unwrap(), None);

    // A checkpoint moves forward only, and only on a pending chunk.
    let at = |last_row: u64, rows: u64| ChunkCheckpoint {
        last_row,
        report: LaunchReport {
            rows,
            ..LaunchReport::default()
        },
    };
    assert!(
        store
            .checkpoint_chunk(&launch, 4, &at(40, 5))
            .await
            .unwrap()
    );
    assert!(
        store
            .checkpoint_chunk(&launch, 4, &at(70, 9))
            .await
            .unwrap()
    );
    assert!(
        !store
            .checkpoint_chunk(&launch, 4, &at(50, 6))
            .await
            .unwrap(),
        "not back"
    );
    assert!(
        !store
            .checkpoint_chunk(&launch, 4, &at(70, 9))
            .await
            .unwrap(),
        "not again"
    );
    assert!(
        !store
            .checkpoint_chunk(&launch, 3, &at(90, 1))
            .await
            .unwrap(),
        "done"
    );
    assert!(
        !store
            .checkpoint_chunk(&launch, 5, &at(90, 1))
            .await
            .unwrap(),
        "failed"
    );
    let four = store.chunk(&launch, 4).await.unwrap().unwrap();
    assert_eq!(four.checkpoint, Some(at(70, 9)));
    assert_eq!(
        store.chunk(&launch, 3).await.unwrap().unwrap().checkpoint,
        None
    );

    let now = datetime!(2026-12-01 07:00 UTC);
    let entry = |due, tenant: &str| ScheduleEntry {
        due,
        launch: LaunchKey {
            tenant_id: TenantId::parse(tenant).unwrap(),
            ..launch.clone()
        },
    };
    let early = entry(now - time::Duration::minutes(10), "harbor");
    let on_time = entry(now, "alpine");
    let later = entry(now + time::Duration::seconds(1), "alpine");
    for e in [&later, &on_time, &early] {
        store.schedule(e).await.unwrap();
    }
    assert_eq!(
        store.due(now, 10).await.unwrap(),
        vec![early.clone(), on_time.clone()]
    );
    store.unschedule(&early).await.unwrap();
    assert_eq!(store.due(now, 10).await.unwrap(), vec![on_time]);
}

fn row(i: usize) -> String {
    serde_json::json!({
        "id": format!("cust-{i}"),
        "email": format!("cust-{i}@example.com"),
        "consent": {"email": !i.is_multiple_of(10)},
        "attributes": {"first_name": format!("Customer {i}")},
        "candidates": [{"item_id": "hat", "title": "Hat", "url": "https://shop/hat", "price": 20,
                        "currency": "EUR", "score": 0.8}]
    })
    .to_string()
}

#[tokio::test]
async fn a_launch_runs_its_chunks_through_the_launch_queue() {
    let t = test_stack("launch-queue").await;
    let table = TenantsTable::new(t.clients.dynamodb.clone(), tenants_table(&t));
    seed_retailer(&table, "alpine", "unrelated", &t.sending_domain)
        .await
        .unwrap();
    let exports = t.stack.bucket("ExportsBucket").unwrap().name.clone();
    let mut body: String = (0..200).map(|i| row(i) + "\n").collect();
    body.push_str("{\"id\": oops}\n");
    t.clients
        .s3
        .put_object()
        .bucket(&exports)
        .key("alpine/customers.jsonl")
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await
        .unwrap();
    let sdk = t.endpoint.sdk_config().await;
    let local =
        LocalCampaigns::new(&t.stack, &t.clients, &sdk, &[("CHUNK_BYTES", "8192")]).unwrap();
    let alpine = TenantId::parse("alpine").unwrap();
    let spring = CampaignId::parse("spring").unwrap();
    let request: NewCampaign = serde_json::from_value(serde_json::json!({
        "campaign_id": "spring",
        "name": "Spring sale",
        "template": {"id": SAMPLE_TEMPLATE_ID, "version": 1},
        "channel": "email",
        "audience": {"source": {"bucket": exports, "key": "alpine/customers.jsonl"}},
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": 10.0,
        "offers": {"slots": 1}
    }))
    .unwrap();
    local.campaigns.create(&alpine, request).await.unwrap();

    let accepted = local.campaigns.launch(&alpine, &spring).await.unwrap();
    assert_eq!(accepted.state, CampaignState::Launching);
    let chunks = local
        .campaigns
        .get(&alpine, &spring)
        .await
        .unwrap()
        .launch
        .unwrap()
        .chunks;
    assert!(chunks > 3, "{chunks} chunks");

    let stats = local.drain_launch_queue().await.unwrap();

    assert_eq!(stats.messages, u64::from(chunks), "one message per chunk");
    assert_eq!(stats.failures, 0);
    let view = local.campaigns.get(&alpine, &spring).await.unwrap();
    assert_eq!(view.state, CampaignState::Sent);
    let campaign_stats = local.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(campaign_stats.progress.chunks_done, chunks);
    assert_eq!(campaign_stats.rows, 201);
    assert_eq!(campaign_stats.skipped.malformed, 1);
    assert_eq!(campaign_stats.skipped.not_consented, 20);
    let matched: u64 = campaign_stats.matched.values().sum();
    assert_eq!(matched + campaign_stats.held_out, 180);
    let stream = t.stack.stream("CampaignEventsStream").unwrap().name.clone();
    let events: Vec<CampaignEvent> = stream_events(&t, &stream)
        .await
        .into_iter()
        .map(|(_, event)| event)
        .collect();
    assert_eq!(events.len() as u64, campaign_stats.events_emitted);
    assert_eq!(events.len() as u64, matched);
    // Each chunk added its usage to the campaign (docs/operations.md, "Cost per send"): one PUT
    // unit per event (each under 25 KB), its time, and the DynamoDB units of its reads and
    // writes (the endpoint reports capacity for the single-item calls).
    let usage = campaign_stats.cost.usage;
    assert_eq!(usage.kinesis_put_units, events.len() as f64);
    assert!(usage.lambda_gb_seconds > 0.0, "{usage:?}");
    assert!(usage.lambda_requests >= 1.0, "{usage:?}");
    assert!(
        usage.dynamodb_read_units >= f64::from(chunks),
        "the chunk's reads at least: {usage:?}"
    );
    assert!(
        usage.dynamodb_write_units >= f64::from(2 * chunks),
        "the chunk's finish and its usage update at least: {usage:?}"
    );
    assert_eq!(usage.ses_messages, 0.0);
    // The status item delivery reads is in step with the record.
    let context = table.delivery_context(&alpine, &spring, &[]).await.unwrap();
    assert_eq!(context.campaign_status, Some(CampaignStatus::Active));

    // A message the worker cannot read comes back until the queue gives it to its dead-letter
    // queue.
    let queue = t.stack.queue("LaunchQueue").unwrap();
    t.clients
        .sqs
        .send_message()
        .queue_url(&queue.url)
        .message_body("{\"not\": \"a chunk\"}")
        .send()
        .await
        .unwrap();
    let stats = local.drain_launch_queue().await.unwrap();
    let (_, receives) = queue.dead_letter.clone().unwrap();
    assert_eq!(stats.failures, u64::from(receives));
    let dead_letter_url = &t.stack.queue("LaunchDeadLetterQueue").unwrap().url;
    assert_eq!(
        local.runner().peek(dead_letter_url).await.unwrap(),
        ["{\"not\": \"a chunk\"}"]
    );
}

#[tokio::test]
async fn a_chunk_to_retry_is_visible_again_after_the_delay_asked_for() {
    // GIVEN a received launch message, hidden for the queue's visibility timeout
    let t = test_stack("launch-retry").await;
    let url = t.stack.queue("LaunchQueue").unwrap().url.clone();
    let sqs = &t.clients.sqs;
    sqs.send_message()
        .queue_url(&url)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let receive = || async {
        sqs.receive_message()
            .queue_url(&url)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap()
            .messages()
            .to_vec()
    };
    let first = receive().await;
    let receipt = first[0].receipt_handle().unwrap();
    assert!(receive().await.is_empty(), "hidden");

    // WHEN the worker asks for it back at once
    let queue = SqsChunkQueue::new(sqs.clone(), url.clone());
    queue.retry_after(receipt, Duration::ZERO).await.unwrap();

    // THEN it is received again, counted as the second receive
    let again = receive().await;
    assert_eq!(again.len(), 1);
    let count = again[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(count.as_deref(), Some("2"));
}
