//! The campaigns engine: evaluates a campaign's audience and emits one `campaign-event` per
//! matched customer onto the campaign-events stream, where the delivery pipeline takes over.
//!
//! A launch is planned as byte ranges of the audience export ([`CampaignEngine::plan`]); each
//! chunk is processed on its own ([`CampaignEngine::process_chunk`]) and can be retried alone:
//! assignment and message ids are deterministic, so a re-run emits the same events and the
//! delivery side dedupes them. Per row, in order: consent for the channel, an address for the
//! channel, the tenant's suppression list (asked in bulk per group of rows), the segment rules,
//! then the sticky variant assignment (the holdout is counted, not sent) and the offers.
//! See docs/campaigns-engine.md.

pub mod assign;
pub mod audience;
#[cfg(feature = "api")]
pub mod audience_check;
#[cfg(feature = "api")]
pub mod audience_sample;
pub mod checkpoint;
pub mod definition;
mod invalid;
pub mod lifecycle;
pub mod ports;
pub mod queue;
pub mod recipients;
pub mod report;
pub mod rules;
pub mod schedule;
mod stock;
pub mod store;
#[cfg(feature = "api")]
pub mod uploads;

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use time::OffsetDateTime;

pub use assign::{Assignment, BUCKETS, VariantTable};
pub use audience::{AudienceRow, Candidate, Consent, parse_row, plan_chunks};
pub use checkpoint::{ChunkCheckpoint, ChunkCheckpoints};
pub use definition::{
    AudienceDefinition, AudienceLocation, CampaignChannel, CampaignDefinition, OfferSettings,
    VariantWeight,
};
pub use invalid::InvalidCampaign;
pub use lifecycle::{
    CampaignChanges, CampaignError, CampaignPage, CampaignPorts, CampaignStats, CampaignView,
    Campaigns, CampaignsConfig, ChunkOutcome, DEFERRED_REDRIVE_EVERY, LAUNCH_MEMORY_MB,
    LaunchAccepted, MinuteSummary, NewCampaign, NewTemplateRef, SCHEDULER_MINUTE, SchedulerSummary,
    TickSummary,
};
pub use ports::{
    AssumeAvailable, AudienceSource, Availability, ContactHistory, Shopper, StockItem, StockQuery,
    SuppressionCheck,
};
pub use queue::{ChunkMessage, ChunkQueue, ChunkRetry};
pub use report::{LaunchReport, MalformedRow};
pub use rules::SegmentRule;
pub use store::{
    CampaignRecord, CampaignState, CampaignStore, ChunkProgress, ChunkStatus, LaunchId, LaunchKey,
    LaunchRecord, ScheduleEntry,
};

use serde_json::value::RawValue;

use crate::domain::FieldValue;
use crate::domain::{
    CONTRACT_VERSION, CampaignEvent, Channel, Customer, CustomerId, FrequencyCap, MessageId,
    PushDevice, VariantId,
};
use crate::domain::{check_email_address, check_push_token, normalise_address};
use crate::error::{Retryable, StoreError};
use crate::pipeline::publish::{MAX_RECORDS_PER_PUT, RecordStream, StreamRecord};
use crate::pipeline::publish::{PublishFailure, RetryPolicy, put_all};
use crate::pipeline::rebatch::MAX_CAMPAIGN_EVENT_BYTES;
use audience::RowHead;

/// Rows are checked against the suppression list, offered and emitted in groups of this many:
/// one PutRecords call's worth.
pub const GROUP_SIZE: usize = MAX_RECORDS_PER_PUT;
/// Default chunk size of a launch plan.
pub const DEFAULT_CHUNK_BYTES: u64 = 64 * 1024 * 1024;

/// A validated campaign at its launch time, with its bucket table computed once.
#[derive(Debug, Clone)]
pub struct Launch {
    campaign: CampaignDefinition,
    now: OffsetDateTime,
    variants: VariantTable,
    frequency_cap: Option<FrequencyCap>,
}

impl Launch {
    /// `now` is the launch time: recency rules count back from it.
    pub fn new(campaign: CampaignDefinition, now: OffsetDateTime) -> Result<Self, InvalidCampaign> {
        campaign.validate()?;
        let variants = VariantTable::new(&campaign);
        Ok(Self {
            campaign,
            now,
            variants,
            frequency_cap: None,
        })
    }

