//! Operator commands: they work on a deployed stack (`--tenants-table`, AWS credentials from the
//! environment) as on the local one: template deploys, redrives, resuming a campaign, the send
//! log, replaying what the stream mappings gave up on. The runbook is docs/operations.md.

pub mod replay_failures;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use storecast::domain::{CampaignId, TenantId};

use crate::local::pipeline::LocalPipeline;
use crate::ops::replay_failures::ReplayFailuresArgs;

#[derive(Subcommand)]
pub enum OpsCommand {
    /// Resume a paused campaign: set it active and redrive its parked batches.
    Resume {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: String,
    },
    /// The per-recipient send log of a campaign (or one message), as JSON lines: the claim, the
    /// outcome, and SES's feedback (delivered, bounced, opened...).
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
    /// Put a tenant's parked batches (of one campaign, or all) back on the send-batches stream.
    Redrive {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Put the workspaces written before the registry index existed into it (once, after
    /// deploying the stack version that adds the index; docs/operations.md).
    RegisterWorkspaces {
        /// The tenants table of a deployed stack (AWS credentials from the environment); the
        /// local stack's when absent (AWS_ENDPOINT_URL).
        #[arg(long)]
        tenants_table: Option<String>,
    },
    /// Put the records the Kinesis event source mappings gave up on (the on-failure bucket) back
    /// on the streams they came from, removing each object once all its records are back.
    ReplayFailures(ReplayFailuresArgs),
}

impl OpsCommand {
    pub async fn run(self, template_file: &Path) -> Result<()> {
        match self {
            Self::ReplayFailures(args) => replay_failures::run(args, template_file).await,
            Self::Resume { tenant, campaign } => resume(template_file, tenant, campaign).await,
            Self::SendLog {
                tenant,
                campaign,
                message,
            } => print_send_log(template_file, tenant, campaign, message).await,
            Self::DeployTemplates {
                catalog,
                dry_run,
                tenants,
                tenants_table,
            } => deploy_templates(template_file, &catalog, dry_run, tenants, tenants_table).await,
            Self::Redrive { tenant, campaign } => redrive(template_file, tenant, campaign).await,
            Self::RegisterWorkspaces { tenants_table } => {
                let table = tenants_table_named(template_file, tenants_table).await?;
                let registered = table.register_unlisted_workspaces().await?;
                println!("{registered} workspace(s) added to the registry");
                Ok(())
            }
        }
    }
}

async fn resume(template_file: &Path, tenant: String, campaign: String) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    let summary = storecast::pipeline::redrive::resume_campaign(
        &pipeline.tenants()?,
        &pipeline.archive()?,
        &pipeline.stream("SendBatchesStream")?,
        &TenantId::parse(tenant)?,
        &CampaignId::parse(campaign)?,
    )
    .await?;
    println!(
        "campaign active (if it was paused); redrove {} batches ({} recipients); {} still parked",
        summary.batches, summary.recipients, summary.still_parked
    );
    Ok(())
}

/// One JSON line per message: its status in the send log, with SES's feedback beside it.
async fn print_send_log(
    template_file: &Path,
    tenant: String,
    campaign: String,
    message: Option<String>,
) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    let log = pipeline.delivery_table()?;
    let tenant = TenantId::parse(tenant)?;
    let campaign = CampaignId::parse(campaign)?;
    let statuses = match message {
        Some(message) => storecast::pipeline::send_log::recipient_status(
            &log,
            &tenant,
            &campaign,
            &storecast::domain::MessageId::parse(message)?,
        )
        .await?
        .into_iter()
        .collect(),
        None => {
            storecast::pipeline::send_log::campaign_statuses(&log, &log, &tenant, &campaign).await?
        }
    };
    // SES's feedback beside each outcome: one read per message (an operator's view of one
    // campaign, not a hot path).
    let feedback = storecast::aws::dynamodb::FeedbackTable::new(
        pipeline.clients.dynamodb.clone(),
        &pipeline.stack.table("DeliveryTable")?.name,
        std::sync::Arc::new(storecast::clock::SystemClock),
    );
    for status in statuses {
        let mut line = serde_json::to_value(&status)?;
        if let Some(events) = storecast::deliverability::feedback::FeedbackLog::message_feedback(
            &feedback,
            &tenant,
            &campaign,
            &status.message_id,
        )
        .await?
        {
            line["feedback"] = serde_json::json!(events
                .events
                .iter()
                .map(|(kind, at, detail)| serde_json::json!({"kind": kind, "at": at, "detail": detail}))
                .collect::<Vec<_>>());
        }
        println!("{line}");
    }
    Ok(())
}

/// A deployed stack's tenants table by name, or the local stack's.
async fn tenants_table_named(
    template_file: &Path,
    name: Option<String>,
) -> Result<storecast::aws::dynamodb::TenantsTable> {
    Ok(match name {
        Some(name) => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            storecast::aws::dynamodb::TenantsTable::new(aws_sdk_dynamodb::Client::new(&sdk), name)
        }
        None => LocalPipeline::connect(template_file).await?.tenants()?,
    })
}

async fn deploy_templates(
    template_file: &Path,
    catalog: &Path,
    dry_run: bool,
    tenants: Vec<String>,
    tenants_table: Option<String>,
) -> Result<()> {
    let catalog = storecast::templates::Catalog::load(catalog)?;
    let table = tenants_table_named(template_file, tenants_table).await?;
    let options = storecast::templates::deploy::DeployOptions {
        dry_run,
        tenants: tenants
            .into_iter()
            .map(TenantId::parse)
            .collect::<Result<_, _>>()?,
    };
    // Each retailer's versions pin its own snippets over the library's, as its saves do.
    let report = storecast::templates::deploy::deploy_with_snippets(
        &catalog,
        &table,
        &table,
        Some(&table),
        &options,
    )
    .await?;
    print!("{}", report.to_text());
    if !report.is_success() {
        anyhow::bail!(
            "{} retailer(s) not deployed; see the errors above",
            report.failed_retailers()
        );
    }
    Ok(())
}

async fn redrive(template_file: &Path, tenant: String, campaign: Option<String>) -> Result<()> {
    let pipeline = LocalPipeline::connect(template_file).await?;
    let tenant = TenantId::parse(tenant)?;
    let campaign = campaign.map(CampaignId::parse).transpose()?;
    let summary = storecast::pipeline::redrive::redrive_parked(
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
    Ok(())
}
