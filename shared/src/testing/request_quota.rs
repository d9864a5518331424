//! The in-memory request quota (stands in for `aws::dynamodb::request_quota`).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::api::limits::RequestQuota;
use crate::domain::TenantId;
use crate::error::StoreError;

#[derive(Debug, Default)]
pub struct MemoryRequestQuota {
    taken: Mutex<HashMap<(TenantId, i64), u32>>,
    takes: Mutex<usize>,
    fail_next: Mutex<bool>,
}

impl MemoryRequestQuota {
    /// The next take fails as an unavailable store would.
    pub fn fail_next(&self) {
        *lock(&self.fail_next) = true;
    }

    /// How many takes reached the store.
    pub fn takes(&self) -> usize {
        *lock(&self.takes)
    }
}

#[async_trait]
impl RequestQuota for MemoryRequestQuota {
    async fn take(&self, tenant: &TenantId, second: i64, limit: u32) -> Result<bool, StoreError> {
        *lock(&self.takes) += 1;
        if std::mem::take(&mut *lock(&self.fail_next)) {
            return Err(StoreError::Unavailable {
                store: "request quota",
                source: "injected failure".into(),
            });
        }
        let mut taken = lock(&self.taken);
        let count = taken.entry((tenant.clone(), second)).or_default();
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
}
