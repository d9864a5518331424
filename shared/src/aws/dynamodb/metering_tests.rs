//! Request shapes of the calls counted in a campaign's usage beside delivery's own: each asks for
//! its consumed capacity (`ReturnConsumedCapacity: TOTAL`) and adds what the answer reports to
//! the task's meter, or its size model where DynamoDB refused its condition (the send budget, the
//! warm-up cap, the contact history, the push endpoint cache, the campaign store).

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, TransactionCanceledException,
};
use aws_sdk_dynamodb::types::{CancellationReason, ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::costs::{MeteredUnits, metered};
use crate::deliverability::budget::{BudgetStore, BudgetWrite, TatChange};
use crate::deliverability::counters::Day;
use crate::deliverability::warmup::SendCap;

fn capacity(units: f64) -> ConsumedCapacity {
    ConsumedCapacity::builder()
        .table_name("t")
        .capacity_units(units)
        .build()
}

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn refused() -> UpdateItemError {
    UpdateItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder()
            .message("condition")
            .build(),
    )
}

fn announce() -> BudgetWrite {
    BudgetWrite::announce(alpine(), 1_800_000_000)
}

#[tokio::test]
async fn a_budget_write_counts_the_units_its_answer_reports_and_a_refused_one_its_items_size() {
    let written = mock!(Client::update_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            UpdateItemOutput::builder()
                .consumed_capacity(capacity(3.0))
                .build()
        });
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&written]),
        "delivery",
    );
    let (answer, units) = metered(table.apply(&announce())).await;
    answer.unwrap();
    assert_eq!(written.num_calls(), 1);
    assert_eq!(
        units.write, 3.0,
        "the budget item's size, as DynamoDB bills it"
    );

    let refusal = mock!(Client::update_item).then_error(refused);
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refusal]),
        "delivery",
    );
    let write = BudgetWrite {
        account: Some(TatChange {
            from: None,
            or_unset: false,
            reset: false,
            floor: 0,
            increment: 1,
            limit: 1,
            emission: 1,
            tolerance: 1,
        }),
        ..announce()
    };
    let (_, units) = metered(table.apply(&write)).await;
    assert_eq!(
        units.write, 1.0,
        "billed as the write: a unit for an item of no size returned"
    );

    let read = mock!(Client::get_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            GetItemOutput::builder()
                .consumed_capacity(capacity(2.0))
                .build()
        });
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read]),
        "delivery",
    );
    let (_, units) = metered(table.read()).await;
    assert_eq!(read.num_calls(), 1);
    assert_eq!(units.read, 2.0);
}

#[tokio::test]
async fn the_warmup_caps_take_and_give_back_count_their_transactions_cancelled_or_not() {
    let writes = mock!(Client::transact_write_items)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            TransactWriteItemsOutput::builder()
                .consumed_capacity(capacity(2.0))
                .build()
        });
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&writes]),
        "delivery",
    );
    let day = Day("2026-03-02".into());
    let (granted, units) = metered(async {
        let granted = caps.take(&alpine(), &day, 10, 100).await.unwrap();
        caps.give_back(&alpine(), &day, 3).await.unwrap();
        granted
    })
    .await;
    assert_eq!(granted, 10);
    assert_eq!(writes.num_calls(), 2);
    assert_eq!(units.write, 4.0);

    // A take the cap refuses (the transaction cancelled by its condition) is billed too: a
    // small item written in a transaction.
    let refusal = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("cancelled")
                .cancellation_reasons(
                    CancellationReason::builder()
                        .code("ConditionalCheckFailed")
                        .build(),
                )
                .build(),
        )
    });
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refusal]),
        "delivery",
    );
    let (granted, units) = metered(caps.take(&alpine(), &day, 10, 5)).await;
    assert_eq!(granted.unwrap(), 0);
    assert_eq!(units.write, 2.0 * refusal.num_calls() as f64);
}

