//! The scheduler's tick: starts due launches, held past the retailer's quiet hours, puts
//! deferred send batches back on the stream once they are due, and continues the running
//! redrive jobs of resumed campaigns and reinstated tenants.

use serde::Serialize;
use time::OffsetDateTime;

use crate::campaigns::schedule;
use crate::campaigns::store::{CampaignState, ScheduleEntry};
use crate::error::Retryable;

use super::*;

/// What one scheduler tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickSummary {
    pub launches: SchedulerSummary,
    pub deferred: crate::pipeline::redrive::DeferredRedrive,
    pub redrives: crate::pipeline::redrive::JobsTick,
}

/// Deferred batches fall due at any second (a share's start, the budget's estimate, a lease's
/// end), but the schedule invokes the scheduler once a minute: after its tick it keeps putting
/// the due ones back this often, so a batch deferred for two seconds waits about that long, not
/// up to a minute (measured in the fault simulation: docs/deliverability.md, "Noisy
/// neighbour").
pub const DEFERRED_REDRIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How much of its minute the scheduler spends so: below the function's 60 s timeout, so one
/// invocation ends before the next begins.
pub const SCHEDULER_MINUTE: std::time::Duration = std::time::Duration::from_secs(50);

/// What one scheduler invocation did: its tick, then the passes over the deferred batches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MinuteSummary {
    pub tick: TickSummary,
    /// The passes after the tick, and what they put back.
    pub deferred_passes: u32,
    pub deferred_batches: usize,
    pub deferred_recipients: usize,
}

impl Campaigns {
    /// One scheduler invocation: the [`tick`](Self::tick), then a pass over the due deferred
    /// batches every [`DEFERRED_REDRIVE_EVERY`] until `for_at_most` after it began (the tick's
    /// own time included). A pass that fails is logged and the next one tries again; the tick's
    /// error, if any, is returned after the passes (they do not depend on it).
    pub async fn scheduler_minute(
        &self,
        for_at_most: std::time::Duration,
    ) -> Result<MinuteSummary, CampaignError> {
        let started = tokio::time::Instant::now();
        let tick = self.tick().await;
        let mut summary = MinuteSummary::default();
        while started.elapsed() + DEFERRED_REDRIVE_EVERY <= for_at_most {
            tokio::time::sleep(DEFERRED_REDRIVE_EVERY).await;
            summary.deferred_passes += 1;
            match self.redrive_deferred().await {
                Ok(redriven) => {
                    summary.deferred_batches += redriven.batches;
                    summary.deferred_recipients += redriven.recipients;
                }
                Err(error) => {
                    tracing::warn!(error = %DisplayChain(&error), "deferred batches not put back; the next pass tries again");
                }
            }
        }
        summary.tick = tick?;
        Ok(summary)
    }

    /// The every-minute tick: due launches first, then due deferred batches, then a slice of
    /// each running redrive job. A failure of one does not keep the others from running; the
    /// first error is returned after all ran.
    pub async fn tick(&self) -> Result<TickSummary, CampaignError> {
        let launches = self.start_due().await;
        let deferred = self.redrive_deferred().await;
        let redrives = self.continue_redrives().await;
        Ok(TickSummary {
            launches: launches?,
            deferred: deferred?,
            redrives: redrives?,
        })
    }

    /// A slice of each running redrive job, within the tick's budget
    /// (`pipeline::redrive::worker::TICK_BUDGET`).
    pub async fn continue_redrives(
        &self,
    ) -> Result<crate::pipeline::redrive::JobsTick, CampaignError> {
        self.redrive_worker()
            .continue_jobs(crate::pipeline::redrive::worker::TICK_BUDGET)
            .await
            .map_err(CampaignError::Redrive)
    }

