//! The warm-up's DynamoDB adapters against the local endpoint: the day's send cap under many
//! concurrent takes, and the versioned state.

mod support;

use std::sync::Arc;

use storecast::aws::dynamodb::{DailyCaps, TenantsTable};
use storecast::deliverability::counters::Day;
use storecast::deliverability::warmup::{CapUsage, SendCap, WarmupStage, WarmupState, WarmupStore};
use storecast::domain::TenantId;
use support::test_stack;

fn caps(t: &support::TestStack) -> DailyCaps {
    DailyCaps::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
    )
}

#[tokio::test]
async fn concurrent_takes_never_grant_more_than_the_cap_in_total() {
    let t = test_stack("warmup-cap").await;
    let caps = Arc::new(caps(&t));
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
