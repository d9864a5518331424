//! The feedback table's requests as DynamoDB receives them (moto validates none of this): the
//! transaction's items and conditions, and how a cancellation's reasons are read.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::aws::dynamodb::test_support::cancelled;
use crate::clock::SystemClock;

fn record(kind: FeedbackKind) -> FeedbackRecord {
    FeedbackRecord {
        tenant: TenantId::parse("acme").unwrap(),
        campaign: CampaignId::parse("spring").unwrap(),
        variant: "b".into(),
        message: MessageId::parse("c0ffee").unwrap(),
        kind,
        at: 1_796_119_200,
        detail: Some("Permanent/General".into()),
    }
}

#[tokio::test]
async fn one_event_is_one_transaction_of_four_items_guarded_by_the_claim_and_the_kind() {
    let seen = Arc::new(Mutex::new(None));
    let rule = {
        let seen = seen.clone();
        mock!(Client::transact_write_items).then_compute_output(move |request| {
            *seen.lock().unwrap() = Some(request.transact_items().to_vec());
            TransactWriteItemsOutput::builder().build()
        })
    };
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let table = FeedbackTable::new(client, "delivery", Arc::new(SystemClock));

    let recorded = table
        .record(&record(FeedbackKind::HardBounced))
        .await
        .unwrap();

    assert_eq!(recorded, Recorded::First);
    let items = seen.lock().unwrap().clone().unwrap();
    assert_eq!(items.len(), ITEMS_PER_FEEDBACK_EVENT);
    let check = items[0].condition_check().unwrap();
    assert_eq!(check.key()["pk"].as_s().unwrap(), "MSG#acme#spring#c");
    assert_eq!(check.condition_expression(), "attribute_exists(pk)");
    let update = items[1].update().unwrap();
    assert_eq!(update.key()["pk"].as_s().unwrap(), "FB#acme#spring#c");
    assert_eq!(
        update.condition_expression(),
        Some("attribute_not_exists(#at)")
    );
    assert_eq!(
        update.expression_attribute_names().unwrap()["#at"],
        "hard_bounced_at"
    );
    let campaign = items[2].update().unwrap();
    assert_eq!(campaign.key()["pk"].as_s().unwrap(), "COUNT#acme#spring");
    assert_eq!(campaign.key()["sk"].as_s().unwrap(), "b#c");
    let day = items[3].update().unwrap();
    assert_eq!(day.key()["pk"].as_s().unwrap(), "DAY#acme#2026-12-01");
    assert_eq!(day.key()["sk"].as_s().unwrap(), "c");
    for counter in [campaign, day] {
        assert!(counter.update_expression().starts_with("ADD #kind :one"));
        assert_eq!(
            counter.expression_attribute_names().unwrap()["#kind"],
            "hard_bounced"
        );
        assert!(
            counter.condition_expression().is_none(),
            "a counter never blocks the record"
        );
    }
}

#[tokio::test]
async fn a_cancelled_transaction_says_which_guard_failed() {
    for (codes, expected) in [
        (
            vec!["ConditionalCheckFailed", "None", "None", "None"],
            Some(Recorded::UnknownMessage),
        ),
        (
            vec!["None", "ConditionalCheckFailed", "None", "None"],
            Some(Recorded::Again),
        ),
        // A conflict with a concurrent transaction is no answer: retry the event.
        (vec!["None", "TransactionConflict", "None", "None"], None),
    ] {
        let rule = {
            let codes: Vec<&'static str> = codes.clone();
            mock!(Client::transact_write_items).then_error(move || cancelled(&codes))
        };
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let table = FeedbackTable::new(client, "delivery", Arc::new(SystemClock));
        let result = table.record(&record(FeedbackKind::Delivered)).await;
        match expected {
            Some(recorded) => assert_eq!(result.unwrap(), recorded, "{codes:?}"),
            None => assert!(
                matches!(result, Err(StoreError::Throttled { .. })),
                "{codes:?}: {result:?}"
            ),
        }
    }
}

#[tokio::test]
async fn a_count_without_a_message_moves_both_counters_in_one_transaction_with_a_token() {
    let seen = Arc::new(Mutex::new(None));
    let rule = {
        let seen = seen.clone();
        mock!(Client::transact_write_items).then_compute_output(move |request| {
            *seen.lock().unwrap() = Some((
                request.client_request_token().map(str::to_owned),
                request.transact_items().to_vec(),
            ));
            TransactWriteItemsOutput::builder().build()
        })
    };
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let table = FeedbackTable::new(client, "delivery", Arc::new(SystemClock));
    let key = CounterKey {
        tenant: TenantId::parse("acme").unwrap(),
        campaign: CampaignId::parse("spring").unwrap(),
        variant: "b".into(),
        day: Day("2026-12-07".into()),
    };

    table
        .increment(&key, FeedbackKind::Unsubscribed)
        .await
        .unwrap();

    let (token, items) = seen.lock().unwrap().clone().unwrap();
    assert!(token.is_some_and(|t| !t.is_empty()), "an idempotency token");
    let pks: Vec<&str> = items
        .iter()
        .map(|item| item.update().unwrap().key()["pk"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(pks, ["COUNT#acme#spring", "DAY#acme#2026-12-07"]);
    for item in &items {
        let update = item.update().unwrap();
        assert_eq!(update.update_expression(), COUNTER_ADD);
        assert_eq!(
            update.expression_attribute_names().unwrap()["#kind"],
            "unsubscribed"
        );
    }
}
