//! The lifecycle on in-memory adapters: create, launch, chunks through the queue's handler,
//! the scheduler, pause / resume / cancel, and stats reconciled with what delivery recorded.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use time::OffsetDateTime;
use time::macros::datetime;

use super::lifecycle::*;
use super::queue::ChunkMessage;
use super::store::{CampaignState, CampaignStore, ChunkStatus};
use super::{AssumeAvailable, AudienceLocation, CampaignEngine};
use crate::clock::Clock;
use crate::deliverability::suppression::{Suppression, SuppressionList as _};
use crate::directory::DeliveryDirectory;
use crate::directory::TenantAdmin;
use crate::domain::{
    CampaignEvent, CampaignId, CampaignStatus, QuietHours, TenantId, TenantStatus,
};
use crate::error::Retryable;
use crate::pipeline::archive::Archive;
use crate::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
use crate::pipeline::lambda_batch::InboundRecord;
use crate::pipeline::parked::CountedArchive;
use crate::pipeline::publish::RetryPolicy;
use crate::pipeline::publish::StreamRecord;
use crate::pipeline::rebatch::Rebatcher;
use crate::pipeline::redrive::RedriveState;
use crate::pipeline::redrive::worker::START_SLICE;
use crate::testing::ManualClock;
use crate::testing::samples::{
    SAMPLE_TEMPLATE_ID, sample_template_version, sample_workspace, seed_retailer,
};
use crate::testing::{
    MemoryArchive, MemoryAudienceSource, MemoryDirectory, MemoryEmailProvider, MemorySendLog,
    MemoryStream,
};
use crate::testing::{MemoryCampaignStore, MemoryChunkQueue};

const START: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
const DOMAIN: &str = "mail.example";

struct World {
    campaigns: Campaigns,
    clock: Arc<ManualClock>,
    directory: Arc<MemoryDirectory>,
    store: Arc<MemoryCampaignStore>,
    queue: Arc<MemoryChunkQueue>,
    source: Arc<MemoryAudienceSource>,
    events: Arc<MemoryStream>,
    send_batches: Arc<MemoryStream>,
    /// The in-memory archive, counting its parked batches.
    archive: Arc<CountedArchive>,
    send_log: Arc<MemorySendLog>,
    provider: Arc<MemoryEmailProvider>,
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn cid(name: &str) -> CampaignId {
    CampaignId::parse(name).unwrap()
}

async fn world() -> World {
    // Small chunks: the test export is cut into several.
    world_with_chunks_of(2_000).await
}

async fn world_with_chunks_of(chunk_bytes: u64) -> World {
    let clock = Arc::new(ManualClock::new(START));
    let directory = Arc::new(MemoryDirectory::default());
    for retailer in ["alpine", "harbor"] {
        seed_retailer(directory.as_ref(), retailer, "seeded", DOMAIN)
            .await
            .unwrap();
    }
    let store = Arc::new(MemoryCampaignStore::syncing_status_to(directory.clone()));
    let queue = Arc::new(MemoryChunkQueue::default());
    let source = Arc::new(MemoryAudienceSource::default());
    let events = Arc::new(MemoryStream::default());
    let send_batches = Arc::new(MemoryStream::default());
    let parked = Arc::new(crate::testing::MemoryParkedCounts::default());
    let archive = Arc::new(CountedArchive::new(
        Arc::new(MemoryArchive::default()),
        parked.clone(),
    ));
    let send_log = Arc::new(MemorySendLog::default());
    let redrive_jobs = Arc::new(crate::testing::MemoryRedriveJobs::default());
    let engine = Arc::new(CampaignEngine {
        source: source.clone(),
        suppression: directory.clone(),
        contacts: Arc::new(crate::testing::MemoryContactHistory::default()),
        availability: Arc::new(AssumeAvailable),
        events: events.clone(),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    });
    let campaigns = Campaigns::new(
        CampaignPorts {
            store: store.clone(),
            queue: queue.clone(),
            directory: directory.clone(),
            templates: directory.clone(),
            admin: directory.clone(),
            archive: archive.clone(),
            parked,
            send_batches: send_batches.clone(),
            redrive_jobs: redrive_jobs.clone(),
            delivery: send_log.clone(),
            send_log: send_log.clone(),
            feedback: Arc::new(crate::testing::MemoryFeedbackCounters::default()),
            engine,
            clock: clock.clone(),
        },
        CampaignsConfig {
            chunk_bytes,
            exports_bucket: Some("exports".into()),
            max_chunk_attempts: 3,
            chunk_retry: Default::default(),
            ..Default::default()
        },
    );
    World {
        campaigns,
        clock,
        directory,
        store,
        queue,
        source,
        events,
        send_batches,
        archive,
        send_log,
        provider: Arc::new(MemoryEmailProvider::keeping_messages()),
    }
}

/// Customer `i`: every 10th without consent, every 15th without an email address, tier gold
/// for two thirds.
fn row(i: usize) -> String {
    let email = (!i.is_multiple_of(15)).then(|| format!("c{i}@example.com"));
    serde_json::json!({
        "id": format!("c{i}"),
        "email": email,
        "consent": {"email": !i.is_multiple_of(10)},
        "attributes": {"tier": if i.is_multiple_of(3) { "bronze" } else { "gold" }, "first_name": format!("C{i}")},
        "candidates": [{"item_id": "boots", "title": "Boots", "url": "https://s/b", "price": 90,
                        "currency": "EUR", "score": 0.5}]
    })
    .to_string()
}

const ROWS: usize = 120;

fn put_export(w: &World, tenant: &str, rows: usize) -> AudienceLocation {
    let location = AudienceLocation {
        bucket: "exports".into(),
        key: format!("{tenant}/customers.jsonl"),
    };
    let mut text: String = (0..rows).map(|i| row(i) + "\n").collect();
    text.push_str("{\"id\": \"broken\n");
    w.source.put(&location, text.into_bytes());
    location
}

fn new_campaign(id: &str, tenant: &str, schedule: Option<&str>) -> NewCampaign {
    serde_json::from_value(serde_json::json!({
        "campaign_id": id,
        "name": format!("Campaign {id}"),
        "template": {"id": SAMPLE_TEMPLATE_ID, "version": 1},
        "channel": "email",
        "audience": {
            "source": {"bucket": "exports", "key": format!("{tenant}/customers.jsonl")},
            "rules": [{"op": "equals", "field": "tier", "value": "gold"}]
        },
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": 10.0,
        "offers": {"slots": 2},
        "schedule": schedule,
    }))
    .unwrap()
}

fn sqs_event(messages: &[ChunkMessage], receive_count: u32) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "messageId": format!("msg-{}-{i}", m.index),
                "receiptHandle": "r",
                "body": serde_json::to_string(m).unwrap(),
                "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:launch",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn emitted(w: &World) -> Vec<CampaignEvent> {
    w.events
        .records()
        .iter()
        .map(|r| serde_json::from_slice(&r.data).unwrap())
        .collect()
}

fn inbound(records: Vec<StreamRecord>) -> Vec<InboundRecord> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| InboundRecord {
            sequence_number: (i + 1).to_string(),
            partition_key: r.partition_key,
            data: r.data,
            arrived_at: None,
        })
        .collect()
}

