//! A retailer's availability configuration: which model versions are synced into which
//! columns, the experiment that splits users between columns, each model's base threshold and
//! the per-segment deltas stacked on it, how old a score may grow, and what a missing score
//! counts as. Stored as immutable revisions: every change is a new version with who, when and
//! why, and a rollback is a new version holding an older one's configuration.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::scores::Score;
use crate::domain::{ModelVersion, ScoreColumn};

/// At most this many models (columns) per retailer: every column is one more attribute on
/// every score item, and items are read whole.
pub const MAX_MODELS: usize = 8;
/// At most this many segment deltas: each request scans them.
pub const MAX_DELTAS: usize = 1_000;
pub const MAX_SEGMENT_VALUE_CHARS: usize = 64;
pub const MAX_EXPERIMENT_KEY_CHARS: usize = 64;
pub const MAX_NOTE_CHARS: usize = 500;
/// A delta moves a threshold by at most this much either way.
pub const MAX_DELTA_MAGNITUDE: f64 = 0.5;
/// The default age after which a search impression refreshes a score: a day.
pub const DEFAULT_MAX_SCORE_AGE_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    pub models: Vec<ModelColumn>,
    /// The column a request uses when no experiment puts it elsewhere: the control.
    pub default_column: ScoreColumn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ModelExperiment>,
    #[serde(default)]
    pub deltas: Vec<SegmentDelta>,
    /// A score computed longer ago than this is refreshed when a search shows its item.
    #[serde(default = "default_max_score_age")]
    pub max_score_age_seconds: u64,
    #[serde(default)]
    pub missing_score: MissingScore,
    /// What the daily delta optimizer may do (see `availability::optimizer`).
    #[serde(default)]
    pub optimizer: OptimizerSettings,
}

fn default_max_score_age() -> u64 {
    DEFAULT_MAX_SCORE_AGE_SECONDS
}

/// One model version and the column its scores live in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelColumn {
    pub model: ModelVersion,
    pub column: ScoreColumn,
    /// Whether `score-sync` and `score-refresh` write this column.
    #[serde(default = "yes")]
    pub synced: bool,
    /// Whether requests may be served from this column (the default column and every arm of the
    /// experiment must be enabled).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The model's operating point: an item is available when its score is at least the
    /// threshold (this plus the request's segment deltas, clamped to [0, 1]).
    pub base_threshold: f64,
}

fn yes() -> bool {
    true
}

/// An A/B split of users between columns, bucketed as GrowthBook buckets (hash version 2 of
/// the seed and the user id): users outside `coverage` use the default column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelExperiment {
    pub key: String,
    /// The hash seed; the key when absent (as in GrowthBook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// The share of users in the experiment, in [0, 1].
    #[serde(default = "full_coverage")]
    pub coverage: f64,
    pub arms: Vec<ExperimentArm>,
}

fn full_coverage() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExperimentArm {
    pub column: ScoreColumn,
    /// The arm's share of the covered users (weights are normalised to sum to 1).
    pub weight: f64,
}

/// A dimension a request falls in one value of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// The item's product category.
    Category,
    /// The retailer itself (value: the tenant id): a delta for all of its requests.
    Retailer,
    /// The store's or user's region.
    Region,
    /// The user's bucket (see docs/availability.md, "User buckets").
    UserBucket,
}

impl Segment {
    pub const ALL: [Segment; 4] = [
        Segment::Category,
        Segment::Retailer,
        Segment::Region,
        Segment::UserBucket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Category => "category",
            Segment::Retailer => "retailer",
            Segment::Region => "region",
            Segment::UserBucket => "user_bucket",
        }
    }
}

/// A shift of the threshold for every request that falls in `segment = value`, positive
/// (stricter) or negative (looser). Deltas of every segment a request falls in add up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SegmentDelta {
    pub segment: Segment,
    pub value: String,
    pub delta: f64,
}

