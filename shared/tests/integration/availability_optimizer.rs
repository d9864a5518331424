//! The delta optimizer's convergence on the synthetic retailer of
//! `storecast::testing::optimizer_sim`: daily runs of the real optimizer, each applying its
//! proposal, recover the world's threshold corrections; thin values never move; no run moves a
//! delta by more than the maximum step.

use storecast::availability::OptimizerSettings;
use storecast::testing::optimizer_sim::{FoundRateWorld, SimPath, simulate};

const SEEDS: [u64; 3] = [1, 2, 3];
const RUNS: u32 = 30;
/// The stated error after `RUNS` runs: the largest |delta − correction| over the tuned values.
const TOLERANCE: f64 = 0.02;

async fn run(settings: &OptimizerSettings, seed: u64) -> SimPath {
    simulate(&FoundRateWorld::standard(), settings, RUNS, seed)
        .await
        .expect("the simulation runs")
}

fn applying() -> OptimizerSettings {
    OptimizerSettings {
        apply: true,
        ..OptimizerSettings::default()
    }
}

#[tokio::test]
async fn after_thirty_runs_every_tuned_delta_is_within_two_points_of_its_correction() {
    let world = FoundRateWorld::standard();
    let settings = applying();
    let thin = world.thin_values(settings.min_samples);
    assert_eq!(thin.len(), 1, "the world has one thin category: {thin:?}");
    for seed in SEEDS {
        let path = run(&settings, seed).await;
        let start = path.max_error(0, &thin);
        let end = path.max_error(RUNS, &thin);
        eprintln!("seed {seed}: max error {start:.4} before, {end:.4} after {RUNS} runs");
        assert!(
            start > 0.05,
            "seed {seed}: the world starts far off ({start})"
        );
        assert!(
            end <= TOLERANCE,
            "seed {seed}: max error {end} after {RUNS} runs"
        );
        for report in &path.reports {
            assert!(report.fit_converged, "seed {seed}, {}", report.day);
            assert!(report.refused.total() > 0, "the world writes broken lines");
            assert!(report.segments.iter().all(|s| s.samples > 0));
        }
    }
}

#[tokio::test]
async fn thin_values_never_move_and_no_run_steps_further_than_the_maximum() {
    let world = FoundRateWorld::standard();
    let settings = OptimizerSettings {
        max_step: 0.02,
        ..applying()
    };
    let thin = world.thin_values(settings.min_samples);
    let path = run(&settings, 7).await;
    for run in 1..=RUNS {
        for (before, after) in path.run(run - 1).zip(path.run(run)) {
            assert_eq!(
                (before.segment, &before.value),
                (after.segment, &after.value)
            );
            let step = (after.delta - before.delta).abs();
            assert!(
                step <= settings.max_step + 1e-12,
                "run {run}, {}: {step}",
                after.value
            );
            if thin.contains(&(after.segment, after.value.clone())) {
                assert_eq!(after.delta, 0.0, "run {run}: thin {} moved", after.value);
            }
        }
    }
    // With a small step the far values are still walking at run 3, not jumping.
    let walking = path
        .run(3)
        .filter(|s| (s.delta.abs() - 3.0 * settings.max_step).abs() < 1e-9)
        .count();
    assert!(walking >= 1);
}
