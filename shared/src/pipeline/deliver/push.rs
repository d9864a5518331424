//! One recipient of a push batch: rendered once, then published to each of the customer's devices
//! through the retailer's own push application for the device's platform.
//!
//! A message is one claim and one outcome however many devices it goes to. It is **sent** when at
//! least one device accepted it (the outcome keeps every accepted publish's id); devices that
//! failed then are counted (`PushDeviceFailed`, `PushEndpointsDisabled`) but never tried again,
//! since a retry of the message would push the devices that already have it. With no device
//! accepted: unconfirmed if a publish may have gone out, parked if the retailer's application
//! refused, retried later if the provider was throttled or unavailable, and otherwise failed with
//! the devices' reasons (`F:push: endpoint disabled`, ...).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::channels::push::{
    KnownEndpoint, OutboundPush, PushContent, PushEndpoints, PushError, PushProvider, check_token,
    provider_message,
};
use crate::deliverability::suppression::{Suppression, SuppressionList, SuppressionReason};
use crate::domain::{
    Channel, PushDevice, QuietHoursZone, SendBatch, TenantWorkspace, normalise_address,
};
use crate::error::{Message, Retryable};
use crate::pipeline::send_log::RecipientOutcome;
use crate::render::{RecipientContext, RenderContext};

use super::recipient::{DeliverRecipient, RecipientResult};
use super::*;

/// What delivery needs to push: the provider, the endpoint cache, and the suppression list that
/// keeps a disabled endpoint's token from being tried again.
pub struct PushPorts {
    pub provider: Arc<dyn PushProvider>,
    pub endpoints: Arc<dyn PushEndpoints>,
    pub suppressions: Arc<dyn SuppressionList>,
}

/// How one device's publish ended.
enum DeviceResult {
    Accepted(String),
    Failed(PushError),
    /// The retailer has no push application for the device's platform.
    NoApplication,
    /// Not attempted: the invocation is out of time, or the batch's tenant was refused.
    NotAttempted,
}

impl Deliverer {
    /// Delivers push batches through these ports; without them a push batch is dead-lettered.
    pub fn with_push(mut self, ports: PushPorts) -> Self {
        self.push = Some(ports);
        self
    }