/// Campaign events → rebatch → deliver, everything on the streams so far.
async fn deliver_all(w: &World) {
    let rebatcher = Rebatcher::new(w.send_batches.clone(), w.archive.clone());
    let outcome = rebatcher.rebatch(&inbound(w.events.take_records())).await;
    assert!(outcome.failed_positions.is_empty());
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: w.directory.clone(),
            templates: w.directory.clone(),
            send_log: w.send_log.clone(),
            provider: w.provider.clone(),
            archive: w.archive.clone(),
            clock: w.clock.clone(),
            unsubscribe: crate::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    );
    let deadline = w.clock.now() + time::Duration::seconds(60);
    let outcome = deliverer
        .deliver(&inbound(w.send_batches.take_records()), deadline)
        .await;
    assert!(outcome.failed_positions.is_empty());
}

async fn status(w: &World, tenant: &str, campaign: &str) -> Option<CampaignStatus> {
    w.directory
        .delivery_context(&self::tenant(tenant), &cid(campaign), &[])
        .await
        .unwrap()
        .campaign_status
}

#[tokio::test]
async fn a_duplicate_id_is_a_conflict_and_invalid_fields_are_named() {
    let w = world().await;
    let alpine = tenant("alpine");
    let view = w
        .campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    assert_eq!(view.state, CampaignState::Draft);
    assert_eq!(view.definition.tenant_id, alpine, "the caller's tenant");
    assert_eq!(
        status(&w, "alpine", "spring").await,
        Some(CampaignStatus::Active)
    );
    let again = w
        .campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap_err();
    assert!(matches!(again, CampaignError::Conflict(_)), "{again:?}");
    // The same id under another tenant is another campaign.
    w.campaigns
        .create(&tenant("harbor"), new_campaign("spring", "harbor", None))
        .await
        .unwrap();

    let field = |error: CampaignError| match error {
        CampaignError::Invalid(invalid) => invalid.field,
        other => panic!("{other:?}"),
    };
    let mut bad = new_campaign("x1", "alpine", None);
    bad.name = " ".into();
    assert_eq!(
        field(w.campaigns.create(&alpine, bad).await.unwrap_err()),
        "name"
    );
    let mut bad = new_campaign("x2", "alpine", None);
    bad.holdout_percent = 80.0;
    assert_eq!(
        field(w.campaigns.create(&alpine, bad).await.unwrap_err()),
        "holdout_percent"
    );
    // Another tenant's export is out of reach.
    let bad = new_campaign("x3", "harbor", None);
    assert_eq!(
        field(w.campaigns.create(&alpine, bad).await.unwrap_err()),
        "audience.source.key"
    );
    let mut bad = new_campaign("x4", "alpine", None);
    bad.audience.source.bucket = "elsewhere".into();
    assert_eq!(
        field(w.campaigns.create(&alpine, bad).await.unwrap_err()),
        "audience.source.bucket"
    );
    let bad = new_campaign("x5", "alpine", Some("tomorrow 9am"));
    assert_eq!(
        field(w.campaigns.create(&alpine, bad).await.unwrap_err()),
        "schedule"
    );
    let unknown = serde_json::from_value::<NewCampaign>(serde_json::json!({
        "campaign_id": "x6", "name": "n", "template": {"id": "t"}, "channel": "email",
        "audience": {"source": {"bucket": "exports", "key": "alpine/c.jsonl"}},
        "variants": [{"id": "A", "weight": 1}], "offers": {"slots": 1}, "tenant_id": "harbor"
    }));
    assert!(
        unknown.is_err(),
        "unknown fields (a tenant id above all) are refused"
    );
}

#[tokio::test]
async fn another_tenants_campaign_is_not_found() {
    let w = world().await;
    put_export(&w, "alpine", 10);
    w.campaigns
        .create(&tenant("alpine"), new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    let harbor = tenant("harbor");
    let spring = cid("spring");
    for result in [
        w.campaigns.get(&harbor, &spring).await.map(|_| ()),
        w.campaigns.launch(&harbor, &spring).await.map(|_| ()),
        w.campaigns.pause(&harbor, &spring).await.map(|_| ()),
        w.campaigns.cancel(&harbor, &spring).await.map(|_| ()),
        w.campaigns.stats(&harbor, &spring).await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(CampaignError::NotFound)), "{result:?}");
    }
    assert!(
        w.campaigns
            .list(&harbor, None, 10)
            .await
            .unwrap()
            .campaigns
            .is_empty()
    );
    assert!(w.queue.take().is_empty());
}