    /// The retailer's frequency cap (`TenantSettings::frequency_cap`), counted over its
    /// campaigns through [`CampaignEngine::contacts`]: customers already at the cap on a channel
    /// are not emitted on it (a pre-filter; delivery records the contacts when it sends, and
    /// refuses a send over the cap). Without one, no contact history is read.
    pub fn with_frequency_cap(mut self, cap: Option<FrequencyCap>) -> Self {
        self.frequency_cap = cap;
        self
    }

    pub fn frequency_cap(&self) -> Option<FrequencyCap> {
        self.frequency_cap
    }

    pub fn campaign(&self) -> &CampaignDefinition {
        &self.campaign
    }

    pub fn variants(&self) -> &VariantTable {
        &self.variants
    }
}

/// Why a chunk did not finish. Every variant says whether retrying the chunk can help.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("reading the audience export failed")]
    Audience(#[source] StoreError),
    #[error("checking the suppression list failed")]
    Suppression(#[source] StoreError),
    #[error("checking item availability failed")]
    Availability(#[source] StoreError),
    #[error("reading or recording the contact history (frequency cap) failed")]
    ContactHistory(#[source] StoreError),
    /// Some events did not reach the stream; the counts so far are in `report`.
    #[error("{failed} campaign events were not written")]
    Publish {
        failed: usize,
        #[source]
        first: PublishFailure,
        report: Box<LaunchReport>,
    },
}

impl Retryable for ChunkError {
    fn is_retryable(&self) -> bool {
        match self {
            ChunkError::Audience(e)
            | ChunkError::Suppression(e)
            | ChunkError::Availability(e)
            | ChunkError::ContactHistory(e) => e.is_retryable(),
            ChunkError::Publish { first, .. } => first.is_retryable(),
        }
    }
}

/// How the engine retries the campaign-events puts Kinesis throttles. A launch writes far faster
/// than the stream's shards take, so throttling is its pacing: it keeps retrying the refused
/// entries for up to about two minutes (within the launch function's five) rather than failing
/// the chunk, which would wait out the launch queue's 30-minute visibility timeout and start
/// again from the chunk's first row.
pub const LAUNCH_PUBLISH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 40,
    base_delay: std::time::Duration::from_millis(100),
    max_delay: std::time::Duration::from_secs(4),
};

pub struct CampaignEngine {
    pub source: Arc<dyn AudienceSource>,
    pub suppression: Arc<dyn SuppressionCheck>,
    pub availability: Arc<dyn Availability>,
    pub events: Arc<dyn RecordStream>,
    /// Read and written only for launches with a frequency cap.
    pub contacts: Arc<dyn ContactHistory>,
    pub retry: RetryPolicy,
}

/// Consented rows waiting for the group's suppression check, with their normalised addresses.
#[derive(Default)]
struct Group {
    rows: Vec<PendingRow>,
    addresses: Vec<String>,
}

/// A consented row with its attributes parsed; its candidates stay raw until it is sent.
struct PendingRow {
    offset: u64,
    channel: Channel,
    id: CustomerId,
    email: Option<String>,
    push_token: Option<String>,
    push_tokens: Vec<PushDevice>,
    store_id: Option<crate::domain::StoreId>,
    region: Option<String>,
    attributes: FieldValue,
    candidates: Option<Box<RawValue>>,
}

impl CampaignEngine {
    /// The chunks of a launch: byte ranges of `chunk_bytes`, or the whole object for gzip.
    pub async fn plan(
        &self,
        launch: &Launch,
        chunk_bytes: u64,
    ) -> Result<Vec<Range<u64>>, StoreError> {
        let location = &launch.campaign.audience.source;
        let size = self.source.object_size(location).await?;
        if location.is_gzip() {
            let whole = std::iter::once(0..size).filter(|r| !r.is_empty());
            return Ok(whole.collect());
        }
        Ok(plan_chunks(size, chunk_bytes))
    }

    /// Every chunk one after the other, reports merged: for tests and small local launches (in
    /// production each chunk is its own invocation).
    pub async fn run(&self, launch: &Launch, chunk_bytes: u64) -> Result<LaunchReport, ChunkError> {
        let mut report = LaunchReport::default();
        for range in self
            .plan(launch, chunk_bytes)
            .await
            .map_err(ChunkError::Audience)?
        {
            report.merge(&self.process_chunk(launch, range).await?);
        }
        Ok(report)
    }

    /// Evaluates the rows that start inside `range` and emits their events.
    pub async fn process_chunk(
        &self,
        launch: &Launch,
        range: Range<u64>,
    ) -> Result<LaunchReport, ChunkError> {
        self.resume_chunk(launch, range, None, None).await
    }

    /// Evaluates the rows that start inside `range` after `resume` (every row when `None`),
    /// counting on from its report, and emits their events; after each group of rows whose
    /// events were all put, reports a checkpoint to `checkpoints`.
    #[tracing::instrument(skip_all, fields(
        tenant_id = %launch.campaign.tenant_id,
        campaign_id = %launch.campaign.campaign_id,
        start = range.start,
        end = range.end,
        resume_after = resume.map(|c| c.last_row),
    ))]
    pub async fn resume_chunk(
        &self,
        launch: &Launch,
        range: Range<u64>,
        resume: Option<&ChunkCheckpoint>,
        checkpoints: Option<&dyn ChunkCheckpoints>,
    ) -> Result<LaunchReport, ChunkError> {
        let campaign = &launch.campaign;
        let location = &campaign.audience.source;
        let mut report = resume.map(|c| c.report.clone()).unwrap_or_default();
        // A gzip export can only be read from its start: its done rows are skipped as read.
        let read = match resume {
            Some(checkpoint) if !location.is_gzip() => checkpoint.resume_range(range),
            _ => range,
        };
        let mut lines = audience::open_chunk(self.source.as_ref(), location, read)
            .await
            .map_err(ChunkError::Audience)?;
        let mut group = Group::default();
        while let Some((offset, line)) = lines.next_line().await.map_err(ChunkError::Audience)? {
            let line = line.trim_ascii();
            if line.is_empty() || resume.is_some_and(|c| c.covers(offset)) {
                continue;
            }
            report.rows += 1;
            for &channel in campaign.channel.channels() {
                if let Some((address, row)) = admit(channel, offset, line, &mut report) {
                    group.addresses.push(address);
                    group.rows.push(row);
                }
            }
            if group.rows.len() >= GROUP_SIZE {
                self.flush(launch, &mut group, &mut report).await?;
                if let Some(checkpoints) = checkpoints {
                    let last_row = offset;
                    let report = report.clone();
                    checkpoints
                        .checkpoint(&ChunkCheckpoint { last_row, report })
                        .await;
                }
            }
        }
        self.flush(launch, &mut group, &mut report).await?;
        tracing::info!(
            rows = report.rows,
            malformed = report.malformed,
            events = report.events_emitted,
            "chunk evaluated"
        );
        Ok(report)
    }

    async fn flush(
        &self,
        launch: &Launch,
        group: &mut Group,
        report: &mut LaunchReport,
    ) -> Result<(), ChunkError> {
        if group.rows.is_empty() {
            return Ok(());
        }
        let campaign = &launch.campaign;
        let suppressed = self
            .suppression
            .suppressed(&campaign.tenant_id, &group.addresses)
            .await
            .map_err(ChunkError::Suppression)?;
        let mut assigned: Vec<(&VariantId, PendingRow)> = Vec::with_capacity(group.rows.len());
        for (row, address) in group.rows.drain(..).zip(group.addresses.drain(..)) {
            if suppressed.contains(&address) {
                report.suppressed += 1;
                continue;
            }
            if !rules::matches_all(&campaign.audience.rules, &row.attributes, launch.now) {
                report.not_in_segment += 1;
                continue;
            }
            match launch.variants.assign(&row.id) {
                Assignment::Holdout => report.held_out += 1,
                Assignment::Variant(variant) => assigned.push((variant, row)),
            }
        }
        if let Some(cap) = launch.frequency_cap {
            self.apply_frequency_cap(launch, cap, &mut assigned, report)
                .await?;
        }
        let mut sendable: Vec<(u64, &VariantId, Channel, AudienceRow)> =
            Vec::with_capacity(assigned.len());
        for (variant, row) in assigned {
            let candidates = match audience::parse_candidates(row.candidates.as_deref()) {
                Ok(candidates) => candidates,
                Err(reason) => {
                    report.malformed_row(row.offset, reason);
                    continue;
                }
            };
            let (offset, channel) = (row.offset, row.channel);
            let row = AudienceRow {
                id: row.id,
                email: row.email,
                push_token: row.push_token,
                push_tokens: row.push_tokens,
                consent: Consent::default(),
                store_id: row.store_id,
                region: row.region,
                attributes: row.attributes,
                candidates,
            };
            sendable.push((offset, variant, channel, row));
        }
        if sendable.is_empty() {
            return Ok(());
        }
        let rows: Vec<&AudienceRow> = sendable.iter().map(|(_, _, _, row)| row).collect();
        let in_stock =
            stock::in_stock_per_row(self.availability.as_ref(), &campaign.tenant_id, &rows)
                .await
                .map_err(ChunkError::Availability)?;
        let mut records: Vec<StreamRecord> = Vec::with_capacity(sendable.len());
        for ((offset, variant, channel, row), in_stock) in sendable.into_iter().zip(in_stock) {
            let record = match event_record(launch, (variant, channel), row, in_stock.as_deref()) {
                Ok((record, unavailable)) => {
                    report.offers_unavailable += unavailable;
                    record
                }
                Err(reason) => {
                    report.malformed_row(offset, reason);
                    continue;
                }
            };
            *report.matched.entry(variant.to_string()).or_default() += 1;
            records.push(record);
        }
        let results = put_all(self.events.as_ref(), &records, self.retry).await;
        let mut failed = 0;
        let mut first = None;
        for result in results {
            match result {
                Ok(()) => report.events_emitted += 1,
                Err(failure) => {
                    failed += 1;
                    first.get_or_insert(failure);
                }
            }
        }
        // No contact is recorded here: delivery takes one when it sends (the frequency cap at
        // send time, `deliverability::frequency_cap`), so a customer suppressed, parked or
        // deferred at delivery does not count as contacted.
        match first {
            None => Ok(()),
            Some(first) => {
                tracing::warn!(failed, error = %first, "campaign events not written");
                Err(ChunkError::Publish {
                    failed,
                    first,
                    report: Box::new(report.clone()),
                })
            }
        }
    }

    /// One bulk look-up for the group: customers who other campaigns of the tenant already
    /// contacted `max_messages` times within the window are left out and counted.
    async fn apply_frequency_cap(
        &self,
        launch: &Launch,
        cap: FrequencyCap,
        assigned: &mut Vec<(&VariantId, PendingRow)>,
        report: &mut LaunchReport,
    ) -> Result<(), ChunkError> {
        if assigned.is_empty() {
            return Ok(());
        }
        let campaign = &launch.campaign;
        let since = launch.now - time::Duration::days(i64::from(cap.window_days));
        // Each channel is capped apart: a group of a campaign on both asks once per channel.
        let mut counts: HashMap<Channel, HashMap<CustomerId, u32>> = HashMap::new();
        for &channel in campaign.channel.channels() {
            let customers: Vec<CustomerId> = assigned
                .iter()
                .filter(|(_, row)| row.channel == channel)
                .map(|(_, row)| row.id.clone())
                .collect();
            if customers.is_empty() {
                continue;
            }
            let recent = self
                .contacts
                .recent_contacts(
                    &campaign.tenant_id,
                    channel,
                    &customers,
                    since,
                    &campaign.campaign_id,
                )
                .await
                .map_err(ChunkError::ContactHistory)?;
            counts.insert(channel, recent);
        }
        let before = assigned.len();
        assigned.retain(|(_, row)| {
            let count = counts.get(&row.channel).and_then(|c| c.get(&row.id));
            count.copied().unwrap_or(0) < cap.max_messages
        });
        report.frequency_capped += (before - assigned.len()) as u64;
        Ok(())
    }
}

