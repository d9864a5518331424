//! The feedback counters in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::deliverability::counters::{
    CounterKey, Day, FeedbackCounters, FeedbackCounts, FeedbackKind,
};
use crate::domain::{CampaignId, TenantId};
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
