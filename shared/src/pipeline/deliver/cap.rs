//! The warm-up's daily cap in a delivery: after the claims and checks, before any send, the
//! recipients about to be sent take from the tenant's cap of the UTC day (one conditional write,
//! two when the cap runs out). Those it does not grant are released (`Pending`) and deferred to
//! the cap's reset; grants not used (a failed render, a throttled send) are given back.

use crate::deliverability::counters::Day;
use crate::deliverability::warmup::next_day_start;
use crate::domain::{SendBatch, TenantWorkspace, WarmupPlan};
use crate::pipeline::send_log::RecipientOutcome;

use super::*;

/// The customer field that orders recipients when the plan sends the engaged first.
pub const ENGAGEMENT_FIELD: &str = "engagement_score";

/// What the cap let through.
pub(super) struct Grant {
    pub(super) granted: Vec<usize>,
    pub(super) held_back: Vec<usize>,
    pub(super) capped_until: Option<(i64, &'static str)>,
    /// The day the grant was taken from, when one was.
    day: Option<Day>,
}

impl Deliverer {
    /// Splits the sendable slots into those the day's cap grants and those it holds back. A
    /// tenant not in warm-up is granted everything without a call.
    pub(super) async fn take_sends(
        &self,
        batch: &SendBatch,
        workspace: &TenantWorkspace,
        mut sendable: Vec<usize>,
    ) -> Grant {
        // The warm-up caps the email identity's sends; pushes are not counted against it.
        let email = batch.group.channel == crate::domain::Channel::Email;
        let Some(plan) = workspace.settings.warmup.filter(|_| email) else {
            return Grant {
                granted: sendable,
                held_back: Vec::new(),
                capped_until: None,
                day: None,
            };
        };
        if sendable.is_empty() {
            return Grant {
                granted: sendable,
                held_back: Vec::new(),
                capped_until: None,
                day: None,
            };
        }
        order_for_plan(&plan, batch, &mut sendable);
        let now = self.clock.now().unix_timestamp();
        let day = Day::of_epoch(now);
        let retry_later = now + self.config.retry_delay.as_secs() as i64;
        let wanted = sendable.len() as u64;
        let (granted, capped_until) = match &self.send_cap {
            None => {
                tracing::error!("tenant in warm-up but no send cap configured; batch deferred");
                (0, Some((retry_later, "no send cap configured")))
            }
            Some(cap) => match cap
                .take(&batch.group.tenant_id, &day, wanted, plan.start_cap)
                .await
            {
                Ok(granted) if granted == wanted => (granted, None),
                Ok(granted) => {
                    tracing::info!(
                        granted,
                        wanted,
                        "daily warm-up cap reached; the rest waits for tomorrow"
                    );
                    (
                        granted,
                        Some((next_day_start(now), "daily warm-up cap reached")),
                    )
                }
                Err(error) => {
                    tracing::warn!(%error, "send cap unavailable; batch deferred");
                    (0, Some((retry_later, "send cap unavailable")))
                }
            },
        };
        let held_back = sendable.split_off(granted as usize);
        self.metrics.add(
            batch.group.tenant_id.as_str(),
            "WarmupHeldBack",
            held_back.len() as f64,
        );
        Grant {
            granted: sendable,
            held_back,
            capped_until,
            day: Some(day),
        }
    }

    /// Gives back what was granted but not sent, so the cap counts sends.
    pub(super) async fn give_back_unsent(
        &self,
        batch: &SendBatch,
        grant: &Grant,
        results: &[(usize, RecipientResult)],
    ) {
        let (Some(cap), Some(day)) = (&self.send_cap, &grant.day) else {
            return;
        };
        let unsent = results
            .iter()
            .filter(|(_, r)| {
                !matches!(
                    r.outcome,
                    RecipientOutcome::Sent { .. } | RecipientOutcome::Unconfirmed { .. }
                )
            })
            .count() as u64;
        if unsent == 0 {
            return;
        }
        if let Err(error) = cap.give_back(&batch.group.tenant_id, day, unsent).await {
            // Counted as sent: the cap errs on the side of fewer sends.
            tracing::warn!(%error, unsent, "could not give unsent grants back to the cap");
        }
    }
}

/// The engaged first (a higher `engagement_score`), then in slot order.
fn order_for_plan(plan: &WarmupPlan, batch: &SendBatch, slots: &mut [usize]) {
    slots.sort_unstable();
    if !plan.engaged_first {
        return;
    }
    let score = |slot: usize| -> f64 {
        match batch.recipients[slot].customer.fields.get(ENGAGEMENT_FIELD) {
            Some(FieldValue::Integer(i)) => *i as f64,
            Some(FieldValue::Float(f)) => *f,
            _ => f64::NEG_INFINITY,
        }
    };
    slots.sort_by(|a, b| score(*b).total_cmp(&score(*a)));
}
