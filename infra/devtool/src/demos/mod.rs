//! The demos: a campaign through the marketer API ([`api`], with [`one_click`] unsubscribe), and the delivery pipeline's own
//! robustness demo ([`pipeline`]).

pub mod api;
pub mod api_audience;
pub mod api_deferred;
pub mod api_push;
pub mod api_report;
pub mod api_warmup;
pub mod availability;
pub mod one_click;
pub mod pipeline;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use crate::demos::pipeline::DemoOptions;

#[derive(Subcommand)]
pub enum DemoCommand {
    /// The demo through the marketer API: onboard three retailers, deploy the templates, set
    /// variables and preview, upload audiences, create and launch campaigns, run the pipeline,
    /// and print the per-retailer report from the campaigns' stats.
    Demo {
        /// Customers in each retailer's audience export.
        #[arg(long, default_value_t = 700)]
        size: usize,
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// After the report, keep serving the API and the console on this port, with the
        /// demo's retailers and campaigns in them (`make demo SERVE=8787`).
        #[arg(long)]
        then_serve: Option<u16>,
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
}

impl DemoCommand {
    pub async fn run(self, template_file: &Path) -> Result<()> {
        match self {
            Self::Demo {
                size,
                out,
                then_serve,
            } => {
                let report = crate::demos::api::run(&crate::demos::api::ApiDemoOptions {
                    size,
                    stack_name: "storecast-local".into(),
                    reset: true,
                    out_dir: out,
                    catalog_path: crate::demos::api::catalog_beside(template_file),
                    template_path: template_file.to_path_buf(),
                })
                .await?;
                print!("{}", report.render());
                if !report.reconciliation_errors().is_empty() {
                    anyhow::bail!("the demo's report does not reconcile");
                }
                if let Some(port) = then_serve {
                    crate::local::commands::serve_api(template_file, port, false).await?;
                }
            }
            Self::PipelineDemo { size, out } => {
                let report = crate::demos::pipeline::run(&DemoOptions {
                    size,
                    stack_name: "storecast-local".into(),
                    reset: true,
                    out_dir: out,
                    template_path: template_file.to_path_buf(),
                    saved_emails: 2,
                })
                .await?;
                print!("{}", report.render());
                if !report.reconciliation_errors().is_empty() {
                    anyhow::bail!("the demo's report does not reconcile");
                }
            }
        }
        Ok(())
    }
}
