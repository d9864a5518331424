//! Automated warm-up of each retailer's sending identity (docs/deliverability.md, "Warm-up").
//!
//! - [`plan`]: the ladder from the start cap to the target, validated.
//! - [`decision`]: the daily decision from yesterday's feedback and the thresholds.
//! - [`ports`]: the per-tenant state and the day's send cap.
//! - [`service`]: the daily run over every tenant in warm-up.
//!
//! Delivery takes from the day's cap before it sends (`pipeline::deliver`); what the cap does not
//! grant is deferred to the next UTC day.

pub mod decision;
pub mod plan;
pub mod ports;
pub mod service;

pub use decision::{
    DayRates, WarmupAction, WarmupDecision, WarmupStage, WarmupState, WarmupThresholds, decide,
};
pub use plan::{Ladder, PlanError};
pub use ports::{CapUsage, SendCap, WarmupRecord, WarmupStore};
pub use service::{
    TenantWarmup, TenantsFailed, WarmupError, WarmupPorts, WarmupService, WarmupSummary,
};

use crate::deliverability::counters::Day;

pub const SECONDS_PER_DAY: i64 = 86_400;

/// The UTC day `days` after the one of `epoch_seconds` (before it when negative).
pub fn day_after(epoch_seconds: i64, days: i64) -> Day {
    Day::of_epoch(epoch_seconds + days * SECONDS_PER_DAY)
}

/// The first second of the UTC day after the one of `epoch_seconds`: when a day's cap resets.
pub fn next_day_start(epoch_seconds: i64) -> i64 {
    (epoch_seconds.div_euclid(SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY
}

#[cfg(test)]
mod tests;
