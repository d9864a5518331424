//! The threshold corrections the day's feedback asks for, every segment value at once.
//!
//! A request's threshold is the model's base plus the deltas of every segment value it falls in
//! (its retailer, category, region and user bucket), so a row's miscalibration (score shown
//! minus found, as 0 or 1) is explained by the sum of four deltas, not by any one. Taken one
//! segment at a time, "category A is found 8 points less often than scored" is partly region
//! N's doing when A sells mostly in N. So each value's correction is estimated from the residual
//! after the other values' deltas: the mean, over its rows, of (score − found − the deltas of the
//! other segments those rows fall in).
//!
//! Done once per day with the other values' *current* deltas, all values at once, that estimate
//! overshoots: a miscalibration shared by every row is claimed in full by each of the four
//! segments, the stacked correction is four times what was needed, and the next day's run
//! swings back by three times as much: daily runs would diverge. Instead each run iterates that
//! same residual estimate to its fixed point on the day's cells (backfitting, Gauss–Seidel:
//! segment by segment, each from the residual after the others' newest values), which is the
//! least-squares fit of the additive model to the day. The run's proposal then moves each
//! current delta toward its fitted value by at most the maximum step, never past it.
//!
//! Why repeated runs converge: the fitted values depend on the day's feedback, not on the
//! current deltas (except those of values held fixed, see below), so every run moves every
//! delta toward the same target (up to the day's noise) and closes the gap by
//! `min(gap, max_step)`; nothing overshoots, so nothing oscillates, and after
//! `ceil(|gap| / max_step)` runs a delta sits within the dead band of its target.
//!
//! Which split: rows tell only the sum of a request's deltas, so a constant can move between
//! dimensions (+c on every category, −c on every region) without changing any request. The fit
//! starts every value it moves from zero and adjusts the retailer first, which settles on one
//! split: the retailer's delta carries the retailer's average miscalibration, and each other
//! dimension's deltas carry how its values differ from that average (averaging zero over the
//! day's rows).
//!
//! Thin data: a value with fewer rows than the minimum sample is held at its current delta, and
//! its rows are left out of the fit. Kept in, they would be explained exactly by shifting the
//! shared segments' deltas (and every other value's against them), at no cost to the
//! well-sampled rows: twenty rows of one rare category could move the retailer's delta. A value
//! whose remaining rows fall below the minimum is held too, until none is. A value the day did
//! not see is not touched.

use super::tally::{CellSums, FeedbackTally, ROW_SEGMENTS};
use crate::availability::Segment;

/// The iteration stops when no value moved more than this in one sweep.
pub const FIT_TOLERANCE: f64 = 1e-9;
/// Sweeps over the segments at most (balanced segments settle in a few; strongly correlated
/// ones in tens).
pub const MAX_FIT_SWEEPS: usize = 1_000;

/// The fit's dimensions, in the order each sweep adjusts them: the retailer first (see the
/// module's "Which split").
pub const FIT_ORDER: [Segment; 4] = [
    Segment::Retailer,
    Segment::Category,
    Segment::Region,
    Segment::UserBucket,
];

/// One value of one segment as the day saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueFit {
    pub segment: Segment,
    pub value: String,
    pub sums: CellSums,
    pub current: f64,
    /// The fitted delta; `None` for a value held at its current delta.
    pub fitted: Option<f64>,
}

