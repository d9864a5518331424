//! A campaign's stats: launch reports, the delivery counters the outcome writes keep, the
//! parked counts the park and the redrive keep, and the progress of its redrive job: a few reads
//! whatever the campaign's size.

use crate::campaigns::report::LaunchReport;
use crate::campaigns::store::ChunkStatus;
use crate::domain::{CampaignId, TenantId};
use crate::pipeline::send_log::{DeliveryTally, split_counter_key};

use super::*;

impl Campaigns {
    pub async fn stats(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<CampaignStats, CampaignError> {
        let record = self.record(tenant, id).await?;
        let mut progress = LaunchProgress::default();
        let mut report = LaunchReport::default();
        if let Some(launch) = record.launch.as_ref().filter(|l| l.started_at.is_some()) {
            progress.chunks_total = launch.chunks;
            for chunk in self
                .ports
                .store
                .chunks(&launch_key(&record, &launch.launch_id))
                .await?
            {
                match chunk.status {
                    ChunkStatus::Done => progress.chunks_done += 1,
                    ChunkStatus::Failed => progress.chunks_failed += 1,
                    ChunkStatus::Pending => progress.chunks_pending += 1,
                }
                if let Some(chunk_report) = &chunk.report {
                    report.merge(chunk_report);
                }
            }
        }
        let (mut delivery, delivery_by_channel) = self.delivery_counts(tenant, id).await?;
        let mut feedback = crate::deliverability::counters::FeedbackCounts::default();
        let mut feedback_by_variant = std::collections::BTreeMap::new();
        for (variant, counts) in self.ports.feedback.campaign_counts(tenant, id).await? {
            feedback.add_all(&counts);
            feedback_by_variant.insert(variant, counts);
        }
        let usage = self.ports.delivery.campaign_usage(tenant, id).await?;
        let parked = self.ports.parked.campaign_parked(tenant, id).await?;
        let scope = crate::pipeline::redrive::RedriveScope::campaign(tenant, id);
        let redrive = self.ports.redrive_jobs.job(&scope).await?;
        delivery.parked_batches = parked.batches;
        delivery.parked = parked.recipients;
        delivery.in_flight = report
            .events_emitted
            .saturating_sub(delivery.finished() + delivery.parked);
        let cost = crate::costs::CampaignCost::new(usage, delivery.sent);
        Ok(CampaignStats {
            campaign_id: id.clone(),
            state: record.state,
            launch_id: record.launch.map(|l| l.launch_id),
            progress,
            rows: report.rows,
            held_out: report.held_out,
            skipped: SkippedCounts {
                not_consented: report.not_consented,
                no_address: report.no_address,
                suppressed: report.suppressed,
                not_in_segment: report.not_in_segment,
                frequency_capped: report.frequency_capped,
                malformed: report.malformed,
            },
            events_emitted: report.events_emitted,
            offers_unavailable: report.offers_unavailable,
            matched: report.matched,
            delivery,
            cost,
            delivery_by_channel,
            feedback,
            feedback_by_variant,
            redrive: redrive.as_ref().map(Into::into),
        })
    }

    /// The delivery counters summed, and per channel.
    async fn delivery_counts(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
    ) -> Result<
        (
            DeliveryCounts,
            std::collections::BTreeMap<String, DeliveryTally>,
        ),
        CampaignError,
    > {
        let mut delivery = DeliveryCounts::default();
        let mut by_channel = std::collections::BTreeMap::<String, DeliveryTally>::new();
        for (key, tally) in self.ports.delivery.campaign_tallies(tenant, id).await? {
            delivery.sent += tally.sent;
            delivery.failed += tally.failed;
            delivery.suppressed += tally.suppressed;
            delivery.unconfirmed += tally.unconfirmed;
            delivery.frequency_capped += tally.frequency_capped;
            let (_, channel) = split_counter_key(&key);
            by_channel
                .entry(channel.to_string())
                .or_default()
                .add(&tally);
        }
        Ok((delivery, by_channel))
    }
}
