//! Redrive jobs in memory: each write conditional on the revision, as the tenants table's are,
//! and the index of running jobs kept with the state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::error::{Message, StoreError};
use crate::pipeline::redrive::{RedriveJob, RedriveJobs, RedriveScope, RedriveState};

#[derive(Default)]
struct State {
    jobs: BTreeMap<RedriveScope, RedriveJob>,
    running: BTreeSet<RedriveScope>,
    /// Writes refused because the job had moved on.
    refused: u64,
    unavailable: bool,
}

#[derive(Default)]
pub struct MemoryRedriveJobs {
    state: Mutex<State>,
}

impl MemoryRedriveJobs {
    pub fn set_unavailable(&self, unavailable: bool) {
        lock(&self.state).unavailable = unavailable;
    }

    /// Every job, running or done.
    pub fn jobs(&self) -> Vec<RedriveJob> {
        lock(&self.state).jobs.values().cloned().collect()
    }

    /// How many writes found the job moved on.
    pub fn refused(&self) -> u64 {
        lock(&self.state).refused
    }

    fn check(state: &State) -> Result<(), StoreError> {
        match state.unavailable {
            true => Err(StoreError::Unavailable {
                store: "tenants table",
                source: Message::boxed("injected outage"),
            }),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl RedriveJobs for MemoryRedriveJobs {
    async fn job(&self, scope: &RedriveScope) -> Result<Option<RedriveJob>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.jobs.get(scope).cloned())
    }

    async fn save(&self, job: &RedriveJob, _was: Option<RedriveState>) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        let stored = state
            .jobs
            .get(&job.scope)
            .map_or(0, |stored| stored.revision);
        if stored + 1 != job.revision {
            state.refused += 1;
            return Ok(false);
        }
        match job.state {
            RedriveState::Running => state.running.insert(job.scope.clone()),
            RedriveState::Done => state.running.remove(&job.scope),
        };
        state.jobs.insert(job.scope.clone(), job.clone());
        Ok(true)
    }

    async fn running(&self, limit: usize) -> Result<Vec<RedriveScope>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.running.iter().take(limit).cloned().collect())
    }
}
