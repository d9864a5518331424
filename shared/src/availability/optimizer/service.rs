//! The daily run: per retailer with a configuration, the day's feedback read and fitted, the
//! proposal computed, applied as a new configuration revision when the configuration lets the
//! optimizer apply (optimistic: on a conflict the proposal is recomputed once on the newer
//! revision), and the report written, applied or not. One retailer's failure never stops the
//! others.

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use time::Date;

use super::plan::{Plan, reason_prefix};
use super::ports::{FoundRateFeedback, OptimizerReports, keys};
use super::reading::read_day;
use super::report::{OptimizerReport, RunOutcome};
use super::tally::FeedbackTally;
use crate::availability::{ChangeNote, ConfigRevision, ConfigStore, InvalidConfig};
use crate::clock::Clock;
use crate::directory::WorkspaceListing;
use crate::domain::TenantId;
use crate::error::{Retryable, StoreError};

/// The author of the optimizer's configuration revisions.
pub const OPTIMIZER_AUTHOR: &str = "delta-optimizer";
/// Retailers optimized at once (each reads its day of feedback from S3).
pub const TENANT_CONCURRENCY: usize = 4;
/// How many of the newest revisions are searched for this day's own earlier application.
pub const APPLIED_LOOKBACK: usize = 20;

pub struct OptimizerPorts {
    pub workspaces: Arc<dyn WorkspaceListing>,
    pub configs: Arc<dyn ConfigStore>,
    pub feedback: Arc<dyn FoundRateFeedback>,
    pub reports: Arc<dyn OptimizerReports>,
    pub clock: Arc<dyn Clock>,
}

pub struct DeltaOptimizer {
    ports: OptimizerPorts,
}

#[derive(Debug, thiserror::Error)]
pub enum OptimizerError {
    #[error("tenant {tenant} has no availability configuration")]
    NotConfigured { tenant: TenantId },
    #[error("the proposed configuration is invalid")]
    InvalidProposal(#[from] InvalidConfig),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Retryable for OptimizerError {
    fn is_retryable(&self) -> bool {
        match self {
            OptimizerError::Store(error) => error.is_retryable(),
            OptimizerError::NotConfigured { .. } | OptimizerError::InvalidProposal(_) => false,
        }
    }
}

/// One retailer's result of the day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantOptimized {
    pub tenant: String,
    pub outcome: RunOutcome,
    pub rows_used: u64,
    pub rows_refused: u64,
    pub changes_applied: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OptimizerSummary {
    pub day: String,
    /// Retailers listed.
    pub tenants: u64,
    /// Of those, retailers without an availability configuration (skipped).
    pub unconfigured: u64,
    pub applied: u64,
    pub failed: u64,
    pub results: Vec<TenantOptimized>,
    /// `(tenant, error)` of each failed retailer.
    pub failures: Vec<(String, String)>,
}

impl DeltaOptimizer {
    pub fn new(ports: OptimizerPorts) -> Self {
        Self { ports }
    }