#[cfg(feature = "deliver")]
#[tokio::test]
async fn a_remembered_push_endpoint_counts_its_put() {
    use crate::channels::push::{KnownEndpoint, PushEndpoints};
    use crate::domain::{PushDevice, PushPlatform};
    let put = mock!(Client::put_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            PutItemOutput::builder()
                .consumed_capacity(capacity(1.0))
                .build()
        });
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put]),
        "tenants",
    );
    let device = PushDevice {
        platform: PushPlatform::Fcm,
        token: "token-1".into(),
    };
    let endpoint = KnownEndpoint {
        application_arn: "arn:app".into(),
        endpoint_arn: "arn:endpoint".into(),
    };
    let (answer, units) = metered(table.remember(&alpine(), &device, &endpoint)).await;
    answer.unwrap();
    assert_eq!(put.num_calls(), 1);
    assert_eq!(
        units,
        MeteredUnits {
            write: 1.0,
            ..MeteredUnits::default()
        }
    );
}

#[cfg(feature = "campaigns")]
#[tokio::test]
async fn the_campaign_store_counts_its_reads_and_its_chunk_writes_refused_or_not() {
    use crate::campaigns::store::{CampaignStore, LaunchId, LaunchKey};
    use crate::domain::CampaignId;
    let get = mock!(Client::get_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            GetItemOutput::builder()
                .consumed_capacity(capacity(1.0))
                .build()
        });
    let finish = mock!(Client::update_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            UpdateItemOutput::builder()
                .consumed_capacity(capacity(2.0))
                .build()
        });
    let store = campaigns::DynamoCampaignStore::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get, &finish]),
        "tenants",
    );
    let launch = LaunchKey {
        tenant_id: alpine(),
        campaign_id: CampaignId::parse("spring").unwrap(),
        launch_id: LaunchId::parse("l1").unwrap(),
    };
    let (_, units) = metered(async {
        store.chunk(&launch, 0).await.unwrap();
        store
            .finish_chunk(&launch, 0, &Default::default())
            .await
            .unwrap();
    })
    .await;
    assert_eq!((get.num_calls(), finish.num_calls()), (1, 1));
    assert_eq!((units.read, units.write), (1.0, 2.0));

    // A chunk already done refuses the write: billed, and counted, as a write.
    let refusal = mock!(Client::update_item).then_error(refused);
    let store = campaigns::DynamoCampaignStore::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refusal]),
        "tenants",
    );
    let (newly_done, units) = metered(store.finish_chunk(&launch, 0, &Default::default())).await;
    assert!(!newly_done.unwrap());
    assert_eq!(units.write, 1.0);
}

#[cfg(any(feature = "campaigns", feature = "deliver"))]
#[tokio::test]
async fn a_contact_take_counts_its_read_and_its_write_and_a_release_its_write() {
    use crate::deliverability::frequency_cap::{ContactLedger, ContactScope, ContactTake};
    use crate::domain::{CampaignId, Channel, CustomerId, FrequencyCap};
    let read = mock!(Client::get_item)
        .match_requests(|r| {
            r.consistent_read() == Some(true)
                && r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total)
        })
        .then_output(|| {
            GetItemOutput::builder()
                .consumed_capacity(capacity(1.0))
                .build()
        });
    let write = mock!(Client::update_item)
        .match_requests(|r| r.return_consumed_capacity() == Some(&ReturnConsumedCapacity::Total))
        .then_output(|| {
            UpdateItemOutput::builder()
                .consumed_capacity(capacity(1.0))
                .build()
        });
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]),
        "tenants",
    );
    let campaign = CampaignId::parse("spring").unwrap();
    let tenant = alpine();
    let scope = ContactScope {
        tenant: &tenant,
        channel: Channel::Email,
        campaign: &campaign,
    };
    let customers = [CustomerId::parse("c1").unwrap()];
    let cap = FrequencyCap {
        max_messages: 2,
        window_days: 7,
    };
    let now = time::macros::datetime!(2026-12-01 09:00 UTC);
    let (answers, units) = metered(table.take_contacts(scope, &customers, cap, now)).await;
    assert!(matches!(answers[..], [Ok(ContactTake::Taken)]));
    assert_eq!((units.read, units.write), (1.0, 1.0));

    // A release with nothing to remove is refused by its condition: still a billed write.
    let refusal = mock!(Client::update_item).then_error(refused);
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refusal]),
        "tenants",
    );
    let (released, units) = metered(table.release_contacts(scope, &customers)).await;
    released.unwrap();
    assert_eq!(units.write, 1.0);
}
