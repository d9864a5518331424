//! A stream that keeps what is put, and fails chosen entries on request.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::error::StreamError;
use crate::pipeline::publish::{EntryResult, RecordStream, StreamRecord};

#[derive(Default)]
struct StreamState {
    records: Vec<StreamRecord>,
    calls: Vec<usize>,
    fail_next: HashSet<usize>,
    fail_always: bool,
}

/// A stream that keeps what is put, and can fail chosen entries of the next call.
#[derive(Default)]
pub struct MemoryStream {
    state: Mutex<StreamState>,
}

impl MemoryStream {
    pub fn fail_next_entries(&self, positions: &[usize]) {
        lock(&self.state).fail_next = positions.iter().copied().collect();
    }

    pub fn fail_always(&self, fail: bool) {
        lock(&self.state).fail_always = fail;
    }

    pub fn records(&self) -> Vec<StreamRecord> {
        lock(&self.state).records.clone()
    }

    pub fn take_records(&self) -> Vec<StreamRecord> {
        std::mem::take(&mut lock(&self.state).records)
    }

    /// The number of records of each call so far.
    pub fn calls(&self) -> Vec<usize> {
        lock(&self.state).calls.clone()
    }
}

#[async_trait]
impl RecordStream for MemoryStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        let mut state = lock(&self.state);
        state.calls.push(records.len());
        let fail_next = std::mem::take(&mut state.fail_next);
        let mut results = Vec::with_capacity(records.len());
        for (position, record) in records.iter().enumerate() {
            if state.fail_always || fail_next.contains(&position) {
                results.push(EntryResult::Failed {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: "Rate exceeded for shard".into(),
                });
            } else {
                state.records.push(record.clone());
                results.push(EntryResult::Accepted);
            }
        }
        Ok(results)
    }
}
