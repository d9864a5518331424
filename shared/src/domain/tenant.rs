//! A retailer's sending workspace and settings, and the statuses delivery obeys.

use serde::{Deserialize, Serialize};

use super::{PushApplications, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TenantStatus {
    Active,
    /// Sending paused by the retailer or an operator: batches are parked until reinstated.
    Paused,
    /// Suspended by the platform (abuse, reputation): batches are parked.
    Suspended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CampaignStatus {
    Active,
    Paused,
    Cancelled,
}

/// A retailer's isolated sending workspace: every message of that retailer goes out with these
/// and no other settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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
    /// The retailer's push applications, one per platform (created through onboarding).
    #[serde(default, skip_serializing_if = "PushApplications::is_empty")]
    pub push_applications: PushApplications,
}

/// What a retailer configures about its sending, beyond the workspace's routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "api", schema(value_type = Object))]
    pub brand: serde_json::Map<String, serde_json::Value>,
    /// The warm-up of the retailer's sending identity, while it runs: delivery caps the day's
    /// sends (`deliverability::warmup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupPlan>,
    /// The retailer's share of the account's SES send rate (operator-owned): a weight, and an
    /// optional rate it never goes past. Without it: weight 1, no rate of its own
    /// (`deliverability::budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_budget: Option<SendShare>,
    /// The retailer's seed list: the only addresses a test send of a template may go to (at
    /// most [`MAX_SEED_ADDRESSES`], stored lower-case and without duplicates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_list: Vec<String>,
}

/// The campaign id a template's test send is tagged with; no campaign may take it.
pub const TEST_SEND_CAMPAIGN: &str = "test-send";

/// The most addresses a retailer's seed list may hold.
pub const MAX_SEED_ADDRESSES: usize = 20;

/// The heaviest weight a retailer's share may have: with the default of 1 for the others, it gets
/// at most this many times their assured rate.
pub const MAX_SEND_WEIGHT: u32 = 100;

/// How a retailer shares the account's send rate with the others that are sending at the same
/// time: its assured rate is the account's rate times `weight` over the sum of their weights;
/// beyond it, it may use what the others leave, never more than `max_per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct SendShare {
    /// 1 to [`MAX_SEND_WEIGHT`].
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Sends a second this retailer never goes past, even when the account has room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u32>,
}

impl Default for SendShare {
    fn default() -> Self {
        Self {
            weight: default_weight(),
            max_per_second: None,
        }
    }
}

fn default_weight() -> u32 {
    1
}

/// A warm-up plan: `start_cap` sends on the first day, growing step by step to `target` a day
/// over `ramp_days` healthy days (validated by `deliverability::warmup::Ladder::new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct WarmupPlan {
    pub start_cap: u64,
    pub target: u64,
    pub ramp_days: u32,
    /// Within a batch, the day's remaining sends go to the most engaged recipients first (the
    /// customer field `engagement_score`, higher first), when the audience carries it.
    #[serde(default = "engaged_first_default")]
    pub engaged_first: bool,
}

fn engaged_first_default() -> bool {
    true
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
            warmup: None,
            send_budget: None,
            seed_list: Vec::new(),
        }
    }
}

/// Local hours `[start_hour, end_hour)` with no sends; the window may wrap past midnight
/// (`21` to `8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct QuietHours {
    pub start_hour: u8,
    pub end_hour: u8,
}

/// In whose time zone a campaign keeps the retailer's quiet hours (the same local hours either
/// way): the retailer's (the default: a batch reaching the window waits whole), or each
/// customer's own (`customer.fields.timezone`, an IANA name; a customer without a readable one
/// falls back to the retailer's), so a customer in their quiet hours waits while the others of
/// the batch go out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum QuietHoursZone {
    #[default]
    Retailer,
    Customer,
}

impl QuietHoursZone {
    pub fn as_str(self) -> &'static str {
        match self {
            QuietHoursZone::Retailer => "retailer",
            QuietHoursZone::Customer => "customer",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "retailer" => Some(QuietHoursZone::Retailer),
            "customer" => Some(QuietHoursZone::Customer),
            _ => None,
        }
    }
}

/// The customer field holding a customer's IANA time zone (`Europe/Paris`), read when a
/// campaign keeps quiet hours in the customer's time zone.
pub const CUSTOMER_TIMEZONE_FIELD: &str = "timezone";

/// The longest frequency-cap window a retailer may set; contact history older than this is
/// pruned.
pub const MAX_FREQUENCY_CAP_WINDOW_DAYS: u32 = 90;

/// At most `max_messages` marketing messages per customer within `window_days`, per retailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct FrequencyCap {
    pub max_messages: u32,
    pub window_days: u32,
}

impl TenantSettings {
    /// Whether `address` is on the seed list (case-insensitively).
    pub fn is_seed_address(&self, address: &str) -> bool {
        let address = normalise_address(address);
        self.seed_list.contains(&address)
    }
}

impl TenantWorkspace {
    /// The from-address every retailer gets under the centrally verified sending domain.
    pub fn from_address_for(slug: &str, sending_domain: &str) -> String {
        format!("{slug}@{sending_domain}")
    }
}

/// Suppression lists and idempotency compare addresses case-insensitively.
pub fn normalise_address(address: &str) -> String {
    address.trim().to_ascii_lowercase()
}
