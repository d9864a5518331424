//! How a take is decided, on a view of the shared state ([`super::gcra`]).
//!
//! - **The account** paces every send: a batch's sends go at the account's interval, each on or
//!   after its own slot, so all deliveries together never outrun the account's rate by more
//!   than its burst. Slots are taken from where the batch can start, never leaving a gap before
//!   them (the account's TAT is one number: a gap would be lost to everyone).
//! - **A tenant's assured share** (and its own ceiling) are charged a batch at a time: a batch
//!   may start once the first of its sends conforms, and moves the TAT by all of them, so the
//!   next batch starts later. The assured rate is the account's rate times the tenant's weight
//!   over the weights of the tenants that took in the last [`ACTIVE_WINDOW_SECONDS`]. A tenant
//!   reserves its share at most [`SHARE_HORIZON`] ahead.
//! - **Priority** comes from how far ahead each kind of take may reserve account slots: on the
//!   share, up to the delivery's wait; borrowed (beyond the share, what the others leave), only
//!   [`BORROW_HORIZON`]. The assured shares add up to the account's rate, so an assured take
//!   finds the account at most the borrowers' horizon plus about a batch per sending tenant
//!   ahead of it, within its wait.
//! - **Two steps** when a batch must wait for its share longer than it may take account slots
//!   ahead (slots there would leave a gap, or lock others out): the first write reserves the
//!   share and answers when it starts; the batch comes back then, after a wait or a deferral,
//!   for its account slots only ([`TakeRequest::reserved`]). A tenant's batches beyond its
//!   share so keep their order in it, however many are deferred.

use super::gcra::{
    ACTIVE_WINDOW_SECONDS, BURST, BudgetState, BudgetWrite, MICROS_PER_SECOND, Micros,
    PRUNE_AFTER_SECONDS, PRUNED_PER_TAKE, TatChange,
};
use crate::domain::TenantId;

/// Borrowed sends are reserved no further ahead than this: a tenant on its share waits this
/// long at most behind the borrowers.
pub const BORROW_HORIZON: Micros = MICROS_PER_SECOND / 2;
/// A view that shows a tenant's TAT at most this far behind now takes it as it is (the tenant
/// may then have up to this much more of its share in a burst) rather than as idle: with 32
/// deliveries each seeing the state as of its own last write, a tenant's recent take by another
/// delivery would otherwise refuse most writes (measured: a fifth of them instead of a third).
const SHARE_SLACK: Micros = 5 * MICROS_PER_SECOND;
/// The same for the account's TAT: a tenth of its burst more, at most, for fewer refused writes.
const ACCOUNT_SLACK: Micros = BURST / 10;
/// A tenant's batch may be planned on its share at most this far ahead. Kept below the
/// delivery's wait, so that a tenant alone, whose share is the whole account, cannot reserve the
/// account further ahead than a newcomer can wait.
pub const SHARE_HORIZON: Micros = 5 * MICROS_PER_SECOND;

/// A batch deferred with its share reserved comes back at its start or after this, whichever is
/// first, to borrow what the account may have left meanwhile.
pub const RESERVED_RETRY: Micros = 60 * MICROS_PER_SECOND;

/// A batch too far beyond its share to reserve it comes back no later than this.
pub const LATER_AT_MOST: Micros = 60 * MICROS_PER_SECOND;

/// A batch that cannot go within its wait has its share reserved if that share lets it start
/// within this (two of the scheduler's minute ticks): it is deferred to that start, keeps its
/// place in its tenant's share, and then needs only the account's slots. Further ahead, it is
/// deferred without a reservation.
pub const RESERVE_AHEAD: Micros = 120 * MICROS_PER_SECOND;

/// One delivery's ask: `wanted` sends for `tenant`, the last of them no later than
/// `now + max_wait`.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeRequest {
    pub tenant: TenantId,
    pub weight: u32,
    pub ceiling_per_second: Option<f64>,
    pub account_per_second: f64,
    pub wanted: u32,
    pub now: Micros,
    /// The last send no later than `now + max_wait`.
    pub max_wait: Micros,
    /// The batch starts on its tenant's share no later than `now + share_wait`, or its share is
    /// reserved for later.
    pub share_wait: Micros,
    /// The batch's share was reserved by an earlier write (a [`Plan::Reserve`]): only the
    /// account's slots are taken; once it starts (at the share's rate now) with the assured
    /// takes' horizon, before then only borrowed.
    pub reserved: Option<Reservation>,
}

