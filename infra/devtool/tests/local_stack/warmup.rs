//! The warm-up's DynamoDB adapters against the local endpoint: the day's send cap under many
//! concurrent takes, and the versioned state.

use crate::support;

use std::sync::Arc;

use storecast::aws::dynamodb::{DailyCaps, TenantsTable};
use storecast::deliverability::counters::Day;
use storecast::deliverability::warmup::{CapUsage, SendCap, WarmupStage, WarmupState, WarmupStore};
use storecast::domain::TenantId;
use storecast::error::StoreError;
use support::test_stack;

/// Stock moto evaluates a conditional update without locking the item (its server is threaded),
/// so two concurrent takes can both pass one condition there; DynamoDB serialises writes to an
/// item, and so does the local stack's `infra/scripts/moto_server.py`. The callers below run
/// concurrently, and this lets one request at a time reach the endpoint, so what is checked is
/// the adapter's expressions whatever moto runs them (the ungated race is the last test here).
struct OneAtATime<C> {
    inner: C,
    gate: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl<C: SendCap> SendCap for OneAtATime<C> {
    async fn set_cap(&self, tenant: &TenantId, day: &Day, cap: u64) -> Result<(), StoreError> {
        let _one = self.gate.lock().await;
        self.inner.set_cap(tenant, day, cap).await
    }
    async fn take(
        &self,
        tenant: &TenantId,
        day: &Day,
        wanted: u64,
        fallback: u64,
    ) -> Result<u64, StoreError> {
        let _one = self.gate.lock().await;
        self.inner.take(tenant, day, wanted, fallback).await
    }
    async fn give_back(&self, tenant: &TenantId, day: &Day, count: u64) -> Result<(), StoreError> {
        let _one = self.gate.lock().await;
        self.inner.give_back(tenant, day, count).await
    }
    async fn usage(&self, tenant: &TenantId, day: &Day) -> Result<Option<CapUsage>, StoreError> {
        self.inner.usage(tenant, day).await
    }
}

fn gated(t: &support::TestStack) -> OneAtATime<DailyCaps> {
    OneAtATime {
        inner: caps(t),
        gate: tokio::sync::Mutex::new(()),
    }
}

fn caps(t: &support::TestStack) -> DailyCaps {
    DailyCaps::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
    )
}

