//! Request shapes of the send budget's one write per take: the local endpoint checks the
//! arithmetic under concurrent takes (infra/devtool/tests/local_stack/send_budget.rs); these pin what each
//! write asks and how the answers are read.

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn item(pairs: &[(&str, i64)]) -> Item {
    let mut item = key(BUDGET_PK.into(), BUDGET_SK.into());
    for (name, value) in pairs {
        item.insert((*name).into(), n(value));
    }
    item
}

fn write(account: TatChange, assured: Option<TatChange>) -> BudgetWrite {
    BudgetWrite {
        tenant: tenant("alpine"),
        account: Some(account),
        assured,
        ceiling: None,
        seen: 1_800_000_000,
        weight: Some(2),
        prune: vec![(tenant("gone"), 1_799_996_400)],
    }
}

const NOW: i64 = 1_800_000_000_000_000;

fn idle() -> TatChange {
    TatChange {
        from: None,
        or_unset: false,
        reset: false,
        floor: NOW,
        increment: 100_000,
        limit: NOW + 10_000_000,
        emission: 2_000,
        tolerance: 250_000,
    }
}

fn busy() -> TatChange {
    TatChange {
        from: Some(NOW - 5_000_000),
        or_unset: true,
        ..idle()
    }
}

/// The request's condition and update with each placeholder replaced by what it stands for.
fn spelled(
    request: &aws_sdk_dynamodb::operation::update_item::UpdateItemInput,
) -> (String, String) {
    let names = request.expression_attribute_names().unwrap();
    let values = request.expression_attribute_values().unwrap();
    let spell = |text: &str| {
        let mut text = text.to_string();
        let mut placeholders: Vec<(&String, String)> = names
            .iter()
            .map(|(k, v)| (k, v.clone()))
            .chain(values.iter().map(|(k, v)| (k, v.as_n().unwrap().clone())))
            .collect();
        // Longest first, so #n1 does not eat into #n10.
        placeholders.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (placeholder, value) in placeholders {
            text = text.replace(placeholder.as_str(), &value);
        }
        text
    };
    (
        spell(request.condition_expression().unwrap()),
        spell(request.update_expression().unwrap()),
    )
}

#[tokio::test]
async fn a_take_is_one_conditional_update_answering_the_item_after_it() {
    let shape = mock!(Client::update_item)
        .match_requests(|r| {
            let (condition, update) = spelled(r);
            r.table_name() == Some("delivery")
                && r.key().unwrap()["pk"].as_s().unwrap() == "SEND_BUDGET"
                && r.key().unwrap()["sk"].as_s().unwrap() == "ACCOUNT"
                && r.return_values() == Some(&ReturnValue::AllNew)
                && r.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
                && condition
                    == format!(
                        "(attribute_not_exists(a) OR a < {NOW}) AND \
                         (attribute_not_exists(q#alpine) OR q#alpine BETWEEN {} AND {}) AND \
                         (attribute_not_exists(s#gone) OR s#gone < 1799996400)",
                        NOW - 5_000_000,
                        NOW + 10_000_000
                    )
                && update
                    == format!(
                        "SET a = {}, q#alpine = if_not_exists(q#alpine, {NOW}) + 100000, \
                         e#alpine = 2000, s#alpine = 1800000000, w#alpine = 2 \
                         REMOVE s#gone, q#gone, c#gone, w#gone, e#gone",
                        NOW + 100_000
                    )
        })
        .then_output(|| {
            UpdateItemOutput::builder()
                .set_attributes(Some(item(&[
                    ("a", NOW + 100_000),
                    ("q#alpine", NOW + 100_000),
                    ("s#alpine", 1_800_000_000),
                    ("w#alpine", 2),
                    ("e#alpine", 2_000),
                ])))
                .build()
        });
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape]),
        "delivery",
    );
    let answer = table.apply(&write(idle(), Some(busy()))).await.unwrap();
    assert_eq!(shape.num_calls(), 1);
    let BudgetWritten::Applied(state) = answer else {
        panic!("applied: {answer:?}");
    };
    assert_eq!(state.account, Some(NOW + 100_000));
    assert_eq!(
        state.tenants[&tenant("alpine")],
        TenantBudget {
            assured: Some(NOW + 100_000),
            ceiling: None,
            seen: 1_800_000_000,
            weight: 2,
            emission: Some(2_000),
        }
    );
}

