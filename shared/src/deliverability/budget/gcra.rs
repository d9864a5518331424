//! The send budget's state and its conditional writes, the same for every store: GCRA (the
//! generic cell rate algorithm: a token bucket kept as one "theoretical arrival time", TAT, per
//! scope) for the account, for each tenant's assured share and for a tenant's own ceiling.
//!
//! A scope with emission interval `T` (one send every `T`) and tolerance `τ` (its burst, as
//! time) has its next send conform at `max(TAT, floor) + T − τ`; taking `n` sends moves the TAT
//! to `max(TAT, floor) + n·T`. How a take is decided: [`super::plan`].
//!
//! Every TAT only grows, so a view of the state that is stale never shows a scope freer than
//! it is; a write states what it assumed of each TAT ([`TatChange`]) and the store applies it
//! only if that still holds.

use std::collections::BTreeMap;

use crate::domain::TenantId;

/// Microseconds since the epoch (a TAT), or a length of time in microseconds.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// Each scope's burst, as time: sends may come this much ahead of the scope's rate. A quarter of
/// a second of the account's rate, with the sends' latency spread, stays within SES's
/// per-second limit (docs/deliverability.md, "Send budgets").
pub const BURST: Micros = MICROS_PER_SECOND / 4;
/// A tenant that took in this window shares the account; an idle one leaves its share to the
/// others.
pub const ACTIVE_WINDOW_SECONDS: i64 = 30;
/// A tenant idle this long is removed from the store's state (a few at a time).
pub const PRUNE_AFTER_SECONDS: i64 = 3_600;
/// Stale tenants removed by one take at most.
pub const PRUNED_PER_TAKE: usize = 4;

/// What the store keeps: the account's TAT and each tenant's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetState {
    pub account: Option<Micros>,
    pub tenants: BTreeMap<TenantId, TenantBudget>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantBudget {
    /// The TAT of its assured share.
    pub assured: Option<Micros>,
    /// The TAT of its own ceiling (only with a rate of its own).
    pub ceiling: Option<Micros>,
    /// When it last took (epoch seconds).
    pub seen: i64,
    pub weight: u32,
    /// The emission interval of its assured share when it was last charged: a lead built at a
    /// slower rate is rescaled when its share grows.
    pub emission: Option<Micros>,
}

/// A conditional change of one TAT: the store applies it only if the TAT is still in the state
/// the plan assumed, which is what the grant was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TatChange {
    /// `None`: the TAT is unset or behind `floor`, and becomes `floor + increment`.
    /// `Some(low)`: it is between `low` and `limit`, and `increment` is added to it (a `low`
    /// below `floor` lets a TAT the plan saw just behind `floor` count as it is, at the cost of
    /// at most that much burst, instead of refusing the write for a stale view).
    pub from: Option<Micros>,
    /// With `from`: an unset TAT holds too, and starts from `floor` (a scope the plan's view
    /// did not show may be one another delivery just started).
    pub or_unset: bool,
    /// With `from`: the TAT becomes `floor + increment` instead of being added to (a lead
    /// rescaled to a new rate, written over exactly the TAT it was computed from).
    pub reset: bool,
    /// The TAT starts from here when it is behind it.
    pub floor: Micros,
    pub increment: Micros,
    /// The highest TAT the grant still holds for (busy only).
    pub limit: Micros,
    pub emission: Micros,
    pub tolerance: Micros,
}

impl TatChange {
    /// Whether `actual` is in the state this change was planned for.
    pub fn holds_for(&self, actual: Option<Micros>) -> bool {
        match (self.from, actual) {
            (None, None) => true,
            (None, Some(tat)) => tat < self.floor,
            (Some(_), None) => self.or_unset,
            (Some(low), Some(tat)) => (low..=self.limit).contains(&tat),
        }
    }

    /// The TAT after the change (`holds_for(actual)` assumed).
    pub fn apply(&self, actual: Option<Micros>) -> Micros {
        match (self.from, actual) {
            (Some(_), Some(tat)) if !self.reset => tat + self.increment,
            _ => self.floor + self.increment,
        }
    }

    /// When the first send of the take conforms, from the TAT the change produced.
    fn first_conforms(&self, new: Micros) -> Micros {
        new - self.increment + self.emission - self.tolerance
    }
}

