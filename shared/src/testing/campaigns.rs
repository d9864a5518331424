//! Audience exports and contact history (the frequency cap's: the engine's read, delivery's
//! takes) in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::deliverability::frequency_cap::{
    ContactLedger, ContactScope, ContactTake, window_start,
};
use crate::domain::{CampaignId, Channel, CustomerId, FrequencyCap, TenantId};
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

type ContactKey = (TenantId, Channel, CustomerId);

#[derive(Default)]
struct ContactState {
    /// Per tenant, channel and customer: campaign → contact time (epoch seconds), as the table
    /// keeps it.
    contacts: HashMap<ContactKey, HashMap<CampaignId, i64>>,
    reads: u64,
    takes: u64,
    releases: u64,
    unavailable: bool,
}

/// Contact history in memory, with the DynamoDB adapter's semantics (one entry per customer,
/// channel and campaign, pruned past the longest window; a take checks and records under one
/// lock, as the adapter's conditional write does); counts calls so tests can check that tenants
/// without a cap never touch it.
#[derive(Default)]
pub struct MemoryContactHistory {
    state: Mutex<ContactState>,
}

impl MemoryContactHistory {
    /// (recent_contacts calls, take_contacts and release_contacts calls).
    pub fn calls(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.reads, state.takes + state.releases)
    }

    /// (take_contacts calls, release_contacts calls).
    pub fn ledger_calls(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.takes, state.releases)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// Records a contact directly (as a delivery's take would, without its check): for tests
    /// that start from a history.
    pub fn record(
        &self,
        tenant: &TenantId,
        channel: Channel,
        campaign: &CampaignId,
        customer: &CustomerId,
        at: time::OffsetDateTime,
    ) {
        lock(&self.state)
            .contacts
            .entry((tenant.clone(), channel, customer.clone()))
            .or_default()
            .insert(campaign.clone(), at.unix_timestamp());
    }

    /// The campaigns recorded for one customer of a tenant on a channel.
    pub fn campaigns_of(
        &self,
        tenant: &TenantId,
        channel: Channel,
        customer: &CustomerId,
    ) -> Vec<CampaignId> {
        let state = lock(&self.state);
        let mut campaigns: Vec<CampaignId> = state
            .contacts
            .get(&(tenant.clone(), channel, customer.clone()))
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        campaigns.sort();
        campaigns
    }

    /// Every (customer, campaign) contact of a tenant on a channel.
    pub fn contacts_of(&self, tenant: &TenantId, channel: Channel) -> usize {
        lock(&self.state)
            .contacts
            .iter()
            .filter(|((t, c, _), _)| t == tenant && *c == channel)
            .map(|(_, campaigns)| campaigns.len())
            .sum()
    }

    fn outage() -> StoreError {
        StoreError::Unavailable {
            store: "contact history",
            source: Message::boxed("injected outage"),
        }
    }

    fn check(state: &ContactState) -> Result<(), StoreError> {
        if state.unavailable {
            return Err(Self::outage());
        }
        Ok(())
    }
}

#[async_trait]
impl crate::campaigns::ContactHistory for MemoryContactHistory {
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        channel: Channel,
        customers: &[CustomerId],
        since: time::OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<CustomerId, u32>, StoreError> {
        let mut state = lock(&self.state);
        state.reads += 1;
        Self::check(&state)?;
        let since = since.unix_timestamp();
        let mut counts = HashMap::new();
        for customer in customers {
            let key = (tenant.clone(), channel, customer.clone());
            let Some(campaigns) = state.contacts.get(&key) else {
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
}

#[async_trait]
impl ContactLedger for MemoryContactHistory {
    async fn take_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
        cap: FrequencyCap,
        now: time::OffsetDateTime,
    ) -> Vec<Result<ContactTake, StoreError>> {
        let mut state = lock(&self.state);
        state.takes += 1;
        if state.unavailable {
            return customers.iter().map(|_| Err(Self::outage())).collect();
        }
        let since = window_start(cap, now).unix_timestamp();
        let horizon = (now
            - time::Duration::days(i64::from(crate::domain::MAX_FREQUENCY_CAP_WINDOW_DAYS)))
        .unix_timestamp();
        customers
            .iter()
            .map(|customer| {
                // Counted as the DynamoDB adapter's calls: a consistent read of the customer's
                // contacts, and a write when it takes one.
                crate::costs::record_dynamodb_read(1.0);
                let key = (scope.tenant.clone(), scope.channel, customer.clone());
                let campaigns = state.contacts.entry(key).or_default();
                if campaigns.contains_key(scope.campaign) {
                    return Ok(ContactTake::AlreadyHeld);
                }
                let others = campaigns
                    .iter()
                    .filter(|(campaign, at)| *campaign != scope.campaign && **at >= since)
                    .count();
                if others >= cap.max_messages as usize {
                    return Ok(ContactTake::Refused);
                }
                crate::costs::record_dynamodb_write(1.0);
                campaigns.insert(scope.campaign.clone(), now.unix_timestamp());
                campaigns.retain(|_, contacted| *contacted >= horizon);
                Ok(ContactTake::Taken)
            })
            .collect()
    }

    async fn release_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.releases += 1;
        Self::check(&state)?;
        for customer in customers {
            crate::costs::record_dynamodb_write(1.0);
            let key = (scope.tenant.clone(), scope.channel, customer.clone());
            if let Some(campaigns) = state.contacts.get_mut(&key) {
                campaigns.remove(scope.campaign);
            }
        }
        Ok(())
    }
}
