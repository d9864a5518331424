//! `storecast-dev`: the local stack's command line. The commands live with what they work on:
//! `ops` (operator commands), `local` (the local emulation), `demos`, `tools`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use storecast_dev::demos::DemoCommand;
use storecast_dev::local::commands::LocalCommand;
use storecast_dev::ops::OpsCommand;
use storecast_dev::tools::ToolCommand;

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
    #[command(flatten)]
    Ops(OpsCommand),
    #[command(flatten)]
    Local(LocalCommand),
    #[command(flatten)]
    Demos(DemoCommand),
    #[command(flatten)]
    Tools(ToolCommand),
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber_init();
    let cli = Cli::parse();
    let template_file = cli.template_file.as_path();
    match cli.command {
        Command::Ops(command) => command.run(template_file).await,
        Command::Local(command) => command.run(template_file).await,
        Command::Demos(command) => command.run(template_file).await,
        Command::Tools(command) => command.run(template_file).await,
    }
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
