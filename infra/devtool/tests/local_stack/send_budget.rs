//! The send budget's DynamoDB item against the local endpoint (moto in server mode): concurrent
//! containers, each with its own view, take from one item and never hand out more than the
//! account's rate; the push budget is an item of its own. The request shapes moto does not check
//! are pinned in `shared/src/aws/dynamodb/budget/tests.rs`.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use storecast::aws::dynamodb::BudgetTable;
use storecast::clock::SystemClock;
use storecast::deliverability::budget::{
    AccountRate, BudgetAnswer, BudgetSettings, BudgetStore as _, ConfiguredRate, SendBudgets, Waits,
};
use storecast::domain::{SendShare, TenantId};
use support::test_stack;
use time::OffsetDateTime;

const RATE: f64 = 100.0;
const CONTAINERS: usize = 8;
const TAKES_PER_CONTAINER: usize = 5;
const BATCH: u32 = 10;

fn budgets(table: BudgetTable, rate: f64) -> SendBudgets {
    let settings = BudgetSettings {
        fallback_max_send_rate: rate,
        account_share: 1.0,
        ..BudgetSettings::default()
    };
    let clock = Arc::new(SystemClock);
    let account = AccountRate::new(Arc::new(ConfiguredRate(rate)), settings, clock.clone());
    SendBudgets::new(Arc::new(table), account, clock)
}

/// Every send slot a container was granted.
async fn take_all(budgets: SendBudgets, tenant: TenantId) -> (Vec<OffsetDateTime>, u64) {
    let mut slots = Vec::new();
    for _ in 0..TAKES_PER_CONTAINER {
        let answer = budgets
            .take(
                &tenant,
                SendShare::default(),
                BATCH,
                Waits::both(Duration::from_secs(10)),
            )
            .await
            .expect("the local endpoint answers");
        if let BudgetAnswer::Granted {
            granted,
            start,
            interval,
            ..
        } = answer
        {
            slots.extend((0..granted).map(|k| start + interval * k));
        }
    }
    (slots, budgets.counts().refused_writes)
}

#[tokio::test]
async fn concurrent_containers_never_take_more_than_the_accounts_rate_from_one_item() {
    let t = test_stack("budget").await;
    let table_name = t.stack.table("DeliveryTable").unwrap().name.clone();
    let tenants: Vec<TenantId> = (0..4)
        .map(|i| TenantId::parse(format!("retailer-{i}")).unwrap())
        .collect();
    let runs = (0..CONTAINERS).map(|c| {
        let table = BudgetTable::new(t.clients.dynamodb.clone(), &table_name);
        tokio::spawn(take_all(
            budgets(table, RATE),
            tenants[c % tenants.len()].clone(),
        ))
    });
    let mut slots = Vec::new();
    let mut refused = 0;
    for run in runs {
        let (taken, refusals) = run.await.unwrap();
        slots.extend(taken);
        refused += refusals;
    }
    assert!(!slots.is_empty(), "some sends were granted");
    slots.sort();
    // Within any second, at most the rate plus the account's burst (a quarter second) and one.
    let most = (RATE * 1.25) as usize + 1;
    for (i, first) in slots.iter().enumerate() {
        let within = slots[i..]
            .iter()
            .take_while(|s| **s - *first < time::Duration::seconds(1))
            .count();
        assert!(
            within <= most,
            "{within} sends within a second from {first}"
        );
    }
    let state = BudgetTable::new(t.clients.dynamodb.clone(), &table_name)
        .read()
        .await
        .unwrap();
    assert!(state.account.is_some());
    for tenant in &tenants {
        assert!(state.tenants.contains_key(tenant), "{tenant} has its share");
    }
    println!(
        "{} sends granted to {CONTAINERS} containers, {refused} writes refused and planned again",
        slots.len()
    );
}

#[tokio::test]
async fn the_push_budget_is_an_item_apart_from_the_email_one() {
    let t = test_stack("push-budget").await;
    let table_name = t.stack.table("DeliveryTable").unwrap().name.clone();
    let tenant = TenantId::parse("retailer-0").unwrap();
    let push = budgets(
        BudgetTable::push(t.clients.dynamodb.clone(), &table_name),
        50.0,
    );
    let answer = push
        .take(
            &tenant,
            SendShare::default(),
            BATCH,
            Waits::both(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert!(
        matches!(answer, BudgetAnswer::Granted { granted: BATCH, .. }),
        "{answer:?}"
    );
    let email = BudgetTable::new(t.clients.dynamodb.clone(), &table_name);
    assert_eq!(
        email.read().await.unwrap(),
        Default::default(),
        "the email budget untouched"
    );
    let pushed = BudgetTable::push(t.clients.dynamodb.clone(), &table_name);
    assert!(pushed.read().await.unwrap().tenants.contains_key(&tenant));
}
