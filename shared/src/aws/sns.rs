//! `PushProvider` on Amazon SNS mobile push: CreatePlatformEndpoint (idempotent per token),
//! GetEndpointAttributes for a new endpoint's `Enabled`, and Publish with `MessageStructure: json`
//! to one endpoint of the retailer's own platform application.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::create_platform_endpoint::CreatePlatformEndpointError;
use aws_sdk_sns::operation::get_endpoint_attributes::GetEndpointAttributesError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::operation::publish::builders::PublishFluentBuilder;

use super::errors::{FailureKind, classify};
use crate::channels::push::{OutboundPush, PushError, PushProvider, endpoint_belongs_to};
use crate::domain::PushDevice;

/// One SNS call gives up after this; a Publish without an answer is unconfirmed.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Connecting is bounded separately: a connection that never opened carried no request.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// SNS's own limit on a published message, every platform's payload included.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// SNS's client settings. Publish is not idempotent, so the SDK never retries it (a retry after a
/// lost answer could push twice); the library retries what SNS refused (throttling).
pub fn configure(builder: aws_sdk_sns::config::Builder) -> aws_sdk_sns::config::Builder {
    builder
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sns::config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
}

/// The SNS client of the deliver function (`configure`d).
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(configure(aws_sdk_sns::config::Builder::from(sdk)).build())
}

pub struct SnsPush {
    client: Client,
}

