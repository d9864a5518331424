//! `EmailProvider` on SES v2 SendEmail with raw content, routed through the tenant's
//! configuration set and SES tenant.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use super::errors::{FailureKind, classify};
use crate::channels::email::{EmailProvider, OutboundEmail};
use crate::error::SendError;

pub struct SesProvider {
    client: Client,
}

/// One SendEmail attempt gives up after this. The library's own bound (`send_timeout` of the
/// delivery config) is the same; either way the send counts as unconfirmed.
pub const SEND_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Connecting is bounded separately: a connection that never opened carried no request.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// SES's client settings. SendEmail is not idempotent, so the SDK never retries it: a retry
/// after a lost response could send the email twice. The library retries only answers that say
/// the email was refused (throttling).
pub fn configure(builder: aws_sdk_sesv2::config::Builder) -> aws_sdk_sesv2::config::Builder {
    builder
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sesv2::config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(SEND_ATTEMPT_TIMEOUT)
                .operation_timeout(SEND_ATTEMPT_TIMEOUT)
                .build(),
        )
}

/// The SES client of the deliver function (`configure`d).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(configure(aws_sdk_sesv2::config::Builder::from(sdk)).build())
}

impl SesProvider {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The request exactly as it is sent: built apart from sending so its routing can be tested.
    pub fn request(
        &self,
        email: &OutboundEmail,
    ) -> Result<aws_sdk_sesv2::operation::send_email::builders::SendEmailFluentBuilder, SendError>
    {
        let raw = RawMessage::builder()
            .data(Blob::new(email.raw_mime.clone()))
            .build()
            .map_err(|e| SendError::MessageRejected {
                reason: "raw message could not be built".into(),
                source: Box::new(e),
            })?;
        let mut request = self
            .client
            .send_email()
            .from_email_address(&email.from_address)
            .destination(
                Destination::builder()
                    .to_addresses(&email.to_address)
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .configuration_set_name(&email.configuration_set)
            .tenant_name(&email.ses_tenant);
        for (name, value) in &email.tags {
            let tag = MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| SendError::MessageRejected {
                    reason: format!("tag {name} could not be built"),
                    source: Box::new(e),
                })?;
            request = request.email_tags(tag);
        }
        Ok(request)
    }
}

#[async_trait]
impl EmailProvider for SesProvider {
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError> {
        let output = self.request(email)?.send().await.map_err(send_error)?;
        Ok(output.message_id.unwrap_or_default())
    }
}

/// Sorts SES's answers into the failure classes: whose problem is it, will it pass, and might the
/// email have gone out anyway?
///
/// Only an answer that says SES refused the request is retryable (throttling, "service
/// unavailable"). A timeout, a broken connection, an unreadable response or an internal error
/// leave it open whether SES accepted the email: unconfirmed, never retried.
pub fn send_error<R>(error: SdkError<SendEmailError, R>) -> SendError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    enum Class {
        Throttled,
        Refused,
        Unconfirmed(String),
        Tenant(String),
        Message(String),
    }
    let class = match error.as_service_error() {
        Some(
            SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_),
        ) => Class::Throttled,
        Some(
            e @ (SendEmailError::AccountSuspendedException(_)
            | SendEmailError::SendingPausedException(_)
            | SendEmailError::MailFromDomainNotVerifiedException(_)
            | SendEmailError::NotFoundException(_)),
        ) => Class::Tenant(describe(e)),
        Some(e @ SendEmailError::MessageRejected(rejected)) => {
            if identity_refused(rejected.message().unwrap_or_default()) {
                Class::Tenant(describe(e))
            } else {
                Class::Message(describe(e))
            }
        }
        Some(e @ SendEmailError::BadRequestException(_)) => Class::Message(describe(e)),
        Some(e) if e.code() == Some("ServiceUnavailable") => Class::Refused,
        Some(e) => match classify(&error) {
            FailureKind::Throttled => Class::Throttled,
            FailureKind::Transient => Class::Unconfirmed(describe(e)),
            FailureKind::Permanent => Class::Message(describe(e)),
        },
        None => match &error {
            SdkError::ConstructionFailure(_) => {
                Class::Message("the request could not be built".into())
            }
            SdkError::TimeoutError(_) => Class::Unconfirmed("no answer in time".into()),
            SdkError::DispatchFailure(_) => {
                Class::Unconfirmed("the connection failed while sending".into())
            }
            _ => Class::Unconfirmed("the response could not be read".into()),
        },
    };
    let source = Box::new(error);
    match class {
        Class::Throttled => SendError::Throttled { source },
        Class::Refused => SendError::Unavailable { source },
        Class::Unconfirmed(reason) => SendError::Unconfirmed { reason, source },
        Class::Tenant(reason) => SendError::TenantRejected { reason, source },
        Class::Message(reason) => SendError::MessageRejected { reason, source },
    }
}