#[tokio::test]
async fn transitions_the_state_does_not_allow_are_conflicts() {
    let w = world().await;
    put_export(&w, "alpine", 10);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    for result in [
        w.campaigns.resume(&alpine, &spring).await.map(|_| ()),
        w.campaigns.pause(&alpine, &spring).await.map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(CampaignError::Conflict(_))),
            "{result:?}"
        );
    }
    let cancelled = w.campaigns.cancel(&alpine, &spring).await.unwrap();
    assert_eq!(cancelled.state, CampaignState::Cancelled);
    assert_eq!(
        status(&w, "alpine", "spring").await,
        Some(CampaignStatus::Cancelled)
    );
    for result in [
        w.campaigns.launch(&alpine, &spring).await.map(|_| ()),
        w.campaigns.resume(&alpine, &spring).await.map(|_| ()),
        w.campaigns.pause(&alpine, &spring).await.map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(CampaignError::Conflict(_))),
            "{result:?}"
        );
    }
    assert!(w.queue.take().is_empty(), "nothing was queued");
}

#[tokio::test]
async fn a_launch_needs_an_active_tenant_and_a_published_template() {
    let w = world().await;
    put_export(&w, "alpine", 10);
    let alpine = tenant("alpine");
    let mut unpublished = new_campaign("v9", "alpine", None);
    unpublished.template.version = Some(9);
    w.campaigns.create(&alpine, unpublished).await.unwrap();
    let error = w.campaigns.launch(&alpine, &cid("v9")).await.unwrap_err();
    assert!(
        matches!(&error, CampaignError::Invalid(i) if i.field == "template"),
        "{error:?}"
    );

    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.status = TenantStatus::Suspended;
    w.directory.put_workspace(&workspace).await.unwrap();
    let error = w
        .campaigns
        .launch(&alpine, &cid("spring"))
        .await
        .unwrap_err();
    assert!(matches!(error, CampaignError::TenantNotActive), "{error:?}");
    assert_eq!(
        w.campaigns
            .get(&alpine, &cid("spring"))
            .await
            .unwrap()
            .state,
        CampaignState::Draft
    );
}

#[tokio::test]
async fn a_launch_pins_the_live_template_version_so_a_later_publish_never_reaches_it() {
    use crate::templates::ports::TemplatePublisher as _;
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let mut never_published = new_campaign("nothing-live", "alpine", None);
    never_published.template.version = None;
    w.campaigns.create(&alpine, never_published).await.unwrap();
    let error = w
        .campaigns
        .launch(&alpine, &cid("nothing-live"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CampaignError::Invalid(i) if i.field == "template" && i.reason.contains("no live version")),
        "{error:?}"
    );

    w.directory
        .publish(&sample_template_version("alpine", 2), None)
        .await
        .unwrap();
    let mut live = new_campaign("live", "alpine", None);
    live.template.version = None;
    w.campaigns.create(&alpine, live).await.unwrap();
    w.campaigns.launch(&alpine, &cid("live")).await.unwrap();
    // A marketer publishes version 3 while the launch's chunks wait in the queue.
    w.directory
        .publish(&sample_template_version("alpine", 3), Some(2))
        .await
        .unwrap();
    for message in w.queue.take() {
        let response = w
            .campaigns
            .handle_chunk_messages(sqs_event(std::slice::from_ref(&message), 1))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }

    let events = emitted(&w);
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|event| event.template.version == 2),
        "every recipient gets the version live at launch"
    );
    let view = w.campaigns.get(&alpine, &cid("live")).await.unwrap();
    assert_eq!(
        view.definition.template.version, 2,
        "and the campaign says which"
    );
}

#[tokio::test]
async fn a_launch_fans_out_per_chunk_and_the_stats_add_up_with_delivery() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();

    let accepted = w.campaigns.launch(&alpine, &spring).await.unwrap();

    assert_eq!(accepted.state, CampaignState::Launching);
    let messages = w.queue.take();
    assert!(messages.len() > 3, "{} chunks", messages.len());
    let again = w.campaigns.launch(&alpine, &spring).await.unwrap();
    assert_eq!(
        again.launch_id, accepted.launch_id,
        "a repeated launch is the same launch"
    );
    assert!(w.queue.take().is_empty(), "and queues nothing again");
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(stats.progress.chunks_pending, messages.len() as u32);

    // Each chunk in its own invocation, last one first: order does not matter.
    for message in messages.iter().rev() {
        let response = w
            .campaigns
            .handle_chunk_messages(sqs_event(std::slice::from_ref(message), 1))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(
        w.campaigns.get(&alpine, &spring).await.unwrap().state,
        CampaignState::Sent
    );
    // A customer unsubscribes after the launch: delivery checks the list again.
    let events = emitted(&w);
    let unsubscribed = events[0].customer.email.clone().unwrap().to_uppercase();
    w.directory
        .add(&alpine, &Suppression::manual(&unsubscribed, 0))
        .await
        .unwrap();
    deliver_all(&w).await;

    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(stats.state, CampaignState::Sent);
    assert_eq!(stats.progress.chunks_done, messages.len() as u32);
    assert_eq!(stats.rows, ROWS as u64 + 1);
    assert_eq!(stats.skipped.malformed, 1);
    let not_consented = (0..ROWS).filter(|i| i.is_multiple_of(10)).count() as u64;
    let no_address = (0..ROWS)
        .filter(|i| !i.is_multiple_of(10) && i.is_multiple_of(15))
        .count() as u64;
    assert_eq!(stats.skipped.not_consented, not_consented);
    assert_eq!(stats.skipped.no_address, no_address);
    let matched: u64 = stats.matched.values().sum();
    assert_eq!(
        stats.rows,
        stats.skipped.malformed
            + not_consented
            + no_address
            + stats.skipped.suppressed
            + stats.skipped.not_in_segment
            + stats.held_out
            + matched
    );
    assert_eq!(stats.events_emitted, matched);
    assert_eq!(events.len() as u64, matched);
    assert_eq!(stats.delivery.suppressed, 1);
    assert_eq!(
        stats.delivery.sent + stats.delivery.suppressed + stats.delivery.failed,
        matched
    );
    assert_eq!(stats.delivery.sent, w.provider.sent_count());
    assert_eq!((stats.delivery.in_flight, stats.delivery.parked), (0, 0));
}