impl SnsPush {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The request exactly as it is sent: built apart from sending so its shape can be tested.
    pub fn publish_request(&self, push: &OutboundPush) -> Result<PublishFluentBuilder, PushError> {
        if push.message.len() > MAX_MESSAGE_BYTES {
            return Err(PushError::PayloadTooLarge {
                platform: push.platform,
                bytes: push.message.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(self
            .client
            .publish()
            .target_arn(&push.endpoint_arn)
            .message_structure("json")
            .message(&push.message))
    }

    async fn create_endpoint(
        &self,
        application_arn: &str,
        device: &PushDevice,
    ) -> Result<String, PushError> {
        let created = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(application_arn)
            .token(&device.token)
            .send()
            .await;
        match created {
            Ok(output) => output.endpoint_arn.ok_or_else(|| PushError::Unavailable {
                source: crate::error::Message::boxed("CreatePlatformEndpoint answered no ARN"),
            }),
            // The token has an endpoint whose attributes differ (SNS's answer for one it
            // disabled): its ARN is in the message, and its state is read next.
            Err(error) => match existing_endpoint(&error) {
                Some(arn) => Ok(arn),
                None => Err(create_endpoint_error(error)),
            },
        }
    }

    async fn check_enabled(&self, endpoint_arn: &str) -> Result<(), PushError> {
        let output = self
            .client
            .get_endpoint_attributes()
            .endpoint_arn(endpoint_arn)
            .send()
            .await
            .map_err(endpoint_attributes_error)?;
        let enabled = output
            .attributes()
            .and_then(|a| a.get("Enabled"))
            .is_none_or(|value| !value.eq_ignore_ascii_case("false"));
        if enabled {
            Ok(())
        } else {
            Err(PushError::EndpointDisabled {
                source: crate::error::Message::boxed(format!("{endpoint_arn} has Enabled=false")),
            })
        }
    }
}

#[async_trait]
impl PushProvider for SnsPush {
    async fn endpoint(
        &self,
        application_arn: &str,
        device: &PushDevice,
    ) -> Result<String, PushError> {
        let arn = self.create_endpoint(application_arn, device).await?;
        if !endpoint_belongs_to(application_arn, &arn) {
            return Err(PushError::InvalidToken {
                reason: "the token belongs to another application".into(),
                source: crate::error::Message::boxed(arn),
            });
        }
        self.check_enabled(&arn).await?;
        Ok(arn)
    }

    async fn publish(&self, push: &OutboundPush) -> Result<String, PushError> {
        if !endpoint_belongs_to(&push.application_arn, &push.endpoint_arn) {
            return Err(PushError::ApplicationRejected {
                reason: "the endpoint is not of the retailer's application".into(),
                source: crate::error::Message::boxed(push.endpoint_arn.clone()),
            });
        }
        let output = self
            .publish_request(push)?
            .send()
            .await
            .map_err(publish_error)?;
        Ok(output.message_id.unwrap_or_default())
    }
}

/// The ARN in SNS's "Endpoint <arn> already exists with the same Token, but different attributes".
fn existing_endpoint<R>(error: &SdkError<CreatePlatformEndpointError, R>) -> Option<String> {
    let Some(CreatePlatformEndpointError::InvalidParameterException(e)) = error.as_service_error()
    else {
        return None;
    };
    let message = e.message()?;
    let rest = &message[message.find("Endpoint ")? + "Endpoint ".len()..];
    let (arn, tail) = rest.split_once(' ')?;
    (arn.starts_with("arn:") && tail.starts_with("already exists")).then(|| arn.to_string())
}

fn describe(error: &impl ProvideErrorMetadata, fallback: &str) -> String {
    let code = error.code().unwrap_or(fallback);
    match error.message() {
        Some(message) => format!("{code}: {message}"),
        None => code.to_string(),
    }
}

/// Sorts Publish's answers: only what says SNS refused the request is retried; a lost answer is
/// unconfirmed (it may have been pushed).
pub fn publish_error<R>(error: SdkError<PublishError, R>) -> PushError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = classify(&error);
    let class = match error.as_service_error() {
        Some(PublishError::EndpointDisabledException(_)) => Class::Disabled,
        Some(PublishError::NotFoundException(_)) => Class::NotFound,
        Some(PublishError::KmsThrottlingException(_)) => Class::Throttled,
        Some(
            e @ (PublishError::PlatformApplicationDisabledException(_)
            | PublishError::AuthorizationErrorException(_)
            | PublishError::InvalidSecurityException(_)
            | PublishError::KmsAccessDeniedException(_)
            | PublishError::KmsDisabledException(_)
            | PublishError::KmsInvalidStateException(_)
            | PublishError::KmsNotFoundException(_)
            | PublishError::KmsOptInRequired(_)),
        ) => Class::Application(describe(e, "Forbidden")),
        Some(
            e @ (PublishError::InvalidParameterException(_)
            | PublishError::InvalidParameterValueException(_)
            | PublishError::ValidationException(_)),
        ) => Class::Message(describe(e, "InvalidParameter")),
        Some(e @ PublishError::InternalErrorException(_)) => {
            Class::Unconfirmed(describe(e, "InternalError"))
        }
        Some(e) if e.code() == Some("ServiceUnavailable") => Class::Refused,
        Some(e) => match kind {
            FailureKind::Throttled => Class::Throttled,
            FailureKind::Transient => Class::Unconfirmed(describe(e, "Unknown")),
            FailureKind::Permanent => Class::Message(describe(e, "Unknown")),
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
    class.into_error(Box::new(error))
}

/// CreatePlatformEndpoint is idempotent: every failure to get an answer may be retried.
fn create_endpoint_error<R>(error: SdkError<CreatePlatformEndpointError, R>) -> PushError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let class = match error.as_service_error() {
        Some(e @ CreatePlatformEndpointError::InvalidParameterException(_)) => {
            Class::Token(describe(e, "InvalidParameter"))
        }
        Some(
            e @ (CreatePlatformEndpointError::NotFoundException(_)
            | CreatePlatformEndpointError::AuthorizationErrorException(_)),
        ) => Class::Application(describe(e, "NotFound")),
        _ => lookup_class(&error),
    };
    class.into_error(Box::new(error))
}

fn endpoint_attributes_error<R>(error: SdkError<GetEndpointAttributesError, R>) -> PushError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let class = match error.as_service_error() {
        Some(GetEndpointAttributesError::NotFoundException(_)) => Class::NotFound,
        Some(e @ GetEndpointAttributesError::AuthorizationErrorException(_)) => {
            Class::Application(describe(e, "AuthorizationError"))
        }
        _ => lookup_class(&error),
    };
    class.into_error(Box::new(error))
}

/// An idempotent lookup's other failures: throttled, or unavailable (retry later), or refused.
fn lookup_class<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Class {
    match classify(error) {
        FailureKind::Throttled => Class::Throttled,
        FailureKind::Transient => Class::Refused,
        FailureKind::Permanent => Class::Message(match error {
            SdkError::ServiceError(service) => describe(service.err(), "Unknown"),
            _ => "the request could not be built".into(),
        }),
    }
}

enum Class {
    Disabled,
    NotFound,
    Throttled,
    Refused,
    Token(String),
    Application(String),
    Message(String),
    Unconfirmed(String),
}

impl Class {
    fn into_error(self, source: crate::error::BoxError) -> PushError {
        match self {
            Class::Disabled => PushError::EndpointDisabled { source },
            Class::NotFound => PushError::EndpointNotFound { source },
            Class::Throttled => PushError::Throttled { source },
            Class::Refused => PushError::Unavailable { source },
            Class::Token(reason) => PushError::InvalidToken { reason, source },
            Class::Application(reason) => PushError::ApplicationRejected { reason, source },
            Class::Message(reason) => PushError::MessageRejected { reason, source },
            Class::Unconfirmed(reason) => PushError::Unconfirmed { reason, source },
        }
    }
}

#[cfg(test)]
mod tests;
