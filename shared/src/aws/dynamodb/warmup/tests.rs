//! Request shapes of the send cap: the local endpoint checks the arithmetic under concurrency
//! (infra/devtool/tests/local_stack/warmup.rs); these pin how many writes a take costs and what each asks.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;

fn tenant() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn day() -> Day {
    Day("2026-03-02".into())
}

fn refused_with(remaining: Option<i64>) -> UpdateItemError {
    let mut failure = ConditionalCheckFailedException::builder().message("condition");
    if let Some(remaining) = remaining {
        let mut item = DailyCaps::key(&tenant(), &day());
        item.insert("remaining".into(), n(remaining));
        item.insert("used".into(), n(100 - remaining));
        failure = failure.set_item(Some(item));
    }
    UpdateItemError::ConditionalCheckFailedException(failure.build())
}

/// Each request's `:n`, in order.
fn counting(
    calls: &Arc<Mutex<Vec<String>>>,
) -> impl Fn(&aws_sdk_dynamodb::operation::update_item::UpdateItemInput) -> bool + Send + Sync + 'static
{
    let calls = calls.clone();
    move |request| {
        let values = request.expression_attribute_values().unwrap();
        calls
            .lock()
            .unwrap()
            .push(values[":n"].as_n().unwrap().clone());
        true
    }
}

#[tokio::test]
async fn a_take_within_the_cap_is_one_conditional_update() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let shape = mock!(Client::update_item)
        .match_requests(|r| {
            r.table_name() == Some("delivery")
                && r.key().unwrap()["pk"].as_s().unwrap() == "CAP#alpine"
                && r.key().unwrap()["sk"].as_s().unwrap() == "2026-03-02"
                && r.condition_expression()
                    == Some("remaining >= :n OR attribute_not_exists(remaining)")
                && r.update_expression().unwrap().contains("ADD used :n")
                && r.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let count = mock!(Client::update_item)
        .match_requests(counting(&calls))
        .then_output(|| UpdateItemOutput::builder().build());
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape, &count]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 40, 50).await.unwrap(), 40);
    assert_eq!(shape.num_calls(), 1);
    assert_eq!(count.num_calls(), 0);
}

#[tokio::test]
async fn a_take_past_the_cap_is_granted_what_is_left_with_one_more_write() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let refused = mock!(Client::update_item)
        .match_requests(|r| {
            r.expression_attribute_values().unwrap()[":n"]
                .as_n()
                .unwrap()
                == "40"
        })
        .then_error(|| refused_with(Some(7)));
    let remainder = mock!(Client::update_item)
        .match_requests(counting(&calls))
        .then_output(|| UpdateItemOutput::builder().build());
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refused, &remainder]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 40, 1_000).await.unwrap(), 7);
    assert_eq!((refused.num_calls(), remainder.num_calls()), (1, 1));
    assert_eq!(*calls.lock().unwrap(), vec!["7".to_string()]);
}

#[tokio::test]
async fn an_exhausted_cap_costs_one_write_and_a_lost_race_grants_nothing() {
    let exhausted = mock!(Client::update_item).then_error(|| refused_with(Some(-3)));
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&exhausted]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 10, 50).await.unwrap(), 0);
    assert_eq!(exhausted.num_calls(), 1);

    // 5 left at the first write, taken by someone else before the second: 0, not more.
    let first = mock!(Client::update_item)
        .match_requests(|r| {
            r.expression_attribute_values().unwrap()[":n"]
                .as_n()
                .unwrap()
                == "10"
        })
        .then_error(|| refused_with(Some(5)));
    let second = mock!(Client::update_item).then_error(|| refused_with(Some(0)));
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 10, 50).await.unwrap(), 0);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_day_without_a_cap_grants_against_the_fallback_only_when_it_allows_the_take() {
    let rule = mock!(Client::update_item)
        .match_requests(|r| r.condition_expression() == Some("remaining >= :n"))
        .then_error(|| refused_with(None));
    let remainder = mock!(Client::update_item)
        .match_requests(|r| {
            r.condition_expression() == Some("remaining >= :n OR attribute_not_exists(remaining)")
                && r.expression_attribute_values().unwrap()[":n"]
                    .as_n()
                    .unwrap()
                    == "50"
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &remainder]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 80, 50).await.unwrap(), 50);
    assert_eq!((rule.num_calls(), remainder.num_calls()), (1, 1));
}
