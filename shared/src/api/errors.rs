//! How the services' errors answer over HTTP. Failures behind the API are logged with their
//! whole source chain and answered 503 (retry) or 500; the caller never sees internals.

use http::StatusCode;

use super::problem::{FieldError, Problem};
use crate::availability::lookup::{ConfigError, LookupError};
use crate::campaigns::CampaignError;
use crate::error::SendError;
use crate::onboarding::OnboardingError;
use crate::templates::{TemplateError, TestSendError};

impl From<OnboardingError> for Problem {
    fn from(error: OnboardingError) -> Self {
        match error {
            OnboardingError::Invalid { field, reason } => Problem::invalid_field(field, reason),
            OnboardingError::NotFound => Problem::not_found("no such retailer"),
            OnboardingError::Conflict(reason) => Problem::conflict(reason),
            // The workspace is onboarded; its brand breaks a standard template's render.
            OnboardingError::StandardTemplates(reason) => Problem::invalid_field(
                "settings.brand",
                format!("the standard templates do not render with it: {reason}"),
            ),
            other => Problem::from_retryable(&other),
        }
    }
}

impl From<TemplateError> for Problem {
    fn from(error: TemplateError) -> Self {
        match error {
            TemplateError::NotFound { template } => Problem::not_found(format!(
                "no template {template} is published for this retailer"
            )),
            TemplateError::InvalidVariables { errors } => Problem::invalid_fields(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.reason))
                    .collect(),
            ),
            TemplateError::Liquid {
                part,
                line,
                column,
                message,
            } => {
                let mut problem = Problem::invalid_fields(vec![FieldError {
                    field: part.to_string(),
                    reason: message,
                    line: line.and_then(|l| u32::try_from(l).ok()),
                    column: column.and_then(|c| u32::try_from(c).ok()),
                }]);
                problem.kind = "https://storecast.dev/problems/template-error".into();
                problem
            }
            TemplateError::Conflict { template } => Problem {
                retryable: true,
                ..Problem::conflict(format!(
                    "template {template} was being published at the same time; try again"
                ))
            },
            other => Problem::from_retryable(&other),
        }
    }
}

impl From<TestSendError> for Problem {
    fn from(error: TestSendError) -> Self {
        match error {
            TestSendError::NotActive(status) => Problem::conflict(format!(
                "the retailer's sending is {}: no test sends until it is reinstated",
                match status {
                    crate::domain::TenantStatus::Paused => "paused",
                    _ => "suspended",
                }
            )),
            TestSendError::NotASeedAddress { .. } => Problem::invalid_field(
                "to",
                "is not on the retailer's seed list (settings `seed_list`)",
            ),
            TestSendError::Suppressed { reason } => Problem::invalid_field(
                "to",
                format!("is on the retailer's suppression list ({reason})"),
            ),
            TestSendError::Template(error) => error.into(),
            TestSendError::Send(SendError::MessageRejected { reason, .. }) => {
                Problem::invalid_field("to", format!("the email provider refused it: {reason}"))
            }
            TestSendError::Send(SendError::TenantRejected { reason, .. }) => Problem::conflict(
                format!("the retailer's sending workspace refused the send: {reason}"),
            ),
            TestSendError::Send(SendError::Unconfirmed { .. }) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "test-send-unconfirmed",
                "the email provider did not answer: the message may have gone out; \
                 check the inbox before sending again",
            ),
            TestSendError::TooMany { .. } => Problem {
                retryable: true,
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-test-sends",
                    "too many test sends in a minute; retry later",
                )
            },
            other => Problem::from_retryable(&other),
        }
    }
}

impl From<CampaignError> for Problem {
    fn from(error: CampaignError) -> Self {
        match error {
            CampaignError::NotFound => Problem::not_found("no such campaign for this retailer"),
            CampaignError::Conflict(reason) => Problem::conflict(reason),
            CampaignError::Invalid(invalid) => {
                Problem::invalid_field(invalid.field, invalid.reason)
            }
            CampaignError::TenantNotActive => Problem::conflict(
                "the retailer is not onboarded or its sending is suspended or paused",
            ),
            other => Problem::from_retryable(&other),
        }
    }
}

/// A retailer without a configuration is told so by its own problem type, so a client can tell
/// it from an unknown store.
fn not_configured() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "availability-not-configured",
        "the retailer has no availability configuration",
    )
}

impl From<LookupError> for Problem {
    fn from(error: LookupError) -> Self {
        match error {
            LookupError::Invalid { field, reason } => Problem::invalid_field(field, reason),
            LookupError::UnknownStore(store) => {
                Problem::not_found(format!("store {store} is not known for this retailer"))
            }
            LookupError::NotConfigured => not_configured(),
            other => Problem::from_retryable(&other),
        }
    }
}

impl From<ConfigError> for Problem {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::Invalid(invalid) => Problem::invalid_field("config", invalid.0),
            ConfigError::InvalidNote(invalid) => Problem::invalid_field("reason", invalid.0),
            ConfigError::NotConfigured => not_configured(),
            ConfigError::NoSuchVersion(_) => Problem::not_found(error.to_string()),
            ConfigError::Conflict { .. } => Problem::conflict(error.to_string()),
            other => Problem::from_retryable(&other),
        }
    }
}
