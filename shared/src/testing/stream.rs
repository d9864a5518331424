//! A stream that keeps what is put, and fails chosen entries on request.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::error::StreamError;
use crate::pipeline::publish::{EntryResult, RecordStream, StreamRecord};

const THROTTLED: &str = "ProvisionedThroughputExceededException";

#[derive(Default)]
struct StreamState {
    records: Vec<StreamRecord>,
    calls: Vec<usize>,
    /// Positions of the next call to fail, with the error code each answers.
    fail_next: HashMap<usize, String>,
    fail_always: bool,
    /// Calls still accepted before every later one is throttled.
    fail_after: Option<usize>,
}

/// A stream that keeps what is put, and can fail chosen entries of the next call.
#[derive(Default)]
pub struct MemoryStream {
    state: Mutex<StreamState>,
}

impl MemoryStream {
    /// Throttles the entries at these positions of the next call.
    pub fn fail_next_entries(&self, positions: &[usize]) {
        self.fail_next_entries_with(positions, THROTTLED);
    }

    /// Fails the entries at these positions of the next call with this PutRecords error code.
    pub fn fail_next_entries_with(&self, positions: &[usize], code: &str) {
        lock(&self.state).fail_next = positions.iter().map(|&p| (p, code.to_string())).collect();
    }

    pub fn fail_always(&self, fail: bool) {
        let mut state = lock(&self.state);
        state.fail_always = fail;
        state.fail_after = None;
    }

    /// Accepts the next `calls` calls, then throttles every entry of every later call (until
    /// `fail_always(false)`).
    pub fn fail_after_calls(&self, calls: usize) {
        lock(&self.state).fail_after = Some(calls);
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
        if let Some(left) = state.fail_after.as_mut() {
            if *left == 0 {
                state.fail_always = true;
            } else {
                *left -= 1;
            }
        }
        let mut results = Vec::with_capacity(records.len());
        for (position, record) in records.iter().enumerate() {
            let code = match fail_next.get(&position) {
                Some(code) => Some(code.as_str()),
                None => state.fail_always.then_some(THROTTLED),
            };
            if let Some(code) = code {
                results.push(EntryResult::Failed {
                    code: code.to_string(),
                    message: format!("{code} (scripted)"),
                });
            } else {
                state.records.push(record.clone());
                results.push(EntryResult::Accepted);
            }
        }
        Ok(results)
    }
}
