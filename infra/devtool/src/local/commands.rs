//! The local stack's commands: provisioning, the API server, tokens, seeding, a function's
//! environment, the launch queue and the scheduler in process.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use storecast::domain::TenantId;

use crate::local::pipeline::LocalPipeline;

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Create the template's streams, tables and buckets on the local endpoint.
    Provision,
    /// Serve the marketer API on a loopback port, with the pipeline behind it running in
    /// process. Tokens: `storecast-dev token`.
    ServeApi {
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// No per-retailer request limit (the contract check's many requests a second test the
        /// handlers; the limit has tests of its own).
        #[arg(long)]
        no_request_limit: bool,
    },
    /// Print a bearer token for the local API (signed with the local development key).
    Token {
        /// marketer, operator, data_scientist or service.
        #[arg(long, default_value = "marketer")]
        role: String,
        /// The retailer of a marketer, data scientist or service.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: i64,
    },
    /// Seed the demo's sample retailers (workspaces, templates, campaigns, suppressions).
    Seed,
    /// Print a function's environment as the template declares it, resolved locally (KEY=VALUE).
    Env { binary: String },
    /// Run the launch queue's event source mapping (the launch function, in process) until the
    /// queue is empty.
    LaunchQueue,
    /// One tick of the scheduler: start the scheduled launches that are due.
    SchedulerTick,
}

impl LocalCommand {
    pub async fn run(self, template_file: &Path) -> Result<()> {
        match self {
            Self::Provision => provision(template_file).await,
            Self::ServeApi {
                port,
                no_request_limit,
            } => serve_api(template_file, port, no_request_limit).await,
            Self::Token {
                role,
                tenant,
                ttl_seconds,
            } => print_token(&role, tenant, ttl_seconds),
            Self::Seed => seed(template_file).await,
            Self::Env { binary } => print_env(template_file, &binary),
            Self::LaunchQueue => drain_launch_queue(template_file).await,
            Self::SchedulerTick => scheduler_tick(template_file).await,
        }
    }
}

async fn provision(template_file: &Path) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    pipeline.provision().await?;
    println!(
        "provisioned the template's resources on {}",
        pipeline.endpoint.url
    );
    Ok(())
}

/// Serves until the process is stopped: it only returns on an error.
pub async fn serve_api(template_file: &Path, port: u16, no_request_limit: bool) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    pipeline.provision().await?;
    let sdk = pipeline.sdk_config().await;
    let mut state = crate::local::api::api_state(&pipeline, &sdk).await?;
    if no_request_limit {
        state.request_limit = None;
    }
    let console = crate::local::api::console_site(&pipeline, template_file)?;
    let built = console.dist.join("index.html").is_file();
    let (address, _server) =
        crate::local::api::serve(state, ([127, 0, 0, 1], port).into(), console).await?;
    crate::local::provision::allow_console_origin(
        &pipeline.clients,
        &pipeline.stack,
        &format!("http://{address}"),
    )
    .await?;
    println!("marketer API on http://{address} (Ctrl-C to stop)");
    if built {
        println!("  console: http://{address}/console/ (development sign-in, any role)");
    } else {
        println!("  console: not built (make console-build), then http://{address}/console/");
    }
    println!("  export STORECAST_API=http://{address}");
    println!("  export AWS_ENDPOINT_URL={}", pipeline.endpoint.url);
    println!("  tokens: cargo run -q -p storecast-dev -- token --role operator");
    let mut runner = crate::local::api::LocalPipelineRunner::new(&pipeline, &sdk).await?;
    let mut ticks = 0u64;
    loop {
        if let Err(error) = runner.drain().await {
            tracing::warn!(%error, "the pipeline behind the API failed a pass");
        }
        ticks += 1;
        // As the scheduler runs: its tick once a minute, due deferred batches every few seconds.
        if ticks.is_multiple_of(30) {
            runner.tick().await?;
        } else if ticks.is_multiple_of(3)
            && let Err(error) = runner.redrive_deferred().await
        {
            tracing::warn!(%error, "deferred batches not put back; the next pass tries again");
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

fn print_token(role: &str, tenant: Option<String>, ttl_seconds: i64) -> Result<()> {
    let Some(role) = storecast::api::Role::from_claim(role) else {
        anyhow::bail!("unknown role {role}: marketer, operator, data_scientist or service");
    };
    let tenant = tenant.map(TenantId::parse).transpose()?;
    println!(
        "{}",
        crate::local::auth::mint(role, tenant.as_ref(), ttl_seconds)?
    );
    Ok(())
}

async fn seed(template_file: &Path) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    pipeline.provision().await?;
    crate::demos::pipeline::seed(&pipeline, 100).await?;
    println!("seeded the sample retailers");
    Ok(())
}

fn print_env(template_file: &Path, binary: &str) -> Result<()> {
    let stack = crate::local::template::Stack::load(
        template_file,
        &crate::local::template::Resolution::default(),
    )?;
    for (key, value) in &stack.function(binary)?.environment {
        println!("{key}={value}");
    }
    Ok(())
}

async fn drain_launch_queue(template_file: &Path) -> Result<()> {
    let local = local_campaigns(template_file).await?;
    let stats = local.drain_launch_queue().await?;
    println!(
        "launch queue drained: {} invocations, {} messages, {} failures",
        stats.invocations, stats.messages, stats.failures
    );
    Ok(())
}

async fn scheduler_tick(template_file: &Path) -> Result<()> {
    let local = local_campaigns(template_file).await?;
    println!("{}", serde_json::to_string(&local.tick().await?)?);
    Ok(())
}

/// The launch function and the scheduler in process, on the local stack.
async fn local_campaigns(template_file: &Path) -> Result<crate::local::campaigns::LocalCampaigns> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    let sdk = pipeline.sdk_config().await;
    crate::local::campaigns::LocalCampaigns::new(&pipeline.stack, &pipeline.clients, &sdk, &[])
}
