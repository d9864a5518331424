//! The marketer API on the local stack: the `api` function's router, built from template.yaml's
//! environment for it, served on a loopback port behind the local authorizer
//! ([`crate::local::auth`]), with the pipeline behind it (the launch queue's, rebatch's and
//! deliver's event source mappings) run in process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use aws_config::SdkConfig;
use storecast::api::ApiState;
use storecast::aws::dynamodb::TenantsTable;
use storecast::aws::sns_applications::SnsApplications;
use storecast::config::{ApiSettings, DeliverSettings, FeedbackSettings, RebatchSettings};
use storecast::domain::TenantWorkspace;
use storecast::onboarding::workspaces::resource_name;
use storecast::onboarding::{
    Onboarding, ProvisionError, ProvisionedWorkspace, SendingWorkspaces, WorkspaceSpec,
};

use crate::local::campaigns::LocalCampaigns;
use crate::local::console::ConsoleSite;
use crate::local::esm::{Checkpoints, Mapping, MappingStats, Runner};
use crate::local::pipeline::{DeliverHandler, LocalPipeline, RebatchHandler};
use crate::local::ses_events::{LocalEventBus, MailboxSimulator};

/// Sending workspaces on the local endpoint. moto's SES v2 has configuration sets but no SES
/// tenants, tenant associations, event destinations or sending options: locally the
/// configuration set is created for real and the rest is skipped (the SES adapter's requests for
/// them are checked with request-level mocks in `shared/src/aws/ses_workspaces.rs`). Suspension
/// still parks the retailer's batches through the tenants table.
pub struct LocalSesWorkspaces {
    client: aws_sdk_sesv2::Client,
    prefix: String,
    sending_domain: String,
}

impl LocalSesWorkspaces {
    pub fn new(client: aws_sdk_sesv2::Client, prefix: &str, sending_domain: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_string(),
            sending_domain: sending_domain.to_string(),
        }
    }
}

#[async_trait]
impl SendingWorkspaces for LocalSesWorkspaces {
    fn check(&self, spec: &WorkspaceSpec) -> Result<(), ProvisionError> {
        resource_name(&self.prefix, &spec.tenant_id).map(|_| ())
    }

    async fn provision(
        &self,
        spec: &WorkspaceSpec,
    ) -> Result<ProvisionedWorkspace, ProvisionError> {
        let name = resource_name(&self.prefix, &spec.tenant_id)?;
        let created = self
            .client
            .create_configuration_set()
            .configuration_set_name(&name)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // SES answers AlreadyExistsException; moto its own ConfigurationSetAlreadyExists.
            Err(error)
                if error.as_service_error().is_some_and(|e| {
                    use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
                    e.is_already_exists_exception()
                        || e.code() == Some("ConfigurationSetAlreadyExistsException")
                }) => {}
            Err(error) => {
                return Err(ProvisionError::Unavailable {
                    step: "CreateConfigurationSet",
                    source: Box::new(error),
                });
            }
        }
        tracing::info!(
            configuration_set = %name,
            "local endpoint: configuration set ready; SES tenant and event destination skipped (moto lacks them)"
        );
        Ok(ProvisionedWorkspace {
            configuration_set: name.clone(),
            ses_tenant: name,
            from_address: TenantWorkspace::from_address_for(&spec.slug, &self.sending_domain),
        })
    }

    async fn set_sending_enabled(
        &self,
        configuration_set: &str,
        enabled: bool,
    ) -> Result<(), ProvisionError> {
        tracing::info!(
            configuration_set,
            enabled,
            "local endpoint: SES sending options skipped (moto lacks them)"
        );
        Ok(())
    }
}

/// The API's services as the `api` function builds them, with the local sending workspaces.
pub async fn api_state(pipeline: &LocalPipeline, sdk: &SdkConfig) -> Result<ApiState> {
    let environment = pipeline.stack.function("api")?.environment.clone();
    let settings = ApiSettings::from_lookup(&environment)?;
    let signer = unsubscribe_signer(&settings.unsubscribe_keys_secret, sdk).await?;
    // No scores table on the local stack yet: the availability routes run on in-memory stores
    // (empty until something writes to them) in the dev tool only.
    let mut state = storecast::wiring::api_state(&settings, sdk, signer);
    state.onboarding = Arc::new(local_onboarding(pipeline, &settings.onboarding, sdk)?);
    Ok(state)
}

/// The console's build beside `template_file` (`console/dist`), with the stack's exports bucket.
pub fn console_site(pipeline: &LocalPipeline, template_file: &Path) -> Result<ConsoleSite> {
    let root = template_file.parent().unwrap_or(Path::new(""));
    Ok(ConsoleSite {
        dist: root.join(crate::local::console::DEFAULT_DIST),
        exports_bucket: pipeline.stack.bucket("ExportsBucket")?.name.clone(),
    })
}

