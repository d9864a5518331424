//! Campaign events in, send batches out: groups of at most [`PROVIDER_BATCH_SIZE`] recipients of
//! one tenant, campaign, variant, channel and template version.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde::Serialize;
use tracing::Instrument;

use crate::costs::metered;
use crate::deliverability::budget::ChannelAnnouncers;
use crate::domain::{
    BatchGroup, BatchId, CONTRACT_VERSION, CampaignEvent, Channel, MessageId, PROVIDER_BATCH_SIZE,
    Recipient, SendBatch, TenantId,
};
use crate::metrics::Metrics;
use crate::pipeline::archive::{Archive, DeadLetter};
use crate::pipeline::lambda_batch::{
    InboundRecord, MissingSequenceNumber, inbound_records, partial_batch_response,
};
use crate::pipeline::publish::{MAX_BYTES_PER_RECORD, RecordStream, StreamRecord};
use crate::pipeline::publish::{RetryPolicy, put_all};

pub const FUNCTION_NAME: &str = "rebatch";

mod usage;
pub use usage::REBATCH_MEMORY_MB;
use usage::{Announced, InvocationUsage};

/// What a send batch of one recipient adds to its campaign event, at most: the batch id and the
/// `recipients` wrapper, less the fields the group takes out (a few dozen bytes in practice).
pub const SEND_BATCH_ENVELOPE_BYTES: usize = 1024;
/// The largest campaign event (data and partition key) the campaigns engine writes: every such
/// event fits a send batch of its own, so only a hand-made event can be too large here.
pub const MAX_CAMPAIGN_EVENT_BYTES: usize = MAX_BYTES_PER_RECORD - SEND_BATCH_ENVELOPE_BYTES;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RebatchSummary {
    pub records: usize,
    pub events: usize,
    /// The same message twice in one invocation: kept once.
    pub repeated_in_input: usize,
    pub batches: usize,
    pub dead_lettered: usize,
    /// Records left for Lambda to deliver again (their batches could not be written).
    pub retried: usize,
}