impl ValueFit {
    pub fn found_rate(&self) -> f64 {
        self.sums.found as f64 / self.sums.rows.max(1) as f64
    }
    pub fn mean_score(&self) -> f64 {
        self.sums.score_sum / self.sums.rows.max(1) as f64
    }
    /// Mean found − mean score: negative when the model is overconfident.
    pub fn bias(&self) -> f64 {
        self.found_rate() - self.mean_score()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DayFit {
    /// Every value the day saw, in `FIT_ORDER` and then by value.
    pub values: Vec<ValueFit>,
    pub sweeps: usize,
    pub converged: bool,
}

/// One cell with its level in each of `FIT_ORDER` (the retailer's is always 0).
struct FitCell {
    levels: [usize; 4],
    rows: f64,
    overconfidence: f64,
}

/// The values the fit moves, and the rows each has in the fit.
struct Moved {
    moved: Vec<Vec<bool>>,
    rows: Vec<Vec<f64>>,
}

/// Fits every value with at least `min_samples` rows; `current(segment, value)` is the delta a
/// value has now (0 when it has none).
pub fn fit_day(
    tally: &FeedbackTally,
    retailer: &str,
    min_samples: u64,
    current: impl Fn(Segment, &str) -> f64,
) -> DayFit {
    let mut values: Vec<Vec<ValueFit>> = vec![vec![value_fit(
        Segment::Retailer,
        retailer,
        tally.total(),
        &current,
    )]];
    for (dimension, segment) in ROW_SEGMENTS.into_iter().enumerate() {
        let sums = tally.value_sums(dimension);
        values.push(
            tally
                .values(dimension)
                .iter()
                .zip(sums)
                .map(|(value, sums)| value_fit(segment, value, sums, &current))
                .collect(),
        );
    }
    let all_cells: Vec<FitCell> = tally
        .cells()
        .map(|(levels, sums)| FitCell {
            levels: [
                0,
                levels[0] as usize,
                levels[1] as usize,
                levels[2] as usize,
            ],
            rows: sums.rows as f64,
            overconfidence: sums.overconfidence_sum(),
        })
        .collect();
    let Moved { moved, rows } = moved_values(&all_cells, &values, min_samples);
    let cells: Vec<FitCell> = all_cells
        .into_iter()
        .filter(|cell| (0..FIT_ORDER.len()).all(|d| moved[d][cell.levels[d]]))
        .collect();
    let mut deltas: Vec<Vec<f64>> = values
        .iter()
        .map(|dimension| vec![0.0; dimension.len()])
        .collect();
    let (sweeps, converged) = backfit(&cells, &moved, &rows, &mut deltas);
    for (dimension, fits) in values.iter_mut().enumerate() {
        for (level, fit) in fits.iter_mut().enumerate() {
            fit.fitted = moved[dimension][level].then_some(deltas[dimension][level]);
        }
        fits.sort_by(|a, b| a.value.cmp(&b.value));
    }
    DayFit {
        values: values.into_iter().flatten().collect(),
        sweeps,
        converged,
    }
}

/// Holds every value with fewer than `min_samples` rows in cells of values not held, until no
/// more is held (each round only adds; it ends).
fn moved_values(cells: &[FitCell], values: &[Vec<ValueFit>], min_samples: u64) -> Moved {
    let mut moved: Vec<Vec<bool>> = values
        .iter()
        .map(|d| d.iter().map(|v| v.sums.rows >= min_samples).collect())
        .collect();
    loop {
        let mut rows: Vec<Vec<f64>> = values.iter().map(|d| vec![0.0; d.len()]).collect();
        for cell in cells {
            if (0..FIT_ORDER.len()).all(|d| moved[d][cell.levels[d]]) {
                for d in 0..FIT_ORDER.len() {
                    rows[d][cell.levels[d]] += cell.rows;
                }
            }
        }
        let mut held_more = false;
        for (d, dimension) in rows.iter().enumerate() {
            for (level, &in_fit) in dimension.iter().enumerate() {
                if moved[d][level] && in_fit < min_samples as f64 {
                    moved[d][level] = false;
                    held_more = true;
                }
            }
        }
        if !held_more {
            return Moved { moved, rows };
        }
    }
}

fn value_fit(
    segment: Segment,
    value: &str,
    sums: CellSums,
    current: &impl Fn(Segment, &str) -> f64,
) -> ValueFit {
    ValueFit {
        segment,
        value: value.to_string(),
        sums,
        current: current(segment, value),
        fitted: None,
    }
}

/// Gauss–Seidel over the dimensions, every moved value from zero, until a sweep moves no value
/// by more than `FIT_TOLERANCE`; answers the sweeps made and whether it settled. `cells` hold
/// moved values only.
fn backfit(
    cells: &[FitCell],
    moved: &[Vec<bool>],
    rows: &[Vec<f64>],
    deltas: &mut [Vec<f64>],
) -> (usize, bool) {
    for sweep in 1..=MAX_FIT_SWEEPS {
        let mut largest_move: f64 = 0.0;
        for dimension in 0..FIT_ORDER.len() {
            let mut residual = vec![0.0; deltas[dimension].len()];
            for cell in cells {
                let others: f64 = (0..FIT_ORDER.len())
                    .filter(|&d| d != dimension)
                    .map(|d| deltas[d][cell.levels[d]])
                    .sum();
                residual[cell.levels[dimension]] += cell.overconfidence - cell.rows * others;
            }
            for level in 0..residual.len() {
                if !moved[dimension][level] {
                    continue;
                }
                let next = residual[level] / rows[dimension][level];
                largest_move = largest_move.max((next - deltas[dimension][level]).abs());
                deltas[dimension][level] = next;
            }
        }
        if largest_move <= FIT_TOLERANCE {
            return (sweep, true);
        }
    }
    (MAX_FIT_SWEEPS, false)
}