#[tokio::test]
async fn a_failed_chunk_is_retried_alone_and_a_done_chunk_emits_nothing_new() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    let messages = w.queue.take();

    // The stream refuses everything while the first two chunks run in one invocation.
    w.events.fail_always(true);
    let response = w
        .campaigns
        .handle_chunk_messages(sqs_event(&messages[..2], 1))
        .await;
    w.events.fail_always(false);
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        ["msg-0-0", "msg-1-1"],
        "each failed message reported"
    );
    let response = w
        .campaigns
        .handle_chunk_messages(sqs_event(&messages[1..], 1))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        w.campaigns.get(&alpine, &spring).await.unwrap().state,
        CampaignState::Launching,
        "chunk 0 is not done"
    );
    let before_retry = emitted(&w).len();

    // SQS delivers chunk 0 again: only it runs.
    let outcome = w.campaigns.run_chunk(&messages[0], 2).await.unwrap();
    assert!(
        matches!(
            outcome,
            ChunkOutcome::Done {
                completed_launch: true,
                ..
            }
        ),
        "{outcome:?}"
    );
    let all = emitted(&w);
    assert!(all.len() > before_retry);
    let ids: HashSet<_> = all.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "every customer once");
    let record = w.store.get(&alpine, &spring).await.unwrap().unwrap();
    let launch = record.launch.unwrap();
    let chunk0 = w
        .store
        .chunk(
            &super::store::LaunchKey {
                tenant_id: alpine.clone(),
                campaign_id: spring.clone(),
                launch_id: launch.launch_id.clone(),
            },
            0,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((chunk0.status, chunk0.attempts), (ChunkStatus::Done, 1));
    assert_eq!(record.state, CampaignState::Sent);

    // A done chunk delivered again emits nothing.
    for message in &messages {
        let outcome = w.campaigns.run_chunk(message, 3).await.unwrap();
        assert!(matches!(outcome, ChunkOutcome::Skipped(_)), "{outcome:?}");
    }
    assert_eq!(emitted(&w).len(), all.len());

    // Relaunching after a reset of the stream would emit the same message ids: a rerun of the
    // chunk on a fresh world proves the ids are the chunk's, not the attempt's.
    let fresh = world().await;
    put_export(&fresh, "alpine", ROWS);
    fresh
        .campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    fresh.campaigns.launch(&alpine, &spring).await.unwrap();
    for message in fresh.queue.take() {
        fresh.campaigns.run_chunk(&message, 1).await.unwrap();
    }
    let fresh_ids: HashSet<_> = emitted(&fresh).into_iter().map(|e| e.message_id).collect();
    assert_eq!(fresh_ids, ids);
}

#[tokio::test]
async fn a_retried_chunk_resumes_after_its_checkpoint_and_comes_back_soon() {
    // GIVEN one chunk of three groups of rows, and a stream that takes the first group's put
    // and throttles the rest
    let w = world_with_chunks_of(1 << 20).await;
    put_export(&w, "alpine", 1_500);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    let messages = w.queue.take();
    assert_eq!(messages.len(), 1, "one chunk");
    w.events.fail_after_calls(1);

    // WHEN the chunk fails
    let response = w
        .campaigns
        .handle_chunk_messages(sqs_event(&messages, 1))
        .await;

    // THEN it is reported, comes back within two minutes, and its first group is checkpointed
    w.events.fail_always(false);
    assert_eq!(response.batch_item_failures.len(), 1);
    let delay = w.queue.take_retry("r").expect("a visibility change");
    assert!(
        (Duration::from_secs(60)..=Duration::from_secs(120)).contains(&delay),
        "{delay:?}"
    );
    let key = messages[0].launch.clone();
    let chunk = w.store.chunk(&key, 0).await.unwrap().unwrap();
    let checkpoint = chunk.checkpoint.expect("a checkpoint");
    let first_run = emitted(&w);
    assert_eq!(checkpoint.report.events_emitted, first_run.len() as u64);
    assert!(!first_run.is_empty());

    // WHEN SQS delivers it again
    let reads_before = w.source.reads().len();
    let outcome = w.campaigns.run_chunk(&messages[0], 2).await.unwrap();

    // THEN it reads on from the checkpoint, emits no row before it again, and counts every row
    assert!(matches!(outcome, ChunkOutcome::Done { .. }), "{outcome:?}");
    let resumed_from = w.source.reads()[reads_before].start;
    assert!(resumed_from >= checkpoint.last_row, "{resumed_from}");
    let all = emitted(&w);
    let ids: HashSet<_> = all.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "no customer emitted twice");
    let report = w
        .store
        .chunk(&key, 0)
        .await
        .unwrap()
        .unwrap()
        .report
        .unwrap();
    assert_eq!(
        report.rows, 1_501,
        "every row counted once, the broken one too"
    );
    assert_eq!(report.events_emitted, all.len() as u64);
}

#[tokio::test]
async fn a_chunk_out_of_attempts_fails_the_launch() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    let messages = w.queue.take();
    w.events.fail_always(true);
    let outcome = w.campaigns.run_chunk(&messages[0], 3).await.unwrap();
    assert!(matches!(outcome, ChunkOutcome::Failed(_)), "{outcome:?}");
    w.events.fail_always(false);
    let view = w.campaigns.get(&alpine, &spring).await.unwrap();
    assert_eq!(view.state, CampaignState::Failed);
    assert!(view.launch.unwrap().failure.is_some());
    let outcome = w.campaigns.run_chunk(&messages[1], 1).await.unwrap();
    assert!(
        matches!(outcome, ChunkOutcome::Skipped(_)),
        "a failed launch emits no more"
    );
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(stats.progress.chunks_failed, 1);

    // It can be launched again, as a new launch.
    let relaunch = w.campaigns.launch(&alpine, &spring).await.unwrap();
    assert_eq!(relaunch.state, CampaignState::Launching);
    assert_eq!(w.queue.take().len(), messages.len());
    let stale = w.campaigns.run_chunk(&messages[1], 1).await.unwrap();
    assert_eq!(stale, ChunkOutcome::Skipped("an older launch"));
}

