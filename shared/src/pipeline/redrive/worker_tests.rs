use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use time::macros::datetime;

use super::*;
use crate::domain::{CampaignId, TenantId};
use crate::error::StreamError;
use crate::pipeline::archive::ParkedBatch;
use crate::pipeline::parked::{CountedArchive, ParkedCounts};
use crate::pipeline::publish::{EntryResult, StreamRecord};
use crate::testing::samples::sample_batch;
use crate::testing::{
    ManualClock, MemoryArchive, MemoryParkedCounts, MemoryRedriveJobs, MemoryStream,
};

struct World {
    objects: Arc<MemoryArchive>,
    counts: Arc<MemoryParkedCounts>,
    jobs: Arc<MemoryRedriveJobs>,
    stream: Arc<MemoryStream>,
    clock: Arc<ManualClock>,
    worker: RedriveWorker,
}

fn world_with_stream(stream: Arc<dyn RecordStream>, memory: Arc<MemoryStream>) -> World {
    let objects = Arc::new(MemoryArchive::default());
    let counts = Arc::new(MemoryParkedCounts::default());
    let jobs = Arc::new(MemoryRedriveJobs::default());
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-01 12:00 UTC)));
    let worker = RedriveWorker {
        archive: Arc::new(CountedArchive::new(objects.clone(), counts.clone())),
        stream,
        jobs: jobs.clone(),
        clock: clock.clone(),
        first_slice: crate::pipeline::redrive::worker::START_SLICE,
    };
    World {
        objects,
        counts,
        jobs,
        stream: memory,
        clock,
        worker,
    }
}

fn world() -> World {
    let stream = Arc::new(MemoryStream::default());
    world_with_stream(stream.clone(), stream)
}

fn spring() -> RedriveScope {
    RedriveScope::campaign(
        &TenantId::parse("alpine").unwrap(),
        &CampaignId::parse("spring").unwrap(),
    )
}

fn parked(customer: u32) -> ParkedBatch {
    ParkedBatch {
        reason: "campaign paused".into(),
        parked_at: "2026-12-01T11:00:00Z".into(),
        batch: sample_batch("alpine", "spring", [customer]),
    }
}

async fn park(world: &World, batches: u32) {
    for customer in 0..batches {
        world.worker.archive.park(&parked(customer)).await.unwrap();
    }
}

async fn parked_now(world: &World) -> u64 {
    let scope = spring();
    let tally = world
        .counts
        .campaign_parked(&scope.tenant_id, scope.campaign_id.as_ref().unwrap())
        .await
        .unwrap();
    tally.batches
}

#[tokio::test]
async fn a_large_redrive_is_put_back_a_slice_at_a_time_with_its_progress_recorded() {
    // GIVEN 1,000 parked batches of a campaign (ten pages)
    let w = world();
    park(&w, 1_000).await;

    // WHEN its redrive job is started
    let job = w.worker.start(&spring()).await.unwrap();

    // THEN the first slice put back its pages only, and the job keeps its cursor
    let first = START_SLICE.pages * PARKED_PAGE;
    assert_eq!(job.state, RedriveState::Running);
    assert_eq!(job.batches, first as u64);
    assert_eq!(w.stream.records().len(), first);
    assert_eq!(parked_now(&w).await, 1_000 - first as u64);
    assert!(job.cursor.is_some());
    assert_eq!(job.lease_until, 0, "released for the tick");

    // WHEN the scheduler's tick continues it
    let tick = w.worker.continue_jobs(TICK_BUDGET).await.unwrap();

    // THEN the rest went back, and the job is done
    assert_eq!((tick.continued, tick.finished), (1, 1));
    assert_eq!(tick.batches, (1_000 - first) as u64);
    let job = w.jobs.jobs().pop().unwrap();
    assert_eq!(job.state, RedriveState::Done);
    assert_eq!(
        (job.batches, job.recipients, job.still_parked),
        (1_000, 1_000, 0)
    );
    assert!(job.finished_at.is_some());
    assert_eq!(w.stream.records().len(), 1_000);
    assert!(w.objects.keys().is_empty());
    assert_eq!(parked_now(&w).await, 0);
    assert!(w.worker.jobs.running(10).await.unwrap().is_empty());
    assert_eq!(
        w.worker.continue_jobs(TICK_BUDGET).await.unwrap(),
        JobsTick::default()
    );
}

#[tokio::test]
async fn starting_again_while_the_job_runs_starts_no_second_job_and_its_pass_starts_over() {
    // GIVEN a running job past its first slice, and one of the batches it put back parked again
    // (the campaign was paused again), behind its cursor
    let w = world();
    park(&w, 500).await;
    let first = w.worker.start(&spring()).await.unwrap();
    let again = ParkedBatch {
        batch: parked(0).batch.redriven(),
        ..parked(0)
    };
    w.worker.archive.park(&again).await.unwrap();

    // WHEN the campaign is resumed again while its job runs
    let restarted = w.worker.start(&spring()).await.unwrap();

    // THEN it is the same job, its pass back at the first key; the batch parked again is
    // redriven with the rest once the tick has finished the pass
    assert_eq!(w.jobs.jobs().len(), 1);
    assert_eq!(restarted.passes, 2);
    assert!(restarted.revision > first.revision);
    w.worker.continue_jobs(TICK_BUDGET).await.unwrap();
    let job = w.jobs.jobs().pop().unwrap();
    assert_eq!(job.state, RedriveState::Done);
    assert_eq!(
        job.batches, 501,
        "each batch once, and the one parked again"
    );
    assert!(w.objects.keys().is_empty());
    assert_eq!(parked_now(&w).await, 0);
}

