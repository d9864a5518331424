//! The send budget in a delivery, beside the warm-up cap (`cap.rs`): the recipients the cap
//! granted take their sends from the budget of their channel (SES's for email, SNS's for push)
//! shared by every delivery (one conditional write; a push recipient counts as one send),
//! each send then waits for its own slot. A batch whose share must come first reserves it, waits
//! for it and takes its slots then. What the budget cannot give within the wait (bounded by
//! `budget_wait` and the time the invocation may still send) is released (`Pending`) and
//! deferred to when the budget expects room; grants of the cap it holds back are given back.

use std::time::Duration;

use time::OffsetDateTime;

use super::cap::Grant;
use super::*;
use crate::deliverability::budget::{BudgetAnswer, Waits};
use crate::domain::{Channel, SendBatch, TenantWorkspace};
use crate::domain::{SendShare, ShareReservation};
use crate::error::StoreError;

/// Asks for a reserved batch's account slots at most: the first, and after each wait for its
/// start (which moves when its tenant's share changes meanwhile). A wait costs no write.
const RESERVED_ASKS: usize = 4;

/// What the cap and the budget let through.
pub(super) struct Allotment {
    /// The cap's grant (what is not sent of it is given back).
    pub(super) grant: Grant,
    /// The recipients to send, in order, each with when it may go.
    pub(super) sends: Vec<(usize, Option<OffsetDateTime>)>,
    /// Granted by the cap, not by the budget.
    pub(super) budget_held: Vec<usize>,
    /// Until when (epoch seconds) and why the held-back recipients wait: the latest of the cap's
    /// and the budget's.
    pub(super) held_until: Option<(i64, &'static str)>,
    /// The tenant's share reserved for the held-back recipients.
    pub(super) share_reservation: Option<ShareReservation>,
}

/// What the budget granted of the cap's grant.
struct Paced {
    sends: Vec<(usize, Option<OffsetDateTime>)>,
    held_back: Vec<usize>,
    held_until: Option<(i64, &'static str)>,
    share_reservation: Option<ShareReservation>,
}

impl Deliverer {
    /// Takes the day's sends from the warm-up cap, then their slots from the send budget.
    pub(super) async fn allot(
        &self,
        batch: &SendBatch,
        workspace: &TenantWorkspace,
        sendable: Vec<usize>,
        send_until: OffsetDateTime,
        lagging: bool,
    ) -> Allotment {
        let grant = self.take_sends(batch, workspace, sendable).await;
        let paced = self
            .pace(batch, workspace, grant.granted.clone(), send_until, lagging)
            .await;
        let held_until = match (grant.capped_until, paced.held_until) {
            (Some(cap), Some(budget)) => Some(if budget.0 > cap.0 { budget } else { cap }),
            (cap, budget) => cap.or(budget),
        };
        Allotment {
            sends: paced.sends,
            share_reservation: paced
                .share_reservation
                .filter(|_| !paced.held_back.is_empty()),
            budget_held: paced.held_back,
            held_until,
            grant,
        }
    }

    /// The budget's slots for `slots` (in order): those it grants with the time each may go, those
    /// it holds back, and until when. Without a budget every slot goes at once.
    async fn pace(
        &self,
        batch: &SendBatch,
        workspace: &TenantWorkspace,
        mut slots: Vec<usize>,
        send_until: OffsetDateTime,
        lagging: bool,
    ) -> Paced {
        // Pushes go through SNS, not SES: each channel has its own budget.
        let budgets = match batch.group.channel {
            Channel::Email => self.budgets.as_ref(),
            Channel::Push => self.push_budgets.as_ref(),
        };
        let Some(budgets) = budgets.filter(|_| !slots.is_empty()) else {
            return Paced {
                sends: slots.into_iter().map(|s| (s, None)).collect(),
                held_back: Vec::new(),
                held_until: None,
                share_reservation: None,
            };
        };
        let tenant = &batch.group.tenant_id;
        let share = workspace.settings.send_budget.unwrap_or_default();
        let wanted = slots.len() as u32;
        let started = self.clock.now();
        let (answer, share_reservation) = self
            .ask_budget(budgets, batch, share, wanted, send_until, lagging)
            .await;
        let (granted, start, interval, held_until) = self.granted_of(answer, wanted, started);
        let held_back = slots.split_off(granted.min(slots.len()));
        if !held_back.is_empty() {
            tracing::info!(
                held_back = held_back.len(),
                wanted,
                "send budget: the rest deferred"
            );
            self.metrics
                .add(tenant.as_str(), "BudgetHeldBack", held_back.len() as f64);
        }
        if granted > 0 {
            let last = start + interval * (granted as u32 - 1);
            let waited = (last - started).whole_milliseconds().max(0) as f64;
            self.metrics.observe(tenant.as_str(), "BudgetWait", waited);
        }
        Paced {
            sends: slots
                .into_iter()
                .enumerate()
                .map(|(k, slot)| (slot, Some(start + interval * k as u32)))
                .collect(),
            held_back,
            held_until,
            share_reservation,
        }
    }

