//! The real-time scoring service in memory (stand-in for `http::scoring`): scores derived from a
//! hash of the tenant, item and column, computed "now" by the given clock; items it is told not
//! to know are left out, and calls can be made to fail.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::lock;
use crate::availability::{ColumnScore, Score, ScoreKey, ScoreSource, ScoreWrite, SourceError};
use crate::clock::Clock;
use crate::domain::{ScoreColumn, TenantId};
use crate::error::Message;

pub struct MemoryScoreSource {
    clock: Arc<dyn Clock>,
    unknown: Mutex<HashSet<ScoreKey>>,
    calls: Mutex<Vec<(TenantId, usize)>>,
    failing: AtomicU32,
}

impl MemoryScoreSource {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            unknown: Mutex::new(HashSet::new()),
            calls: Mutex::new(Vec::new()),
            failing: AtomicU32::new(0),
        }
    }

    /// The score this source gives: the same for the same tenant, item and column.
    pub fn score_of(tenant: &TenantId, key: &ScoreKey, column: &ScoreColumn) -> Score {
        let mut hasher = Sha256::new();
        for part in [
            tenant.as_str(),
            key.store.as_str(),
            key.item.as_str(),
            column.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        let value = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        Score::new(value as f64 / u64::MAX as f64).expect("a fraction of the maximum")
    }

    /// The service does not know `key`: it is left out of answers.
    pub fn forget(&self, key: ScoreKey) {
        lock(&self.unknown).insert(key);
    }

    /// The next `count` calls answer unavailable.
    pub fn fail_next(&self, count: u32) {
        self.failing.store(count, Ordering::Relaxed);
    }

    /// Every call so far: (tenant, number of keys).
    pub fn calls(&self) -> Vec<(TenantId, usize)> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl ScoreSource for MemoryScoreSource {
    async fn fresh(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
        columns: &[ScoreColumn],
    ) -> Result<Vec<ScoreWrite>, SourceError> {
        lock(&self.calls).push((tenant.clone(), keys.len()));
        let failing = self
            .failing
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SourceError::Unavailable {
                source: Message::boxed("the in-memory scoring service is set to fail"),
            });
        }
        let now = self.clock.now();
        let unknown = lock(&self.unknown);
        Ok(keys
            .iter()
            .filter(|key| !unknown.contains(key))
            .flat_map(|key| {
                columns.iter().map(move |column| ScoreWrite {
                    key: key.clone(),
                    column: column.clone(),
                    value: ColumnScore {
                        score: Self::score_of(tenant, key, column),
                        computed_at: now,
                    },
                })
            })
            .collect())
    }
}
