//! Applies SES's event feedback: the per-recipient send log, the counters, the retailer's
//! suppression list, and the auto-pause.
//!
//! Events arrive at least once and in any order. Each (message, kind) is recorded once, with
//! its counters, in one atomic write ([`FeedbackLog::record`]): a redelivered event finds its
//! kind already recorded and changes nothing; a Delivery after a Bounce is recorded beside it
//! (each kind keeps its own time), so no order loses or overwrites anything. Suppression is
//! idempotent on its own (the first reason stays), so it runs before the record: a crash
//! between the two leaves the address suppressed and the event to be recorded on its retry.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::autopause::{PauseDecision, PauseThresholds, TenantPauser};
use super::counters::{CounterKey, Day, FeedbackCounters, FeedbackCounts, FeedbackKind};
use super::ses_events::{self, SesEvent, What};
use super::suppression::{Suppression, SuppressionList, SuppressionReason};
use crate::domain::{CampaignId, MessageId, TenantId, normalise_address};
use crate::error::{Retryable, StoreError};

/// The dead letters' source for SES events that could not be applied.
pub const UNMATCHED_SOURCE: &str = "ses-events";

/// One first-time (or repeated) piece of feedback for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRecord {
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub variant: String,
    pub message: MessageId,
    pub kind: FeedbackKind,
    /// Epoch seconds.
    pub at: i64,
    pub detail: Option<String>,
}

impl FeedbackRecord {
    pub fn day(&self) -> Day {
        Day::of_epoch(self.at)
    }

    /// The counters a first record of its kind increments.
    pub fn counter_key(&self) -> CounterKey {
        CounterKey {
            tenant: self.tenant.clone(),
            campaign: self.campaign.clone(),
            variant: self.variant.clone(),
            day: self.day(),
        }
    }
}

/// How the log took a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First of its kind for the message: recorded and counted.
    First,
    /// Already recorded by an earlier delivery of the event (or another event of that kind).
    Again,
    /// No such message was ever claimed by delivery (or its send log expired).
    UnknownMessage,
}

/// What feedback one message received, kind by kind: the first time and its detail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MessageFeedback {
    pub events: Vec<(FeedbackKind, i64, Option<String>)>,
}

impl MessageFeedback {
    pub fn first(&self, kind: FeedbackKind) -> Option<i64> {
        self.events
            .iter()
            .find(|(k, ..)| *k == kind)
            .map(|(_, at, _)| *at)
    }
}

