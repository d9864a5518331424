//! The email channel's provider port: one raw MIME message to one address, in one tenant's
//! workspace.

use async_trait::async_trait;

use crate::domain::{CampaignId, MessageId, TenantWorkspace};
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

/// The per-recipient one-click unsubscribe link: the same in delivery and in previews.
pub fn unsubscribe_url(
    workspace: &TenantWorkspace,
    campaign: &CampaignId,
    message: &MessageId,
) -> String {
    format!(
        "{}?t={}&c={}&m={}",
        workspace.unsubscribe_base_url, workspace.tenant_id, campaign, message
    )
}
