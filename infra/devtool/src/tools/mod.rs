//! Tools for template authors and for the repository: the render tool ([`render`]), the
//! sample Lambda events of `events/` ([`events`]), the warm-up simulation ([`warmup_sim`],
//! drawn by [`warmup_plot`]) and the delta optimizer's ([`optimizer_sim`], drawn by
//! [`optimizer_plot`]).

pub mod events;
pub mod optimizer_plot;
pub mod optimizer_sim;
pub mod render;
pub mod warmup_plot;
pub mod warmup_sim;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use crate::tools::render::RenderOptions;

#[derive(Subcommand)]
pub enum ToolCommand {
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
    /// Regenerate the sample Lambda events in events/ from the current contracts.
    SampleEvents {
        #[arg(long, default_value = "events")]
        out: PathBuf,
    },
    /// Simulate the warm-up of a healthy, a degrading and a recovering tenant; write
    /// warmup.csv and warmup.png.
    WarmupSim {
        #[arg(long, default_value_t = 42)]
        days: u32,
        #[arg(long, default_value = "docs/warmup")]
        out: PathBuf,
        #[arg(long, default_value_t = crate::tools::warmup_sim::SEED)]
        seed: u64,
    },
    /// Simulate the availability delta optimizer on a miscalibrated retailer; write
    /// optimizer.csv and optimizer-convergence.png.
    OptimizerSim {
        #[arg(long, default_value_t = 30)]
        runs: u32,
        #[arg(long, default_value = "out/optimizer-sim")]
        out: PathBuf,
        #[arg(long, default_value_t = crate::tools::optimizer_sim::SEED)]
        seed: u64,
    },
}

impl ToolCommand {
    /// The tools read no stack: `_template_file` is the global option every command takes.
    pub async fn run(self, _template_file: &Path) -> Result<()> {
        match self {
            Self::Render {
                template,
                shared,
                data,
                out,
                bench,
            } => {
                let summary = crate::tools::render::run(&RenderOptions {
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
            Self::WarmupSim { days, out, seed } => {
                for path in crate::tools::warmup_sim::run(days, seed, &out).await? {
                    println!("wrote {}", path.display());
                }
            }
            Self::OptimizerSim { runs, out, seed } => {
                let (written, error) = crate::tools::optimizer_sim::run(runs, seed, &out).await?;
                for path in written {
                    println!("wrote {}", path.display());
                }
                println!("largest |delta - correction| after {runs} runs: {error:.4}");
            }
            Self::SampleEvents { out } => {
                for name in crate::tools::events::write_samples(&out)? {
                    println!("wrote {}", out.join(name).display());
                }
            }
        }
        Ok(())
    }
}
