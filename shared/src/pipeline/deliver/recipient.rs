//! One recipient of a batch: claimed, checked, rendered, sent, with its outcome.

use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;
use tracing::Instrument;

use crate::channels::email::OutboundEmail;
use crate::channels::mime::{EmailParts, build_email};
use crate::domain::FieldValue;
use crate::domain::{Recipient, SendBatch, TenantWorkspace};
use crate::error::SendError;
use crate::pipeline::send_log::RecipientOutcome;
use crate::render::{CompiledTemplate, RecipientContext, RenderContext};

use super::*;
use crate::channels::email::unsubscribe_url;

impl Deliverer {
    /// The checks before a send, in the recipient's span: its claim, its address, the
    /// suppression list. `Ok` when it may be sent.
    pub(super) async fn check_in_span(
        &self,
        job: &DeliverRecipient<'_>,
    ) -> (usize, Result<(), RecipientResult>) {
        let span =
            tracing::info_span!("message", message_id = %job.recipient.message_id, slot = job.slot);
        (job.slot, self.check_recipient(job).instrument(span).await)
    }

    /// Composes and sends a recipient that passed its checks, in its span, no earlier than its
    /// slot of the send budget.
    pub(super) async fn send_in_span(
        &self,
        job: &DeliverRecipient<'_>,
        not_before: Option<OffsetDateTime>,
    ) -> (usize, RecipientResult) {
        let span =
            tracing::info_span!("message", message_id = %job.recipient.message_id, slot = job.slot);
        let send = async {
            if let Some(at) = not_before {
                self.sleep_until(at).await;
            }
            self.compose_and_send(job).await
        };
        (job.slot, send.instrument(span).await)
    }

    async fn check_recipient(&self, job: &DeliverRecipient<'_>) -> Result<(), RecipientResult> {
        // Every recipient is claimed first, even one that will not be sent: its outcome is then
        // recorded once, and a redelivered copy of it counts as a duplicate, not again.
        match job
            .resolver
            .claim(job.slot, &job.recipient.message_id, job.lease_until)
            .await
        {
            Ok(ClaimDecision::Send) => {}
            Ok(ClaimDecision::AlreadyDone) => {
                return Err(RecipientResult::final_outcome(RecipientOutcome::Duplicate));
            }
            Ok(ClaimDecision::HeldElsewhere { lease_until }) => {
                return Err(RecipientResult {
                    held_until: Some(lease_until),
                    ..RecipientResult::final_outcome(RecipientOutcome::Deferred)
                });
            }
            Err(error) => {
                tracing::warn!(%error, "claim failed; message left for a retry");
                return Err(RecipientResult::final_outcome(RecipientOutcome::Pending));
            }
        }
        if let Some(reason) = super::push::missing_address(job.batch, job.recipient) {
            return Err(RecipientResult::final_outcome(RecipientOutcome::Failed {
                reason: reason.into(),
            }));
        }
        if job.suppressed {
            return Err(RecipientResult::final_outcome(RecipientOutcome::Suppressed));
        }
        Ok(())
    }

    async fn compose_and_send(&self, job: &DeliverRecipient<'_>) -> RecipientResult {
        if job.workspace_refused.load(Ordering::Relaxed) {
            return RecipientResult::final_outcome(RecipientOutcome::Pending);
        }
        if job.batch.group.channel == crate::domain::Channel::Push {
            return self.push_recipient(job).await;
        }
        let Some(address) = job.recipient.customer.email.as_deref() else {
            return RecipientResult::final_outcome(RecipientOutcome::Failed {
                reason: "customer has no email address".into(),
            });
        };
        let email = match self.compose(job, address) {
            Ok(email) => email,
            Err(reason) => {
                tracing::warn!(reason, "message could not be composed");
                return RecipientResult::final_outcome(RecipientOutcome::Failed { reason });
            }
        };
        self.send(job, &email).await
    }

