//! What the lifecycle takes and answers: requests, views, stats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::campaigns::definition::{
    AudienceDefinition, CampaignDefinition, OfferSettings, VariantWeight,
};
use crate::campaigns::store::{CampaignRecord, CampaignState, LaunchId};
use crate::clock::rfc3339;
use crate::domain::{CampaignId, TemplateId};

/// What the API accepts to create a campaign. The tenant is the caller's, never the body's.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub campaign_id: CampaignId,
    pub name: String,
    pub template: NewTemplateRef,
    pub channel: crate::campaigns::definition::CampaignChannel,
    pub audience: AudienceDefinition,
    pub variants: Vec<VariantWeight>,
    #[serde(default)]
    pub holdout_percent: f64,
    pub offers: OfferSettings,
    /// Local send time in the retailer's time zone, `YYYY-MM-DDTHH:MM`; launched at once when
    /// missing.
    #[serde(default)]
    pub schedule: Option<String>,
    /// In whose time zone the retailer's quiet hours are kept: `retailer` (the default) or
    /// `customer` (each recipient's `fields.timezone`).
    #[serde(default)]
    pub quiet_hours_zone: crate::domain::QuietHoursZone,
}

/// A template by id, at a published version or (version missing or 0) its live version.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTemplateRef {
    pub id: TemplateId,
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct LaunchView {
    pub launch_id: LaunchId,
    /// RFC 3339.
    pub requested_at: String,
    pub starts_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    pub chunks: u32,
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct CampaignView {
    pub campaign_id: CampaignId,
    pub name: String,
    pub state: CampaignState,
    pub definition: CampaignDefinition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchView>,
    pub revision: u64,
}

impl From<CampaignRecord> for CampaignView {
    fn from(record: CampaignRecord) -> Self {
        Self {
            campaign_id: record.definition.campaign_id.clone(),
            name: record.name,
            state: record.state,
            schedule: record.schedule,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            launch: record.launch.map(|launch| LaunchView {
                launch_id: launch.launch_id,
                requested_at: rfc3339(launch.requested_at),
                starts_at: rfc3339(launch.starts_at),
                started_at: launch.started_at.map(rfc3339),
                chunks: launch.chunks,
                completed: launch.completed,
                failure: launch.failure,
            }),
            revision: record.revision,
            definition: record.definition,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct CampaignPage {
    pub campaigns: Vec<CampaignView>,
    /// Pass as `cursor` for the next page; missing on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The answer to a launch (HTTP 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct LaunchAccepted {
    pub launch_id: LaunchId,
    /// LAUNCHING when the chunks are queued, SCHEDULED when it starts later.
    pub state: CampaignState,
    /// RFC 3339: when the launch starts (or started).
    pub starts_at: String,
}

/// Customers left out, by reason (from the chunks' launch reports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct SkippedCounts {
    pub not_consented: u64,
    pub no_address: u64,
    pub suppressed: u64,
    pub not_in_segment: u64,
    /// Over the retailer's frequency cap at launch (no more than N marketing messages per
    /// channel in a window): not emitted. Those the cap refused at send time are
    /// `delivery.frequency_capped`.
    pub frequency_capped: u64,
    /// Rows that could not be read (counted, never failing the launch).
    pub malformed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct LaunchProgress {
    pub chunks_total: u32,
    pub chunks_done: u32,
    pub chunks_failed: u32,
    pub chunks_pending: u32,
}

/// What delivery recorded, from the delivery counters (kept with the batch outcomes) and the
/// parked counts (kept when a batch is parked and when it is redriven).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct DeliveryCounts {
    pub sent: u64,
    pub failed: u64,
    /// On the suppression list when the message was sent.
    pub suppressed: u64,
    /// Handed to SES without a confirmed answer (a timeout, a lost connection): never resent.
    pub unconfirmed: u64,
    /// Refused by the retailer's frequency cap when about to be sent (other campaigns reached
    /// the customer first): never sent. The launch's own frequency-cap skips are
    /// `skipped.frequency_capped`; the two together are everyone the cap kept out.
    pub frequency_capped: u64,
    /// Emitted by the launch and neither final nor parked yet: on the streams, being delivered,
    /// deferred, or kept in a dead letter or the on-failure destination.
    pub in_flight: u64,
    /// Recipients of parked batches, waiting for a resume or a redrive.
    pub parked: u64,
    pub parked_batches: u64,
}

impl DeliveryCounts {
    /// Messages in a final state.
    pub fn finished(&self) -> u64 {
        self.sent + self.failed + self.suppressed + self.unconfirmed + self.frequency_capped
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct CampaignStats {
    pub campaign_id: CampaignId,
    pub state: CampaignState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_id: Option<LaunchId>,
    pub progress: LaunchProgress,
    /// Non-blank rows read by the done chunks.
    pub rows: u64,
    /// Matched and not held out, per variant.
    pub matched: BTreeMap<String, u64>,
    pub held_out: u64,
    pub skipped: SkippedCounts,
    pub events_emitted: u64,
    /// Offers left out of the emitted events because the item is unlikely in stock at the
    /// customer's store (the next candidate took the slot).
    pub offers_unavailable: u64,
    pub delivery: DeliveryCounts,
    /// What delivery recorded per channel (`email`, `push`): sent, failed and why, suppressed,
    /// unconfirmed. `failed_by_reason.endpoint_disabled` counts the pushes whose every device's
    /// endpoint the push service had disabled; `endpoints_disabled` the disabled devices of the
    /// pushes another device took.
    #[cfg_attr(feature = "api", schema(value_type = std::collections::BTreeMap<String, crate::pipeline::send_log::DeliveryTally>))]
    pub delivery_by_channel: BTreeMap<String, crate::pipeline::send_log::DeliveryTally>,
    /// What delivering the campaign used so far (Lambda, DynamoDB, Kinesis, SES, SNS), at the
    /// published unit prices, and per message sent (docs/operations.md, "Cost per send").
    pub cost: crate::costs::CampaignCost,
    /// SES's feedback on the sent messages (each message counted once per kind).
    pub feedback: crate::deliverability::counters::FeedbackCounts,
    pub feedback_by_variant: BTreeMap<String, crate::deliverability::counters::FeedbackCounts>,
    /// The redrive job of the campaign's last resume: how far it put the parked batches back
    /// (absent if the campaign was never resumed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive: Option<crate::pipeline::redrive::RedriveProgress>,
}

/// A change to a draft: each field left out keeps its value. `schedule: null` removes the
/// send time (the campaign launches at once).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CampaignChanges {
    /// The revision the change was made on: when given, a draft changed since is a conflict
    /// (409) instead of being overwritten.
    #[serde(default)]
    pub revision: Option<u64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub template: Option<NewTemplateRef>,
    #[serde(default)]
    pub channel: Option<crate::campaigns::definition::CampaignChannel>,
    #[serde(default)]
    pub audience: Option<AudienceDefinition>,
    #[serde(default)]
    pub variants: Option<Vec<VariantWeight>>,
    #[serde(default)]
    pub holdout_percent: Option<f64>,
    #[serde(default)]
    pub offers: Option<OfferSettings>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "api", schema(value_type = Option<String>))]
    pub schedule: Option<Option<String>>,
    #[serde(default)]
    pub quiet_hours_zone: Option<crate::domain::QuietHoursZone>,
}

/// A field that is present (even as `null`) is `Some`, so `null` can remove a value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
