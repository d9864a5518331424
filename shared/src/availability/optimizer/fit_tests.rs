use super::fit::{FIT_ORDER, fit_day};
use super::propose::{Movement, apply, propose};
use super::rows::FeedbackRow;
use super::tally::FeedbackTally;
use super::*;
use crate::availability::config::MAX_DELTAS;
use crate::availability::{OptimizerSettings, Segment, SegmentDelta};

const CATEGORIES: [(&str, f64); 3] = [("produce", 0.10), ("dairy", -0.04), ("toys", 0.02)];
const REGIONS: [(&str, f64); 2] = [("north", 0.05), ("south", -0.03)];
const BUCKETS: [(&str, f64); 2] = [("new", 0.01), ("regular", 0.0)];
const RETAILER: f64 = 0.03;

fn row<'a>(
    category: &'a str,
    region: &'a str,
    bucket: &'a str,
    score: f64,
    found: bool,
) -> FeedbackRow<'a> {
    FeedbackRow {
        category: category.into(),
        region: region.into(),
        user_bucket: bucket.into(),
        score,
        found,
        column: None,
    }
}

/// A noise-free day: every cell's mean (score − found) is exactly its stacked correction (one
/// found and one unfound row scored `0.5 + correction`), cells weighted unevenly and regions
/// correlated with categories.
fn exact_day() -> (FeedbackTally, Vec<([usize; 3], u64)>) {
    let mut tally = FeedbackTally::default();
    let mut weights = Vec::new();
    for (c, (category, c_bias)) in CATEGORIES.iter().enumerate() {
        for (r, (region, r_bias)) in REGIONS.iter().enumerate() {
            for (b, (bucket, b_bias)) in BUCKETS.iter().enumerate() {
                let pairs = 20 + 30 * ((c + 1) * (2 * r + 1) % 5) as u64 + 10 * b as u64;
                let score = 0.5 + RETAILER + c_bias + r_bias + b_bias;
                for _ in 0..pairs {
                    tally.add(&row(category, region, bucket, score, true));
                    tally.add(&row(category, region, bucket, score, false));
                }
                weights.push(([c, r, b], 2 * pairs));
            }
        }
    }
    (tally, weights)
}

fn fitted(fit: &DayFit, segment: Segment, value: &str) -> f64 {
    fit.values
        .iter()
        .find(|v| v.segment == segment && v.value == value)
        .and_then(|v| v.fitted)
        .expect("a fitted value")
}

#[test]
fn the_fit_recovers_every_cells_stacked_correction_in_the_retailer_first_split() {
    let (tally, weights) = exact_day();
    let fit = fit_day(&tally, "acme", 1, |_, _| 0.0);
    assert!(fit.converged, "{} sweeps", fit.sweeps);
    // GIVEN the split: each dimension's row-weighted mean goes to the retailer.
    let total: u64 = weights.iter().map(|(_, n)| n).sum();
    let mean_of = |dimension: usize, biases: &[f64]| -> f64 {
        weights
            .iter()
            .map(|(levels, n)| biases[levels[dimension]] * *n as f64)
            .sum::<f64>()
            / total as f64
    };
    let c_bias: Vec<f64> = CATEGORIES.iter().map(|c| c.1).collect();
    let r_bias: Vec<f64> = REGIONS.iter().map(|r| r.1).collect();
    let b_bias: Vec<f64> = BUCKETS.iter().map(|b| b.1).collect();
    let means = [
        mean_of(0, &c_bias),
        mean_of(1, &r_bias),
        mean_of(2, &b_bias),
    ];
    let retailer = fitted(&fit, Segment::Retailer, "acme");
    assert!(
        (retailer - (RETAILER + means.iter().sum::<f64>())).abs() < 1e-6,
        "{retailer}"
    );
    for (category, bias) in CATEGORIES {
        let got = fitted(&fit, Segment::Category, category);
        assert!((got - (bias - means[0])).abs() < 1e-6, "{category}: {got}");
    }
    for (region, bias) in REGIONS {
        let got = fitted(&fit, Segment::Region, region);
        assert!((got - (bias - means[1])).abs() < 1e-6, "{region}: {got}");
    }
    for (bucket, bias) in BUCKETS {
        let got = fitted(&fit, Segment::UserBucket, bucket);
        assert!((got - (bias - means[2])).abs() < 1e-6, "{bucket}: {got}");
    }
}

