//! The delta optimizer: how close its deltas get to the synthetic retailer's corrections after k
//! daily runs (`storecast::testing::optimizer_sim`, over many seeds), and how long one run takes
//! on a day of 1,000,000 feedback rows (plain and gzip), read, fitted, planned and reported on
//! the in-memory adapters. Figures are printed, never asserted on.
//!
//! `STORECAST_OPT_ROWS` (default 1,000,000) and `STORECAST_OPT_SEEDS` (default 16) size it.
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 20,000 rows,
//! two seeds.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use storecast::availability::optimizer::{DeltaOptimizer, OptimizerPorts};
use storecast::availability::{ChangeNote, ConfigStore, OptimizerSettings};
use storecast::domain::TenantId;
use storecast::testing::optimizer_sim::{
    FoundRateWorld, SIM_START, SIM_TENANT, sim_config, simulate,
};
use storecast::testing::{
    ManualClock, MemoryConfigStore, MemoryDirectory, MemoryFoundRateFeedback,
    MemoryOptimizerReports,
};

const RUNS: [u32; 8] = [0, 1, 2, 3, 5, 10, 20, 30];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn applying() -> OptimizerSettings {
    OptimizerSettings {
        apply: true,
        ..OptimizerSettings::default()
    }
}

async fn convergence(seeds: u64) {
    let world = FoundRateWorld::standard();
    let settings = applying();
    let thin = world.thin_values(settings.min_samples);
    let last = *RUNS.last().unwrap();
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); RUNS.len()];
    for seed in 1..=seeds {
        let path = simulate(&world, &settings, last, seed)
            .await
            .expect("simulates");
        for (i, &k) in RUNS.iter().enumerate() {
            errors[i].push(path.max_error(k, &thin));
        }
    }
    println!(
        "convergence: {} lines a day, max step {}, dead band {}, min samples {}, {seeds} seeds",
        world.lines_per_day, settings.max_step, settings.dead_band, settings.min_samples
    );
    println!("  runs k | max |delta - correction| (mean over seeds) | worst seed");
    for (i, &k) in RUNS.iter().enumerate() {
        let mean = errors[i].iter().sum::<f64>() / errors[i].len() as f64;
        let worst = errors[i].iter().copied().fold(0.0, f64::max);
        println!("  {k:>6} | {mean:>40.4} | {worst:.4}");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("compresses")
}

async fn one_run(body: Vec<u8>, name: &str, rows: u64) {
    let tenant = TenantId::parse(SIM_TENANT).expect("a tenant id");
    let configs = Arc::new(MemoryConfigStore::default());
    let start = SIM_START.midnight().assume_utc();
    let note = ChangeNote {
        author: "bench".into(),
        at: start,
        reason: "bench".into(),
        rollback_of: None,
    };
    configs
        .save(&tenant, &sim_config(&applying()), &note, None)
        .await
        .expect("saves");
    let feedback = Arc::new(MemoryFoundRateFeedback::default());
    let bytes = body.len();
    feedback.put(&tenant, SIM_START, name, body);
    let optimizer = DeltaOptimizer::new(OptimizerPorts {
        workspaces: Arc::new(MemoryDirectory::default()),
        configs,
        feedback,
        reports: Arc::new(MemoryOptimizerReports::default()),
        clock: Arc::new(ManualClock::new(start)),
    });
    let started = Instant::now();
    let report = optimizer.run(&tenant, SIM_START).await.expect("runs");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  {name:<18} {:>9} rows used, {:>5} refused, {:>6.1} MB: {elapsed:>6.3} s ({:.0} rows/s), fit {} sweeps, {}",
        report.rows_used,
        report.refused.total(),
        bytes as f64 / 1e6,
        rows as f64 / elapsed,
        report.fit_sweeps,
        report.outcome.as_str()
    );
}

async fn run_time(rows: u64) {
    let world = FoundRateWorld {
        lines_per_day: rows,
        ..FoundRateWorld::standard()
    };
    let plain = world.day_lines(&mut StdRng::seed_from_u64(1));
    println!("one run on {rows} feedback rows (read, fit, plan, apply, report):");
    one_run(plain.clone(), "day.jsonl", rows).await;
    one_run(gzip(&plain), "day.jsonl.gz", rows).await;
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let (rows, seeds) = match benchmarking {
        true => (1_000_000, 16),
        false => (20_000, 2),
    };
    let rows = env_number("STORECAST_OPT_ROWS", rows);
    let seeds = env_number("STORECAST_OPT_SEEDS", seeds);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        convergence(seeds).await;
        run_time(rows).await;
    });
}
