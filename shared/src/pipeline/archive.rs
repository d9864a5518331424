//! Parked batches (kept for a redrive) and dead letters (kept for inspection), and the key layout
//! both archives share.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{CampaignId, SendBatch, TenantId};
use crate::error::StoreError;

/// Why a whole batch was set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedBatch {
    pub reason: String,
    pub parked_at: String,
    pub batch: SendBatch,
}

/// A record that could not be processed at all, with the original payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub source: String,
    pub reason: String,
    pub recorded_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The payload exactly as received (base64 when it is not UTF-8).
    pub payload: String,
    pub payload_encoding: PayloadEncoding,
}

impl DeadLetter {
    /// Keeps the payload byte for byte: as text when it is UTF-8, base64 otherwise.
    pub fn of_payload(
        source: &str,
        reason: &str,
        tenant_id: Option<String>,
        payload: &[u8],
    ) -> Self {
        use base64::Engine as _;
        let (payload, payload_encoding) = match std::str::from_utf8(payload) {
            Ok(text) => (text.to_string(), PayloadEncoding::Utf8),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(payload),
                PayloadEncoding::Base64,
            ),
        };
        Self {
            source: source.to_string(),
            reason: reason.to_string(),
            recorded_at: crate::clock::now_rfc3339(),
            tenant_id,
            payload,
            payload_encoding,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadEncoding {
    Utf8,
    Base64,
}

/// Parked batches (kept for a later redrive) and dead letters (kept for inspection).
#[async_trait]
pub trait Archive: Send + Sync {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError>;
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    /// Parked batches of a tenant, optionally of one campaign only, with their keys.
    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError>;
    async fn remove_parked(&self, key: &str) -> Result<(), StoreError>;
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;
}

pub mod keys {
    //! Keys shared by the AWS and in-memory archives, so both lay data out the same way.
    use crate::domain::{BatchId, CampaignId, TenantId};

    pub fn parked_prefix(tenant: &TenantId, campaign: Option<&CampaignId>) -> String {
        match campaign {
            Some(campaign) => format!("parked/{tenant}/{campaign}/"),
            None => format!("parked/{tenant}/"),
        }
    }

    pub fn parked(tenant: &TenantId, campaign: &CampaignId, batch: &BatchId) -> String {
        format!("parked/{tenant}/{campaign}/{batch}.json")
    }

    pub fn dead_letter(source: &str, tenant: Option<&str>, id: &str) -> String {
        format!(
            "dead-letter/{source}/{}/{id}.json",
            tenant.unwrap_or("_unknown")
        )
    }
}
