//! The warm-up's two ports: its per-tenant state (written conditionally, so two runs of a day
//! cannot both apply) and the day's send cap (taken atomically by every delivery at once).

use async_trait::async_trait;

use super::decision::WarmupState;
use crate::deliverability::counters::Day;
use crate::domain::TenantId;
use crate::error::StoreError;

/// A tenant's state and the version it was stored at.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupRecord {
    pub state: WarmupState,
    pub version: u64,
}

#[async_trait]
pub trait WarmupStore: Send + Sync {
    async fn load(&self, tenant: &TenantId) -> Result<Option<WarmupRecord>, StoreError>;
    /// Stores `state` at version `expected + 1` (1 when `expected` is `None`: no state yet) if
    /// the stored version is still `expected`. Answers `false`, writing nothing, when another
    /// writer came first.
    async fn save(
        &self,
        tenant: &TenantId,
        state: &WarmupState,
        expected: Option<u64>,
    ) -> Result<bool, StoreError>;
}

/// What a day's cap has granted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapUsage {
    /// `None` while no decision set it (takes then count against their fallback).
    pub cap: Option<u64>,
    pub used: u64,
}

#[async_trait]
pub trait SendCap: Send + Sync {
    /// Sets the day's cap. What was already granted that day still counts against it.
    async fn set_cap(&self, tenant: &TenantId, day: &Day, cap: u64) -> Result<(), StoreError>;
    /// Takes up to `wanted` sends of the day's cap and answers how many were granted
    /// (`0..=wanted`): never more than the cap leaves, however many callers take at once. A
    /// day whose cap is not set yet grants against `fallback`.
    async fn take(
        &self,
        tenant: &TenantId,
        day: &Day,
        wanted: u64,
        fallback: u64,
    ) -> Result<u64, StoreError>;
    /// Gives back sends granted but not made (the recipient failed or was left for a retry).
    async fn give_back(&self, tenant: &TenantId, day: &Day, count: u64) -> Result<(), StoreError>;
    async fn usage(&self, tenant: &TenantId, day: &Day) -> Result<Option<CapUsage>, StoreError>;
}
