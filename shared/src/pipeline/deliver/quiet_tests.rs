//! Quiet hours in the customer's time zone, on push batches and the in-memory adapters: each
//! recipient held in their own zone (the retailer's when they have none), deferred to their own
//! window's end, redriven and sent exactly once; a campaign without the option is held whole.

use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::directory::TenantAdmin;
use crate::domain::{
    CampaignId, PushDevice, PushPlatform, QuietHours, QuietHoursZone, SendBatch, TenantId,
};
use crate::pipeline::lambda_batch::InboundRecord;
use crate::pipeline::redrive::{DeferredRedrive, redrive_due};
use crate::pipeline::send_log::{DeliveryCounters as _, RecipientOutcome, SendLog};
use crate::testing::samples::{
    sample_push_application, sample_push_batch, sample_workspace, seed_retailer,
};
use crate::testing::{
    ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemoryPushEndpoints,
    MemoryPushProvider, MemorySendLog, MemoryStream,
};

const DOMAIN: &str = "mail.storecast.example";

struct World {
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MemorySendLog>,
    archive: Arc<MemoryArchive>,
    push: Arc<MemoryPushProvider>,
    clock: Arc<ManualClock>,
    stream: Arc<MemoryStream>,
    deliverer: Deliverer,
}

/// Retailers in Zurich with quiet hours 21:00 to 08:00 and an FCM application, campaign c1 in
/// the given quiet-hours zone, the clock at `now`.
async fn world(tenants: &[&str], zone: QuietHoursZone, now: OffsetDateTime) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for tenant in tenants {
        seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
            .await
            .unwrap();
        let mut workspace = sample_workspace(tenant, DOMAIN);
        workspace.settings.timezone = "Europe/Zurich".into();
        workspace.settings.quiet_hours = Some(QuietHours {
            start_hour: 21,
            end_hour: 8,
        });
        let arn = sample_push_application(tenant, PushPlatform::Fcm);
        workspace.push_applications.set(PushPlatform::Fcm, arn);
        directory.put_workspace(&workspace).await.unwrap();
        directory
            .set_campaign_quiet_hours(&tenant_id(tenant), &campaign(), zone)
            .await
            .unwrap();
    }
    let send_log = Arc::new(MemorySendLog::default());
    let archive = Arc::new(MemoryArchive::default());
    let push = Arc::new(MemoryPushProvider::default());
    let clock = Arc::new(ManualClock::new(now));
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_retry.base_delay = Duration::from_millis(1);
    config.send_retry.max_delay = Duration::from_millis(2);
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: Arc::new(MemoryEmailProvider::keeping_messages()),
            archive: archive.clone(),
            clock: clock.clone(),
            unsubscribe: crate::testing::unsubscribe_signer(),
        },
        config,
    )
    .with_push(PushPorts {
        provider: push.clone(),
        endpoints: Arc::new(MemoryPushEndpoints::default()),
        suppressions: directory.clone(),
    });
    World {
        directory,
        send_log,
        archive,
        push,
        clock,
        stream: Arc::new(MemoryStream::default()),
        deliverer,
    }
}

fn tenant_id(tenant: &str) -> TenantId {
    TenantId::parse(tenant).unwrap()
}

fn campaign() -> CampaignId {
    CampaignId::parse("c1").unwrap()
}

/// A push batch of `alpine`'s campaign c1: customer `n` with the device `tok-n` and, when given,
/// `fields.timezone`.
fn batch(tenant: &str, customers: &[(u32, Option<&str>)]) -> SendBatch {
    let mut batch = sample_push_batch(
        tenant,
        "c1",
        customers.iter().map(|(n, _)| {
            let device = PushDevice {
                platform: PushPlatform::Fcm,
                token: format!("tok-{n}"),
            };
            (*n, vec![device])
        }),
    );
    for (recipient, (_, zone)) in batch.recipients.iter_mut().zip(customers) {
        let FieldValue::Object(fields) = &mut recipient.customer.fields else {
            panic!("sample customers have an object of fields");
        };
        match zone {
            Some(zone) => fields.insert("timezone".into(), FieldValue::String(zone.to_string())),
            None => fields.remove("timezone"),
        };
    }
    batch
}

impl World {
    async fn deliver(&self, batches: &[&SendBatch]) -> DeliveryOutcome {
        let records: Vec<InboundRecord> = batches
            .iter()
            .enumerate()
            .map(|(i, batch)| InboundRecord {
                sequence_number: format!("{}", 100 + i),
                partition_key: batch.batch_id.to_string(),
                data: serde_json::to_vec(batch).unwrap(),
                arrived_at: None,
            })
            .collect();
        let deadline = self.clock.now() + time::Duration::seconds(60);
        self.deliverer.deliver(&records, deadline).await
    }

