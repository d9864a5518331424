//! The sync's unit queue in memory (stand-in for `aws::sync_units`): what was sent, in order,
//! for a test to take and process.

use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::availability::sync::{SyncUnit, SyncUnitQueue};
use crate::error::{Message, StoreError};

#[derive(Default)]
pub struct MemorySyncUnitQueue {
    units: Mutex<Vec<SyncUnit>>,
    unavailable: std::sync::atomic::AtomicBool,
}

impl MemorySyncUnitQueue {
    /// Everything sent so far, taken off the queue.
    pub fn take(&self) -> Vec<SyncUnit> {
        std::mem::take(&mut *lock(&self.units))
    }

    pub fn len(&self) -> usize {
        lock(&self.units).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable
            .store(unavailable, std::sync::atomic::Ordering::Relaxed);
    }
}

#[async_trait]
impl SyncUnitQueue for MemorySyncUnitQueue {
    async fn send(&self, units: &[SyncUnit]) -> Result<(), StoreError> {
        if self.unavailable.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                store: "sync unit queue",
                source: Message::boxed("the in-memory queue is set unavailable"),
            });
        }
        lock(&self.units).extend_from_slice(units);
        Ok(())
    }
}
