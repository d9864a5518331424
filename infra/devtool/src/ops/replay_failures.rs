//! `replay-failures`: puts what the Kinesis event source mappings gave up on back on its stream,
//! from the on-failure bucket of a deployed stack (`--bucket`) or of the local one.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;
use storecast::aws::kinesis::KinesisStreams;
use storecast::aws::s3::S3OnFailureObjects;
use storecast::pipeline::stream_failures::{
    ReplayFilter, ReplayOutcome, ReplaySummary, replay_failures,
};

use crate::local::pipeline::LocalPipeline;

#[derive(Args)]
pub struct ReplayFailuresArgs {
    /// The stack's on-failure bucket (output `StreamFailuresBucketName`; AWS credentials from
    /// the environment); the local stack's when absent (AWS_ENDPOINT_URL).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Only objects of a function whose name contains this (e.g. `DeliverFunction`).
    #[arg(long)]
    pub function: Option<String>,
    /// Only objects of this stream (its name, e.g. `<stack>-send-batches`).
    #[arg(long)]
    pub stream: Option<String>,
    /// List what would be put back; put and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Prints one JSON line per object, then the totals; fails when an object stays behind.
pub async fn run(args: ReplayFailuresArgs, template_file: &Path) -> Result<()> {
    let (s3, kinesis, bucket) = match args.bucket {
        Some(bucket) => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let s3 = storecast::aws::s3::client(&sdk);
            (s3, aws_sdk_kinesis::Client::new(&sdk), bucket)
        }
        None => {
            let pipeline = LocalPipeline::connect(template_file).await?;
            let bucket = pipeline.stream_failures_bucket()?;
            (pipeline.clients.s3, pipeline.clients.kinesis, bucket)
        }
    };
    let filter = ReplayFilter {
        function: args.function,
        stream: args.stream,
    };
    let summary = replay(s3, kinesis, &bucket, &filter, args.dry_run).await?;
    for object in &summary.objects {
        println!("{}", serde_json::to_string(object)?);
    }
    let left =
        summary.count(|o| matches!(o, ReplayOutcome::Kept(_) | ReplayOutcome::Unreadable(_)));
    println!(
        "{} replayed, {} would be replayed, {} left in s3://{bucket}, {} not matching the filter",
        summary.count(|o| *o == ReplayOutcome::Replayed),
        summary.count(|o| *o == ReplayOutcome::WouldReplay),
        left,
        summary.skipped,
    );
    if left > 0 {
        bail!("{left} on-failure object(s) not replayed; see their reasons above");
    }
    Ok(())
}

/// The replay on these clients: every matching object of the bucket back on its stream.
pub async fn replay(
    s3: aws_sdk_s3::Client,
    kinesis: aws_sdk_kinesis::Client,
    bucket: &str,
    filter: &ReplayFilter,
    dry_run: bool,
) -> Result<ReplaySummary> {
    let objects = S3OnFailureObjects::new(s3, bucket);
    let streams = KinesisStreams::new(kinesis);
    Ok(replay_failures(&objects, &streams, filter, dry_run).await?)
}
