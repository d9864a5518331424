//! The in-memory send log, directory and archive behind the faults of the simulation: outages
//! in windows of virtual time, and the faults an invocation was dealt at its claims and its
//! outcome write.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use rand::rngs::StdRng;

use super::invocation::{self, FaultAction, FaultPoint};
use super::{Faults, VirtualClock};
use crate::clock::Clock;
use crate::deliverability::budget::{BudgetState, BudgetStore, BudgetWrite, BudgetWritten};
use crate::directory::{DeliveryContext, DeliveryDirectory};
use crate::domain::{
    BatchId, CampaignId, MessageId, SendBatch, TemplateRef, TemplateVersion, TenantId,
};
use crate::error::{Message, StoreError};
use crate::pipeline::archive::{Archive, DeadLetter, DeferredBatch, ParkedBatch};
use crate::pipeline::parked::{ParkedCounts, ParkedTally};
use crate::pipeline::redrive::{RedriveJob, RedriveJobs, RedriveScope, RedriveState};
use crate::pipeline::send_log::{
    BatchOutcome, ClaimResult, MessageClaim, OutcomeWrite, OutcomeWritten, SendLog,
};
use crate::templates::ports::TemplateStore;
use crate::testing::{
    MemoryArchive, MemoryBudgetStore, MemoryDirectory, MemoryParkedCounts, MemoryRedriveJobs,
    MemorySendLog,
};

fn outage(store: &'static str) -> StoreError {
    StoreError::Unavailable {
        store,
        source: Message::boxed("injected outage"),
    }
}

/// DynamoDB's tables and S3's archive, failing inside the fault plan's outage windows.
pub struct FaultyStores {
    pub send_log: Arc<MemorySendLog>,
    pub directory: Arc<MemoryDirectory>,
    pub archive: Arc<MemoryArchive>,
    /// The parked counts on the delivery table.
    pub parked: Arc<MemoryParkedCounts>,
    /// The send budget's item on the delivery table.
    pub budget: Arc<MemoryBudgetStore>,
    /// The redrive jobs on the tenants table.
    pub jobs: Arc<MemoryRedriveJobs>,
    pub faults: Arc<Faults>,
    pub clock: Arc<VirtualClock>,
    /// Draws the latency of the calls that park, list, count and remove parked batches (the
    /// other calls answer at once, as before parking was simulated), apart from the faults.
    pub latency: Mutex<StdRng>,
}

/// S3's latency for a parked batch's put, list, read or delete (about a page's worth of
/// objects take seconds to redrive, as they do on AWS).
const S3_LATENCY_MS: std::ops::RangeInclusive<u64> = 10..=40;
/// DynamoDB's latency for a park's count or a redrive's uncount (a TransactWriteItems).
const DYNAMODB_LATENCY_MS: std::ops::RangeInclusive<u64> = 5..=20;

impl FaultyStores {
    fn dynamodb(&self) -> Result<(), StoreError> {
        match self.faults.dynamodb_down(self.clock.now()) {
            true => Err(outage("delivery table")),
            false => Ok(()),
        }
    }

    fn s3(&self) -> Result<(), StoreError> {
        match self.faults.archive_down(self.clock.now()) {
            true => Err(outage("archive")),
            false => Ok(()),
        }
    }

    async fn latency(&self, range: std::ops::RangeInclusive<u64>) {
        let millis = self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random_range(range);
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}

#[async_trait]
impl SendLog for FaultyStores {
    async fn claim(&self, claim: &MessageClaim) -> Result<ClaimResult, StoreError> {
        self.dynamodb()?;
        if invocation::strike(FaultPoint::BeforeClaim) == Some(FaultAction::Crash) {
            return invocation::crash().await;
        }
        let result = self.send_log.claim(claim).await?;
        if invocation::strike(FaultPoint::AfterClaim) == Some(FaultAction::Crash) {
            return invocation::crash().await;
        }
        Ok(result)
    }

    async fn take_over(
        &self,
        previous: &MessageClaim,
        claim: &MessageClaim,
    ) -> Result<bool, StoreError> {
        self.dynamodb()?;
        self.send_log.take_over(previous, claim).await
    }

    async fn write_outcome(&self, write: &OutcomeWrite<'_>) -> Result<OutcomeWritten, StoreError> {
        self.dynamodb()?;
        match invocation::strike(FaultPoint::OutcomeWrite) {
            Some(FaultAction::Crash) => return invocation::crash().await,
            Some(FaultAction::Fail(_)) => return Err(outage("delivery table")),
            Some(FaultAction::Hang) => tokio::time::sleep(Duration::from_secs(3_600)).await,
            _ => {}
        }
        self.send_log.write_outcome(write).await
    }