/// The feedback half of the send log: one record per message and kind, the counters with it.
#[async_trait]
pub trait FeedbackLog: Send + Sync {
    /// Records the feedback if its message exists and the kind is new for it, and in the same
    /// atomic write adds one to the campaign variant's and the tenant day's counter.
    async fn record(&self, record: &FeedbackRecord) -> Result<Recorded, StoreError>;
    async fn message_feedback(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageFeedback>, StoreError>;
    /// Notes a transient bounce of `message` to `address` and answers how many distinct
    /// messages to it bounced transiently since `since` (epoch seconds). Noting the same
    /// message twice counts it once.
    async fn soft_bounces(
        &self,
        tenant: &TenantId,
        address: &str,
        message: &MessageId,
        at: i64,
        since: i64,
    ) -> Result<u32, StoreError>;
}

/// Events that could not be applied (unreadable, not ours, unknown message): kept whole for an
/// operator, never dropped. The archive keeps them as dead letters with source
/// [`UNMATCHED_SOURCE`].
#[async_trait]
pub trait UnmatchedEvents: Send + Sync {
    async fn keep(
        &self,
        reason: &str,
        tenant: Option<String>,
        event: &serde_json::Value,
    ) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackConfig {
    /// Transient bounces of distinct messages to one address, within the window, that
    /// suppress it.
    pub soft_bounce_limit: u32,
    pub soft_bounce_window: Duration,
    pub pause: PauseThresholds,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self {
            soft_bounce_limit: 3,
            soft_bounce_window: Duration::from_secs(14 * 24 * 3600),
            pause: PauseThresholds::default(),
        }
    }
}

pub struct FeedbackPorts {
    pub log: Arc<dyn FeedbackLog>,
    pub counters: Arc<dyn FeedbackCounters>,
    pub suppressions: Arc<dyn SuppressionList>,
    pub unmatched: Arc<dyn UnmatchedEvents>,
    pub pauser: Arc<dyn TenantPauser>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Recorded(FeedbackKind),
    Duplicate(FeedbackKind),
    /// A subscription change that is no unsubscribe: nothing to record.
    Ignored,
    /// Kept in the unmatched events with the reason.
    Unmatched(String),
}

#[derive(Debug, thiserror::Error)]
#[error("feedback could not be applied")]
pub struct FeedbackError(#[from] pub StoreError);

impl Retryable for FeedbackError {
    fn is_retryable(&self) -> bool {
        self.0.is_retryable()
    }
}

/// Totals of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedbackSummary {
    pub recorded: u64,
    pub duplicates: u64,
    pub ignored: u64,
    pub unmatched: u64,
    pub suppressed: u64,
    pub paused: u64,
}

impl FeedbackSummary {
    pub fn add(&mut self, other: &FeedbackSummary) {
        self.recorded += other.recorded;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.unmatched += other.unmatched;
        self.suppressed += other.suppressed;
        self.paused += other.paused;
    }
}

pub struct Feedback {
    ports: FeedbackPorts,
    config: FeedbackConfig,
}

impl Feedback {
    pub fn new(ports: FeedbackPorts, config: FeedbackConfig) -> Self {
        Self { ports, config }
    }

    /// Applies one EventBridge event. Errors are only the stores' (retry the event); an event
    /// that cannot be applied is kept and answered as [`Applied::Unmatched`].
    pub async fn apply(
        &self,
        event: &serde_json::Value,
        summary: &mut FeedbackSummary,
    ) -> Result<Applied, FeedbackError> {
        let parsed = match ses_events::parse(event) {
            Ok(parsed) => parsed,
            Err(error) => {
                return self
                    .keep(event, &error_id(event), &error.to_string(), summary)
                    .await;
            }
        };
        let span = tracing::info_span!(
            "ses_event",
            tenant_id = %parsed.tenant,
            campaign_id = %parsed.campaign,
            message_id = %parsed.message,
        );
        let _entered = span.enter();
        let Some(kind) = parsed.what.kind() else {
            summary.ignored += 1;
            return Ok(Applied::Ignored);
        };
        let record = FeedbackRecord {
            tenant: parsed.tenant.clone(),
            campaign: parsed.campaign.clone(),
            variant: parsed.variant.clone(),
            message: parsed.message.clone(),
            kind,
            at: parsed.at,
            detail: parsed.what.detail(),
        };
        // Hard bounces, complaints and unsubscribes suppress at once, before the record: the
        // suppression is idempotent, so a retry after a crash here repeats it harmlessly.
        summary.suppressed += self.suppress_now(&parsed).await?;
        if parsed.test_send {
            // A template's test send: no send log entry, no campaign, no counters, no
            // auto-pause; a seed address that bounces or complains is still suppressed.
            summary.ignored += 1;
            return Ok(Applied::Ignored);
        }
        match self.ports.log.record(&record).await? {
            Recorded::UnknownMessage => {
                let error = "no such message in the send log";
                self.keep(event, &parsed.event_id, error, summary).await
            }
            Recorded::Again => {
                summary.duplicates += 1;
                Ok(Applied::Duplicate(kind))
            }
            Recorded::First => {
                summary.recorded += 1;
                if kind == FeedbackKind::SoftBounced {
                    summary.suppressed += self.count_soft_bounce(&parsed).await?;
                }
                if matches!(kind, FeedbackKind::HardBounced | FeedbackKind::Complained) {
                    summary.paused += u64::from(self.check_pause(&parsed.tenant, parsed.at).await?);
                }
                Ok(Applied::Recorded(kind))
            }
        }
    }

