//! The daily run: every tenant whose settings carry a warm-up plan gets today's decision from
//! yesterday's feedback, its state stored conditionally, and today's cap set (with tomorrow's
//! set to the same until tomorrow's run decides). One tenant's failure never stops the others.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;

use super::day_after;
use super::decision::{WarmupAction, WarmupState, WarmupThresholds, decide};
use super::plan::{Ladder, PlanError};
use super::ports::{SendCap, WarmupStore};
use crate::deliverability::counters::{Day, FeedbackCounters};
use crate::directory::WorkspaceListing;
use crate::domain::{TenantId, TenantWorkspace, WarmupPlan};
use crate::error::{Retryable, StoreError};

/// Tenants decided at once.
pub const TENANT_CONCURRENCY: usize = 8;

pub struct WarmupPorts {
    pub workspaces: Arc<dyn WorkspaceListing>,
    pub feedback: Arc<dyn FeedbackCounters>,
    pub store: Arc<dyn WarmupStore>,
    pub caps: Arc<dyn SendCap>,
}

pub struct WarmupService {
    ports: WarmupPorts,
    thresholds: WarmupThresholds,
}

#[derive(Debug, thiserror::Error)]
pub enum WarmupError {
    #[error("the tenant's warm-up plan is invalid")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Retryable for WarmupError {
    fn is_retryable(&self) -> bool {
        match self {
            WarmupError::Plan(_) => false,
            WarmupError::Store(error) => error.is_retryable(),
        }
    }
}

/// One tenant's result of the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantWarmup {
    pub tenant: String,
    pub cap: u64,
    pub action: WarmupAction,
    pub reason: String,
    /// False when an earlier run (or a concurrent one) had already decided today.
    pub decided_now: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WarmupSummary {
    pub day: String,
    pub tenants: u64,
    pub decided: u64,
    pub already_decided: u64,
    pub failed: u64,
    pub results: Vec<TenantWarmup>,
    /// `(tenant, error)` of each failed tenant.
    pub failures: Vec<(String, String)>,
}

impl WarmupService {
    pub fn new(ports: WarmupPorts, thresholds: WarmupThresholds) -> Self {
        Self { ports, thresholds }
    }

    pub fn thresholds(&self) -> &WarmupThresholds {
        &self.thresholds
    }

    /// Decides today (the UTC day of `now`) for every tenant in warm-up. Only the workspace
    /// listing failing fails the run; a tenant's failure is counted, logged and returned.
    pub async fn run_daily(&self, now: OffsetDateTime) -> Result<WarmupSummary, StoreError> {
        let workspaces = self.ports.workspaces.workspaces().await?;
        let in_warmup: Vec<(TenantWorkspace, WarmupPlan)> = workspaces
            .into_iter()
            .filter_map(|w| w.settings.warmup.map(|plan| (w, plan)))
            .collect();
        let epoch = now.unix_timestamp();
        let mut summary = WarmupSummary {
            day: Day::of_epoch(epoch).0,
            tenants: in_warmup.len() as u64,
            ..WarmupSummary::default()
        };
        let tenant_runs: Vec<_> = in_warmup
            .iter()
            .map(|(w, plan)| async move {
                (
                    &w.tenant_id,
                    self.run_tenant(&w.tenant_id, *plan, epoch).await,
                )
            })
            .collect();
        let runs: Vec<_> = futures::stream::iter(tenant_runs)
            .buffered(TENANT_CONCURRENCY)
            .collect()
            .await;
        for (tenant, run) in runs {
            match run {
                Ok(result) => {
                    if result.decided_now {
                        summary.decided += 1;
                    } else {
                        summary.already_decided += 1;
                    }
                    tracing::info!(tenant_id = %tenant, cap = result.cap, action = result.action.as_str(), reason = %result.reason, "warm-up decided");
                    summary.results.push(result);
                }
                Err(error) => {
                    tracing::error!(tenant_id = %tenant, error = %crate::error::chain(&error), retryable = error.is_retryable(), "warm-up failed for a tenant");
                    summary.failed += 1;
                    summary
                        .failures
                        .push((tenant.to_string(), crate::error::chain(&error)));
                }
            }
        }
        Ok(summary)
    }

    /// One tenant: decide (unless today is decided), store, set today's and tomorrow's caps.
    /// Safe to run again: a decided day is only re-applied to the caps.
    pub async fn run_tenant(
        &self,
        tenant: &TenantId,
        plan: WarmupPlan,
        epoch: i64,
    ) -> Result<TenantWarmup, WarmupError> {
        let ladder = Ladder::new(plan)?;
        let today = Day::of_epoch(epoch);
        let record = self.ports.store.load(tenant).await?;
        let yesterday = match &record {
            Some(_) => {
                self.ports
                    .feedback
                    .day_counts(tenant, &day_after(epoch, -1))
                    .await?
            }
            None => Default::default(),
        };
        let last = record.as_ref().map(|r| &r.state);
        let (state, decided_now) = match decide(&ladder, &self.thresholds, last, &today, &yesterday)
        {
            Some(state) => {
                let expected = record.as_ref().map(|r| r.version);
                if self.ports.store.save(tenant, &state, expected).await? {
                    (state, true)
                } else {
                    (self.stored(tenant).await?, false)
                }
            }
            None => (self.stored(tenant).await?, false),
        };
        self.apply(tenant, &state, epoch).await?;
        let last_decision = state.history.last();
        Ok(TenantWarmup {
            tenant: tenant.to_string(),
            cap: state.cap,
            action: last_decision.map_or(WarmupAction::Hold, |d| d.action),
            reason: last_decision.map_or_else(String::new, |d| d.reason.clone()),
            decided_now,
        })
    }

    async fn stored(&self, tenant: &TenantId) -> Result<WarmupState, StoreError> {
        match self.ports.store.load(tenant).await? {
            Some(record) => Ok(record.state),
            None => Err(StoreError::Corrupt {
                store: "warm-up store",
                reason: "a state written by another run is gone".into(),
            }),
        }
    }

    /// Today's cap, and tomorrow's until tomorrow's run decides: deliveries after midnight
    /// keep today's cap instead of the plan's start.
    async fn apply(
        &self,
        tenant: &TenantId,
        state: &WarmupState,
        epoch: i64,
    ) -> Result<(), StoreError> {
        self.ports
            .caps
            .set_cap(tenant, &state.day, state.cap)
            .await?;
        if state.day == Day::of_epoch(epoch) {
            self.ports
                .caps
                .set_cap(tenant, &day_after(epoch, 1), state.cap)
                .await?;
        }
        Ok(())
    }
}

/// Some tenants failed: the run is reported failed so the invocation is retried, and a retry
/// redoes only those (a decided day is not decided again).
#[derive(Debug, thiserror::Error)]
#[error("the warm-up failed for {failed} of {tenants} tenants")]
pub struct TenantsFailed {
    pub failed: u64,
    pub tenants: u64,
}

impl WarmupSummary {
    pub fn failures_as_error(&self) -> Result<(), TenantsFailed> {
        match self.failed {
            0 => Ok(()),
            failed => Err(TenantsFailed {
                failed,
                tenants: self.tenants,
            }),
        }
    }
}
