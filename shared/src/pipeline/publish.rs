//! Writing many records to a stream: chunked to the PutRecords limits, only the failed entries
//! retried, with jittered exponential backoff.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Retryable, StreamError};

/// Kinesis PutRecords accepts at most this many records per call.
pub const MAX_RECORDS_PER_PUT: usize = 500;
/// ... and at most this many bytes (data plus partition keys) per call.
pub const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;
/// ... and at most this many bytes per record, data and partition key together.
pub const MAX_BYTES_PER_RECORD: usize = 1024 * 1024;

/// The per-entry error codes of PutRecords that a later attempt can pass: the shard's
/// throughput, a Kinesis internal failure, and KMS throttling the stream's encryption.
pub const RETRYABLE_ENTRY_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "KMSThrottlingException",
];

/// The stream's KMS key refuses every entry the same way (disabled, missing, access denied, not
/// opted in): that is the stream's configuration, not the record's, so no entry is to blame.
const STREAM_WIDE_ENTRY_CODE_PREFIX: &str = "KMS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl StreamRecord {
    pub fn size(&self) -> usize {
        self.partition_key.len() + self.data.len()
    }
}

/// The answer to one entry of a PutRecords call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Accepted,
    Failed { code: String, message: String },
}

/// Writes records to one stream.
#[async_trait]
pub trait RecordStream: Send + Sync {
    /// One PutRecords call: at most [`MAX_RECORDS_PER_PUT`] records and [`MAX_BYTES_PER_PUT`]
    /// bytes. Answers one result per record, in order; a 200 response can still carry failed
    /// entries.
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError>;
}

/// Why one record did not reach the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishFailure {
    #[error(
        "record of {size} bytes (data and partition key) exceeds the {MAX_BYTES_PER_RECORD}-byte record limit"
    )]
    TooLarge { size: usize },
    /// The stream refused this entry for what it holds: sending it again fails again.
    #[error("stream refused the record: {code}: {message}")]
    EntryRefused { code: String, message: String },
    #[error("still failing after {attempts} attempts: {code}: {message}")]
    Exhausted {
        attempts: u32,
        code: String,
        message: String,
    },
    #[error("stream rejected the request: {message}")]
    Rejected { message: String },
}

impl Retryable for PublishFailure {
    fn is_retryable(&self) -> bool {
        matches!(self, PublishFailure::Exhausted { .. })
    }
}

impl PublishFailure {
    /// The record itself can never be written (too large, refused for its content); every other
    /// failure is the stream's and may pass later.
    pub fn is_the_records_fault(&self) -> bool {
        matches!(
            self,
            PublishFailure::TooLarge { .. } | PublishFailure::EntryRefused { .. }
        )
    }
}

/// How one failed entry of a PutRecords answer is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryFailure {
    /// Retried with backoff.
    Transient,
    /// The stream refuses everything (its KMS key): reported like a rejected request.
    StreamWide,
    /// This entry only: not retried.
    Refused,
}

fn classify_entry(code: &str) -> EntryFailure {
    if RETRYABLE_ENTRY_CODES.contains(&code) {
        EntryFailure::Transient
    } else if code.starts_with(STREAM_WIDE_ENTRY_CODE_PREFIX) {
        EntryFailure::StreamWide
    } else {
        EntryFailure::Refused
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a random delay up to the exponential bound, so that throttled writers
    /// spread out instead of retrying in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let bound = exponential.min(self.max_delay);
        let millis = bound.as_millis() as u64;
        Duration::from_millis(crate::random::up_to(millis))
    }
}

/// Splits records into PutRecords calls that respect both the count and the size limit.
pub fn chunk_for_put(records: &[StreamRecord]) -> Vec<std::ops::Range<usize>> {
    chunk_by_size(records.iter().map(StreamRecord::size))
}

/// The same split over record sizes alone, so callers need not copy records to plan calls.
fn chunk_by_size(sizes: impl Iterator<Item = usize>) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    let mut count = 0;
    for (index, size) in sizes.enumerate() {
        if index > start
            && (index - start == MAX_RECORDS_PER_PUT || bytes + size > MAX_BYTES_PER_PUT)
        {
            chunks.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
        count = index + 1;
    }
    if start < count {
        chunks.push(start..count);
    }
    chunks
}