/// A row's normalised address and its parsed attributes, or `None` when it is counted out
/// (not consented, no address, malformed).
fn admit(
    channel: Channel,
    offset: u64,
    line: &[u8],
    report: &mut LaunchReport,
) -> Option<(String, PendingRow)> {
    let head = match RowHead::parse(line) {
        Ok(head) => head,
        Err(reason) => {
            report.malformed_row(offset, reason);
            return None;
        }
    };
    let (consent, address) = match channel {
        Channel::Email => (head.consent.email, head.email.as_deref()),
        Channel::Push => (
            head.consent.push,
            head.push_tokens
                .first()
                .map(|device| device.token.as_str())
                .or(head.push_token.as_deref()),
        ),
    };
    if consent != Some(true) {
        report.not_consented += 1;
        return None;
    }
    let Some(address) = address.map(normalise_address).filter(|a| !a.is_empty()) else {
        report.no_address += 1;
        return None;
    };
    // The address becomes a suppression key: one that cannot be a key (or an address) is this
    // row's fault, never the launch's.
    let checked = match channel {
        Channel::Email => check_email_address(&address),
        Channel::Push => check_push_token(&address),
    };
    let attributes = checked
        .map_err(|e| e.to_string())
        .and_then(|()| head.attributes());
    let attributes = match attributes {
        Ok(attributes) => attributes,
        Err(reason) => {
            report.malformed_row(offset, reason);
            return None;
        }
    };
    let row = PendingRow {
        offset,
        channel,
        id: head.id,
        email: head.email,
        push_token: head.push_token,
        push_tokens: head.push_tokens,
        store_id: head.store_id,
        region: head.region,
        attributes,
        candidates: head.candidates.map(ToOwned::to_owned),
    };
    Some((address, row))
}