    /// The scheduler's redrive of what is due, then a delivery of what it put back.
    async fn redrive_and_deliver(&self) -> (DeferredRedrive, DeliveryOutcome) {
        let redriven = redrive_due(
            self.archive.as_ref(),
            self.stream.as_ref(),
            self.send_log.as_ref(),
            self.clock.now().unix_timestamp(),
        )
        .await
        .unwrap();
        let records: Vec<InboundRecord> = self
            .stream
            .take_records()
            .into_iter()
            .enumerate()
            .map(|(i, r)| InboundRecord {
                sequence_number: format!("{}", 500 + i),
                partition_key: r.partition_key,
                data: r.data,
                arrived_at: None,
            })
            .collect();
        let deadline = self.clock.now() + time::Duration::seconds(60);
        (redriven, self.deliverer.deliver(&records, deadline).await)
    }

    /// Moves the clock on to `at`.
    fn set_clock(&self, at: OffsetDateTime) {
        self.clock.advance(at - self.clock.now());
    }

    /// The endpoints pushed so far (one per device), in order.
    fn pushed(&self) -> Vec<String> {
        self.push
            .published()
            .into_iter()
            .map(|(_, push)| push.endpoint_arn)
            .collect()
    }

    /// Each deferred batch's retry time and its customers' numbers.
    fn deferred(&self) -> Vec<(i64, String, Vec<String>)> {
        self.archive
            .deferred()
            .into_iter()
            .map(|(_, deferred)| {
                let batch = deferred.batch.expect("a deferred batch");
                let customers = batch
                    .recipients
                    .iter()
                    .map(|r| r.customer.id.to_string())
                    .collect();
                (deferred.retry_at, deferred.reason, customers)
            })
            .collect()
    }
}

fn customer(tenant: &str, n: u32) -> String {
    let batch = batch(tenant, &[(n, None)]);
    batch.recipients[0].customer.id.to_string()
}

/// 21:30 UTC on 22 November: 22:30 in Zurich (quiet), 16:30 in New York (not), 06:30 the next
/// morning in Tokyo (quiet until 08:00 there, 23:00 UTC).
const EVENING: OffsetDateTime = datetime!(2026-11-22 21:30 UTC);
const TOKYO_MORNING: OffsetDateTime = datetime!(2026-11-22 23:00 UTC);
const ZURICH_MORNING: OffsetDateTime = datetime!(2026-11-23 07:00 UTC);

#[tokio::test]
async fn given_customers_in_three_time_zones_then_those_in_their_quiet_hours_wait_for_their_own_morning_and_are_pushed_once()
 {
    let world = world(&["alpine"], QuietHoursZone::Customer, EVENING).await;
    let batch = batch(
        "alpine",
        &[
            (1, Some("Europe/Zurich")),
            (2, Some("America/New_York")),
            (3, Some("Asia/Tokyo")),
            // No time zone, and one that is no IANA name: the retailer's (Zurich) is used.
            (4, None),
            (5, Some("Mars/Olympus_Mons")),
        ],
    );

    let evening = world.deliver(&[&batch]).await;

    let counts = evening.per_tenant["alpine"];
    assert!(evening.failed_positions.is_empty());
    assert_eq!(counts.sent, 1, "New York is awake: {counts:?}");
    assert_eq!(counts.deferred, 4);
    assert_eq!(counts.quiet_hours_held, 4);
    assert_eq!(counts.quiet_hours_zone_fallbacks, 2);
    assert_eq!(world.pushed().len(), 1);
    let c = |n| customer("alpine", n);
    let mut deferred = world.deferred();
    deferred.sort();
    assert_eq!(
        deferred,
        vec![
            (
                TOKYO_MORNING.unix_timestamp(),
                "quiet hours".to_string(),
                vec![c(3)]
            ),
            (
                ZURICH_MORNING.unix_timestamp(),
                "quiet hours".to_string(),
                vec![c(1), c(4), c(5)]
            ),
        ]
    );
    let outcomes = world
        .send_log
        .outcome(&tenant_id("alpine"), &campaign(), &batch.batch_id)
        .await
        .unwrap()
        .unwrap()
        .outcomes;
    assert!(matches!(outcomes[1], RecipientOutcome::Sent { .. }));
    for slot in [0, 2, 3, 4] {
        assert_eq!(outcomes[slot], RecipientOutcome::Pending, "released");
    }

    // A minute before Tokyo's 08:00 nothing is due; at 08:00 Tokyo's customer is pushed.
    world.set_clock(TOKYO_MORNING - time::Duration::minutes(1));
    assert_eq!(world.redrive_and_deliver().await.0.batches, 0);
    world.set_clock(TOKYO_MORNING);
    let (redriven, tokyo) = world.redrive_and_deliver().await;
    assert_eq!(redriven.recipients, 1);
    assert_eq!(tokyo.per_tenant["alpine"].sent, 1);
    assert_eq!(tokyo.per_tenant["alpine"].deferred, 0);

    // 08:00 in Zurich: the Zurich customer and the two who fell back to the retailer's zone.
    world.set_clock(ZURICH_MORNING);
    let (redriven, zurich) = world.redrive_and_deliver().await;
    assert_eq!(redriven.recipients, 3);
    assert_eq!(zurich.per_tenant["alpine"].sent, 3);
    assert!(world.archive.deferred().is_empty());

    // Each customer pushed exactly once, and the original batch again is all duplicates.
    let mut pushed = world.pushed();
    assert_eq!(pushed.len(), 5);
    pushed.sort();
    pushed.dedup();
    assert_eq!(pushed.len(), 5, "one push per customer");
    let again = world.deliver(&[&batch]).await;
    assert_eq!(again.per_tenant["alpine"].duplicates, 5);
    assert_eq!(world.pushed().len(), 5);

    // The campaign's stats reconcile: five sent, nothing failed or left over.
    let tallies = world
        .send_log
        .campaign_tallies(&tenant_id("alpine"), &campaign())
        .await
        .unwrap();
    let sent: u64 = tallies.iter().map(|(_, t)| t.sent).sum();
    let failed: u64 = tallies.iter().map(|(_, t)| t.failed).sum();
    assert_eq!((sent, failed), (5, 0));
}

