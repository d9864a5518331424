//! A synthetic retailer whose availability model is miscalibrated by known amounts, for the
//! delta optimizer's convergence: every order line falls in one category, region and user
//! bucket, and its item is found with probability `score + the biases of its retailer, category,
//! region and bucket` (biases overlap: a request carries four). Region mixes differ by category,
//! so one segment's raw found rate is partly another's doing. [`simulate`] runs the real
//! optimizer (`DeltaOptimizer::run` on the in-memory adapters) day after day, applying its
//! proposals, and records every delta against the correction it should reach.
//!
//! The correction a value should reach is its bias with the sign turned (an overconfident
//! value needs a stricter threshold), in the split the optimizer settles on (see
//! `availability::optimizer::fit`, "Which split"): each dimension's traffic-weighted mean bias is
//! moved into the retailer's. Requests see the same stacked correction in either split.

use std::io::Write;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::Date;

use super::MemoryOptimizerReports;
use super::{ManualClock, MemoryConfigStore, MemoryDirectory, MemoryFoundRateFeedback};
use crate::availability::optimizer::{
    DeltaOptimizer, Movement, OptimizerError, OptimizerPorts, OptimizerReport,
};
use crate::availability::{
    AvailabilityConfig, ChangeNote, ConfigStore, OptimizerSettings, Segment,
};
use crate::domain::TenantId;

pub const SIM_TENANT: &str = "sim-grocer";
pub const SIM_SEED: u64 = 20_260_401;
/// The first simulated day.
pub const SIM_START: Date = time::macros::date!(2026 - 04 - 01);
/// Scores shown are drawn from this range, where no bias pushes a found rate out of [0, 1].
pub const SCORE_RANGE: (f64, f64) = (0.3, 0.9);

/// One value of one dimension: its share of the order lines and its bias (found − score).
#[derive(Debug, Clone, PartialEq)]
pub struct WorldValue {
    pub value: &'static str,
    pub share: f64,
    pub bias: f64,
}

