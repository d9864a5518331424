//! Kinesis and Lambda's event source mapping as AWS runs them, in virtual time: shards with their
//! write limits, and per shard `ParallelizationFactor` consumers (one per lane of partition keys,
//! so a key's records stay in order), each invoking the function with up to `BatchSize` records,
//! retrying at once from the record it reports (or the whole batch, bisected, on a function
//! error), giving up after `MaximumRetryAttempts` into an on-failure destination that keeps the
//! records themselves.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use time::OffsetDateTime;

use super::invocation::{self, FaultAction, FaultPoint, Invocation};
use super::{Faults, Ledger, VirtualClock};
use crate::clock::Clock;
use crate::error::StreamError;
use crate::pipeline::lambda_batch::InboundRecord;
use crate::pipeline::publish::{EntryResult, RecordStream, StreamRecord};

/// Kinesis's write limits per shard and second.
pub const SHARD_RECORDS_PER_SECOND: usize = 1_000;
pub const SHARD_BYTES_PER_SECOND: usize = 1024 * 1024;

/// An event source mapping's settings (template.yaml's `Events` of the function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingSettings {
    pub shards: usize,
    pub batch_size: usize,
    pub parallelization: usize,
    pub max_retries: u32,
    pub bisect: bool,
    pub function_timeout: Duration,
}

#[derive(Default)]
struct Shard {
    /// Each lane's records, with when the stream took them.
    lanes: Vec<Vec<(StreamRecord, OffsetDateTime)>>,
    second: i64,
    records_this_second: usize,
    bytes_this_second: usize,
}

/// A sharded stream that throttles writes past each shard's limits.
pub struct SimStream {
    shards: Mutex<Vec<Shard>>,
    parallelization: usize,
    clock: Arc<VirtualClock>,
    throttled: AtomicUsize,
}

fn hash_of(key: &str, salt: u8) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

impl SimStream {
    pub fn new(shards: usize, parallelization: usize, clock: Arc<VirtualClock>) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| Shard {
                lanes: vec![Vec::new(); parallelization.max(1)],
                ..Shard::default()
            })
            .collect();
        Self {
            shards: Mutex::new(shards),
            parallelization: parallelization.max(1),
            clock,
            throttled: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Shard>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lanes(&self) -> Vec<(usize, usize)> {
        let shards = self.lock().len();
        (0..shards)
            .flat_map(|s| (0..self.parallelization).map(move |l| (s, l)))
            .collect()
    }

    pub fn lane_len(&self, shard: usize, lane: usize) -> usize {
        self.lock()[shard].lanes[lane].len()
    }

    fn read(&self, shard: usize, lane: usize, from: usize, max: usize) -> Vec<InboundRecord> {
        let shards = self.lock();
        let records = &shards[shard].lanes[lane];
        records
            .iter()
            .enumerate()
            .skip(from)
            .take(max)
            .map(|(position, (record, arrived))| InboundRecord {
                sequence_number: format!("{shard}-{lane}-{position}"),
                partition_key: record.partition_key.clone(),
                data: record.data.clone(),
                arrived_at: Some(*arrived),
            })
            .collect()
    }

    /// Drops the data of a lane's records before `position`: its only consumer is past them,
    /// so a million-recipient run does not hold every event and batch it ever wrote.
    fn trim(&self, shard: usize, lane: usize, position: usize) {
        let mut shards = self.lock();
        let records = &mut shards[shard].lanes[lane];
        for (record, _) in records.iter_mut().take(position).rev() {
            if record.data.is_empty() {
                break;
            }
            record.data = Vec::new();
            record.partition_key = String::new();
        }
    }

    /// Entries refused for the shards' write limits so far.
    pub fn throttled(&self) -> usize {
        self.throttled.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl RecordStream for SimStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        let now = self.clock.now();
        let second = now.unix_timestamp();
        let results = {
            let mut shards = self.lock();
            let count = shards.len() as u64;
            records
                .iter()
                .map(|record| {
                    let shard = &mut shards[(hash_of(&record.partition_key, 0) % count) as usize];
                    if shard.second != second {
                        shard.second = second;
                        shard.records_this_second = 0;
                        shard.bytes_this_second = 0;
                    }
                    let bytes = record.data.len() + record.partition_key.len();
                    if shard.records_this_second + 1 > SHARD_RECORDS_PER_SECOND
                        || shard.bytes_this_second + bytes > SHARD_BYTES_PER_SECOND
                    {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                        return EntryResult::Failed {
                            code: "ProvisionedThroughputExceededException".into(),
                            message: "Rate exceeded for shard".into(),
                        };
                    }
                    shard.records_this_second += 1;
                    shard.bytes_this_second += bytes;
                    let lane =
                        (hash_of(&record.partition_key, 1) % self.parallelization as u64) as usize;
                    shard.lanes[lane].push((record.clone(), now));
                    EntryResult::Accepted
                })
                .collect::<Vec<_>>()
        };
        let accepted = results
            .iter()
            .filter(|r| matches!(r, EntryResult::Accepted))
            .count();
        for _ in 0..accepted {
            if invocation::strike(FaultPoint::AfterPut) == Some(FaultAction::Crash) {
                return invocation::crash().await;
            }
        }
        Ok(results)
    }
}