    /// Sends, retrying only the answers that say the provider refused the email (throttled,
    /// unavailable), and never past the time sends may start.
    async fn send(&self, job: &DeliverRecipient<'_>, email: &OutboundEmail) -> RecipientResult {
        let mut attempt = 0;
        loop {
            if self.clock.now() >= job.send_until || job.workspace_refused.load(Ordering::Relaxed) {
                return RecipientResult::final_outcome(RecipientOutcome::Pending);
            }
            let answer = tokio::time::timeout(self.config.send_timeout, self.provider.send(email))
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Unconfirmed {
                        reason: format!("no answer within {:?}", self.config.send_timeout),
                        source: crate::error::Message::boxed("send timed out"),
                    })
                });
            match answer {
                Ok(provider_message_id) => {
                    return RecipientResult::final_outcome(RecipientOutcome::Sent {
                        provider_message_id,
                        endpoints_disabled: 0,
                    });
                }
                Err(error @ (SendError::Throttled { .. } | SendError::Unavailable { .. })) => {
                    attempt += 1;
                    if attempt >= self.config.send_retry.max_attempts {
                        tracing::warn!(%error, attempt, "provider still unavailable; message left for a retry");
                        return RecipientResult::final_outcome(RecipientOutcome::Pending);
                    }
                    tokio::time::sleep(self.config.send_retry.backoff(attempt)).await;
                }
                Err(SendError::TenantRejected { reason, source }) => {
                    job.workspace_refused.store(true, Ordering::Relaxed);
                    tracing::debug!(reason, error = %source, "tenant workspace rejected the send; parking the batch");
                    return RecipientResult {
                        tenant_rejection: Some(format!("workspace rejected the send: {reason}")),
                        ..RecipientResult::final_outcome(RecipientOutcome::Pending)
                    };
                }
                Err(SendError::Unconfirmed { reason, source }) => {
                    // It may have gone out: sending it again could deliver it twice.
                    tracing::warn!(reason, error = %source, "send unconfirmed; not retried");
                    return RecipientResult::final_outcome(RecipientOutcome::Unconfirmed {
                        reason,
                    });
                }
                Err(SendError::MessageRejected { reason, source }) => {
                    tracing::warn!(reason, error = %source, "message rejected");
                    return RecipientResult::final_outcome(RecipientOutcome::Failed { reason });
                }
            }
        }
    }

    pub(super) fn compose(
        &self,
        job: &DeliverRecipient<'_>,
        address: &str,
    ) -> Result<OutboundEmail, String> {
        let group = &job.batch.group;
        let unsubscribe_url = unsubscribe_url(
            job.workspace,
            &self.unsubscribe,
            &group.campaign_id,
            &group.variant,
            address,
            self.clock.now().unix_timestamp(),
        )
        .ok_or("the address is too long for an unsubscribe link")?;
        let started = std::time::Instant::now();
        let context = RenderContext::for_recipient(RecipientContext {
            customer: &job.recipient.customer,
            offers: &job.recipient.offers,
            workspace: job.workspace,
            campaign_id: &group.campaign_id,
            variant: &group.variant,
            message_id: &job.recipient.message_id,
            unsubscribe_url: &unsubscribe_url,
        })
        .with_brand(job.brand);
        // The rendered parts are only read to build the MIME, so one set of buffers per thread
        // serves every message: no 15 KB allocations per recipient. Nothing awaits while it is
        // borrowed.
        let raw_mime = RENDER_BUFFERS.with_borrow_mut(|rendered| {
            job.template
                .render(&context, rendered)
                .map_err(|e| format!("template failed to render: {e}"))?;
            let mut raw_mime = Vec::with_capacity(rendered.html.len() + rendered.text.len() + 1024);
            build_email(
                &EmailParts {
                    from_name: &job.workspace.display_name,
                    from_address: &job.workspace.from_address,
                    to_address: address,
                    subject: &rendered.subject,
                    html: &rendered.html,
                    text: &rendered.text,
                    message_id: job.recipient.message_id.as_str(),
                    sending_domain: &self.config.sending_domain,
                    unsubscribe_url: &unsubscribe_url,
                    unsubscribe_mailto: self.config.unsubscribe_mailto.as_deref(),
                },
                &mut raw_mime,
            )
            .map_err(|e| format!("message could not be built: {e}"))?;
            Ok::<_, String>(raw_mime)
        })?;
        self.metrics.observe(
            group.tenant_id.as_str(),
            "RenderTime",
            started.elapsed().as_micros() as f64,
        );
        Ok(OutboundEmail {
            configuration_set: job.workspace.configuration_set.clone(),
            ses_tenant: job.workspace.ses_tenant.clone(),
            from_address: job.workspace.from_address.clone(),
            to_address: address.to_string(),
            raw_mime,
            tags: vec![
                ("tenant".into(), group.tenant_id.to_string()),
                ("campaign".into(), group.campaign_id.to_string()),
                ("variant".into(), group.variant.to_string()),
                ("message_id".into(), job.recipient.message_id.to_string()),
            ],
        })
    }
}

pub(super) struct DeliverRecipient<'a> {
    pub(super) batch: &'a SendBatch,
    pub(super) slot: usize,
    pub(super) recipient: &'a Recipient,
    pub(super) workspace: &'a TenantWorkspace,
    pub(super) brand: &'a FieldValue,
    pub(super) template: &'a CompiledTemplate,
    pub(super) suppressed: bool,
    pub(super) ready: &'a ReadyBatch,
    pub(super) resolver: &'a ClaimResolver<'a>,
    pub(super) lease_until: i64,
    pub(super) send_until: OffsetDateTime,
    /// Set by the first recipient whose send the tenant's workspace refuses: the others of the
    /// batch are not attempted (they would be refused the same way) and are parked with it.
    pub(super) workspace_refused: &'a AtomicBool,
}

pub(super) struct RecipientResult {
    pub(super) outcome: RecipientOutcome,
    pub(super) tenant_rejection: Option<String>,
    /// The lease of the other delivery that holds this recipient.
    pub(super) held_until: Option<i64>,
}

impl RecipientResult {
    /// Left for a later attempt (released in this attempt's outcome).
    pub(super) fn pending() -> Self {
        Self::final_outcome(RecipientOutcome::Pending)
    }

    pub(super) fn final_outcome(outcome: RecipientOutcome) -> Self {
        Self {
            outcome,
            tenant_rejection: None,
            held_until: None,
        }
    }
}
