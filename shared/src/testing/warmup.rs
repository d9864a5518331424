//! In-memory warm-up state and send caps (stand-ins for `aws::dynamodb::warmup`), with the same
//! semantics: versioned state writes, and takes that never grant past the cap.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::deliverability::counters::Day;
use crate::deliverability::warmup::{CapUsage, SendCap, WarmupRecord, WarmupState, WarmupStore};
use crate::domain::TenantId;
use crate::error::StoreError;

#[derive(Default)]
pub struct MemoryWarmupStore {
    records: Mutex<HashMap<TenantId, WarmupRecord>>,
}

impl MemoryWarmupStore {
    pub fn state(&self, tenant: &TenantId) -> Option<WarmupState> {
        lock(&self.records).get(tenant).map(|r| r.state.clone())
    }
}

#[async_trait]
impl WarmupStore for MemoryWarmupStore {
    async fn load(&self, tenant: &TenantId) -> Result<Option<WarmupRecord>, StoreError> {
        Ok(lock(&self.records).get(tenant).cloned())
    }

    async fn save(
        &self,
        tenant: &TenantId,
        state: &WarmupState,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut records = lock(&self.records);
        if records.get(tenant).map(|r| r.version) != expected {
            return Ok(false);
        }
        let version = expected.map_or(1, |v| v + 1);
        records.insert(
            tenant.clone(),
            WarmupRecord {
                state: state.clone(),
                version,
            },
        );
        Ok(true)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct DayCap {
    cap: Option<u64>,
    used: u64,
}

/// Takes are atomic under one lock; `takes()` counts the calls (one per capped batch, plus one
/// per give-back).
#[derive(Default)]
pub struct MemorySendCap {
    days: Mutex<HashMap<(TenantId, Day), DayCap>>,
    calls: AtomicU64,
    unavailable: std::sync::atomic::AtomicBool,
}

impl MemorySendCap {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                store: "send cap",
                source: crate::error::Message::boxed("injected"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl SendCap for MemorySendCap {
    async fn set_cap(&self, tenant: &TenantId, day: &Day, cap: u64) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.days)
            .entry((tenant.clone(), day.clone()))
            .or_default()
            .cap = Some(cap);
        Ok(())
    }

    async fn take(
        &self,
        tenant: &TenantId,
        day: &Day,
        wanted: u64,
        fallback: u64,
    ) -> Result<u64, StoreError> {
        self.check()?;
        // Counted as the DynamoDB adapter's conditional write: one unit.
        crate::costs::record_dynamodb_write(1.0);
        let mut days = lock(&self.days);
        let entry = days.entry((tenant.clone(), day.clone())).or_default();
        let left = entry.cap.unwrap_or(fallback).saturating_sub(entry.used);
        let granted = wanted.min(left);
        entry.used += granted;
        Ok(granted)
    }

    async fn give_back(&self, tenant: &TenantId, day: &Day, count: u64) -> Result<(), StoreError> {
        self.check()?;
        crate::costs::record_dynamodb_write(1.0);
        if let Some(entry) = lock(&self.days).get_mut(&(tenant.clone(), day.clone())) {
            entry.used = entry.used.saturating_sub(count);
        }
        Ok(())
    }

    async fn usage(&self, tenant: &TenantId, day: &Day) -> Result<Option<CapUsage>, StoreError> {
        Ok(lock(&self.days)
            .get(&(tenant.clone(), day.clone()))
            .map(|d| CapUsage {
                cap: d.cap,
                used: d.used,
            }))
    }
}
