//! A model of what searches see: full sync only, against a less frequent full sync plus lazy
//! refresh. One store, `items` items of Zipf-like popularity (rank r is shown with weight
//! `1 / r^zipf_exponent`), each item's true score drifting on its own slow wave; time in
//! minutes. At each full sync the warehouse has scored every item [`EXPORT_LAG_MINUTES`]
//! before (the unload and the sync take that long), and the sync writes each one whose stored
//! score is older (as `ScoreSync` decides: a lazily refreshed newer score is left,
//! counted stale). With lazy refresh, the items shown in a minute whose score is stale by
//! [`crate::availability::refresh::stale_columns`] are scored and written at the minute's end (a
//! Kinesis batch's latency), each once per minute however often it was shown.
//!
//! Used by `benches/availability_sync.rs`; a run is a function of its settings and seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use crate::availability::refresh::stale_columns;
use crate::availability::{ColumnScore, ItemScores, Score};
use crate::domain::ScoreColumn;

/// How long before a full sync the warehouse computed the export's scores.
pub const EXPORT_LAG_MINUTES: u32 = 60;
/// No score stored yet.
const NEVER: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub struct Workload {
    pub items: usize,
    pub zipf_exponent: f64,
    /// Items shown per minute (searches per minute × results per page).
    pub impressions_per_minute: usize,
    pub minutes: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Strategy {
    pub full_sync_every_minutes: u32,
    /// `Some(max age in seconds)`: lazy refresh on, with the configuration's allowed age.
    pub lazy_refresh_max_age_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub impressions: u64,
    /// Age of the stored score at each impression, in minutes: a histogram.
    pub age_histogram: Vec<u64>,
    /// Mean |stored − true| score at impression.
    pub mean_error: f64,
    pub sync_writes: u64,
    /// Exported rows the sync found older than a refreshed score.
    pub sync_stale: u64,
    pub refresh_writes: u64,
    pub full_syncs: u32,
}

impl Outcome {
    pub fn writes(&self) -> u64 {
        self.sync_writes + self.refresh_writes
    }

    pub fn mean_age_minutes(&self) -> f64 {
        let total: u64 = self
            .age_histogram
            .iter()
            .enumerate()
            .map(|(age, count)| age as u64 * count)
            .sum();
        total as f64 / self.impressions.max(1) as f64
    }

    /// The age at or below which `share` of impressions are.
    pub fn age_quantile_minutes(&self, share: f64) -> u32 {
        let wanted = (self.impressions as f64 * share).ceil() as u64;
        let mut seen = 0;
        for (age, count) in self.age_histogram.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return age as u32;
            }
        }
        self.age_histogram.len() as u32
    }

    /// The share of impressions that saw a score older than `minutes`.
    pub fn share_older_than(&self, minutes: u32) -> f64 {
        let older: u64 = self.age_histogram.iter().skip(minutes as usize + 1).sum();
        older as f64 / self.impressions.max(1) as f64
    }
}

/// Cumulative popularity of ranks 1..=items, for sampling by binary search.
fn zipf_cdf(items: usize, exponent: f64) -> Vec<f64> {
    let mut total = 0.0;
    let mut cdf = Vec::with_capacity(items);
    for rank in 1..=items {
        total += 1.0 / (rank as f64).powf(exponent);
        cdf.push(total);
    }
    cdf.iter_mut().for_each(|c| *c /= total);
    cdf
}

/// Item `i`'s true score at `minute`: a wave of a period of three to ten days.
fn true_score(item: usize, minute: u32) -> f64 {
    let period = 3.0 * 1440.0 + (item * 7_919 % 10_080) as f64;
    let phase = (item * 104_729 % 1_000) as f64 / 1_000.0 * std::f64::consts::TAU;
    0.5 + 0.4 * (std::f64::consts::TAU * f64::from(minute) / period + phase).sin()
}

fn at(minute: u32) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(i64::from(minute))
}

