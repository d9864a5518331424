//! The email channel's provider port: one raw MIME message to one address, in one tenant's
//! workspace.

use async_trait::async_trait;

#[cfg(feature = "unsubscribe")]
use crate::deliverability::unsubscribe::{LinkFor, UnsubscribeSigner};
#[cfg(feature = "unsubscribe")]
use crate::domain::{CampaignId, TenantWorkspace, VariantId, normalise_address};
use crate::error::SendError;

/// One email ready for the provider, routed to exactly one tenant's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    pub configuration_set: String,
    pub ses_tenant: String,
    pub from_address: String,
    pub to_address: String,
    pub raw_mime: Vec<u8>,
    pub tags: Vec<(String, String)>,
}

#[async_trait]
pub trait EmailProvider: Send + Sync {
    /// Answers the provider's message id.
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError>;
}

/// The per-recipient one-click unsubscribe link, the same in delivery and in previews:
/// `<workspace's unsubscribe base>/<signed token>`, the base being the API's public
/// `/unsubscribe/{tenant}` route. `None` when the address is too long to be signed (it could
/// not be sent to either).
#[cfg(feature = "unsubscribe")]
pub fn unsubscribe_url(
    workspace: &TenantWorkspace,
    signer: &UnsubscribeSigner,
    campaign: &CampaignId,
    variant: &VariantId,
    address: &str,
    issued_at: i64,
) -> Option<String> {
    let token = signer.sign(&LinkFor {
        tenant: &workspace.tenant_id,
        campaign,
        variant,
        address: &normalise_address(address),
        issued_at,
    })?;
    Some(format!(
        "{}/{token}",
        workspace.unsubscribe_base_url.trim_end_matches('/')
    ))
}