#[derive(Debug)]
pub struct RebatchOutcome {
    pub summary: RebatchSummary,
    /// Positions of records that must be delivered again.
    pub failed_positions: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum RebatchError {
    #[error(transparent)]
    MissingSequenceNumber(#[from] MissingSequenceNumber),
}

pub struct Rebatcher {
    output: Arc<dyn RecordStream>,
    archive: Arc<dyn Archive>,
    retry: RetryPolicy,
    metrics: Metrics,
    /// With send budgets: the tenants whose batches are written are counted in the shares first.
    announcers: Option<ChannelAnnouncers>,
    /// Where each campaign's usage is added, and the function's memory (`with_usage`).
    usage: Option<(Arc<dyn crate::costs::UsageCounters>, u32)>,
}

/// A batch being built, with the input positions its recipients came from.
struct PendingBatch {
    batch: SendBatch,
    sources: Vec<usize>,
}

impl Rebatcher {
    pub fn new(output: Arc<dyn RecordStream>, archive: Arc<dyn Archive>) -> Self {
        Self {
            output,
            archive,
            retry: RetryPolicy::default(),
            metrics: Metrics::new(FUNCTION_NAME),
            announcers: None,
            usage: None,
        }
    }

    /// Counts the tenants of the batches about to be written in the send budgets' shares
    /// (`deliverability::budget::announce`).
    pub fn with_budget_announcers(mut self, announcers: ChannelAnnouncers) -> Self {
        self.announcers = Some(announcers);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Lambda handler's body: decode, rebatch, and answer the partial batch response.
    pub async fn handle(&self, event: KinesisEvent) -> Result<KinesisEventResponse, RebatchError> {
        let records = inbound_records(event);
        let outcome = self.rebatch(&records).await;
        tracing::info!(summary = ?outcome.summary, "rebatched");
        if let Err(error) = self.metrics.flush(&mut std::io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics");
        }
        Ok(partial_batch_response(&records, outcome.failed_positions)?)
    }

    pub async fn rebatch(&self, records: &[InboundRecord]) -> RebatchOutcome {
        let mut summary = RebatchSummary {
            records: records.len(),
            ..RebatchSummary::default()
        };
        let mut failed_positions = Vec::new();
        let mut usage = InvocationUsage::start();
        let groups = self
            .group_events(records, &mut summary, &mut failed_positions)
            .await;
        usage.grouped(&groups);
        let announced = self.announce(&groups).await;
        let mut pending: Vec<PendingBatch> = Vec::new();
        for (group, members) in groups {
            for chunk in members.chunks(PROVIDER_BATCH_SIZE) {
                pending.extend(build_batches(&group, chunk));
            }
        }
        self.write_batches(records, pending, &mut summary, &mut failed_positions)
            .await
            .into_iter()
            .for_each(|(group, bytes)| usage.written(&group, bytes));
        if let Some(first) = records.first() {
            self.count_usage(&usage, &announced, &first.sequence_number)
                .await;
        }
        failed_positions.sort_unstable();
        failed_positions.dedup();
        // Lambda redelivers everything from the earliest failed record on.
        summary.retried = failed_positions
            .first()
            .map_or(0, |first| records.len() - first);
        RebatchOutcome {
            summary,
            failed_positions,
        }
    }

    /// Counts the groups' tenants in their channel's send budget before their batches reach the
    /// stream, one tenant at a time, answering the write units of each tenant's announcement. A
    /// failure only delays the shares' split until the tenant takes: logged and counted, never a
    /// failed record.
    async fn announce(&self, groups: &[(BatchGroup, Vec<(usize, Recipient)>)]) -> Announced {
        let mut announced = Announced::new();
        let Some(announcers) = &self.announcers else {
            return announced;
        };
        for channel in [Channel::Email, Channel::Push] {
            let tenants: BTreeSet<TenantId> = groups
                .iter()
                .filter(|(group, _)| group.channel == channel)
                .map(|(group, _)| group.tenant_id.clone())
                .collect();
            if tenants.is_empty() {
                continue;
            }
            let mut failed = false;
            for tenant in tenants {
                if failed {
                    // The first failure stops the channel's announcements.
                    self.metrics
                        .add(tenant.as_str(), "BudgetAnnounceFailed", 1.0);
                    continue;
                }
                let one = BTreeSet::from([tenant.clone()]);
                let (result, units) = metered(announcers.of(channel).announce(&one)).await;
                announced.insert((channel, tenant.clone()), units.write);
                if let Err(error) = result {
                    tracing::warn!(error = %error, channel = channel.as_str(), "tenants not announced to the send budget");
                    self.metrics
                        .add(tenant.as_str(), "BudgetAnnounceFailed", 1.0);
                    failed = true;
                }
            }
        }
        announced
    }

    /// The records' events by group, in order of first appearance, each message once; unreadable
    /// records are dead-lettered (or, when that fails, reported for a retry).
    async fn group_events(
        &self,
        records: &[InboundRecord],
        summary: &mut RebatchSummary,
        failed_positions: &mut Vec<usize>,
    ) -> Vec<(BatchGroup, Vec<(usize, Recipient)>)> {
        let mut groups: Vec<(BatchGroup, Vec<(usize, Recipient)>)> = Vec::new();
        let mut group_index: HashMap<BatchGroup, usize> = HashMap::new();
        let mut seen: HashSet<(BatchGroup, MessageId)> = HashSet::new();
        for (position, record) in records.iter().enumerate() {
            let event = match decode_event(&record.data) {
                Ok(event) => event,
                Err(reason) => {
                    if self
                        .dead_letter(record, None, &reason, summary)
                        .await
                        .is_err()
                    {
                        failed_positions.push(position);
                    }
                    continue;
                }
            };
            summary.events += 1;
            let group = event.group();
            if !seen.insert((group.clone(), event.message_id.clone())) {
                summary.repeated_in_input += 1;
                continue;
            }
            self.metrics.add(group.tenant_id.as_str(), "Events", 1.0);
            let index = *group_index.entry(group.clone()).or_insert_with(|| {
                groups.push((group, Vec::new()));
                groups.len() - 1
            });
            groups[index].1.push((position, event.into_recipient()));
        }
        groups
    }

    /// Puts the batches on the send-batches stream. The source records of a batch the stream can
    /// never take (too large even alone, refused for its content) are dead-lettered: retrying
    /// them would only hold up the shard until Lambda gives up. Those of a batch that could not
    /// be written for now are reported for a retry. Answers the group and the data size of each
    /// batch the stream accepted.
    async fn write_batches(
        &self,
        records: &[InboundRecord],
        pending: Vec<PendingBatch>,
        summary: &mut RebatchSummary,
        failed_positions: &mut Vec<usize>,
    ) -> Vec<(BatchGroup, usize)> {
        let mut written = Vec::new();
        let mut stream_records = Vec::with_capacity(pending.len());
        let mut encoded_batches = Vec::with_capacity(pending.len());
        for batch in pending {
            match serde_json::to_vec(&batch.batch) {
                Ok(data) => {
                    stream_records.push(StreamRecord {
                        partition_key: batch.batch.batch_id.to_string(),
                        data,
                    });
                    encoded_batches.push(batch);
                }
                Err(error) => {
                    tracing::error!(%error, "send batch could not be encoded");
                    failed_positions.extend(batch.sources);
                }
            }
        }

        let results = put_all(self.output.as_ref(), &stream_records, self.retry).await;
        let sizes = stream_records.iter().map(|record| record.data.len());
        for ((batch, result), bytes) in encoded_batches.iter().zip(results).zip(sizes) {
            let group = &batch.batch.group;
            let span = tracing::info_span!(
                "send_batch",
                tenant_id = %group.tenant_id,
                campaign_id = %group.campaign_id,
                batch_id = %batch.batch.batch_id,
            );
            match result {
                Ok(()) => {
                    summary.batches += 1;
                    self.metrics.add(group.tenant_id.as_str(), "Batches", 1.0);
                    written.push((group.clone(), bytes));
                }
                Err(failure) if failure.is_the_records_fault() => {
                    let reason = format!("send batch not accepted by the stream: {failure}");
                    for &position in &batch.sources {
                        let tenant = Some(group.tenant_id.to_string());
                        let kept = self
                            .dead_letter(&records[position], tenant, &reason, summary)
                            .instrument(span.clone())
                            .await;
                        if kept.is_err() {
                            failed_positions.push(position);
                        }
                    }
                }
                Err(failure) => {
                    span.in_scope(|| {
                        tracing::warn!(error = %failure, "send batch not written; its records will be retried");
                    });
                    failed_positions.extend(batch.sources.iter().copied());
                }
            }
        }
        written
    }

    async fn dead_letter(
        &self,
        record: &InboundRecord,
        tenant: Option<String>,
        reason: &str,
        summary: &mut RebatchSummary,
    ) -> Result<(), ()> {
        let letter = DeadLetter::of_payload(FUNCTION_NAME, reason, tenant.clone(), &record.data);
        let span = tracing::warn_span!("dead_letter", sequence_number = %record.sequence_number);
        async {
            match self.archive.dead_letter(&letter).await {
                Ok(()) => {
                    tracing::warn!(reason, "record dead-lettered");
                    summary.dead_lettered += 1;
                    self.metrics.add(
                        tenant.as_deref().unwrap_or("_unknown"),
                        "DeadLettered",
                        1.0,
                    );
                    Ok(())
                }
                Err(error) => {
                    tracing::error!(error = %error, reason, "dead letter could not be kept; record will be retried");
                    Err(())
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn decode_event(data: &[u8]) -> Result<CampaignEvent, String> {
    let event: CampaignEvent =
        serde_json::from_slice(data).map_err(|e| format!("malformed campaign event: {e}"))?;
    if event.contract_version == 0 || event.contract_version > CONTRACT_VERSION {
        return Err(format!(
            "unsupported campaign-event contract version {} (this build reads 1..={CONTRACT_VERSION})",
            event.contract_version
        ));
    }
    Ok(event)
}

/// One send batch for the chunk, halved until each encoding fits the stream's record limit
/// (customers with very large attribute sets). A batch of one that still does not fit is left
/// to the stream's size check, and its event is dead-lettered.
fn build_batches(group: &BatchGroup, members: &[(usize, Recipient)]) -> Vec<PendingBatch> {
    let ids: Vec<&MessageId> = members.iter().map(|(_, r)| &r.message_id).collect();
    let batch = SendBatch {
        contract_version: CONTRACT_VERSION,
        batch_id: BatchId::derive(group, &ids),
        group: group.clone(),
        recipients: members.iter().map(|(_, r)| r.clone()).collect(),
        share_reservation: None,
        redrive: 0,
    };
    let too_large = serde_json::to_vec(&batch)
        .is_ok_and(|data| data.len() + batch.batch_id.as_str().len() > MAX_BYTES_PER_RECORD);
    if too_large && members.len() > 1 {
        let (left, right) = members.split_at(members.len() / 2);
        let mut batches = build_batches(group, left);
        batches.extend(build_batches(group, right));
        return batches;
    }
    vec![PendingBatch {
        batch,
        sources: members.iter().map(|(position, _)| *position).collect(),
    }]
}

impl From<RebatchError> for lambda_runtime::Diagnostic {
    fn from(error: RebatchError) -> Self {
        crate::pipeline::lambda_batch::diagnostic(&error, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TemplateRef;
    use crate::domain::VariantId;
    use crate::testing::{MemoryArchive, MemoryStream};

    /// Customer `n` of a campaign, all in variant A: one group per tenant and campaign.
    fn sample_event(tenant: &str, campaign: &str, n: u32) -> CampaignEvent {
        let mut event = crate::testing::samples::sample_event(tenant, campaign, n);
        event.variant = VariantId::parse("A").unwrap();
        event
    }

    fn records(events: &[CampaignEvent]) -> Vec<InboundRecord> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| InboundRecord {
                sequence_number: format!("{}", 1000 + i),
                partition_key: e.message_id.to_string(),
                data: serde_json::to_vec(e).unwrap(),
                arrived_at: None,
            })
            .collect()
    }

    fn setup() -> (Arc<MemoryStream>, Arc<MemoryArchive>, Rebatcher) {
        let stream = Arc::new(MemoryStream::default());
        let archive = Arc::new(MemoryArchive::default());
        let rebatcher = Rebatcher::new(stream.clone(), archive.clone());
        (stream, archive, rebatcher)
    }

    fn written_batches(stream: &MemoryStream) -> Vec<SendBatch> {
        stream
            .records()
            .iter()
            .map(|r| serde_json::from_slice(&r.data).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn given_120_events_of_one_campaign_when_rebatched_then_batches_of_50_50_20() {
        let (stream, _, rebatcher) = setup();
        let events: Vec<_> = (0..120).map(|i| sample_event("t1", "c1", i)).collect();
        let outcome = rebatcher.rebatch(&records(&events)).await;
        assert!(outcome.failed_positions.is_empty());
        let sizes: Vec<_> = written_batches(&stream)
            .iter()
            .map(|b| b.recipients.len())
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(outcome.summary.batches, 3);
    }

    #[tokio::test]
    async fn given_mixed_tenants_when_rebatched_then_no_batch_mixes_groups() {
        let (stream, _, rebatcher) = setup();
        let mut events = Vec::new();
        for i in 0..90 {
            let tenant = ["t1", "t2", "t3"][i % 3];
            let mut event = sample_event(tenant, "c1", i as u32);
            if i % 2 == 0 {
                event.variant = VariantId::parse("B").unwrap();
            }
            if i % 5 == 0 {
                event.template = TemplateRef {
                    id: event.template.id.clone(),
                    version: 2,
                };
            }
            events.push(event);
        }
        rebatcher.rebatch(&records(&events)).await;
        let batches = written_batches(&stream);
        let total: usize = batches.iter().map(|b| b.recipients.len()).sum();
        assert_eq!(total, 90);
        for batch in &batches {
            assert!(batch.recipients.len() <= PROVIDER_BATCH_SIZE);
            for recipient in &batch.recipients {
                let source = events
                    .iter()
                    .find(|e| e.message_id == recipient.message_id)
                    .unwrap();
                assert_eq!(source.group(), batch.group);
            }
        }
    }

    #[tokio::test]
    async fn given_a_malformed_record_when_rebatched_then_it_is_dead_lettered_and_others_flow() {
        let (stream, archive, rebatcher) = setup();
        let mut input = records(&[sample_event("t1", "c1", 1), sample_event("t1", "c1", 2)]);
        input.insert(
            1,
            InboundRecord {
                sequence_number: "999".into(),
                partition_key: "x".into(),
                data: b"{not json".to_vec(),
                arrived_at: None,
            },
        );
        let outcome = rebatcher.rebatch(&input).await;
        assert!(outcome.failed_positions.is_empty());
        assert_eq!(outcome.summary.dead_lettered, 1);
        assert_eq!(written_batches(&stream)[0].recipients.len(), 2);
        let letters = archive.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1);
        assert!(letters[0].reason.contains("malformed campaign event"));
        assert_eq!(letters[0].payload, "{not json");
    }

    #[tokio::test]
    async fn given_a_future_contract_version_then_it_is_dead_lettered_with_the_reason() {
        let (_, archive, rebatcher) = setup();
        let mut event = sample_event("t1", "c1", 1);
        event.contract_version = 9;
        let outcome = rebatcher.rebatch(&records(&[event])).await;
        assert_eq!(outcome.summary.dead_lettered, 1);
        let letters = archive.dead_letters().await.unwrap();
        assert!(letters[0].reason.contains("contract version 9"));
    }

    #[tokio::test]
    async fn given_the_archive_is_down_then_the_malformed_record_is_retried_not_lost() {
        let (_, archive, rebatcher) = setup();
        archive.set_unavailable(true);
        let mut input = records(&[sample_event("t1", "c1", 1)]);
        input.push(InboundRecord {
            sequence_number: "2000".into(),
            partition_key: "x".into(),
            data: b"garbage".to_vec(),
            arrived_at: None,
        });
        let outcome = rebatcher.rebatch(&input).await;
        assert_eq!(outcome.failed_positions, vec![1]);
        let response = partial_batch_response(&input, outcome.failed_positions).unwrap();
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("2000")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_the_output_stream_keeps_failing_then_the_earliest_source_record_is_reported() {
        let (stream, _, rebatcher) = setup();
        stream.fail_always(true);
        let events: Vec<_> = (0..3).map(|i| sample_event("t1", "c1", i)).collect();
        let input = records(&events);
        let outcome = rebatcher.rebatch(&input).await;
        assert_eq!(outcome.failed_positions, vec![0, 1, 2]);
        assert_eq!(outcome.summary.retried, 3);
        let response = partial_batch_response(&input, outcome.failed_positions).unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("1000")
        );
    }

    /// An event whose customer carries an attribute of `bytes` bytes.
    fn event_with_attribute_of(bytes: usize, n: u32) -> CampaignEvent {
        let mut event = sample_event("t1", "c1", n);
        if let crate::domain::FieldValue::Object(fields) = &mut event.customer.fields {
            fields.insert("notes".into(), "x".repeat(bytes).into());
        }
        event
    }

    #[tokio::test(start_paused = true)]
    async fn given_an_event_too_large_for_any_send_batch_then_it_is_dead_lettered_and_the_others_flow()
     {
        let (stream, archive, rebatcher) = setup();
        let huge = event_with_attribute_of(MAX_BYTES_PER_RECORD, 2);
        let input = records(&[
            sample_event("t1", "c1", 1),
            huge.clone(),
            sample_event("t1", "c1", 3),
        ]);
        let outcome = rebatcher.rebatch(&input).await;
        assert!(
            outcome.failed_positions.is_empty(),
            "the shard is not held up"
        );
        assert_eq!(outcome.summary.dead_lettered, 1);
        let sent: Vec<_> = written_batches(&stream)
            .into_iter()
            .flat_map(|b| b.recipients)
            .map(|r| r.message_id)
            .collect();
        assert_eq!(sent.len(), 2);
        assert!(!sent.contains(&huge.message_id));
        let letters = archive.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1);
        assert!(
            letters[0].reason.contains("record limit"),
            "{}",
            letters[0].reason
        );
        assert_eq!(letters[0].tenant_id.as_deref(), Some("t1"));
        assert_eq!(letters[0].payload.as_bytes(), input[1].data.as_slice());
    }

    #[tokio::test]
    async fn an_event_at_the_engines_size_limit_still_fits_a_send_batch_of_its_own() {
        let (stream, archive, rebatcher) = setup();
        let mut event = event_with_attribute_of(0, 1);
        let size = |e: &CampaignEvent| serde_json::to_vec(e).unwrap().len() + 32;
        let room = MAX_CAMPAIGN_EVENT_BYTES - size(&event);
        event = event_with_attribute_of(room, 1);
        assert_eq!(size(&event), MAX_CAMPAIGN_EVENT_BYTES);
        let outcome = rebatcher.rebatch(&records(&[event])).await;
        assert!(outcome.failed_positions.is_empty());
        assert!(archive.dead_letters().await.unwrap().is_empty());
        assert_eq!(written_batches(&stream).len(), 1);
    }

    #[tokio::test]
    async fn given_large_customers_then_their_batch_is_split_until_each_part_fits() {
        let (stream, archive, rebatcher) = setup();
        let events: Vec<_> = (0..4)
            .map(|n| event_with_attribute_of(MAX_BYTES_PER_RECORD / 3, n))
            .collect();
        let outcome = rebatcher.rebatch(&records(&events)).await;
        assert!(outcome.failed_positions.is_empty());
        assert!(archive.dead_letters().await.unwrap().is_empty());
        let batches = written_batches(&stream);
        assert!(batches.len() > 1);
        assert_eq!(batches.iter().map(|b| b.recipients.len()).sum::<usize>(), 4);
        assert!(
            stream
                .records()
                .iter()
                .all(|r| r.size() <= MAX_BYTES_PER_RECORD)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_the_stream_refuses_a_batch_for_its_content_then_its_events_are_dead_lettered_not_retried()
     {
        let (stream, archive, rebatcher) = setup();
        stream.fail_next_entries_with(&[0], "ValidationException");
        let input = records(&[sample_event("t1", "c1", 1), sample_event("t1", "c1", 2)]);
        let outcome = rebatcher.rebatch(&input).await;
        assert!(outcome.failed_positions.is_empty());
        assert_eq!(
            outcome.summary.dead_lettered, 2,
            "one letter per source record"
        );
        assert_eq!(stream.calls(), vec![1], "a refused entry is not sent again");
        let letters = archive.dead_letters().await.unwrap();
        assert!(
            letters
                .iter()
                .all(|l| l.reason.contains("ValidationException"))
        );
        let payloads: Vec<&[u8]> = letters.iter().map(|l| l.payload.as_bytes()).collect();
        assert!(payloads.contains(&input[0].data.as_slice()));
        assert!(payloads.contains(&input[1].data.as_slice()));
    }

    #[tokio::test(start_paused = true)]
    async fn given_the_streams_kms_key_is_disabled_then_the_records_are_retried_not_dead_lettered()
    {
        let (stream, archive, rebatcher) = setup();
        stream.fail_next_entries_with(&[0], "KMSDisabledException");
        let outcome = rebatcher
            .rebatch(&records(&[sample_event("t1", "c1", 1)]))
            .await;
        assert_eq!(outcome.failed_positions, vec![0]);
        assert!(archive.dead_letters().await.unwrap().is_empty());
        assert_eq!(
            stream.calls(),
            vec![1],
            "the stream's own fault is left to Lambda's retries"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_the_archive_is_down_then_a_refused_batchs_records_are_retried_not_lost() {
        let (stream, archive, rebatcher) = setup();
        archive.set_unavailable(true);
        stream.fail_next_entries_with(&[0], "ValidationException");
        let outcome = rebatcher
            .rebatch(&records(&[sample_event("t1", "c1", 1)]))
            .await;
        assert_eq!(outcome.failed_positions, vec![0]);
        assert_eq!(outcome.summary.dead_lettered, 0);
    }

    #[tokio::test]
    async fn given_the_same_event_twice_in_one_invocation_then_it_is_batched_once() {
        let (stream, _, rebatcher) = setup();
        let event = sample_event("t1", "c1", 7);
        let outcome = rebatcher
            .rebatch(&records(&[event.clone(), event.clone()]))
            .await;
        assert_eq!(outcome.summary.repeated_in_input, 1);
        assert_eq!(written_batches(&stream)[0].recipients.len(), 1);
    }

    #[tokio::test]
    async fn batch_ids_are_stable_for_the_same_content() {
        let (stream, _, rebatcher) = setup();
        let events: Vec<_> = (0..10).map(|i| sample_event("t1", "c1", i)).collect();
        rebatcher.rebatch(&records(&events)).await;
        rebatcher.rebatch(&records(&events)).await;
        let batches = written_batches(&stream);
        assert_eq!(batches[0].batch_id, batches[1].batch_id);
    }

    #[tokio::test]
    async fn the_tenants_of_the_batches_written_are_announced_to_their_channels_budget_first() {
        use crate::deliverability::budget::{BudgetAnnouncer, ChannelAnnouncers};
        use crate::testing::{ManualClock, MemoryBudgetStore};
        let (email, push) = (
            Arc::new(MemoryBudgetStore::default()),
            Arc::new(MemoryBudgetStore::default()),
        );
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-12-01 09:00 UTC),
        ));
        let (stream, _, rebatcher) = setup();
        let rebatcher = rebatcher.with_budget_announcers(ChannelAnnouncers {
            email: Arc::new(BudgetAnnouncer::new(email.clone(), clock.clone())),
            push: Arc::new(BudgetAnnouncer::new(push.clone(), clock.clone())),
        });
        let mut events: Vec<_> = (0..3).map(|i| sample_event("alpine", "c1", i)).collect();
        let mut pushed = sample_event("boreal", "c1", 9);
        pushed.channel = Channel::Push;
        events.push(pushed);
        let outcome = rebatcher.rebatch(&records(&events)).await;
        assert!(outcome.failed_positions.is_empty());
        assert_eq!(written_batches(&stream).len(), 2);
        let tenants = |store: &MemoryBudgetStore| -> Vec<String> {
            store
                .state()
                .tenants
                .keys()
                .map(|t| t.to_string())
                .collect()
        };
        assert_eq!(tenants(&email), ["alpine"]);
        assert_eq!(tenants(&push), ["boreal"]);
        // a budget store that fails delays the split, never the batches
        email.set_unavailable(true);
        clock.advance(time::Duration::minutes(1));
        let more: Vec<_> = (3..6).map(|i| sample_event("alpine", "c2", i)).collect();
        let outcome = rebatcher.rebatch(&records(&more)).await;
        assert!(outcome.failed_positions.is_empty());
        assert_eq!(written_batches(&stream).len(), 3);
        let failed: Vec<_> = rebatcher
            .metrics()
            .documents(0)
            .into_iter()
            .filter_map(|d| {
                Some((
                    d["TenantId"].clone(),
                    d.get("BudgetAnnounceFailed")?.clone(),
                ))
            })
            .collect();
        assert_eq!(
            failed,
            [(serde_json::json!("alpine"), serde_json::json!(1.0))]
        );
    }
}