/// Puts every record, answering one result per record in input order.
pub async fn put_all(
    stream: &dyn RecordStream,
    records: &[StreamRecord],
    policy: RetryPolicy,
) -> Vec<Result<(), PublishFailure>> {
    let mut results: Vec<Result<(), PublishFailure>> = vec![Ok(()); records.len()];
    let mut sendable = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if record.size() > MAX_BYTES_PER_RECORD {
            results[index] = Err(PublishFailure::TooLarge {
                size: record.size(),
            });
        } else {
            sendable.push(index);
        }
    }
    for range in chunk_by_size(sendable.iter().map(|&i| records[i].size())) {
        let indices: Vec<usize> = sendable[range.clone()].to_vec();
        put_chunk(stream, records, indices, policy, &mut results).await;
    }
    results
}

async fn put_chunk(
    stream: &dyn RecordStream,
    records: &[StreamRecord],
    mut pending: Vec<usize>,
    policy: RetryPolicy,
    results: &mut [Result<(), PublishFailure>],
) {
    let mut last_error = (String::new(), String::new());
    for attempt in 0..policy.max_attempts {
        if attempt > 0 {
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
        // The first attempt usually covers consecutive records: no copy needed for those.
        let consecutive = pending.windows(2).all(|pair| pair[1] == pair[0] + 1);
        let copied: Vec<StreamRecord>;
        let batch: &[StreamRecord] = match pending.first() {
            Some(&first) if consecutive => &records[first..first + pending.len()],
            _ => {
                copied = pending.iter().map(|&i| records[i].clone()).collect();
                &copied
            }
        };
        match stream.put_records(batch).await {
            Ok(entries) => {
                count_accepted(&entries, batch);
                let still_failed = settle(&entries, &pending, results, &mut last_error);
                tracing::debug!(
                    settled = pending.len() - still_failed.len(),
                    retrying = still_failed.len(),
                    "put records"
                );
                pending = still_failed;
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %error, attempt, "put records failed, retrying");
                last_error = ("RequestFailed".into(), crate::error::chain(&error));
            }
            Err(error) => {
                tracing::error!(error = %error, "put records rejected");
                for &index in &pending {
                    results[index] = Err(PublishFailure::Rejected {
                        message: crate::error::chain(&error),
                    });
                }
                return;
            }
        }
        if pending.is_empty() {
            return;
        }
    }
    for &index in &pending {
        results[index] = Err(PublishFailure::Exhausted {
            attempts: policy.max_attempts,
            code: last_error.0.clone(),
            message: last_error.1.clone(),
        });
    }
}

/// Counts the PUT payload units of the records the stream accepted (each billed in started
/// 25 KB units of its data) in the current task's meter (`costs::metered`).
fn count_accepted(entries: &[EntryResult], batch: &[StreamRecord]) {
    let units: f64 = entries
        .iter()
        .zip(batch)
        .filter(|(entry, _)| **entry == EntryResult::Accepted)
        .map(|(_, record)| crate::costs::Usage::put_units(record.data.len()))
        .sum();
    if units > 0.0 {
        crate::costs::record_kinesis_put(units);
    }
}

