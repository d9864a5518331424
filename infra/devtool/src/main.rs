//! `storecast-dev`: the local stack's command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use storecast::domain::{CampaignId, TenantId};
use storecast_dev::demo::{DemoOptions, LocalPipeline};
use storecast_dev::render_tool::RenderOptions;

#[derive(Parser)]
#[command(about = "Storecast's local stack and tools")]
struct Cli {
    /// The SAM template the local resources are read from.
    #[arg(long, default_value = "template.yaml", global = true)]
    template_file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the template's streams, tables and buckets on the local endpoint.
    Provision,
    /// The demo through the marketer API: onboard three retailers, deploy the templates, set
    /// variables and preview, upload audiences, create and launch campaigns, run the pipeline,
    /// and print the per-retailer report from the campaigns' stats.
    Demo {
        /// Customers in each retailer's audience export.
        #[arg(long, default_value_t = 700)]
        size: usize,
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
    /// Serve the marketer API on a loopback port, with the pipeline behind it running in
    /// process. Tokens: `storecast-dev token`.
    ServeApi {
        #[arg(long, default_value_t = 8787)]
        port: u16,
    },
    /// Print a bearer token for the local API (signed with the local development key).
    Token {
        /// marketer or operator.
        #[arg(long, default_value = "marketer")]
        role: String,
        /// The marketer's retailer.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: i64,
    },
    /// The delivery pipeline's own demo: events put straight on the stream, with redelivered,
    /// malformed, paused, misconfigured and unknown-retailer cases.
    PipelineDemo {
        /// Customers in the campaign's audience.
        #[arg(long, default_value_t = 2000)]
        size: usize,
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
    /// Render a template folder for each recipient of a JSON-lines file.
    Render {
        #[arg(long)]
        template: PathBuf,
        /// JSON object every recipient's line is merged over; its "vars" are the retailer's
        /// variables.
        #[arg(long)]
        shared: Option<PathBuf>,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print recipients per second instead of writing files.
        #[arg(long)]
        bench: bool,
    },
    /// Seed the demo's sample retailers (workspaces, templates, campaigns, suppressions).
    Seed,
    /// Print a function's environment as the template declares it, resolved locally (KEY=VALUE).
    Env { binary: String },
    /// Regenerate the sample Lambda events in events/ from the current contracts.
    SampleEvents {
        #[arg(long, default_value = "events")]
        out: PathBuf,
    },
    /// Resume a paused campaign: set it active and redrive its parked batches.
    Resume {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: String,
    },
    /// The per-recipient send log of a campaign (or one message), as JSON lines.
    SendLog {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        message: Option<String>,
    },
    /// Publish the standard template catalog to every retailer it targets (CI/CD): checks the
    /// catalog, renders every template for every retailer, publishes what changed. Exits
    /// non-zero when a retailer failed (the others are published).
    DeployTemplates {
        #[arg(long, default_value = "templates/catalog.yaml")]
        catalog: PathBuf,
        /// Print what would change per retailer and template; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only these retailers (repeatable); all onboarded ones the catalog targets otherwise.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// The tenants table of a deployed stack (AWS credentials from the environment); the
        /// local stack's when absent (AWS_ENDPOINT_URL).
        #[arg(long)]
        tenants_table: Option<String>,
    },
    /// Run the launch queue's event source mapping (the launch function, in process) until the
    /// queue is empty.
    LaunchQueue,
    /// One tick of the scheduler: start the scheduled launches that are due.
    SchedulerTick,
    /// Put a tenant's parked batches (of one campaign, or all) back on the send-batches stream.
    Redrive {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: Option<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber_init();
    let cli = Cli::parse();
    match cli.command {
        Command::Provision => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            pipeline.provision().await?;
            println!(
                "provisioned the template's resources on {}",
                pipeline.endpoint.url
            );
        }
        Command::Demo { size, out } => {
            let report = storecast_dev::api_demo::run(&storecast_dev::api_demo::ApiDemoOptions {
                size,
                stack_name: "storecast-local".into(),
                reset: true,
                out_dir: out,
                catalog_path: storecast_dev::api_demo::catalog_beside(&cli.template_file),
                template_path: cli.template_file,
            })
            .await?;
            print!("{}", report.render());
            if !report.reconciliation_errors().is_empty() {
                anyhow::bail!("the demo's report does not reconcile");
            }
        }
        Command::ServeApi { port } => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            pipeline.provision().await?;
            let sdk = pipeline.sdk_config().await;
            let state = storecast_dev::local_api::api_state(&pipeline, &sdk)?;
            let (address, _server) =
                storecast_dev::local_api::serve(state, ([127, 0, 0, 1], port).into()).await?;
            println!("marketer API on http://{address} (Ctrl-C to stop)");
            println!("  export STORECAST_API=http://{address}");
            println!("  export AWS_ENDPOINT_URL={}", pipeline.endpoint.url);
            println!("  tokens: cargo run -q -p storecast-dev -- token --role operator");
            let mut runner = storecast_dev::local_api::LocalPipelineRunner::new(&pipeline, &sdk)?;
            let mut ticks = 0u64;
            loop {
                if let Err(error) = runner.drain().await {
                    tracing::warn!(%error, "the pipeline behind the API failed a pass");
                }
                ticks += 1;
                if ticks.is_multiple_of(30) {
                    runner.tick().await?;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        Command::Token {
            role,
            tenant,
            ttl_seconds,
        } => {
            let role = match role.as_str() {
                "operator" => storecast::api::Role::Operator,
                "marketer" => storecast::api::Role::Marketer,
                other => anyhow::bail!("unknown role {other}: marketer or operator"),
            };
            let tenant = tenant.map(TenantId::parse).transpose()?;
            println!(
                "{}",
                storecast_dev::local_auth::mint(role, tenant.as_ref(), ttl_seconds)?
            );
        }
        Command::PipelineDemo { size, out } => {
            let report = storecast_dev::demo::run(&DemoOptions {
                size,
                stack_name: "storecast-local".into(),
                reset: true,
                out_dir: out,
                template_path: cli.template_file,
                saved_emails: 2,
            })
            .await?;
            print!("{}", report.render());
            if !report.reconciliation_errors().is_empty() {
                anyhow::bail!("the demo's report does not reconcile");
            }
        }
        Command::Render {
            template,
            shared,
            data,
            out,
            bench,
        } => {
            let summary = storecast_dev::render_tool::run(&RenderOptions {
                template,
                shared,
                data,
                out,
                bench,
            })?;
            if bench {
                println!(
                    "{} recipients: {:.0} recipients/second",
                    summary.recipients, summary.recipients_per_second
                );
            } else {
                println!(
                    "rendered {} recipients into {} files",
                    summary.recipients, summary.files_written
                );
            }
        }
        Command::Seed => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            pipeline.provision().await?;
            storecast_dev::demo::seed(&pipeline, 100).await?;
            println!("seeded the sample retailers");
        }
        Command::Env { binary } => {
            let stack = storecast_dev::template::Stack::load(
                &cli.template_file,
                &storecast_dev::template::Resolution::default(),
            )?;
            for (key, value) in &stack.function(&binary)?.environment {
                println!("{key}={value}");
            }
        }
        Command::SampleEvents { out } => {
            for name in storecast_dev::events::write_samples(&out)? {
                println!("wrote {}", out.join(name).display());
            }
        }
        Command::Resume { tenant, campaign } => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            let summary = storecast::redrive::resume_campaign(
                &pipeline.tenants()?,
                &pipeline.archive()?,
                &pipeline.stream("SendBatchesStream")?,
                &TenantId::parse(tenant)?,
                &CampaignId::parse(campaign)?,
            )
            .await?;
            println!(
                "campaign active again; redrove {} batches ({} recipients); {} still parked",
                summary.batches, summary.recipients, summary.still_parked
            );
        }
        Command::SendLog {
            tenant,
            campaign,
            message,
        } => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            let log = pipeline.delivery_table()?;
            let tenant = TenantId::parse(tenant)?;
            let campaign = CampaignId::parse(campaign)?;
            let statuses = match message {
                Some(message) => storecast::send_log::recipient_status(
                    &log,
                    &tenant,
                    &campaign,
                    &storecast::domain::MessageId::parse(message)?,
                )
                .await?
                .into_iter()
                .collect(),
                None => {
                    storecast::send_log::campaign_statuses(&log, &log, &tenant, &campaign).await?
                }
            };
            for status in statuses {
                println!("{}", serde_json::to_string(&status)?);
            }
        }
        Command::DeployTemplates {
            catalog,
            dry_run,
            tenants,
            tenants_table,
        } => {
            let catalog = storecast::templates::Catalog::load(&catalog)?;
            let table = match tenants_table {
                Some(name) => {
                    let sdk =
                        aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                    storecast::aws::dynamodb::TenantsTable::new(
                        aws_sdk_dynamodb::Client::new(&sdk),
                        name,
                    )
                }
                None => LocalPipeline::connect(&cli.template_file)
                    .await?
                    .tenants()?,
            };
            let options = storecast::templates::deploy::DeployOptions {
                dry_run,
                tenants: tenants
                    .into_iter()
                    .map(TenantId::parse)
                    .collect::<Result<_, _>>()?,
            };
            let report =
                storecast::templates::deploy::deploy(&catalog, &table, &table, &options).await?;
            print!("{}", report.to_text());
            if !report.is_success() {
                anyhow::bail!(
                    "{} retailer(s) not deployed; see the errors above",
                    report.failed_retailers()
                );
            }
        }
        Command::LaunchQueue => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            let sdk = pipeline.sdk_config().await;
            let local = storecast_dev::campaigns::LocalCampaigns::new(
                &pipeline.stack,
                &pipeline.clients,
                &sdk,
                &[],
            )?;
            let stats = local.drain_launch_queue().await?;
            println!(
                "launch queue drained: {} invocations, {} messages, {} failures",
                stats.invocations, stats.messages, stats.failures
            );
        }
        Command::SchedulerTick => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            let sdk = pipeline.sdk_config().await;
            let local = storecast_dev::campaigns::LocalCampaigns::new(
                &pipeline.stack,
                &pipeline.clients,
                &sdk,
                &[],
            )?;
            println!("{}", serde_json::to_string(&local.tick().await?)?);
        }
        Command::Redrive { tenant, campaign } => {
            let pipeline = LocalPipeline::connect(&cli.template_file).await?;
            let tenant = TenantId::parse(tenant)?;
            let campaign = campaign.map(CampaignId::parse).transpose()?;
            let summary = storecast::redrive::redrive_parked(
                &pipeline.archive()?,
                &pipeline.stream("SendBatchesStream")?,
                &tenant,
                campaign.as_ref(),
            )
            .await?;
            println!(
                "redrove {} batches ({} recipients); {} still parked",
                summary.batches, summary.recipients, summary.still_parked
            );
        }
    }
    Ok(())
}

/// Warnings and errors only, unless RUST_LOG asks for more: the demo's report is the output.
fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}
