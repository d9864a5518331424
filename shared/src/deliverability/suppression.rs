//! A retailer's suppression list: addresses that must not be mailed again, each with why and
//! since when. Every operation is scoped to one tenant; no call can reach another's list.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::TenantId;
use crate::error::StoreError;

/// Why an address is on a retailer's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SuppressionReason {
    /// The provider reported a permanent bounce.
    HardBounce,
    /// Transient bounces reached the retailer's limit within its window.
    SoftBounces,
    /// The recipient marked a message as spam.
    Complaint,
    /// The recipient unsubscribed (one-click or the confirmation page).
    Unsubscribed,
    /// Added by the retailer (the API, or a bulk import).
    Manual,
    /// A push token whose endpoint the push provider disabled (app uninstalled, token expired).
    EndpointDisabled,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "HARD_BOUNCE",
            SuppressionReason::SoftBounces => "SOFT_BOUNCES",
            SuppressionReason::Complaint => "COMPLAINT",
            SuppressionReason::Unsubscribed => "UNSUBSCRIBED",
            SuppressionReason::Manual => "MANUAL",
            SuppressionReason::EndpointDisabled => "ENDPOINT_DISABLED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            SuppressionReason::HardBounce,
            SuppressionReason::SoftBounces,
            SuppressionReason::Complaint,
            SuppressionReason::Unsubscribed,
            SuppressionReason::Manual,
            SuppressionReason::EndpointDisabled,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == value)
    }
}

/// One address on a retailer's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct Suppression {
    /// Normalised with [`crate::domain::normalise_address`].
    pub address: String,
    pub reason: SuppressionReason,
    /// Epoch seconds when it was added.
    pub since: i64,
    /// What caused it, when known: the bounce's diagnostic, the campaign unsubscribed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Suppression {
    /// Added by the retailer or an operator (reason `MANUAL`), the address normalised.
    pub fn manual(address: &str, since: i64) -> Self {
        Self {
            address: crate::domain::normalise_address(address),
            reason: SuppressionReason::Manual,
            since,
            detail: None,
        }
    }
}

/// One page of a retailer's list, in address order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SuppressionPage {
    pub entries: Vec<Suppression>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next_after: Option<String>,
}

/// Most entries one page may hold.
pub const MAX_SUPPRESSION_PAGE: usize = 1000;

#[async_trait]
pub trait SuppressionList: Send + Sync {
    /// Adds the address (the first reason stays: a complaint after an unsubscribe keeps
    /// "unsubscribed" and its time). Answers true when it was newly added.
    async fn add(&self, tenant: &TenantId, entry: &Suppression) -> Result<bool, StoreError>;
    /// Answers true when the address was on the list.
    async fn remove(&self, tenant: &TenantId, address: &str) -> Result<bool, StoreError>;
    async fn get(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError>;
    /// At most `limit` entries (capped at [`MAX_SUPPRESSION_PAGE`]) after the address `after`.
    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SuppressionPage, StoreError>;
}
