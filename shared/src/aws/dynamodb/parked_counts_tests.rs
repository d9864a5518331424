//! The parked counts as DynamoDB receives them: one transaction of the marker (its existence
//! the condition) and the campaign's counter; a refused marker is a count already made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::aws::dynamodb::test_support::cancelled;
use crate::clock::SystemClock;

fn batch() -> SendBatch {
    crate::testing::samples::sample_batch("acme", "spring", 0..3)
}

fn table(client: Client) -> DeliveryTable {
    DeliveryTable::new(client, "delivery", Arc::new(SystemClock))
}

fn recording() -> (
    Arc<Mutex<Vec<Vec<TransactWriteItem>>>>,
    aws_smithy_mocks::Rule,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = {
        let seen = seen.clone();
        mock!(Client::transact_write_items)
            .match_requests(|_| true)
            .then_compute_output(move |request| {
                seen.lock().unwrap().push(request.transact_items().to_vec());
                TransactWriteItemsOutput::builder().build()
            })
    };
    (seen, rule)
}

#[tokio::test]
async fn a_park_is_counted_with_the_marker_put_only_if_absent() {
    let (seen, rule) = recording();
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));

    table.count_parked(&batch()).await.unwrap();

    let items = seen.lock().unwrap()[0].clone();
    assert_eq!(items.len(), ITEMS_PER_PARKED_COUNT);
    let marker = items[0].put().unwrap();
    assert_eq!(marker.table_name(), "delivery");
    assert_eq!(marker.item()["pk"].as_s().unwrap(), "PARKED#acme#spring");
    let id = batch().batch_id.to_string();
    assert_eq!(marker.item()["sk"].as_s().unwrap(), &id);
    assert_eq!(marker.item()["recipients"].as_n().unwrap(), "3");
    assert_eq!(
        marker.condition_expression(),
        Some("attribute_not_exists(pk)")
    );
    let counter = items[1].update().unwrap();
    assert_eq!(counter.key()["pk"].as_s().unwrap(), "PARKCOUNT#acme#spring");
    assert_eq!(counter.key()["sk"].as_s().unwrap(), &id[..2]);
    assert_eq!(
        counter.update_expression(),
        "ADD batches :batches, recipients :recipients"
    );
    let values = counter.expression_attribute_values().unwrap();
    assert_eq!(values[":batches"].as_n().unwrap(), "1");
    assert_eq!(values[":recipients"].as_n().unwrap(), "3");
    assert!(counter.condition_expression().is_none());
}

#[tokio::test]
async fn a_redrive_is_uncounted_with_the_marker_deleted_only_if_present() {
    let (seen, rule) = recording();
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));

    table.uncount_parked(&batch()).await.unwrap();

    let items = seen.lock().unwrap()[0].clone();
    let marker = items[0].delete().unwrap();
    assert_eq!(marker.key()["pk"].as_s().unwrap(), "PARKED#acme#spring");
    assert_eq!(
        marker.key()["sk"].as_s().unwrap(),
        &batch().batch_id.to_string()
    );
    assert_eq!(marker.condition_expression(), Some("attribute_exists(pk)"));
    let values = items[1]
        .update()
        .unwrap()
        .expression_attribute_values()
        .unwrap();
    assert_eq!(values[":batches"].as_n().unwrap(), "-1");
    assert_eq!(values[":recipients"].as_n().unwrap(), "-3");
}

#[tokio::test]
async fn a_batch_parked_again_after_a_redrive_has_a_marker_of_its_own_generation() {
    let (seen, rule) = recording();
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));
    let again = batch().redriven().redriven();

    table.count_parked(&again).await.unwrap();
    table.uncount_parked(&batch()).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let id = batch().batch_id.to_string();
    let counted = seen[0][0].put().unwrap();
    assert_eq!(counted.item()["sk"].as_s().unwrap(), &format!("{id}#2"));
    let uncounted = seen[1][0].delete().unwrap();
    assert_eq!(uncounted.key()["sk"].as_s().unwrap(), &id);
    let counter = |items: &[TransactWriteItem]| items[1].update().unwrap().key()["sk"].clone();
    assert_eq!(
        counter(&seen[0]),
        counter(&seen[1]),
        "one counter item per batch id"
    );
}

#[tokio::test]
async fn a_refused_marker_is_done_and_a_conflict_is_retryable() {
    let refused = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let conflict = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["None", "TransactionConflict"]));
    let other =
        mock!(Client::transact_write_items).then_error(|| cancelled(&["None", "ValidationError"]));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&refused, &conflict, &other]
    );
    let table = table(client);

    table.count_parked(&batch()).await.unwrap();
    let error = table.uncount_parked(&batch()).await.unwrap_err();
    assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
    let error = table.count_parked(&batch()).await.unwrap_err();
    assert!(!crate::error::Retryable::is_retryable(&error), "{error:?}");
}

#[tokio::test]
async fn the_tally_sums_the_campaigns_counter_items() {
    let counter = |sk: &str, batches: i64, recipients: i64| {
        HashMap::from([
            (
                "pk".to_string(),
                AttributeValue::S("PARKCOUNT#acme#spring".into()),
            ),
            ("sk".to_string(), AttributeValue::S(sk.into())),
            (
                "batches".to_string(),
                AttributeValue::N(batches.to_string()),
            ),
            (
                "recipients".to_string(),
                AttributeValue::N(recipients.to_string()),
            ),
        ])
    };
    let query = mock!(Client::query)
        .match_requests(|request| {
            request.key_condition_expression() == Some("pk = :pk")
                && request.expression_attribute_values().unwrap()[":pk"]
                    == AttributeValue::S("PARKCOUNT#acme#spring".into())
        })
        .then_output(move || {
            QueryOutput::builder()
                .items(counter("c0", 2, 90))
                .items(counter("1f", 0, 0))
                .items(counter("ab", 1, 50))
                .build()
        });
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query]));

    let tally = table
        .campaign_parked(
            &TenantId::parse("acme").unwrap(),
            &CampaignId::parse("spring").unwrap(),
        )
        .await
        .unwrap();

    assert_eq!(
        tally,
        ParkedTally {
            batches: 3,
            recipients: 140
        }
    );
}
