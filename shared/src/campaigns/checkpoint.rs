//! How far a chunk got: a retried chunk resumes after the last row whose events were all put,
//! instead of from its first row.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::report::LaunchReport;

/// The offset of the last row of a chunk whose events (and every row's before it) the stream
/// accepted, with the chunk's counts up to and including that row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkCheckpoint {
    /// Byte offset of the row's first byte (in the decompressed stream, for gzip).
    pub last_row: u64,
    pub report: LaunchReport,
}

impl ChunkCheckpoint {
    /// Whether the row at `offset` was done before this checkpoint (and must not run again).
    pub fn covers(&self, offset: u64) -> bool {
        offset <= self.last_row
    }

    /// Where a plain export is read from on resuming: a range owns the rows that start inside
    /// it, and one starting just past the last row's first byte skips that row.
    pub fn resume_range(&self, range: std::ops::Range<u64>) -> std::ops::Range<u64> {
        range.start.max(self.last_row + 1)..range.end
    }
}

/// Where the engine reports a chunk's progress while it runs, after each group of rows whose
/// events were all put. Recording is best effort: a checkpoint that is not kept only widens
/// what a retry emits again (delivery's claims dedupe it).
#[async_trait]
pub trait ChunkCheckpoints: Send + Sync {
    async fn checkpoint(&self, checkpoint: &ChunkCheckpoint);
}