/// The delta optimizer's guardrails, and whether its proposals are applied or only reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OptimizerSettings {
    /// Whether the optimizer saves its proposal as a new revision (otherwise it only reports).
    #[serde(default)]
    pub apply: bool,
    /// A segment value with fewer feedback rows in the day is left as it is.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// One run moves a delta by at most this much.
    #[serde(default = "default_max_step")]
    pub max_step: f64,
    /// The optimizer keeps every delta within ±this (at most `MAX_DELTA_MAGNITUDE`).
    #[serde(default = "default_max_delta")]
    pub max_delta: f64,
    /// A change smaller than this is not made: it is within the day's noise.
    #[serde(default = "default_dead_band")]
    pub dead_band: f64,
}

pub const DEFAULT_OPTIMIZER_MIN_SAMPLES: u64 = 500;
pub const DEFAULT_OPTIMIZER_MAX_STEP: f64 = 0.05;
pub const DEFAULT_OPTIMIZER_MAX_DELTA: f64 = 0.3;
pub const DEFAULT_OPTIMIZER_DEAD_BAND: f64 = 0.005;

fn default_min_samples() -> u64 {
    DEFAULT_OPTIMIZER_MIN_SAMPLES
}
fn default_max_step() -> f64 {
    DEFAULT_OPTIMIZER_MAX_STEP
}
fn default_max_delta() -> f64 {
    DEFAULT_OPTIMIZER_MAX_DELTA
}
fn default_dead_band() -> f64 {
    DEFAULT_OPTIMIZER_DEAD_BAND
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        Self {
            apply: false,
            min_samples: DEFAULT_OPTIMIZER_MIN_SAMPLES,
            max_step: DEFAULT_OPTIMIZER_MAX_STEP,
            max_delta: DEFAULT_OPTIMIZER_MAX_DELTA,
            dead_band: DEFAULT_OPTIMIZER_DEAD_BAND,
        }
    }
}

impl OptimizerSettings {
    fn validate(&self) -> Result<(), InvalidConfig> {
        if self.min_samples == 0 {
            return refuse("optimizer.min_samples must be positive");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0 && v <= MAX_DELTA_MAGNITUDE;
        if !positive(self.max_step) || !positive(self.max_delta) {
            return refuse(format!(
                "optimizer.max_step and optimizer.max_delta must be in (0, {MAX_DELTA_MAGNITUDE}]"
            ));
        }
        if !self.dead_band.is_finite() || self.dead_band < 0.0 || self.dead_band >= self.max_step {
            return refuse("optimizer.dead_band must be in [0, max_step)");
        }
        Ok(())
    }
}

/// What a missing score counts as.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MissingScore {
    /// The item counts as unavailable.
    Unavailable,
    /// The item is decided as if it had this score.
    Assume {
        #[cfg_attr(feature = "api", schema(value_type = f64, minimum = 0, maximum = 1))]
        score: Score,
    },
}

impl Default for MissingScore {
    /// A new or unscored item is neither promised nor hidden outright: it is decided as a coin
    /// flip would be, which a threshold above one half refuses.
    fn default() -> Self {
        MissingScore::Assume {
            score: Score::new(0.5).expect("one half is a score"),
        }
    }
}

/// Who changed the configuration, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct ChangeNote {
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "api", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
    pub reason: String,
    /// The version this change restored, when it is a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

/// One stored version of a retailer's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct ConfigRevision {
    pub version: u64,
    pub config: AvailabilityConfig,
    pub change: ChangeNote,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid availability configuration: {0}")]
