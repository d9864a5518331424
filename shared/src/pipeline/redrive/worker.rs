//! The redrive worker: a job's pass over its parked batches, a bounded slice at a time. A resume
//! or a reinstate starts the job and runs its first slice; the scheduler's minute tick continues
//! every running job with a slice each.
//!
//! A slice takes the job's lease (a conditional write over the revision it read), then lists a
//! page after the cursor, puts it back (`super::redrive_page`) and writes the cursor and counts
//! over the revision it holds, page by page, until its budget is spent or the pass ends. A write
//! that finds the job moved on (a resume restarted the pass, or the lease ran out and another
//! slice took it) stops the slice: its last page's counts are added to the job as it is now, and
//! its cursor is dropped. So two workers never move one cursor, and a page redriven twice (a
//! slice that died before its write) sends nothing twice: delivery's claims dedupe the copy.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::jobs::{RedriveJob, RedriveJobs, RedriveScope, RedriveState};
use super::{PARKED_PAGE, RedriveError, RedriveSummary, redrive_page};
use crate::clock::Clock;
use crate::error::Retryable;
use crate::pipeline::archive::Archive;
use crate::pipeline::publish::RecordStream;

/// How much one slice may do: pages of [`PARKED_PAGE`] batches, and time (checked between
/// pages, so a slice can overrun it by one page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceBudget {
    pub pages: usize,
    pub time: Duration,
}

/// The slice a resume or a reinstate runs itself before it answers: well inside the API's 29 s
/// (a page of 100 is about 100 reads, one put and 100 uncounts and deletes: a few seconds).
pub const START_SLICE: SliceBudget = SliceBudget {
    pages: 3,
    time: Duration::from_secs(8),
};

/// What one scheduler tick spends on the running jobs, shared among them (the scheduler
/// function has 60 s, and starts due launches and redrives deferred batches too).
pub const TICK_BUDGET: SliceBudget = SliceBudget {
    pages: 100,
    time: Duration::from_secs(30),
};

/// Running jobs one tick continues at most (the rest wait for the next tick).
pub const JOBS_PER_TICK: usize = 25;

/// How long a slice holds its job: longer than any slice runs (its budget and one more page),
/// so a slice whose function died frees its job for a later tick.
pub const REDRIVE_LEASE: Duration = Duration::from_secs(120);

/// Conditional writes of a job that lost to another writer, read again and retried this often.
const JOB_WRITE_ATTEMPTS: usize = 5;

/// What one tick did to the running jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobsTick {
    /// Jobs a slice ran for (held by another slice: not counted).
    pub continued: u64,
    /// Of those, jobs whose pass ended.
    pub finished: u64,
    pub batches: u64,
    pub recipients: u64,
    /// Slices that stopped on an error (the job keeps its cursor for the next tick).
    pub failed: u64,
}

/// What one slice did: the job as it left it, and what it put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub job: RedriveJob,
    pub redriven: RedriveSummary,
}

/// Parked batches back onto the send-batches stream, through redrive jobs.
#[derive(Clone)]
pub struct RedriveWorker {
    pub archive: Arc<dyn Archive>,
    pub stream: Arc<dyn RecordStream>,
    pub jobs: Arc<dyn RedriveJobs>,
    pub clock: Arc<dyn Clock>,
    /// What a resume or reinstate runs itself ([`START_SLICE`]; no pages: it only records the
    /// job, and the scheduler's tick does all of it).
    pub first_slice: SliceBudget,
}