#[tokio::test]
async fn a_launch_held_by_quiet_hours_starts_when_the_window_opens() {
    let w = world().await;
    put_export(&w, "alpine", 20);
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.settings.timezone = "Europe/Paris".into();
    workspace.settings.quiet_hours = Some(QuietHours {
        start_hour: 21,
        end_hour: 8,
    });
    w.directory.put_workspace(&workspace).await.unwrap();
    let alpine = tenant("alpine");
    let spring = cid("spring");
    // 21:30 in Paris.
    w.clock
        .advance(START.replace_hour(20).unwrap().replace_minute(30).unwrap() - START);
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();

    let accepted = w.campaigns.launch(&alpine, &spring).await.unwrap();

    assert_eq!(accepted.state, CampaignState::Scheduled);
    assert_eq!(accepted.starts_at, "2026-12-02T07:00:00Z", "08:00 in Paris");
    assert!(w.queue.take().is_empty());
    assert_eq!(
        w.campaigns.start_due().await.unwrap(),
        SchedulerSummary::default()
    );
    w.clock
        .advance(time::Duration::hours(10) + time::Duration::minutes(29));
    assert_eq!(
        w.campaigns.start_due().await.unwrap().started,
        0,
        "06:59 UTC: still quiet"
    );
    assert!(w.queue.take().is_empty());
    w.clock.advance(time::Duration::minutes(1));
    let summary = w.campaigns.start_due().await.unwrap();
    assert_eq!(summary.started, 1);
    assert_eq!(
        w.campaigns.get(&alpine, &spring).await.unwrap().state,
        CampaignState::Launching
    );
    assert!(!w.queue.take().is_empty());
    assert!(w.store.schedule_entries().is_empty());
}

#[tokio::test]
async fn a_launch_in_the_customers_quiet_hours_zone_starts_inside_the_retailers_window() {
    let w = world().await;
    put_export(&w, "alpine", 20);
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.settings.timezone = "Europe/Paris".into();
    workspace.settings.quiet_hours = Some(QuietHours {
        start_hour: 21,
        end_hour: 8,
    });
    w.directory.put_workspace(&workspace).await.unwrap();
    let alpine = tenant("alpine");
    let spring = cid("spring");
    // 21:30 in Paris: quiet there, but delivery holds each customer in their own zone.
    w.clock
        .advance(START.replace_hour(20).unwrap().replace_minute(30).unwrap() - START);
    let mut request = new_campaign("spring", "alpine", None);
    request.quiet_hours_zone = crate::domain::QuietHoursZone::Customer;
    w.campaigns.create(&alpine, request).await.unwrap();

    let accepted = w.campaigns.launch(&alpine, &spring).await.unwrap();

    assert_eq!(accepted.state, CampaignState::Launching);
    assert!(!w.queue.take().is_empty());
}

#[tokio::test]
async fn a_scheduled_send_time_is_local_and_pausing_holds_it() {
    let w = world().await;
    put_export(&w, "alpine", 20);
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.settings.timezone = "America/New_York".into();
    w.directory.put_workspace(&workspace).await.unwrap();
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(
            &alpine,
            new_campaign("spring", "alpine", Some("2026-12-03T09:00")),
        )
        .await
        .unwrap();
    let accepted = w.campaigns.launch(&alpine, &spring).await.unwrap();
    assert_eq!(accepted.state, CampaignState::Scheduled);
    assert_eq!(accepted.starts_at, "2026-12-03T14:00:00Z", "EST is UTC-5");

    w.campaigns.pause(&alpine, &spring).await.unwrap();
    w.clock.advance(time::Duration::days(3));
    let summary = w.campaigns.start_due().await.unwrap();
    assert_eq!(
        (summary.started, summary.dropped),
        (0, 1),
        "a paused launch does not start"
    );
    assert!(w.queue.take().is_empty());

    let resumed = w.campaigns.resume(&alpine, &spring).await.unwrap();
    assert_eq!(resumed.state, CampaignState::Scheduled);
    assert_eq!(w.campaigns.start_due().await.unwrap().started, 1);
    assert!(!w.queue.take().is_empty());
}

#[tokio::test]
async fn pause_parks_delivery_resume_redrives_it_and_cancel_stops_the_chunks() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    let messages = w.queue.take();
    w.campaigns.run_chunk(&messages[0], 1).await.unwrap();

    let paused = w.campaigns.pause(&alpine, &spring).await.unwrap();
    assert_eq!(paused.state, CampaignState::Paused);
    assert_eq!(
        status(&w, "alpine", "spring").await,
        Some(CampaignStatus::Paused)
    );
    // Chunks keep emitting while paused; delivery parks.
    for message in &messages[1..] {
        w.campaigns.run_chunk(message, 1).await.unwrap();
    }
    deliver_all(&w).await;
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(stats.state, CampaignState::Paused);
    assert_eq!(stats.delivery.sent, 0);
    assert_eq!(stats.delivery.parked, stats.events_emitted);
    assert!(stats.delivery.parked_batches > 0);

    let resumed = w.campaigns.resume(&alpine, &spring).await.unwrap();
    assert_eq!(
        resumed.state,
        CampaignState::Sent,
        "every chunk finished while paused"
    );
    assert_eq!(
        status(&w, "alpine", "spring").await,
        Some(CampaignStatus::Active)
    );
    assert!(
        w.archive
            .parked(&alpine, Some(&spring))
            .await
            .unwrap()
            .is_empty()
    );
    deliver_all(&w).await;
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    assert_eq!(stats.delivery.sent, stats.events_emitted);
    assert_eq!(stats.delivery.parked, 0);

    // Another campaign, cancelled mid-launch: its remaining chunks emit nothing.
    w.campaigns
        .create(&alpine, new_campaign("autumn", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &cid("autumn")).await.unwrap();
    let messages = w.queue.take();
    w.campaigns.run_chunk(&messages[0], 1).await.unwrap();
    let emitted_before = w.events.records().len();
    let cancelled = w.campaigns.cancel(&alpine, &cid("autumn")).await.unwrap();
    assert_eq!(cancelled.state, CampaignState::Cancelled);
    for message in &messages[1..] {
        let outcome = w.campaigns.run_chunk(message, 1).await.unwrap();
        assert!(matches!(outcome, ChunkOutcome::Skipped(_)));
    }
    assert_eq!(w.events.records().len(), emitted_before);
    assert_eq!(
        status(&w, "alpine", "autumn").await,
        Some(CampaignStatus::Cancelled)
    );
}

