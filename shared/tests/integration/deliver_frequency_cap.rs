//! The retailer's frequency cap in delivery, on the in-memory adapters: a contact is taken when
//! a message is about to be sent, atomically across concurrent deliveries; recipients not sent
//! (suppressed, failed, deferred, parked) do not count; a redelivery counts nothing twice; a
//! retailer without a cap costs no contact call.

use std::collections::BTreeMap;
use std::sync::Arc;

use storecast::clock::Clock;
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::directory::TenantAdmin;
use storecast::domain::{
    CampaignId, CampaignStatus, Channel, CustomerId, FrequencyCap, SendBatch, TenantId,
};
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig, TenantCounts};
use storecast::pipeline::redrive::redrive_due;
use storecast::pipeline::send_log::{DeliveryCounters, DeliveryTally, RecipientOutcome, SendLog};
use storecast::testing::samples::{sample_batch, seed_retailer};
use storecast::testing::{
    ManualClock, MemoryArchive, MemoryContactHistory, MemoryDirectory, MemoryEmailProvider,
    MemorySendLog, MemoryStream, ScriptedFailure,
};
use time::OffsetDateTime;

const DOMAIN: &str = "mail.storecast.example";
const CAP_OF_ONE: FrequencyCap = FrequencyCap {
    max_messages: 1,
    window_days: 7,
};

struct World {
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MemorySendLog>,
    provider: Arc<MemoryEmailProvider>,
    archive: Arc<MemoryArchive>,
    contacts: Arc<MemoryContactHistory>,
    clock: Arc<ManualClock>,
    stream: MemoryStream,
}

/// Retailers with their campaigns active, each with the given cap.
async fn world(retailers: &[(&str, Option<FrequencyCap>)], campaigns: &[&str]) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for (tenant, cap) in retailers {
        seed_retailer(directory.as_ref(), tenant, campaigns[0], DOMAIN)
            .await
            .unwrap();
        let id = TenantId::parse(*tenant).unwrap();
        for campaign in &campaigns[1..] {
            let campaign = CampaignId::parse(*campaign).unwrap();
            directory
                .set_campaign_status(&id, &campaign, CampaignStatus::Active)
                .await
                .unwrap();
        }
        let mut workspace = directory.workspace(&id).await.unwrap().unwrap();
        workspace.settings.frequency_cap = *cap;
        directory.put_workspace(&workspace).await.unwrap();
    }
    World {
        directory,
        send_log: Arc::new(MemorySendLog::default()),
        provider: Arc::new(MemoryEmailProvider::keeping_messages()),
        archive: Arc::new(MemoryArchive::default()),
        contacts: Arc::new(MemoryContactHistory::default()),
        clock: Arc::new(ManualClock::new(
            time::macros::datetime!(2026-11-22 10:00:00 UTC),
        )),
        stream: MemoryStream::default(),
    }
}

impl World {
    /// A delivery of its own (as another Lambda container would run), on the shared stores.
    fn deliverer(&self) -> Deliverer {
        let mut config = DeliveryConfig::new(DOMAIN);
        config.send_concurrency = 4;
        config.send_retry.base_delay = std::time::Duration::from_millis(1);
        Deliverer::new(
            DelivererPorts {
                directory: self.directory.clone(),
                templates: self.directory.clone(),
                send_log: self.send_log.clone(),
                provider: self.provider.clone(),
                archive: self.archive.clone(),
                clock: self.clock.clone(),
                unsubscribe: storecast::testing::unsubscribe_signer(),
            },
            config,
        )
        .with_contact_ledger(self.contacts.clone())
    }

    fn deadline(&self) -> OffsetDateTime {
        self.clock.now() + time::Duration::seconds(60)
    }

    async fn deliver(&self, deliverer: &Deliverer, batch: &SendBatch) -> TenantCounts {
        let outcome = deliverer
            .deliver(&[crate::support::record(batch, 0)], self.deadline())
            .await;
        assert!(
            outcome.failed_positions.is_empty(),
            "nothing left to Lambda"
        );
        outcome
            .per_tenant
            .values()
            .fold(TenantCounts::default(), |mut total, counts| {
                total.add(counts);
                total
            })
    }

