//! Request shapes of the bulk publish: each version only where its number is free, each live
//! pointer only from the version before. The local endpoint runs the same writes
//! (infra/devtool/tests/local_stack/templates.rs).

use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;

fn version(number: u32) -> TemplateVersion {
    let mut version = crate::testing::samples::sample_template_version("alpine", number);
    version.template.version = number;
    version
}

fn sk(r: &PutItemInput) -> String {
    r.item().unwrap()["sk"].as_s().unwrap().clone()
}

#[tokio::test]
async fn a_version_is_written_where_its_number_is_free_and_its_pointer_moves_from_the_one_before() {
    let new_version = mock!(Client::put_item)
        .match_requests(|r| {
            sk(r).contains("#V#0000000002")
                && r.condition_expression() == Some("attribute_not_exists(pk)")
        })
        .then_output(|| PutItemOutput::builder().build());
    let pointer = mock!(Client::put_item)
        .match_requests(|r| {
            sk(r).starts_with(LIVE_PREFIX)
                && r.condition_expression() == Some("version = :expected")
                && r.expression_attribute_values().unwrap()[":expected"]
                    .as_n()
                    .unwrap()
                    == "1"
                && r.item().unwrap()["version"].as_n().unwrap() == "2"
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = TenantsTable::new(
        mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&new_version, &pointer]
        ),
        "tenants",
    );
    assert!(table.publish_all(&[version(2)]).await.unwrap().is_empty());
    assert_eq!((new_version.num_calls(), pointer.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_taken_number_is_refused_and_its_pointer_left_alone() {
    let taken = mock!(Client::put_item)
        .match_requests(|r| sk(r).contains("#V#"))
        .then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
    let first = mock!(Client::put_item)
        .match_requests(|r| {
            sk(r).starts_with(LIVE_PREFIX)
                && r.condition_expression() == Some("attribute_not_exists(pk)")
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&taken, &first]),
        "tenants",
    );
    assert_eq!(table.publish_all(&[version(2)]).await.unwrap(), vec![0]);
    assert_eq!((taken.num_calls(), first.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_number_taken_by_the_same_content_is_an_interrupted_deploys_and_its_pointer_moves() {
    let mine = version(2);
    let hash = crate::domain::content_hash(&mine);
    let taken = mock!(Client::put_item)
        .match_requests(|r| {
            sk(r).contains("#V#")
                && r.return_values_on_condition_check_failure()
                    == Some(&aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_error(move || {
            let mut old = Item::new();
            old.insert("content_hash".into(), s(hash.clone()));
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .set_item(Some(old))
                    .build(),
            )
        });
    let pointer = mock!(Client::put_item)
        .match_requests(|r| sk(r).starts_with(LIVE_PREFIX))
        .then_output(|| PutItemOutput::builder().build());
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&taken, &pointer]),
        "tenants",
    );
    assert!(table.publish_all(&[mine]).await.unwrap().is_empty());
    assert_eq!((taken.num_calls(), pointer.num_calls()), (1, 1));
}

#[test]
fn a_version_too_large_for_an_item_is_refused_before_any_request() {
    let mut large = version(1);
    // Incompressible text: gzip cannot bring it under the limit.
    let mut state = 0x2545_f491_u64;
    let noise: String = (0..MAX_TEMPLATE_DOCUMENT_BYTES * 2)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            char::from(b'!' + (state >> 58) as u8)
        })
        .collect();
    large.snippets.insert("huge".into(), noise);

    let error = published_items(&large).unwrap_err();

    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    let reason = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        reason.contains("shorten its sources or snippets"),
        "{reason}"
    );
    let mut usual = version(1);
    usual.snippets.insert("footer".into(), "</html>".into());
    assert!(published_items(&usual).is_ok());
}