    /// One retailer's run over `day`'s feedback; the report is stored before it is answered.
    pub async fn run(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<OptimizerReport, OptimizerError> {
        self.run_configured(tenant, day)
            .await?
            .ok_or_else(|| OptimizerError::NotConfigured {
                tenant: tenant.clone(),
            })
    }

    /// Every listed retailer with a configuration. Only the listing failing fails the run; a
    /// retailer's failure is counted, logged and returned.
    pub async fn run_all(&self, day: Date) -> Result<OptimizerSummary, StoreError> {
        let workspaces = self.ports.workspaces.workspaces().await?;
        let mut summary = OptimizerSummary {
            day: keys::day(day),
            tenants: workspaces.len() as u64,
            ..OptimizerSummary::default()
        };
        let runs: Vec<_> =
            futures::stream::iter(workspaces.iter().map(|w| async move {
                (&w.tenant_id, self.run_configured(&w.tenant_id, day).await)
            }))
            .buffered(TENANT_CONCURRENCY)
            .collect()
            .await;
        for (tenant, run) in runs {
            match run {
                Ok(None) => summary.unconfigured += 1,
                Ok(Some(report)) => {
                    tracing::info!(tenant_id = %tenant, outcome = report.outcome.as_str(), rows = report.rows_used, "delta optimizer ran");
                    summary.applied +=
                        u64::from(matches!(report.outcome, RunOutcome::Applied { .. }));
                    summary.results.push(TenantOptimized {
                        tenant: report.tenant.clone(),
                        outcome: report.outcome.clone(),
                        rows_used: report.rows_used,
                        rows_refused: report.refused.total(),
                        changes_applied: report.applied_changes(),
                    });
                }
                Err(error) => {
                    tracing::error!(tenant_id = %tenant, error = %crate::error::chain(&error), retryable = error.is_retryable(), "delta optimizer failed for a tenant");
                    summary.failed += 1;
                    summary
                        .failures
                        .push((tenant.to_string(), crate::error::chain(&error)));
                }
            }
        }
        Ok(summary)
    }

    /// `None` when the retailer has no configuration (nothing is read or written then).
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant, day = %keys::day(day)))]
    async fn run_configured(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Option<OptimizerReport>, OptimizerError> {
        let Some(revision) = self.ports.configs.current(tenant).await? else {
            return Ok(None);
        };
        let tally = read_day(self.ports.feedback.as_ref(), tenant, day).await?;
        let report = self.decide(tenant, day, revision, &tally).await?;
        self.ports.reports.put(&report).await?;
        Ok(Some(report))
    }

    /// Plans on `revision` and applies when allowed; on a conflict plans once more on the
    /// revision that came first.
    async fn decide(
        &self,
        tenant: &TenantId,
        day: Date,
        mut revision: ConfigRevision,
        tally: &FeedbackTally,
    ) -> Result<OptimizerReport, OptimizerError> {
        for attempt in 0..2 {
            let plan = Plan::new(tenant, &revision.config, tally);
            let report = |outcome| plan.report(tenant, day, revision.version, tally, outcome);
            if !revision.config.optimizer.apply {
                return Ok(report(RunOutcome::ReportOnly));
            }
            if let Some(version) = self.applied_on(tenant, day).await? {
                return Ok(report(RunOutcome::AlreadyApplied { version }));
            }
            if plan.changes() == 0 {
                return Ok(report(RunOutcome::NothingToChange));
            }
            let config = plan.config(&revision.config);
            config.validate()?;
            let change = ChangeNote {
                author: OPTIMIZER_AUTHOR.to_string(),
                at: self.ports.clock.now(),
                reason: plan.reason(day, tally),
                rollback_of: None,
            };
            let saved = self
                .ports
                .configs
                .save(tenant, &config, &change, Some(revision.version))
                .await?;
            if let Some(version) = saved {
                return Ok(report(RunOutcome::Applied { version }));
            }
            if attempt == 1 {
                return Ok(report(RunOutcome::Conflict));
            }
            tracing::info!(tenant_id = %tenant, version = revision.version, "configuration changed under the optimizer: recomputing once");
            revision =
                self.ports
                    .configs
                    .current(tenant)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        store: "availability configuration",
                        reason: "a configuration written by another change is gone".into(),
                    })?;
        }
        unreachable!("the second attempt always returns")
    }

    /// The version this day's run already saved, if a newest revision says so.
    async fn applied_on(&self, tenant: &TenantId, day: Date) -> Result<Option<u64>, StoreError> {
        let prefix = reason_prefix(day);
        let history = self.ports.configs.history(tenant, APPLIED_LOOKBACK).await?;
        Ok(history
            .iter()
            .find(|r| r.change.author == OPTIMIZER_AUTHOR && r.change.reason.starts_with(&prefix))
            .map(|r| r.version))
    }
}

/// Some retailers failed: the run is reported failed so the invocation is retried; a retry does
/// not step the others twice (a day already applied is only reported again).
#[derive(Debug, thiserror::Error)]
#[error("the delta optimizer failed for {failed} of {tenants} tenants")]
pub struct TenantsFailed {
    pub failed: u64,
    pub tenants: u64,
}

impl OptimizerSummary {
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