    fn sent_per_address(&self) -> BTreeMap<String, usize> {
        let mut sent = BTreeMap::new();
        for (_, email) in self.provider.sent() {
            *sent.entry(email.to_address).or_insert(0) += 1;
        }
        sent
    }

    async fn tally(&self, tenant: &str, campaign: &str) -> DeliveryTally {
        let tenant = TenantId::parse(tenant).unwrap();
        let campaign = CampaignId::parse(campaign).unwrap();
        let mut total = DeliveryTally::default();
        for (_, tally) in self
            .send_log
            .campaign_tallies(&tenant, &campaign)
            .await
            .unwrap()
        {
            total.add(&tally);
        }
        total
    }

    fn contacted(&self, tenant: &str, n: u32) -> Vec<CampaignId> {
        self.contacts.campaigns_of(
            &TenantId::parse(tenant).unwrap(),
            Channel::Email,
            &CustomerId::parse(format!("cust-{n:07}")).unwrap(),
        )
    }
}

fn address(tenant: &str, n: u32) -> String {
    format!("customer{n}@{tenant}.customers.example")
}

#[tokio::test]
async fn two_concurrent_deliveries_of_two_campaigns_send_each_customer_once_under_a_cap_of_one() {
    let w = world(&[("alpine", Some(CAP_OF_ONE))], &["spring", "summer"]).await;
    let (first, second) = (w.deliverer(), w.deliverer());
    let spring = sample_batch("alpine", "spring", 1..=20);
    let summer = sample_batch("alpine", "summer", 1..=20);
    // Both deliveries are mid-send together: neither has finished when the other takes.
    w.provider.close_gate();
    let gate = async {
        for _ in 0..500 {
            tokio::task::yield_now().await;
        }
        assert!(w.provider.waiting() > 0);
        w.provider.open_gate();
    };
    let (a, b, ()) = tokio::join!(
        w.deliver(&first, &spring),
        w.deliver(&second, &summer),
        gate
    );

    let sent = w.sent_per_address();
    assert_eq!(sent.len(), 20, "every customer reached");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert_eq!(a.sent + b.sent, 20);
    assert_eq!(a.frequency_capped + b.frequency_capped, 20);
    for n in 1..=20 {
        assert_eq!(w.contacted("alpine", n).len(), 1, "customer {n}");
    }
    // The stats reconcile: each campaign's sent + capped is its audience.
    let (spring_tally, summer_tally) = (
        w.tally("alpine", "spring").await,
        w.tally("alpine", "summer").await,
    );
    assert_eq!(spring_tally.sent + spring_tally.frequency_capped, 20);
    assert_eq!(summer_tally.sent + summer_tally.frequency_capped, 20);
    assert_eq!(
        spring_tally.frequency_capped + summer_tally.frequency_capped,
        20
    );
    assert_eq!(spring_tally.sent, a.sent);

    // Redelivered (a stream retry, a redrive): every recipient is final, the refused ones too.
    let takes = w.contacts.ledger_calls().0;
    let again = w.deliver(&first, &spring).await;
    let again_summer = w.deliver(&second, &summer).await;
    assert_eq!(again.duplicates + again_summer.duplicates, 40);
    assert_eq!(again.sent + again_summer.sent + again.frequency_capped, 0);
    assert_eq!(w.provider.sent_count(), 20);
    assert_eq!(
        w.contacts.ledger_calls().0,
        takes,
        "no recipient to take for"
    );
    assert_eq!(
        w.tally("alpine", "spring").await,
        spring_tally,
        "nothing counted twice"
    );
}