#[tokio::test]
async fn a_pause_landing_after_a_resumes_write_is_not_undone() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    w.campaigns.pause(&alpine, &spring).await.unwrap();
    // A concurrent pause's status write lands right after the resume's record and status write.
    w.directory
        .race_next_campaign_status(CampaignStatus::Paused);

    w.campaigns.resume(&alpine, &spring).await.unwrap();

    assert_eq!(
        status(&w, "alpine", "spring").await,
        Some(CampaignStatus::Paused),
        "resume writes the delivery status once, with the record"
    );
}

#[tokio::test]
async fn the_list_is_per_tenant_and_paginated() {
    let w = world().await;
    let alpine = tenant("alpine");
    for i in 0..7 {
        w.campaigns
            .create(&alpine, new_campaign(&format!("c{i}"), "alpine", None))
            .await
            .unwrap();
    }
    w.campaigns
        .create(&tenant("harbor"), new_campaign("h1", "harbor", None))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = w.campaigns.list(&alpine, cursor, 3).await.unwrap();
        assert!(page.campaigns.len() <= 3);
        seen.extend(page.campaigns.iter().map(|c| c.campaign_id.to_string()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    let error = w
        .campaigns
        .list(&alpine, Some("a#b".into()), 3)
        .await
        .unwrap_err();
    assert!(matches!(error, CampaignError::Invalid(i) if i.field == "cursor"));
}

#[tokio::test]
async fn store_and_queue_outages_are_retryable_errors() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.queue.set_unavailable(true);
    let error = w.campaigns.launch(&alpine, &spring).await.unwrap_err();
    assert!(matches!(error, CampaignError::Queue(_)) && error.is_retryable());
    w.queue.set_unavailable(false);
    // Launching, with nothing queued: a repeated launch queues the chunks.
    let accepted = w.campaigns.launch(&alpine, &spring).await.unwrap();
    assert_eq!(accepted.state, CampaignState::Launching);
    assert!(!w.queue.take().is_empty());
    w.store.set_unavailable(true);
    let error = w.campaigns.get(&alpine, &spring).await.unwrap_err();
    assert!(matches!(error, CampaignError::Store(_)) && error.is_retryable());
}

#[tokio::test]
async fn a_second_cancel_changes_nothing() {
    let w = world().await;
    let alpine = tenant("alpine");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    let first = w.campaigns.cancel(&alpine, &cid("spring")).await.unwrap();
    let second = w.campaigns.cancel(&alpine, &cid("spring")).await.unwrap();
    assert_eq!(first.state, CampaignState::Cancelled);
    assert_eq!(second.revision, first.revision, "nothing written again");
}

#[tokio::test]
async fn a_resume_redrives_a_slice_and_the_scheduler_ticks_finish_it_with_progress_on_the_stats() {
    // GIVEN a paused campaign with 750 batches parked (eight pages)
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    w.campaigns.launch(&alpine, &spring).await.unwrap();
    w.campaigns.pause(&alpine, &spring).await.unwrap();
    for customer in 0..750 {
        let batch = crate::testing::samples::sample_batch("alpine", "spring", [customer]);
        let parked = crate::pipeline::archive::ParkedBatch {
            reason: "campaign paused".into(),
            parked_at: "2026-12-01T12:00:00Z".into(),
            batch,
        };
        w.archive.park(&parked).await.unwrap();
    }

    // WHEN it is resumed, twice (the second while its job runs)
    w.campaigns.resume(&alpine, &spring).await.unwrap();
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    w.campaigns.resume(&alpine, &spring).await.unwrap();

    // THEN the first resume put back a slice, and the job shows on the stats
    let first = START_SLICE.pages * crate::pipeline::redrive::PARKED_PAGE;
    let redrive = stats.redrive.unwrap();
    assert_eq!(
        (redrive.state, redrive.batches),
        (RedriveState::Running, first as u64)
    );
    assert_eq!(stats.delivery.parked_batches, 750 - first as u64);

    // WHEN the scheduler ticks
    let tick = w.campaigns.tick().await.unwrap();

    // THEN one job finished the pass: everything is back on the stream, nothing parked
    assert_eq!((tick.redrives.continued, tick.redrives.finished), (1, 1));
    let stats = w.campaigns.stats(&alpine, &spring).await.unwrap();
    let redrive = stats.redrive.unwrap();
    assert_eq!((redrive.state, redrive.passes), (RedriveState::Done, 2));
    assert_eq!(redrive.batches, 750);
    assert_eq!(stats.delivery.parked_batches, 0);
    assert_eq!(w.send_batches.records().len(), 750);
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_puts_a_batch_deferred_for_seconds_back_within_seconds_not_at_the_next_minute()
 {
    // GIVEN a batch deferred until 3 s from now
    let w = world().await;
    let deferred = crate::pipeline::archive::DeferredBatch {
        reason: "send budget busy".into(),
        deferred_at: "2026-12-01T12:00:00Z".into(),
        retry_at: START.unix_timestamp() + 3,
        batch: Some(crate::testing::samples::sample_batch(
            "alpine",
            "spring",
            [1, 2],
        )),
        unrecorded_outcome: None,
        outcome_variant: None,
    };
    w.archive.defer(&deferred).await.unwrap();

    // WHEN the scheduler's minute runs (12 s of it) while the time passes
    let clock = w.clock.clone();
    let passing = async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        clock.advance(time::Duration::seconds(4));
    };
    let (minute, ()) = tokio::join!(
        w.campaigns
            .scheduler_minute(std::time::Duration::from_secs(12)),
        passing
    );

    // THEN its tick found nothing due, its first pass (5 s in) put the batch back, and it made
    // as many passes as fit in its time
    let minute = minute.unwrap();
    assert_eq!(minute.tick.deferred.batches, 0);
    assert_eq!(
        (minute.deferred_batches, minute.deferred_recipients),
        (1, 2)
    );
    assert_eq!(minute.deferred_passes, 2);
    assert_eq!(w.send_batches.records().len(), 1);
    assert!(
        w.archive
            .due_deferred(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn changes(value: serde_json::Value) -> CampaignChanges {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn a_draft_is_edited_field_by_field_and_checked_as_a_new_one() {
    let w = world().await;
    let alpine = tenant("alpine");
    let spring = cid("spring");
    w.campaigns
        .create(
            &alpine,
            new_campaign("spring", "alpine", Some("2026-12-24T09:00")),
        )
        .await
        .unwrap();

    let edited = w
        .campaigns
        .edit(
            &alpine,
            &spring,
            changes(serde_json::json!({
                "revision": 1, "name": "  Winter  ", "holdout_percent": 5.0, "schedule": null,
                "variants": [{"id": "A", "weight": 3}],
            })),
        )
        .await
        .unwrap();
    assert_eq!(edited.name, "Winter");
    assert_eq!(edited.definition.holdout_percent, 5.0);
    assert_eq!(edited.definition.variants.len(), 1);
    assert_eq!(edited.schedule, None, "null removes the send time");
    assert_eq!(edited.revision, 2);
    assert_eq!(
        edited.definition.audience.rules.len(),
        1,
        "what the change leaves out is kept"
    );

    for (change, field) in [
        (serde_json::json!({"name": " "}), "name"),
        (serde_json::json!({"variants": []}), "variants"),
        (serde_json::json!({"schedule": "tomorrow"}), "schedule"),
        (
            serde_json::json!({"audience": {"source": {"bucket": "exports", "key": "harbor/customers.jsonl"}, "rules": []}}),
            "audience.source.key",
        ),
    ] {
        let result = w.campaigns.edit(&alpine, &spring, changes(change)).await;
        assert!(
            matches!(&result, Err(CampaignError::Invalid(i)) if i.field == field),
            "{field}: {result:?}"
        );
    }
    let stored = w.campaigns.get(&alpine, &spring).await.unwrap();
    assert_eq!(stored, edited, "a refused edit writes nothing");

    let stale = w
        .campaigns
        .edit(
            &alpine,
            &spring,
            changes(serde_json::json!({"revision": 1, "name": "Old"})),
        )
        .await;
    assert!(
        matches!(stale, Err(CampaignError::Conflict(_))),
        "{stale:?}"
    );
    let foreign = w
        .campaigns
        .edit(
            &tenant("harbor"),
            &spring,
            changes(serde_json::json!({"name": "Mine"})),
        )
        .await;
    assert!(
        matches!(foreign, Err(CampaignError::NotFound)),
        "{foreign:?}"
    );
}

#[tokio::test]
async fn only_a_draft_is_edited_or_deleted_and_a_deleted_draft_is_gone() {
    let w = world().await;
    put_export(&w, "alpine", 10);
    let alpine = tenant("alpine");
    for id in ["spring", "summer"] {
        w.campaigns
            .create(&alpine, new_campaign(id, "alpine", None))
            .await
            .unwrap();
    }
    let summer = cid("summer");
    w.campaigns.launch(&alpine, &summer).await.unwrap();
    let edit = w
        .campaigns
        .edit(
            &alpine,
            &summer,
            changes(serde_json::json!({"name": "Late"})),
        )
        .await;
    assert!(matches!(edit, Err(CampaignError::Conflict(_))), "{edit:?}");
    let delete = w.campaigns.delete_draft(&alpine, &summer, None).await;
    assert!(
        matches!(delete, Err(CampaignError::Conflict(_))),
        "{delete:?}"
    );
    assert!(w.campaigns.get(&alpine, &summer).await.is_ok());

    let spring = cid("spring");
    let stale = w.campaigns.delete_draft(&alpine, &spring, Some(7)).await;
    assert!(
        matches!(stale, Err(CampaignError::Conflict(_))),
        "{stale:?}"
    );
    let foreign = w
        .campaigns
        .delete_draft(&tenant("harbor"), &spring, None)
        .await;
    assert!(
        matches!(foreign, Err(CampaignError::NotFound)),
        "{foreign:?}"
    );
    w.campaigns
        .delete_draft(&alpine, &spring, Some(1))
        .await
        .unwrap();
    assert!(matches!(
        w.campaigns.get(&alpine, &spring).await,
        Err(CampaignError::NotFound)
    ));
    let again = w.campaigns.delete_draft(&alpine, &spring, None).await;
    assert!(matches!(again, Err(CampaignError::NotFound)), "{again:?}");
    // The id is free again.
    w.campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
}

/// The launch worker's usage: each chunk adds its events' PUT units, its time and its share of
/// the invocation to its own campaign, never to another retailer's.
#[tokio::test]
async fn a_launch_adds_its_put_units_and_time_to_its_own_campaign_only() {
    use crate::costs::Usage;
    use crate::pipeline::send_log::DeliveryCounters as _;
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    put_export(&w, "harbor", 45);
    let campaigns = w.campaigns.with_usage(w.send_log.clone());
    let (alpine, harbor) = (tenant("alpine"), tenant("harbor"));
    for (retailer, campaign) in [(&alpine, "spring"), (&harbor, "autumn")] {
        let definition = new_campaign(campaign, retailer.as_str(), None);
        campaigns.create(retailer, definition).await.unwrap();
        campaigns.launch(retailer, &cid(campaign)).await.unwrap();
    }
    let messages = w.queue.take();
    // Both launches' chunks, side by side, one per invocation (the template's batch size).
    for message in &messages {
        let response = campaigns
            .handle_chunk_messages(sqs_event(std::slice::from_ref(message), 1))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    let records = w.events.records();
    let put_units_of = |retailer: &str| -> f64 {
        records
            .iter()
            .filter(|r| {
                let event: CampaignEvent = serde_json::from_slice(&r.data).unwrap();
                event.tenant_id.as_str() == retailer
            })
            .map(|r| Usage::put_units(r.data.len()))
            .sum()
    };
    let chunks_of = |retailer: &TenantId| {
        messages
            .iter()
            .filter(|m| &m.launch.tenant_id == retailer)
            .count() as f64
    };
    let usage = |retailer: &TenantId, campaign: &str| {
        let send_log = w.send_log.clone();
        let (retailer, campaign) = (retailer.clone(), cid(campaign));
        async move { send_log.campaign_usage(&retailer, &campaign).await.unwrap() }
    };
    let spring = usage(&alpine, "spring").await;
    let autumn = usage(&harbor, "autumn").await;
    assert!(put_units_of("alpine") > put_units_of("harbor"));
    assert!(put_units_of("harbor") > 0.0);
    // Every event the stream took is one unit (each under 25 KB), counted for its campaign.
    assert_eq!(spring.kinesis_put_units, put_units_of("alpine"));
    assert_eq!(autumn.kinesis_put_units, put_units_of("harbor"));
    assert_eq!(spring.lambda_requests, chunks_of(&alpine));
    assert_eq!(autumn.lambda_requests, chunks_of(&harbor));
    assert!(spring.lambda_gb_seconds > 0.0 && autumn.lambda_gb_seconds > 0.0);
    assert_eq!(spring.ses_messages, 0.0, "a launch sends nothing");
    // Nothing of one retailer's launch is counted for another campaign.
    assert!(usage(&alpine, "autumn").await.is_zero());
    assert!(usage(&harbor, "spring").await.is_zero());
    assert!(usage(&alpine, "seeded").await.is_zero());
}

/// Usage counters that are down.
struct DownCounters;

#[async_trait::async_trait]
impl crate::costs::UsageCounters for DownCounters {
    async fn add_usage(
        &self,
        _: &TenantId,
        _: &CampaignId,
        _: &crate::domain::BatchId,
        _: &crate::costs::Usage,
    ) -> Result<(), crate::error::StoreError> {
        Err(crate::error::StoreError::Unavailable {
            store: "delivery table",
            source: "down".into(),
        })
    }
}

#[tokio::test]
async fn a_usage_write_that_fails_never_fails_a_launch_chunk() {
    let w = world().await;
    put_export(&w, "alpine", ROWS);
    let campaigns = w.campaigns.with_usage(Arc::new(DownCounters));
    let alpine = tenant("alpine");
    campaigns
        .create(&alpine, new_campaign("spring", "alpine", None))
        .await
        .unwrap();
    campaigns.launch(&alpine, &cid("spring")).await.unwrap();
    for message in w.queue.take() {
        let response = campaigns
            .handle_chunk_messages(sqs_event(std::slice::from_ref(&message), 1))
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert!(!w.events.records().is_empty());
    assert_eq!(
        campaigns.get(&alpine, &cid("spring")).await.unwrap().state,
        CampaignState::Sent
    );
}

/// A deferred batch the scheduler puts back counts its record's PUT units for its own campaign.
#[tokio::test]
async fn a_deferred_batch_put_back_counts_its_put_units_for_its_campaign() {
    use crate::costs::Usage;
    use crate::pipeline::send_log::DeliveryCounters as _;
    let w = world().await;
    let campaigns = w.campaigns.with_usage(w.send_log.clone());
    let batches = [
        crate::testing::samples::sample_batch("alpine", "spring", 0..40),
        crate::testing::samples::sample_batch("alpine", "spring", 40..45),
        crate::testing::samples::sample_batch("harbor", "autumn", [1]),
    ];
    for batch in &batches {
        let deferred = crate::pipeline::archive::DeferredBatch {
            reason: "send budget busy".into(),
            deferred_at: "2026-12-01T12:00:00Z".into(),
            retry_at: START.unix_timestamp() - 1,
            batch: Some(batch.clone()),
            unrecorded_outcome: None,
            outcome_variant: None,
        };
        w.archive.defer(&deferred).await.unwrap();
    }

    let redriven = campaigns.redrive_deferred().await.unwrap();

    assert_eq!(redriven.batches, 3);
    let units = |batch: &crate::domain::SendBatch| {
        Usage::put_units(serde_json::to_vec(batch).unwrap().len())
    };
    let usage = |tenant: &str, campaign: &str| {
        let send_log = w.send_log.clone();
        let (tenant, campaign) = (self::tenant(tenant), cid(campaign));
        async move { send_log.campaign_usage(&tenant, &campaign).await.unwrap() }
    };
    let spring = usage("alpine", "spring").await;
    assert_eq!(
        spring.kinesis_put_units,
        units(&batches[0]) + units(&batches[1])
    );
    assert!(
        units(&batches[0]) >= 2.0,
        "40 customers are more than 25 KB"
    );
    assert_eq!(
        spring,
        Usage {
            kinesis_put_units: spring.kinesis_put_units,
            ..Usage::default()
        },
        "only the PUT units: the scheduler's time is not counted"
    );
    assert_eq!(
        usage("harbor", "autumn").await.kinesis_put_units,
        units(&batches[2])
    );
    assert!(usage("harbor", "spring").await.is_zero());
}
