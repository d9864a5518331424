//! The launch queue's worker: one chunk of an audience export per message.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::campaigns::checkpoint::{ChunkCheckpoint, ChunkCheckpoints};
use crate::campaigns::queue::ChunkMessage;
use crate::campaigns::store::{
    CampaignRecord, CampaignState, CampaignStore, ChunkStatus, LaunchKey,
};
use crate::campaigns::{ChunkError, Launch};
use crate::error::Retryable;

use super::*;

/// Why a chunk of a campaign that is not there is skipped.
pub(super) const NO_SUCH_CAMPAIGN: &str = "no such campaign";

impl Campaigns {
    /// One chunk of a launch (one queue message).
    #[tracing::instrument(skip_all, fields(
        tenant_id = %message.launch.tenant_id,
        campaign_id = %message.launch.campaign_id,
        launch_id = %message.launch.launch_id,
        chunk = message.index,
    ))]
    pub async fn run_chunk(
        &self,
        message: &ChunkMessage,
        receive_count: u32,
    ) -> Result<ChunkOutcome, CampaignError> {
        let key = &message.launch;
        let Some(record) = self
            .ports
            .store
            .get(&key.tenant_id, &key.campaign_id)
            .await?
        else {
            return Ok(ChunkOutcome::Skipped(NO_SUCH_CAMPAIGN));
        };
        let Some(launch) = record
            .launch
            .as_ref()
            .filter(|l| l.launch_id == key.launch_id)
        else {
            return Ok(ChunkOutcome::Skipped("an older launch"));
        };
        if matches!(
            record.state,
            CampaignState::Cancelled | CampaignState::Failed
        ) {
            return Ok(ChunkOutcome::Skipped("campaign cancelled or failed"));
        }
        let Some(started_at) = launch.started_at else {
            return Ok(ChunkOutcome::Skipped("launch not started"));
        };
        let resume = match self.ports.store.chunk(key, message.index).await? {
            Some(chunk) if chunk.status == ChunkStatus::Pending => chunk.checkpoint,
            Some(_) => return Ok(ChunkOutcome::Skipped("chunk already done or failed")),
            None => return Ok(ChunkOutcome::Skipped("no such chunk")),
        };
        let frequency_cap = self
            .ports
            .admin
            .workspace(&record.definition.tenant_id)
            .await?
            .and_then(|workspace| workspace.settings.frequency_cap);
        let engine_launch =
            Launch::new(record.definition.clone(), started_at)?.with_frequency_cap(frequency_cap);
        let checkpoints = StoreCheckpoints {
            store: self.ports.store.as_ref(),
            key,
            index: message.index,
        };
        let ran = self
            .ports
            .engine
            .resume_chunk(
                &engine_launch,
                message.start..message.end,
                resume.as_ref(),
                Some(&checkpoints),
            )
            .await;
        match ran {
            Ok(report) => {
                let events = report.events_emitted;
                let newly_done = self
                    .ports
                    .store
                    .finish_chunk(key, message.index, &report)
                    .await?;
                let completed_launch = newly_done && self.complete_if_done(key).await?;
                Ok(ChunkOutcome::Done {
                    events,
                    completed_launch,
                })
            }
            Err(error) => {
                self.chunk_failed(key, message.index, &error, receive_count)
                    .await
            }
        }
    }

    /// Counts a failed attempt; a failure that cannot be retried, or the last attempt, fails
    /// the chunk and its launch for good.
    async fn chunk_failed(
        &self,
        key: &LaunchKey,
        index: u32,
        error: &ChunkError,
        receive_count: u32,
    ) -> Result<ChunkOutcome, CampaignError> {
        let reason = format!("{:#}", DisplayChain(error));
        let permanent = !error.is_retryable() || receive_count >= self.config.max_chunk_attempts;
        tracing::warn!(%reason, permanent, receive_count, "chunk failed");
        self.ports
            .store
            .fail_chunk(key, index, &reason, permanent)
            .await?;
        if permanent {
            self.fail_launch(key, &reason).await?;
            Ok(ChunkOutcome::Failed(reason))
        } else {
            Ok(ChunkOutcome::Retry(reason))
        }
    }

    /// After a chunk is done: when every chunk is, the launch is complete and the campaign SENT.
    pub(super) async fn complete_if_done(&self, key: &LaunchKey) -> Result<bool, CampaignError> {
        let chunks = self.ports.store.chunks(key).await?;
        if chunks.iter().any(|c| c.status != ChunkStatus::Done) {
            return Ok(false);
        }
        self.change_launch(key, |record| {
            let launch = record.launch.as_mut().expect("matched launch");
            if launch.completed {
                return false;
            }
            launch.completed = true;
            if record.state == CampaignState::Launching {
                record.state = CampaignState::Sent;
            }
            true
        })
        .await
    }

    pub(super) async fn fail_launch(
        &self,
        key: &LaunchKey,
        reason: &str,
    ) -> Result<bool, CampaignError> {
        self.change_launch(key, |record| {
            let launch = record.launch.as_mut().expect("matched launch");
            if launch.failure.is_some() {
                return false;
            }
            launch.failure = Some(reason.to_string());
            if matches!(
                record.state,
                CampaignState::Scheduled | CampaignState::Launching
            ) {
                record.state = CampaignState::Failed;
            }
            true
        })
        .await
    }

    /// Applies `change` to the campaign of this launch, re-reading after a lost race. `change`
    /// answers whether there is anything to write.
    pub(super) async fn change_launch(
        &self,
        key: &LaunchKey,
        change: impl Fn(&mut CampaignRecord) -> bool,
    ) -> Result<bool, CampaignError> {
        for _ in 0..CONCURRENT_WRITE_RETRIES {
            let Some(mut record) = self
                .ports
                .store
                .get(&key.tenant_id, &key.campaign_id)
                .await?
            else {
                return Ok(false);
            };
            if record.launch.as_ref().map(|l| &l.launch_id) != Some(&key.launch_id)
                || !change(&mut record)
            {
                return Ok(false);
            }
            match self.write(record).await {
                Ok(_) => return Ok(true),
                Err(CampaignError::Conflict(_)) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(CampaignError::Conflict(
            "the campaign kept changing concurrently".into(),
        ))
    }

    /// The launch queue's handler: one chunk per message; failed ones worth retrying are
    /// reported as batch item failures, so SQS retries them alone (and moves them to the
    /// dead-letter queue after the queue's maxReceiveCount).
    pub async fn handle_chunk_messages(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let messages = event.records.len();
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let message: ChunkMessage =
                match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
                    Ok(message) => message,
                    Err(error) => {
                        // Left to reach the dead-letter queue, where it can be looked at.
                        tracing::error!(%error, message_id = %id, "unreadable launch message");
                        response.add_failure(id);
                        continue;
                    }
                };
            let ran = self
                .run_chunk_counting_usage(&message, receive_count, messages)
                .await;
            let retry = match ran {
                Ok(ChunkOutcome::Retry(_)) => true,
                Ok(outcome) => {
                    tracing::info!(?outcome, "chunk message handled");
                    false
                }
                Err(error) => {
                    tracing::warn!(error = %DisplayChain(&error), "chunk message failed");
                    true
                }
            };
            if retry {
                self.retry_soon(record.receipt_handle.as_deref(), receive_count)
                    .await;
                response.add_failure(id);
            }
        }
        self.flush_metrics();
        response
    }

    /// Brings a chunk to retry back after [`CampaignsConfig::chunk_retry`]'s delay instead of
    /// the queue's visibility timeout. If that fails, the visibility timeout still brings it back.
    async fn retry_soon(&self, receipt_handle: Option<&str>, receive_count: u32) {
        let Some(receipt_handle) = receipt_handle else {
            return;
        };
        let delay = self.config.chunk_retry.delay(receive_count);
        match self.ports.queue.retry_after(receipt_handle, delay).await {
            Ok(()) => tracing::info!(delay_s = delay.as_secs(), "chunk retried after a delay"),
            Err(error) => tracing::warn!(
                error = %DisplayChain(&error),
                "the chunk's visibility could not be changed: back after the queue's timeout"
            ),
        }
    }
}

/// Records a running chunk's checkpoints on its progress item. A write that fails is logged
/// and the chunk goes on: a retry then emits again from the previous checkpoint.
struct StoreCheckpoints<'a> {
    store: &'a dyn CampaignStore,
    key: &'a LaunchKey,
    index: u32,
}

#[async_trait::async_trait]
impl ChunkCheckpoints for StoreCheckpoints<'_> {
    async fn checkpoint(&self, checkpoint: &ChunkCheckpoint) {
        let recorded = self
            .store
            .checkpoint_chunk(self.key, self.index, checkpoint)
            .await;
        match recorded {
            Ok(moved) => tracing::debug!(last_row = checkpoint.last_row, moved, "chunk checkpoint"),
            Err(error) => tracing::warn!(
                error = %DisplayChain(&error),
                last_row = checkpoint.last_row,
                "chunk checkpoint not recorded"
            ),
        }
    }
}