pub struct InvalidConfig(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, InvalidConfig> {
    Err(InvalidConfig(reason.into()))
}

impl AvailabilityConfig {
    /// The model stored in `column`.
    pub fn model_of(&self, column: &ScoreColumn) -> Option<&ModelColumn> {
        self.models.iter().find(|m| &m.column == column)
    }

    /// The columns `score-sync` and `score-refresh` write.
    pub fn synced_columns(&self) -> impl Iterator<Item = &ModelColumn> {
        self.models.iter().filter(|m| m.synced)
    }

    /// Checks everything a request relies on, so a stored configuration is always usable.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.validate_models()?;
        let enabled = |column: &ScoreColumn| self.model_of(column).is_some_and(|m| m.enabled);
        if !enabled(&self.default_column) {
            return refuse(format!(
                "default_column {} is not an enabled model's column",
                self.default_column
            ));
        }
        if let Some(experiment) = &self.experiment {
            experiment.validate(enabled)?;
        }
        self.validate_deltas()?;
        if self.max_score_age_seconds == 0 {
            return refuse("max_score_age_seconds must be positive");
        }
        self.optimizer.validate()
    }

    fn validate_models(&self) -> Result<(), InvalidConfig> {
        if self.models.is_empty() || self.models.len() > MAX_MODELS {
            return refuse(format!("between 1 and {MAX_MODELS} models are allowed"));
        }
        let mut columns = HashSet::new();
        let mut models = HashSet::new();
        for model in &self.models {
            if !columns.insert(&model.column) {
                return refuse(format!("column {} is used twice", model.column));
            }
            if !models.insert(&model.model) {
                return refuse(format!("model {} is listed twice", model.model));
            }
            if !unit_interval(model.base_threshold) {
                return refuse(format!(
                    "base_threshold of {} must be in [0, 1]",
                    model.model
                ));
            }
        }
        Ok(())
    }

    fn validate_deltas(&self) -> Result<(), InvalidConfig> {
        if self.deltas.len() > MAX_DELTAS {
            return refuse(format!("at most {MAX_DELTAS} deltas are allowed"));
        }
        let mut seen = HashSet::new();
        for delta in &self.deltas {
            if delta.value.is_empty() || delta.value.chars().count() > MAX_SEGMENT_VALUE_CHARS {
                return refuse(format!(
                    "a {} value must have 1 to {MAX_SEGMENT_VALUE_CHARS} characters",
                    delta.segment.as_str()
                ));
            }
            if !delta.delta.is_finite() || delta.delta.abs() > MAX_DELTA_MAGNITUDE {
                return refuse(format!(
                    "delta of {} = {} must be within ±{MAX_DELTA_MAGNITUDE}",
                    delta.segment.as_str(),
                    delta.value
                ));
            }
            if !seen.insert((delta.segment, delta.value.as_str())) {
                return refuse(format!(
                    "{} = {} has two deltas",
                    delta.segment.as_str(),
                    delta.value
                ));
            }
        }
        Ok(())
    }
}

impl ModelExperiment {
    /// The seed the bucketing hashes with.
    pub fn seed(&self) -> &str {
        self.seed.as_deref().unwrap_or(&self.key)
    }

    fn validate(&self, enabled: impl Fn(&ScoreColumn) -> bool) -> Result<(), InvalidConfig> {
        if self.key.is_empty() || self.key.chars().count() > MAX_EXPERIMENT_KEY_CHARS {
            return refuse(format!(
                "the experiment key must have 1 to {MAX_EXPERIMENT_KEY_CHARS} characters"
            ));
        }
        if !unit_interval(self.coverage) {
            return refuse("the experiment's coverage must be in [0, 1]");
        }
        if self.arms.len() < 2 {
            return refuse("an experiment needs at least two arms");
        }
        let mut columns = HashSet::new();
        for arm in &self.arms {
            if !enabled(&arm.column) {
                return refuse(format!(
                    "experiment arm {} is not an enabled model's column",
                    arm.column
                ));
            }
            if !columns.insert(&arm.column) {
                return refuse(format!("experiment arm {} is listed twice", arm.column));
            }
            if !arm.weight.is_finite() || arm.weight < 0.0 {
                return refuse("arm weights must be non-negative numbers");
            }
        }
        if self.arms.iter().map(|a| a.weight).sum::<f64>() <= 0.0 {
            return refuse("arm weights must not all be zero");
        }
        Ok(())
    }
}

impl ChangeNote {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.author.trim().is_empty() || self.reason.trim().is_empty() {
            return refuse("a change needs its author and its reason");
        }
        if self.reason.chars().count() > MAX_NOTE_CHARS || self.author.chars().count() > 200 {
            return refuse(format!(
                "a change's reason has at most {MAX_NOTE_CHARS} characters"
            ));
        }
        Ok(())
    }
}

fn unit_interval(value: f64) -> bool {
    value.is_finite() && (0.0..=1.0).contains(&value)
}