    /// Why a batch of this channel cannot go out at all, if it cannot.
    pub(super) fn unroutable(&self, channel: Channel) -> Option<&'static str> {
        (channel == Channel::Push && self.push.is_none())
            .then_some("no push provider is configured")
    }

    /// The batch ready to send: for push, a template with a push part and the endpoints already
    /// known for its devices (one read for the batch).
    pub(super) async fn ready(
        &self,
        batch: &SendBatch,
        raw: &[u8],
        (workspace, suppressed, quiet_zone): (TenantWorkspace, HashSet<String>, QuietHoursZone),
        template: Arc<CompiledTemplate>,
        deadline: OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> Result<ReadyBatch, BatchDisposition> {
        let mut endpoints = HashMap::new();
        if batch.group.channel == Channel::Push {
            if !template.has_push() {
                let reason = "the template has no push notification";
                return Err(self.dead_letter_batch(batch, raw, reason, counts).await);
            }
            let devices: Vec<PushDevice> = batch
                .recipients
                .iter()
                .flat_map(|r| r.customer.push_devices())
                .collect();
            if let Some(push) = &self.push
                && !devices.is_empty()
            {
                let read = push.endpoints.known(&batch.group.tenant_id, &devices);
                match self.bounded(deadline, read).await {
                    Ok(known) => endpoints = known,
                    Err(error) => {
                        let what = "push endpoint lookup";
                        return Err(self
                            .store_failure(batch, what, &error, deadline, counts)
                            .await);
                    }
                }
            }
        }
        Ok(ReadyBatch {
            customer_quiet: super::quiet::CustomerQuiet::for_campaign(&workspace, quiet_zone),
            // Converted once for the batch's recipients, not per recipient.
            brand: FieldValue::from(&workspace.settings.brand),
            workspace,
            suppressed,
            template,
            endpoints,
        })
    }

    /// Renders the recipient's push and publishes it to each device not suppressed.
    pub(super) async fn push_recipient(&self, job: &DeliverRecipient<'_>) -> RecipientResult {
        let Some(push) = &self.push else {
            return RecipientResult::final_outcome(RecipientOutcome::Pending);
        };
        let devices: Vec<PushDevice> = job
            .recipient
            .customer
            .push_devices()
            .into_iter()
            .filter(|d| !job.ready.suppressed.contains(&normalise_address(&d.token)))
            .collect();
        let (title, body) = match self.render_push(job) {
            Ok(parts) => parts,
            Err(reason) => {
                tracing::warn!(reason, "push could not be rendered");
                return RecipientResult::final_outcome(RecipientOutcome::Failed { reason });
            }
        };
        let content = PushContent {
            title: &title,
            body: &body,
            campaign_id: job.batch.group.campaign_id.as_str(),
            message_id: job.recipient.message_id.as_str(),
            deep_link: job.recipient.offers.first().map(|o| o.url.as_str()),
        };
        let mut results = Vec::with_capacity(devices.len());
        let mut disabled = Vec::new();
        for device in &devices {
            let result = self.push_device(push, job, device, &content).await;
            self.count_device(job, &result);
            if let DeviceResult::Failed(PushError::EndpointDisabled { .. }) = result {
                disabled.push(device.token.clone());
            }
            results.push(result);
        }
        self.suppress_disabled(job.batch, &disabled).await;
        aggregate(job, results)
    }

    fn render_push(&self, job: &DeliverRecipient<'_>) -> Result<(String, String), String> {
        let group = &job.batch.group;
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &job.recipient.customer,
            offers: &job.recipient.offers,
            workspace: job.workspace,
            campaign_id: &group.campaign_id,
            variant: &group.variant,
            message_id: &job.recipient.message_id,
            unsubscribe_url: "",
        })
        .with_brand(job.brand);
        RENDER_BUFFERS.with_borrow_mut(|rendered| {
            job.template
                .render(&context, rendered)
                .map_err(|e| format!("template failed to render: {e}"))?;
            Ok((
                rendered.push_title.clone().unwrap_or_default(),
                rendered.push_body.clone().unwrap_or_default(),
            ))
        })
    }

    /// One device: its token checked, the message built for its platform, its endpoint found
    /// (cached, or created and cached), then published; a cached endpoint deleted at the
    /// provider is created again once.
    async fn push_device(
        &self,
        push: &PushPorts,
        job: &DeliverRecipient<'_>,
        device: &PushDevice,
        content: &PushContent<'_>,
    ) -> DeviceResult {
        let Some(application) = job.workspace.push_applications.get(device.platform) else {
            return DeviceResult::NoApplication;
        };
        let message =
            match check_token(device).and_then(|()| provider_message(device.platform, content)) {
                Ok(message) => message,
                Err(error) => return DeviceResult::Failed(error),
            };
        let cached = job
            .ready
            .endpoints
            .get(device)
            .filter(|known| known.application_arn == application)
            .map(|known| known.endpoint_arn.clone());
        let mut fresh = cached.is_none();
        let mut endpoint = cached;
        loop {
            let endpoint_arn = match endpoint.take() {
                Some(arn) => arn,
                None => match self.create_endpoint(push, job, application, device).await {
                    Ok(arn) => arn,
                    Err(result) => return result,
                },
            };
            let outbound = OutboundPush {
                tenant_id: job.batch.group.tenant_id.clone(),
                platform: device.platform,
                application_arn: application.to_string(),
                endpoint_arn,
                message: message.clone(),
            };
            match self.publish(push, job, &outbound).await {
                DeviceResult::Failed(PushError::EndpointNotFound { .. }) if !fresh => fresh = true,
                result => return result,
            }
        }
    }

    async fn create_endpoint(
        &self,
        push: &PushPorts,
        job: &DeliverRecipient<'_>,
        application: &str,
        device: &PushDevice,
    ) -> Result<String, DeviceResult> {
        let arn = self
            .retrying(job, || push.provider.endpoint(application, device))
            .await?;
        let known = KnownEndpoint {
            application_arn: application.to_string(),
            endpoint_arn: arn.clone(),
        };
        let tenant = &job.batch.group.tenant_id;
        if let Err(error) = push.endpoints.remember(tenant, device, &known).await {
            // Only a cost: the next push creates it again (the same endpoint) and caches it then.
            tracing::warn!(%error, "push endpoint could not be cached");
        }
        Ok(arn)
    }

    async fn publish(
        &self,
        push: &PushPorts,
        job: &DeliverRecipient<'_>,
        outbound: &OutboundPush,
    ) -> DeviceResult {
        let timeout = self.config.send_timeout;
        let publish = || async {
            tokio::time::timeout(timeout, push.provider.publish(outbound))
                .await
                .unwrap_or_else(|_| {
                    Err(PushError::Unconfirmed {
                        reason: format!("no answer within {timeout:?}"),
                        source: Message::boxed("publish timed out"),
                    })
                })
        };
        match self.retrying(job, publish).await {
            Ok(id) => DeviceResult::Accepted(id),
            Err(result) => result,
        }
    }

    /// Retries what the provider refused for now (throttled, unavailable), never past the time
    /// sends may start nor after the tenant was refused.
    async fn retrying<F, Fut>(
        &self,
        job: &DeliverRecipient<'_>,
        call: F,
    ) -> Result<String, DeviceResult>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<String, PushError>>,
    {
        let mut attempt = 0;
        loop {
            if self.clock.now() >= job.send_until || job.workspace_refused.load(Ordering::Relaxed) {
                return Err(DeviceResult::NotAttempted);
            }
            match call().await {
                Ok(answer) => return Ok(answer),
                Err(error) if error.is_retryable() => {
                    attempt += 1;
                    if attempt >= self.config.send_retry.max_attempts {
                        return Err(DeviceResult::Failed(error));
                    }
                    tokio::time::sleep(self.config.send_retry.backoff(attempt)).await;
                }
                Err(error) => return Err(DeviceResult::Failed(error)),
            }
        }
    }

    /// Metrics per device, and a disabled endpoint's token onto the retailer's suppression list.
    fn count_device(&self, job: &DeliverRecipient<'_>, result: &DeviceResult) {
        let tenant = job.batch.group.tenant_id.as_str();
        match result {
            DeviceResult::Accepted(_) => self.metrics.add(tenant, "PushAccepted", 1.0),
            DeviceResult::Failed(PushError::EndpointDisabled { .. }) => {
                self.metrics.add(tenant, "PushEndpointsDisabled", 1.0);
            }
            DeviceResult::Failed(error) if !error.is_retryable() => {
                self.metrics.add(tenant, "PushDeviceFailed", 1.0);
            }
            DeviceResult::NoApplication => self.metrics.add(tenant, "PushDeviceFailed", 1.0),
            DeviceResult::Failed(_) | DeviceResult::NotAttempted => {}
        }
    }

    /// A token whose endpoint the provider disabled is suppressed for the retailer: later
    /// campaigns leave it out and deliveries skip it.
    pub(super) async fn suppress_disabled(&self, batch: &SendBatch, tokens: &[String]) {
        let Some(push) = &self.push else { return };
        let now = self.clock.now().unix_timestamp();
        for token in tokens {
            let entry = Suppression {
                address: normalise_address(token),
                reason: SuppressionReason::EndpointDisabled,
                since: now,
                detail: Some(format!("campaign {}", batch.group.campaign_id)),
            };
            if let Err(error) = push.suppressions.add(&batch.group.tenant_id, &entry).await {
                // The next push to it fails the same way and suppresses it then.
                tracing::warn!(%error, "disabled push endpoint could not be suppressed");
            }
        }
    }
}