fn describe(error: &SendEmailError) -> String {
    let code = error.code().unwrap_or_else(|| variant_name(error));
    let message = error
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| error.to_string());
    format!("{code}: {message}")
}

fn variant_name(error: &SendEmailError) -> &'static str {
    match error {
        SendEmailError::AccountSuspendedException(_) => "AccountSuspendedException",
        SendEmailError::BadRequestException(_) => "BadRequestException",
        SendEmailError::LimitExceededException(_) => "LimitExceededException",
        SendEmailError::MailFromDomainNotVerifiedException(_) => {
            "MailFromDomainNotVerifiedException"
        }
        SendEmailError::MessageRejected(_) => "MessageRejected",
        SendEmailError::NotFoundException(_) => "NotFoundException",
        SendEmailError::SendingPausedException(_) => "SendingPausedException",
        SendEmailError::TooManyRequestsException(_) => "TooManyRequestsException",
        _ => "Unknown",
    }
}

/// SES answers an unverified or unauthorised From identity with MessageRejected; that is the
/// workspace's problem, not the message's.
fn identity_refused(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("not verified") || message.contains("did not have authority")
}

/// The local endpoint's SES v2 has SendEmail but not tenants; these tests check the request we
/// build and how SES's errors are classified, with request-level mocks.
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
    use aws_sdk_sesv2::types::error::{
        MessageRejected, NotFoundException, SendingPausedException, TooManyRequestsException,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn email() -> OutboundEmail {
        OutboundEmail {
            configuration_set: "storecast-alpine".into(),
            ses_tenant: "storecast-alpine".into(),
            from_address: "alpine@mail.storecast.example".into(),
            to_address: "ann@example.com".into(),
            raw_mime: b"Subject: hi\r\n\r\nbody".to_vec(),
            tags: vec![
                ("tenant".into(), "alpine".into()),
                ("campaign".into(), "c1".into()),
            ],
        }
    }

    #[tokio::test]
    async fn the_request_routes_through_the_tenants_own_workspace() {
        let rule = mock!(Client::send_email)
            .match_requests(|request| {
                request.configuration_set_name() == Some("storecast-alpine")
                    && request.tenant_name() == Some("storecast-alpine")
                    && request.from_email_address() == Some("alpine@mail.storecast.example")
                    && request
                        .destination()
                        .is_some_and(|d| d.to_addresses() == ["ann@example.com"])
                    && request
                        .email_tags()
                        .iter()
                        .any(|t| t.name() == "tenant" && t.value() == "alpine")
                    && request
                        .content()
                        .and_then(|c| c.raw())
                        .is_some_and(|raw| raw.data().as_ref().starts_with(b"Subject: hi"))
            })
            .then_output(|| SendEmailOutput::builder().message_id("ses-1").build());
        let client = mock_client!(aws_sdk_sesv2, [&rule]);
        let id = SesProvider::new(client).send(&email()).await.unwrap();
        assert_eq!(id, "ses-1");
        assert_eq!(rule.num_calls(), 1);
    }

    /// SES v2's rule for a message tag's name and value.
    fn ses_accepts_tag(text: &str) -> bool {
        (1..=crate::domain::MAX_MESSAGE_TAG_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// The email the deliverer hands its provider for one recipient of a batch with these ids,
    /// built by the real pipeline on the in-memory adapters.
    async fn delivered_email(tenant: &str, campaign: &str, variant: &str) -> OutboundEmail {
        use crate::domain::VariantId;
        use crate::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
        use crate::pipeline::lambda_batch::InboundRecord;
        use crate::testing::samples::{sample_batch, seed_retailer};
        use crate::testing::{
            ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendLog,
        };
        use std::sync::Arc;
        const DOMAIN: &str = "mail.storecast.example";
        let directory = Arc::new(MemoryDirectory::default());
        seed_retailer(directory.as_ref(), tenant, campaign, DOMAIN)
            .await
            .unwrap();
        let provider = Arc::new(MemoryEmailProvider::keeping_messages());
        let now = time::macros::datetime!(2026-11-22 10:00:00 UTC);
        let deliverer = Deliverer::new(
            DelivererPorts {
                directory: directory.clone(),
                templates: directory,
                send_log: Arc::new(MemorySendLog::default()),
                provider: provider.clone(),
                archive: Arc::new(MemoryArchive::default()),
                clock: Arc::new(ManualClock::new(now)),
                unsubscribe: crate::testing::unsubscribe_signer(),
            },
            DeliveryConfig::new(DOMAIN),
        );
        let mut batch = sample_batch(tenant, campaign, [0]);
        batch.group.variant = VariantId::parse(variant).unwrap();
        let record = InboundRecord {
            sequence_number: "1".into(),
            partition_key: batch.batch_id.to_string(),
            data: serde_json::to_vec(&batch).unwrap(),
            arrived_at: None,
        };
        deliverer
            .deliver(&[record], now + time::Duration::seconds(60))
            .await;
        let mut sent = provider.sent();
        assert_eq!(sent.len(), 1, "the recipient was sent");
        sent.remove(0).1
    }

    #[tokio::test]
    async fn every_tag_of_a_delivered_email_is_one_ses_accepts() {
        use crate::domain::{CampaignId, TenantId, VariantId};
        // The longest ids of each character an id may hold, and ids a retailer might try that
        // SES would refuse as tags: whichever parse must come out as tags SES accepts.
        let longest = (
            "t_-9".repeat(TenantId::MAX_CHARS / 4),
            "C-_0".repeat(CampaignId::MAX_CHARS / 4),
            "v_Z-".repeat(VariantId::MAX_CHARS / 4),
        );
        let dotted = ("alpine.outfitters".into(), "c1".into(), "A".into());
        let dotted_campaign = ("alpine".into(), "spring.sale".into(), "A".into());
        let dotted_variant = ("alpine".into(), "c1".into(), "v1.1".into());
        let mut checked = 0;
        for (tenant, campaign, variant) in [longest, dotted, dotted_campaign, dotted_variant] {
            if TenantId::parse(&tenant).is_err()
                || CampaignId::parse(&campaign).is_err()
                || VariantId::parse(&variant).is_err()
            {
                continue;
            }
            let email = delivered_email(&tenant, &campaign, &variant).await;
            let rule = mock!(Client::send_email)
                .match_requests(|request| {
                    request.email_tags().len() == 4
                        && request
                            .email_tags()
                            .iter()
                            .all(|tag| ses_accepts_tag(tag.name()) && ses_accepts_tag(tag.value()))
                })
                .then_output(|| SendEmailOutput::builder().message_id("ses-1").build());
            let client = mock_client!(aws_sdk_sesv2, [&rule]);
            SesProvider::new(client)
                .send(&email)
                .await
                .unwrap_or_else(|e| panic!("tags {:?}: {e}", email.tags));
            assert_eq!(rule.num_calls(), 1);
            checked += 1;
        }
        assert!(checked >= 1, "the longest valid ids are checked");
    }

    async fn classify_send(error: SendEmailError) -> SendError {
        let rule = mock!(Client::send_email).then_error(move || clone_error(&error));
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled()));
        SesProvider::new(client).send(&email()).await.unwrap_err()
    }

    fn clone_error(error: &SendEmailError) -> SendEmailError {
        match error {
            SendEmailError::TooManyRequestsException(_) => {
                SendEmailError::TooManyRequestsException(
                    TooManyRequestsException::builder()
                        .message("Maximum sending rate exceeded.")
                        .build(),
                )
            }
            SendEmailError::SendingPausedException(_) => SendEmailError::SendingPausedException(
                SendingPausedException::builder().message("paused").build(),
            ),
            SendEmailError::NotFoundException(_) => SendEmailError::NotFoundException(
                NotFoundException::builder()
                    .message("Configuration set does not exist")
                    .build(),
            ),
            SendEmailError::MessageRejected(e) => SendEmailError::MessageRejected(
                MessageRejected::builder()
                    .set_message(e.message().map(str::to_string))
                    .build(),
            ),
            _ => unreachable!("not used by these tests"),
        }
    }

    #[tokio::test]
    async fn throttling_is_retryable() {
        let error = classify_send(SendEmailError::TooManyRequestsException(
            TooManyRequestsException::builder().build(),
        ))
        .await;
        assert!(matches!(error, SendError::Throttled { .. }), "{error:?}");
        assert!(crate::error::Retryable::is_retryable(&error));
    }

    #[tokio::test]
    async fn a_paused_or_missing_workspace_is_a_tenant_failure() {
        for failure in [
            SendEmailError::SendingPausedException(SendingPausedException::builder().build()),
            SendEmailError::NotFoundException(NotFoundException::builder().build()),
            SendEmailError::MessageRejected(
                MessageRejected::builder()
                    .message(
                        "Email address is not verified. The following identities failed the check",
                    )
                    .build(),
            ),
        ] {
            let error = classify_send(failure).await;
            assert!(
                matches!(error, SendError::TenantRejected { .. }),
                "{error:?}"
            );
            assert!(
                std::error::Error::source(&error).is_some(),
                "the SDK error is kept"
            );
        }
    }

    /// A lost answer must never become a second email: one call, and the send is unconfirmed.
    #[tokio::test]
    async fn an_internal_error_is_sent_once_and_unconfirmed() {
        let rule = mock!(Client::send_email).then_error(|| {
            SendEmailError::generic(
                aws_sdk_sesv2::error::ErrorMetadata::builder()
                    .code("InternalFailure")
                    .message("internal error")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule], configure);
        let error = SesProvider::new(client).send(&email()).await.unwrap_err();
        assert!(matches!(error, SendError::Unconfirmed { .. }), "{error:?}");
        assert!(!crate::error::Retryable::is_retryable(&error));
        assert_eq!(rule.num_calls(), 1, "the SDK does not retry SendEmail");
    }

    #[test]
    fn a_timeout_or_a_broken_connection_is_unconfirmed_and_a_refusal_is_retryable() {
        let timeout: SdkError<SendEmailError, ()> = SdkError::timeout_error("read timed out");
        assert!(matches!(send_error(timeout), SendError::Unconfirmed { .. }));
        let unavailable: SdkError<SendEmailError, ()> = SdkError::service_error(
            SendEmailError::generic(
                aws_sdk_sesv2::error::ErrorMetadata::builder()
                    .code("ServiceUnavailable")
                    .build(),
            ),
            (),
        );
        let refused = send_error(unavailable);
        assert!(
            matches!(refused, SendError::Unavailable { .. }),
            "{refused:?}"
        );
        assert!(crate::error::Retryable::is_retryable(&refused));
    }

    #[tokio::test]
    async fn rejected_content_fails_only_the_message() {
        let error = classify_send(SendEmailError::MessageRejected(
            MessageRejected::builder().message("Illegal header").build(),
        ))
        .await;
        assert!(
            matches!(error, SendError::MessageRejected { .. }),
            "{error:?}"
        );
    }
}
