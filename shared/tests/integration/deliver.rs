//! Delivery on the in-memory adapters: idempotency, isolation, failure classes.

use std::sync::Arc;

use proptest::prelude::*;
use storecast::clock::Clock;
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::directory::TenantAdmin;
use storecast::domain::{CampaignId, CampaignStatus, SendBatch, TenantId, TenantStatus};
use storecast::pipeline::archive::Archive;
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig, DeliveryOutcome};
use storecast::pipeline::lambda_batch::InboundRecord;
use storecast::pipeline::redrive::{DeferredRedrive, redrive_due};
use storecast::pipeline::send_log::{AttemptId, RecipientOutcome, SendLog};
use storecast::testing::ManualClock;
use storecast::testing::samples::{
    sample_batch, sample_template_version, sample_workspace, seed_retailer,
};
use storecast::testing::{
    MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendLog, MemoryStream,
    ScriptedFailure,
};
use time::OffsetDateTime;

const DOMAIN: &str = "mail.storecast.example";

struct World {
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MemorySendLog>,
    provider: Arc<MemoryEmailProvider>,
    archive: Arc<MemoryArchive>,
    clock: Arc<ManualClock>,
    deliverer: Deliverer,
    send_batches: Arc<MemoryStream>,
}

fn start() -> OffsetDateTime {
    time::macros::datetime!(2026-11-22 10:00:00 UTC)
}

async fn world(tenants: &[&str]) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for tenant in tenants {
        seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
            .await
            .unwrap();
    }
    let send_log = Arc::new(MemorySendLog::default());
    let provider = Arc::new(MemoryEmailProvider::keeping_messages());
    let archive = Arc::new(MemoryArchive::default());
    let clock = Arc::new(ManualClock::new(start()));
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_retry.base_delay = std::time::Duration::from_millis(1);
    config.send_retry.max_delay = std::time::Duration::from_millis(2);
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: provider.clone(),
            archive: archive.clone(),
            clock: clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        config,
    );
    World {
        directory,
        send_log,
        provider,
        archive,
        clock,
        deliverer,
        send_batches: Arc::new(MemoryStream::default()),
    }
}

/// A batch of customers `range` of one tenant's campaign c1.
fn batch(tenant: &str, range: std::ops::Range<u32>) -> SendBatch {
    sample_batch(tenant, "c1", range)
}

fn records(batches: &[&SendBatch]) -> Vec<InboundRecord> {
    batches
        .iter()
        .enumerate()
        .map(|(i, b)| InboundRecord {
            sequence_number: format!("{}", 100 + i),
            partition_key: b.batch_id.to_string(),
            data: serde_json::to_vec(b).unwrap(),
            arrived_at: None,
        })
        .collect()
}

impl World {
    async fn deliver(&self, batches: &[&SendBatch]) -> DeliveryOutcome {
        let deadline = self.clock.now() + time::Duration::seconds(60);
        self.deliverer.deliver(&records(batches), deadline).await
    }

    async fn recorded_outcome(
        &self,
        batch: &SendBatch,
    ) -> storecast::pipeline::send_log::BatchOutcome {
        self.send_log
            .outcome(
                &batch.group.tenant_id,
                &batch.group.campaign_id,
                &batch.batch_id,
            )
            .await
            .unwrap()
            .expect("the batch's outcome is recorded")
    }