pub fn run(workload: &Workload, strategy: Strategy) -> Outcome {
    let cdf = zipf_cdf(workload.items, workload.zipf_exponent);
    let mut rng = StdRng::seed_from_u64(workload.seed);
    let column = [ScoreColumn::parse("s1").expect("a column")];
    // The minute each item's stored score was computed at.
    let mut computed: Vec<u32> = vec![NEVER; workload.items];
    let mut outcome = Outcome {
        age_histogram: vec![0; workload.minutes as usize + 1],
        ..Outcome::default()
    };
    let mut error_sum = 0.0;
    let mut shown_stale: Vec<usize> = Vec::new();
    let mut marked = vec![u32::MAX; workload.items];
    for minute in 0..workload.minutes {
        if minute % strategy.full_sync_every_minutes.max(1) == 0 {
            full_sync(minute, &mut computed, &mut outcome);
        }
        shown_stale.clear();
        for _ in 0..workload.impressions_per_minute {
            let draw: f64 = rng.random();
            let item = cdf.partition_point(|c| *c < draw).min(workload.items - 1);
            let age = minute - computed[item];
            outcome.impressions += 1;
            outcome.age_histogram[age as usize] += 1;
            error_sum += (true_score(item, computed[item]) - true_score(item, minute)).abs();
            let Some(max_age) = strategy.lazy_refresh_max_age_seconds else {
                continue;
            };
            let old = u64::from(age) * 60 > max_age;
            if old && marked[item] != minute && is_stale(computed[item], minute, max_age, &column) {
                marked[item] = minute;
                shown_stale.push(item);
            }
        }
        for &item in &shown_stale {
            computed[item] = minute + 1;
            outcome.refresh_writes += 1;
        }
    }
    outcome.mean_error = error_sum / outcome.impressions.max(1) as f64;
    outcome
}

fn is_stale(computed: u32, minute: u32, max_age: u64, column: &[ScoreColumn]) -> bool {
    let mut item = ItemScores::default();
    let value = ColumnScore {
        score: Score::new(0.5).expect("a score"),
        computed_at: at(computed),
    };
    item.columns.insert(column[0].clone(), value);
    !stale_columns(Some(&item), column, at(minute), max_age).is_empty()
}

/// The warehouse scored every item at `minute`: a stored score computed earlier is replaced,
/// one computed as late or later (a refresh) is left and counted stale.
fn full_sync(minute: u32, computed: &mut [u32], outcome: &mut Outcome) {
    outcome.full_syncs += 1;
    let scored_at = minute.saturating_sub(EXPORT_LAG_MINUTES);
    for stored in computed.iter_mut() {
        if *stored == NEVER || *stored < scored_at {
            *stored = scored_at;
            outcome.sync_writes += 1;
        } else if *stored > scored_at {
            outcome.sync_stale += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        Workload {
            items: 2_000,
            zipf_exponent: 1.0,
            impressions_per_minute: 200,
            minutes: 3 * 1440,
            seed: 7,
        }
    }

    const SYNC_ONLY: Strategy = Strategy {
        full_sync_every_minutes: 360,
        lazy_refresh_max_age_seconds: None,
    };
    const WITH_REFRESH: Strategy = Strategy {
        full_sync_every_minutes: 1440,
        lazy_refresh_max_age_seconds: Some(3 * 3600),
    };

    #[test]
    fn full_sync_only_writes_every_item_per_sync_and_no_search_sees_a_score_older_than_interval_and_lag()
     {
        let outcome = run(&workload(), SYNC_ONLY);
        assert_eq!(outcome.full_syncs, 12);
        assert_eq!(outcome.sync_writes, 12 * 2_000);
        assert_eq!(outcome.refresh_writes, 0);
        assert!(outcome.age_quantile_minutes(1.0) < 360 + EXPORT_LAG_MINUTES);
        assert_eq!(outcome.impressions, 200 * 3 * 1440);
        assert_eq!(
            outcome.age_histogram.iter().sum::<u64>(),
            outcome.impressions
        );
    }

    #[test]
    fn lazy_refresh_bounds_the_age_searches_see_to_the_allowed_age_but_for_the_minute_that_refreshes()
     {
        let outcome = run(&workload(), WITH_REFRESH);
        let allowed = 3 * 60;
        // Only the impressions of the minute that finds a score stale see it older than allowed:
        // at most one such minute per refresh, each with the minute's impressions of that item.
        let over: u64 = outcome.age_histogram.iter().skip(allowed + 1).sum();
        assert!(over > 0 && over <= outcome.refresh_writes * 200);
        assert!(
            outcome.sync_stale > 0,
            "the daily sync meets refreshed scores and leaves them"
        );
        assert!(outcome.sync_writes + outcome.sync_stale <= 3 * 2_000);
        assert!(
            outcome.sync_writes >= 2_000,
            "the first sync writes every item"
        );
        let sync_only = run(&workload(), SYNC_ONLY);
        assert!(outcome.mean_age_minutes() < sync_only.mean_age_minutes());
    }

    #[test]
    fn a_seed_replays_the_same_run() {
        assert_eq!(
            run(&workload(), WITH_REFRESH),
            run(&workload(), WITH_REFRESH)
        );
        let other = Workload {
            seed: 8,
            ..workload()
        };
        assert_ne!(run(&other, WITH_REFRESH), run(&workload(), WITH_REFRESH));
    }
}
