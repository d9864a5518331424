//! The campaign lifecycle on the local stack: the service built as the launch function builds
//! it (settings from template.yaml's environment), the launch queue's mapping run in process, and
//! the scheduler's tick on demand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use storecast::campaigns::{Campaigns, TickSummary};
use storecast::config::CampaignsSettings;

use crate::local::Clients;
use crate::local::sqs_esm::{SqsHandler, SqsMapping, SqsRunner, SqsStats};
use crate::local::template::Stack;

/// The launch function's handler, in process.
pub struct LaunchHandler {
    pub campaigns: Arc<Campaigns>,
}

#[async_trait]
impl SqsHandler for LaunchHandler {
    async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse> {
        Ok(self.campaigns.handle_chunk_messages(event).await)
    }
}

pub struct LocalCampaigns {
    pub campaigns: Arc<Campaigns>,
    pub settings: CampaignsSettings,
    runner: SqsRunner,
    mapping: SqsMapping,
}

impl LocalCampaigns {
    /// `overrides` replace variables of the launch function's environment (a small
    /// `CHUNK_BYTES`, for one).
    pub fn new(
        stack: &Stack,
        clients: &Clients,
        sdk: &SdkConfig,
        overrides: &[(&str, &str)],
    ) -> Result<Self> {
        let function = stack.function("launch")?;
        let mut environment: BTreeMap<String, String> = function.environment.clone();
        for (name, value) in overrides {
            environment.insert(name.to_string(), value.to_string());
        }
        let settings = CampaignsSettings::from_lookup(&environment)?;
        let campaigns = Arc::new(storecast::wiring::campaigns(&settings, sdk));
        let source = function
            .sqs_mappings
            .first()
            .ok_or_else(|| anyhow::anyhow!("the launch function has no SQS event"))?;
        let queue = stack.queue(&source.queue_logical_id)?;
        let mapping = SqsMapping {
            queue_url: queue.url.clone(),
            queue_arn: queue.arn.clone(),
            batch_size: source.batch_size,
            visibility_timeout: Duration::from_secs(1),
            handler: Arc::new(LaunchHandler {
                campaigns: campaigns.clone(),
            }),
        };
        Ok(Self {
            campaigns,
            settings,
            runner: SqsRunner::new(clients.sqs.clone()),
            mapping,
        })
    }

    /// Runs the launch queue's mapping until the queue is empty.
    pub async fn drain_launch_queue(&self) -> Result<SqsStats> {
        self.runner.drain(&self.mapping).await
    }

    /// One scheduler tick, as the every-minute schedule runs it.
    pub async fn tick(&self) -> Result<TickSummary> {
        Ok(self.campaigns.tick().await?)
    }

    /// A pass over the due deferred batches, as the scheduler makes every few seconds of its
    /// minute after the tick (`Campaigns::scheduler_minute`).
    pub async fn redrive_deferred(&self) -> Result<storecast::pipeline::redrive::DeferredRedrive> {
        Ok(self.campaigns.redrive_deferred().await?)
    }

    pub fn runner(&self) -> &SqsRunner {
        &self.runner
    }
}