#[test]
fn the_fit_does_not_depend_on_the_current_deltas_of_the_values_it_moves() {
    let (tally, _) = exact_day();
    let from_zero = fit_day(&tally, "acme", 1, |_, _| 0.0);
    let from_elsewhere = fit_day(&tally, "acme", 1, |segment, _| match segment {
        Segment::Category => 0.2,
        _ => -0.1,
    });
    for (a, b) in from_zero.values.iter().zip(&from_elsewhere.values) {
        assert!(
            (a.fitted.unwrap() - b.fitted.unwrap()).abs() < 1e-9,
            "{}",
            a.value
        );
    }
}

#[test]
fn a_thin_value_is_held_at_its_current_delta_and_the_others_are_fitted_around_it() {
    let (mut tally, _) = exact_day();
    for _ in 0..5 {
        tally.add(&row("caviar", "north", "new", 0.9, false));
    }
    let fit = fit_day(&tally, "acme", 10, |segment, value| {
        if segment == Segment::Category && value == "caviar" {
            0.04
        } else {
            0.0
        }
    });
    let caviar = fit.values.iter().find(|v| v.value == "caviar").unwrap();
    assert_eq!(caviar.fitted, None);
    assert_eq!(caviar.current, 0.04);
    assert_eq!(caviar.sums.rows, 5);
    assert!(
        fit.values
            .iter()
            .filter(|v| v.value != "caviar")
            .all(|v| v.fitted.is_some())
    );
    assert_eq!(fit.values[0].segment, FIT_ORDER[0]);
}

fn value_fit(current: f64, fitted: Option<f64>) -> ValueFit {
    ValueFit {
        segment: Segment::Category,
        value: "produce".into(),
        sums: Default::default(),
        current,
        fitted,
    }
}

fn settings() -> OptimizerSettings {
    OptimizerSettings {
        apply: true,
        min_samples: 100,
        max_step: 0.05,
        max_delta: 0.3,
        dead_band: 0.005,
    }
}

#[test]
fn the_guardrails_hold_thin_data_and_noise_and_limit_each_step_and_the_bound() {
    let s = settings();
    let case = |current, fitted| propose(&value_fit(current, fitted), &s);
    let thin = case(0.02, None);
    assert_eq!((thin.new_delta, thin.movement), (0.02, Movement::ThinData));
    let noise = case(0.02, Some(0.024));
    assert_eq!(
        (noise.new_delta, noise.movement),
        (0.02, Movement::DeadBand)
    );
    let near = case(0.02, Some(0.05));
    assert_eq!((near.new_delta, near.movement), (0.05, Movement::ToFit));
    let far = case(0.0, Some(0.2));
    assert_eq!((far.new_delta, far.movement), (0.05, Movement::StepLimited));
    let down = case(0.0, Some(-0.2));
    assert_eq!(
        (down.new_delta, down.movement),
        (-0.05, Movement::StepLimited)
    );
    let to_bound = case(0.28, Some(0.45));
    assert_eq!(to_bound.movement, Movement::BoundLimited);
    assert!((to_bound.new_delta - 0.3).abs() < 1e-12);
    let at_bound = case(0.3, Some(0.45));
    assert_eq!(
        (at_bound.new_delta, at_bound.movement),
        (0.3, Movement::BoundLimited)
    );
    // A delta set beyond the bound by hand walks back by one step, not in one jump.
    let walks_back = case(0.45, Some(0.4));
    assert_eq!(walks_back.movement, Movement::StepLimited);
    assert!((walks_back.new_delta - 0.40).abs() < 1e-12);
}

#[test]
fn new_deltas_are_added_while_there_is_room_and_existing_ones_updated_in_place() {
    let s = settings();
    let fits = vec![
        value_fit(0.0, Some(0.03)),
        ValueFit {
            value: "dairy".into(),
            ..value_fit(0.1, Some(0.08))
        },
    ];
    let existing = vec![SegmentDelta {
        segment: Segment::Category,
        value: "dairy".into(),
        delta: 0.1,
    }];
    let mut proposals: Vec<_> = fits.iter().map(|f| propose(f, &s)).collect();
    let next = apply(&existing, &fits, &mut proposals);
    assert_eq!(next.len(), 2);
    assert!((next[0].delta - 0.08).abs() < 1e-12);
    assert_eq!((next[1].value.as_str(), next[1].delta), ("produce", 0.03));

    let full: Vec<SegmentDelta> = (0..MAX_DELTAS)
        .map(|i| SegmentDelta {
            segment: Segment::Region,
            value: format!("r{i}"),
            delta: 0.0,
        })
        .collect();
    let mut proposals: Vec<_> = fits.iter().map(|f| propose(f, &s)).collect();
    let next = apply(&full, &fits, &mut proposals);
    assert_eq!(next.len(), MAX_DELTAS);
    assert_eq!(proposals[0].movement, Movement::NoRoom);
    assert_eq!(proposals[0].new_delta, 0.0);
}
