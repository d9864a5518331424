//! Send batches in, emails out: idempotent, routed to the batch's own tenant workspace, every
//! failure classified and kept.

mod attempt;
mod budget;
mod cap;
mod claims;
mod frequency_cap;
mod outcome;
mod push;
#[cfg(test)]
mod push_tests;
mod quiet;
#[cfg(test)]
mod quiet_tests;
mod recipient;
mod setbacks;
mod template;
mod usage;

use claims::{ClaimDecision, ClaimResolver};
use outcome::AttemptResults;
use recipient::{DeliverRecipient, RecipientResult};
use template::TemplateProblem;

pub use push::PushPorts;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::channels::email::EmailProvider;
use crate::channels::push::KnownEndpoint;
use crate::clock::Clock;
use crate::deliverability::budget::SendBudgets;
use crate::deliverability::frequency_cap::ContactLedger;
use crate::deliverability::unsubscribe::UnsubscribeSigner;
use crate::deliverability::warmup::SendCap;
use crate::directory::DeliveryDirectory;
use crate::domain::FieldValue;
use crate::domain::{CONTRACT_VERSION, CampaignStatus, SendBatch, TenantStatus, TenantWorkspace};
use crate::metrics::Metrics;
use crate::pipeline::archive::{Archive, DeadLetter};
use crate::pipeline::lambda_batch::{
    InboundRecord, MissingSequenceNumber, inbound_records, partial_batch_response,
};
use crate::pipeline::publish::RetryPolicy;
use crate::pipeline::send_log::{RecipientOutcome, SendLog};
use crate::render::{CompiledTemplate, RenderedMessage, TemplateCache};
use crate::templates::ports::TemplateStore;

pub const FUNCTION_NAME: &str = "deliver";

/// A lane a minute behind lags: longer than the records of a healthy invocation wait (10 send
/// batches at the account's rate take about 36 s at 450 sends a second).
pub const LANE_LAGGING_AFTER: Duration = Duration::from_secs(60);

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
    /// No new send starts this close to the invocation's deadline. It covers the slowest send
    /// (`send_timeout`), the outcome write and the deferral of what is left.
    pub deadline_reserve: Duration,
    /// A send without an answer by then is unconfirmed: it may have gone out, so it is never
    /// retried.
    pub send_timeout: Duration,
    /// Each call to the send log or the archive gives up after this (or the time left).
    pub store_call_timeout: Duration,
    /// The outcome write is retried until this close to the deadline; the rest of the time is
    /// for keeping the outcome in the archive instead.
    pub outcome_write_reserve: Duration,
    /// Retries of a throttled or unavailable provider, per message.
    pub send_retry: RetryPolicy,
    /// When recipients left unsent (throttled past the retries, out of time, a store down) are
    /// tried again: they are deferred to the archive and redriven on a schedule, so they never
    /// spend the stream's retries.
    pub retry_delay: Duration,
    /// A batch waits at most this long for the sends the send budget grants it (and never past
    /// `deadline_reserve`); what it cannot have within it is deferred.
    pub budget_wait: Duration,
    /// A record the stream took longer ago than this is in a lane that lags: its batch does not
    /// wait for its tenant's share (it is deferred with the share reserved), so the lane reaches
    /// the batches of other tenants behind it sooner.
    pub lagging_after: Duration,
    pub unsubscribe_mailto: Option<String>,
    /// The function's configured memory: each batch's GB-seconds are its time at this size.
    pub lambda_memory_mb: u32,
}

