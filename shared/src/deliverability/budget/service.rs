//! Taking a batch's sends from the budget: the plan made on this container's last view of the
//! shared state, one conditional write, and (when another delivery moved the state in a way
//! the plan did not assume) a new plan on the state the refused write answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

use super::account::{AccountRate, Allowance};
use super::gcra::{BudgetState, Micros};
use super::plan::{self, Plan, Reservation, TakeRequest};
use super::ports::{BudgetStore, BudgetWritten};
use crate::clock::Clock;
use crate::domain::{SendShare, ShareReservation, TenantId};
use crate::error::{Message, StoreError};

/// How long a take may wait: for the account's slots, and for its tenant's share to let the
/// batch start (a lane that lags waits for no share).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    pub slots: Duration,
    pub share: Duration,
}

impl Waits {
    /// The same bound for both.
    pub fn both(wait: Duration) -> Self {
        Self {
            slots: wait,
            share: wait,
        }
    }
}

/// Writes of one take at most: the first, and a new plan after each refusal.
pub const BUDGET_WRITE_ATTEMPTS: u32 = 3;

/// What the budget answered a take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetAnswer {
    /// `granted` sends (at most those asked for), the `k`-th (0-based) no earlier than
    /// `start + k·interval`.
    Granted {
        granted: u32,
        borrowed: bool,
        start: OffsetDateTime,
        interval: Duration,
    },
    /// The batch's share is reserved: ask again when it starts for its account slots
    /// (`SendBudgets::take_reserved`).
    Reserved(ShareReservation),
    /// A reserved batch starts at `until` on its tenant's share as it is now: ask again then.
    WaitUntil(OffsetDateTime),
    /// Nothing can go within the wait: try again at `retry_at`.
    Later {
        retry_at: OffsetDateTime,
        reason: &'static str,
    },
}

/// Counts of a container's takes, for the benchmark and the simulation's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BudgetCounts {
    pub takes: u64,
    /// Reads of the whole state: one per container, before its first take.
    pub reads: u64,
    pub writes: u64,
    pub refused_writes: u64,
    pub later: u64,
}

/// The send budgets shared by every delivery: the account's rate (SES's limits) over the
/// tenants' shares.
pub struct SendBudgets {
    store: Arc<dyn BudgetStore>,
    account: AccountRate,
    clock: Arc<dyn Clock>,
    /// The last state this container saw (`None` until its first read or write).
    view: std::sync::Mutex<Option<BudgetState>>,
    takes: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
    refused: AtomicU64,
    later: AtomicU64,
}

fn micros(at: OffsetDateTime) -> Micros {
    (at.unix_timestamp_nanos() / 1_000) as Micros
}

