//! Send batches in, emails out: idempotent, routed to the batch's own tenant workspace, every
//! failure classified and kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::clock::{Clock, rfc3339};
use crate::domain::{
    BatchId, CONTRACT_VERSION, CampaignStatus, Channel, MessageId, Recipient, SendBatch,
    TenantStatus, TenantWorkspace,
};
use crate::error::{Retryable, SendError, StoreError};
use crate::kinesis::{
    InboundRecord, MissingSequenceNumber, inbound_records, partial_batch_response,
};
use crate::metrics::Metrics;
use crate::mime::{EmailParts, build_email};
use crate::ports::{
    Archive, BatchOutcome, ClaimResult, DeadLetter, DeliveryDirectory, EmailProvider, MessageClaim,
    OutboundEmail, ParkedBatch, RecipientOutcome, SendLog, TemplateStore, normalise_address,
};
use crate::render::value::RenderValue;
use crate::render::{
    CompiledTemplate, RecipientContext, RenderContext, RenderedMessage, TemplateCache,
};
use crate::stream::RetryPolicy;

pub const FUNCTION_NAME: &str = "deliver";

thread_local! {
    static RENDER_BUFFERS: std::cell::RefCell<RenderedMessage> =
        std::cell::RefCell::new(RenderedMessage::default());
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub sending_domain: String,
    /// Sends in flight at once within one batch.
    pub send_concurrency: usize,
    /// How long a claim outlives the invocation's deadline before another delivery may take it
    /// over (covers clock skew and the outcome write after the last send).
    pub lease_margin: Duration,
    /// No new send starts this close to the invocation's deadline.
    pub deadline_reserve: Duration,
    /// Retries of a throttled or unavailable provider, per message.
    pub send_retry: RetryPolicy,
    pub unsubscribe_mailto: Option<String>,
}

impl DeliveryConfig {
    pub fn new(sending_domain: impl Into<String>) -> Self {
        Self {
            sending_domain: sending_domain.into(),
            send_concurrency: 16,
            lease_margin: Duration::from_secs(30),
            deadline_reserve: Duration::from_secs(5),
            send_retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
            },
            unsubscribe_mailto: None,
        }
    }
}

/// What happened to the recipients of one tenant in one invocation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TenantCounts {
    pub batches: u64,
    pub recipients: u64,
    pub sent: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    pub parked: u64,
    pub dead_lettered: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Left for a later retry of the record (throttled, held elsewhere, out of time).
    pub retried: u64,
}

impl TenantCounts {
    pub fn add(&mut self, other: &TenantCounts) {
        self.batches += other.batches;
        self.recipients += other.recipients;
        self.sent += other.sent;
        self.duplicates += other.duplicates;
        self.suppressed += other.suppressed;
        self.parked += other.parked;
        self.dead_lettered += other.dead_lettered;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.retried += other.retried;
    }
}