/// The offers of one customer, and how many candidates availability kept out of them.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferSelection {
    pub offers: Vec<crate::domain::Offer>,
    /// Candidates that would have taken a slot but are unlikely in stock.
    pub unavailable: u64,
}

/// The customer's candidates ranked by score (highest first; ties keep the export's order),
/// those likely in stock (every one when `in_stock` is `None`), cut to the campaign's slots.
pub fn select_offers(
    mut candidates: Vec<Candidate>,
    in_stock: Option<&HashSet<String>>,
    slots: usize,
) -> OfferSelection {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut selection = OfferSelection {
        offers: Vec::with_capacity(slots.min(candidates.len())),
        unavailable: 0,
    };
    for candidate in candidates {
        if selection.offers.len() == slots {
            break;
        }
        if in_stock.is_none_or(|items| items.contains(&candidate.item_id)) {
            selection.offers.push(candidate.into_offer());
        } else {
            selection.unavailable += 1;
        }
    }
    selection
}

/// The `campaign-event` of one matched customer with their offers (the row's candidates are
/// not read).
pub fn campaign_event(
    launch: &Launch,
    (variant, channel): (&VariantId, Channel),
    row: AudienceRow,
    offers: Vec<crate::domain::Offer>,
) -> CampaignEvent {
    let campaign = &launch.campaign;
    CampaignEvent {
        contract_version: CONTRACT_VERSION,
        tenant_id: campaign.tenant_id.clone(),
        campaign_id: campaign.campaign_id.clone(),
        variant: variant.clone(),
        channel,
        template: campaign.template.clone(),
        message_id: MessageId::derive(&campaign.tenant_id, &campaign.campaign_id, &row.id, channel),
        offers,
        customer: Customer {
            id: row.id,
            email: row.email,
            push_token: row.push_token,
            push_tokens: row.push_tokens,
            fields: row.attributes,
        },
    }
}

/// The event's stream record with the count of offers availability kept out, or why it cannot
/// be one: an event over the size rebatch can always fit into a send batch (a customer with
/// enormous attributes) would fail the put, and with it the chunk, every time.
fn event_record(
    launch: &Launch,
    (variant, channel): (&VariantId, Channel),
    mut row: AudienceRow,
    in_stock: Option<&HashSet<String>>,
) -> Result<(StreamRecord, u64), String> {
    let candidates = std::mem::take(&mut row.candidates);
    let selection = select_offers(candidates, in_stock, launch.campaign.offers.slots);
    let event = campaign_event(launch, (variant, channel), row, selection.offers);
    let mut data = Vec::with_capacity(1024);
    serde_json::to_writer(&mut data, &event).expect("a campaign event always serializes");
    let record = StreamRecord {
        partition_key: event.message_id.into(),
        data,
    };
    if record.size() > MAX_CAMPAIGN_EVENT_BYTES {
        return Err(format!(
            "campaign event of {} bytes is over the {MAX_CAMPAIGN_EVENT_BYTES}-byte limit",
            record.size()
        ));
    }
    Ok((record, selection.unavailable))
}