/// A batch's reservation on its tenant's share: made at `at`, to start at `starts` at one send
/// every `emission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub at: Micros,
    pub starts: Micros,
    pub emission: Micros,
}

impl Reservation {
    /// Its start at a share of one send every `emission` now: as many sends after its making as
    /// it was then.
    pub fn starts_at(&self, emission: Micros) -> Micros {
        if self.emission <= 0 || self.starts <= self.at {
            return self.starts;
        }
        let ahead =
            i128::from(self.starts - self.at) * i128::from(emission) / i128::from(self.emission);
        self.at + ahead.min(i128::from(i64::MAX / 2)) as Micros
    }
}

/// What the budget allows a take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// `granted` sends (1 to wanted), once `write` is applied.
    Grant {
        granted: u32,
        borrowed: bool,
        write: BudgetWrite,
    },
    /// The share is reserved by `write`; the batch comes back for its account slots when the
    /// share lets it start (`BudgetWrite::share_starts`).
    Reserve { write: BudgetWrite },
    /// A reserved batch starts at `until` (within the wait): ask again then. No write.
    Wait { until: Micros },
    /// Nothing can be planned within the wait: ask again at `retry_at`.
    Later { retry_at: Micros },
}

/// One send every this many microseconds at `per_second` (rounded up: never faster).
pub fn emission_interval(per_second: f64) -> Micros {
    let per_second = per_second.max(1e-6);
    ((MICROS_PER_SECOND as f64) / per_second).ceil() as Micros
}

/// The tenant's assured rate: its weight's part of the account's rate among the active tenants,
/// never above its own ceiling.
pub fn assured_rate(state: &BudgetState, request: &TakeRequest) -> f64 {
    let active_since = request.now / MICROS_PER_SECOND - ACTIVE_WINDOW_SECONDS;
    let others: u64 = state
        .tenants
        .iter()
        .filter(|(tenant, entry)| **tenant != request.tenant && entry.seen >= active_since)
        .map(|(_, entry)| u64::from(entry.weight.max(1)))
        .sum();
    let weight = f64::from(request.weight.max(1));
    let share = request.account_per_second * weight / (weight + others as f64);
    match request.ceiling_per_second {
        Some(ceiling) => share.min(ceiling),
        None => share,
    }
}

/// One scope as the plan sees it.
#[derive(Clone, Copy)]
struct Scope {
    tat: Option<Micros>,
    emission: Micros,
    /// The stored TAT, when `tat` is it rescaled to a faster rate.
    rescaled_from: Option<Micros>,
}

impl Scope {
    /// The tenant's assured share at `emission`: a lead over `now` built at another rate (its
    /// share was smaller or larger: more or fewer tenants were sending) is rescaled in
    /// proportion, so it holds as many sends as it did.
    fn assured(entry: Option<&super::gcra::TenantBudget>, emission: Micros, now: Micros) -> Self {
        let tat = entry.and_then(|e| e.assured);
        let built_at = entry.and_then(|e| e.emission);
        let changed = |built_at: Micros| (emission - built_at).abs() * 100 > built_at;
        match (tat, built_at) {
            (Some(tat), Some(built_at)) if tat > now && built_at > 0 && changed(built_at) => Self {
                tat: Some(
                    now + (i128::from(tat - now) * i128::from(emission) / i128::from(built_at))
                        .min(i128::from(i64::MAX / 2)) as i64,
                ),
                emission,
                rescaled_from: Some(tat),
            },
            _ => Self {
                tat,
                emission,
                rescaled_from: None,
            },
        }
    }
}

impl Scope {
    fn base(&self, floor: Micros) -> Micros {
        self.tat.map_or(floor, |tat| tat.max(floor))
    }

    /// A change of this TAT by `increment` from `floor` on, conditioned on what the view shows
    /// (`TatChange::from`): busy from `floor`; a TAT at most `slack` behind it, as it is; one
    /// the view does not show, unset or anything from `slack` behind on; else idle. A rescaled
    /// TAT is written over exactly the stored one.
    fn change(&self, floor: Micros, slack: Micros, increment: Micros, limit: Micros) -> TatChange {
        if let Some(stored) = self.rescaled_from {
            return TatChange {
                from: Some(stored),
                or_unset: false,
                reset: true,
                floor: self.base(floor),
                increment,
                limit: stored,
                emission: self.emission,
                tolerance: BURST,
            };
        }
        let (from, or_unset) = match self.tat {
            Some(tat) if tat >= floor => (Some(floor), false),
            Some(tat) if tat >= floor - slack => (Some(tat), false),
            Some(_) => (None, false),
            None => (Some(floor - slack), true),
        };
        TatChange {
            from,
            or_unset,
            reset: false,
            floor,
            increment,
            limit,
            emission: self.emission,
            tolerance: BURST,
        }
    }

