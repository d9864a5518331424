//! `SendQuotaSource` on SES v2 GetAccount: the account's maximum send rate and daily quota.
//! The local endpoint (moto) has no GetAccount: the request is tested with request-level mocks
//! below, and locally the budget runs on its configured rate.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::get_account::GetAccountError;

use crate::aws::errors::store_error;
use crate::deliverability::budget::{SendQuota, SendQuotaSource};
use crate::error::StoreError;

const SES_ACCOUNT: &str = "SES account";

pub struct SesAccount {
    client: Client,
}

impl SesAccount {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SendQuotaSource for SesAccount {
    async fn send_quota(&self) -> Result<SendQuota, StoreError> {
        let output = self.client.get_account().send().await.map_err(|error| {
            match error.as_service_error() {
                // Modeled, whatever code the answer carries.
                Some(GetAccountError::TooManyRequestsException(_)) => StoreError::Throttled {
                    store: SES_ACCOUNT,
                    source: Box::new(error),
                },
                _ => store_error(SES_ACCOUNT, error),
            }
        })?;
        let quota = output.send_quota().ok_or_else(|| StoreError::Corrupt {
            store: SES_ACCOUNT,
            reason: "GetAccount answered no SendQuota".into(),
        })?;
        Ok(SendQuota {
            max_send_rate: quota.max_send_rate(),
            max_24_hour_send: quota.max24_hour_send(),
            sent_last_24_hours: quota.sent_last24_hours(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::operation::get_account::GetAccountOutput;
    use aws_sdk_sesv2::types::SendQuota as SdkQuota;
    use aws_sdk_sesv2::types::error::TooManyRequestsException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn the_account_quota_is_read_from_get_account() {
        let rule = mock!(Client::get_account).then_output(|| {
            GetAccountOutput::builder()
                .send_quota(
                    SdkQuota::builder()
                        .max_send_rate(350.0)
                        .max24_hour_send(2_000_000.0)
                        .sent_last24_hours(12_345.0)
                        .build(),
                )
                .production_access_enabled(true)
                .build()
        });
        let source = SesAccount::new(mock_client!(aws_sdk_sesv2, [&rule]));
        assert_eq!(
            source.send_quota().await.unwrap(),
            SendQuota {
                max_send_rate: 350.0,
                max_24_hour_send: 2_000_000.0,
                sent_last_24_hours: 12_345.0,
            }
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_throttled_read_is_retryable_and_a_missing_quota_is_not() {
        let throttled = mock!(Client::get_account).then_error(|| {
            GetAccountError::TooManyRequestsException(TooManyRequestsException::builder().build())
        });
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&throttled], |c| c
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()));
        let error = SesAccount::new(client).send_quota().await.unwrap_err();
        assert!(matches!(error, StoreError::Throttled { .. }), "{error:?}");

        let empty = mock!(Client::get_account).then_output(|| GetAccountOutput::builder().build());
        let error = SesAccount::new(mock_client!(aws_sdk_sesv2, [&empty]))
            .send_quota()
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    }
}
