//! Request shapes of the send cap: the local endpoint checks the arithmetic under concurrency
//! (infra/devtool/tests/local_stack/warmup.rs); these pin how many writes a take costs, what each
//! asks, and that a retried attempt resends the same idempotency token.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;

fn tenant() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn day() -> Day {
    Day("2026-03-02".into())
}

/// The condition refused, as DynamoDB answers a one-item transaction asked for the old item.
fn refused_with(remaining: Option<i64>) -> TransactWriteItemsError {
    let mut reason = CancellationReason::builder().code("ConditionalCheckFailed");
    if let Some(remaining) = remaining {
        let mut item = DailyCaps::key(&tenant(), &day());
        item.insert("remaining".into(), n(remaining));
        item.insert("used".into(), n(100 - remaining));
        reason = reason.set_item(Some(item));
    }
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .cancellation_reasons(reason.build())
            .build(),
    )
}

fn written() -> TransactWriteItemsOutput {
    TransactWriteItemsOutput::builder().build()
}

/// The one update a cap write sends.
fn update(request: &TransactWriteItemsInput) -> &Update {
    let items = request.transact_items();
    assert_eq!(items.len(), 1, "a cap write is a one-item transaction");
    items[0].update().expect("an update")
}

fn taking(request: &TransactWriteItemsInput) -> String {
    update(request).expression_attribute_values().unwrap()[":n"]
        .as_n()
        .unwrap()
        .clone()
}

/// Each request's `:n`, in order.
fn counting(
    calls: &Arc<Mutex<Vec<String>>>,
) -> impl Fn(&TransactWriteItemsInput) -> bool + Send + Sync + 'static {
    let calls = calls.clone();
    move |request| {
        calls.lock().unwrap().push(taking(request));
        true
    }
}

#[tokio::test]
async fn a_take_within_the_cap_is_one_conditional_write_with_an_idempotency_token() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let shape = mock!(Client::transact_write_items)
        .match_requests(|r| {
            let u = update(r);
            r.client_request_token()
                .is_some_and(|token| !token.is_empty())
                && u.table_name() == "delivery"
                && u.key()["pk"].as_s().unwrap() == "CAP#alpine"
                && u.key()["sk"].as_s().unwrap() == "2026-03-02"
                && u.condition_expression()
                    == Some("remaining >= :n OR attribute_not_exists(remaining)")
                && u.update_expression().contains("ADD used :n")
                && u.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(written);
    let count = mock!(Client::transact_write_items)
        .match_requests(counting(&calls))
        .then_output(written);
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
    let refused = mock!(Client::transact_write_items)
        .match_requests(|r| taking(r) == "40")
        .then_error(|| refused_with(Some(7)));
    let remainder = mock!(Client::transact_write_items)
        .match_requests(counting(&calls))
        .then_output(written);
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
    let exhausted = mock!(Client::transact_write_items).then_error(|| refused_with(Some(-3)));
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&exhausted]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 10, 50).await.unwrap(), 0);
    assert_eq!(exhausted.num_calls(), 1);

    // 5 left at the first write, taken by someone else before the second: 0, not more.
    let first = mock!(Client::transact_write_items)
        .match_requests(|r| taking(r) == "10")
        .then_error(|| refused_with(Some(5)));
    let second = mock!(Client::transact_write_items).then_error(|| refused_with(Some(0)));
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 10, 50).await.unwrap(), 0);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_day_without_a_cap_grants_against_the_fallback_only_when_it_allows_the_take() {
    let rule = mock!(Client::transact_write_items)
        .match_requests(|r| update(r).condition_expression() == Some("remaining >= :n"))
        .then_error(|| refused_with(None));
    let remainder = mock!(Client::transact_write_items)
        .match_requests(|r| {
            update(r).condition_expression()
                == Some("remaining >= :n OR attribute_not_exists(remaining)")
                && taking(r) == "50"
        })
        .then_output(written);
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &remainder]),
        "delivery",
    );
    assert_eq!(caps.take(&tenant(), &day(), 80, 50).await.unwrap(), 50);
    assert_eq!((rule.num_calls(), remainder.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_give_back_is_one_conditional_write_and_a_day_without_a_cap_item_is_no_error() {
    let shape = mock!(Client::transact_write_items)
        .match_requests(|r| {
            let u = update(r);
            r.client_request_token().is_some()
                && u.condition_expression() == Some("attribute_exists(remaining)")
                && u.expression_attribute_values().unwrap()[":n"]
                    .as_n()
                    .unwrap()
                    == "4"
                && u.expression_attribute_values().unwrap()[":minus"]
                    .as_n()
                    .unwrap()
                    == "-4"
        })
        .then_output(written);
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape]),
        "delivery",
    );
    caps.give_back(&tenant(), &day(), 4).await.unwrap();
    caps.give_back(&tenant(), &day(), 0).await.unwrap();
    assert_eq!(shape.num_calls(), 1, "nothing to give back costs no write");

    let no_item = mock!(Client::transact_write_items).then_error(|| refused_with(None));
    let caps = DailyCaps::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&no_item]),
        "delivery",
    );
    caps.give_back(&tenant(), &day(), 4).await.unwrap();
}

/// The `ClientRequestToken` of each attempt as it goes on the wire.
#[derive(Debug, Default)]
struct TokensOnTheWire(Arc<Mutex<Vec<String>>>);

impl Intercept for TokensOnTheWire {
    fn name(&self) -> &'static str {
        "TokensOnTheWire"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body: serde_json::Value =
            serde_json::from_slice(context.request().body().bytes().unwrap_or_default())?;
        let token = body["ClientRequestToken"].as_str().unwrap_or_default();
        self.0.lock().unwrap().push(token.to_string());
        Ok(())
    }
}

/// An attempt that failed on the way back (here a 500) may have been applied: the retry must
/// carry the same token, so DynamoDB applies the take once.
#[tokio::test]
async fn a_retried_take_or_give_back_resends_the_same_idempotency_token() {
    for give_back in [false, true] {
        let rule = mock!(Client::transact_write_items)
            .sequence()
            .http_status(500, None)
            .output(written)
            .build();
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let wire = TokensOnTheWire(tokens.clone());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |config| {
            config
                .retry_config(
                    aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                        .with_max_attempts(2)
                        .with_initial_backoff(std::time::Duration::from_millis(1)),
                )
                .interceptor(TokensOnTheWire(wire.0.clone()))
        });
        let caps = DailyCaps::new(client, "delivery");
        if give_back {
            caps.give_back(&tenant(), &day(), 3).await.unwrap();
        } else {
            assert_eq!(caps.take(&tenant(), &day(), 3, 50).await.unwrap(), 3);
        }
        let tokens = tokens.lock().unwrap().clone();
        assert_eq!(tokens.len(), 2, "one attempt, one retry: {tokens:?}");
        assert!(!tokens[0].is_empty());
        assert_eq!(tokens[0], tokens[1]);
    }
}
