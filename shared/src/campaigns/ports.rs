//! The engine's own narrow ports. Like those in `crate::ports`, each has an AWS adapter
//! (`crate::aws`) and an in-memory adapter (`crate::testing`), and no SDK type crosses them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::definition::AudienceLocation;
use crate::domain::{CampaignId, Channel, CustomerId, StoreId, TenantId};
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

/// An item offered to some shopper of the store, with its product category (the export's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockItem<'a> {
    pub item_id: &'a str,
    pub category: Option<&'a str>,
}

/// A customer who shops at the store, with what their decision may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shopper<'a> {
    pub customer: &'a CustomerId,
    pub region: Option<&'a str>,
}

/// The shoppers of one store in a group of rows, and every item offered to any of them.
#[derive(Debug, Clone, Copy)]
pub struct StockQuery<'a> {
    pub store: &'a StoreId,
    pub items: &'a [StockItem<'a>],
    pub shoppers: &'a [Shopper<'a>],
}

/// Which items are likely in stock, so that offers do not point at sold-out items. Asked once
/// per store of a group of rows; customers without a store are not asked about (their offers
/// are not filtered).
#[async_trait]
pub trait Availability: Send + Sync {
    /// Per shopper, in `query.shoppers`' order, the ids of `query.items` likely in stock at the
    /// store for them. Shoppers decided alike may share one set.
    async fn likely_in_stock(
        &self,
        tenant: &TenantId,
        query: &StockQuery<'_>,
    ) -> Result<Vec<Arc<HashSet<String>>>, StoreError>;
}

/// Every item counts as in stock: for retailers without availability scores and for tests
/// that are not about availability (`availability::offers::StockFilter` is the real one).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumeAvailable;

#[async_trait]
impl Availability for AssumeAvailable {
    async fn likely_in_stock(
        &self,
        _tenant: &TenantId,
        query: &StockQuery<'_>,
    ) -> Result<Vec<Arc<HashSet<String>>>, StoreError> {
        let every_item: Arc<HashSet<String>> =
            Arc::new(query.items.iter().map(|i| i.item_id.to_string()).collect());
        Ok(vec![every_item; query.shoppers.len()])
    }
}

/// Who the tenant's campaigns contacted when, per channel: what the frequency cap counts. The
/// engine only reads it (a launch-time pre-filter); delivery records a contact when it sends
/// (`deliverability::frequency_cap::ContactLedger`, on the same history).
#[async_trait]
pub trait ContactHistory: Send + Sync {
    /// Per customer, how many of the tenant's campaigns other than `excluding` contacted them
    /// on `channel` at or after `since`. Customers without such contacts may be missing from
    /// the answer.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        channel: Channel,
        customers: &[CustomerId],
        since: OffsetDateTime,
        excluding: &CampaignId,
    ) -> Result<HashMap<CustomerId, u32>, StoreError>;
}