fn time_of(at: Micros) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl SendBudgets {
    pub fn new(store: Arc<dyn BudgetStore>, account: AccountRate, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            account,
            clock,
            view: std::sync::Mutex::new(None),
            takes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            later: AtomicU64::new(0),
        }
    }

    pub fn counts(&self) -> BudgetCounts {
        BudgetCounts {
            takes: self.takes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            refused_writes: self.refused.load(Ordering::Relaxed),
            later: self.later.load(Ordering::Relaxed),
        }
    }

    /// This container's view, read from the store the first time (a cold container would
    /// otherwise plan on an empty view and have its first write refused).
    async fn view(&self) -> Result<BudgetState, StoreError> {
        if let Some(view) = self.view.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(view);
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let state = self.store.read().await?;
        self.remember(state.clone());
        Ok(state)
    }

    fn remember(&self, state: BudgetState) {
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }

    /// Takes up to `wanted` sends for `tenant`, the last of them no later than `max_wait` from
    /// now. A plan the shared state no longer fits is made again on the state the refusal
    /// answered, [`BUDGET_WRITE_ATTEMPTS`] writes at most.
    #[tracing::instrument(skip(self, share), fields(tenant_id = %tenant))]
    pub async fn take(
        &self,
        tenant: &TenantId,
        share: SendShare,
        wanted: u32,
        waits: Waits,
    ) -> Result<BudgetAnswer, StoreError> {
        self.take_with(tenant, share, wanted, waits, None).await
    }

    /// The second step of a take answered [`BudgetAnswer::Reserved`]: the account's slots for
    /// the batch whose share was reserved (before its start, as the share is now, only what it
    /// can borrow).
    #[tracing::instrument(skip(self, share, reservation), fields(tenant_id = %tenant))]
    pub async fn take_reserved(
        &self,
        tenant: &TenantId,
        share: SendShare,
        wanted: u32,
        waits: Waits,
        reservation: ShareReservation,
    ) -> Result<BudgetAnswer, StoreError> {
        let reserved = Reservation {
            at: reservation.reserved_at * 1_000,
            starts: reservation.starts * 1_000,
            emission: reservation.interval_us,
        };
        self.take_with(tenant, share, wanted, waits, Some(reserved))
            .await
    }

    async fn take_with(
        &self,
        tenant: &TenantId,
        share: SendShare,
        wanted: u32,
        waits: Waits,
        reserved: Option<Reservation>,
    ) -> Result<BudgetAnswer, StoreError> {
        self.takes.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        if wanted == 0 {
            return Ok(BudgetAnswer::Granted {
                granted: 0,
                borrowed: false,
                start: now,
                interval: Duration::ZERO,
            });
        }
        let account_per_second = match self.account.allowance().await {
            Allowance::Rate(rate) => rate,
            Allowance::Exhausted { until } => {
                self.later.fetch_add(1, Ordering::Relaxed);
                return Ok(BudgetAnswer::Later {
                    retry_at: until,
                    reason: "SES daily quota reached",
                });
            }
        };
        let request = TakeRequest {
            tenant: tenant.clone(),
            weight: share.weight,
            ceiling_per_second: share.max_per_second.map(f64::from),
            account_per_second,
            wanted,
            now: micros(now),
            max_wait: waits.slots.as_micros().min(i64::MAX as u128) as Micros,
            share_wait: waits.share.as_micros().min(i64::MAX as u128) as Micros,
            reserved,
        };
        self.decide(&request).await
    }

    async fn decide(&self, request: &TakeRequest) -> Result<BudgetAnswer, StoreError> {
        for _ in 0..BUDGET_WRITE_ATTEMPTS {
            let (granted, borrowed, write) = match plan::plan(&self.view().await?, request) {
                Plan::Later { retry_at } => {
                    self.later.fetch_add(1, Ordering::Relaxed);
                    return Ok(BudgetAnswer::Later {
                        retry_at: time_of(retry_at),
                        reason: "send budget busy",
                    });
                }
                Plan::Reserve { write } => (0, false, write),
                Plan::Wait { until } => return Ok(BudgetAnswer::WaitUntil(time_of(until))),
                Plan::Grant {
                    granted,
                    borrowed,
                    write,
                } => (granted, borrowed, write),
            };
            self.writes.fetch_add(1, Ordering::Relaxed);
            match self.store.apply(&write).await? {
                BudgetWritten::Applied(state) => {
                    let answer = match write.schedule(&state, request.now) {
                        Some(schedule) => BudgetAnswer::Granted {
                            granted,
                            borrowed,
                            start: time_of(schedule.start),
                            interval: Duration::from_micros(schedule.interval.max(0) as u64),
                        },
                        None => BudgetAnswer::Reserved(ShareReservation {
                            reserved_at: request.now / 1_000,
                            starts: write.share_starts(&state, request.now).div_euclid(1_000),
                            interval_us: write.assured.map_or(0, |c| c.emission),
                        }),
                    };
                    self.remember(state);
                    return Ok(answer);
                }
                BudgetWritten::Refused(state) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.remember(state);
                }
            }
        }
        Err(StoreError::Throttled {
            store: "send budget",
            source: Message::boxed(format!(
                "other deliveries changed the budget under {BUDGET_WRITE_ATTEMPTS} writes in a row"
            )),
        })
    }
}
