//! A retailer's suppression list on the tenants table: `pk = TENANT#<tenant>`,
//! `sk = SUPPRESSED#<address>`, with `reason`, `since` (epoch seconds) and `detail` (optional).
//! Delivery and the campaigns engine read the same items by key (`tenants.rs`); items written
//! before reasons were kept read as `MANUAL` at time 0.
//!
//! An add is a conditional put (`attribute_not_exists(pk)`), so the first reason and time stay;
//! a page is a Query of the tenant's partition with `begins_with(sk, "SUPPRESSED#")`, resumed
//! after an address with `ExclusiveStartKey`.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::ReturnValue;

use crate::aws::errors::store_error;
use crate::deliverability::suppression::{
    MAX_SUPPRESSION_PAGE, Suppression, SuppressionList, SuppressionPage, SuppressionReason,
};
use crate::domain::{TenantId, normalise_address};
use crate::error::StoreError;

use super::*;

pub(crate) const SUPPRESSED_PREFIX: &str = "SUPPRESSED#";

fn suppressed_key(tenant: &TenantId, address: &str) -> Item {
    key(tenant_pk(tenant), format!("{SUPPRESSED_PREFIX}{address}"))
}

pub(super) fn suppression_item(tenant: &TenantId, entry: &Suppression) -> Item {
    let mut item = suppressed_key(tenant, &normalise_address(&entry.address));
    item.insert("reason".into(), s(entry.reason.as_str()));
    item.insert("since".into(), n(entry.since));
    if let Some(detail) = &entry.detail {
        item.insert("detail".into(), s(detail.as_str()));
    }
    item
}

fn suppression_from_item(item: &Item) -> Result<Suppression, StoreError> {
    let sk = get_s(item, "sk", TENANTS)?;
    let address = sk
        .strip_prefix(SUPPRESSED_PREFIX)
        .ok_or_else(|| corrupt(TENANTS, format!("{sk} is not a suppression")))?;
    let reason = match item.get("reason").map(|v| v.as_s()) {
        None => SuppressionReason::Manual,
        Some(Ok(name)) => SuppressionReason::parse(name)
            .ok_or_else(|| corrupt(TENANTS, format!("unknown suppression reason {name}")))?,
        Some(Err(_)) => return Err(corrupt(TENANTS, "attribute reason is not a string")),
    };
    Ok(Suppression {
        address: address.to_string(),
        reason,
        since: if item.contains_key("since") {
            get_n(item, "since", TENANTS)?
        } else {
            0
        },
        detail: item.get("detail").and_then(|v| v.as_s().ok()).cloned(),
    })
}

#[async_trait]
impl SuppressionList for TenantsTable {
    async fn add(&self, tenant: &TenantId, entry: &Suppression) -> Result<bool, StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(suppression_item(tenant, entry)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    async fn remove(&self, tenant: &TenantId, address: &str) -> Result<bool, StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(suppressed_key(tenant, &normalise_address(address))))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::None)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(store_error(TENANTS, error)),
        }
    }

    async fn get(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(suppressed_key(tenant, &normalise_address(address))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(TENANTS, e))?;
        output.item.as_ref().map(suppression_from_item).transpose()
    }

    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError> {
        let limit = limit.clamp(1, MAX_SUPPRESSION_PAGE);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":prefix", s(SUPPRESSED_PREFIX))
            .limit(limit as i32);
        if let Some(after) = after {
            request = request
                .set_exclusive_start_key(Some(suppressed_key(tenant, &normalise_address(after))));
        }
        let output = request.send().await.map_err(|e| store_error(TENANTS, e))?;
        let entries = output
            .items()
            .iter()
            .map(suppression_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB answers a LastEvaluatedKey whenever the limit was reached, even when nothing
        // follows; the next page is then empty, which is still correct.
        let next_after = match output.last_evaluated_key() {
            Some(_) => entries.last().map(|e| e.address.clone()),
            None => None,
        };
        Ok(SuppressionPage {
            entries,
            next_after,
        })
    }
}

/// The request each operation sends, on request-level mocks: the limit on a page, the
/// conditions that keep the first reason and make a removal of nothing visible.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn alpine() -> TenantId {
        TenantId::parse("alpine").unwrap()
    }

    #[tokio::test]
    async fn a_page_asks_for_at_most_the_page_limit_and_resumes_after_the_address() {
        let query = mock!(aws_sdk_dynamodb::Client::query)
            .match_requests(|r| {
                r.limit() == Some(MAX_SUPPRESSION_PAGE as i32)
                    && r.exclusive_start_key()
                        .and_then(|k| k.get("sk"))
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some("SUPPRESSED#ann@example.com")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":pk"))
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some("TENANT#alpine")
            })
            .then_output(|| {
                let mut item = key("TENANT#alpine".into(), "SUPPRESSED#bo@example.com".into());
                item.insert("reason".into(), s("COMPLAINT"));
                item.insert("since".into(), n(7));
                QueryOutput::builder()
                    .items(item.clone())
                    .set_last_evaluated_key(Some(item))
                    .build()
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query]);
        let table = TenantsTable::new(client, "tenants");
        let page = table
            .page(&alpine(), Some("Ann@Example.com"), 100_000)
            .await
            .unwrap();
        assert_eq!(query.num_calls(), 1);
        assert_eq!(page.entries[0].reason, SuppressionReason::Complaint);
        assert_eq!(page.entries[0].since, 7);
        assert_eq!(page.next_after.as_deref(), Some("bo@example.com"));
    }

    #[tokio::test]
    async fn an_add_is_conditional_and_a_failed_condition_means_already_there() {
        let put = mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("attribute_not_exists(pk)")
                    && r.item()
                        .and_then(|i| i.get("reason"))
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some("UNSUBSCRIBED")
            })
            .then_error(|| {
                PutItemError::ConditionalCheckFailedException(
                    ConditionalCheckFailedException::builder().build(),
                )
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put]);
        let table = TenantsTable::new(client, "tenants");
        let entry = Suppression {
            address: "ann@example.com".into(),
            reason: SuppressionReason::Unsubscribed,
            since: 1,
            detail: Some("spring".into()),
        };
        assert!(!table.add(&alpine(), &entry).await.unwrap());
        assert_eq!(put.num_calls(), 1);
        let added = mock!(aws_sdk_dynamodb::Client::put_item)
            .then_output(|| PutItemOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&added]);
        assert!(
            TenantsTable::new(client, "tenants")
                .add(&alpine(), &entry)
                .await
                .unwrap()
        );
    }

    #[test]
    fn an_item_written_before_reasons_reads_as_manual() {
        let item = key("TENANT#alpine".into(), "SUPPRESSED#ann@example.com".into());
        let entry = suppression_from_item(&item).unwrap();
        assert_eq!(entry.reason, SuppressionReason::Manual);
        assert_eq!(entry.since, 0);
        let mut bad = item.clone();
        bad.insert("reason".into(), s("BORED"));
        assert!(matches!(
            suppression_from_item(&bad),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