#[tokio::test]
async fn given_a_customer_whose_window_ends_across_daylight_saving_then_the_retry_is_their_new_local_morning()
 {
    // 01:30 EST in New York on the spring-forward day (14 March 2027): 08:00 that morning is
    // EDT, 12:00 UTC.
    let at = datetime!(2027-03-14 06:30 UTC);
    let world = world(&["alpine"], QuietHoursZone::Customer, at).await;
    // 07:30 in Zurich: still quiet there too, so the batch-level hold would have said 07:00 UTC.
    let batch = batch("alpine", &[(1, Some("America/New_York"))]);

    world.deliver(&[&batch]).await;

    let deferred = world.deferred();
    assert_eq!(deferred.len(), 1);
    assert_eq!(
        deferred[0].0,
        datetime!(2027-03-14 12:00 UTC).unix_timestamp()
    );
}

#[tokio::test]
async fn given_a_campaign_without_the_option_then_its_batch_waits_whole_in_the_retailers_time_zone()
{
    let world = world(&["alpine"], QuietHoursZone::Retailer, EVENING).await;
    let batch = batch(
        "alpine",
        &[(1, Some("Europe/Zurich")), (2, Some("America/New_York"))],
    );

    let evening = world.deliver(&[&batch]).await;

    let counts = evening.per_tenant["alpine"];
    assert_eq!((counts.sent, counts.deferred), (0, 2), "{counts:?}");
    assert_eq!(counts.quiet_hours_held, 2);
    assert_eq!(counts.quiet_hours_zone_fallbacks, 0);
    assert!(world.pushed().is_empty(), "not even New York's customer");
    let deferred = world.deferred();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].0, ZURICH_MORNING.unix_timestamp());
    assert_eq!(deferred[0].2.len(), 2, "the whole batch");
}

#[tokio::test]
async fn given_two_retailers_then_one_campaigns_customer_zone_never_changes_the_others_hold() {
    let world = world(&["alpine", "harbor"], QuietHoursZone::Retailer, EVENING).await;
    world
        .directory
        .set_campaign_quiet_hours(&tenant_id("alpine"), &campaign(), QuietHoursZone::Customer)
        .await
        .unwrap();
    let customers = [(1, Some("America/New_York")), (2, Some("America/New_York"))];
    let (alpine, harbor) = (batch("alpine", &customers), batch("harbor", &customers));

    let outcome = world.deliver(&[&alpine, &harbor]).await;

    assert_eq!(outcome.per_tenant["alpine"].sent, 2);
    assert_eq!(outcome.per_tenant["harbor"].sent, 0);
    assert_eq!(outcome.per_tenant["harbor"].quiet_hours_held, 2);
}

#[tokio::test]
async fn given_a_retailer_without_quiet_hours_then_a_customer_zone_campaign_sends_everyone() {
    let world = world(&["alpine"], QuietHoursZone::Customer, EVENING).await;
    let mut workspace = sample_workspace("alpine", DOMAIN);
    let arn = sample_push_application("alpine", PushPlatform::Fcm);
    workspace.push_applications.set(PushPlatform::Fcm, arn);
    workspace.settings.quiet_hours = None;
    world.directory.put_workspace(&workspace).await.unwrap();
    let batch = batch("alpine", &[(1, Some("Europe/Zurich")), (2, None)]);

    let outcome = world.deliver(&[&batch]).await;

    let counts = outcome.per_tenant["alpine"];
    assert_eq!((counts.sent, counts.deferred), (2, 0));
    assert_eq!(counts.quiet_hours_zone_fallbacks, 0, "no zone was needed");
}