    /// The scheduled redrive of deferred batches, then a delivery of what it put back.
    async fn redrive_and_deliver(&self) -> (DeferredRedrive, DeliveryOutcome) {
        let redriven = redrive_due(
            self.archive.as_ref(),
            self.send_batches.as_ref(),
            self.send_log.as_ref(),
            self.clock.now().unix_timestamp(),
        )
        .await
        .unwrap();
        let records: Vec<InboundRecord> = self
            .send_batches
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

    fn sent_to(&self, address: &str) -> usize {
        self.provider
            .sent()
            .iter()
            .filter(|(_, e)| e.to_address == address)
            .count()
    }
}

fn html_of(raw: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    message.body_html(0).unwrap().to_string()
}

#[tokio::test]
async fn given_a_batch_when_delivered_then_each_recipient_gets_one_routed_email() {
    let world = world(&["alpine"]).await;
    let batch = batch("alpine", 1..11);
    let outcome = world.deliver(&[&batch]).await;
    assert!(outcome.failed_positions.is_empty());
    let counts = outcome.per_tenant["alpine"];
    assert_eq!(counts.sent + counts.suppressed + counts.failed, 10);
    let sent = world.provider.sent();
    assert_eq!(sent.len() as u64, counts.sent);
    for (_, email) in &sent {
        assert_eq!(email.configuration_set, "storecast-alpine");
        assert_eq!(email.ses_tenant, "storecast-alpine");
        assert_eq!(email.from_address, "alpine@mail.storecast.example");
        assert!(email.tags.contains(&("tenant".into(), "alpine".into())));
        let raw = String::from_utf8_lossy(&email.raw_mime);
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("multipart/alternative"));
    }
}

#[tokio::test]
async fn given_a_delivered_batch_when_it_is_redelivered_then_nothing_is_sent_twice() {
    let world = world(&["alpine"]).await;
    let batch = batch("alpine", 1..21);
    let first = world.deliver(&[&batch]).await;
    let sent_once = world.provider.sent_count();
    let writes_after_first = world.send_log.writes();
    let again = world.deliver(&[&batch]).await;
    assert_eq!(world.provider.sent_count(), sent_once, "no second send");
    assert_eq!(again.per_tenant["alpine"].sent, 0);
    assert_eq!(again.per_tenant["alpine"].duplicates, 20);
    assert!(first.failed_positions.is_empty() && again.failed_positions.is_empty());
    // The redelivery re-checks the claims but leaves the recorded outcome alone.
    assert_eq!(world.send_log.writes() - writes_after_first, 20);
    let outcome = world.recorded_outcome(&batch).await;
    assert!(
        outcome
            .outcomes
            .iter()
            .all(|o| !matches!(o, RecipientOutcome::Duplicate))
    );
}

#[tokio::test]
async fn given_the_same_message_in_two_batches_delivered_at_once_then_it_is_sent_once() {
    let world = world(&["alpine"]).await;
    // Customer 5 is in both batches: a redelivered campaign event rebatched anew.
    let first = batch("alpine", 1..8);
    let second = batch("alpine", 5..12);
    let deadline = world.clock.now() + time::Duration::seconds(60);
    let (first_records, second_records) = (records(&[&first]), records(&[&second]));
    let (a, b) = tokio::join!(
        world.deliverer.deliver(&first_records, deadline),
        world.deliverer.deliver(&second_records, deadline),
    );
    for n in 1..12u32 {
        let address = format!("customer{n}@alpine.customers.example");
        assert!(
            world.sent_to(&address) <= 1,
            "customer {n} got {} emails",
            world.sent_to(&address)
        );
    }
    // Either the overlap was already final (a duplicate) or still in flight (deferred until the
    // other's lease ends): in both cases it was sent exactly once, and the redrive completes it.
    assert!(a.failed_positions.is_empty() && b.failed_positions.is_empty());
    let deferred = a.per_tenant["alpine"].deferred + b.per_tenant["alpine"].deferred;
    if deferred > 0 {
        world.clock.advance(time::Duration::seconds(121));
        let (redriven, again) = world.redrive_and_deliver().await;
        assert_eq!(redriven.recipients as u64, deferred);
        assert_eq!(again.per_tenant["alpine"].deferred, 0);
    }
    for n in 1..12u32 {
        assert_eq!(
            world.sent_to(&format!("customer{n}@alpine.customers.example")),
            1,
            "customer {n}"
        );
    }
}

