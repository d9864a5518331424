//! What the provider's event feedback counted: per campaign and variant (the campaign's stats)
//! and per tenant and UTC day (what the warm-up and the auto-pause read).
//!
//! Each count is incremented once per message and kind, however often or in whatever order the
//! provider's events arrive: the feedback service only counts a transition it was first to
//! record in the message's feedback record.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;

/// A kind of feedback a message can receive, counted at most once per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// Accepted by the provider for sending (SES `Send`).
    Sent,
    Delivered,
    HardBounced,
    SoftBounced,
    Complained,
    /// Refused by the provider before sending (SES `Reject`).
    Rejected,
    /// Delayed by the receiving server (SES `DeliveryDelay`).
    Delayed,
    Opened,
    Clicked,
    Unsubscribed,
    RenderingFailed,
}

impl FeedbackKind {
    pub const ALL: [FeedbackKind; 11] = [
        FeedbackKind::Sent,
        FeedbackKind::Delivered,
        FeedbackKind::HardBounced,
        FeedbackKind::SoftBounced,
        FeedbackKind::Complained,
        FeedbackKind::Rejected,
        FeedbackKind::Delayed,
        FeedbackKind::Opened,
        FeedbackKind::Clicked,
        FeedbackKind::Unsubscribed,
        FeedbackKind::RenderingFailed,
    ];

    /// The attribute (and counter) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Sent => "sent",
            FeedbackKind::Delivered => "delivered",
            FeedbackKind::HardBounced => "hard_bounced",
            FeedbackKind::SoftBounced => "soft_bounced",
            FeedbackKind::Complained => "complained",
            FeedbackKind::Rejected => "rejected",
            FeedbackKind::Delayed => "delayed",
            FeedbackKind::Opened => "opened",
            FeedbackKind::Clicked => "clicked",
            FeedbackKind::Unsubscribed => "unsubscribed",
            FeedbackKind::RenderingFailed => "rendering_failed",
        }
    }
}

/// Counts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct FeedbackCounts {
    pub sent: u64,
    pub delivered: u64,
    pub hard_bounced: u64,
    pub soft_bounced: u64,
    pub complained: u64,
    pub rejected: u64,
    pub delayed: u64,
    pub opened: u64,
    pub clicked: u64,
    pub unsubscribed: u64,
    pub rendering_failed: u64,
}

impl FeedbackCounts {
    pub fn get(&self, kind: FeedbackKind) -> u64 {
        *self.field(kind)
    }

    pub fn add(&mut self, kind: FeedbackKind, count: u64) {
        *self.field_mut(kind) += count;
    }

    /// Adds every kind of `other`: totals over variants, days or shards.
    pub fn add_all(&mut self, other: &FeedbackCounts) {
        for kind in FeedbackKind::ALL {
            self.add(kind, other.get(kind));
        }
    }

    fn field(&self, kind: FeedbackKind) -> &u64 {
        match kind {
            FeedbackKind::Sent => &self.sent,
            FeedbackKind::Delivered => &self.delivered,
            FeedbackKind::HardBounced => &self.hard_bounced,
            FeedbackKind::SoftBounced => &self.soft_bounced,
            FeedbackKind::Complained => &self.complained,
            FeedbackKind::Rejected => &self.rejected,
            FeedbackKind::Delayed => &self.delayed,
            FeedbackKind::Opened => &self.opened,
            FeedbackKind::Clicked => &self.clicked,
            FeedbackKind::Unsubscribed => &self.unsubscribed,
            FeedbackKind::RenderingFailed => &self.rendering_failed,
        }
    }

    fn field_mut(&mut self, kind: FeedbackKind) -> &mut u64 {
        match kind {
            FeedbackKind::Sent => &mut self.sent,
            FeedbackKind::Delivered => &mut self.delivered,
            FeedbackKind::HardBounced => &mut self.hard_bounced,
            FeedbackKind::SoftBounced => &mut self.soft_bounced,
            FeedbackKind::Complained => &mut self.complained,
            FeedbackKind::Rejected => &mut self.rejected,
            FeedbackKind::Delayed => &mut self.delayed,
            FeedbackKind::Opened => &mut self.opened,
            FeedbackKind::Clicked => &mut self.clicked,
            FeedbackKind::Unsubscribed => &mut self.unsubscribed,
            FeedbackKind::RenderingFailed => &mut self.rendering_failed,
        }
    }

    /// Bounces (hard and soft) per message sent; 0 when nothing was sent.
    pub fn bounce_rate(&self) -> f64 {
        ratio(self.hard_bounced + self.soft_bounced, self.sent)
    }

    /// Only permanent bounces count toward SES's review level.
    pub fn hard_bounce_rate(&self) -> f64 {
        ratio(self.hard_bounced, self.sent)
    }

    pub fn complaint_rate(&self) -> f64 {
        ratio(self.complained, self.sent)
    }

    /// Messages delayed by receiving servers per message sent (a deferral rate).
    pub fn delay_rate(&self) -> f64 {
        ratio(self.delayed, self.sent)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A UTC day as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Day(pub String);

impl Day {
    pub fn of_epoch(seconds: i64) -> Self {
        let date = time::OffsetDateTime::from_unix_timestamp(seconds)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .date();
        Self(format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        ))
    }
}

/// Which counters one first-time transition increments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterKey {
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub variant: String,
    pub day: Day,
}

#[async_trait]
pub trait FeedbackCounters: Send + Sync {
    /// Adds one to `kind` for the campaign's variant and for the tenant's day.
    async fn increment(&self, key: &CounterKey, kind: FeedbackKind) -> Result<(), StoreError>;
    /// The campaign's counts by variant.
    async fn campaign_counts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, FeedbackCounts)>, StoreError>;
    /// The tenant's counts for one UTC day.
    async fn day_counts(&self, tenant: &TenantId, day: &Day) -> Result<FeedbackCounts, StoreError>;
}
