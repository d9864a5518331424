//! Counting a tenant in the shares as soon as its batches are on their way to delivery, not
//! only once it takes (docs/deliverability.md, "Send budgets").
//!
//! The send-batches stream is read in order, lane by lane: a big campaign's backlog in every lane
//! holds a newcomer's batches behind it. While the newcomer is not counted, the big one's share
//! is the whole account and delivery works through its backlog at the account's rate, so the
//! newcomer waits for the backlog. Counted from the moment its batches are written, the big
//! one's share shrinks at once, its batches beyond it are deferred (a write each, no wait), and
//! the lanes reach the newcomer's batches within seconds.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use super::gcra::BudgetWrite;
use super::ports::BudgetStore;
use crate::clock::Clock;
use crate::domain::{Channel, TenantId};
use crate::error::StoreError;

/// One container announces a tenant at most this often: a third of the window in which a tenant
/// counts ([`super::gcra::ACTIVE_WINDOW_SECONDS`]), so a tenant whose batches keep coming stays
/// counted without a write per invocation.
pub const ANNOUNCE_EVERY_SECONDS: i64 = 10;

/// Announces tenants on one budget (the email one or the push one).
pub struct BudgetAnnouncer {
    store: Arc<dyn BudgetStore>,
    clock: Arc<dyn Clock>,
    /// When this container last announced each tenant (epoch seconds).
    announced: Mutex<HashMap<TenantId, i64>>,
}

impl BudgetAnnouncer {
    pub fn new(store: Arc<dyn BudgetStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            announced: Mutex::new(HashMap::new()),
        }
    }

    /// Counts each tenant as sending from now on (one unconditional write each, unless this
    /// container announced it less than [`ANNOUNCE_EVERY_SECONDS`] ago). Answers how many were
    /// written; the first failure stops it.
    pub async fn announce(&self, tenants: &BTreeSet<TenantId>) -> Result<usize, StoreError> {
        let now = self.clock.now().unix_timestamp();
        let due: Vec<TenantId> = {
            let announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
            tenants
                .iter()
                .filter(|t| {
                    announced
                        .get(*t)
                        .is_none_or(|at| now - at >= ANNOUNCE_EVERY_SECONDS)
                })
                .cloned()
                .collect()
        };
        for tenant in &due {
            self.store
                .apply(&BudgetWrite::announce(tenant.clone(), now))
                .await?;
            self.announced
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tenant.clone(), now);
        }
        Ok(due.len())
    }
}

/// The announcers of both budgets: a batch's channel names its budget.
#[derive(Clone)]
pub struct ChannelAnnouncers {
    pub email: Arc<BudgetAnnouncer>,
    pub push: Arc<BudgetAnnouncer>,
}

impl ChannelAnnouncers {
    pub fn of(&self, channel: Channel) -> &BudgetAnnouncer {
        match channel {
            Channel::Email => &self.email,
            Channel::Push => &self.push,
        }
    }
}