#[tokio::test]
async fn given_a_crash_after_claiming_then_the_held_messages_wait_in_the_archive_for_the_lease_not_in_lambdas_retries()
 {
    let world = world(&["alpine"]).await;
    let batch = batch("alpine", 1..4);
    // A delivery claimed the three messages (lease: its deadline + margin) and died before
    // recording the outcome: we reproduce its claims directly.
    let lease_until = (world.clock.now() + time::Duration::seconds(90)).unix_timestamp();
    for (slot, recipient) in batch.recipients.iter().enumerate() {
        let claim = storecast::pipeline::send_log::MessageClaim {
            tenant_id: batch.group.tenant_id.clone(),
            campaign_id: batch.group.campaign_id.clone(),
            message_id: recipient.message_id.clone(),
            batch_id: batch.batch_id.clone(),
            slot: slot as u16,
            lease_until,
            attempt: AttemptId(7),
        };
        world.send_log.claim(&claim).await.unwrap();
    }
    // WHEN Lambda retries at once, as it does: nothing is sent, and the record is done: the held
    // messages are deferred until the lease ends instead of spending the stream's retries.
    for _ in 0..11 {
        let during = world.deliver(&[&batch]).await;
        assert!(during.failed_positions.is_empty());
        assert_eq!(during.per_tenant["alpine"].deferred, 3);
    }
    assert_eq!(world.provider.sent_count(), 0);
    let deferred = world.archive.deferred();
    assert_eq!(deferred.len(), 1, "the same deferral, kept once");
    assert!(deferred[0].1.retry_at > lease_until);
    // WHEN the scheduled redrive runs before the lease ends: nothing is due.
    let (early, _) = world.redrive_and_deliver().await;
    assert_eq!(early.batches, 0);
    // WHEN it runs after: the batch goes back on the stream, takes the claims over and sends.
    world.clock.advance(time::Duration::seconds(121));
    let (redriven, after) = world.redrive_and_deliver().await;
    assert_eq!(redriven.batches, 1);
    assert_eq!(after.per_tenant["alpine"].sent, 3);
    assert_eq!(world.provider.sent_count(), 3);
    assert!(world.archive.deferred().is_empty());
}

/// Batch X's first attempt is throttled and releases message m (`Pending`). X's retry takes m
/// back and is sending it when batch Y, holding m too, reads the claim and X's old outcome.
#[tokio::test]
async fn given_a_release_left_by_an_earlier_attempt_then_another_batch_does_not_send_what_the_retry_is_sending()
 {
    let world = world(&["alpine"]).await;
    let x = batch("alpine", 1..4);
    // Y holds two of X's three messages and nothing else (its own sends would wait at the gate).
    let y = batch("alpine", 2..4);
    world.provider.throttle_next(3 * 4);
    let first = world.deliver(&[&x]).await;
    assert_eq!(first.per_tenant["alpine"].deferred, 3);
    assert!(
        world
            .recorded_outcome(&x)
            .await
            .outcomes
            .iter()
            .all(|o| *o == RecipientOutcome::Pending)
    );
    // X's retry holds its sends at the gate, in the middle of sending.
    world.provider.close_gate();
    let deadline = world.clock.now() + time::Duration::seconds(60);
    let x_records = records(&[&x]);
    let y_records = records(&[&y]);
    let retry = world.deliverer.deliver(&x_records, deadline);
    let other = async {
        while world.provider.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        let outcome = world.deliverer.deliver(&y_records, deadline).await;
        world.provider.open_gate();
        outcome
    };
    let (_, other) = tokio::join!(retry, other);
    assert_eq!(
        other.per_tenant["alpine"].deferred, 2,
        "Y waits for X's lease"
    );
    for n in 1..4u32 {
        assert_eq!(
            world.sent_to(&format!("customer{n}@alpine.customers.example")),
            1,
            "customer {n}"
        );
    }
}