/// Records the answer of each pending entry; answers the entries to try again, keeping the last
/// retryable error for the report if they never pass.
fn settle(
    entries: &[EntryResult],
    pending: &[usize],
    results: &mut [Result<(), PublishFailure>],
    last_error: &mut (String, String),
) -> Vec<usize> {
    let mut still_failed = Vec::new();
    for (position, &index) in pending.iter().enumerate() {
        match entries.get(position) {
            Some(EntryResult::Accepted) => results[index] = Ok(()),
            Some(EntryResult::Failed { code, message }) => match classify_entry(code) {
                EntryFailure::Transient => {
                    *last_error = (code.clone(), message.clone());
                    still_failed.push(index);
                }
                EntryFailure::StreamWide => {
                    results[index] = Err(PublishFailure::Rejected {
                        message: format!("{code}: {message}"),
                    });
                }
                EntryFailure::Refused => {
                    results[index] = Err(PublishFailure::EntryRefused {
                        code: code.clone(),
                        message: message.clone(),
                    });
                }
            },
            None => {
                *last_error = ("MissingEntry".into(), "no result for record".into());
                still_failed.push(index);
            }
        }
    }
    still_failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStream;

    fn record(size: usize) -> StreamRecord {
        StreamRecord {
            partition_key: "k".into(),
            data: vec![b'x'; size],
        }
    }

    #[test]
    fn chunks_respect_the_record_count_limit() {
        let records: Vec<_> = (0..1201).map(|_| record(10)).collect();
        let chunks = chunk_for_put(&records);
        assert_eq!(chunks, vec![0..500, 500..1000, 1000..1201]);
    }

    #[test]
    fn chunks_respect_the_byte_limit() {
        let records: Vec<_> = (0..12).map(|_| record(1024 * 1024 - 1)).collect();
        let chunks = chunk_for_put(&records);
        assert!(chunks.iter().all(|c| {
            records[c.clone()]
                .iter()
                .map(StreamRecord::size)
                .sum::<usize>()
                <= MAX_BYTES_PER_PUT
        }));
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 12);
        assert_eq!(chunks[0].len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn only_failed_entries_are_retried() {
        let stream = MemoryStream::default();
        stream.fail_next_entries(&[1, 3]);
        let records: Vec<_> = (0..5)
            .map(|i| StreamRecord {
                partition_key: format!("k{i}"),
                data: vec![i as u8],
            })
            .collect();
        let results = put_all(&stream, &records, RetryPolicy::default()).await;
        assert!(results.iter().all(Result::is_ok));
        let calls = stream.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], 5);
        assert_eq!(
            calls[1], 2,
            "the second call carries only the two failed entries"
        );
        let stored = stream.records();
        assert_eq!(stored.len(), 5, "every record lands exactly once");
    }

    #[tokio::test(start_paused = true)]
    async fn entries_that_keep_failing_are_reported_not_dropped() {
        let stream = MemoryStream::default();
        stream.fail_always(true);
        let results = put_all(&stream, &[record(3)], RetryPolicy::default()).await;
        assert!(matches!(
            results[0],
            Err(PublishFailure::Exhausted { attempts: 6, .. })
        ));
        assert_eq!(stream.calls().len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_refused_for_its_content_is_not_retried() {
        let stream = MemoryStream::default();
        stream.fail_next_entries_with(&[0], "InvalidArgumentException");
        let results = put_all(&stream, &[record(3), record(4)], RetryPolicy::default()).await;
        assert!(matches!(
            &results[0],
            Err(failure @ PublishFailure::EntryRefused { code, .. })
                if code == "InvalidArgumentException" && failure.is_the_records_fault()
        ));
        assert!(results[1].is_ok());
        assert_eq!(stream.calls(), vec![2]);
    }

    #[tokio::test(start_paused = true)]
    async fn internal_failures_and_kms_throttling_are_retried() {
        for code in ["InternalFailure", "KMSThrottlingException"] {
            let stream = MemoryStream::default();
            stream.fail_next_entries_with(&[0], code);
            let results = put_all(&stream, &[record(3)], RetryPolicy::default()).await;
            assert!(results[0].is_ok(), "{code}");
            assert_eq!(stream.calls(), vec![1, 1], "{code}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_kms_key_that_refuses_everything_is_the_streams_fault_not_the_records() {
        let stream = MemoryStream::default();
        stream.fail_next_entries_with(&[0], "KMSAccessDeniedException");
        let results = put_all(&stream, &[record(3)], RetryPolicy::default()).await;
        let failure = results[0].clone().unwrap_err();
        assert!(
            matches!(failure, PublishFailure::Rejected { .. }),
            "{failure:?}"
        );
        assert!(!failure.is_the_records_fault());
        assert_eq!(stream.calls(), vec![1]);
    }

    #[tokio::test]
    async fn the_partition_key_counts_toward_the_record_limit() {
        let stream = MemoryStream::default();
        let record = StreamRecord {
            partition_key: "k".repeat(10),
            data: vec![b'x'; MAX_BYTES_PER_RECORD - 5],
        };
        let results = put_all(&stream, &[record], RetryPolicy::default()).await;
        assert!(matches!(results[0], Err(PublishFailure::TooLarge { .. })));
        assert!(stream.calls().is_empty());
    }

    #[test]
    fn backoff_stays_within_the_bound() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            assert!(policy.backoff(attempt) <= policy.max_delay);
        }
    }

    #[tokio::test]
    async fn oversized_records_fail_without_a_call() {
        let stream = MemoryStream::default();
        let results = put_all(
            &stream,
            &[record(MAX_BYTES_PER_RECORD + 1)],
            RetryPolicy::default(),
        )
        .await;
        assert!(matches!(results[0], Err(PublishFailure::TooLarge { .. })));
        assert!(stream.calls().is_empty());
    }

    #[tokio::test]
    async fn records_around_an_oversized_one_go_in_one_call() {
        let stream = MemoryStream::default();
        let records = [record(3), record(MAX_BYTES_PER_RECORD + 1), record(4)];
        let results = put_all(&stream, &records, RetryPolicy::default()).await;
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(matches!(results[1], Err(PublishFailure::TooLarge { .. })));
        assert_eq!(stream.calls(), vec![2]);
        let sizes: Vec<usize> = stream.records().iter().map(|r| r.data.len()).collect();
        assert_eq!(sizes, vec![3, 4]);
    }
}
