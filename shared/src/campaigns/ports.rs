//! The engine's own narrow ports. Like those in `crate::ports`, each has an AWS adapter
//! (`crate::aws`) and an in-memory adapter (`crate::testing`), and no SDK type crosses them.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::definition::AudienceLocation;
use crate::domain::{CampaignId, CustomerId, TenantId};
use crate::error::StoreError;

/// The retailer's customer export, read in byte ranges so that chunks can be processed apart and
/// memory stays flat in the audience size.
#[async_trait]
pub trait AudienceSource: Send + Sync {
    async fn object_size(&self, location: &AudienceLocation) -> Result<u64, StoreError>;
    /// The bytes from `start` up to `end_exclusive` (cut at the end of the object).
    async fn read_range(
        &self,
        location: &AudienceLocation,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError>;
}

/// The tenant's suppression list, asked in bulk for one group of rows.
#[async_trait]
pub trait SuppressionCheck: Send + Sync {
    /// The given addresses (normalised with [`crate::domain::normalise_address`]) that are on the
    /// tenant's suppression list.
    async fn suppressed(
        &self,
        tenant: &TenantId,
        addresses: &[String],
    ) -> Result<HashSet<String>, StoreError>;
}

/// Which items are likely in stock, so that offers do not point at sold-out items.
#[async_trait]
pub trait Availability: Send + Sync {
    async fn likely_in_stock(
        &self,
        tenant: &TenantId,
        item_ids: &[String],
    ) -> Result<HashSet<String>, StoreError>;
}

/// The only availability adapter so far: every item counts as in stock. Item-availability
/// scores land in a later issue; until then offers are ranked by the export's scores alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumeAvailable;

#[async_trait]
impl Availability for AssumeAvailable {
    async fn likely_in_stock(
        &self,
        _tenant: &TenantId,
        item_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        Ok(item_ids.iter().cloned().collect())
    }
}

/// Who the tenant's campaigns contacted when: what the frequency cap counts.
#[async_trait]
pub trait ContactHistory: Send + Sync {
    /// Per customer, how many of the tenant's campaigns other than `excluding` contacted them
    /// at or after `since`. Customers without such contacts may be missing from the answer.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customers: &[CustomerId],
        since: OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<CustomerId, u32>, StoreError>;

    /// Records that `campaign` contacted `customers` at `at`. Idempotent per (customer,
    /// campaign): recording again replaces the time, so a re-run chunk never counts twice.
    async fn record_contacts(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        customers: &[CustomerId],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
