//! A retailer's deliverability at a glance (`GET /tenants/{tenant}/deliverability`): its warm-up
//! (the plan, the stored state, today's cap and what it granted, the last decisions with their
//! reasons) and the daily feedback counts of the last days with the rates the warm-up judges,
//! computed by the warm-up's own [`DayRates::of`], beside the thresholds it judges them by.
//!
//! Reads only: the workspace, the warm-up state, today's cap item and one day counter per day.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;

use crate::clock::Clock;
use crate::deliverability::counters::{Day, FeedbackCounters, FeedbackCounts};
use crate::deliverability::warmup::{
    DayRates, Ladder, SendCap, WarmupAction, WarmupStage, WarmupStore, WarmupThresholds, day_after,
};
use crate::directory::TenantAdmin;
use crate::domain::{TenantId, WarmupPlan};
use crate::error::{Retryable, StoreError};

/// Days reported when the caller does not say ...
pub const DEFAULT_REPORT_DAYS: u32 = 14;
/// ... and at most (the warm-up state keeps 60 decisions too).
pub const MAX_REPORT_DAYS: u32 = 60;
/// The last decisions reported, newest first.
pub const REPORTED_DECISIONS: usize = 14;
/// Day counters read at once.
pub const DAY_READ_CONCURRENCY: usize = 8;

pub struct ReportPorts {
    /// The retailer's workspace (its warm-up plan).
    pub workspaces: Arc<dyn TenantAdmin>,
    pub feedback: Arc<dyn FeedbackCounters>,
    pub warmup: Arc<dyn WarmupStore>,
    pub caps: Arc<dyn SendCap>,
}

pub struct DeliverabilityReports {
    ports: ReportPorts,
    thresholds: WarmupThresholds,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("days must be 1 to {MAX_REPORT_DAYS}")]
    Days,
    #[error("no such retailer")]
    UnknownTenant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Retryable for ReportError {
    fn is_retryable(&self) -> bool {
        match self {
            ReportError::Days | ReportError::UnknownTenant => false,
            ReportError::Store(error) => error.is_retryable(),
        }
    }
}

/// The report. Rates are fractions (0.02 is 2 %), as the thresholds are.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct DeliverabilityReport {
    /// Today (UTC), `YYYY-MM-DD`.
    pub today: String,
    /// Absent when the retailer has no warm-up plan.
    pub warm_up: Option<WarmUpReport>,
    /// What the daily warm-up decision judges the rates by.
    pub thresholds: WarmupThresholds,
    /// Today and the days before it, newest first.
    pub days: Vec<DayFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct WarmUpReport {
    pub plan: WarmupPlan,
    /// The rung at which the plan's target is reached.
    pub top_rung: u32,
    /// The state as of the last daily decision; absent before the first one.
    pub state: Option<WarmUpStateView>,
    /// Today's cap (absent while no decision set it) and the sends it granted so far.
    pub today_cap: Option<u64>,
    pub today_used: u64,
    /// The last decisions, newest first.
    pub decisions: Vec<DecisionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct WarmUpStateView {
    pub rung: u32,
    pub stage: WarmupStage,
    /// The cap of `day`, the day last decided.
    pub cap: u64,
    pub day: String,
    pub healthy_streak: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct DecisionView {
    /// The day the decision's cap applies to.
    pub day: String,
    pub action: WarmupAction,
    pub rung: u32,
    pub cap: u64,
    pub reason: String,
    /// The previous day's figures it was made from.
    pub sent: u64,
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    pub deferral_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct DayFigures {
    pub day: String,
    /// Every count of the day's feedback.
    pub counts: FeedbackCounts,
    /// Delayed and soft-bounced messages: the deferral rate's events.
    pub deferrals: u64,
    /// Hard bounces per message sent (what SES's review level counts).
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    /// Deferrals per message sent.
    pub deferral_rate: f64,
}

impl DayFigures {
    fn of(day: Day, counts: FeedbackCounts) -> Self {
        let rates = DayRates::of(&counts);
        Self {
            day: day.0,
            counts,
            deferrals: rates.deferrals,
            bounce_rate: rates.bounce,
            complaint_rate: rates.complaint,
            deferral_rate: rates.deferral,
        }
    }
}

impl DeliverabilityReports {
    pub fn new(ports: ReportPorts, thresholds: WarmupThresholds, clock: Arc<dyn Clock>) -> Self {
        Self {
            ports,
            thresholds,
            clock,
        }
    }

    /// The retailer's report over `days` days (1 to [`MAX_REPORT_DAYS`]) ending today.
    pub async fn report(
        &self,
        tenant: &TenantId,
        days: u32,
    ) -> Result<DeliverabilityReport, ReportError> {
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(ReportError::Days);
        }
        let workspace = self
            .ports
            .workspaces
            .workspace(tenant)
            .await?
            .ok_or(ReportError::UnknownTenant)?;
        let epoch = self.clock.now().unix_timestamp();
        let today = Day::of_epoch(epoch);
        let warm_up = match workspace.settings.warmup {
            Some(plan) => Some(self.warm_up(tenant, plan, &today).await?),
            None => None,
        };
        let reads = (0..i64::from(days)).map(|back| {
            let day = day_after(epoch, -back);
            async move {
                let counts = self.ports.feedback.day_counts(tenant, &day).await?;
                Ok::<_, StoreError>(DayFigures::of(day, counts))
            }
        });
        let days: Vec<DayFigures> = futures::stream::iter(reads)
            .buffered(DAY_READ_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(DeliverabilityReport {
            today: today.0,
            warm_up,
            thresholds: self.thresholds,
            days,
        })
    }

    async fn warm_up(
        &self,
        tenant: &TenantId,
        plan: WarmupPlan,
        today: &Day,
    ) -> Result<WarmUpReport, StoreError> {
        // A plan the store holds was validated when it was set; an invalid one still reports.
        let top_rung = Ladder::new(plan).map_or(plan.ramp_days.saturating_sub(1), |l| l.top());
        let record = self.ports.warmup.load(tenant).await?;
        let usage = self.ports.caps.usage(tenant, today).await?;
        let (state, decisions) = match record {
            Some(record) => {
                let s = record.state;
                let decisions = s
                    .history
                    .iter()
                    .rev()
                    .take(REPORTED_DECISIONS)
                    .map(|d| DecisionView {
                        day: d.day.0.clone(),
                        action: d.action,
                        rung: d.rung,
                        cap: d.cap,
                        reason: d.reason.clone(),
                        sent: d.sent,
                        bounce_rate: d.bounce_rate,
                        complaint_rate: d.complaint_rate,
                        deferral_rate: d.deferral_rate,
                    })
                    .collect();
                let view = WarmUpStateView {
                    rung: s.rung,
                    stage: s.stage,
                    cap: s.cap,
                    day: s.day.0,
                    healthy_streak: s.healthy_streak,
                };
                (Some(view), decisions)
            }
            None => (None, Vec::new()),
        };
        Ok(WarmUpReport {
            plan,
            top_rung,
            state,
            today_cap: usage.and_then(|u| u.cap),
            today_used: usage.map_or(0, |u| u.used),
            decisions,
        })
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