/// The message's outcome from its devices' (see the module's documentation).
fn aggregate(job: &DeliverRecipient<'_>, results: Vec<DeviceResult>) -> RecipientResult {
    let mut accepted = Vec::new();
    let mut reasons = BTreeSet::new();
    let mut unconfirmed = None;
    let mut rejected = None;
    let mut later = false;
    let mut disabled = 0;
    for result in results {
        match result {
            DeviceResult::Accepted(id) => accepted.push(id),
            DeviceResult::Failed(error @ PushError::EndpointDisabled { .. }) => {
                disabled += 1;
                reasons.insert(error.reason());
            }
            DeviceResult::NotAttempted => later = true,
            DeviceResult::NoApplication => {
                reasons.insert("the retailer has no push application for the device's platform");
            }
            DeviceResult::Failed(error) => match error {
                PushError::Unconfirmed { reason, .. } => unconfirmed = Some(reason),
                PushError::ApplicationRejected { reason, .. } => rejected = Some(reason),
                e if e.is_retryable() => later = true,
                e => {
                    reasons.insert(e.reason());
                }
            },
        }
    }
    let outcome = if !accepted.is_empty() {
        RecipientOutcome::Sent {
            provider_message_id: accepted.join(","),
            endpoints_disabled: disabled,
        }
    } else if let Some(reason) = unconfirmed {
        RecipientOutcome::Unconfirmed { reason }
    } else if let Some(reason) = rejected {
        job.workspace_refused.store(true, Ordering::Relaxed);
        return RecipientResult {
            tenant_rejection: Some(format!("push application rejected the send: {reason}")),
            ..RecipientResult::final_outcome(RecipientOutcome::Pending)
        };
    } else if later {
        RecipientOutcome::Pending
    } else if reasons.is_empty() {
        RecipientOutcome::Failed {
            reason: "customer has no push token".into(),
        }
    } else {
        let reasons: Vec<&str> = reasons.into_iter().collect();
        RecipientOutcome::Failed {
            reason: format!("push: {}", reasons.join("; ")),
        }
    };
    RecipientResult::final_outcome(outcome)
}

