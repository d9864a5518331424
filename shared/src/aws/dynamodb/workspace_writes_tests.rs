//! Request shapes of the workspace writes: each change is one conditional write of the
//! attributes it owns, never `status` unless it is the status that changes. The local endpoint
//! checks the conditions themselves (infra/devtool/tests/local_stack/adapters.rs).

use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::directory::TenantAdmin;
use crate::domain::CampaignStatus;

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn settings(timezone: &str) -> TenantSettings {
    TenantSettings {
        timezone: timezone.into(),
        ..TenantSettings::default()
    }
}

fn workspace() -> TenantWorkspace {
    crate::templates::sample_recipient::sample_workspace("alpine", "mail.example")
}

fn on_the_workspace(r: &UpdateItemInput) -> bool {
    r.table_name() == Some("tenants")
        && r.key().unwrap()["pk"].as_s().unwrap() == "TENANT#alpine"
        && r.key().unwrap()["sk"].as_s().unwrap() == "WORKSPACE"
}

fn refused(old: Option<Item>) -> UpdateItemError {
    UpdateItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder()
            .message("condition")
            .set_item(old)
            .build(),
    )
}

#[tokio::test]
async fn a_settings_patch_sets_the_settings_only_if_they_are_still_those_read() {
    let expected = settings_json(&settings("Europe/Zurich")).unwrap();
    let rule = mock!(Client::update_item)
        .match_requests(move |r| {
            let values = r.expression_attribute_values().unwrap();
            on_the_workspace(r)
                && r.update_expression() == Some("SET settings = :settings")
                && r.condition_expression() == Some("settings = :expected")
                && values[":expected"].as_s().unwrap() == &expected
                && values[":settings"]
                    .as_s()
                    .unwrap()
                    .contains("America/New_York")
                && !values.contains_key(":status")
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = TenantsTable::new(mock_client!(aws_sdk_dynamodb, [&rule]), "tenants");
    let written = table
        .update_settings(
            &alpine(),
            &settings("Europe/Zurich"),
            &settings("America/New_York"),
            None,
        )
        .await
        .unwrap();
    assert!(written);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_operators_rename_is_written_with_the_settings_in_the_same_update() {
    let rule = mock!(Client::update_item)
        .match_requests(|r| {
            on_the_workspace(r)
                && r.update_expression()
                    == Some("SET settings = :settings, display_name = :display_name")
                && r.condition_expression() == Some("settings = :expected")
                && r.expression_attribute_values().unwrap()[":display_name"]
                    .as_s()
                    .unwrap()
                    == "Alpine AG"
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = TenantsTable::new(mock_client!(aws_sdk_dynamodb, [&rule]), "tenants");
    let same = settings("Europe/Zurich");
    assert!(
        table
            .update_settings(&alpine(), &same, &same, Some("Alpine AG"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn changed_settings_fail_the_condition_after_one_request() {
    let rule = mock!(Client::update_item).then_error(|| {
        let mut old = workspace_key(&alpine());
        old.insert(
            "settings".into(),
            s(settings_json(&settings("Asia/Tokyo")).unwrap()),
        );
        refused(Some(old))
    });
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        "tenants",
    );
    let written = table
        .update_settings(
            &alpine(),
            &settings("Europe/Zurich"),
            &settings("UTC"),
            None,
        )
        .await
        .unwrap();
    assert!(!written);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_item_without_settings_is_patched_on_that_condition() {
    let first = mock!(Client::update_item)
        .match_requests(|r| r.condition_expression() == Some("settings = :expected"))
        .then_error(|| refused(Some(workspace_key(&alpine()))));
    let second = mock!(Client::update_item)
        .match_requests(|r| {
            on_the_workspace(r)
                && r.condition_expression()
                    == Some("attribute_exists(pk) AND attribute_not_exists(settings)")
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]),
        "tenants",
    );
    let written = table
        .update_settings(
            &alpine(),
            &TenantSettings::default(),
            &settings("UTC"),
            None,
        )
        .await
        .unwrap();
    assert!(written);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_status_change_sets_the_status_alone_on_the_status_read() {
    let rule = mock!(Client::update_item)
        .match_requests(|r| {
            let values = r.expression_attribute_values().unwrap();
            on_the_workspace(r)
                && r.update_expression() == Some("SET #status = :status")
                && r.condition_expression() == Some("#status = :expected")
                && r.expression_attribute_names().unwrap()["#status"] == "status"
                && values[":status"].as_s().unwrap() == "ACTIVE"
                && values[":expected"].as_s().unwrap() == "SUSPENDED"
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let any = mock!(Client::update_item)
        .match_requests(|r| r.condition_expression() == Some("attribute_exists(pk)"))
        .then_error(|| refused(None));
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &any]),
        "tenants",
    );
    assert!(
        table
            .set_workspace_status(
                &alpine(),
                Some(TenantStatus::Suspended),
                TenantStatus::Active
            )
            .await
            .unwrap()
    );
    assert!(
        !table
            .set_workspace_status(&alpine(), None, TenantStatus::Suspended)
            .await
            .unwrap(),
        "no such workspace"
    );
    assert_eq!((rule.num_calls(), any.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_re_put_sets_what_onboarding_owns_but_never_the_status() {
    let rule = mock!(Client::update_item)
        .match_requests(|r| {
            on_the_workspace(r)
                && r.condition_expression() == Some("attribute_exists(pk) AND slug = :slug")
                && !r.update_expression().unwrap().contains("status")
                && r.update_expression()
                    .unwrap()
                    .contains("settings = :settings")
                && r.expression_attribute_values().unwrap()[":slug"]
                    .as_s()
                    .unwrap()
                    == "alpine"
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let table = TenantsTable::new(mock_client!(aws_sdk_dynamodb, [&rule]), "tenants");
    assert!(table.update_onboarding(&workspace()).await.unwrap());
}

#[tokio::test]
async fn a_new_workspace_is_written_only_where_none_is() {
    let rule = mock!(Client::put_item)
        .match_requests(|r| {
            r.condition_expression() == Some("attribute_not_exists(pk)")
                && r.item().unwrap()["status"].as_s().unwrap() == "ACTIVE"
        })
        .then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
    let created = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &created]),
        "tenants",
    );
    assert!(!table.create_workspace(&workspace()).await.unwrap());
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_campaign_resume_sets_active_only_on_a_paused_status() {
    let rule = mock!(Client::update_item)
        .match_requests(|r| {
            let values = r.expression_attribute_values().unwrap();
            r.key().unwrap()["sk"].as_s().unwrap() == "CAMPAIGN#spring"
                && r.update_expression() == Some("SET #status = :status")
                && r.condition_expression() == Some("#status = :expected")
                && values[":expected"].as_s().unwrap() == "PAUSED"
                && values[":status"].as_s().unwrap() == "ACTIVE"
        })
        .then_error(|| refused(None));
    let table = TenantsTable::new(mock_client!(aws_sdk_dynamodb, [&rule]), "tenants");
    let resumed = table
        .set_campaign_status_if(
            &alpine(),
            &crate::domain::CampaignId::parse("spring").unwrap(),
            CampaignStatus::Paused,
            CampaignStatus::Active,
        )
        .await
        .unwrap();
    assert!(!resumed);
}

#[tokio::test]
async fn a_created_workspace_enters_the_registry_and_the_listing_queries_only_the_registry() {
    use aws_sdk_dynamodb::operation::query::QueryOutput;

    use crate::directory::WorkspaceListing;

    let put = mock!(Client::put_item)
        .match_requests(|r| {
            r.item().unwrap()[REGISTRY_ATTRIBUTE].as_s().unwrap() == REGISTRY_WORKSPACES
                && r.item().unwrap()["sk"].as_s().unwrap() == "WORKSPACE"
        })
        .then_output(|| PutItemOutput::builder().build());
    let listed = workspace_item(&workspace()).unwrap();
    let query = mock!(Client::query)
        .match_requests(|r| {
            r.index_name() == Some(WORKSPACE_REGISTRY_INDEX)
                && r.key_condition_expression() == Some("#registry = :workspaces")
                && r.expression_attribute_values().unwrap()[":workspaces"]
                    .as_s()
                    .unwrap()
                    == REGISTRY_WORKSPACES
        })
        .then_output(move || QueryOutput::builder().items(listed.clone()).build());
    let table = TenantsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &query]),
        "tenants",
    );

    assert!(table.create_workspace(&workspace()).await.unwrap());
    let workspaces = table.workspaces().await.unwrap();

    assert_eq!(workspaces, vec![workspace()]);
    assert_eq!(
        (put.num_calls(), query.num_calls()),
        (1, 1),
        "no Scan: the mock has none"
    );
}