    /// How many sends the answer grants, from when and how far apart, and until when (and why)
    /// the rest waits.
    fn granted_of(
        &self,
        answer: Result<BudgetAnswer, StoreError>,
        wanted: u32,
        started: OffsetDateTime,
    ) -> (usize, OffsetDateTime, Duration, Option<(i64, &'static str)>) {
        let retry_later = started.unix_timestamp() + self.config.retry_delay.as_secs() as i64;
        match answer {
            Ok(BudgetAnswer::Granted {
                granted,
                start,
                interval,
                ..
            }) => {
                let rest = (granted < wanted).then_some((retry_later, "send budget busy"));
                (granted as usize, start, interval, rest)
            }
            Ok(BudgetAnswer::Later { retry_at, reason }) => {
                let at = (retry_at.unix_timestamp() + 1).max(started.unix_timestamp() + 1);
                (0, started, Duration::ZERO, Some((at, reason)))
            }
            Ok(BudgetAnswer::WaitUntil(until)) => {
                let at = (until.unix_timestamp() + 1).max(started.unix_timestamp() + 1);
                (
                    0,
                    started,
                    Duration::ZERO,
                    Some((at, "send budget: share reserved")),
                )
            }
            Ok(BudgetAnswer::Reserved(_)) => (
                0,
                started,
                Duration::ZERO,
                Some((retry_later, "send budget busy")),
            ),
            Err(error) => {
                tracing::warn!(%error, "send budget unavailable; batch deferred");
                let unavailable = Some((retry_later, "send budget unavailable"));
                (0, started, Duration::ZERO, unavailable)
            }
        }
    }

    /// The budget's answer for the batch, and the share reserved for it if one is. A batch whose
    /// share is reserved (now, or when it was deferred) takes the account's slots only, after
    /// waiting for its start if that is within the wait.
    async fn ask_budget(
        &self,
        budgets: &SendBudgets,
        batch: &SendBatch,
        share: SendShare,
        wanted: u32,
        send_until: OffsetDateTime,
        lagging: bool,
    ) -> (Result<BudgetAnswer, StoreError>, Option<ShareReservation>) {
        let tenant = &batch.group.tenant_id;
        let waits = |deliverer: &Self| {
            let slots = deliverer.budget_wait(send_until);
            Waits {
                slots,
                share: if lagging { Duration::ZERO } else { slots },
            }
        };
        let reservation = match batch.share_reservation {
            Some(reservation) => reservation,
            None => {
                let answer = self
                    .bounded(send_until, budgets.take(tenant, share, wanted, waits(self)))
                    .await;
                match answer {
                    Ok(BudgetAnswer::Reserved(reservation)) => reservation,
                    other => return (other, None),
                }
            }
        };
        let mut answer = Ok(BudgetAnswer::WaitUntil(self.clock.now()));
        for _ in 0..RESERVED_ASKS {
            let Ok(BudgetAnswer::WaitUntil(until)) = answer else {
                break;
            };
            self.sleep_until(until).await;
            answer = self
                .bounded(
                    send_until,
                    budgets.take_reserved(tenant, share, wanted, waits(self), reservation),
                )
                .await;
        }
        (answer, Some(reservation))
    }

    /// How long a take may wait for its sends: the budget's bound, and never past the time this
    /// invocation may still send.
    fn budget_wait(&self, send_until: OffsetDateTime) -> Duration {
        let left = (send_until - self.clock.now()).max(time::Duration::ZERO);
        self.config.budget_wait.min(left.unsigned_abs())
    }

    pub(super) async fn sleep_until(&self, at: OffsetDateTime) {
        let left = at - self.clock.now();
        if left.is_positive() {
            tokio::time::sleep(left.unsigned_abs()).await;
        }
    }
}
