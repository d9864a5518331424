//! What a campaign launch needs to evaluate its audience: the template, the channel, where the
//! audience is and who in it matches, the variants and their weights, the holdout and the offer
//! slots.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::invalid::{InvalidCampaign, invalid};
use super::rules::SegmentRule;
use crate::domain::{CampaignId, Channel, QuietHoursZone, TemplateRef, TenantId, VariantId};

/// The holdout may take at most this share of the audience, in percent.
pub const MAX_HOLDOUT_PERCENT: f64 = 50.0;
/// A template shows at most this many offers.
pub const MAX_OFFER_SLOTS: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct CampaignDefinition {
    pub tenant_id: TenantId,
    pub campaign_id: CampaignId,
    pub template: TemplateRef,
    pub channel: CampaignChannel,
    pub audience: AudienceDefinition,
    pub variants: Vec<VariantWeight>,
    /// Share of the audience kept as a control group: recorded, never sent. 0 to 50.
    #[serde(default)]
    pub holdout_percent: f64,
    pub offers: OfferSettings,
    /// In whose time zone the retailer's quiet hours are kept: `retailer` (the default) or
    /// `customer` (each recipient's `fields.timezone`, the retailer's when it has none).
    #[serde(default)]
    pub quiet_hours_zone: QuietHoursZone,
}

/// What a campaign sends: email, push, or both. With both, each customer is evaluated once per
/// channel (consent, address, suppression) and gets one event per channel, each with its own
/// message id, so each channel's idempotency, suppression and stats are its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CampaignChannel {
    Email,
    Push,
    Both,
}

impl CampaignChannel {
    pub fn channels(self) -> &'static [Channel] {
        match self {
            CampaignChannel::Email => &[Channel::Email],
            CampaignChannel::Push => &[Channel::Push],
            CampaignChannel::Both => &[Channel::Email, Channel::Push],
        }
    }
}

impl From<Channel> for CampaignChannel {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Email => CampaignChannel::Email,
            Channel::Push => CampaignChannel::Push,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct AudienceDefinition {
    pub source: AudienceLocation,
    /// Every rule must match (an empty list matches everyone).
    #[serde(default)]
    pub rules: Vec<SegmentRule>,
}

/// The retailer's customer export: JSON lines, gzip-compressed when the key ends with `.gz`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct AudienceLocation {
    pub bucket: String,
    pub key: String,
}

impl AudienceLocation {
    /// A gzip stream cannot be entered in the middle, so it is read as one chunk.
    pub fn is_gzip(&self) -> bool {
        self.key.ends_with(".gz")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct VariantWeight {
    pub id: VariantId,
    pub weight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct OfferSettings {
    /// How many offers the template shows: 1 to 12.
    pub slots: usize,
}

impl CampaignDefinition {
    pub fn validate(&self) -> Result<(), InvalidCampaign> {
        if self.variants.is_empty() {
            return Err(invalid("variants", "at least one variant is required"));
        }
        let mut seen = HashSet::new();
        for (index, variant) in self.variants.iter().enumerate() {
            if variant.weight == 0 {
                return Err(invalid(
                    format!("variants[{index}].weight"),
                    "must be greater than 0",
                ));
            }
            if !seen.insert(&variant.id) {
                return Err(invalid(
                    format!("variants[{index}].id"),
                    format!("duplicate variant id {}", variant.id),
                ));
            }
        }
        if !(0.0..=MAX_HOLDOUT_PERCENT).contains(&self.holdout_percent) {
            return Err(invalid(
                "holdout_percent",
                format!("must be between 0 and {MAX_HOLDOUT_PERCENT}"),
            ));
        }
        if !(1..=MAX_OFFER_SLOTS).contains(&self.offers.slots) {
            return Err(invalid(
                "offers.slots",
                format!("must be between 1 and {MAX_OFFER_SLOTS}"),
            ));
        }
        if self.audience.source.bucket.is_empty() {
            return Err(invalid("audience.source.bucket", "must not be empty"));
        }
        if self.audience.source.key.is_empty() {
            return Err(invalid("audience.source.key", "must not be empty"));
        }
        for (index, rule) in self.audience.rules.iter().enumerate() {
            rule.validate(&format!("audience.rules[{index}]"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn campaign_json() -> serde_json::Value {
        serde_json::json!({
            "tenant_id": "alpine",
            "campaign_id": "spring",
            "template": {"id": "weekly", "version": 2},
            "channel": "email",
            "audience": {
                "source": {"bucket": "exports", "key": "alpine/customers.jsonl"},
                "rules": [{"op": "equals", "field": "tier", "value": "gold"}]
            },
            "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 3}],
            "holdout_percent": 10.0,
            "offers": {"slots": 3}
        })
    }

    fn with(change: impl FnOnce(&mut serde_json::Value)) -> InvalidCampaign {
        let mut json = campaign_json();
        change(&mut json);
        let campaign: CampaignDefinition = serde_json::from_value(json).unwrap();
        campaign.validate().unwrap_err()
    }

    #[test]
    fn a_well_formed_campaign_is_valid() {
        let campaign: CampaignDefinition = serde_json::from_value(campaign_json()).unwrap();
        campaign.validate().unwrap();
    }

    #[test]
    fn each_invalid_setting_names_its_field() {
        assert_eq!(
            with(|j| j["variants"] = serde_json::json!([])).field,
            "variants"
        );
        assert_eq!(
            with(|j| j["variants"][1]["weight"] = 0.into()).field,
            "variants[1].weight"
        );
        assert_eq!(
            with(|j| j["variants"][1]["id"] = "A".into()).field,
            "variants[1].id"
        );
        assert_eq!(
            with(|j| j["holdout_percent"] = 50.5.into()).field,
            "holdout_percent"
        );
        assert_eq!(
            with(|j| j["holdout_percent"] = (-1.0).into()).field,
            "holdout_percent"
        );
        assert_eq!(
            with(|j| j["offers"]["slots"] = 0.into()).field,
            "offers.slots"
        );
        assert_eq!(
            with(|j| j["offers"]["slots"] = 13.into()).field,
            "offers.slots"
        );
        let error = with(|j| {
            j["audience"]["rules"][0] =
                serde_json::json!({"op": "recency", "field": "", "within_days": 3})
        });
        assert_eq!(error.field, "audience.rules[0].field");
    }
}