    /// When a batch may start on this tenant scope: when its first send conforms.
    fn starts(&self, now: Micros) -> Micros {
        (self.base(now) + self.emission - BURST).max(now)
    }

    /// The change that charges `count` sends to this tenant scope. It holds while the batch can
    /// still start when planned: at once (any TAT that lets the first send conform now), or,
    /// when it waits, on exactly the TAT the plan saw.
    fn charge(&self, count: u32, now: Micros) -> TatChange {
        let limit = match self.tat {
            Some(tat) if self.starts(now) > now => tat,
            _ => now + BURST - self.emission,
        };
        let limit = match self.rescaled_from {
            Some(stored) => stored,
            None => limit,
        };
        self.change(now, SHARE_SLACK, i64::from(count) * self.emission, limit)
    }

    /// Whether account slots from `floor` on leave no gap after the account's last reservation.
    fn follows_on(&self, floor: Micros, now: Micros) -> bool {
        floor <= self.base(now) + self.emission
    }

    /// How many of the account's slots from `floor` on conform by `by`.
    fn slots_by(&self, floor: Micros, by: Micros) -> u32 {
        let room = by + BURST - self.base(floor);
        if room < self.emission {
            return 0;
        }
        (room / self.emission).min(i64::from(u32::MAX)) as u32
    }

    /// The change that reserves `count` of the account's slots from `floor` on, holding while
    /// the last of them still conforms by `by`.
    fn reserve(&self, count: u32, floor: Micros, by: Micros) -> TatChange {
        let increment = i64::from(count) * self.emission;
        self.change(floor, ACCOUNT_SLACK, increment, by + BURST - increment)
    }

    /// When the account's first slot from `floor` on conforms.
    fn first_slot(&self, floor: Micros) -> Micros {
        self.base(floor) + self.emission - BURST
    }
}

/// The scopes of one take, as the view shows them.
struct Scopes {
    account: Scope,
    assured: Scope,
    ceiling: Option<Scope>,
}

impl Scopes {
    fn of(state: &BudgetState, request: &TakeRequest) -> Self {
        let entry = state.tenants.get(&request.tenant);
        Self {
            account: Scope {
                tat: state.account,
                emission: emission_interval(request.account_per_second),
                rescaled_from: None,
            },
            assured: Scope::assured(
                entry,
                emission_interval(assured_rate(state, request)),
                request.now,
            ),
            ceiling: request.ceiling_per_second.map(|rate| Scope {
                tat: entry.and_then(|e| e.ceiling),
                emission: emission_interval(rate),
                rescaled_from: None,
            }),
        }
    }
}

/// A take with account slots: on the share (and ceiling), or borrowed (the ceiling only).
#[derive(Clone, Copy)]
struct Candidate {
    granted: u32,
    /// When the batch can start on the tenant's scopes.
    starts: Micros,
    borrowed: bool,
    horizon: Micros,
}

