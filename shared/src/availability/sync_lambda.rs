//! The `score-sync` function's two invocations: its schedule plans every configured retailer's
//! new exports into units; the units' queue brings one unit per message.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde::Serialize;

use super::sync::{PlanSummary, ScoreSync, SyncError, SyncUnit};
use crate::directory::WorkspaceListing;
use crate::domain::TenantId;
use crate::error::{Retryable, StoreError};

/// What one invocation of `score-sync` is.
pub enum SyncInvocation {
    /// The schedule (EventBridge's scheduled event, or anything that is not a queue batch).
    Plan,
    Units(SqsEvent),
}

impl SyncInvocation {
    /// An SQS batch has `Records` whose `eventSource` is `aws:sqs`; everything else is the
    /// schedule.
    pub fn of(event: serde_json::Value) -> Self {
        let from_queue = event["Records"]
            .as_array()
            .and_then(|records| records.first())
            .is_some_and(|record| record["eventSource"] == "aws:sqs");
        if from_queue && let Ok(batch) = serde_json::from_value::<SqsEvent>(event) {
            return SyncInvocation::Units(batch);
        }
        SyncInvocation::Plan
    }
}

/// The schedule's run over every retailer.
#[derive(Debug, Default, Serialize)]
pub struct PlanAllSummary {
    pub retailers: usize,
    pub not_configured: usize,
    pub planned: Vec<(TenantId, PlanSummary)>,
    pub failed: Vec<(TenantId, String)>,
}

impl PlanAllSummary {
    /// An error when a retailer's plan failed in a way a retry can mend (the next schedule
    /// retries anyway; the error makes the failure visible to the function's error alarm).
    pub fn failures_as_error(&self) -> Result<(), String> {
        if self.failed.is_empty() {
            Ok(())
        } else {
            Err(format!("{} retailer(s) failed to plan", self.failed.len()))
        }
    }
}

/// Plans each retailer in turn; one retailer's failure is recorded and never stops the others.
pub async fn plan_all(
    sync: &ScoreSync,
    retailers: &dyn WorkspaceListing,
) -> Result<PlanAllSummary, StoreError> {
    let mut summary = PlanAllSummary::default();
    for workspace in retailers.workspaces().await? {
        summary.retailers += 1;
        let tenant = workspace.tenant_id;
        match sync.plan(&tenant).await {
            Ok(plan) => summary.planned.push((tenant, plan)),
            Err(SyncError::NotConfigured { .. }) => summary.not_configured += 1,
            Err(error) => {
                tracing::warn!(tenant_id = %tenant, error = %error, "plan failed");
                summary.failed.push((tenant, error.to_string()));
            }
        }
    }
    Ok(summary)
}

/// One unit per message. A unit that failed retryably is reported for SQS to deliver again
/// (after the queue's `maxReceiveCount`, it waits in the dead-letter queue); an unreadable
/// file's unit has written its report and is done; an unreadable message is reported, so it
/// reaches the dead-letter queue whole.
pub async fn process_units(sync: &ScoreSync, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let unit: SyncUnit = match serde_json::from_str(record.body.as_deref().unwrap_or_default())
        {
            Ok(unit) => unit,
            Err(error) => {
                tracing::error!(%error, message_id = %id, "unreadable sync unit message");
                response.add_failure(id);
                continue;
            }
        };
        match sync.process(&unit).await {
            Ok(report) => tracing::info!(counts = ?report.counts, "unit synced"),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %error, "unit failed; retried");
                response.add_failure(id);
            }
            Err(error) => {
                tracing::error!(error = %error, "unit failed for good")
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_batch_is_units_and_anything_else_is_the_schedule() {
        let batch = serde_json::json!({"Records": [{
            "messageId": "m1", "body": "{}", "eventSource": "aws:sqs",
            "attributes": {}, "messageAttributes": {}
        }]});
        assert!(
            matches!(SyncInvocation::of(batch), SyncInvocation::Units(e) if e.records.len() == 1)
        );
        let scheduled = serde_json::json!({
            "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}
        });
        assert!(matches!(
            SyncInvocation::of(scheduled),
            SyncInvocation::Plan
        ));
    }
}