impl DeliveryConfig {
    pub fn new(sending_domain: impl Into<String>) -> Self {
        Self {
            sending_domain: sending_domain.into(),
            send_concurrency: 16,
            lease_margin: Duration::from_secs(30),
            deadline_reserve: Duration::from_secs(8),
            send_timeout: Duration::from_secs(3),
            store_call_timeout: Duration::from_secs(2),
            outcome_write_reserve: Duration::from_secs(3),
            retry_delay: Duration::from_secs(60),
            budget_wait: crate::deliverability::budget::MAX_BUDGET_WAIT,
            lagging_after: LANE_LAGGING_AFTER,
            send_retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
            },
            unsubscribe_mailto: None,
            lambda_memory_mb: 1024,
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
    /// Refused by the retailer's frequency cap when about to be sent.
    pub frequency_capped: u64,
    pub parked: u64,
    pub dead_lettered: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Handed to the provider without a confirmed answer: never retried.
    pub unconfirmed: u64,
    /// Pushes published to a device endpoint that took them (or may have: unconfirmed).
    pub push_publishes: u64,
    /// Set aside in the archive to be redriven when due (held elsewhere, throttled, out of time).
    pub deferred: u64,
    /// Left for Lambda's retry of the record: only when even the archive could not keep them.
    pub retried: u64,
    /// Of the deferred, those held to the end of the retailer's quiet hours (the whole batch in
    /// the retailer's time zone, or each recipient in their own when the campaign asks).
    pub quiet_hours_held: u64,
    /// Recipients of a campaign keeping quiet hours in the customer's time zone whose own time
    /// zone was missing or unreadable: their quiet hours were kept in the retailer's.
    pub quiet_hours_zone_fallbacks: u64,
}

impl TenantCounts {
    pub fn add(&mut self, other: &TenantCounts) {
        self.batches += other.batches;
        self.recipients += other.recipients;
        self.sent += other.sent;
        self.duplicates += other.duplicates;
        self.suppressed += other.suppressed;
        self.frequency_capped += other.frequency_capped;
        self.parked += other.parked;
        self.dead_lettered += other.dead_lettered;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.unconfirmed += other.unconfirmed;
        self.push_publishes += other.push_publishes;
        self.deferred += other.deferred;
        self.retried += other.retried;
        self.quiet_hours_held += other.quiet_hours_held;
        self.quiet_hours_zone_fallbacks += other.quiet_hours_zone_fallbacks;
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

/// A batch that may go out: its tenant's workspace, brand variables, suppressed addresses and
/// compiled template.
struct ReadyBatch {
    workspace: TenantWorkspace,
    brand: FieldValue,
    suppressed: HashSet<String>,
    template: Arc<CompiledTemplate>,
    /// The endpoints already known for a push batch's devices.
    endpoints: std::collections::HashMap<crate::domain::PushDevice, KnownEndpoint>,
    /// The retailer's quiet hours in each recipient's time zone, when the campaign asks.
    customer_quiet: Option<quiet::CustomerQuiet>,
}

pub struct Deliverer {
    directory: Arc<dyn DeliveryDirectory>,
    templates: Arc<dyn TemplateStore>,
    send_log: Arc<dyn SendLog>,
    provider: Arc<dyn EmailProvider>,
    /// The push channel (`with_push`).
    push: Option<PushPorts>,
    archive: Arc<dyn Archive>,
    clock: Arc<dyn Clock>,
    unsubscribe: Arc<UnsubscribeSigner>,
    /// The day's send caps of tenants in warm-up (`with_send_cap`).
    send_cap: Option<Arc<dyn SendCap>>,
    /// The contact history the frequency cap takes from (`with_contact_ledger`). Without it,
    /// recipients of a tenant with a cap are deferred (never sent uncapped).
    contacts: Option<Arc<dyn ContactLedger>>,
    /// The send budgets every delivery shares (`with_send_budgets`); without them, sends are
    /// not paced.
    budgets: Option<Arc<SendBudgets>>,
    /// The push budget every delivery shares (`with_push_budgets`), apart from the email one:
    /// SNS's rate, not SES's.
    push_budgets: Option<Arc<SendBudgets>>,
    /// Where each batch's usage is added to its campaign's (`with_usage`); without it, usage is
    /// not counted.
    usage: Option<Arc<dyn crate::costs::UsageCounters>>,
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
    /// Signs each recipient's one-click unsubscribe link.
    pub unsubscribe: Arc<UnsubscribeSigner>,
}

impl Deliverer {
    pub fn new(ports: DelivererPorts, config: DeliveryConfig) -> Self {
        Self {
            directory: ports.directory,
            templates: ports.templates,
            send_log: ports.send_log,
            provider: ports.provider,
            push: None,
            archive: ports.archive,
            clock: ports.clock,
            unsubscribe: ports.unsubscribe,
            send_cap: None,
            contacts: None,
            budgets: None,
            push_budgets: None,
            usage: None,
            cache: TemplateCache::default(),
            config,
            metrics: Metrics::new(FUNCTION_NAME),
        }
    }

    /// Enforces the daily cap of the tenants whose settings carry a warm-up plan. Without it,
    /// their batches are deferred (never sent past a cap nobody counts).
    pub fn with_send_cap(mut self, send_cap: Arc<dyn SendCap>) -> Self {
        self.send_cap = Some(send_cap);
        self
    }

    /// Enforces the frequency cap of the tenants whose settings carry one: each recipient about
    /// to be sent takes a contact from its customer's history first.
    pub fn with_contact_ledger(mut self, contacts: Arc<dyn ContactLedger>) -> Self {
        self.contacts = Some(contacts);
        self
    }

    /// Paces every send on the budgets shared by all deliveries: the account's SES rate, over
    /// each sending tenant's share.
    pub fn with_send_budgets(mut self, budgets: Arc<SendBudgets>) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// Paces every push the same way on a budget of its own: SNS's publish rate, over each
    /// sending tenant's share (the same shares as email's).
    pub fn with_push_budgets(mut self, budgets: Arc<SendBudgets>) -> Self {
        self.push_budgets = Some(budgets);
        self
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
                            break;
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
            let lagging = record
                .arrived_at
                .is_some_and(|at| self.clock.now() - at > self.config.lagging_after);
            let run = usage::BatchRun {
                raw: &record.data,
                deadline,
                lagging,
                records_in_invocation: records.len(),
            };
            let disposition = self
                .deliver_counting_usage(&batch, run, &mut counts)
                .instrument(span)
                .await;
            self.record_metrics(batch.group.tenant_id.as_str(), &counts);
            outcome
                .per_tenant
                .entry(batch.group.tenant_id.to_string())
                .or_default()
                .add(&counts);
            if matches!(disposition, BatchDisposition::Retry) {
                // Lambda retries from this record on: processing the later ones now would only
                // repeat them (each refused claim billed) when the retry comes.
                outcome.failed_positions.push(position);
                break;
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
            ("FrequencyCapped", counts.frequency_capped),
            ("DeadLettered", counts.dead_lettered),
            ("Unconfirmed", counts.unconfirmed),
            ("Deferred", counts.deferred),
            ("QuietHoursHeld", counts.quiet_hours_held),
            ("QuietHoursZoneFallback", counts.quiet_hours_zone_fallbacks),
            ("Retried", counts.retried),
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
        lagging: bool,
        counts: &mut TenantCounts,
    ) -> BatchDisposition {
        let ready = match self.prepare(batch, raw, deadline, counts).await {
            Ok(ready) => ready,
            Err(disposition) => return disposition,
        };
        let resolver = ClaimResolver::new(self.send_log.as_ref(), self.clock.as_ref(), batch);
        let attempt = self
            .send_all(batch, &ready, &resolver, deadline, lagging)
            .await;
        counts.quiet_hours_zone_fallbacks += attempt.zone_fallbacks;
        // Counted from this attempt: a message sent by an earlier attempt comes back as a
        // duplicate here, so nothing is ever counted as sent twice.
        for outcome in &attempt.slots {
            match outcome {
                RecipientOutcome::Sent {
                    provider_message_id,
                    ..
                } => {
                    counts.sent += 1;
                    if batch.group.channel == crate::domain::Channel::Push {
                        // One provider id per device that took it.
                        counts.push_publishes += provider_message_id.split(',').count() as u64;
                    }
                }
                RecipientOutcome::Failed { .. } => counts.failed += 1,
                RecipientOutcome::Suppressed => counts.suppressed += 1,
                RecipientOutcome::FrequencyCapped => counts.frequency_capped += 1,
                RecipientOutcome::Duplicate => counts.duplicates += 1,
                RecipientOutcome::Unconfirmed { .. } => counts.unconfirmed += 1,
                RecipientOutcome::Deferred | RecipientOutcome::Pending => {}
            }
        }
        self.finish(batch, &resolver, attempt, deadline, counts)
            .await
    }

    /// Everything a batch needs before its first send: a provider for its channel, the tenant's
    /// workspace and the campaign's status (one read), a status that lets it go out, and its
    /// compiled template. A batch that cannot go out ends here with its disposition.
    async fn prepare(
        &self,
        batch: &SendBatch,
        raw: &[u8],
        deadline: OffsetDateTime,
        counts: &mut TenantCounts,
    ) -> Result<ReadyBatch, BatchDisposition> {
        let group = &batch.group;
        let recipients = batch.recipients.len() as u64;
        if let Some(reason) = self.unroutable(group.channel) {
            return Err(self.dead_letter_batch(batch, raw, reason, counts).await);
        }
        let addresses = push::suppression_keys(batch);
        let context = match self
            .directory
            .delivery_context(&group.tenant_id, &group.campaign_id, &addresses)
            .await
        {
            Ok(context) => context,
            Err(error) => {
                return Err(self
                    .store_failure(batch, "directory lookup", &error, deadline, counts)
                    .await);
            }
        };
        let Some(workspace) = context.workspace else {
            return Err(self
                .dead_letter_batch(batch, raw, "unknown tenant", counts)
                .await);
        };
        let hold = match (workspace.status, context.campaign_status) {
            (_, None) => {
                return Err(self
                    .dead_letter_batch(batch, raw, "unknown campaign", counts)
                    .await);
            }
            (_, Some(CampaignStatus::Cancelled)) => {
                tracing::info!("campaign cancelled; batch not sent");
                counts.cancelled += recipients;
                return Err(BatchDisposition::Done);
            }
            (TenantStatus::Paused, _) => Some("tenant paused"),
            (TenantStatus::Suspended, _) => Some("tenant suspended"),
            (TenantStatus::Active, Some(CampaignStatus::Paused)) => Some("campaign paused"),
            (TenantStatus::Active, Some(CampaignStatus::Active)) => None,
        };
        if let Some(reason) = hold {
            return Err(self.park(batch, reason, counts, recipients).await);
        }
        let quiet_zone = context.campaign_quiet_hours;
        if let Some(held) = self
            .quiet_hours_hold(batch, &workspace, quiet_zone, deadline, counts)
            .await
        {
            return Err(held);
        }
        let template = match self.template(batch).await {
            Ok(template) => template,
            Err(TemplateProblem::Store(error)) => {
                return Err(self
                    .store_failure(batch, "template lookup", &error, deadline, counts)
                    .await);
            }
            Err(TemplateProblem::Unusable(reason)) => {
                return Err(self.dead_letter_batch(batch, raw, &reason, counts).await);
            }
        };
        let found = (workspace, context.suppressed, quiet_zone);
        self.ready(batch, raw, found, template, deadline, counts)
            .await
    }
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
        crate::pipeline::lambda_batch::diagnostic(&error, false)
    }
}