#[tokio::test]
async fn given_an_outcome_write_that_keeps_failing_then_the_outcome_is_kept_and_nothing_is_sent_twice()
 {
    let world = world(&["alpine"]).await;
    let batch = batch("alpine", 1..4);
    world.send_log.fail_outcome_writes(u64::MAX);
    let first = world.deliver(&[&batch]).await;
    assert!(
        first.failed_positions.is_empty(),
        "kept in the archive instead"
    );
    assert_eq!(world.provider.sent_count(), 3);
    world.send_log.fail_outcome_writes(0);
    // Long after the lease: a copy of the batch (a rebatch retry) arrives after the scheduled
    // redrive wrote the outcome, and finds every message final.
    world.clock.advance(time::Duration::seconds(600));
    let (redriven, _) = world.redrive_and_deliver().await;
    assert_eq!(redriven.outcomes_recorded, 1);
    let copy = world.deliver(&[&batch]).await;
    assert_eq!(copy.per_tenant["alpine"].duplicates, 3);
    assert_eq!(world.provider.sent_count(), 3, "nothing sent twice");
}

#[tokio::test]
async fn given_a_send_whose_answer_is_lost_then_it_is_unconfirmed_and_never_sent_again() {
    let world = world(&["alpine"]).await;
    world.provider.fail_address(
        "customer2@alpine.customers.example",
        ScriptedFailure::LoseAnswer,
    );
    let batch = batch("alpine", 1..4);
    let first = world.deliver(&[&batch]).await;
    assert_eq!(first.per_tenant["alpine"].unconfirmed, 1);
    assert!(first.failed_positions.is_empty());
    world.clock.advance(time::Duration::seconds(600));
    world.redrive_and_deliver().await;
    world.deliver(&[&batch]).await;
    assert_eq!(world.sent_to("customer2@alpine.customers.example"), 1);
    assert!(matches!(
        world.recorded_outcome(&batch).await.outcomes[1],
        RecipientOutcome::Unconfirmed { .. }
    ));
}

#[tokio::test]
async fn given_a_record_that_must_be_retried_then_the_records_after_it_wait_for_the_retry() {
    let world = world(&["alpine", "harbor"]).await;
    // Nothing can keep alpine's throttled recipients: its record goes back to Lambda.
    world.provider.throttle_next(2 * 4);
    world.archive.set_unavailable(true);
    let first = batch("alpine", 1..3);
    let second = batch("harbor", 1..3);
    let outcome = world.deliver(&[&first, &second]).await;
    assert_eq!(outcome.failed_positions, vec![0]);
    assert_eq!(world.provider.attempts_for("storecast-harbor"), 0);
    assert!(!outcome.per_tenant.contains_key("harbor"));
}

