//! Domain types and the versioned message contracts between the functions.
//!
//! Identifiers are newtypes parsed at the edge: a value of `TenantId` has been checked once and
//! travels explicitly into every key, span and call after that.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::render::value::RenderValue;

/// The provider's batch size: SES bulk sends and our delivery batches carry at most this many
/// recipients.
pub const PROVIDER_BATCH_SIZE: usize = 50;

/// Version of the `campaign-event` and `send-batch` contracts this build writes. Readers accept
/// every version up to this one.
pub const CONTRACT_VERSION: u16 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                validate_identifier(&value, $kind, $max)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Identifiers become parts of DynamoDB keys (joined with `#`), S3 keys and SES tag values, so
/// they are restricted to characters that are safe in all three.
fn validate_identifier(value: &str, kind: &'static str, max: usize) -> Result<(), InvalidId> {
    if value.is_empty() {
        return Err(InvalidId {
            kind,
            reason: "empty",
        });
    }
    if value.len() > max {
        return Err(InvalidId {
            kind,
            reason: "too long",
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(InvalidId {
            kind,
            reason: "only ASCII letters, digits, '-', '_' and '.' are allowed",
        });
    }
    Ok(())
}

identifier!(
    /// A retailer on the platform.
    TenantId,
    "tenant id",
    64
);
identifier!(CampaignId, "campaign id", 64);
identifier!(VariantId, "variant id", 32);
identifier!(TemplateId, "template id", 64);
identifier!(CustomerId, "customer id", 128);
identifier!(
    /// Deterministic per tenant + campaign + customer + channel: see [`MessageId::derive`].
    MessageId,
    "message id",
    64
);
identifier!(BatchId, "batch id", 64);

impl MessageId {
    /// The idempotency key of one message: the same customer in the same campaign on the same
    /// channel always gets the same id, however often the campaign event is redelivered.
    pub fn derive(
        tenant: &TenantId,
        campaign: &CampaignId,
        customer: &CustomerId,
        channel: Channel,
    ) -> Self {
        let mut hasher = Sha256::new();
        for part in [
            tenant.as_str(),
            campaign.as_str(),
            customer.as_str(),
            channel.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        let digest = hasher.finalize();
        Self(hex(&digest[..16]))
    }
}

impl BatchId {
    /// A batch is identified by its content: the same recipients of the same group get the same
    /// id, so a rebatch that is retried writes a batch the delivery side recognises.
    pub fn derive(group: &BatchGroup, message_ids: &[&MessageId]) -> Self {
        let mut hasher = Sha256::new();
        for part in [
            group.tenant_id.as_str(),
            group.campaign_id.as_str(),
            group.variant.as_str(),
            group.channel.as_str(),
            group.template.id.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        hasher.update(group.template.version.to_be_bytes());
        for id in message_ids {
            hasher.update(id.as_str().as_bytes());
            hasher.update([0u8]);
        }
        Self(hex(&hasher.finalize()[..12]))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published, immutable version of one of the tenant's templates, or, with version
/// [`TemplateRef::LIVE`] (0), whichever version is live when the message is delivered.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct TemplateRef {
    pub id: TemplateId,
    pub version: u32,
}

impl TemplateRef {
    /// The version number that means "the live version": published versions start at 1.
    pub const LIVE: u32 = 0;

    /// A reference that follows the template's live pointer.
    pub fn live(id: TemplateId) -> Self {
        Self {
            id,
            version: Self::LIVE,
        }
    }

    pub fn is_live(&self) -> bool {
        self.version == Self::LIVE
    }
}

/// An item offered to a customer. Prices are for display only (the shop is the source of truth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub item_id: String,
    pub title: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<f64>,
    pub currency: String,
    /// Parsed once when the event is read, so templates' `date` filter never parses strings.
    #[serde(
        default,
        with = "time::serde::iso8601::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<time::OffsetDateTime>,
}

/// The customer as the campaign saw them. `fields` are the retailer's own attributes
/// (`first_name`, `loyalty_tier`, ...), passed to templates as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    #[serde(default)]
    pub fields: RenderValue,
}

/// Contract `campaign-event` (stream: campaign events): one per matched customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignEvent {
    pub contract_version: u16,
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub variant: VariantId,
    pub channel: Channel,
    pub template: TemplateRef,
    pub message_id: MessageId,
    pub customer: Customer,
    #[serde(default)]
    pub offers: Vec<Offer>,
}

impl CampaignEvent {
    pub fn group(&self) -> BatchGroup {
        BatchGroup {
            tenant_id: self.tenant_id.clone(),
            campaign_id: self.campaign_id.clone(),
            variant: self.variant.clone(),
            channel: self.channel,
            template: self.template.clone(),
        }
    }

    pub fn into_recipient(self) -> Recipient {
        Recipient {
            message_id: self.message_id,
            customer: self.customer,
            offers: self.offers,
        }
    }
}

/// What every recipient of one send batch shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BatchGroup {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub variant: VariantId,
    pub channel: Channel,
    pub template: TemplateRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub message_id: MessageId,
    pub customer: Customer,
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// Contract `send-batch` (stream: send batches): at most [`PROVIDER_BATCH_SIZE`] recipients of
/// one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendBatch {
    pub contract_version: u16,
    pub batch_id: BatchId,
    #[serde(flatten)]
    pub group: BatchGroup,
    pub recipients: Vec<Recipient>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TenantStatus {
    Active,
    /// Sending paused by the retailer or an operator: batches are parked until reinstated.
    Paused,
    /// Suspended by the platform (abuse, reputation): batches are parked.
    Suspended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CampaignStatus {
    Active,
    Paused,
    Cancelled,
}

/// A retailer's isolated sending workspace: every message of that retailer goes out with these
/// and no other settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantWorkspace {
    pub tenant_id: TenantId,
    pub slug: String,
    pub display_name: String,
    pub configuration_set: String,
    pub ses_tenant: String,
    pub from_address: String,
    pub status: TenantStatus,
    /// Base of the per-recipient one-click unsubscribe link.
    pub unsubscribe_base_url: String,
    /// The retailer's own settings: brand variables, time zone, quiet hours, frequency cap.
    #[serde(default)]
    pub settings: TenantSettings,
}

/// What a retailer configures about its sending, beyond the workspace's routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantSettings {
    /// IANA time zone (`Europe/Paris`): scheduled sends and quiet hours are in local time.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// No marketing sends between these local hours; held until the window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// No more than this many marketing messages per customer in a rolling window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<FrequencyCap>,
    /// Dedicated IP pool (SES sending pool) the retailer's configuration set uses, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_pool: Option<String>,
    /// Brand variables (logo, colours, postal address...) every template sees as `brand.*`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub brand: serde_json::Map<String, serde_json::Value>,
}

fn default_timezone() -> String {
    "UTC".to_string()
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            timezone: default_timezone(),
            quiet_hours: None,
            frequency_cap: None,
            sending_pool: None,
            brand: serde_json::Map::new(),
        }
    }
}