#[tokio::test]
async fn a_job_held_by_a_slice_is_not_run_twice_until_its_lease_ends() {
    // GIVEN a job whose slice took the lease and died (its function timed out)
    let w = world();
    park(&w, 350).await;
    let job = w.worker.start(&spring()).await.unwrap();
    assert!(job.is_running());
    let mut held = job.next(job.updated_at);
    held.lease_until = job.updated_at + REDRIVE_LEASE.as_secs() as i64;
    held.holder = 7;
    assert!(
        w.jobs
            .save(&held, Some(RedriveState::Running))
            .await
            .unwrap()
    );

    // WHEN ticks come before and after the lease ends
    let during = w.worker.continue_jobs(TICK_BUDGET).await.unwrap();
    w.clock
        .advance(time::Duration::seconds(REDRIVE_LEASE.as_secs() as i64 + 1));
    let after = w.worker.continue_jobs(TICK_BUDGET).await.unwrap();

    // THEN nothing ran while it was held; then the pass went on from the cursor written last
    assert_eq!(during, JobsTick::default());
    assert_eq!((after.continued, after.finished, after.batches), (1, 1, 50));
    assert_eq!(w.jobs.jobs().pop().unwrap().batches, 350);
    assert_eq!(w.stream.records().len(), 350, "no page put back twice");
}

/// A stream on which a resume lands while the slice is putting its page back.
struct ResumedMeanwhile {
    stream: Arc<MemoryStream>,
    worker: OnceLock<RedriveWorker>,
    done: AtomicBool,
}

#[async_trait]
impl RecordStream for ResumedMeanwhile {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        if !self.done.swap(true, Ordering::SeqCst) {
            let worker = self.worker.get().unwrap();
            worker.start(&spring()).await.unwrap();
        }
        self.stream.put_records(records).await
    }
}

#[tokio::test]
async fn a_slice_whose_job_was_restarted_meanwhile_keeps_its_counts_and_moves_no_cursor() {
    // GIVEN a job, and a resume landing while its slice puts back its first page
    let memory = Arc::new(MemoryStream::default());
    let stream = Arc::new(ResumedMeanwhile {
        stream: memory.clone(),
        worker: OnceLock::new(),
        done: AtomicBool::new(false),
    });
    let w = world_with_stream(stream.clone(), memory);
    stream.worker.set(w.worker.clone()).ok().unwrap();
    park(&w, 250).await;

    // WHEN the job starts
    let job = w.worker.start(&spring()).await.unwrap();

    // THEN the slice stopped at its first write: its page is counted, the cursor stays where the
    // restart put it, the lease is free, and the tick finishes the pass
    assert_eq!((job.passes, job.batches), (2, PARKED_PAGE as u64));
    assert_eq!((job.cursor.as_deref(), job.lease_until), (None, 0));
    assert!(w.jobs.refused() >= 1);
    w.worker.continue_jobs(TICK_BUDGET).await.unwrap();
    let job = w.jobs.jobs().pop().unwrap();
    assert_eq!((job.state, job.batches), (RedriveState::Done, 250));
    assert!(w.objects.keys().is_empty());
}

#[tokio::test]
async fn a_slice_that_fails_keeps_its_cursor_says_why_and_the_next_tick_goes_on() {
    // GIVEN a running job, and the archive down at the next tick
    let w = world();
    park(&w, 450).await;
    let first = w.worker.start(&spring()).await.unwrap();
    w.objects.set_unavailable(true);

    // WHEN the tick tries, and a later one once the archive is back
    let failed = w.worker.continue_jobs(TICK_BUDGET).await.unwrap();
    let stuck = w.jobs.jobs().pop().unwrap();
    w.objects.set_unavailable(false);
    w.worker.continue_jobs(TICK_BUDGET).await.unwrap();

    // THEN the failure is on the job, its cursor unmoved and its lease free; then it finished
    assert_eq!(failed.failed, 1);
    assert_eq!(stuck.cursor, first.cursor);
    assert_eq!(stuck.lease_until, 0);
    assert!(
        stuck.last_error.as_deref().unwrap().contains("archive"),
        "{stuck:?}"
    );
    let job = w.jobs.jobs().pop().unwrap();
    assert_eq!(
        (job.state, job.batches, job.last_error),
        (RedriveState::Done, 450, None)
    );
}

#[tokio::test]
async fn a_first_slice_that_fails_leaves_the_job_for_the_tick() {
    let w = world();
    park(&w, 10).await;
    w.objects.set_unavailable(true);

    let job = w.worker.start(&spring()).await.unwrap();

    assert_eq!((job.state, job.batches), (RedriveState::Running, 0));
    assert!(job.last_error.is_some());
    w.objects.set_unavailable(false);
    w.worker.continue_jobs(TICK_BUDGET).await.unwrap();
    assert_eq!(w.jobs.jobs().pop().unwrap().batches, 10);
}

#[tokio::test]
async fn a_job_that_cannot_be_recorded_is_a_retryable_error() {
    let w = world();
    w.jobs.set_unavailable(true);
    let error = w.worker.start(&spring()).await.unwrap_err();
    assert!(matches!(error, RedriveError::Job(_)) && error.is_retryable());
}