/// The suppression keys of a batch's recipients: their addresses, or their devices' tokens.
pub(super) fn suppression_keys(batch: &SendBatch) -> Vec<String> {
    match batch.group.channel {
        Channel::Email => batch
            .recipients
            .iter()
            .filter_map(|r| r.customer.email.as_deref().map(normalise_address))
            .collect(),
        Channel::Push => batch
            .recipients
            .iter()
            .flat_map(|r| r.customer.push_devices())
            .map(|device| normalise_address(&device.token))
            .collect(),
    }
}

/// A recipient is suppressed when its address is, or, for push, when every device's token is.
pub(super) fn is_suppressed(
    batch: &SendBatch,
    recipient: &crate::domain::Recipient,
    suppressed: &HashSet<String>,
) -> bool {
    match batch.group.channel {
        Channel::Email => recipient
            .customer
            .email
            .as_deref()
            .is_some_and(|a| suppressed.contains(&normalise_address(a))),
        Channel::Push => {
            let devices = recipient.customer.push_devices();
            !devices.is_empty()
                && devices
                    .iter()
                    .all(|d| suppressed.contains(&normalise_address(&d.token)))
        }
    }
}

/// Why a recipient has nowhere to be sent, if it has not.
pub(super) fn missing_address(
    batch: &SendBatch,
    recipient: &crate::domain::Recipient,
) -> Option<&'static str> {
    match batch.group.channel {
        Channel::Email => recipient
            .customer
            .email
            .is_none()
            .then_some("customer has no email address"),
        Channel::Push => recipient
            .customer
            .push_devices()
            .is_empty()
            .then_some("customer has no push token"),
    }
}
