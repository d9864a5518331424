//! Each retailer's API requests per second on the delivery table: one counter item per retailer
//! and second (`pk = QUOTA#<tenant>`, `sk = <unix second>`), incremented by one conditional
//! UpdateItem per request and expired by the table's TTL a minute later.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::{is_update_condition_failure, n, s};
use crate::api::limits::RequestQuota;
use crate::aws::errors::store_error;
use crate::domain::TenantId;
use crate::error::StoreError;

const QUOTA: &str = "request quota";

/// A counter item outlives its second by this long before the TTL removes it (TTL deletes lag,
/// and nothing reads a past second).
pub const QUOTA_ITEM_RETENTION_SECONDS: i64 = 60;

/// The request quota on the delivery table.
#[derive(Clone)]
pub struct RequestQuotaTable {
    client: Client,
    table: String,
}

impl RequestQuotaTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl RequestQuota for RequestQuotaTable {
    async fn take(&self, tenant: &TenantId, second: i64, limit: u32) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("QUOTA#{tenant}")))
            .key("sk", s(second.to_string()))
            .update_expression("ADD taken :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(taken) OR taken < :limit")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(second + QUOTA_ITEM_RETENTION_SECONDS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_update_condition_failure(&error) => Ok(false),
            Err(error) => Err(store_error(QUOTA, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    #[tokio::test]
    async fn a_request_is_one_conditional_increment_of_the_retailers_second() {
        let admitted = mock!(Client::update_item)
            .match_requests(|r| {
                let values = r.expression_attribute_values().unwrap();
                r.key().unwrap()["pk"].as_s().unwrap() == "QUOTA#alpine"
                    && r.key().unwrap()["sk"].as_s().unwrap() == "1700000000"
                    && r.condition_expression()
                        == Some("attribute_not_exists(taken) OR taken < :limit")
                    && values[":limit"].as_n().unwrap() == "20"
                    && values[":expires"].as_n().unwrap() == "1700000060"
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let refused = mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("over")
                    .build(),
            )
        });
        let quota = RequestQuotaTable::new(
            mock_client!(
                aws_sdk_dynamodb,
                RuleMode::Sequential,
                [&admitted, &refused]
            ),
            "delivery",
        );
        let alpine = TenantId::parse("alpine").unwrap();

        assert!(quota.take(&alpine, 1_700_000_000, 20).await.unwrap());
        assert!(!quota.take(&alpine, 1_700_000_000, 20).await.unwrap());
    }
}