const fn value(value: &'static str, share: f64, bias: f64) -> WorldValue {
    WorldValue { value, share, bias }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FoundRateWorld {
    pub retailer_bias: f64,
    pub categories: Vec<WorldValue>,
    /// The region shares of each category's lines (`region_mix[c][r]`; the regions' own
    /// `share` is unused, their share follows from these).
    pub region_mix: Vec<Vec<f64>>,
    pub regions: Vec<WorldValue>,
    pub buckets: Vec<WorldValue>,
    pub lines_per_day: u64,
    /// One line in this many is written broken (a missing or invalid field).
    pub broken_every: u64,
}

impl FoundRateWorld {
    /// A grocer: overconfident overall, badly so on electronics and in the north; a rare
    /// category (about 150 lines a day) too thin to tune.
    pub fn standard() -> Self {
        Self {
            retailer_bias: -0.03,
            categories: vec![
                value("produce", 0.345, -0.08),
                value("dairy", 0.30, 0.02),
                value("electronics", 0.20, -0.12),
                value("pantry", 0.15, 0.05),
                value("rare-imports", 0.005, -0.20),
            ],
            region_mix: vec![
                vec![0.7, 0.2, 0.1],
                vec![0.4, 0.4, 0.2],
                vec![0.2, 0.3, 0.5],
                vec![0.3, 0.4, 0.3],
                vec![0.5, 0.25, 0.25],
            ],
            regions: vec![
                value("north", 0.0, -0.04),
                value("south", 0.0, 0.03),
                value("west", 0.0, 0.06),
            ],
            buckets: vec![value("new", 0.4, -0.02), value("regular", 0.6, 0.01)],
            lines_per_day: 30_000,
            broken_every: 1_000,
        }
    }

    /// Each dimension's values with their shares of all lines (a region's from the mixes).
    fn dimensions(&self) -> [(Segment, Vec<WorldValue>); 3] {
        let regions = self
            .regions
            .iter()
            .enumerate()
            .map(|(r, region)| WorldValue {
                share: self
                    .categories
                    .iter()
                    .zip(&self.region_mix)
                    .map(|(c, mix)| c.share * mix[r])
                    .sum(),
                ..region.clone()
            })
            .collect();
        [
            (Segment::Category, self.categories.clone()),
            (Segment::Region, regions),
            (Segment::UserBucket, self.buckets.clone()),
        ]
    }

    /// Every value's correction (`-bias`, in the optimizer's split), retailer first.
    pub fn true_corrections(&self) -> Vec<(Segment, String, f64)> {
        let mut retailer = self.retailer_bias;
        let mut corrections = Vec::new();
        for (segment, values) in self.dimensions() {
            let mean: f64 = values.iter().map(|v| v.share * v.bias).sum();
            retailer += mean;
            corrections.extend(
                values
                    .iter()
                    .map(|v| (segment, v.value.to_string(), -(v.bias - mean))),
            );
        }
        corrections.insert(0, (Segment::Retailer, SIM_TENANT.to_string(), -retailer));
        corrections
    }

    /// The values expected to have fewer than `min_samples` lines a day.
    pub fn thin_values(&self, min_samples: u64) -> Vec<(Segment, String)> {
        let lines = self.lines_per_day as f64;
        self.dimensions()
            .into_iter()
            .flat_map(|(segment, values)| {
                values
                    .into_iter()
                    .filter(|v| v.share * lines < min_samples as f64)
                    .map(move |v| (segment, v.value.to_string()))
            })
            .collect()
    }

    /// One day of order lines as JSON lines.
    pub fn day_lines(&self, rng: &mut StdRng) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines_per_day as usize * 160);
        for line in 0..self.lines_per_day {
            let category = pick(rng, self.categories.iter().map(|v| v.share));
            let region = pick(rng, self.region_mix[category].iter().copied());
            let bucket = pick(rng, self.buckets.iter().map(|v| v.share));
            let score = rng.random_range(SCORE_RANGE.0..SCORE_RANGE.1);
            let found_rate = (score
                + self.retailer_bias
                + self.categories[category].bias
                + self.regions[region].bias
                + self.buckets[bucket].bias)
                .clamp(0.0, 1.0);
            let found = rng.random::<f64>() < found_rate;
            let broken = self.broken_every > 0 && line % self.broken_every == self.broken_every - 1;
            let score_field = if broken {
                "\"score\":\"high\"".to_string()
            } else {
                format!("\"score\":{score:.4}")
            };
            let _ = writeln!(
                out,
                "{{\"store_id\":\"store-{}\",\"item_id\":\"item-{}\",\"category\":\"{}\",\"region\":\"{}\",\"user_bucket\":\"{}\",{score_field},\"found\":{found},\"column\":\"col_a\"}}",
                rng.random_range(0..40),
                rng.random_range(0..5_000),
                self.categories[category].value,
                self.regions[region].value,
                self.buckets[bucket].value,
            );
        }
        out
    }
}

/// An index drawn with the given weights (summing to about 1).
fn pick(rng: &mut StdRng, weights: impl Iterator<Item = f64>) -> usize {
    let draw: f64 = rng.random();
    let mut cumulative = 0.0;
    let mut last = 0;
    for (index, weight) in weights.enumerate() {
        cumulative += weight;
        last = index;
        if draw < cumulative {
            return index;
        }
    }
    last
}

/// One value's delta after one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimStep {
    /// 0: before the first run.
    pub run: u32,
    pub segment: Segment,
    pub value: String,
    pub delta: f64,
    pub correction: f64,
    pub samples: u64,
    pub movement: Option<Movement>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimPath {
    pub steps: Vec<SimStep>,
    pub reports: Vec<OptimizerReport>,
}

impl SimPath {
    /// The steps of `run`.
    pub fn run(&self, run: u32) -> impl Iterator<Item = &SimStep> {
        self.steps.iter().filter(move |s| s.run == run)
    }

