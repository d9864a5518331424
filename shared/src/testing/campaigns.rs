//! Audience exports and contact history in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::domain::{CampaignId, TenantId};
use crate::error::{Message, StoreError};

/// Audience exports kept in memory; every read is recorded, so tests can check what a chunk
/// fetched.
#[derive(Default)]
pub struct MemoryAudienceSource {
    objects: Mutex<HashMap<crate::campaigns::AudienceLocation, std::sync::Arc<Vec<u8>>>>,
    reads: Mutex<Vec<std::ops::Range<u64>>>,
}

impl MemoryAudienceSource {
    pub fn put(&self, location: &crate::campaigns::AudienceLocation, bytes: Vec<u8>) {
        lock(&self.objects).insert(location.clone(), std::sync::Arc::new(bytes));
    }

    pub fn reads(&self) -> Vec<std::ops::Range<u64>> {
        lock(&self.reads).clone()
    }

    fn object(
        &self,
        location: &crate::campaigns::AudienceLocation,
    ) -> Result<std::sync::Arc<Vec<u8>>, StoreError> {
        lock(&self.objects)
            .get(location)
            .cloned()
            .ok_or_else(|| StoreError::Rejected {
                store: "audience export",
                source: Message::boxed(format!("no object {}/{}", location.bucket, location.key)),
            })
    }
}

#[async_trait]
impl crate::campaigns::AudienceSource for MemoryAudienceSource {
    async fn object_size(
        &self,
        location: &crate::campaigns::AudienceLocation,
    ) -> Result<u64, StoreError> {
        Ok(self.object(location)?.len() as u64)
    }

    async fn read_range(
        &self,
        location: &crate::campaigns::AudienceLocation,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let object = self.object(location)?;
        let end = (end_exclusive as usize).min(object.len());
        let start = (start as usize).min(end);
        lock(&self.reads).push(start as u64..end as u64);
        Ok(object[start..end].to_vec())
    }
}

type ContactKey = (TenantId, crate::domain::CustomerId);

#[derive(Default)]
struct ContactState {
    /// Per tenant and customer: campaign → contact time (epoch seconds), as the table keeps it.
    contacts: HashMap<ContactKey, HashMap<CampaignId, i64>>,
    reads: u64,
    writes: u64,
    unavailable: bool,
}

/// Contact history in memory, with the DynamoDB adapter's semantics (one entry per customer and
/// campaign, pruned past the longest window); counts calls so tests can check that launches
/// without a cap never touch it.
#[derive(Default)]
pub struct MemoryContactHistory {
    state: Mutex<ContactState>,
}

impl MemoryContactHistory {
    /// (recent_contacts calls, record_contacts calls).
    pub fn calls(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.reads, state.writes)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// The campaigns recorded for one customer of a tenant.
    pub fn campaigns_of(
        &self,
        tenant: &TenantId,
        customer: &crate::domain::CustomerId,
    ) -> Vec<CampaignId> {
        let state = lock(&self.state);
        let mut campaigns: Vec<CampaignId> = state
            .contacts
            .get(&(tenant.clone(), customer.clone()))
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        campaigns.sort();
        campaigns
    }

    fn check(state: &ContactState) -> Result<(), StoreError> {
        if state.unavailable {
            return Err(StoreError::Unavailable {
                store: "contact history",
                source: Message::boxed("injected outage"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl crate::campaigns::ContactHistory for MemoryContactHistory {
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customers: &[crate::domain::CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<crate::domain::CustomerId, u32>, StoreError> {
        let mut state = lock(&self.state);
        state.reads += 1;
        Self::check(&state)?;
        let since = since.unix_timestamp();
        let mut counts = HashMap::new();
        for customer in customers {
            let Some(campaigns) = state.contacts.get(&(tenant.clone(), customer.clone())) else {
                continue;
            };
            let count = campaigns
                .iter()
                .filter(|(campaign, at)| *campaign != excluding && **at >= since)
                .count() as u32;
            if count > 0 {
                counts.insert(customer.clone(), count);
            }
        }
        Ok(counts)
    }

    async fn record_contacts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customers: &[crate::domain::CustomerId],
        at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.writes += 1;
        Self::check(&state)?;
        let horizon = (at
            - time::Duration::days(i64::from(crate::domain::MAX_FREQUENCY_CAP_WINDOW_DAYS)))
        .unix_timestamp();
        for customer in customers {
            let campaigns = state
                .contacts
                .entry((tenant.clone(), customer.clone()))
                .or_default();
            campaigns.insert(campaign.clone(), at.unix_timestamp());
            campaigns.retain(|_, contacted| *contacted >= horizon);
        }
        Ok(())
    }
}
