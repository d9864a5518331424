//! One run's plan on one configuration revision: the day's fit, the proposal per value, the
//! deltas it leads to, the change note's reason and the report.

use time::Date;

use super::fit::{DayFit, fit_day};
use super::ports::keys;
use super::propose::{Proposal, apply, current_deltas, propose};
use super::report::{OptimizerReport, RunOutcome, SegmentReport};
use super::tally::FeedbackTally;
use crate::availability::config::MAX_NOTE_CHARS;
use crate::availability::{AvailabilityConfig, SegmentDelta};
use crate::domain::TenantId;

pub struct Plan {
    pub fit: DayFit,
    /// `proposals[i]` is `fit.values[i]`'s.
    pub proposals: Vec<Proposal>,
    pub deltas: Vec<SegmentDelta>,
}

/// How a change note of the optimizer's run of `day` starts: a retried run recognises its own.
pub fn reason_prefix(day: Date) -> String {
    format!("optimizer run of {}:", keys::day(day))
}

impl Plan {
    pub fn new(tenant: &TenantId, config: &AvailabilityConfig, tally: &FeedbackTally) -> Self {
        let settings = &config.optimizer;
        let current = current_deltas(&config.deltas);
        let fit = fit_day(
            tally,
            tenant.as_str(),
            settings.min_samples,
            |segment, value| current.get(&(segment, value)).copied().unwrap_or(0.0),
        );
        let mut proposals: Vec<Proposal> = fit
            .values
            .iter()
            .map(|value| propose(value, settings))
            .collect();
        let deltas = apply(&config.deltas, &fit.values, &mut proposals);
        Self {
            fit,
            proposals,
            deltas,
        }
    }

    pub fn changes(&self) -> usize {
        self.proposals
            .iter()
            .filter(|p| p.movement.changes())
            .count()
    }

    /// `config` with the proposed deltas.
    pub fn config(&self, config: &AvailabilityConfig) -> AvailabilityConfig {
        AvailabilityConfig {
            deltas: self.deltas.clone(),
            ..config.clone()
        }
    }

    pub fn reason(&self, day: Date, tally: &FeedbackTally) -> String {
        let largest = self
            .fit
            .values
            .iter()
            .zip(&self.proposals)
            .map(|(fit, p)| (p.new_delta - fit.current).abs())
            .fold(0.0, f64::max);
        let thin = self
            .fit
            .values
            .iter()
            .filter(|v| v.fitted.is_none())
            .count();
        let reason = format!(
            "{} {} rows ({} refused) from {} objects; {} of {} segment values changed \
             (largest step {largest:.4}), {thin} held on thin data",
            reason_prefix(day),
            tally.rows(),
            tally.refusals.total(),
            tally.objects,
            self.changes(),
            self.fit.values.len(),
        );
        reason.chars().take(MAX_NOTE_CHARS).collect()
    }

    pub fn report(
        &self,
        tenant: &TenantId,
        day: Date,
        version: u64,
        tally: &FeedbackTally,
        outcome: RunOutcome,
    ) -> OptimizerReport {
        let applied = matches!(outcome, RunOutcome::Applied { .. });
        let segments = self
            .fit
            .values
            .iter()
            .zip(&self.proposals)
            .map(|(fit, proposal)| {
                let changes = proposal.movement.changes();
                SegmentReport {
                    segment: fit.segment,
                    value: fit.value.clone(),
                    samples: fit.sums.rows,
                    found_rate: fit.found_rate(),
                    mean_score: fit.mean_score(),
                    bias: fit.bias(),
                    old_delta: fit.current,
                    fitted_delta: fit.fitted,
                    new_delta: proposal.new_delta,
                    movement: proposal.movement,
                    applied: applied && changes,
                    not_applied: if applied && changes {
                        None
                    } else if !changes {
                        Some("no_change".to_string())
                    } else {
                        Some(outcome.as_str().to_string())
                    },
                }
            })
            .collect();
        OptimizerReport {
            tenant: tenant.to_string(),
            day: keys::day(day),
            config_version: version,
            outcome,
            objects: tally.objects,
            lines: tally.lines,
            rows_used: tally.rows(),
            rows_by_column: tally.rows_by_column.clone(),
            refused: tally.refusals.clone(),
            fit_sweeps: self.fit.sweeps,
            fit_converged: self.fit.converged,
            segments,
        }
    }
}