#[tokio::test]
async fn concurrent_takes_never_grant_more_than_the_cap_in_total() {
    let t = test_stack("warmup-cap").await;
    let caps = Arc::new(gated(&t));
    let tenant = TenantId::parse("alpine").unwrap();
    let day = Day("2026-03-02".into());
    caps.set_cap(&tenant, &day, 1_000).await.unwrap();

    // 64 deliveries of up to 50 sends at once: 3,200 wanted, 1,000 allowed.
    let takes = (0..64u64).map(|i| {
        let (caps, tenant, day) = (caps.clone(), tenant.clone(), day.clone());
        tokio::spawn(async move { caps.take(&tenant, &day, 30 + i % 21, 50).await.unwrap() })
    });
    let granted: Vec<u64> = futures::future::join_all(takes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let total: u64 = granted.iter().sum();
    assert_eq!(
        total, 1_000,
        "every send the cap allows is granted, none more: {granted:?}"
    );
    assert_eq!(
        caps.usage(&tenant, &day).await.unwrap(),
        Some(CapUsage {
            cap: Some(1_000),
            used: 1_000
        })
    );
    assert_eq!(caps.take(&tenant, &day, 1, 50).await.unwrap(), 0);

    // Given back, then taken again by the next one.
    caps.give_back(&tenant, &day, 12).await.unwrap();
    assert_eq!(caps.take(&tenant, &day, 50, 50).await.unwrap(), 12);
}

#[tokio::test]
async fn a_day_without_a_cap_grants_the_fallback_and_a_later_cap_counts_what_was_used() {
    let t = test_stack("warmup-fallback").await;
    let caps = caps(&t);
    let tenant = TenantId::parse("alpine").unwrap();
    let day = Day("2026-03-03".into());
    assert_eq!(caps.usage(&tenant, &day).await.unwrap(), None);
    assert_eq!(caps.take(&tenant, &day, 30, 50).await.unwrap(), 30);
    assert_eq!(caps.take(&tenant, &day, 30, 50).await.unwrap(), 20);
    assert_eq!(
        caps.usage(&tenant, &day).await.unwrap(),
        Some(CapUsage {
            cap: None,
            used: 50
        })
    );
    // The day's decision: 80, of which 50 are used.
    caps.set_cap(&tenant, &day, 80).await.unwrap();
    assert_eq!(caps.take(&tenant, &day, 50, 50).await.unwrap(), 30);
    // A lower cap after the sends: nothing more today.
    caps.set_cap(&tenant, &day, 60).await.unwrap();
    assert_eq!(caps.take(&tenant, &day, 5, 50).await.unwrap(), 0);
    assert_eq!(
        caps.usage(&tenant, &day).await.unwrap(),
        Some(CapUsage {
            cap: Some(60),
            used: 80
        })
    );
    let expires = t
        .clients
        .dynamodb
        .get_item()
        .table_name(&t.stack.table("DeliveryTable").unwrap().name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CAP#alpine".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-03-03".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap()["expires_at"]
        .as_n()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert_eq!(
        expires,
        time::macros::datetime!(2026-03-11 00:00 UTC).unix_timestamp()
    );
}

#[tokio::test]
async fn the_state_is_written_only_over_the_version_it_was_read_at() {
    let t = test_stack("warmup-state").await;
    let store = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let state = WarmupState {
        rung: 0,
        cap: 200,
        day: Day("2026-03-02".into()),
        stage: WarmupStage::Ramping,
        healthy_streak: 0,
        history: Vec::new(),
    };
    assert_eq!(store.load(&tenant).await.unwrap(), None);
    assert!(store.save(&tenant, &state, None).await.unwrap());
    assert!(
        !store.save(&tenant, &state, None).await.unwrap(),
        "a second first write loses"
    );
    let next = WarmupState {
        rung: 1,
        cap: 240,
        ..state.clone()
    };
    assert!(store.save(&tenant, &next, Some(1)).await.unwrap());
    assert!(
        !store.save(&tenant, &state, Some(1)).await.unwrap(),
        "a stale write loses"
    );
    let record = store.load(&tenant).await.unwrap().unwrap();
    assert_eq!((record.version, record.state), (2, next));
}

/// Twelve deliveries at once of a tenant in warm-up, its cap on the local DynamoDB: the cap's
/// sends go out, the rest is deferred to the next UTC day.
#[tokio::test]
async fn concurrent_deliveries_on_the_dynamodb_cap_send_exactly_the_cap() {
    use storecast::clock::Clock;
    use storecast::deliverability::warmup::next_day_start;
    use storecast::directory::TenantAdmin;
    use storecast::domain::WarmupPlan;
    use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
    use storecast::pipeline::lambda_batch::InboundRecord;
    use storecast::testing::samples::{sample_batch, seed_retailer};
    use storecast::testing::{
        ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendLog,
    };

    let t = test_stack("warmup-deliver").await;
    let directory = Arc::new(MemoryDirectory::default());
    seed_retailer(directory.as_ref(), "alpine", "c1", "mail.example")
        .await
        .unwrap();
    let tenant = TenantId::parse("alpine").unwrap();
    let mut workspace = directory.workspace(&tenant).await.unwrap().unwrap();
    workspace.settings.warmup = Some(WarmupPlan {
        start_cap: 100,
        target: 10_000,
        ramp_days: 30,
        engaged_first: false,
    });
    directory.put_workspace(&workspace).await.unwrap();
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-11-22 10:00 UTC),
    ));
    let caps = Arc::new(gated(&t));
    let today = Day::of_epoch(clock.now().unix_timestamp());
    caps.set_cap(&tenant, &today, 333).await.unwrap();
    let provider = Arc::new(MemoryEmailProvider::keeping_messages());
    let archive = Arc::new(MemoryArchive::default());
    let deliverer = Arc::new(
        Deliverer::new(
            DelivererPorts {
                directory: directory.clone(),
                templates: directory.clone(),
                send_log: Arc::new(MemorySendLog::default()),
                provider: provider.clone(),
                archive: archive.clone(),
                clock: clock.clone(),
                unsubscribe: storecast::testing::unsubscribe_signer(),
            },
            DeliveryConfig::new("mail.example"),
        )
        .with_send_cap(caps.clone()),
    );
    let deadline = clock.now() + time::Duration::seconds(60);
    let runs = (0..12u32).map(|b| {
        let batch = sample_batch("alpine", "c1", b * 50 + 1..b * 50 + 51);
        let records = vec![InboundRecord {
            sequence_number: b.to_string(),
            partition_key: batch.batch_id.to_string(),
            data: serde_json::to_vec(&batch).unwrap(),
            arrived_at: None,
        }];
        let deliverer = deliverer.clone();
        tokio::spawn(async move { deliverer.deliver(&records, deadline).await })
    });
    let mut deferred = 0;
    for outcome in futures::future::join_all(runs).await {
        let outcome = outcome.unwrap();
        assert!(outcome.failed_positions.is_empty());
        deferred += outcome.per_tenant["alpine"].deferred;
    }
    assert_eq!(provider.sent_count(), 333);
    assert_eq!(deferred, 600 - 333);
    assert_eq!(
        caps.usage(&tenant, &today).await.unwrap().unwrap().used,
        333
    );
    let reset = next_day_start(clock.now().unix_timestamp());
    assert!(archive.deferred().iter().all(|(_, d)| d.retry_at == reset));
}

/// DynamoDB applies each write to an item atomically. The local endpoint must too, or
/// concurrent takes and give-backs on one cap item overwrite one another's counts: the API demo
/// run beside the other local-stack tests read "cap 50, 45 used, 50 sent" (a take lost to a
/// give-back of another shard). `infra/scripts/moto_server.py` serialises moto's DynamoDB writes;
/// this runs the adapter ungated (no `OneAtATime`), 300 takes and 300 give-backs at once.
#[tokio::test]
async fn concurrent_takes_and_give_backs_on_one_cap_item_all_count() {
    let t = test_stack("warmup-cap-race").await;
    let caps = Arc::new(caps(&t));
    let tenant = TenantId::parse("alpine").unwrap();
    let day = Day("2026-03-04".into());
    caps.set_cap(&tenant, &day, 100_000).await.unwrap();
    let runs = (0..300u64).map(|_| {
        let (caps, tenant, day) = (caps.clone(), tenant.clone(), day.clone());
        tokio::spawn(async move {
            assert_eq!(caps.take(&tenant, &day, 3, 50).await.unwrap(), 3);
            caps.give_back(&tenant, &day, 1).await.unwrap();
        })
    });
    for run in futures::future::join_all(runs).await {
        run.unwrap();
    }
    assert_eq!(
        caps.usage(&tenant, &day).await.unwrap(),
        Some(CapUsage {
            cap: Some(100_000),
            used: 600
        }),
        "every take and every give-back counted once"
    );
    // `remaining` agrees: exactly the rest of the cap can still be taken.
    assert_eq!(
        caps.take(&tenant, &day, 100_000, 50).await.unwrap(),
        100_000 - 600
    );
}
