//! The API demo's pipeline runs: launch chunks, rebatch and deliver until nothing moves, then
//! the deferrals due before the next UTC day redriven as the scheduler does, so the report reads
//! the stats once they are settled. What a delivery defers for a minute (a store call that missed
//! its bound on a loaded endpoint, a send budget's wait) is due again long before the report is
//! read; only the warm-up cap's overflow waits for the next day.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use storecast::deliverability::warmup::next_day_start;
use storecast::pipeline::archive::{Archive as _, DeferredBatch};

use crate::local::api::LocalPipelineRunner;
use crate::local::pipeline::LocalPipeline;

/// Deferred batches read back at most (a demo's retailers have a few).
pub const MAX_DEFERRED_READ: usize = 10_000;
/// Rounds of "wait until the pending deferrals are due, redrive, run the pipeline" at most: a
/// redriven batch can be deferred again (the same store still slow), and the demo must end.
const SETTLE_ROUNDS: usize = 5;
/// A deferral due later than this is not waited for (it stays on its way in the report).
const LONGEST_SETTLE_WAIT: time::Duration = time::Duration::minutes(3);

/// Runs the pipeline behind the API until nothing moves.
pub async fn drain_pipeline(runner: &mut LocalPipelineRunner) -> Result<()> {
    for _ in 0..10 {
        let pass = runner.drain().await?;
        if pass.launch_messages == 0 && pass.rebatch.records == 0 && pass.deliver.records == 0 {
            return Ok(());
        }
    }
    bail!("the pipeline was still moving after 10 passes")
}

/// The stack's deferred batches in its archive.
pub async fn deferred_batches(pipeline: &LocalPipeline) -> Result<Vec<DeferredBatch>> {
    let archive = storecast::aws::s3::S3Archive::new(
        pipeline.clients.s3.clone(),
        &pipeline.stack.bucket("ArchiveBucket")?.name,
    );
    Ok(archive
        .due_deferred(i64::MAX, MAX_DEFERRED_READ)
        .await?
        .into_iter()
        .map(|(_, deferred)| deferred)
        .collect())
}

/// Recipients of each tenant's deferred batches: the messages on their way.
pub fn deferred_recipients(deferred: &[DeferredBatch]) -> BTreeMap<String, u64> {
    let mut per_tenant = BTreeMap::new();
    for batch in deferred.iter().filter_map(|d| d.batch.as_ref()) {
        *per_tenant
            .entry(batch.group.tenant_id.to_string())
            .or_default() += batch.recipients.len() as u64;
    }
    per_tenant
}

/// Until the deferrals due before the next UTC day are settled (at most `SETTLE_ROUNDS`): waits
/// until the latest of them is due (read from the archive, not guessed), runs the scheduler's
/// redrive and the pipeline. Answers the rounds it ran.
pub async fn settle_deferrals(
    pipeline: &LocalPipeline,
    runner: &mut LocalPipelineRunner,
) -> Result<usize> {
    for round in 0..SETTLE_ROUNDS {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let tomorrow = next_day_start(now);
        let Some(due) = deferred_batches(pipeline)
            .await?
            .iter()
            .map(|d| d.retry_at)
            .filter(|at| *at < tomorrow)
            .max()
        else {
            return Ok(round);
        };
        let wait = time::Duration::seconds((due - now).max(0) + 1);
        if wait > LONGEST_SETTLE_WAIT {
            return Ok(round);
        }
        tracing::info!(
            round,
            seconds = wait.whole_seconds(),
            "waiting for deferrals to be due"
        );
        tokio::time::sleep(wait.unsigned_abs()).await;
        let redriven = runner.redrive_deferred().await?;
        tracing::info!(?redriven, "deferrals redriven");
        drain_pipeline(runner).await?;
    }
    Ok(SETTLE_ROUNDS)
}
