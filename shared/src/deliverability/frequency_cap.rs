//! The retailer's frequency cap at send time: each recipient about to be sent takes a contact
//! from its customer's contact history, atomically, and only while fewer than `max_messages`
//! OTHER campaigns of the retailer contacted that customer on the same channel within the
//! window. The campaigns engine reads the same history at launch as a cheap pre-filter
//! (`campaigns::ContactHistory`); only delivery records contacts, so a customer counts as
//! contacted when a message is sent, never when an event is emitted.
//!
//! Each channel is capped apart (docs/deliverability.md, "Frequency cap"): an email contact
//! never counts against push, nor the other way round.
//!
//! The DynamoDB adapter is on the tenants table (`aws/dynamodb/contacts.rs`), the in-memory one
//! is `testing::MemoryContactHistory`; delivery's step is `pipeline/deliver/frequency_cap.rs`.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{CampaignId, Channel, CustomerId, FrequencyCap, TenantId};
use crate::error::StoreError;

/// A take whose conditional write lost to a concurrent one is tried again (from the state the
/// failed write returned) at most this many times in all; then it is answered unavailable and
/// the recipient deferred.
pub const CONTACT_TAKE_ATTEMPTS: u32 = 4;

/// Whose contacts one batch takes: one tenant, one channel, one campaign.
#[derive(Debug, Clone, Copy)]
pub struct ContactScope<'a> {
    pub tenant: &'a TenantId,
    pub channel: Channel,
    pub campaign: &'a CampaignId,
}

/// What a take answered for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactTake {
    /// The contact is recorded for this campaign now: the recipient may be sent.
    Taken,
    /// This campaign already held the customer's contact (a redelivery, a retry): the recipient
    /// may be sent, and nothing was counted again.
    AlreadyHeld,
    /// `max_messages` other campaigns contacted the customer within the window: not sent.
    Refused,
}

impl ContactTake {
    pub fn may_send(self) -> bool {
        !matches!(self, ContactTake::Refused)
    }
}

/// The contact history delivery takes from and gives back to.
#[async_trait]
pub trait ContactLedger: Send + Sync {
    /// Takes a contact for each customer (in order; duplicates answer alike), each atomically:
    /// recorded at `now` only if fewer than `cap.max_messages` other campaigns of the scope's
    /// tenant contacted the customer on its channel since `now - cap.window_days`. Idempotent
    /// per (customer, campaign, channel). One answer per customer: a store failure fails only
    /// its customer's take.
    async fn take_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
        cap: FrequencyCap,
        now: OffsetDateTime,
    ) -> Vec<Result<ContactTake, StoreError>>;

    /// Gives back the campaign's contacts of `customers` (taken, and then not sent): removing a
    /// contact that is not there is no error.
    async fn release_contacts(
        &self,
        scope: ContactScope<'_>,
        customers: &[CustomerId],
    ) -> Result<(), StoreError>;
}

/// The start of the cap's window at `now`.
pub fn window_start(cap: FrequencyCap, now: OffsetDateTime) -> OffsetDateTime {
    now - time::Duration::days(i64::from(cap.window_days))
}
