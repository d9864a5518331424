//! `optimizer-sim`: the real delta optimizer (`DeltaOptimizer::run` on the in-memory adapters)
//! run day after day on the synthetic retailer of `storecast::testing::optimizer_sim` (a model
//! overconfident overall, by category and by region, with a thin category), applying each
//! proposal; writes the path of every delta against its correction as CSV and draws it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use storecast::availability::OptimizerSettings;
use storecast::testing::optimizer_sim::{FoundRateWorld, SimPath, path_csv, simulate};

pub use storecast::testing::optimizer_sim::SIM_SEED as SEED;

/// The simulation with the default guardrails, applying.
pub async fn path(runs: u32, seed: u64) -> Result<(FoundRateWorld, OptimizerSettings, SimPath)> {
    let world = FoundRateWorld::standard();
    let settings = OptimizerSettings {
        apply: true,
        ..OptimizerSettings::default()
    };
    let path = simulate(&world, &settings, runs, seed).await?;
    Ok((world, settings, path))
}

/// The command: writes `optimizer.csv` and `optimizer-convergence.png` into `out` and answers
/// their paths, with the largest error (over the tuned values) after the last run.
pub async fn run(runs: u32, seed: u64, out: &Path) -> Result<(Vec<PathBuf>, f64)> {
    let (world, settings, path) = path(runs, seed).await?;
    std::fs::create_dir_all(out)?;
    let csv = out.join("optimizer.csv");
    std::fs::write(&csv, path_csv(&path))?;
    let png = out.join("optimizer-convergence.png");
    let thin = world.thin_values(settings.min_samples);
    super::optimizer_plot::draw(&path, &thin, runs, &png)?;
    Ok((vec![csv, png], path.max_error(runs, &thin)))
}
