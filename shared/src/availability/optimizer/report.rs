//! What a run found and did, written for every run (applied or not) to
//! `availability/optimizer/<tenant>/<date>.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::propose::Movement;
use super::rows::Refusals;
use crate::availability::Segment;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerReport {
    pub tenant: String,
    /// The feedback's day, `yyyy-mm-dd`.
    pub day: String,
    /// The configuration version the proposal was computed on.
    pub config_version: u64,
    pub outcome: RunOutcome,
    pub objects: u64,
    /// Non-blank lines read.
    pub lines: u64,
    pub rows_used: u64,
    /// Used rows by the column they name (`""`: none named).
    pub rows_by_column: BTreeMap<String, u64>,
    /// Refused rows by reason, with samples.
    pub refused: Refusals,
    pub fit_sweeps: usize,
    pub fit_converged: bool,
    /// Every segment value the day's feedback saw.
    pub segments: Vec<SegmentReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The proposal was saved as this version.
    Applied { version: u64 },
    /// The configuration does not let the optimizer apply (`optimizer.apply` is false).
    ReportOnly,
    /// No delta would change.
    NothingToChange,
    /// An earlier run already applied this day's proposal (a retried run does not step twice).
    AlreadyApplied { version: u64 },
    /// Another change was saved first, twice (the proposal was recomputed once on it).
    Conflict,
}

impl RunOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Applied { .. } => "applied",
            RunOutcome::ReportOnly => "report_only",
            RunOutcome::NothingToChange => "nothing_to_change",
            RunOutcome::AlreadyApplied { .. } => "already_applied",
            RunOutcome::Conflict => "conflict",
        }
    }
}

/// One segment value of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    pub segment: Segment,
    pub value: String,
    pub samples: u64,
    pub found_rate: f64,
    pub mean_score: f64,
    /// `found_rate - mean_score`: negative when the model is overconfident.
    pub bias: f64,
    pub old_delta: f64,
    /// The least-squares correction of the day (`None` when held: thin data).
    pub fitted_delta: Option<f64>,
    /// The proposed delta (equal to `old_delta` when unchanged).
    pub new_delta: f64,
    pub movement: Movement,
    pub applied: bool,
    /// Why a change was not applied: `no_change`, `report_only`, `conflict`, `already_applied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<String>,
}

impl OptimizerReport {
    /// The report of `segment = value`, if the day saw it.
    pub fn segment(&self, segment: Segment, value: &str) -> Option<&SegmentReport> {
        self.segments
            .iter()
            .find(|s| s.segment == segment && s.value == value)
    }

    /// Values whose delta the run changed in the configuration.
    pub fn applied_changes(&self) -> usize {
        self.segments.iter().filter(|s| s.applied).count()
    }
}
