//! A test send: one template rendered as its preview is and mailed, through the retailer's own
//! workspace, to an address of the retailer's seed list (`TenantSettings::seed_list`).
//!
//! The message is built as delivery builds it (`channels::mime`, the one-click unsubscribe
//! headers included, the link signed for the seed address) with the subject prefixed by
//! [`TEST_SUBJECT_PREFIX`], and sent through the [`EmailProvider`] with the retailer's
//! configuration set, SES tenant and from-address. Its tags name campaign
//! [`crate::domain::TEST_SEND_CAMPAIGN`] and carry `test_send=true`
//! ([`crate::deliverability::ses_events::TAG_TEST_SEND`]): its feedback events never touch a
//! campaign's send log, counters or the auto-pause. See docs/templates.md, "Test sends".

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::TemplateError;
use super::service::{PreviewCustomer, PreviewRequest, RenderedTest, TemplateService};
use crate::channels::email::{EmailProvider, OutboundEmail};
use crate::channels::mime::{EmailParts, MimeError, build_email};
use crate::clock::Clock;
use crate::deliverability::ses_events::{
    TAG_CAMPAIGN, TAG_MESSAGE, TAG_TENANT, TAG_TEST_SEND, TAG_VARIANT,
};
use crate::deliverability::suppression::SuppressionList;
use crate::domain::{
    Offer, TemplateId, TenantId, TenantStatus, TenantWorkspace, check_email_address,
    normalise_address,
};
use crate::error::{Retryable, SendError, StoreError};

/// Every test send's subject starts with this, so nobody takes it for a campaign's message.
pub const TEST_SUBJECT_PREFIX: &str = "[TEST] ";
/// A retailer's test sends within one minute, per API container (a cheap guard against a
/// script or a stuck button, not an exact quota: Lambda may run several containers).
pub const MAX_TEST_SENDS_PER_MINUTE: usize = 10;
const WINDOW_SECONDS: i64 = 60;

/// `POST /tenants/{tenant}/templates/{template}/test-send`: the preview's inputs and the seed
/// address to mail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    /// An address of the retailer's seed list (compared case-insensitively).
    pub to: String,
    /// Draft values over the saved ones (checked like a save, not saved), as for a preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// A sample customer when absent; its `email` is always the seed address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<PreviewCustomer>,
    /// Sample offers when absent; an empty list sends the no-offer case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub offers: Option<Vec<Offer>>,
}