/// Onboarding as the functions build it, on the local sending workspaces.
fn local_onboarding(
    pipeline: &LocalPipeline,
    onboarding: &storecast::config::OnboardingSettings,
    sdk: &SdkConfig,
) -> Result<Onboarding> {
    let tenants = Arc::new(TenantsTable::new(
        pipeline.clients.dynamodb.clone(),
        &onboarding.tenants_table,
    ));
    Ok(Onboarding::new(
        Arc::new(LocalSesWorkspaces::new(
            pipeline.clients.sesv2.clone(),
            &onboarding.resource_prefix,
            &onboarding.sending_domain,
        )),
        tenants.clone(),
        onboarding.onboarding_config(),
    )
    .with_redrive(storecast::pipeline::redrive::RedriveWorker {
        archive: Arc::new(pipeline.archive()?),
        stream: Arc::new(pipeline.stream("SendBatchesStream")?),
        jobs: tenants,
        clock: Arc::new(storecast::clock::SystemClock),
        first_slice: storecast::pipeline::redrive::worker::START_SLICE,
    })
    .with_push_applications(Arc::new(SnsApplications::new(
        aws_sdk_sns::Client::new(sdk),
        &onboarding.resource_prefix,
    )))
    .with_standard_templates(storecast::onboarding::StandardTemplates {
        catalog: Arc::new(storecast::templates::catalog::standard()?),
        publisher: Arc::new(TenantsTable::new(
            pipeline.clients.dynamodb.clone(),
            &onboarding.tenants_table,
        )),
    }))
}

/// The unsubscribe key ring from the local endpoint's secret, as the functions read it.
pub async fn unsubscribe_signer(
    secret: &str,
    sdk: &SdkConfig,
) -> Result<Arc<storecast::deliverability::unsubscribe::UnsubscribeSigner>> {
    storecast::wiring::unsubscribe_signer(secret, sdk)
        .await
        .with_context(|| {
            format!("reading the unsubscribe key ring {secret} (is the stack provisioned?)")
        })
}

/// Serves the API on `address` (port 0: any free port) until the task is dropped, with the
/// console beside it ([`crate::local::console`]).
pub async fn serve(
    state: ApiState,
    address: SocketAddr,
    console: ConsoleSite,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let api = storecast::api::router(state)
        .layer(axum::middleware::from_fn(crate::local::auth::authorize));
    let app = crate::local::console::with_console(api, console);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let bound = listener.local_addr()?;
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the local API stopped");
        }
    });
    Ok((bound, server))
}

/// What the pipeline behind the API did while draining.
#[derive(Debug, Default, Clone)]
pub struct DrainStats {
    pub launch_messages: u64,
    pub launch_failures: u64,
    pub rebatch: MappingStats,
    pub deliver: MappingStats,
}

/// The launch queue's, rebatch's and deliver's event source mappings, run in process the way
/// Lambda runs them, until nothing moves.
pub struct LocalPipelineRunner {
    launch: LocalCampaigns,
    runner: Runner,
    rebatch: Mapping,
    deliver: Mapping,
    rebatch_checkpoints: Checkpoints,
    deliver_checkpoints: Checkpoints,
    /// SES's events of the sends (the mailbox simulator's), through the rule to ses-events.
    pub ses_events: Arc<LocalEventBus>,
}

impl LocalPipelineRunner {
    pub async fn new(pipeline: &LocalPipeline, sdk: &SdkConfig) -> Result<Self> {
        let environment = |binary: &str| -> Result<_> {
            Ok(pipeline.stack.function(binary)?.environment.clone())
        };
        let rebatch = Arc::new(RebatchHandler::new(storecast::wiring::rebatcher(
            &RebatchSettings::from_lookup(&environment("rebatch")?)?,
            sdk,
        )));
        let deliver_settings = DeliverSettings::from_lookup(&environment("deliver")?)?;
        let signer = unsubscribe_signer(&deliver_settings.unsubscribe_keys_secret, sdk).await?;
        let ses_events = pipeline.stack.function("ses-events")?;
        let bus = Arc::new(LocalEventBus::new(ses_events.event_patterns.clone(), {
            let settings = FeedbackSettings::from_lookup(&ses_events.environment)?;
            let pauser = Arc::new(local_onboarding(pipeline, &settings.onboarding, sdk)?);
            storecast::wiring::feedback_with_pauser(&settings, sdk, pauser)
        }));
        let provider = Arc::new(MailboxSimulator::new(
            Arc::new(storecast::aws::ses::SesProvider::new(
                storecast::aws::ses::client(sdk),
            )),
            bus.clone(),
        ));
        let deliver = Arc::new(
            DeliverHandler::new(storecast::wiring::deliverer_with_provider(
                &deliver_settings,
                sdk,
                signer,
                provider,
            ))
            .with_ses_events(bus.clone()),
        );
        Ok(Self {
            launch: LocalCampaigns::new(&pipeline.stack, &pipeline.clients, sdk, &[])?,
            runner: Runner::new(pipeline.clients.kinesis.clone()),
            rebatch: pipeline.mapping("rebatch", rebatch)?,
            deliver: pipeline.mapping("deliver", deliver)?,
            rebatch_checkpoints: Checkpoints::default(),
            deliver_checkpoints: Checkpoints::default(),
            ses_events: bus,
        })
    }

    /// One pass: launch chunks, then rebatch, then deliver, each until its source is drained.
    pub async fn drain(&mut self) -> Result<DrainStats> {
        let launched = self.launch.drain_launch_queue().await?;
        let rebatched = self
            .runner
            .drain(&self.rebatch, &mut self.rebatch_checkpoints)
            .await?;
        let delivered = self
            .runner
            .drain(&self.deliver, &mut self.deliver_checkpoints)
            .await?;
        Ok(DrainStats {
            launch_messages: launched.messages as u64,
            launch_failures: launched.failures as u64,
            rebatch: rebatched,
            deliver: delivered,
        })
    }

    /// The scheduler's every-minute tick.
    pub async fn tick(&self) -> Result<storecast::campaigns::TickSummary> {
        self.launch.tick().await
    }

    /// The scheduler's passes over the due deferred batches between its ticks.
    pub async fn redrive_deferred(&self) -> Result<storecast::pipeline::redrive::DeferredRedrive> {
        self.launch.redrive_deferred().await
    }
}