    async fn suppress_now(&self, event: &SesEvent) -> Result<u64, StoreError> {
        let (reason, addresses): (SuppressionReason, Vec<String>) = match &event.what {
            What::Bounced {
                permanent: true,
                recipients,
                ..
            } => (
                SuppressionReason::HardBounce,
                recipients.iter().map(|(a, _)| a.clone()).collect(),
            ),
            What::Complained { recipients, .. } => {
                (SuppressionReason::Complaint, recipients.clone())
            }
            What::Subscription {
                unsubscribed_all: true,
                recipients,
            } => (SuppressionReason::Unsubscribed, recipients.clone()),
            _ => return Ok(0),
        };
        let mut added = 0;
        for address in addresses {
            added += u64::from(self.suppress(event, &address, reason).await?);
        }
        Ok(added)
    }

    async fn suppress(
        &self,
        event: &SesEvent,
        address: &str,
        reason: SuppressionReason,
    ) -> Result<bool, StoreError> {
        let entry = Suppression {
            address: normalise_address(address),
            reason,
            since: event.at,
            detail: event
                .what
                .detail()
                .or_else(|| Some(format!("campaign {}", event.campaign))),
        };
        let added = self.ports.suppressions.add(&event.tenant, &entry).await?;
        if added {
            tracing::info!(reason = reason.as_str(), "address suppressed");
        }
        Ok(added)
    }

    async fn count_soft_bounce(&self, event: &SesEvent) -> Result<u64, StoreError> {
        let What::Bounced { recipients, .. } = &event.what else {
            return Ok(0);
        };
        let since = event.at - self.config.soft_bounce_window.as_secs() as i64;
        let mut added = 0;
        for (address, _) in recipients {
            let address = normalise_address(address);
            let count = self
                .ports
                .log
                .soft_bounces(&event.tenant, &address, &event.message, event.at, since)
                .await?;
            if count >= self.config.soft_bounce_limit {
                added += u64::from(
                    self.suppress(event, &address, SuppressionReason::SoftBounces)
                        .await?,
                );
            }
        }
        Ok(added)
    }

    /// Pauses the tenant when its rates over today and yesterday cross the thresholds.
    async fn check_pause(&self, tenant: &TenantId, at: i64) -> Result<bool, StoreError> {
        let mut counts = FeedbackCounts::default();
        for day in [Day::of_epoch(at - 24 * 3600), Day::of_epoch(at)] {
            counts.add_all(&self.ports.counters.day_counts(tenant, &day).await?);
        }
        match self.config.pause.decide(&counts) {
            PauseDecision::Healthy => Ok(false),
            PauseDecision::Pause(reason) => {
                let paused = self.ports.pauser.pause(tenant, &reason).await?;
                if paused {
                    tracing::warn!(event = "tenant_auto_paused", reason, "tenant auto-paused");
                }
                Ok(paused)
            }
        }
    }

    async fn keep(
        &self,
        event: &serde_json::Value,
        id: &str,
        reason: &str,
        summary: &mut FeedbackSummary,
    ) -> Result<Applied, FeedbackError> {
        tracing::warn!(event_id = id, reason, "SES event kept as unmatched");
        let tenant = event
            .pointer("/detail/mail/tags/tenant/0")
            .and_then(|t| t.as_str())
            .map(str::to_string);
        self.ports.unmatched.keep(reason, tenant, event).await?;
        summary.unmatched += 1;
        Ok(Applied::Unmatched(reason.to_string()))
    }
}

fn error_id(event: &serde_json::Value) -> String {
    event
        .get("id")
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
#[path = "feedback_tests.rs"]
mod tests;
