//! The launch queue as SQS runs it, and the launch function's workers consuming it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use time::OffsetDateTime;

use super::invocation::Invocation;
use super::{Faults, Ledger, VirtualClock};
use crate::campaigns::{Campaigns, ChunkMessage};
use crate::clock::Clock;
use crate::testing::MemoryChunkQueue;

/// The launch function's queue and its settings (template.yaml's LaunchQueue and LaunchFunction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchSettings {
    pub chunk_bytes: u64,
    pub concurrency: usize,
    pub visibility_timeout: Duration,
    pub max_receives: u32,
    pub function_timeout: Duration,
}

struct Queued {
    message: ChunkMessage,
    receives: u32,
    visible_at: OffsetDateTime,
}

/// The launch queue as SQS runs it: a message not deleted comes back after the visibility
/// timeout, and goes to the dead-letter queue after `max_receives`.
#[derive(Default)]
pub(super) struct LaunchQueue {
    messages: Mutex<VecDeque<Queued>>,
    in_flight: AtomicUsize,
}

pub(super) struct LaunchWorker {
    pub(super) settings: LaunchSettings,
    pub(super) campaigns: Arc<Campaigns>,
    pub(super) queue: Arc<MemoryChunkQueue>,
    pub(super) faults: Arc<Faults>,
    pub(super) ledger: Arc<Ledger>,
    pub(super) clock: Arc<VirtualClock>,
    pub(super) dead_letters: Arc<Mutex<Vec<ChunkMessage>>>,
    pub(super) stop: Arc<AtomicBool>,
}

impl LaunchQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        self.messages.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.lock().is_empty()
    }

    /// Takes in what the lifecycle enqueued.
    pub(super) fn absorb(&self, queue: &MemoryChunkQueue, now: OffsetDateTime) {
        self.lock()
            .extend(queue.take().into_iter().map(|message| Queued {
                message,
                receives: 0,
                visible_at: now,
            }));
    }

    fn receive(&self, worker: &LaunchWorker) -> Option<Queued> {
        let now = worker.clock.now();
        self.absorb(&worker.queue, now);
        let mut messages = self.lock();
        let position = messages.iter().position(|q| q.visible_at <= now)?;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        messages.remove(position)
    }

    pub(super) async fn consume(self: Arc<Self>, worker: LaunchWorker) {
        while !worker.stop.load(Ordering::Relaxed) {
            let Some(mut queued) = self.receive(&worker) else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            queued.receives += 1;
            let receipt = format!("{}-{}", queued.message.index, queued.receives);
            let invocation = Invocation::with_fault(worker.faults.draw("launch"));
            let event = sqs_event(&queued.message, &receipt, queued.receives);
            let work = worker.campaigns.handle_chunk_messages(event);
            let ran =
                tokio::time::timeout(worker.settings.function_timeout, invocation.run(work)).await;
            let done = match ran {
                Ok(Some(response)) => response.batch_item_failures.is_empty(),
                Ok(None) | Err(_) => {
                    let how = if invocation.crashed() {
                        "crashed"
                    } else {
                        "timed out"
                    };
                    worker
                        .ledger
                        .invocation_died("launch", how, &invocation.accepted());
                    false
                }
            };
            if !done {
                if queued.receives >= worker.settings.max_receives {
                    lock(&worker.dead_letters).push(queued.message);
                } else {
                    // Back after the delay the worker asked for (ChangeMessageVisibility), or
                    // after the visibility timeout when it asked for none (it died).
                    let hidden = worker
                        .queue
                        .take_retry(&receipt)
                        .unwrap_or(worker.settings.visibility_timeout);
                    queued.visible_at = worker.clock.now() + hidden;
                    self.lock().push_back(queued);
                }
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The one-message event Lambda's SQS mapping hands the launch function.
fn sqs_event(message: &ChunkMessage, receipt: &str, receives: u32) -> SqsEvent {
    let mut record = SqsMessage::default();
    record.message_id = Some(receipt.to_string());
    record.receipt_handle = Some(receipt.to_string());
    record.body = Some(serde_json::to_string(message).expect("a chunk message serializes"));
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), receives.to_string());
    let mut event = SqsEvent::default();
    event.records.push(record);
    event
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
