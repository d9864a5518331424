//! The send budget's two ports: the shared state every delivery takes from (one conditional
//! write per take), and the account's sending limits as SES states them.

use async_trait::async_trait;

use super::gcra::{BudgetState, BudgetWrite};
use crate::error::StoreError;

/// How a conditional write came out: the state after it, or (refused) the state that refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetWritten {
    Applied(BudgetState),
    Refused(BudgetState),
}

/// The account's and the tenants' TATs, shared by every concurrent delivery.
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Applies `write` in one atomic write if every condition holds (`BudgetWrite::holds_for`),
    /// and answers the state after it; otherwise writes nothing and answers the current state.
    async fn apply(&self, write: &BudgetWrite) -> Result<BudgetWritten, StoreError>;
    /// The current state (a consistent read), for operators and tests.
    async fn read(&self) -> Result<BudgetState, StoreError>;
}

/// The account's sending limits (SES GetAccount's `SendQuota`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendQuota {
    pub max_send_rate: f64,
    pub max_24_hour_send: f64,
    pub sent_last_24_hours: f64,
}

#[async_trait]
pub trait SendQuotaSource: Send + Sync {
    async fn send_quota(&self) -> Result<SendQuota, StoreError>;
}