/// The test message was accepted by the email provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The provider's (SES's) message id.
    pub provider_message_id: String,
    /// Our message id (its `message_id` tag and the `Message-ID` header's local part).
    pub message_id: String,
    /// The seed address, as stored (lower-case).
    pub to: String,
    /// The subject sent, with its [`TEST_SUBJECT_PREFIX`].
    pub subject: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    /// The retailer's sending is paused or suspended: nothing of it goes out, tests neither.
    #[error("the retailer's sending is {0:?}")]
    NotActive(TenantStatus),
    #[error("{address:?} is not on the retailer's seed list")]
    NotASeedAddress { address: String },
    #[error("the address is on the retailer's suppression list ({reason})")]
    Suppressed { reason: &'static str },
    #[error("more than {MAX_TEST_SENDS_PER_MINUTE} test sends in a minute")]
    TooMany { retry_after_seconds: u64 },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("the message could not be built")]
    Message(#[from] MimeError),
    #[error("the email provider did not take the message")]
    Send(#[from] SendError),
    #[error("the suppression list could not be read")]
    Store(#[from] StoreError),
}

impl Retryable for TestSendError {
    fn is_retryable(&self) -> bool {
        match self {
            TestSendError::TooMany { .. } => true,
            TestSendError::Template(error) => error.is_retryable(),
            TestSendError::Send(error) => error.is_retryable(),
            TestSendError::Store(error) => error.is_retryable(),
            TestSendError::NotActive(_)
            | TestSendError::NotASeedAddress { .. }
            | TestSendError::Suppressed { .. }
            | TestSendError::Message(_) => false,
        }
    }
}

/// The ports a test send goes through.
pub struct TestSendPorts {
    pub templates: Arc<TemplateService>,
    pub provider: Arc<dyn EmailProvider>,
    pub suppressions: Arc<dyn SuppressionList>,
    pub clock: Arc<dyn Clock>,
}

impl TestSendPorts {
    /// On the system clock.
    pub fn new(
        templates: Arc<TemplateService>,
        provider: Arc<dyn EmailProvider>,
        suppressions: Arc<dyn SuppressionList>,
    ) -> Self {
        Self {
            templates,
            provider,
            suppressions,
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

/// Test sends, with the per-retailer minute window of [`MAX_TEST_SENDS_PER_MINUTE`].
pub struct TestSends {
    ports: TestSendPorts,
    /// The `Message-ID` header's domain, as delivery's.
    sending_domain: String,
    recent: Mutex<HashMap<TenantId, VecDeque<i64>>>,
}

impl TestSends {
    pub fn new(ports: TestSendPorts, sending_domain: impl Into<String>) -> Self {
        Self {
            ports,
            sending_domain: sending_domain.into(),
            recent: Mutex::default(),
        }
    }

    /// Renders `template` for `request.to` as its preview would and sends it through the
    /// retailer's workspace. Refused, before anything renders: a retailer that is not active,
    /// an address off its seed list or on its suppression list, a retailer over its minute.
    #[tracing::instrument(skip_all, fields(tenant_id = %workspace.tenant_id, template_id = %template))]
    pub async fn send(
        &self,
        workspace: &TenantWorkspace,
        template: &TemplateId,
        request: TestSendRequest,
    ) -> Result<TestSent, TestSendError> {
        if workspace.status != TenantStatus::Active {
            return Err(TestSendError::NotActive(workspace.status));
        }
        let to = normalise_address(&request.to);
        if check_email_address(&to).is_err() || !workspace.settings.is_seed_address(&to) {
            return Err(TestSendError::NotASeedAddress {
                address: request.to,
            });
        }
        if let Some(entry) = self
            .ports
            .suppressions
            .get(&workspace.tenant_id, &to)
            .await?
        {
            return Err(TestSendError::Suppressed {
                reason: entry.reason.as_str(),
            });
        }
        let now = self.ports.clock.now().unix_timestamp();
        let preview = PreviewRequest {
            variables: request.variables,
            customer: request.customer,
            offers: request.offers,
        };
        let test = self
            .ports
            .templates
            .render_test(workspace, template, preview, &to, now)
            .await?;
        let subject = format!("{TEST_SUBJECT_PREFIX}{}", test.rendered.subject);
        let email = self.message(workspace, &to, &subject, &test)?;
        self.take_slot(&workspace.tenant_id, now)?;
        let provider_message_id = self.ports.provider.send(&email).await?;
        tracing::info!(%provider_message_id, "test send accepted");
        Ok(TestSent {
            provider_message_id,
            message_id: test.message_id.to_string(),
            to,
            subject,
        })
    }

    /// The MIME message as delivery builds it, routed and tagged as a test of this retailer.
    fn message(
        &self,
        workspace: &TenantWorkspace,
        to: &str,
        subject: &str,
        test: &RenderedTest,
    ) -> Result<OutboundEmail, MimeError> {
        let mut raw_mime = Vec::new();
        build_email(
            &EmailParts {
                from_name: &workspace.display_name,
                from_address: &workspace.from_address,
                to_address: to,
                subject,
                html: &test.rendered.html,
                text: &test.rendered.text,
                message_id: test.message_id.as_str(),
                sending_domain: &self.sending_domain,
                unsubscribe_url: &test.unsubscribe_url,
                unsubscribe_mailto: None,
            },
            &mut raw_mime,
        )?;
        Ok(OutboundEmail {
            configuration_set: workspace.configuration_set.clone(),
            ses_tenant: workspace.ses_tenant.clone(),
            from_address: workspace.from_address.clone(),
            to_address: to.to_string(),
            raw_mime,
            tags: vec![
                (TAG_TENANT.into(), workspace.tenant_id.to_string()),
                (TAG_CAMPAIGN.into(), test.campaign.to_string()),
                (TAG_VARIANT.into(), test.variant.to_string()),
                (TAG_MESSAGE.into(), test.message_id.to_string()),
                (TAG_TEST_SEND.into(), "true".into()),
            ],
        })
    }

    /// Counts one send in the retailer's minute, or answers when the oldest leaves it.
    fn take_slot(&self, tenant: &TenantId, now: i64) -> Result<(), TestSendError> {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let sends = recent.entry(tenant.clone()).or_default();
        while sends.front().is_some_and(|at| *at <= now - WINDOW_SECONDS) {
            sends.pop_front();
        }
        if sends.len() >= MAX_TEST_SENDS_PER_MINUTE {
            let oldest = sends.front().copied().unwrap_or(now);
            return Err(TestSendError::TooMany {
                retry_after_seconds: (oldest + WINDOW_SECONDS - now).max(1) as u64,
            });
        }
        sends.push_back(now);
        Ok(())
    }
}