    async fn outcome(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        batch: &BatchId,
    ) -> Result<Option<BatchOutcome>, StoreError> {
        self.dynamodb()?;
        self.send_log.outcome(tenant, campaign, batch).await
    }

    async fn message_claim(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        message: &MessageId,
    ) -> Result<Option<MessageClaim>, StoreError> {
        self.dynamodb()?;
        self.send_log.message_claim(tenant, campaign, message).await
    }
}

#[async_trait]
impl DeliveryDirectory for FaultyStores {
    async fn delivery_context(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        addresses: &[String],
    ) -> Result<DeliveryContext, StoreError> {
        self.dynamodb()?;
        self.directory
            .delivery_context(tenant, campaign, addresses)
            .await
    }
}

#[async_trait]
impl TemplateStore for FaultyStores {
    async fn template_version(
        &self,
        tenant: &TenantId,
        template: &TemplateRef,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        self.dynamodb()?;
        self.directory.template_version(tenant, template).await
    }

    async fn live_template(
        &self,
        tenant: &TenantId,
        template: &crate::domain::TemplateId,
    ) -> Result<Option<TemplateVersion>, StoreError> {
        self.dynamodb()?;
        self.directory.live_template(tenant, template).await
    }
}

#[async_trait]
impl Archive for FaultyStores {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError> {
        self.latency(S3_LATENCY_MS).await;
        self.s3()?;
        self.archive.park(parked).await
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.s3()?;
        self.archive.dead_letter(letter).await
    }

    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        self.s3()?;
        self.archive.parked(tenant, campaign).await
    }

    async fn parked_page(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        self.latency(S3_LATENCY_MS).await;
        self.s3()?;
        let page = self
            .archive
            .parked_page(tenant, campaign, after, limit)
            .await?;
        for _ in &page {
            self.latency(S3_LATENCY_MS).await;
        }
        Ok(page)
    }

    async fn remove_parked(&self, key: &str) -> Result<(), StoreError> {
        if key.starts_with("parked/") {
            self.latency(S3_LATENCY_MS).await;
        }
        self.s3()?;
        self.archive.remove_parked(key).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.s3()?;
        self.archive.dead_letters().await
    }

    async fn defer(&self, deferred: &DeferredBatch) -> Result<(), StoreError> {
        self.s3()?;
        self.archive.defer(deferred).await
    }

    async fn due_deferred(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, DeferredBatch)>, StoreError> {
        self.s3()?;
        self.archive.due_deferred(now, limit).await
    }
}

#[async_trait]
impl ParkedCounts for FaultyStores {
    async fn count_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.latency(DYNAMODB_LATENCY_MS).await;
        self.dynamodb()?;
        self.parked.count_parked(batch).await
    }

    async fn uncount_parked(&self, batch: &SendBatch) -> Result<(), StoreError> {
        self.latency(DYNAMODB_LATENCY_MS).await;
        self.dynamodb()?;
        self.parked.uncount_parked(batch).await
    }

    async fn campaign_parked(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
    ) -> Result<ParkedTally, StoreError> {
        self.dynamodb()?;
        self.parked.campaign_parked(tenant, campaign).await
    }
}

#[async_trait]
impl BudgetStore for FaultyStores {
    async fn apply(&self, write: &BudgetWrite) -> Result<BudgetWritten, StoreError> {
        self.dynamodb()?;
        self.budget.apply(write).await
    }

    async fn read(&self) -> Result<BudgetState, StoreError> {
        self.dynamodb()?;
        self.budget.read().await
    }
}

#[async_trait]
impl RedriveJobs for FaultyStores {
    async fn job(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, StoreError> {
        self.dynamodb()?;
        self.jobs.job(scope).await
    }

    async fn save(&self, job: &RedriveJob, was: Option<RedriveState>) -> Result<bool, StoreError> {
        self.dynamodb()?;
        self.jobs.save(job, was).await
    }

    async fn running(&self, limit: usize) -> Result<Vec<RedriveScope>, StoreError> {
        self.dynamodb()?;
        self.jobs.running(limit).await
    }
}

/// The message ids of a send batch or campaign event record, for reconciling kept records.
pub fn message_ids_of(data: &[u8]) -> HashSet<String> {
    #[derive(serde::Deserialize)]
    struct Recipient {
        message_id: String,
    }
    #[derive(serde::Deserialize)]
    struct Record {
        message_id: Option<String>,
        #[serde(default)]
        recipients: Vec<Recipient>,
    }
    let Ok(record) = serde_json::from_slice::<Record>(data) else {
        return HashSet::new();
    };
    record
        .message_id
        .into_iter()
        .chain(record.recipients.into_iter().map(|r| r.message_id))
        .collect()
}