impl RedriveWorker {
    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Starts the scope's job and runs its first slice ([`RedriveWorker::first_slice`]). A job
    /// already running is not started twice: its pass goes back to the first key (what was
    /// parked again behind its cursor is redriven too), under the same job. The job is recorded before the slice runs, so a slice
    /// that fails (the archive down) is only logged: the tick continues it.
    #[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id, campaign_id = scope.campaign_id.as_ref().map(|c| c.as_str())))]
    pub async fn start(&self, scope: &RedriveScope) -> Result<RedriveJob, RedriveError> {
        let started = self.start_job(scope).await?;
        match self.run_slice(scope, self.first_slice).await {
            Ok(Some(slice)) => Ok(slice.job),
            Ok(None) => Ok(started),
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "first redrive slice failed; the scheduler continues the job");
                Ok(self.job(scope).await?.unwrap_or(started))
            }
            Err(error) => Err(error),
        }
    }

    async fn job(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, RedriveError> {
        self.jobs.job(scope).await.map_err(RedriveError::Job)
    }

    async fn save(&self, job: &RedriveJob, was: RedriveState) -> Result<bool, RedriveError> {
        self.jobs
            .save(job, Some(was))
            .await
            .map_err(RedriveError::Job)
    }

    async fn start_job(&self, scope: &RedriveScope) -> Result<RedriveJob, RedriveError> {
        for _ in 0..JOB_WRITE_ATTEMPTS {
            let now = self.now();
            let current = self.job(scope).await?;
            let job = match &current {
                Some(running) if running.is_running() => {
                    let mut again = running.next(now);
                    again.cursor = None;
                    again.still_parked = 0;
                    again.passes += 1;
                    tracing::info!(
                        passes = again.passes,
                        "redrive job running; its pass starts again"
                    );
                    again
                }
                done => RedriveJob::new(scope.clone(), now, done.as_ref()),
            };
            let was = current.as_ref().map(|job| job.state);
            if self.jobs.save(&job, was).await.map_err(RedriveError::Job)? {
                return Ok(job);
            }
        }
        Err(RedriveError::Contended)
    }

    /// Runs one slice of the scope's job, if it is running and nobody holds it (`None` when the
    /// slice did not run: no job, a done one, or one another slice holds).
    #[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id, campaign_id = scope.campaign_id.as_ref().map(|c| c.as_str())))]
    pub async fn run_slice(
        &self,
        scope: &RedriveScope,
        budget: SliceBudget,
    ) -> Result<Option<Slice>, RedriveError> {
        if budget.pages == 0 {
            return Ok(None);
        }
        let deadline = self.clock.now() + budget.time;
        let Some(mut job) = self.take_lease(scope).await? else {
            return Ok(None);
        };
        let mut pages = 0;
        let mut redriven = RedriveSummary::default();
        loop {
            let mut summary = RedriveSummary::default();
            let page = self.next_page(&job, &mut summary).await;
            let (last, full) = match page {
                Ok(page) => page,
                Err(error) => {
                    self.stop_short(&job, &summary, &error).await;
                    return Err(error);
                }
            };
            pages += 1;
            redriven.batches += summary.batches;
            redriven.recipients += summary.recipients;
            redriven.still_parked += summary.still_parked;
            let mut next = job.next(self.now());
            add(&mut next, &summary);
            if let Some(last) = last {
                next.cursor = Some(last);
            }
            if !full {
                next.state = RedriveState::Done;
                next.finished_at = Some(next.updated_at);
            }
            let out_of_budget = pages >= budget.pages || self.clock.now() >= deadline;
            if !full || out_of_budget {
                next.lease_until = 0;
            }
            if !self.save(&next, RedriveState::Running).await? {
                tracing::info!("redrive job changed meanwhile; this slice stops");
                let merged = self.merge(scope, &summary, job.holder, None).await?;
                return Ok(merged.map(|job| Slice { job, redriven }));
            }
            job = next;
            if !job.is_running() {
                tracing::info!(
                    batches = job.batches,
                    recipients = job.recipients,
                    "redrive job done"
                );
            }
            if !job.is_running() || job.lease_until == 0 {
                return Ok(Some(Slice { job, redriven }));
            }
        }
    }

    /// The job with this slice's lease on it, or `None` when it is done, absent or held.
    async fn take_lease(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, RedriveError> {
        let now = self.now();
        let Some(job) = self.job(scope).await? else {
            return Ok(None);
        };
        if !job.is_running() || job.is_leased(now) {
            return Ok(None);
        }
        let mut leased = job.next(now);
        leased.lease_until = now + REDRIVE_LEASE.as_secs() as i64;
        leased.holder = crate::random::next_u64().max(1);
        leased.last_error = None;
        match self.save(&leased, RedriveState::Running).await? {
            true => Ok(Some(leased)),
            false => Ok(None),
        }
    }

    /// Lists the page after the job's cursor and puts it back: the page's last key, and whether
    /// it was full (a page short of [`PARKED_PAGE`] is the end of the pass).
    async fn next_page(
        &self,
        job: &RedriveJob,
        summary: &mut RedriveSummary,
    ) -> Result<(Option<String>, bool), RedriveError> {
        let scope = &job.scope;
        let page = self
            .archive
            .parked_page(
                &scope.tenant_id,
                scope.campaign_id.as_ref(),
                job.cursor.as_deref(),
                PARKED_PAGE,
            )
            .await?;
        let last = page.last().map(|(key, _)| key.clone());
        let full = page.len() == PARKED_PAGE;
        redrive_page(self.archive.as_ref(), self.stream.as_ref(), page, summary).await?;
        Ok((last, full))
    }

    /// A slice that failed: what it put back is counted, the error recorded and the lease
    /// released, all on the job as it is now (best effort: the error is reported either way).
    async fn stop_short(&self, job: &RedriveJob, summary: &RedriveSummary, error: &RedriveError) {
        let reason = crate::error::chain(error);
        tracing::warn!(error = %reason, "redrive slice stopped short; the next tick goes on");
        if let Err(error) = self
            .merge(&job.scope, summary, job.holder, Some(reason))
            .await
        {
            tracing::warn!(%error, "the redrive job's progress could not be written");
        }
    }

    /// Adds a slice's last counts to the job as it is now, and releases the lease if this slice
    /// still holds it.
    async fn merge(
        &self,
        scope: &RedriveScope,
        summary: &RedriveSummary,
        holder: u64,
        error: Option<String>,
    ) -> Result<Option<RedriveJob>, RedriveError> {
        for _ in 0..JOB_WRITE_ATTEMPTS {
            let Some(job) = self.job(scope).await? else {
                return Ok(None);
            };
            let mut next = job.next(self.now());
            add(&mut next, summary);
            if job.holder == holder {
                next.lease_until = 0;
                next.last_error = error.clone();
            }
            if self
                .jobs
                .save(&next, Some(job.state))
                .await
                .map_err(RedriveError::Job)?
            {
                return Ok(Some(next));
            }
        }
        Err(RedriveError::Contended)
    }

    /// The scheduler's share: a slice for each running job (at most [`JOBS_PER_TICK`]), the
    /// budget split among those still to go, so one large job cannot starve the others.
    pub async fn continue_jobs(&self, budget: SliceBudget) -> Result<JobsTick, RedriveError> {
        let scopes = self
            .jobs
            .running(JOBS_PER_TICK)
            .await
            .map_err(RedriveError::Job)?;
        let started = self.clock.now();
        let mut tick = JobsTick::default();
        let mut pages_left = budget.pages;
        for (index, scope) in scopes.iter().enumerate() {
            let spent = (self.clock.now() - started).unsigned_abs();
            let Some(time_left) = budget.time.checked_sub(spent) else {
                break;
            };
            let jobs_left = (scopes.len() - index) as u32;
            let share = SliceBudget {
                pages: (pages_left / jobs_left as usize).max(1),
                time: time_left / jobs_left,
            };
            pages_left = pages_left.saturating_sub(share.pages);
            match self.run_slice(scope, share).await {
                Ok(Some(slice)) => {
                    tick.continued += 1;
                    tick.finished += u64::from(!slice.job.is_running());
                    tick.batches += slice.redriven.batches as u64;
                    tick.recipients += slice.redriven.recipients as u64;
                }
                Ok(None) => {}
                Err(_) => tick.failed += 1,
            }
        }
        if tick != JobsTick::default() {
            tracing::info!(?tick, "continued redrive jobs");
        }
        Ok(tick)
    }
}

fn add(job: &mut RedriveJob, summary: &RedriveSummary) {
    job.batches += summary.batches as u64;
    job.recipients += summary.recipients as u64;
    job.still_parked += summary.still_parked as u64;
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