/// Decides a take on `state`. The whole batch, if it can go: on the share at once; borrowed
/// within [`BORROW_HORIZON`]; on the share within the wait; or its share reserved for a second
/// step, if the share lets it start within [`RESERVE_AHEAD`]. Else as much as goes within the
/// wait, borrowed or on the share, whichever is more (the rest is deferred); else later.
pub fn plan(state: &BudgetState, request: &TakeRequest) -> Plan {
    let now = request.now;
    let scopes = Scopes::of(state, request);
    let account = scopes.account;
    let wait = request.max_wait.max(0);
    if let Some(reserved) = request.reserved {
        let starts = reserved.starts_at(scopes.assured.emission);
        return plan_reserved(state, request, account, starts);
    }
    let ceiling_starts = scopes.ceiling.map_or(now, |c| c.starts(now));
    let share_starts = ceiling_starts.max(scopes.assured.starts(now));
    let candidate = |borrowed: bool| {
        let share_wait = request.share_wait.clamp(0, wait);
        let (starts, reach) = match borrowed {
            true => (ceiling_starts, share_wait.min(BORROW_HORIZON)),
            false => (share_starts, share_wait.min(SHARE_HORIZON)),
        };
        let horizon = now + if borrowed { reach } else { wait };
        let granted = match starts <= now + reach && account.follows_on(starts, now) {
            true => request.wanted.min(account.slots_by(starts, horizon)),
            false => 0,
        };
        Candidate {
            granted,
            starts,
            borrowed,
            horizon,
        }
    };
    let (on_share, borrowing) = (candidate(false), candidate(true));
    let at_once = on_share.starts == now && account.first_slot(now) <= now;
    let whole = |c: &Candidate| c.granted == request.wanted;
    let reservable = share_starts <= now + RESERVE_AHEAD;
    // The whole batch if it can go at all (a part leaves the rest deferred): at once on the
    // share, borrowed, on the share after a wait, or its share reserved for a second step (after
    // a wait, or after a deferral).
    let chosen = match () {
        _ if whole(&on_share) && at_once => Some(on_share),
        _ if whole(&borrowing) => Some(borrowing),
        _ if whole(&on_share) => Some(on_share),
        _ if reservable => None,
        _ if borrowing.granted > on_share.granted => Some(borrowing),
        _ if on_share.granted > 0 => Some(on_share),
        _ => None,
    };
    if let Some(chosen) = chosen {
        let mut write = request.write(
            state,
            Some(account.reserve(chosen.granted, chosen.starts, chosen.horizon)),
        );
        write.assured = (!chosen.borrowed).then(|| scopes.assured.charge(chosen.granted, now));
        write.ceiling = scopes.ceiling.map(|c| c.charge(chosen.granted, now));
        return Plan::Grant {
            granted: chosen.granted,
            borrowed: chosen.borrowed,
            write,
        };
    }
    if reservable {
        let mut write = request.write(state, None);
        write.assured = Some(scopes.assured.charge(request.wanted, now));
        write.ceiling = scopes.ceiling.map(|c| c.charge(request.wanted, now));
        return Plan::Reserve { write };
    }
    // Deferred batches come back in the order of their retry-at: a batch beyond its share's
    // reach goes after the reserved ones that are due (never sooner than a tick), and not so far
    // that a share grown meanwhile leaves it waiting.
    let retry_at = (share_starts - RESERVE_AHEAD).clamp(now + RESERVED_RETRY, now + LATER_AT_MOST);
    Plan::Later { retry_at }
}

/// The account's slots for a batch whose share starts at `starts` (rescaled to its share now):
/// once it has started, with the assured takes' horizon; before, the whole batch borrowed, or
/// a wait until it starts if that is within the wait, or later.
fn plan_reserved(
    state: &BudgetState,
    request: &TakeRequest,
    account: Scope,
    starts: Micros,
) -> Plan {
    let now = request.now;
    let wait = request.max_wait.max(0);
    let early = starts > now;
    let reach = if early {
        wait.min(BORROW_HORIZON)
    } else {
        wait
    };
    let slots = request.wanted.min(account.slots_by(now, now + reach));
    let granted = if early && slots < request.wanted {
        0
    } else {
        slots
    };
    if granted > 0 {
        let write = request.write(state, Some(account.reserve(granted, now, now + reach)));
        return Plan::Grant {
            granted,
            borrowed: early,
            write,
        };
    }
    if early && starts <= now + request.share_wait.clamp(0, wait) {
        return Plan::Wait { until: starts };
    }
    let retry_at = match early {
        true => starts.min(now + RESERVED_RETRY),
        false => account.first_slot(now),
    };
    Plan::Later {
        retry_at: retry_at.max(now + MICROS_PER_SECOND),
    }
}

impl TakeRequest {
    /// A write for this take with the given account change, the tenant's weight and last take,
    /// and a few stale tenants removed; the tenant's scopes are the caller's to add.
    fn write(&self, state: &BudgetState, account: Option<TatChange>) -> BudgetWrite {
        let before = self.now / MICROS_PER_SECOND - PRUNE_AFTER_SECONDS;
        BudgetWrite {
            tenant: self.tenant.clone(),
            account,
            assured: None,
            ceiling: None,
            seen: self.now / MICROS_PER_SECOND,
            weight: Some(self.weight.max(1)),
            prune: state
                .tenants
                .iter()
                .filter(|(tenant, entry)| **tenant != self.tenant && entry.seen < before)
                .take(PRUNED_PER_TAKE)
                .map(|(tenant, _)| (tenant.clone(), before))
                .collect(),
        }
    }
}
