//! The send budget in memory (a stand-in for `aws::dynamodb::budget`): the same conditions,
//! checked and applied under one lock; and SES's sending limits as a test sets them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::deliverability::budget::{
    BudgetState, BudgetStore, BudgetWrite, BudgetWritten, SendQuota, SendQuotaSource,
};
use crate::error::{Message, StoreError};

/// Writes are atomic under one lock, refused exactly when DynamoDB would refuse them.
#[derive(Default)]
pub struct MemoryBudgetStore {
    state: Mutex<BudgetState>,
    applied: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicBool,
}

impl MemoryBudgetStore {
    /// Writes applied and writes refused so far.
    pub fn writes(&self) -> (u64, u64) {
        (
            self.applied.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    pub fn state(&self) -> BudgetState {
        lock(&self.state).clone()
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        match self.unavailable.load(Ordering::SeqCst) {
            true => Err(StoreError::Unavailable {
                store: "send budget",
                source: Message::boxed("injected"),
            }),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl BudgetStore for MemoryBudgetStore {
    /// Counted in the task's meter as the DynamoDB adapter's write: one unit.
    async fn apply(&self, write: &BudgetWrite) -> Result<BudgetWritten, StoreError> {
        self.check()?;
        crate::costs::record_dynamodb_write(1.0);
        let mut state = lock(&self.state);
        if !write.holds_for(&state) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(BudgetWritten::Refused(state.clone()));
        }
        write.apply(&mut state);
        self.applied.fetch_add(1, Ordering::Relaxed);
        Ok(BudgetWritten::Applied(state.clone()))
    }

    async fn read(&self) -> Result<BudgetState, StoreError> {
        self.check()?;
        crate::costs::record_dynamodb_read(1.0);
        Ok(lock(&self.state).clone())
    }
}

/// SES's limits as a test sets them; `None` fails the read (the configured rate is used).
pub struct FixedQuota {
    quota: Mutex<Option<SendQuota>>,
    reads: AtomicU64,
}

impl FixedQuota {
    /// An account with `max_send_rate` sends a second and no daily quota in the way.
    pub fn rate(max_send_rate: f64) -> Self {
        Self::new(Some(SendQuota {
            max_send_rate,
            max_24_hour_send: -1.0,
            sent_last_24_hours: 0.0,
        }))
    }

    pub fn new(quota: Option<SendQuota>) -> Self {
        Self {
            quota: Mutex::new(quota),
            reads: AtomicU64::new(0),
        }
    }

    pub fn set(&self, quota: Option<SendQuota>) {
        *lock(&self.quota) = quota;
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl SendQuotaSource for FixedQuota {
    async fn send_quota(&self) -> Result<SendQuota, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        (*lock(&self.quota)).ok_or_else(|| StoreError::Unavailable {
            store: "SES account",
            source: Message::boxed("no quota set"),
        })
    }
}
