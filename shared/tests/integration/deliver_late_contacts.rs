//! A frequency-capped retailer in warm-up whose contact history answers too late, on the
//! in-memory adapters: the takes land in the history, their answers miss the delivery's bound
//! (as DynamoDB calls of a loaded endpoint did in the API demo). Every recipient ends exactly
//! once: sent, or deferred and then sent by the redrive; the warm-up cap counts exactly the sends
//! at every step, nothing is lost and nothing goes out twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use storecast::clock::Clock;
use storecast::deliverability::counters::Day;
use storecast::deliverability::frequency_cap::{ContactLedger, ContactScope, ContactTake};
use storecast::deliverability::warmup::{SendCap, next_day_start};
use storecast::directory::TenantAdmin;
use storecast::domain::{CustomerId, FrequencyCap, SendBatch, TenantId, WarmupPlan};
use storecast::error::StoreError;
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig, TenantCounts};
use storecast::pipeline::redrive::redrive_due;
use storecast::testing::samples::{sample_batch, seed_retailer};
use storecast::testing::{
    ManualClock, MemoryArchive, MemoryContactHistory, MemoryDirectory, MemoryEmailProvider,
    MemorySendCap, MemorySendLog, MemoryStream,
};

const DOMAIN: &str = "mail.storecast.example";
const TENANT: &str = "citrus";

/// The contact history: every take is applied, and the first `late` calls answer only after
/// `delay` (longer than the delivery's bound on a store call).
struct LateLedger {
    inner: MemoryContactHistory,
    late: AtomicU32,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl ContactLedger for LateLedger {
    async fn take_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
        cap: FrequencyCap,
        now: time::OffsetDateTime,
    ) -> Vec<Result<ContactTake, StoreError>> {
        let answers = self.inner.take_contacts(scope, customers, cap, now).await;
        let late = self
            .late
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if late {
            tokio::time::sleep(self.delay).await;
        }
        answers
    }

    async fn release_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
    ) -> Result<(), StoreError> {
        self.inner.release_contacts(scope, customers).await
    }
}

struct World {
    send_log: Arc<MemorySendLog>,
    provider: Arc<MemoryEmailProvider>,
    archive: Arc<MemoryArchive>,
    caps: Arc<MemorySendCap>,
    ledger: Arc<LateLedger>,
    clock: Arc<ManualClock>,
    deliverer: Arc<Deliverer>,
    stream: MemoryStream,
}

async fn world(late_calls: u32) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    seed_retailer(directory.as_ref(), TENANT, "c1", DOMAIN)
        .await
        .unwrap();
    let id = TenantId::parse(TENANT).unwrap();
    let mut workspace = directory.workspace(&id).await.unwrap().unwrap();
    workspace.settings.frequency_cap = Some(FrequencyCap {
        max_messages: 1,
        window_days: 7,
    });
    workspace.settings.warmup = Some(WarmupPlan {
        start_cap: 50,
        target: 40_000,
        ramp_days: 35,
        engaged_first: false,
    });
    directory.put_workspace(&workspace).await.unwrap();
    let send_log = Arc::new(MemorySendLog::default());
    let provider = Arc::new(MemoryEmailProvider::keeping_messages());
    let archive = Arc::new(MemoryArchive::default());
    let caps = Arc::new(MemorySendCap::default());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-12-07 14:50:00 UTC),
    ));
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_concurrency = 4;
    let ledger = Arc::new(LateLedger {
        inner: MemoryContactHistory::default(),
        late: AtomicU32::new(late_calls),
        // Longer than `store_call_timeout`, shorter than the invocation.
        delay: config.store_call_timeout * 3,
    });
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
    )
    .with_send_cap(caps.clone())
    .with_contact_ledger(ledger.clone());
    World {
        send_log,
        provider,
        archive,
        caps,
        ledger,
        clock,
        deliverer: Arc::new(deliverer),
        stream: MemoryStream::default(),
    }
}

impl World {
    /// Every batch in its own invocation, all at once (as the stream's shards run them).
    async fn deliver_concurrently(&self, batches: &[SendBatch]) -> TenantCounts {
        let deadline = self.clock.now() + time::Duration::seconds(60);
        crate::support::deliver_concurrently(&self.deliverer, batches, deadline).await
    }

    /// The scheduler's redrive of what is due, then its delivery.
    async fn redrive(&self) -> TenantCounts {
        redrive_due(
            self.archive.as_ref(),
            &self.stream,
            self.send_log.as_ref(),
            self.clock.now().unix_timestamp(),
        )
        .await
        .unwrap();
        let batches: Vec<SendBatch> = self
            .stream
            .take_records()
            .into_iter()
            .map(|r| serde_json::from_slice(&r.data).unwrap())
            .collect();
        self.deliver_concurrently(&batches).await
    }