/// The write that takes a grant: every change conditional, the tenant's weight and last take
/// set, and tenants idle past [`PRUNE_AFTER_SECONDS`] removed if they still are. A write that
/// only reserves the tenant's share, for a batch that comes back for its account slots when the
/// share lets it start, has no account change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWrite {
    pub tenant: TenantId,
    pub account: Option<TatChange>,
    pub assured: Option<TatChange>,
    pub ceiling: Option<TatChange>,
    pub seen: i64,
    /// `None` (an announcement): the weight stored, or 1 for a tenant the state does not have.
    pub weight: Option<u32>,
    /// Tenants to remove, each only if it last took before the given epoch second.
    pub prune: Vec<(TenantId, i64)>,
}

impl BudgetWrite {
    /// A write that changes no TAT and only counts `tenant` as sending from `seen` on: its
    /// batches are on their way to delivery ([`super::announce`]). It always holds.
    pub fn announce(tenant: TenantId, seen: i64) -> Self {
        Self {
            tenant,
            account: None,
            assured: None,
            ceiling: None,
            seen,
            weight: None,
            prune: Vec::new(),
        }
    }

    /// Whether the write's conditions hold on `state` (what a store checks before applying).
    pub fn holds_for(&self, state: &BudgetState) -> bool {
        let entry = state.tenants.get(&self.tenant);
        self.account.is_none_or(|c| c.holds_for(state.account))
            && self
                .assured
                .is_none_or(|c| c.holds_for(entry.and_then(|e| e.assured)))
            && self
                .ceiling
                .is_none_or(|c| c.holds_for(entry.and_then(|e| e.ceiling)))
            && self
                .prune
                .iter()
                .all(|(tenant, before)| state.tenants.get(tenant).is_none_or(|e| e.seen < *before))
    }

    /// `state` with the write applied (`holds_for(state)` assumed).
    pub fn apply(&self, state: &mut BudgetState) {
        if let Some(change) = self.account {
            state.account = Some(change.apply(state.account));
        }
        for (tenant, _) in &self.prune {
            state.tenants.remove(tenant);
        }
        let entry = state.tenants.entry(self.tenant.clone()).or_default();
        if let Some(change) = self.assured {
            entry.assured = Some(change.apply(entry.assured));
            entry.emission = Some(change.emission);
        }
        if let Some(change) = self.ceiling {
            entry.ceiling = Some(change.apply(entry.ceiling));
        }
        entry.seen = self.seen;
        entry.weight = self.weight.unwrap_or(entry.weight).max(1);
    }
}

/// When each granted send may go: the `k`-th (0-based) at `start + k·interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start: Micros,
    pub interval: Micros,
}

impl BudgetWrite {
    /// When the granted sends go, from the state the write produced: from the latest of the
    /// first conforming send of each scope it charged, at the account's interval (so each send
    /// is on or after its own slot of the account). `None` for a write without account slots.
    pub fn schedule(&self, new: &BudgetState, now: Micros) -> Option<Schedule> {
        let account = self.account?;
        let entry = new.tenants.get(&self.tenant);
        let scopes = [
            Some((account, new.account)),
            self.assured.map(|c| (c, entry.and_then(|e| e.assured))),
            self.ceiling.map(|c| (c, entry.and_then(|e| e.ceiling))),
        ];
        let start = scopes
            .into_iter()
            .flatten()
            .map(|(change, tat)| {
                change.first_conforms(tat.unwrap_or(change.floor + change.increment))
            })
            .fold(now, Micros::max);
        Some(Schedule {
            start,
            interval: account.emission,
        })
    }

    /// When the tenant's share lets a batch whose share this write reserved start.
    pub fn share_starts(&self, new: &BudgetState, now: Micros) -> Micros {
        let entry = new.tenants.get(&self.tenant);
        [
            self.assured.map(|c| (c, entry.and_then(|e| e.assured))),
            self.ceiling.map(|c| (c, entry.and_then(|e| e.ceiling))),
        ]
        .into_iter()
        .flatten()
        .map(|(change, tat)| change.first_conforms(tat.unwrap_or(change.floor + change.increment)))
        .fold(now, Micros::max)
    }
}
