//! Item availability: how likely each item is on the shelf of each store, as machine-learned
//! scores kept in DynamoDB (one column per model version), and the decision built on them.
//!
//! - `scores.rs`: a score, the scores of one item, a write of one column;
//! - `config.rs`: the retailer's configuration (models and columns, the experiment between
//!   columns, thresholds and segment deltas), validated, versioned with who, when and why;
//! - `ports.rs`: the score store, the configuration store and the real-time score source;
//! - `sync/`: the full sync from the retailer's scoring export; `refresh.rs`: the lazy refresh
//!   of the scores searches show; `sync_lambda.rs`: `score-sync`'s two invocations;
//! - `optimizer/`: the daily delta optimizer fed by found-rate feedback;
//! - `bucketing.rs`, `decision.rs`, `lookup.rs`: GrowthBook-compatible bucketing, the
//!   decision with its explanation, the lookup and configuration services; `offers.rs`: the
//!   campaigns engine's stock filter;
//! - `settings.rs`: the availability functions' settings.
//!
//! See docs/availability.md.

pub mod bucketing;
pub mod config;
pub mod decision;
pub mod lookup;
#[cfg(feature = "campaigns")]
pub mod offers;
pub mod optimizer;
pub mod ports;
pub mod refresh;
pub mod scores;
pub mod settings;
pub mod sync;
pub mod sync_lambda;

pub use config::{
    AvailabilityConfig, ChangeNote, ConfigRevision, ExperimentArm, InvalidConfig, MissingScore,
    ModelColumn, ModelExperiment, OptimizerSettings, Segment, SegmentDelta,
};
pub use ports::{ConfigStore, ScoreSource, ScoreStore, SourceError};
pub use scores::{
    ColumnScore, InvalidScore, ItemScores, Score, ScoreKey, ScoreWrite, WriteOutcome,
};