/// The function behind a mapping: records and the invocation's deadline in, the positions of
/// the records to retry out (only the earliest counts, as Lambda reads the partial response).
pub type Handler =
    Arc<dyn Fn(Vec<InboundRecord>, OffsetDateTime) -> BoxFuture<'static, Vec<usize>> + Send + Sync>;
/// Builds the function once per lane: each lane's consumer is as one warm container, with what
/// the function keeps between invocations (caches, the send budget's view) its own.
pub type Handlers = Arc<dyn Fn() -> Handler + Send + Sync>;

/// One lane's consumer: where it stands, and whether an invocation is running.
#[derive(Default)]
pub struct LaneProgress {
    pub position: AtomicUsize,
    pub busy: AtomicBool,
}

/// Records a mapping gave up on, kept whole (the S3 on-failure destination).
#[derive(Default)]
pub struct OnFailure {
    pub records: Mutex<Vec<InboundRecord>>,
}

pub struct Mapping {
    pub name: &'static str,
    pub stream: Arc<SimStream>,
    pub settings: MappingSettings,
    pub handlers: Handlers,
    pub on_failure: Arc<OnFailure>,
}

impl Mapping {
    /// Runs one consumer per lane until `stop` is set; answers each lane's progress.
    pub fn start(
        self: &Arc<Self>,
        faults: Arc<Faults>,
        ledger: Arc<Ledger>,
        clock: Arc<VirtualClock>,
        stop: Arc<AtomicBool>,
    ) -> Vec<(usize, usize, Arc<LaneProgress>)> {
        self.stream
            .lanes()
            .into_iter()
            .map(|(shard, lane)| {
                let progress = Arc::new(LaneProgress::default());
                let consumer = LaneConsumer {
                    handler: (self.handlers)(),
                    mapping: self.clone(),
                    shard,
                    lane,
                    progress: progress.clone(),
                    faults: faults.clone(),
                    ledger: ledger.clone(),
                    clock: clock.clone(),
                };
                tokio::spawn(consumer.run(stop.clone()));
                (shard, lane, progress)
            })
            .collect()
    }

    pub fn caught_up(&self, lanes: &[(usize, usize, Arc<LaneProgress>)]) -> bool {
        lanes.iter().all(|(shard, lane, progress)| {
            !progress.busy.load(Ordering::SeqCst)
                && progress.position.load(Ordering::SeqCst) >= self.stream.lane_len(*shard, *lane)
        })
    }
}

/// How often an idle consumer polls its lane (Lambda polls a shard about once a second).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

struct LaneConsumer {
    handler: Handler,
    mapping: Arc<Mapping>,
    shard: usize,
    lane: usize,
    progress: Arc<LaneProgress>,
    faults: Arc<Faults>,
    ledger: Arc<Ledger>,
    clock: Arc<VirtualClock>,
}

enum Invoked {
    Answered(Vec<usize>),
    FunctionError,
}

impl LaneConsumer {
    async fn run(self, stop: Arc<AtomicBool>) {
        let settings = self.mapping.settings;
        let mut position = 0;
        let mut attempts = 0u32;
        let mut window = settings.batch_size;
        while !stop.load(Ordering::Relaxed) {
            self.progress.busy.store(true, Ordering::SeqCst);
            let batch = self
                .mapping
                .stream
                .read(self.shard, self.lane, position, window);
            if batch.is_empty() {
                self.progress.busy.store(false, Ordering::SeqCst);
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            let failed_from = match self.invoke(batch.clone()).await {
                Invoked::Answered(failed) => failed.into_iter().min(),
                Invoked::FunctionError if settings.bisect && batch.len() > 1 => {
                    // Splitting does not count against the retries.
                    window = batch.len().div_ceil(2);
                    continue;
                }
                Invoked::FunctionError => Some(0),
            };
            match failed_from {
                None => {
                    position += batch.len();
                    attempts = 0;
                    window = settings.batch_size;
                }
                Some(first) => {
                    position += first.min(batch.len());
                    attempts += 1;
                    if attempts > settings.max_retries {
                        let given_up = &batch[first.min(batch.len())..];
                        self.ledger.gave_up(self.mapping.name, given_up.len());
                        self.mapping
                            .on_failure
                            .records
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(given_up);
                        position += given_up.len();
                        attempts = 0;
                        window = settings.batch_size;
                    }
                }
            }
            self.mapping.stream.trim(self.shard, self.lane, position);
            self.progress.position.store(position, Ordering::SeqCst);
        }
    }

    async fn invoke(&self, batch: Vec<InboundRecord>) -> Invoked {
        let timeout = self.mapping.settings.function_timeout;
        let deadline = self.clock.now() + timeout;
        let invocation = Invocation::with_fault(self.faults.draw(self.mapping.name));
        let work = (self.handler)(batch, deadline);
        let answered = tokio::time::timeout(timeout, invocation.run(work)).await;
        let outcome = match answered {
            Ok(Some(failed)) => {
                self.ledger.invocation_ended(&invocation.accepted());
                return Invoked::Answered(failed);
            }
            Ok(None) => "crashed",
            Err(_) => "timed out",
        };
        self.ledger
            .invocation_died(self.mapping.name, outcome, &invocation.accepted());
        Invoked::FunctionError
    }
}
