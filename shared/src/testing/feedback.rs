//! The feedback log and its counters in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::deliverability::counters::{
    CounterKey, Day, FeedbackCounters, FeedbackCounts, FeedbackKind,
};
use crate::deliverability::feedback::{FeedbackLog, FeedbackRecord, MessageFeedback, Recorded};
use crate::domain::{CampaignId, MessageId, TenantId};
use crate::error::StoreError;

#[derive(Default)]
struct CountersState {
    campaigns: HashMap<(TenantId, CampaignId), BTreeMap<String, FeedbackCounts>>,
    days: HashMap<(TenantId, Day), FeedbackCounts>,
}

#[derive(Default)]
pub struct MemoryFeedbackCounters {
    state: Mutex<CountersState>,
}

impl MemoryFeedbackCounters {
    /// Sets a tenant's day outright, as synthetic feedback for the warm-up.
    pub fn set_day(&self, tenant: &TenantId, day: &Day, counts: FeedbackCounts) {
        lock(&self.state)
            .days
            .insert((tenant.clone(), day.clone()), counts);
    }
}

#[async_trait]
impl FeedbackCounters for MemoryFeedbackCounters {
    async fn increment(&self, key: &CounterKey, kind: FeedbackKind) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state
            .campaigns
            .entry((key.tenant.clone(), key.campaign.clone()))
            .or_default()
            .entry(key.variant.clone())
            .or_default()
            .add(kind, 1);
        state
            .days
            .entry((key.tenant.clone(), key.day.clone()))
            .or_default()
            .add(kind, 1);
        Ok(())
    }

    async fn campaign_counts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<Vec<(String, FeedbackCounts)>, StoreError> {
        Ok(lock(&self.state)
            .campaigns
            .get(&(tenant.clone(), campaign.clone()))
            .map(|variants| variants.iter().map(|(v, c)| (v.clone(), *c)).collect())
            .unwrap_or_default())
    }

    async fn day_counts(&self, tenant: &TenantId, day: &Day) -> Result<FeedbackCounts, StoreError> {
        Ok(lock(&self.state)
            .days
            .get(&(tenant.clone(), day.clone()))
            .copied()
            .unwrap_or_default())
    }
}

/// The feedback log in memory, beside a [`super::MemorySendLog`] whose claims say which
/// messages exist; it counts into a [`MemoryFeedbackCounters`].
pub struct MemoryFeedbackLog {
    send_log: std::sync::Arc<super::MemorySendLog>,
    counters: std::sync::Arc<MemoryFeedbackCounters>,
    state: Mutex<FeedbackState>,
}

/// A message's feedback by kind: the first time and its detail.
type KindsOf = BTreeMap<FeedbackKind, (i64, Option<String>)>;

#[derive(Default)]
struct FeedbackState {
    records: HashMap<(TenantId, CampaignId, MessageId), KindsOf>,
    soft_bounces: HashMap<(TenantId, String), BTreeMap<MessageId, i64>>,
}

impl MemoryFeedbackLog {
    pub fn new(
        send_log: std::sync::Arc<super::MemorySendLog>,
        counters: std::sync::Arc<MemoryFeedbackCounters>,
    ) -> Self {
        Self {
            send_log,
            counters,
            state: Mutex::default(),
        }
    }
}

#[async_trait]
impl FeedbackLog for MemoryFeedbackLog {
    async fn record(&self, record: &FeedbackRecord) -> Result<Recorded, StoreError> {
        use crate::pipeline::send_log::SendLog as _;
        let claim = self
            .send_log
            .message_claim(&record.tenant, &record.campaign, &record.message)
            .await?;
        if claim.is_none() {
            return Ok(Recorded::UnknownMessage);
        }
        {
            let mut state = lock(&self.state);
            let kinds = state
                .records
                .entry((
                    record.tenant.clone(),
                    record.campaign.clone(),
                    record.message.clone(),
                ))
                .or_default();
            if kinds.contains_key(&record.kind) {
                return Ok(Recorded::Again);
            }
            kinds.insert(record.kind, (record.at, record.detail.clone()));
        }
        self.counters
            .increment(&record.counter_key(), record.kind)
            .await?;
        Ok(Recorded::First)
    }

    async fn message_feedback(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageFeedback>, StoreError> {
        Ok(lock(&self.state)
            .records
            .get(&(tenant.clone(), campaign.clone(), message.clone()))
            .map(|kinds| MessageFeedback {
                events: kinds
                    .iter()
                    .map(|(kind, (at, detail))| (*kind, *at, detail.clone()))
                    .collect(),
            }))
    }

    async fn soft_bounces(
        &self,
        tenant: &TenantId,
        address: &str,
        message: &MessageId,
        at: i64,
        since: i64,
    ) -> Result<u32, StoreError> {
        let mut state = lock(&self.state);
        let bounces = state
            .soft_bounces
            .entry((tenant.clone(), address.to_string()))
            .or_default();
        bounces.insert(message.clone(), at);
        Ok(bounces.values().filter(|at| **at >= since).count() as u32)
    }
}