    fn sent_per_address(&self) -> BTreeMap<String, usize> {
        let mut sent = BTreeMap::new();
        for (_, email) in self.provider.sent() {
            *sent.entry(email.to_address).or_insert(0) += 1;
        }
        sent
    }

    /// The addresses of the recipients in the archive's deferred batches, with why and until
    /// when each waits.
    fn deferred(&self) -> BTreeMap<String, (i64, String)> {
        let mut deferred = BTreeMap::new();
        for (_, d) in self.archive.deferred() {
            for recipient in &d.batch.as_ref().unwrap().recipients {
                let address = recipient.customer.email.clone().unwrap();
                let before = deferred.insert(address, (d.retry_at, d.reason.clone()));
                assert!(before.is_none(), "a recipient deferred twice");
            }
        }
        deferred
    }

    async fn used(&self, day: &Day) -> u64 {
        let tenant = TenantId::parse(TENANT).unwrap();
        self.caps
            .usage(&tenant, day)
            .await
            .unwrap()
            .map_or(0, |u| u.used)
    }

    fn today(&self) -> Day {
        Day::of_epoch(self.clock.now().unix_timestamp())
    }

    /// Every recipient is sent once or deferred once, never both; the day's cap counts exactly
    /// the day's sends.
    async fn assert_reconciled(&self, audience: usize, sent_today: u64) {
        let sent = self.sent_per_address();
        assert!(sent.values().all(|&n| n == 1), "sent twice: {sent:?}");
        let deferred = self.deferred();
        assert!(
            sent.keys().all(|address| !deferred.contains_key(address)),
            "sent and still deferred"
        );
        assert_eq!(sent.len() + deferred.len(), audience, "nobody lost");
        assert_eq!(self.used(&self.today()).await, sent_today, "cap == sends");
    }
}

fn batches() -> Vec<SendBatch> {
    (0..4u32)
        .map(|b| sample_batch(TENANT, "c1", b * 10 + 1..b * 10 + 11))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn late_contact_takes_defer_their_recipients_once_and_the_cap_counts_only_sends() {
    // Two of the four batches' takes answer after the bound: the takes landed, the answers lost.
    let w = world(2).await;
    let tenant = TenantId::parse(TENANT).unwrap();
    w.caps.set_cap(&tenant, &w.today(), 30).await.unwrap();

    let first = w.deliver_concurrently(&batches()).await;
    assert_eq!(first.recipients, 40);
    assert_eq!(first.sent + first.deferred, 40, "{first:?}");
    assert_eq!(first.sent, w.provider.sent_count() as u64);
    assert!(first.sent <= 20, "two batches' takes went unanswered");
    let reasons: Vec<String> = w
        .archive
        .deferred()
        .into_iter()
        .map(|(_, d)| d.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "contact history unavailable"),
        "{reasons:?}"
    );
    w.assert_reconciled(40, first.sent).await;

    // A minute on, the redrive: the late takes' contacts are this campaign's own (AlreadyHeld),
    // so they go out up to the cap; the rest waits for tomorrow's.
    w.clock.advance(time::Duration::minutes(2));
    let retry = w.redrive().await;
    let sent_today = first.sent + retry.sent;
    assert_eq!(sent_today, 30, "the day's cap, exactly");
    w.assert_reconciled(40, sent_today).await;
    let tomorrow = next_day_start(w.clock.now().unix_timestamp());
    for (address, (at, reason)) in w.deferred() {
        assert_eq!(
            (at, reason.as_str()),
            (tomorrow, "daily warm-up cap reached"),
            "{address}"
        );
    }

    // Tomorrow: the rest go out, once each; nothing is left in the archive.
    let now = w.clock.now().unix_timestamp();
    w.clock
        .advance(time::Duration::seconds(tomorrow - now + 60));
    w.caps.set_cap(&tenant, &w.today(), 60).await.unwrap();
    let next_day = w.redrive().await;
    assert_eq!(next_day.sent, 10);
    w.assert_reconciled(40, 10).await;
    assert!(w.archive.deferred().is_empty());
    assert_eq!(
        w.sent_per_address().len(),
        40,
        "every recipient reached once"
    );
    let history = &w.ledger.inner;
    for n in 1..=40u32 {
        let customer = CustomerId::parse(format!("cust-{n:07}")).unwrap();
        assert_eq!(
            history
                .campaigns_of(&tenant, storecast::domain::Channel::Email, &customer)
                .len(),
            1,
            "one contact for customer {n}"
        );
    }
}