    /// The largest |delta − correction| after `run` over the values not in `skip`.
    pub fn max_error(&self, run: u32, skip: &[(Segment, String)]) -> f64 {
        self.run(run)
            .filter(|s| !skip.contains(&(s.segment, s.value.clone())))
            .map(|s| (s.delta - s.correction).abs())
            .fold(0.0, f64::max)
    }
}

/// The retailer's starting configuration: one model, no deltas, the optimizer applying.
pub fn sim_config(settings: &OptimizerSettings) -> AvailabilityConfig {
    let mut config: AvailabilityConfig = serde_json::from_value(serde_json::json!({
        "models": [{"model": "avail-sim", "column": "col_a", "base_threshold": 0.6}],
        "default_column": "col_a",
    }))
    .expect("the simulation's configuration parses");
    config.optimizer = settings.clone();
    config
}

/// `runs` daily runs from [`SIM_START`] on the world's lines drawn from `seed`.
pub async fn simulate(
    world: &FoundRateWorld,
    settings: &OptimizerSettings,
    runs: u32,
    seed: u64,
) -> Result<SimPath, OptimizerError> {
    let tenant = TenantId::parse(SIM_TENANT).expect("a valid tenant id");
    let configs = Arc::new(MemoryConfigStore::default());
    let feedback = Arc::new(MemoryFoundRateFeedback::default());
    let start = SIM_START.midnight().assume_utc() + time::Duration::hours(3);
    let clock = Arc::new(ManualClock::new(start));
    let note = ChangeNote {
        author: "simulation".to_string(),
        at: start,
        reason: "the simulated retailer's first configuration".to_string(),
        rollback_of: None,
    };
    configs
        .save(&tenant, &sim_config(settings), &note, None)
        .await?;
    let optimizer = DeltaOptimizer::new(OptimizerPorts {
        workspaces: Arc::new(MemoryDirectory::default()),
        configs: configs.clone(),
        feedback: feedback.clone(),
        reports: Arc::new(MemoryOptimizerReports::default()),
        clock: clock.clone(),
    });
    let corrections = world.true_corrections();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut path = SimPath::default();
    record(&mut path, 0, &corrections, &sim_config(settings), None);
    for run in 1..=runs {
        let day = SIM_START + time::Duration::days(i64::from(run - 1));
        feedback.forget_before(&tenant, day);
        feedback.put(&tenant, day, "orders-0001.jsonl", world.day_lines(&mut rng));
        let report = optimizer.run(&tenant, day).await?;
        let current = configs.current(&tenant).await?.expect("configured above");
        record(&mut path, run, &corrections, &current.config, Some(&report));
        path.reports.push(report);
        clock.advance(time::Duration::days(1));
    }
    Ok(path)
}

fn record(
    path: &mut SimPath,
    run: u32,
    corrections: &[(Segment, String, f64)],
    config: &AvailabilityConfig,
    report: Option<&OptimizerReport>,
) {
    for (segment, value, correction) in corrections {
        let delta = config
            .deltas
            .iter()
            .find(|d| d.segment == *segment && d.value == *value)
            .map_or(0.0, |d| d.delta);
        let seen = report.and_then(|r| r.segment(*segment, value));
        path.steps.push(SimStep {
            run,
            segment: *segment,
            value: value.clone(),
            delta,
            correction: *correction,
            samples: seen.map_or(0, |s| s.samples),
            movement: seen.map(|s| s.movement),
        });
    }
}

/// `run,segment,value,delta,correction,samples,movement`.
pub fn path_csv(path: &SimPath) -> String {
    let mut csv = String::from("run,segment,value,delta,correction,samples,movement\n");
    for s in &path.steps {
        let movement = s
            .movement
            .and_then(|m| serde_json::to_value(m).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{:.5},{:.5},{},{}\n",
            s.run,
            s.segment.as_str(),
            s.value,
            s.delta,
            s.correction,
            s.samples,
            movement
        ));
    }
    csv
}
