//! Redrive jobs as DynamoDB receives them (moto validates little of this): each write on the
//! revision it was made from, the running index changed with the state in one transaction.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::aws::dynamodb::test_support::cancelled;

fn scope() -> RedriveScope {
    RedriveScope::campaign(
        &TenantId::parse("alpine").unwrap(),
        &CampaignId::parse("spring").unwrap(),
    )
}

fn job(revision: u64, state: RedriveState) -> RedriveJob {
    let mut job = RedriveJob::new(scope(), 1_764_590_400, None);
    job.revision = revision;
    job.state = state;
    job
}

fn table(client: Client) -> TenantsTable {
    TenantsTable::new(client, "tenants")
}

#[tokio::test]
async fn a_new_job_is_put_only_where_none_is_with_its_index_entry() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = {
        let seen = seen.clone();
        mock!(Client::transact_write_items).then_compute_output(move |request| {
            seen.lock().unwrap().push(request.transact_items().to_vec());
            TransactWriteItemsOutput::builder().build()
        })
    };
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]));

    assert!(
        table
            .save(&job(1, RedriveState::Running), None)
            .await
            .unwrap()
    );
    let mut done = job(9, RedriveState::Done);
    done.finished_at = Some(done.updated_at);
    let was = Some(RedriveState::Running);
    assert!(table.save(&done, was).await.unwrap());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].len(), ITEMS_PER_STATE_CHANGE);
    let put = seen[0][0].put().unwrap();
    assert_eq!(put.item()["pk"].as_s().unwrap(), "TENANT#alpine");
    assert_eq!(put.item()["sk"].as_s().unwrap(), "REDRIVE#CAMPAIGN#spring");
    assert_eq!(put.item()["state"].as_s().unwrap(), "RUNNING");
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk)"));
    let index = seen[0][1].put().unwrap();
    assert_eq!(index.item()["pk"].as_s().unwrap(), RUNNING_PK);
    assert_eq!(index.item()["sk"].as_s().unwrap(), "alpine#CAMPAIGN#spring");
    // Done: written over revision 8, and its index entry deleted with it.
    let put = seen[1][0].put().unwrap();
    assert_eq!(put.condition_expression(), Some("revision = :expected"));
    let values = put.expression_attribute_values().unwrap();
    assert_eq!(values[":expected"].as_n().unwrap(), "8");
    let delete = seen[1][1].delete().unwrap();
    assert_eq!(delete.key()["sk"].as_s().unwrap(), "alpine#CAMPAIGN#spring");
}

#[tokio::test]
async fn progress_is_one_put_on_the_revision_and_a_moved_job_is_refused_not_failed() {
    let seen: Arc<Mutex<Vec<PutItemInput>>> = Arc::default();
    let accepted = {
        let seen = seen.clone();
        mock!(Client::put_item).then_compute_output(move |request| {
            seen.lock().unwrap().push(request.clone());
            PutItemOutput::builder().build()
        })
    };
    let refused = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&accepted, &refused]
    );
    let table = table(client);
    let mut progress = job(4, RedriveState::Running);
    progress.cursor = Some("parked/alpine/spring/b7.json".into());
    progress.lease_until = 1_764_590_520;
    let was = Some(RedriveState::Running);

    assert!(table.save(&progress, was).await.unwrap());
    assert!(!table.save(&progress, was).await.unwrap());

    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.condition_expression(), Some("revision = :expected"));
    assert_eq!(
        request.expression_attribute_values().unwrap()[":expected"]
            .as_n()
            .unwrap(),
        "3"
    );
    let item = request.item().unwrap();
    assert_eq!(
        item["cursor"].as_s().unwrap(),
        "parked/alpine/spring/b7.json"
    );
    assert_eq!(item["lease_until"].as_n().unwrap(), "1764590520");
    assert_eq!(job_from_item(item).unwrap(), progress);
}

#[tokio::test]
async fn a_moved_job_in_a_state_change_is_refused_and_a_conflict_is_retryable() {
    let moved = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let conflict = mock!(Client::transact_write_items)
        .then_error(|| cancelled(&["None", "TransactionConflict"]));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&moved, &conflict]);
    let table = table(client);

    let job = job(1, RedriveState::Running);
    assert!(!table.save(&job, None).await.unwrap());
    let error = table.save(&job, None).await.unwrap_err();
    assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");
}

#[tokio::test]
async fn the_running_jobs_are_read_from_the_index_across_tenants() {
    let entry = |tenant: &str, campaign: Option<&str>| {
        let scope = RedriveScope {
            tenant_id: TenantId::parse(tenant).unwrap(),
            campaign_id: campaign.map(|c| CampaignId::parse(c).unwrap()),
        };
        let mut item = index_key(&scope);
        scope_attributes(&scope, &mut item);
        item
    };
    let query = mock!(Client::query)
        .match_requests(|request| {
            request.key_condition_expression() == Some("pk = :pk")
                && request.expression_attribute_values().unwrap()[":pk"]
                    .as_s()
                    .unwrap()
                    == RUNNING_PK
                && request.limit() == Some(25)
        })
        .then_output(move || {
            QueryOutput::builder()
                .items(entry("alpine", Some("spring")))
                .items(entry("harbor", None))
                .build()
        });
    let table = table(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query]));

    let running = table.running(25).await.unwrap();

    assert_eq!(running[0], scope());
    assert_eq!(
        running[1],
        RedriveScope::tenant(&TenantId::parse("harbor").unwrap())
    );
}

#[test]
fn a_tenant_job_has_its_own_key_and_round_trips() {
    let tenant = RedriveScope::tenant(&TenantId::parse("alpine").unwrap());
    let mut job = RedriveJob::new(tenant, 1_764_590_400, None);
    job.finished_at = Some(1_764_590_460);
    job.last_error = Some("archive bucket is unavailable".into());
    job.holder = u64::MAX;
    let item = job_item(&job).unwrap();
    assert_eq!(item["sk"].as_s().unwrap(), "REDRIVE#TENANT");
    assert!(!item.contains_key("campaign_id"));
    assert_eq!(job_from_item(&item).unwrap(), job);
}