#[tokio::test]
async fn a_redelivered_batch_is_not_counted_twice_and_its_own_contact_does_not_refuse_it() {
    let w = world(&[("alpine", Some(CAP_OF_ONE))], &["spring"]).await;
    let deliverer = w.deliverer();
    let batch = sample_batch("alpine", "spring", 1..=6);
    // Customer 3's send is throttled past the retries: deferred, its contact given back.
    w.provider
        .fail_address(&address("alpine", 3), ScriptedFailure::Throttle);
    let first = w.deliver(&deliverer, &batch).await;
    assert_eq!((first.sent, first.deferred), (5, 1));
    assert!(
        w.contacted("alpine", 3).is_empty(),
        "not sent, not contacted"
    );

    // Its own contact, found again by a retry, is no other campaign's: the cap of one lets it go.
    let spring = CampaignId::parse("spring").unwrap();
    let tenant = TenantId::parse("alpine").unwrap();
    let three = CustomerId::parse("cust-0000003").unwrap();
    w.contacts
        .record(&tenant, Channel::Email, &spring, &three, w.clock.now());
    w.clock.advance(time::Duration::minutes(2));
    // The provider has recovered.
    let w2 = World {
        provider: Arc::new(MemoryEmailProvider::keeping_messages()),
        ..w
    };
    redrive_due(
        w2.archive.as_ref(),
        &w2.stream,
        w2.send_log.as_ref(),
        w2.clock.now().unix_timestamp(),
    )
    .await
    .unwrap();
    let redriven: Vec<SendBatch> = w2
        .stream
        .take_records()
        .into_iter()
        .map(|r| serde_json::from_slice(&r.data).unwrap())
        .collect();
    assert_eq!(redriven.len(), 1);
    let retry = w2.deliver(&w2.deliverer(), &redriven[0]).await;
    assert_eq!((retry.sent, retry.frequency_capped), (1, 0));
    assert_eq!(w2.contacted("alpine", 3), vec![spring.clone()]);
    for n in 1..=6 {
        assert_eq!(
            w2.contacted("alpine", n),
            vec![spring.clone()],
            "one contact each"
        );
    }
    let tally = w2.tally("alpine", "spring").await;
    assert_eq!((tally.sent, tally.frequency_capped), (6, 0));
}

#[tokio::test]
async fn suppressed_failed_deferred_and_parked_recipients_do_not_count_as_contacted() {
    let w = world(
        &[("alpine", Some(CAP_OF_ONE)), ("harbor", Some(CAP_OF_ONE))],
        &["spring", "summer"],
    )
    .await;
    let deliverer = w.deliverer();
    let alpine = TenantId::parse("alpine").unwrap();
    w.directory
        .add(&alpine, &Suppression::manual(&address("alpine", 1), 0))
        .await
        .unwrap();
    w.provider.fail_address(
        &address("alpine", 2),
        ScriptedFailure::RejectMessage("bad address".into()),
    );
    w.provider
        .fail_address(&address("alpine", 3), ScriptedFailure::Throttle);
    let counts = w
        .deliver(&deliverer, &sample_batch("alpine", "spring", 1..=4))
        .await;
    assert_eq!(
        (
            counts.suppressed,
            counts.failed,
            counts.deferred,
            counts.sent
        ),
        (1, 1, 1, 1)
    );
    for n in 1..=3 {
        assert!(w.contacted("alpine", n).is_empty(), "customer {n}");
    }
    assert_eq!(w.contacted("alpine", 4).len(), 1);

    // A paused campaign's batch is parked before any take.
    let summer = CampaignId::parse("summer").unwrap();
    w.directory
        .set_campaign_status(&alpine, &summer, CampaignStatus::Paused)
        .await
        .unwrap();
    let takes = w.contacts.ledger_calls().0;
    let parked = w
        .deliver(&deliverer, &sample_batch("alpine", "summer", 5..=8))
        .await;
    assert_eq!(parked.parked, 4);
    assert_eq!(w.contacts.ledger_calls().0, takes);

    // A workspace that refuses the sends parks the batch mid-way: its contacts are given back.
    let workspace = w
        .directory
        .workspace(&TenantId::parse("harbor").unwrap())
        .await
        .unwrap()
        .unwrap();
    w.provider.fail_configuration_set(
        &workspace.configuration_set,
        ScriptedFailure::RejectTenant("identity paused".into()),
    );
    let refused = w
        .deliver(&deliverer, &sample_batch("harbor", "spring", 1..=5))
        .await;
    assert_eq!((refused.sent, refused.parked), (0, 5));
    assert_eq!(
        w.contacts
            .contacts_of(&TenantId::parse("harbor").unwrap(), Channel::Email),
        0
    );
    assert!(
        w.contacts.ledger_calls().1 >= 2,
        "alpine's and harbor's unsent given back"
    );
}

