//! The versioned message contracts between the functions: `campaign-event` and `send-batch`;
//! and `items-shown`, which the retailers' search services write.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    BatchId, CampaignId, CustomerId, FieldValue, ItemId, MAX_DEVICES_PER_CUSTOMER, MessageId,
    PushDevice, StoreId, TemplateId, TenantId, VariantId,
};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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
    /// A device token without its platform (the contract's first form; see
    /// [`PushDevice::inferred`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    /// The customer's devices, each with its platform: a push goes to every one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push_tokens: Vec<PushDevice>,
    #[serde(default)]
    pub fields: FieldValue,
}

impl Customer {
    /// Every device a push goes to: `push_tokens`, then `push_token` when it is not one of them,
    /// at most [`MAX_DEVICES_PER_CUSTOMER`]; blank tokens are left out.
    pub fn push_devices(&self) -> Vec<PushDevice> {
        let mut devices: Vec<PushDevice> = Vec::with_capacity(self.push_tokens.len() + 1);
        let legacy = self.push_token.as_deref().map(PushDevice::inferred);
        for device in self.push_tokens.iter().cloned().chain(legacy) {
            let blank = device.token.trim().is_empty();
            if !blank && !devices.iter().any(|d| d.token == device.token) {
                devices.push(device);
            }
        }
        devices.truncate(MAX_DEVICES_PER_CUSTOMER);
        devices
    }
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
    /// Set on a batch the send budget deferred with its tenant's share already reserved
    /// (docs/deliverability.md, "Send budgets"): delivery then takes only the account's slots
    /// for it. Never set by rebatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_reservation: Option<ShareReservation>,
    /// How many times a redrive put this batch back from the parked archive: its park
    /// generation. A batch parked again after a redrive is a new parked object (and a new
    /// count), never the one the redrive read and is about to remove; a redelivered record parks
    /// again under the same generation, idempotently. Not part of the batch id. Absent (0) until
    /// the batch is first redriven.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redrive: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl SendBatch {
    /// The batch as a redrive puts it back: the same ids and recipients, one generation on.
    pub fn redriven(&self) -> SendBatch {
        SendBatch {
            redrive: self.redrive.saturating_add(1),
            ..self.clone()
        }
    }
}

/// Where a deferred batch stands in its tenant's share of the send budget: reserved at
/// `reserved_at`, to start at `starts` at the share's rate of then (one send every
/// `interval_us`). When the share has changed since, the start moves in proportion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareReservation {
    /// Epoch milliseconds.
    pub reserved_at: i64,
    /// Epoch milliseconds.
    pub starts: i64,
    pub interval_us: i64,
}

/// The `items-shown` contract version this build writes; it reads 1 up to this.
pub const ITEMS_SHOWN_CONTRACT_VERSION: u16 = 1;
/// A search page shows far fewer; a record naming more is refused as malformed.
pub const MAX_ITEMS_SHOWN: usize = 500;

/// `items-shown` (stream `…-items-shown`, partition key: tenant and store): the items one search
/// result page showed in one store, from which `score-refresh` refreshes stale scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsShown {
    pub contract_version: u16,
    pub tenant_id: TenantId,
    pub store_id: StoreId,
    pub item_ids: Vec<ItemId>,
    #[serde(with = "time::serde::rfc3339")]
    pub shown_at: time::OffsetDateTime,
    /// The searching user, when the search service knows one (not used by the refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
