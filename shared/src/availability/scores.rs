//! Scores as they are stored: per retailer, store and item, one value per model column with the
//! time the model computed it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{ItemId, ScoreColumn, StoreId};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid score {value}: {reason}")]
pub struct InvalidScore {
    pub value: f64,
    pub reason: &'static str,
}

/// The probability that an item is on the shelf: a finite number in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Score(f64);

impl Score {
    pub fn new(value: f64) -> Result<Self, InvalidScore> {
        if !value.is_finite() {
            return Err(InvalidScore {
                value,
                reason: "not a finite number",
            });
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(InvalidScore {
                value,
                reason: "outside [0, 1]",
            });
        }
        Ok(Self(value))
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Score {
    type Error = InvalidScore;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Score> for f64 {
    fn from(score: Score) -> f64 {
        score.0
    }
}

/// One model's score of one item, with the time the model computed it (not the time it was
/// stored): the order of writes is decided by this time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnScore {
    pub score: Score,
    pub computed_at: OffsetDateTime,
}

/// Which item of which store (the retailer travels beside it, in every port call).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScoreKey {
    pub store: StoreId,
    pub item: ItemId,
}

/// The stored scores of one item, by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemScores {
    pub columns: BTreeMap<ScoreColumn, ColumnScore>,
}

impl ItemScores {
    pub fn get(&self, column: &ScoreColumn) -> Option<&ColumnScore> {
        self.columns.get(column)
    }
}

/// A write of one column of one item. It applies only if the stored value of that column was
/// computed earlier (or is missing), and it leaves every other column as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreWrite {
    pub key: ScoreKey,
    pub column: ScoreColumn,
    pub value: ColumnScore,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The stored value was computed at the same time or later: nothing was written.
    Stale,
}