/// Local hours `[start_hour, end_hour)` with no sends; the window may wrap past midnight
/// (`21` to `8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuietHours {
    pub start_hour: u8,
    pub end_hour: u8,
}

/// The longest frequency-cap window a retailer may set; contact history older than this is
/// pruned.
pub const MAX_FREQUENCY_CAP_WINDOW_DAYS: u32 = 90;

/// At most `max_messages` marketing messages per customer within `window_days`, per retailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FrequencyCap {
    pub max_messages: u32,
    pub window_days: u32,
}

impl TenantWorkspace {
    /// The from-address every retailer gets under the centrally verified sending domain.
    pub fn from_address_for(slug: &str, sending_domain: &str) -> String {
        format!("{slug}@{sending_domain}")
    }
}

/// One published template version: the retailer's variable values are already merged over the
/// template's defaults when it is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateVersion {
    pub tenant_id: TenantId,
    pub template: TemplateRef,
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_body: Option<String>,
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// The variables the template declares (types, defaults): what a retailer's values are
    /// checked against when they change them. Empty for versions published before the catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema: Vec<crate::templates::VariableSpec>,
    /// The retailer's own values (`variables` = the schema's defaults with these over them).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub overrides: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reject_key_separators_and_empty_values() {
        assert!(TenantId::parse("acme-outdoor").is_ok());
        assert_eq!(
            TenantId::parse("").unwrap_err().reason,
            "empty",
            "an empty tenant id must never reach a key"
        );
        assert!(TenantId::parse("a#b").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(CampaignId::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn message_id_is_stable_and_separates_its_parts() {
        let t = TenantId::parse("t1").unwrap();
        let c = CampaignId::parse("c1").unwrap();
        let a = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Email);
        let b = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Email);
        let push = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Push);
        assert_eq!(a, b);
        assert_ne!(a, push);
        let shifted = MessageId::derive(
            &TenantId::parse("t1c").unwrap(),
            &CampaignId::parse("1").unwrap(),
            &CustomerId::parse("u1").unwrap(),
            Channel::Email,
        );
        assert_ne!(a, shifted, "parts are separated, not concatenated");
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn campaign_event_contract_round_trips_with_dates_parsed() {
        let json = r#"{"contract_version":1,"tenant_id":"t1","campaign_id":"c1","variant":"A",
            "channel":"email","template":{"id":"welcome","version":3},"message_id":"m1",
            "customer":{"id":"u1","email":"a@example.com","fields":{"first_name":"Ann"}},
            "offers":[{"item_id":"i1","title":"Tent","url":"https://x/i1","price":10.5,
            "currency":"EUR","valid_until":"2026-12-01T00:00:00Z"}]}"#;
        let event: CampaignEvent = serde_json::from_str(json).unwrap();
        assert_eq!(event.offers[0].valid_until.unwrap().year(), 2026);
        let again: CampaignEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn unknown_identifier_in_contract_is_a_clear_error() {
        let json = r#"{"contract_version":1,"tenant_id":"t#1","campaign_id":"c1","variant":"A",
            "channel":"email","template":{"id":"w","version":1},"message_id":"m1",
            "customer":{"id":"u1"}}"#;
        let err = serde_json::from_str::<CampaignEvent>(json).unwrap_err();
        assert!(err.to_string().contains("invalid tenant id"), "{err}");
    }
}