#[derive(Debug, Default)]
pub struct DeliveryOutcome {
    pub per_tenant: BTreeMap<String, TenantCounts>,
    /// Records that could not be read at all (no tenant to count them under).
    pub unreadable_records: u64,
    pub failed_positions: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    MissingSequenceNumber(#[from] MissingSequenceNumber),
}

/// How one batch ended, for the record's checkpoint.
enum BatchDisposition {
    /// Every recipient has a final outcome (or the batch was parked / dead-lettered).
    Done,
    /// Some recipients must be tried again: report the record as failed.
    Retry,
}

pub struct Deliverer {
    directory: Arc<dyn DeliveryDirectory>,
    templates: Arc<dyn TemplateStore>,
    send_log: Arc<dyn SendLog>,
    provider: Arc<dyn EmailProvider>,
    archive: Arc<dyn Archive>,
    clock: Arc<dyn Clock>,
    cache: TemplateCache,
    config: DeliveryConfig,
    metrics: Metrics,
}

pub struct DelivererPorts {
    pub directory: Arc<dyn DeliveryDirectory>,
    pub templates: Arc<dyn TemplateStore>,
    pub send_log: Arc<dyn SendLog>,
    pub provider: Arc<dyn EmailProvider>,
    pub archive: Arc<dyn Archive>,
    pub clock: Arc<dyn Clock>,
}

impl Deliverer {
    pub fn new(ports: DelivererPorts, config: DeliveryConfig) -> Self {
        Self {
            directory: ports.directory,
            templates: ports.templates,
            send_log: ports.send_log,
            provider: ports.provider,
            archive: ports.archive,
            clock: ports.clock,
            cache: TemplateCache::default(),
            config,
            metrics: Metrics::new(FUNCTION_NAME),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Lambda handler's body.
    pub async fn handle(
        &self,
        event: KinesisEvent,
        deadline: OffsetDateTime,
    ) -> Result<KinesisEventResponse, DeliverError> {
        let records = inbound_records(event);
        let outcome = self.deliver(&records, deadline).await;
        tracing::info!(per_tenant = ?outcome.per_tenant, "delivered");
        if let Err(error) = self.metrics.flush(&mut std::io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics");
        }
        Ok(partial_batch_response(&records, outcome.failed_positions)?)
    }

    pub async fn deliver(
        &self,
        records: &[InboundRecord],
        deadline: OffsetDateTime,
    ) -> DeliveryOutcome {
        let mut outcome = DeliveryOutcome::default();
        for (position, record) in records.iter().enumerate() {
            let batch = match decode_batch(&record.data) {
                Ok(batch) => batch,
                Err(reason) => {
                    let tenant = tenant_hint(&record.data);
                    let letter = DeadLetter::of_payload(
                        FUNCTION_NAME,
                        &reason,
                        tenant.clone(),
                        &record.data,
                    );
                    match self.archive.dead_letter(&letter).await {
                        Ok(()) => {
                            tracing::warn!(reason, sequence_number = %record.sequence_number, "unreadable send batch dead-lettered");
                            self.metrics.add(
                                tenant.as_deref().unwrap_or("_unknown"),
                                "DeadLettered",
                                1.0,
                            );
                            outcome.unreadable_records += 1;
                        }
                        Err(error) => {
                            tracing::error!(%error, reason, "dead letter could not be kept; record will be retried");
                            outcome.failed_positions.push(position);
                        }
                    }
                    continue;
                }
            };
            let span = tracing::info_span!(
                "batch",
                tenant_id = %batch.group.tenant_id,
                campaign_id = %batch.group.campaign_id,
                batch_id = %batch.batch_id,
            );
            let mut counts = TenantCounts {
                batches: 1,
                recipients: batch.recipients.len() as u64,
                ..TenantCounts::default()
            };
            let disposition = self
                .deliver_batch(&batch, &record.data, deadline, &mut counts)
                .instrument(span)
                .await;
            self.record_metrics(batch.group.tenant_id.as_str(), &counts);
            outcome
                .per_tenant
                .entry(batch.group.tenant_id.to_string())
                .or_default()
                .add(&counts);
            if matches!(disposition, BatchDisposition::Retry) {
                outcome.failed_positions.push(position);
            }
        }
        outcome
    }

    fn record_metrics(&self, tenant: &str, counts: &TenantCounts) {
        for (name, value) in [
            ("Batches", counts.batches),
            ("Sent", counts.sent),
            ("Failed", counts.failed),
            ("Parked", counts.parked),
            ("DuplicatesSkipped", counts.duplicates),
            ("Suppressed", counts.suppressed),
            ("DeadLettered", counts.dead_lettered),
            ("Deferred", counts.retried),
        ] {
            if value > 0 {
                self.metrics.add(tenant, name, value as f64);
            }
        }
    }

    async fn deliver_batch(
        &self,
        batch: &SendBatch,
        raw: &[u8],
        deadline: OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let group = &batch.group;
        let recipients = batch.recipients.len() as u64;
        if group.channel != Channel::Email {
            return self
                .dead_letter_batch(
                    batch,
                    raw,
                    "no provider for the push channel is configured yet",
                    counts,
                )
                .await;
        }
        let addresses: Vec<String> = batch
            .recipients
            .iter()
            .filter_map(|r| r.customer.email.as_deref().map(normalise_address))
            .collect();
        let context = match self
            .directory
            .delivery_context(&group.tenant_id, &group.campaign_id, &addresses)
            .await
        {
            Ok(context) => context,
            Err(error) => {
                return self
                    .store_failure(batch, "directory lookup", &error, counts)
                    .await;
            }
        };
        let Some(workspace) = context.workspace else {
            return self
                .dead_letter_batch(batch, raw, "unknown tenant", counts)
                .await;
        };
        match (workspace.status, context.campaign_status) {
            (_, None) => {
                return self
                    .dead_letter_batch(batch, raw, "unknown campaign", counts)
                    .await;
            }
            (_, Some(CampaignStatus::Cancelled)) => {
                tracing::info!("campaign cancelled; batch not sent");
                counts.cancelled += recipients;
                return BatchDisposition::Done;
            }
            (TenantStatus::Paused, _) => {
                return self.park(batch, "tenant paused", counts, recipients).await;
            }
            (TenantStatus::Suspended, _) => {
                return self
                    .park(batch, "tenant suspended", counts, recipients)
                    .await;
            }
            (TenantStatus::Active, Some(CampaignStatus::Paused)) => {
                return self
                    .park(batch, "campaign paused", counts, recipients)
                    .await;
            }
            (TenantStatus::Active, Some(CampaignStatus::Active)) => {}
        }
        let template = match self.template(batch).await {
            Ok(template) => template,
            Err(TemplateProblem::Store(error)) => {
                return self
                    .store_failure(batch, "template lookup", &error, counts)
                    .await;
            }
            Err(TemplateProblem::Unusable(reason)) => {
                return self.dead_letter_batch(batch, raw, &reason, counts).await;
            }
        };

        // Converted once for the batch's recipients, not per recipient.
        let brand = RenderValue::from(&workspace.settings.brand);
        let lease_until = (deadline + self.config.lease_margin).unix_timestamp();
        let send_until = deadline - self.config.deadline_reserve;
        let resolver = ClaimResolver::new(self.send_log.as_ref(), self.clock.as_ref(), batch);
        let workspace_refused = AtomicBool::new(false);
        let jobs: Vec<_> = batch
            .recipients
            .iter()
            .enumerate()
            .map(|(slot, recipient)| {
                self.deliver_in_span(DeliverRecipient {
                    batch,
                    slot,
                    recipient,
                    workspace: &workspace,
                    brand: &brand,
                    template: &template,
                    suppressed: recipient
                        .customer
                        .email
                        .as_deref()
                        .is_some_and(|a| context.suppressed.contains(&normalise_address(a))),
                    resolver: &resolver,
                    lease_until,
                    send_until,
                    workspace_refused: &workspace_refused,
                })
            })
            .collect();
        let outcomes: Vec<(usize, RecipientResult)> = futures::stream::iter(jobs)
            .buffer_unordered(self.config.send_concurrency.max(1))
            .collect()
            .await;

        let mut slots = vec![RecipientOutcome::Pending; batch.recipients.len()];
        let mut tenant_rejection = None;
        for (slot, outcome) in outcomes {
            slots[slot] = outcome.outcome;
            if tenant_rejection.is_none() {
                tenant_rejection = outcome.tenant_rejection;
            }
        }
        // Counted from this attempt: a message sent by an earlier attempt comes back as a
        // duplicate here, so nothing is ever counted as sent twice.
        for outcome in &slots {
            match outcome {
                RecipientOutcome::Sent { .. } => counts.sent += 1,
                RecipientOutcome::Failed { .. } => counts.failed += 1,
                RecipientOutcome::Suppressed => counts.suppressed += 1,
                RecipientOutcome::Duplicate => counts.duplicates += 1,
                RecipientOutcome::Deferred | RecipientOutcome::Pending => {}
            }
        }
        let merged = resolver.merge_with_previous(slots).await;
        let pending = merged.iter().filter(|o| !o.is_final()).count() as u64;
        let record = BatchOutcome {
            tenant_id: group.tenant_id.clone(),
            campaign_id: group.campaign_id.clone(),
            batch_id: batch.batch_id.clone(),
            outcomes: merged,
        };
        if resolver.previous_matches(&record.outcomes).await {
            tracing::debug!("outcome unchanged; not written again");
        } else if let Err(error) = self.write_outcome(&record).await {
            // The sends happened; the claims (leased) still stop any other delivery from sending
            // again until the lease ends. See docs/architecture.md, "the crash window".
            tracing::error!(error = %error, "batch outcome could not be recorded");
            counts.retried += pending;
            return BatchDisposition::Retry;
        }
        if let Some(reason) = tenant_rejection {
            // Only the recipients without a final outcome are parked, as a batch of their own:
            // their claims stay released (Pending in this outcome), so a redrive takes them over.
            let remaining: Vec<Recipient> = batch
                .recipients
                .iter()
                .zip(&record.outcomes)
                .filter(|(_, outcome)| !outcome.is_final())
                .map(|(recipient, _)| recipient.clone())
                .collect();
            let ids: Vec<&MessageId> = remaining.iter().map(|r| &r.message_id).collect();
            let remainder = SendBatch {
                contract_version: CONTRACT_VERSION,
                batch_id: BatchId::derive(group, &ids),
                group: group.clone(),
                recipients: remaining,
            };
            return self.park(&remainder, &reason, counts, pending).await;
        }
        if pending > 0 {
            counts.retried += pending;
            BatchDisposition::Retry
        } else {
            BatchDisposition::Done
        }
    }

    async fn write_outcome(&self, record: &BatchOutcome) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.send_log.record_outcome(record).await {
                Ok(()) => return Ok(()),
                Err(error)
                    if error.is_retryable()
                        && attempt + 1 < self.config.send_retry.max_attempts =>
                {
                    attempt += 1;
                    tokio::time::sleep(self.config.send_retry.backoff(attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn deliver_in_span(&self, job: DeliverRecipient<'_>) -> (usize, RecipientResult) {
        let slot = job.slot;
        let span = tracing::info_span!("message", message_id = %job.recipient.message_id, slot);
        (slot, self.deliver_recipient(job).instrument(span).await)
    }

    async fn deliver_recipient(&self, job: DeliverRecipient<'_>) -> RecipientResult {
        if job.workspace_refused.load(Ordering::Relaxed) {
            return RecipientResult::final_outcome(RecipientOutcome::Pending);
        }
        // Every recipient is claimed first, even one that will not be sent: its outcome is then
        // recorded once, and a redelivered copy of it counts as a duplicate, not again.
        match job
            .resolver
            .claim(job.slot, &job.recipient.message_id, job.lease_until)
            .await
        {
            Ok(ClaimDecision::Send) => {}
            Ok(ClaimDecision::AlreadyDone) => {
                return RecipientResult::final_outcome(RecipientOutcome::Duplicate);
            }
            Ok(ClaimDecision::HeldElsewhere) => {
                return RecipientResult::final_outcome(RecipientOutcome::Deferred);
            }
            Err(error) => {
                tracing::warn!(%error, "claim failed; message left for a retry");
                return RecipientResult::final_outcome(RecipientOutcome::Pending);
            }
        }
        let Some(address) = job.recipient.customer.email.as_deref() else {
            return RecipientResult::final_outcome(RecipientOutcome::Failed {
                reason: "customer has no email address".into(),
            });
        };
        if job.suppressed {
            return RecipientResult::final_outcome(RecipientOutcome::Suppressed);
        }
        let email = match self.compose(&job, address) {
            Ok(email) => email,
            Err(reason) => {
                tracing::warn!(reason, "message could not be composed");
                return RecipientResult::final_outcome(RecipientOutcome::Failed { reason });
            }
        };
        let mut attempt = 0;
        loop {
            if self.clock.now() >= job.send_until || job.workspace_refused.load(Ordering::Relaxed) {
                return RecipientResult::final_outcome(RecipientOutcome::Pending);
            }
            match self.provider.send(&email).await {
                Ok(provider_message_id) => {
                    return RecipientResult::final_outcome(RecipientOutcome::Sent {
                        provider_message_id,
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
                        outcome: RecipientOutcome::Pending,
                        tenant_rejection: Some(format!("workspace rejected the send: {reason}")),
                    };
                }
                Err(SendError::MessageRejected { reason, source }) => {
                    tracing::warn!(reason, error = %source, "message rejected");
                    return RecipientResult::final_outcome(RecipientOutcome::Failed { reason });
                }
            }
        }
    }

    fn compose(&self, job: &DeliverRecipient<'_>, address: &str) -> Result<OutboundEmail, String> {
        let group = &job.batch.group;
        let unsubscribe_url =
            unsubscribe_url(job.workspace, &group.campaign_id, &job.recipient.message_id);
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

    async fn template(&self, batch: &SendBatch) -> Result<Arc<CompiledTemplate>, TemplateProblem> {
        let group = &batch.group;
        if group.template.is_live() {
            return self.live_template(batch).await;
        }
        if let Some(template) = self.cache.get(&group.tenant_id, &group.template) {
            return Ok(template);
        }
        let version = self
            .templates
            .template_version(&group.tenant_id, &group.template)
            .await
            .map_err(TemplateProblem::Store)?
            .ok_or_else(|| {
                TemplateProblem::Unusable(format!(
                    "unknown template {} version {}",
                    group.template.id, group.template.version
                ))
            })?;
        if version.tenant_id != group.tenant_id || version.template != group.template {
            return Err(TemplateProblem::Unusable(
                "template store answered another tenant's or version's template".into(),
            ));
        }
        self.cache
            .get_or_compile(&version)
            .map_err(|e| TemplateProblem::Unusable(format!("template failed to compile: {e}")))
    }

    /// The template's live version, read through its live pointer at most once a minute
    /// ([`crate::render::LIVE_POINTER_TTL`]) per warm container.
    async fn live_template(
        &self,
        batch: &SendBatch,
    ) -> Result<Arc<CompiledTemplate>, TemplateProblem> {
        let group = &batch.group;
        let now = self.clock.now();
        if let Some(template) = self
            .cache
            .get_live(&group.tenant_id, &group.template.id, now)
        {
            return Ok(template);
        }
        let version = self
            .templates
            .live_template(&group.tenant_id, &group.template.id)
            .await
            .map_err(TemplateProblem::Store)?
            .ok_or_else(|| {
                TemplateProblem::Unusable(format!(
                    "template {} has no live version",
                    group.template.id
                ))
            })?;
        if version.tenant_id != group.tenant_id
            || version.template.id != group.template.id
            || version.template.is_live()
        {
            return Err(TemplateProblem::Unusable(
                "template store answered another tenant's or template's live version".into(),
            ));
        }
        self.cache
            .put_live(&version, now)
            .map_err(|e| TemplateProblem::Unusable(format!("template failed to compile: {e}")))
    }

    /// A store that is down or throttled is retried (the record goes back to Lambda). A tenant
    /// item that cannot be read is that tenant's problem: its batch is parked with the reason,
    /// to be redriven once the data is fixed, and the shard moves on.
    async fn store_failure(
        &self,
        batch: &SendBatch,
        what: &str,
        error: &StoreError,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let recipients = batch.recipients.len() as u64;
        if let StoreError::Corrupt { .. } = error {
            tracing::error!(error = %error, "{what}: tenant data unreadable; parking the batch");
            return self
                .park(batch, &format!("{what}: {error}"), counts, recipients)
                .await;
        }
        tracing::warn!(error = %error, retryable = error.is_retryable(), "{what} failed; batch will be retried");
        counts.retried += recipients;
        BatchDisposition::Retry
    }

    async fn park(
        &self,
        batch: &SendBatch,
        reason: &str,
        counts: &mut TenantCounts,
        recipients: u64,
    ) -> BatchDisposition {
        let parked = ParkedBatch {
            reason: reason.to_string(),
            parked_at: rfc3339(self.clock.now()),
            batch: batch.clone(),
        };
        match self.archive.park(&parked).await {
            Ok(()) => {
                tracing::warn!(reason, recipients, "batch parked");
                counts.parked += recipients;
                BatchDisposition::Done
            }
            Err(error) => {
                tracing::error!(%error, reason, "batch could not be parked; will be retried");
                counts.retried += recipients;
                BatchDisposition::Retry
            }
        }
    }

    async fn dead_letter_batch(
        &self,
        batch: &SendBatch,
        raw: &[u8],
        reason: &str,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let letter = DeadLetter::of_payload(
            FUNCTION_NAME,
            reason,
            Some(batch.group.tenant_id.to_string()),
            raw,
        );
        match self.archive.dead_letter(&letter).await {
            Ok(()) => {
                tracing::warn!(reason, "batch dead-lettered");
                counts.dead_lettered += batch.recipients.len() as u64;
                BatchDisposition::Done
            }
            Err(error) => {
                tracing::error!(%error, reason, "dead letter could not be kept; batch will be retried");
                counts.retried += batch.recipients.len() as u64;
                BatchDisposition::Retry
            }
        }
    }
}

enum TemplateProblem {
    Store(StoreError),
    Unusable(String),
}

struct DeliverRecipient<'a> {
    batch: &'a SendBatch,
    slot: usize,
    recipient: &'a Recipient,
    workspace: &'a TenantWorkspace,
    brand: &'a RenderValue,
    template: &'a CompiledTemplate,
    suppressed: bool,
    resolver: &'a ClaimResolver<'a>,
    lease_until: i64,
    send_until: OffsetDateTime,
    /// Set by the first recipient whose send the tenant's workspace refuses: the others of the
    /// batch are not attempted (they would be refused the same way) and are parked with it.
    workspace_refused: &'a AtomicBool,
}

struct RecipientResult {
    outcome: RecipientOutcome,
    tenant_rejection: Option<String>,
}

impl RecipientResult {
    fn final_outcome(outcome: RecipientOutcome) -> Self {
        Self {
            outcome,
            tenant_rejection: None,
        }
    }
}

enum ClaimDecision {
    Send,
    AlreadyDone,
    HeldElsewhere,
}

/// Decides, message by message, whether this delivery may send: the idempotency protocol.
///
/// A claim names the batch and slot that owns the message and a lease. The owner's batch outcome
/// says how it ended. A message is sent only by the delivery that holds its claim; a claim is
/// taken over only when its owner released it (outcome `Pending`) or its lease ran out with no
/// final outcome recorded.
struct ClaimResolver<'a> {
    send_log: &'a dyn SendLog,
    clock: &'a dyn Clock,
    batch: &'a SendBatch,
    outcomes: tokio::sync::Mutex<HashMap<BatchId, Option<BatchOutcome>>>,
}

impl<'a> ClaimResolver<'a> {
    fn new(send_log: &'a dyn SendLog, clock: &'a dyn Clock, batch: &'a SendBatch) -> Self {
        Self {
            send_log,
            clock,
            batch,
            outcomes: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn outcome_of(&self, batch: &BatchId) -> Result<Option<BatchOutcome>, StoreError> {
        let mut outcomes = self.outcomes.lock().await;
        if let Some(known) = outcomes.get(batch) {
            return Ok(known.clone());
        }
        let group = &self.batch.group;
        let outcome = self
            .send_log
            .outcome(&group.tenant_id, &group.campaign_id, batch)
            .await?;
        outcomes.insert(batch.clone(), outcome.clone());
        Ok(outcome)
    }

    async fn claim(
        &self,
        slot: usize,
        message: &MessageId,
        lease_until: i64,
    ) -> Result<ClaimDecision, StoreError> {
        let group = &self.batch.group;
        let claim = MessageClaim {
            tenant_id: group.tenant_id.clone(),
            campaign_id: group.campaign_id.clone(),
            message_id: message.clone(),
            batch_id: self.batch.batch_id.clone(),
            slot: slot as u16,
            lease_until,
        };
        let existing = match self.send_log.claim(&claim).await? {
            ClaimResult::Claimed => return Ok(ClaimDecision::Send),
            ClaimResult::Held(existing) => existing,
        };
        let owner_outcome = self
            .outcome_of(&existing.batch_id)
            .await?
            .and_then(|o| o.outcomes.get(existing.slot as usize).cloned());
        let released = match owner_outcome {
            Some(outcome) if outcome.is_final() => return Ok(ClaimDecision::AlreadyDone),
            Some(RecipientOutcome::Pending) => true,
            _ => existing.lease_until < self.clock.now().unix_timestamp(),
        };
        if !released {
            tracing::info!(owner = %existing.batch_id, "message held by a delivery in flight");
            return Ok(ClaimDecision::HeldElsewhere);
        }
        if self.send_log.take_over(&existing, &claim).await? {
            tracing::info!(previous_owner = %existing.batch_id, "took over a released or expired claim");
            Ok(ClaimDecision::Send)
        } else {
            Ok(ClaimDecision::HeldElsewhere)
        }
    }

    /// Outcomes already final in an earlier attempt of this batch are kept as they were.
    async fn merge_with_previous(&self, slots: Vec<RecipientOutcome>) -> Vec<RecipientOutcome> {
        let previous = self
            .outcomes
            .lock()
            .await
            .get(&self.batch.batch_id)
            .cloned()
            .flatten();
        match previous {
            Some(previous) => slots
                .into_iter()
                .enumerate()
                .map(|(slot, outcome)| match previous.outcomes.get(slot) {
                    Some(earlier) if earlier.is_final() => earlier.clone(),
                    _ => outcome,
                })
                .collect(),
            None => slots,
        }
    }

    async fn previous_matches(&self, outcomes: &[RecipientOutcome]) -> bool {
        self.outcomes
            .lock()
            .await
            .get(&self.batch.batch_id)
            .cloned()
            .flatten()
            .is_some_and(|previous| previous.outcomes == outcomes)
    }
}

/// The per-recipient one-click unsubscribe link: the same in delivery and in previews.
pub fn unsubscribe_url(
    workspace: &TenantWorkspace,
    campaign: &crate::domain::CampaignId,
    message: &MessageId,
) -> String {
    format!(
        "{}?t={}&c={}&m={}",
        workspace.unsubscribe_base_url, workspace.tenant_id, campaign, message
    )
}

fn decode_batch(data: &[u8]) -> Result<SendBatch, String> {
    let batch: SendBatch =
        serde_json::from_slice(data).map_err(|e| format!("malformed send batch: {e}"))?;
    if batch.contract_version == 0 || batch.contract_version > CONTRACT_VERSION {
        return Err(format!(
            "unsupported send-batch contract version {} (this build reads 1..={CONTRACT_VERSION})",
            batch.contract_version
        ));
    }
    if batch.recipients.is_empty() || batch.recipients.len() > crate::domain::PROVIDER_BATCH_SIZE {
        return Err(format!(
            "send batch has {} recipients; 1..={} are allowed",
            batch.recipients.len(),
            crate::domain::PROVIDER_BATCH_SIZE
        ));
    }
    Ok(batch)
}

/// The tenant of a record that could not be decoded, when its JSON still names one: only to file
/// the dead letter under the right tenant.
fn tenant_hint(data: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Hint {
        tenant_id: crate::domain::TenantId,
    }
    serde_json::from_slice::<Hint>(data)
        .ok()
        .map(|hint| hint.tenant_id.to_string())
}

impl From<DeliverError> for lambda_runtime::Diagnostic {
    fn from(error: DeliverError) -> Self {
        crate::kinesis::diagnostic(&error, false)
    }
}
