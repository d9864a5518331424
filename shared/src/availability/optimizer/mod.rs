//! The availability delta optimizer: run daily per retailer, it reads the day's found-rate
//! feedback (order lines: the score shown and whether the item was found), measures each
//! segment value's calibration, fits the threshold deltas that correct it and proposes them
//! through guardrails; it applies the proposal as a new configuration revision only when the
//! retailer's configuration says so (`optimizer.apply`), and reports every run.
//!
//! - `rows.rs`: one feedback row read from a JSON line, refused rows by reason;
//! - `reading.rs`, `tally.rs`: a day's objects streamed (gzip or plain) into per-cell sums;
//! - `fit.rs`: the joint fit of every segment's delta (why repeated runs converge: its doc);
//! - `propose.rs`: the guardrails (minimum sample, dead band, maximum step, bound);
//! - `plan.rs`, `report.rs`: one run's plan and what it writes;
//! - `ports.rs`: the feedback and the reports (S3: `aws::found_rate`);
//! - `service.rs`: `DeltaOptimizer::run` and `run_all`.

pub mod fit;
pub mod plan;
pub mod ports;
pub mod propose;
pub mod reading;
pub mod report;
pub mod rows;
pub mod service;
pub mod tally;

pub use fit::{DayFit, ValueFit, fit_day};
pub use ports::{ChunkStream, FeedbackObject, FoundRateFeedback, OptimizerReports, keys};
pub use propose::{Movement, Proposal};
pub use report::{OptimizerReport, RunOutcome, SegmentReport};
pub use rows::{FeedbackRow, Refusal, Refusals, RefusedRows, parse_row};
pub use service::{
    DeltaOptimizer, OPTIMIZER_AUTHOR, OptimizerError, OptimizerPorts, OptimizerSummary,
    TenantOptimized, TenantsFailed,
};
pub use tally::FeedbackTally;

#[cfg(test)]
mod fit_tests;
#[cfg(test)]
mod reading_tests;
#[cfg(test)]
mod tests;