    /// Puts the deferred send batches that are due back on the send-batches stream
    /// (`pipeline::redrive::redrive_due`).
    /// The PUT units of the batches put back are added to their campaigns' usage.
    pub async fn redrive_deferred(
        &self,
    ) -> Result<crate::pipeline::redrive::DeferredRedrive, CampaignError> {
        let redriven = crate::pipeline::redrive::redrive_due(
            self.ports.archive.as_ref(),
            self.ports.send_batches.as_ref(),
            self.ports.send_log.as_ref(),
            self.ports.clock.now().unix_timestamp(),
        )
        .await
        .map_err(CampaignError::Redrive)?;
        self.count_put_back(&redriven.put_back).await;
        Ok(redriven)
    }

    /// The scheduler's tick: starts every due SCHEDULED launch (held again if the retailer's
    /// quiet hours began meanwhile) and drops entries that are no longer scheduled.
    pub async fn start_due(&self) -> Result<SchedulerSummary, CampaignError> {
        let mut summary = SchedulerSummary::default();
        loop {
            let now = self.ports.clock.now();
            let due = self.ports.store.due(now, SCHEDULER_PAGE).await?;
            if due.is_empty() {
                return Ok(summary);
            }
            let mut retry_later = false;
            for entry in due {
                match self.start_entry(&entry, now, &mut summary).await {
                    Ok(()) => {}
                    // Changed meanwhile (paused, cancelled, started by another tick): whoever
                    // changed it owns what happens next.
                    Err(CampaignError::Conflict(reason)) => {
                        tracing::info!(%reason, "scheduled launch changed meanwhile");
                        summary.dropped += 1;
                    }
                    Err(error) if error.is_retryable() => {
                        // Kept: the next tick tries again.
                        tracing::warn!(error = %DisplayChain(&error), "scheduled launch not started");
                        summary.failed += 1;
                        retry_later = true;
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(error = %DisplayChain(&error), "scheduled launch failed");
                        summary.failed += 1;
                        let reason = DisplayChain(&error).to_string();
                        self.fail_launch(&entry.launch, &reason).await?;
                    }
                }
                self.ports.store.unschedule(&entry).await?;
            }
            if retry_later {
                return Ok(summary);
            }
        }
    }

    #[tracing::instrument(skip_all, fields(
        tenant_id = %entry.launch.tenant_id,
        campaign_id = %entry.launch.campaign_id,
    ))]
    pub(super) async fn start_entry(
        &self,
        entry: &ScheduleEntry,
        now: OffsetDateTime,
        summary: &mut SchedulerSummary,
    ) -> Result<(), CampaignError> {
        let key = &entry.launch;
        let record = self
            .ports
            .store
            .get(&key.tenant_id, &key.campaign_id)
            .await?;
        let Some(record) = record.filter(|r| {
            r.state == CampaignState::Scheduled
                && r.launch.as_ref().map(|l| &l.launch_id) == Some(&key.launch_id)
        }) else {
            summary.dropped += 1;
            return Ok(());
        };
        let mut launch = record.launch.clone().expect("filtered");
        // Settings may have changed since the launch was scheduled: look again.
        let workspace = match self.active_workspace(&record).await {
            Ok(workspace) => Some(workspace),
            // Started anyway: delivery parks a paused tenant's batches until it is reinstated.
            Err(CampaignError::TenantNotActive) => None,
            Err(error) => return Err(error),
        };
        if let Some(workspace) = workspace
            && let Ok(zone) = schedule::time_zone(&workspace.settings.timezone)
        {
            let quiet = schedule::launch_quiet_hours(
                workspace.settings.quiet_hours,
                record.definition.quiet_hours_zone,
            );
            let opens = schedule::past_quiet_hours(now, &zone, quiet);
            if opens > now {
                launch.starts_at = opens;
                let mut record = record.clone();
                record.launch = Some(launch.clone());
                self.ports
                    .store
                    .schedule(&ScheduleEntry {
                        due: opens,
                        launch: key.clone(),
                    })
                    .await?;
                self.write(record).await?;
                summary.held += 1;
                return Ok(());
            }
        }
        match self.start(record, launch).await {
            Ok(_) => summary.started += 1,
            // Another tick or a cancel got there first.
            Err(CampaignError::Conflict(_)) => summary.dropped += 1,
            Err(error) => return Err(error),
        }
        Ok(())
    }
}
