//! The delivery pipeline on the local stack: both Kinesis mappings with the real handlers, and the
//! stack's tables, streams and archive as the functions see them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use time::OffsetDateTime;

use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::kinesis::KinesisStream;
use storecast::aws::s3::S3Archive;
use storecast::pipeline::deliver::{Deliverer, TenantCounts};
use storecast::pipeline::lambda_batch::{inbound_records, partial_batch_response};
use storecast::pipeline::parked::CountedArchive;
use storecast::pipeline::rebatch::{RebatchSummary, Rebatcher};

use crate::local::esm::{KinesisHandler, Mapping, OnFailureDestination};
use crate::local::provision::provision;
use crate::local::template::Stack;
use crate::local::{Clients, Endpoint};

/// Wraps the rebatch service as the mapping's handler, keeping its summaries.
pub struct RebatchHandler {
    pub(crate) rebatcher: Rebatcher,
    pub(crate) summary: Mutex<RebatchSummary>,
}

impl RebatchHandler {
    pub(crate) fn new(rebatcher: Rebatcher) -> Self {
        Self {
            rebatcher,
            summary: Mutex::default(),
        }
    }
}

#[async_trait]
impl KinesisHandler for RebatchHandler {
    async fn invoke(
        &self,
        event: KinesisEvent,
        _deadline: OffsetDateTime,
    ) -> Result<KinesisEventResponse> {
        let records = inbound_records(event);
        let outcome = self.rebatcher.rebatch(&records).await;
        {
            let mut total = self.summary.lock().unwrap_or_else(|p| p.into_inner());
            total.records += outcome.summary.records;
            total.events += outcome.summary.events;
            total.repeated_in_input += outcome.summary.repeated_in_input;
            total.batches += outcome.summary.batches;
            total.dead_lettered += outcome.summary.dead_lettered;
            total.retried += outcome.summary.retried;
        }
        Ok(partial_batch_response(&records, outcome.failed_positions)?)
    }
}

/// Wraps the deliver service, keeping the per-tenant counts.
pub struct DeliverHandler {
    pub(crate) deliverer: Deliverer,
    pub(crate) counts: Mutex<BTreeMap<String, TenantCounts>>,
    /// SES's events of this invocation's sends, delivered once it returns.
    pub(crate) ses_events: Option<Arc<crate::local::ses_events::LocalEventBus>>,
}

impl DeliverHandler {
    pub(crate) fn new(deliverer: Deliverer) -> Self {
        Self {
            deliverer,
            counts: Mutex::default(),
            ses_events: None,
        }
    }

    pub(crate) fn with_ses_events(
        mut self,
        bus: Arc<crate::local::ses_events::LocalEventBus>,
    ) -> Self {
        self.ses_events = Some(bus);
        self
    }
}

#[async_trait]
impl KinesisHandler for DeliverHandler {
    async fn invoke(
        &self,
        event: KinesisEvent,
        deadline: OffsetDateTime,
    ) -> Result<KinesisEventResponse> {
        let records = inbound_records(event);
        let outcome = self.deliverer.deliver(&records, deadline).await;
        if let Some(bus) = &self.ses_events {
            bus.flush().await;
        }
        {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            for (tenant, tenant_counts) in &outcome.per_tenant {
                counts.entry(tenant.clone()).or_default().add(tenant_counts);
            }
        }
        Ok(partial_batch_response(&records, outcome.failed_positions)?)
    }
}

pub struct LocalPipeline {
    pub stack: Stack,
    pub clients: Clients,
    pub endpoint: Endpoint,
    pub sending_domain: String,
}

impl LocalPipeline {
    pub async fn connect(template_path: &Path) -> Result<Self> {
        Self::connect_as(
            template_path,
            &crate::local::template::Resolution::default(),
        )
        .await
    }

    pub async fn connect_as(
        template_path: &Path,
        resolution: &crate::local::template::Resolution,
    ) -> Result<Self> {
        let endpoint = Endpoint::from_env()?;
        let config = endpoint.sdk_config().await;
        let stack = Stack::load(template_path, resolution)?;
        let sending_domain = stack.function("deliver")?.environment["SENDING_DOMAIN"].clone();
        Ok(Self {
            clients: Clients::new(&config),
            stack,
            endpoint,
            sending_domain,
        })
    }

    pub async fn provision(&self) -> Result<()> {
        provision(&self.clients, &self.stack, &self.sending_domain).await
    }

    pub fn tenants(&self) -> Result<TenantsTable> {
        Ok(TenantsTable::new(
            self.clients.dynamodb.clone(),
            &self.stack.table("TenantsTable")?.name,
        ))
    }

    pub fn delivery_table(&self) -> Result<storecast::aws::dynamodb::DeliveryTable> {
        Ok(storecast::aws::dynamodb::DeliveryTable::new(
            self.clients.dynamodb.clone(),
            &self.stack.table("DeliveryTable")?.name,
            Arc::new(storecast::clock::SystemClock),
        ))
    }

    /// The archive bucket, its parked batches counted on the delivery table (as the functions
    /// wire it), so a redrive from here uncounts what it puts back.
    pub fn archive(&self) -> Result<CountedArchive> {
        Ok(CountedArchive::new(
            Arc::new(S3Archive::new(
                self.clients.s3.clone(),
                &self.stack.bucket("ArchiveBucket")?.name,
            )),
            Arc::new(self.delivery_table()?),
        ))
    }

    pub fn stream(&self, logical_id: &str) -> Result<KinesisStream> {
        Ok(KinesisStream::new(
            self.clients.kinesis.clone(),
            &self.stack.stream(logical_id)?.name,
        ))
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.endpoint.sdk_config().await
    }

    /// The function's Kinesis event source mapping as the template declares it.
    pub fn mapping(&self, binary: &str, handler: Arc<dyn KinesisHandler>) -> Result<Mapping> {
        mapping(&self.stack, &self.clients, binary, handler)
    }

    /// The bucket both Kinesis mappings write what they give up on.
    pub fn stream_failures_bucket(&self) -> Result<String> {
        let bucket = self
            .stack
            .function("deliver")?
            .mappings
            .iter()
            .find_map(|m| m.on_failure_bucket.as_deref())
            .context("deliver's Kinesis event has no S3 on-failure destination")?;
        Ok(self.stack.bucket(bucket)?.name.clone())
    }
}

/// A function's Kinesis event source mapping as the template declares it, on these clients.
pub fn mapping(
    stack: &Stack,
    clients: &Clients,
    binary: &str,
    handler: Arc<dyn KinesisHandler>,
) -> Result<Mapping> {
    let function = stack.function(binary)?;
    let spec = function
        .mappings
        .first()
        .with_context(|| format!("{binary} has no Kinesis event"))?;
    let on_failure = match &spec.on_failure_bucket {
        Some(bucket) => Some(OnFailureDestination {
            s3: clients.s3.clone(),
            bucket: stack.bucket(bucket)?.name.clone(),
            function_arn: function.arn.clone(),
            mapping_uuid: uuid::Uuid::new_v4().to_string(),
        }),
        None => None,
    };
    Ok(Mapping {
        stream_name: stack.stream(&spec.stream_logical_id)?.name.clone(),
        batch_size: spec.batch_size,
        max_retries: spec.max_retries,
        timeout: time::Duration::seconds(function.timeout_seconds as i64),
        handler,
        on_failure,
    })
}
