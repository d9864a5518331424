//! The plan's ladder: a geometric growth from the start cap to the target, one rung per healthy
//! day, validated against the bounds a warm-up must stay within.

use crate::domain::WarmupPlan;

/// The first day's cap: at least 50 (less teaches the mailbox providers nothing), at most 1,000
/// (more is no longer a warm-up for a new identity).
pub const START_CAP: std::ops::RangeInclusive<u64> = 50..=1_000;
/// Healthy days from the start cap to the target: four to six weeks.
pub const RAMP_DAYS: std::ops::RangeInclusive<u32> = 28..=42;
/// The largest daily target a plan may set.
pub const MAX_TARGET: u64 = 10_000_000;

/// Why a plan is refused; `field` names the plan's field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PlanError {
    pub field: &'static str,
    pub reason: String,
}

/// A validated plan's caps, rung by rung: rung 0 is `start_cap`, rung `ramp_days - 1` is
/// `target`, each rung the previous one times the same factor. A healthy tenant climbs one
/// rung a day, so it sends its target on day `ramp_days`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ladder {
    plan: WarmupPlan,
    factor: f64,
}

impl Ladder {
    pub fn new(plan: WarmupPlan) -> Result<Self, PlanError> {
        if !START_CAP.contains(&plan.start_cap) {
            return Err(PlanError {
                field: "start_cap",
                reason: format!("must be {} to {} a day", START_CAP.start(), START_CAP.end()),
            });
        }
        if plan.target < plan.start_cap || plan.target > MAX_TARGET {
            return Err(PlanError {
                field: "target",
                reason: format!("must be start_cap ({}) to {MAX_TARGET}", plan.start_cap),
            });
        }
        if !RAMP_DAYS.contains(&plan.ramp_days) {
            return Err(PlanError {
                field: "ramp_days",
                reason: format!("must be {} to {}", RAMP_DAYS.start(), RAMP_DAYS.end()),
            });
        }
        let steps = f64::from(plan.ramp_days - 1);
        let factor = (plan.target as f64 / plan.start_cap as f64).powf(1.0 / steps);
        Ok(Self { plan, factor })
    }

    pub fn plan(&self) -> WarmupPlan {
        self.plan
    }

    /// The rung at which the target is reached.
    pub fn top(&self) -> u32 {
        self.plan.ramp_days - 1
    }

    /// The daily cap at `rung` (past the top: the target).
    pub fn cap(&self, rung: u32) -> u64 {
        if rung >= self.top() {
            return self.plan.target;
        }
        let cap = (self.plan.start_cap as f64 * self.factor.powi(rung as i32)).round() as u64;
        cap.clamp(self.plan.start_cap, self.plan.target)
    }

    /// Each rung's cap over the previous one's.
    pub fn growth_factor(&self) -> f64 {
        self.factor
    }
}