#[tokio::test]
async fn a_refused_take_answers_the_item_that_refused_it_without_a_read() {
    let refused = mock!(Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("condition")
                .set_item(Some(item(&[("a", NOW + 9_000_000), ("q#boreal", NOW)])))
                .build(),
        )
    });
    let read = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refused, &read]),
        "delivery",
    );
    let answer = table.apply(&write(busy(), None)).await.unwrap();
    let BudgetWritten::Refused(state) = answer else {
        panic!("refused: {answer:?}");
    };
    assert_eq!(state.account, Some(NOW + 9_000_000));
    assert_eq!(state.tenants[&tenant("boreal")].assured, Some(NOW));
    assert_eq!((refused.num_calls(), read.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_share_reserved_alone_leaves_the_account_alone() {
    let shape = mock!(Client::update_item)
        .match_requests(|r| {
            let (condition, update) = spelled(r);
            !condition.contains("(a)") && !update.contains("a =") && update.contains("q#alpine")
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape]),
        "delivery",
    );
    let reserve = BudgetWrite {
        account: None,
        prune: Vec::new(),
        ..write(idle(), Some(idle()))
    };
    table.apply(&reserve).await.unwrap();
    assert_eq!(shape.num_calls(), 1);
}

#[tokio::test]
async fn the_state_is_read_consistently_and_a_missing_item_is_an_empty_budget() {
    let read = mock!(Client::get_item)
        .match_requests(|r| r.consistent_read() == Some(true))
        .then_output(|| GetItemOutput::builder().build());
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read]),
        "delivery",
    );
    assert_eq!(table.read().await.unwrap(), BudgetState::default());
    assert_eq!(read.num_calls(), 1);
}

/// DynamoDB refuses a request whose values the expressions leave unused (the local endpoint
/// found a reset's floor left over).
fn every_value_used(r: &aws_sdk_dynamodb::operation::update_item::UpdateItemInput) -> bool {
    let expressions = format!(
        "{} {}",
        r.update_expression().unwrap_or_default(),
        r.condition_expression().unwrap_or_default()
    );
    r.expression_attribute_values()
        .into_iter()
        .flatten()
        .all(|(placeholder, _)| {
            expressions
                .split(|c: char| !(c.is_alphanumeric() || c == ':'))
                .any(|token| token == placeholder)
        })
}

#[tokio::test]
async fn a_lead_rescaled_to_a_grown_share_is_written_over_exactly_the_stored_one() {
    let shape = mock!(Client::update_item)
        .match_requests(|r| {
            let (condition, update) = spelled(r);
            condition.contains(&format!("(q#alpine = {})", NOW + 60_000_000))
                && update.contains(&format!("q#alpine = {}", NOW + 3_000_000 + 100_000))
                && every_value_used(r)
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape]),
        "delivery",
    );
    let rescaled = TatChange {
        from: Some(NOW + 60_000_000),
        reset: true,
        floor: NOW + 3_000_000,
        limit: NOW + 60_000_000,
        ..idle()
    };
    table.apply(&write(busy(), Some(rescaled))).await.unwrap();
    assert_eq!(shape.num_calls(), 1);
}

#[test]
fn an_attribute_naming_no_valid_tenant_is_corrupt() {
    let bad = item(&[("q#not a tenant!", 1)]);
    assert!(matches!(
        state_of(Some(&bad)),
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn the_push_budget_is_an_item_of_its_own_beside_the_email_one() {
    let take = mock!(Client::update_item)
        .match_requests(|r| {
            r.table_name() == Some("delivery")
                && r.key().unwrap()["pk"].as_s().unwrap() == "SEND_BUDGET"
                && r.key().unwrap()["sk"].as_s().unwrap() == "PUSH"
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let read = mock!(Client::get_item)
        .match_requests(|r| r.key().unwrap()["sk"].as_s().unwrap() == "PUSH")
        .then_output(|| GetItemOutput::builder().build());
    let table = BudgetTable::push(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&take, &read]),
        "delivery",
    );
    table.apply(&write(idle(), Some(idle()))).await.unwrap();
    table.read().await.unwrap();
    assert_eq!((take.num_calls(), read.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_announcement_sets_when_the_tenant_was_seen_and_keeps_its_weight_unconditionally() {
    let shape = mock!(Client::update_item)
        .match_requests(|r| {
            let names = r.expression_attribute_names().unwrap();
            let values = r.expression_attribute_values().unwrap();
            let spell = |text: &str| {
                let mut text = text.to_string();
                for (k, v) in names {
                    text = text.replace(k.as_str(), v);
                }
                for (k, v) in values {
                    text = text.replace(k.as_str(), v.as_n().unwrap());
                }
                text
            };
            r.condition_expression().is_none()
                && every_value_used(r)
                && spell(r.update_expression().unwrap())
                    == "SET s#alpine = 1800000000, w#alpine = if_not_exists(w#alpine, 1)"
        })
        .then_output(|| {
            UpdateItemOutput::builder()
                .set_attributes(Some(item(&[("s#alpine", 1_800_000_000), ("w#alpine", 3)])))
                .build()
        });
    let table = BudgetTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&shape]),
        "delivery",
    );
    let answer = table
        .apply(&BudgetWrite::announce(tenant("alpine"), 1_800_000_000))
        .await
        .unwrap();
    assert_eq!(shape.num_calls(), 1);
    let BudgetWritten::Applied(state) = answer else {
        panic!("applied: {answer:?}");
    };
    assert_eq!(state.tenants[&tenant("alpine")].weight, 3);
}
