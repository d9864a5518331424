//! `EmailProvider` on SES v2 SendEmail with raw content, routed through the tenant's
//! configuration set and SES tenant.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

use super::errors::{FailureKind, classify};
use crate::error::SendError;
use crate::ports::{EmailProvider, OutboundEmail};

pub struct SesProvider {
    client: Client,
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

/// Sorts SES's answers into the failure classes: whose problem is it, and will it pass?
pub fn send_error<R>(error: SdkError<SendEmailError, R>) -> SendError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = classify(&error);
    let message = error
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_string();
    let tenant_level = matches!(
        error.as_service_error(),
        Some(
            SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::NotFoundException(_)
        )
    ) || (matches!(
        error.as_service_error(),
        Some(SendEmailError::MessageRejected(_))
    ) && identity_refused(&message));
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("Unknown")
        .to_string();
    let source = Box::new(error);
    if tenant_level {
        return SendError::TenantRejected {
            reason: format!("{code}: {message}"),
            source,
        };
    }
    match kind {
        FailureKind::Throttled => SendError::Throttled { source },
        FailureKind::Transient => SendError::Unavailable { source },
        FailureKind::Permanent => SendError::MessageRejected {
            reason: format!("{code}: {message}"),
            source,
        },
    }
}

/// SES answers an unverified or unauthorised From identity with MessageRejected; that is the
/// workspace's problem, not the message's.
fn identity_refused(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("not verified") || message.contains("did not have authority")
}