#[tokio::test]
async fn given_a_tenant_whose_workspace_rejects_sends_then_its_batch_is_parked_and_others_flow() {
    let world = world(&["alpine", "harbor"]).await;
    world.provider.fail_configuration_set(
        "storecast-alpine",
        ScriptedFailure::RejectTenant("configuration set does not exist".into()),
    );
    let rejected = batch("alpine", 1..41);
    let healthy = batch("harbor", 1..6);
    let outcome = world.deliver(&[&rejected, &healthy]).await;
    assert!(
        world.provider.attempts_for("storecast-alpine") <= 16,
        "once refused, the rest of the batch is not attempted (at most the sends in flight): {}",
        world.provider.attempts_for("storecast-alpine")
    );
    assert!(
        outcome.failed_positions.is_empty(),
        "nothing blocks the shard"
    );
    assert_eq!(outcome.per_tenant["alpine"].sent, 0);
    assert!(outcome.per_tenant["alpine"].parked > 0);
    assert!(outcome.per_tenant["harbor"].sent > 0);
    let parked = world
        .archive
        .parked(&TenantId::parse("alpine").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0]
            .1
            .reason
            .contains("configuration set does not exist")
    );

    assert_eq!(
        parked[0].1.batch.recipients.len() as u64,
        outcome.per_tenant["alpine"].parked,
        "only the recipients without a final outcome are parked"
    );

    // WHEN the tenant's batches are redriven: they go back on the stream and leave the archive.
    let stream = MemoryStream::default();
    let summary = storecast::pipeline::redrive::redrive_parked(
        world.archive.as_ref(),
        &stream,
        &TenantId::parse("alpine").unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(summary.batches, 1);
    assert!(
        world
            .archive
            .parked(&TenantId::parse("alpine").unwrap(), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stream.records().len(), 1);
}

#[tokio::test]
async fn given_a_paused_campaign_then_batches_are_parked_and_resuming_redrives_them() {
    let world = world(&["alpine"]).await;
    let tenant = TenantId::parse("alpine").unwrap();
    let campaign = CampaignId::parse("c1").unwrap();
    world
        .directory
        .set_campaign_status(&tenant, &campaign, CampaignStatus::Paused)
        .await
        .unwrap();
    let batch = batch("alpine", 1..6);
    let outcome = world.deliver(&[&batch]).await;
    assert_eq!(world.provider.sent_count(), 0);
    assert_eq!(outcome.per_tenant["alpine"].parked, 5);
    let stream = MemoryStream::default();
    let summary = storecast::pipeline::redrive::resume_campaign(
        world.directory.as_ref(),
        world.archive.as_ref(),
        &stream,
        &tenant,
        &campaign,
    )
    .await
    .unwrap();
    assert_eq!(summary.recipients, 5);
    let redriven: Vec<InboundRecord> = stream
        .records()
        .into_iter()
        .map(|r| InboundRecord {
            sequence_number: "1".into(),
            partition_key: r.partition_key,
            data: r.data,
            arrived_at: None,
        })
        .collect();
    let deadline = world.clock.now() + time::Duration::seconds(60);
    let resumed = world.deliverer.deliver(&redriven, deadline).await;
    assert!(resumed.failed_positions.is_empty());
    assert!(world.provider.sent_count() > 0);
    assert_eq!(
        world.provider.sent_count(),
        resumed.per_tenant["alpine"].sent
    );

    // A page redriven twice (put back, then not removed): the copy sends nothing again.
    let sent = world.provider.sent_count();
    let again = world.deliverer.deliver(&redriven, deadline).await;
    assert!(again.failed_positions.is_empty());
    assert_eq!(world.provider.sent_count(), sent);
}

#[tokio::test]
async fn given_a_suspended_tenant_then_its_batches_are_parked() {
    let world = world(&["alpine"]).await;
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.status = TenantStatus::Suspended;
    world.directory.put_workspace(&workspace).await.unwrap();
    let outcome = world.deliver(&[&batch("alpine", 1..3)]).await;
    assert_eq!(outcome.per_tenant["alpine"].parked, 2);
    assert_eq!(world.provider.sent_count(), 0);
}

#[tokio::test]
async fn given_a_launch_running_into_the_quiet_hours_then_its_batches_wait_for_the_window_to_end() {
    let world = world(&["alpine", "harbor"]).await;
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace.settings.timezone = "Europe/Zurich".into();
    workspace.settings.quiet_hours = Some(storecast::domain::QuietHours {
        start_hour: 21,
        end_hour: 8,
    });
    world.directory.put_workspace(&workspace).await.unwrap();
    // 22:30 in Zurich: alpine is quiet, harbor (no quiet hours) is not.
    world.clock.advance(time::Duration::minutes(11 * 60 + 30));
    let held = batch("alpine", 1..4);
    let night = world.deliver(&[&held, &batch("harbor", 1..3)]).await;
    assert_eq!(night.per_tenant["alpine"].deferred, 3);
    assert_eq!(night.per_tenant["alpine"].quiet_hours_held, 3);
    assert_eq!(night.per_tenant["harbor"].sent, 2);
    assert_eq!(
        world.provider.sent_count(),
        2,
        "nothing of alpine's was sent"
    );
    let deferred = world.archive.deferred();
    assert_eq!(deferred.len(), 1);
    // 08:00 in Zurich the next morning.
    assert_eq!(
        deferred[0].1.retry_at,
        time::macros::datetime!(2026-11-23 07:00 UTC).unix_timestamp()
    );
    // Not due at 07:59 local; sent at 08:00.
    world.clock.advance(time::Duration::minutes(9 * 60 + 29));
    let (early, _) = world.redrive_and_deliver().await;
    assert_eq!(early.batches, 0);
    world.clock.advance(time::Duration::minutes(1));
    let (redriven, morning) = world.redrive_and_deliver().await;
    assert_eq!(redriven.batches, 1);
    assert_eq!(morning.per_tenant["alpine"].sent, 3);
    assert_eq!(world.provider.sent_count(), 5);
}

#[tokio::test]
async fn given_throttling_that_outlasts_the_retries_then_the_rest_is_deferred_and_sent_once() {
    let world = world(&["alpine"]).await;
    // Three recipients, four attempts each.
    world.provider.throttle_next(12);
    let batch = batch("alpine", 1..4);
    let first = world.deliver(&[&batch]).await;
    assert!(first.failed_positions.is_empty(), "deferred, not retried");
    assert_eq!(first.per_tenant["alpine"].deferred, 3);
    assert_eq!(world.provider.sent_count(), 0);
    world.clock.advance(time::Duration::seconds(61));
    let (redriven, second) = world.redrive_and_deliver().await;
    assert_eq!(redriven.batches, 1);
    assert_eq!(second.per_tenant["alpine"].sent, 3);
    let third = world.deliver(&[&batch]).await;
    assert_eq!(third.per_tenant["alpine"].duplicates, 3);
    assert_eq!(world.provider.sent_count(), 3);
}

/// Found by the send budget's deferrals: a batch deferred a second time by the attempt that took
/// its claims over left the stored outcome (the same slots, all pending) naming the first
/// attempt, so its releases were not recognised and the third copy waited for the lease.
#[tokio::test]
async fn given_a_batch_deferred_twice_then_its_third_delivery_takes_its_claims_at_once() {
    let world = world(&["alpine"]).await;
    let batch = batch("alpine", 1..4);
    // Three recipients, four attempts each: throttled in the first two deliveries.
    world.provider.throttle_next(24);
    assert_eq!(
        world.deliver(&[&batch]).await.per_tenant["alpine"].deferred,
        3
    );
    world.clock.advance(time::Duration::seconds(61));
    let (_, second) = world.redrive_and_deliver().await;
    assert_eq!(second.per_tenant["alpine"].deferred, 3);
    // WHEN it comes back a minute later, long before the second delivery's lease ends
    world.clock.advance(time::Duration::seconds(61));
    let (redriven, third) = world.redrive_and_deliver().await;
    // THEN it is sent, not deferred again until that lease ends
    assert_eq!(redriven.batches, 1);
    assert_eq!(third.per_tenant["alpine"].sent, 3, "{third:?}");
    assert_eq!(world.provider.sent_count(), 3);
}

#[tokio::test]
async fn given_a_tenant_whose_items_cannot_be_read_then_its_batch_is_parked_and_others_flow() {
    let world = world(&["alpine", "harbor"]).await;
    world
        .directory
        .corrupt_tenant(&TenantId::parse("alpine").unwrap());
    let outcome = world
        .deliver(&[&batch("alpine", 1..3), &batch("harbor", 1..3)])
        .await;
    assert!(outcome.failed_positions.is_empty(), "the shard moves on");
    assert_eq!(outcome.per_tenant["alpine"].parked, 2);
    assert!(outcome.per_tenant["harbor"].sent > 0);
    let parked = world
        .archive
        .parked(&TenantId::parse("alpine").unwrap(), None)
        .await
        .unwrap();
    assert!(parked[0].1.reason.contains("configuration_set"));
}

#[tokio::test]
async fn given_the_directory_is_down_then_the_batch_is_deferred_and_nothing_is_lost() {
    let world = world(&["alpine"]).await;
    world.directory.set_unavailable(true);
    let batch = batch("alpine", 1..3);
    let outcome = world.deliver(&[&batch]).await;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!(outcome.per_tenant["alpine"].deferred, 2);
    assert_eq!(world.provider.sent_count(), 0);
    world.directory.set_unavailable(false);
    world.clock.advance(time::Duration::seconds(61));
    let (_, retried) = world.redrive_and_deliver().await;
    assert_eq!(retried.per_tenant["alpine"].sent, 2);
    assert_eq!(world.provider.sent_count(), 2);
}

#[tokio::test]
async fn given_bad_input_then_it_is_dead_lettered_with_its_reason_and_never_blocks() {
    let world = world(&["alpine"]).await;
    let unknown = batch("ghost", 1..3);
    let good = batch("alpine", 1..3);
    let mut records = records(&[&unknown, &good]);
    records.push(InboundRecord {
        sequence_number: "999".into(),
        partition_key: "x".into(),
        data: vec![0xff, 0x00, 0x12],
        arrived_at: None,
    });
    let deadline = world.clock.now() + time::Duration::seconds(60);
    let outcome = world.deliverer.deliver(&records, deadline).await;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!(outcome.per_tenant["ghost"].dead_lettered, 2);
    assert_eq!(outcome.unreadable_records, 1);
    assert!(outcome.per_tenant["alpine"].sent > 0);
    let letters = world.archive.dead_letters().await.unwrap();
    assert!(letters.iter().any(|l| l.reason == "unknown tenant"));
    assert!(
        letters
            .iter()
            .any(|l| l.payload_encoding == storecast::pipeline::archive::PayloadEncoding::Base64)
    );
}

#[tokio::test]
async fn given_a_template_that_does_not_compile_then_only_that_tenant_is_dead_lettered() {
    let world = world(&["alpine", "harbor"]).await;
    let mut broken = sample_template_version("alpine", 1);
    broken.html = "{% for x in %}".into();
    world.directory.put_template_version(&broken).await.unwrap();
    let outcome = world
        .deliver(&[&batch("alpine", 1..3), &batch("harbor", 1..3)])
        .await;
    assert_eq!(outcome.per_tenant["alpine"].dead_lettered, 2);
    assert!(outcome.per_tenant["harbor"].sent > 0);
    let letters = world.archive.dead_letters().await.unwrap();
    assert!(letters[0].reason.contains("template failed to compile"));
}

#[tokio::test]
async fn given_suppressed_and_addressless_customers_then_they_are_recorded_not_sent() {
    let world = world(&["alpine"]).await;
    world
        .directory
        .add(
            &TenantId::parse("alpine").unwrap(),
            &Suppression::manual("Customer2@Alpine.Customers.Example", 0),
        )
        .await
        .unwrap();
    let mut batch = batch("alpine", 1..4);
    batch.recipients[2].customer.email = None;
    let outcome = world.deliver(&[&batch]).await;
    let counts = outcome.per_tenant["alpine"];
    assert_eq!((counts.sent, counts.suppressed, counts.failed), (1, 1, 1));
    assert_eq!(world.sent_to("customer2@alpine.customers.example"), 0);
}

#[tokio::test]
async fn given_a_recipient_the_provider_rejects_then_it_is_failed_with_the_reason() {
    let world = world(&["alpine"]).await;
    world.provider.fail_address(
        "customer1@alpine.customers.example",
        ScriptedFailure::RejectMessage("Illegal address".into()),
    );
    let batch = batch("alpine", 1..3);
    let outcome = world.deliver(&[&batch]).await;
    assert_eq!(outcome.per_tenant["alpine"].failed, 1);
    let recorded = world.recorded_outcome(&batch).await;
    assert_eq!(
        recorded.outcomes[0],
        RecipientOutcome::Failed {
            reason: "Illegal address".into()
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// No message of one retailer ever goes out with another's configuration set, SES tenant,
    /// from-address, template or variables, whatever the mix of tenants in one invocation.
    #[test]
    fn tenant_isolation_holds_for_any_mix(mix in proptest::collection::vec((0usize..4, 0u32..200), 1..12)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let tenants = ["alpine", "harbor", "citrus", "gadget"];
            let world = world(&tenants).await;
            let batches: Vec<SendBatch> = mix
                .iter()
                .map(|(tenant, start)| batch(tenants[*tenant], *start..*start + 3))
                .collect();
            let refs: Vec<&SendBatch> = batches.iter().collect();
            world.deliver(&refs).await;
            for (_, email) in world.provider.sent() {
                let owner = email
                    .tags
                    .iter()
                    .find(|(k, _)| k == "tenant")
                    .map(|(_, v)| v.clone())
                    .unwrap();
                let expected = sample_workspace(&owner, DOMAIN);
                prop_assert_eq!(&email.configuration_set, &expected.configuration_set);
                prop_assert_eq!(&email.ses_tenant, &expected.ses_tenant);
                prop_assert_eq!(&email.from_address, &expected.from_address);
                let domain = format!("@{owner}.customers.example");
                prop_assert!(email.to_address.ends_with(&domain));
                let html = html_of(&email.raw_mime);
                let version = sample_template_version(&owner, 1);
                let headline = version.variables["headline"].as_str().unwrap();
                prop_assert!(html.contains(headline), "own variables rendered");
                for other in tenants.iter().filter(|t| **t != owner) {
                    let theirs = sample_template_version(other, 1);
                    prop_assert!(!html.contains(theirs.variables["headline"].as_str().unwrap()));
                    let their_domain = format!("{other}.shop.example");
                    prop_assert!(!html.contains(&their_domain));
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn given_a_live_reference_then_a_newly_published_version_is_sent_within_a_minute() {
    use storecast::domain::TemplateRef;
    use storecast::templates::ports::{PublishResult, TemplatePublisher};

    let world = world(&["alpine"]).await;
    // Version 1 is the seeded, explicitly referenced one; the live pointer starts at 2.
    let mut live = sample_template_version("alpine", 2);
    live.html = "<p>first {{ brand.tagline }}</p>".into();
    let mut workspace = sample_workspace("alpine", DOMAIN);
    workspace
        .settings
        .brand
        .insert("tagline".into(), "Made in the Alps".into());
    world.directory.put_workspace(&workspace).await.unwrap();
    assert_eq!(
        world.directory.publish(&live, None).await.unwrap(),
        PublishResult::Published
    );
    let live_batch = |range| {
        let mut batch = batch("alpine", range);
        batch.group.template = TemplateRef::live(live.template.id.clone());
        batch
    };
    let sent_html = |world: &World| {
        world
            .provider
            .sent()
            .iter()
            .map(|(_, e)| html_of(&e.raw_mime))
            .collect::<Vec<_>>()
    };

    world.deliver(&[&live_batch(1..3)]).await;
    let mut second = live.clone();
    second.template.version = 3;
    second.html = "<p>second {{ brand.tagline }}</p>".into();
    assert_eq!(
        world.directory.publish(&second, Some(2)).await.unwrap(),
        PublishResult::Published
    );
    world.clock.advance(time::Duration::seconds(59));
    world.deliver(&[&live_batch(3..5)]).await;
    let reads_within_the_minute = world.directory.live_reads();
    world.clock.advance(time::Duration::seconds(2));
    world.deliver(&[&live_batch(5..7)]).await;

    let html = sent_html(&world);
    assert_eq!(
        html.len(),
        6,
        "every recipient of the three batches is sent"
    );
    assert!(
        html[..4]
            .iter()
            .all(|h| h.contains("first Made in the Alps")),
        "{html:?}"
    );
    assert!(
        html[4..]
            .iter()
            .all(|h| h.contains("second Made in the Alps")),
        "{html:?}"
    );
    assert_eq!(
        reads_within_the_minute, 1,
        "the pointer is read once a minute, not per batch"
    );
    assert_eq!(world.directory.live_reads(), 2);
}

#[tokio::test]
async fn given_a_live_reference_to_a_template_never_published_then_the_batch_is_dead_lettered() {
    use storecast::domain::TemplateRef;
    let world = world(&["alpine"]).await;
    let mut batch = batch("alpine", 1..3);
    batch.group.template = TemplateRef::live(batch.group.template.id.clone());
    let outcome = world.deliver(&[&batch]).await;
    assert_eq!(outcome.per_tenant["alpine"].dead_lettered, 2);
    assert!(world.provider.sent().is_empty());
}