#[tokio::test]
async fn an_unavailable_contact_history_defers_the_recipients_and_never_sends_them_uncapped() {
    let w = world(&[("alpine", Some(CAP_OF_ONE))], &["spring"]).await;
    w.contacts.set_unavailable(true);
    let batch = sample_batch("alpine", "spring", 1..=5);
    let counts = w.deliver(&w.deliverer(), &batch).await;
    assert_eq!(
        (counts.sent, counts.deferred, counts.frequency_capped),
        (0, 5, 0)
    );
    assert_eq!(w.provider.sent_count(), 0);
    let deferred = w.archive.deferred();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].1.reason, "contact history unavailable");

    w.contacts.set_unavailable(false);
    w.clock.advance(time::Duration::minutes(2));
    redrive_due(
        w.archive.as_ref(),
        &w.stream,
        w.send_log.as_ref(),
        w.clock.now().unix_timestamp(),
    )
    .await
    .unwrap();
    let redriven: SendBatch = serde_json::from_slice(&w.stream.take_records()[0].data).unwrap();
    let retry = w.deliver(&w.deliverer(), &redriven).await;
    assert_eq!(retry.sent, 5);
    assert_eq!(w.contacted("alpine", 1).len(), 1);
}

#[tokio::test]
async fn a_tenant_with_a_cap_but_no_ledger_configured_is_deferred() {
    let w = world(&[("alpine", Some(CAP_OF_ONE))], &["spring"]).await;
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_concurrency = 4;
    let bare = Deliverer::new(
        DelivererPorts {
            directory: w.directory.clone(),
            templates: w.directory.clone(),
            send_log: w.send_log.clone(),
            provider: w.provider.clone(),
            archive: w.archive.clone(),
            clock: w.clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        config,
    );
    let counts = w
        .deliver(&bare, &sample_batch("alpine", "spring", 1..=3))
        .await;
    assert_eq!((counts.sent, counts.deferred), (0, 3));
}

#[tokio::test]
async fn a_tenant_without_a_cap_makes_no_contact_calls() {
    let w = world(&[("alpine", None)], &["spring", "summer"]).await;
    let deliverer = w.deliverer();
    for campaign in ["spring", "summer"] {
        let counts = w
            .deliver(&deliverer, &sample_batch("alpine", campaign, 1..=10))
            .await;
        assert_eq!(counts.sent, 10);
    }
    assert_eq!(w.contacts.calls(), (0, 0));
    assert_eq!(w.provider.sent_count(), 20);
}

/// The refused recipient's outcome is final in the send log: its claim is settled.
#[tokio::test]
async fn a_refused_recipient_is_final_in_the_batch_outcome() {
    let w = world(&[("alpine", Some(CAP_OF_ONE))], &["spring", "summer"]).await;
    let deliverer = w.deliverer();
    let tenant = TenantId::parse("alpine").unwrap();
    let spring = CampaignId::parse("spring").unwrap();
    w.contacts.record(
        &tenant,
        Channel::Email,
        &spring,
        &CustomerId::parse("cust-0000002").unwrap(),
        w.clock.now() - time::Duration::days(6),
    );
    let batch = sample_batch("alpine", "summer", 1..=3);
    let counts = w.deliver(&deliverer, &batch).await;
    assert_eq!((counts.sent, counts.frequency_capped), (2, 1));
    let outcome = w
        .send_log
        .outcome(&tenant, &batch.group.campaign_id, &batch.batch_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.outcomes[1], RecipientOutcome::FrequencyCapped);
    assert!(outcome.outcomes[1].is_final());
    // Spring's own contact never refuses spring's message to the customer.
    let own = w
        .deliver(&deliverer, &sample_batch("alpine", "spring", 2..=2))
        .await;
    assert_eq!((own.sent, own.frequency_capped), (1, 0));
    // Two days on, spring's contact (taken 8 days ago) has left the 7-day window: a later
    // campaign reaches customer 2.
    w.clock.advance(time::Duration::days(2));
    w.directory
        .set_campaign_status(
            &tenant,
            &CampaignId::parse("autumn").unwrap(),
            CampaignStatus::Active,
        )
        .await
        .unwrap();
    let autumn = w
        .deliver(&deliverer, &sample_batch("alpine", "autumn", 2..=2))
        .await;
    assert_eq!((autumn.sent, autumn.frequency_capped), (1, 0));
}
