//! The counted outcome write as DynamoDB receives it (moto validates little of this): one
//! transaction of the conditional put and the counter update, a plain conditional put when
//! nothing is counted, and how a refused condition is read.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::aws::dynamodb::test_support::cancelled;
use crate::clock::SystemClock;
use crate::domain::{BatchId, VariantId};
use crate::pipeline::send_log::{AttemptId, BatchOutcome, RecipientOutcome, SendLog};

fn outcome(revision: u64) -> BatchOutcome {
    BatchOutcome {
        tenant_id: TenantId::parse("acme").unwrap(),
        campaign_id: CampaignId::parse("spring").unwrap(),
        batch_id: BatchId::parse("b0ffee").unwrap(),
        attempt: AttemptId(7),
        outcomes: vec![
            RecipientOutcome::Sent {
                provider_message_id: "ses-1".into(),
                endpoints_disabled: 0,
            },
            RecipientOutcome::Failed {
                reason: "bad address".into(),
            },
            RecipientOutcome::Pending,
        ],
        revision,
        channel: Default::default(),
    }
}

fn table(client: Client) -> DeliveryTable {
    DeliveryTable::new(client, "delivery", Arc::new(SystemClock))
}

#[tokio::test]
async fn a_counted_write_is_one_transaction_of_the_conditional_put_and_the_counter() {
    let seen = Arc::new(Mutex::new(None));
    let rule = {
        let seen = seen.clone();
        mock!(Client::transact_write_items).then_compute_output(move |request| {
            *seen.lock().unwrap() = Some(request.transact_items().to_vec());
            TransactWriteItemsOutput::builder().build()
        })
    };
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));
    let variant = VariantId::parse("b").unwrap();
    let outcome = outcome(4);
    let tally = DeliveryTally {
        sent: 1,
        failed: 1,
        ..DeliveryTally::default()
    };

    let written = table
        .write_outcome(&OutcomeWrite {
            outcome: &outcome,
            expected: Some(3),
            variant: &variant,
            tally,
        })
        .await
        .unwrap();

    assert_eq!(written, OutcomeWritten::Written);
    let items = seen.lock().unwrap().clone().unwrap();
    assert_eq!(items.len(), ITEMS_PER_COUNTED_OUTCOME);
    let put = items[0].put().unwrap();
    assert_eq!(put.item()["pk"].as_s().unwrap(), "BATCH#acme#spring#b");
    assert_eq!(put.item()["rev"].as_n().unwrap(), "4");
    assert_eq!(put.condition_expression(), Some("rev = :rev"));
    assert_eq!(
        put.expression_attribute_values().unwrap()[":rev"]
            .as_n()
            .unwrap(),
        "3"
    );
    let counter = items[1].update().unwrap();
    assert_eq!(counter.key()["pk"].as_s().unwrap(), "DLV#acme#spring");
    assert_eq!(counter.key()["sk"].as_s().unwrap(), "b#b0");
    assert_eq!(
        counter.update_expression(),
        "ADD sent :sent, failed :failed SET expires_at = :expires"
    );
    let values = counter.expression_attribute_values().unwrap();
    assert_eq!(values[":sent"].as_n().unwrap(), "1");
    assert_eq!(values[":failed"].as_n().unwrap(), "1");
    assert!(!values.contains_key(":suppressed"));
    assert!(counter.condition_expression().is_none());
}

#[test]
fn the_condition_names_the_revision_read_or_its_absence() {
    assert_eq!(revision_condition(None), ("attribute_not_exists(pk)", None));
    assert_eq!(
        revision_condition(Some(0)),
        ("attribute_exists(pk) AND attribute_not_exists(rev)", None)
    );
    assert_eq!(revision_condition(Some(9)), ("rev = :rev", Some(9)));
}

#[tokio::test]
async fn a_write_that_counts_nothing_is_one_conditional_put() {
    let seen = Arc::new(Mutex::new(None));
    let rule = {
        let seen = seen.clone();
        mock!(Client::put_item).then_compute_output(move |request| {
            *seen.lock().unwrap() = Some(request.condition_expression().map(str::to_string));
            PutItemOutput::builder().build()
        })
    };
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));
    let variant = VariantId::parse("b").unwrap();
    let outcome = outcome(1);

    let written = table
        .write_outcome(&OutcomeWrite {
            outcome: &outcome,
            expected: None,
            variant: &variant,
            tally: DeliveryTally::default(),
        })
        .await
        .unwrap();

    assert_eq!(written, OutcomeWritten::Written);
    assert_eq!(
        seen.lock().unwrap().clone().unwrap().as_deref(),
        Some("attribute_not_exists(pk)")
    );
}

#[tokio::test]
async fn a_refused_condition_is_stale_and_a_conflict_is_retryable() {
    let refused = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let conflict = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["None", "TransactionConflict"]));
    let put_refused = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&refused, &conflict, &put_refused]
    );
    let table = table(client);
    let variant = VariantId::parse("b").unwrap();
    let outcome = outcome(2);
    let counted = OutcomeWrite {
        outcome: &outcome,
        expected: Some(1),
        variant: &variant,
        tally: DeliveryTally {
            sent: 1,
            ..DeliveryTally::default()
        },
    };

    assert_eq!(
        table.write_outcome(&counted).await.unwrap(),
        OutcomeWritten::Stale
    );
    let error = table.write_outcome(&counted).await.unwrap_err();
    assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
    let uncounted = OutcomeWrite {
        tally: DeliveryTally::default(),
        ..counted
    };
    assert_eq!(
        table.write_outcome(&uncounted).await.unwrap(),
        OutcomeWritten::Stale
    );
}
