//! The parked counts in memory: a marker per parked batch (and park generation) and a tally per
//! campaign, changed together, as the delivery table's transaction does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::{BatchId, CampaignId, SendBatch, TenantId};
use crate::error::{Message, StoreError};
use crate::pipeline::parked::{ParkedCounts, ParkedTally};

type Campaign = (TenantId, CampaignId);

#[derive(Default)]
struct State {
    /// One per parked object: the batch and its park generation.
    markers: BTreeSet<(Campaign, BatchId, u32)>,
    tallies: BTreeMap<Campaign, ParkedTally>,
    /// Counts and uncounts that changed something, in order.
    changes: u64,
    /// Of those, the counts (parks) and the uncounts (redrives).
    parks: u64,
    unparks: u64,
    unavailable: bool,
}

#[derive(Default)]
pub struct MemoryParkedCounts {
    state: Mutex<State>,
}

impl MemoryParkedCounts {
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// How many counts and uncounts changed a tally.
    pub fn changes(&self) -> u64 {
        lock(&self.state).changes
    }

    /// How many parks were counted (each batch and park generation once).
    pub fn parks(&self) -> u64 {
        lock(&self.state).parks
    }

    /// How many parks a redrive uncounted (batches put back and removed).
    pub fn unparks(&self) -> u64 {
        lock(&self.state).unparks
    }

    fn change(&self, batch: &SendBatch, park: bool) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "delivery table",
                source: Message::boxed("injected outage"),
            });
        }
        let campaign = (
            batch.group.tenant_id.clone(),
            batch.group.campaign_id.clone(),
        );
        let marker = (campaign.clone(), batch.batch_id.clone(), batch.redrive);
        let changed = match park {
            true => state.markers.insert(marker),
            false => state.markers.remove(&marker),
        };
        if changed {
            state.changes += 1;
            match park {
                true => state.parks += 1,
                false => state.unparks += 1,
            }
            let tally = state.tallies.entry(campaign).or_default();
            let recipients = batch.recipients.len() as u64;
            if park {
                tally.batches += 1;
                tally.recipients += recipients;
            } else {
                tally.batches -= 1;
                tally.recipients -= recipients;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ParkedCounts for MemoryParkedCounts {
    async fn count_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.change(batch, true)
    }

    async fn uncount_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.change(batch, false)
    }

    async fn campaign_parked(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<ParkedTally, StoreError> {
        let state = lock(&self.state);
        let key = (tenant.clone(), campaign.clone());
        Ok(state.tallies.get(&key).copied().unwrap_or_default())
    }
}
