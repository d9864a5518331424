//! Reads a day's feedback objects through the port into a tally: each object as its chunks
//! arrive, gunzipped when it starts with the gzip magic bytes (whatever its name), split into
//! lines. A line longer than `MAX_LINE_BYTES` is refused, not buffered; an object whose gzip
//! stream breaks keeps the rows read before the break and is counted as unreadable.

use std::io::Write;

use flate2::write::MultiGzDecoder;
use futures::StreamExt;
use time::Date;

use super::ports::{FeedbackObject, FoundRateFeedback};
use super::rows::Refusal;
use super::tally::FeedbackTally;
use crate::domain::TenantId;
use crate::error::StoreError;

/// A feedback row is a few hundred bytes; a longer line is not one.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Every feedback object of `tenant`'s `day`, in key order.
pub async fn read_day(
    feedback: &dyn FoundRateFeedback,
    tenant: &TenantId,
    day: Date,
) -> Result<FeedbackTally, StoreError> {
    let mut tally = FeedbackTally::default();
    for object in feedback.objects(tenant, day).await? {
        read_object(feedback, tenant, &object, &mut tally).await?;
        tally.objects += 1;
    }
    Ok(tally)
}

async fn read_object(
    feedback: &dyn FoundRateFeedback,
    tenant: &TenantId,
    object: &FeedbackObject,
    tally: &mut FeedbackTally,
) -> Result<(), StoreError> {
    let mut chunks = feedback.open(tenant, object).await?;
    let mut body = Body::Undecided(Vec::new());
    let mut lines = Lines::default();
    let key = object.key.as_str();
    while let Some(chunk) = chunks.next().await {
        match body.decode(&chunk?) {
            Ok(plain) => lines.push(&plain, |number, line| add(tally, key, number, line)),
            Err(error) => {
                unreadable(tally, key, &error);
                return Ok(());
            }
        }
    }
    match body.finish() {
        Ok(rest) => lines.push(&rest, |number, line| add(tally, key, number, line)),
        Err(error) => {
            unreadable(tally, key, &error);
            return Ok(());
        }
    }
    lines.finish(|number, line| add(tally, key, number, line));
    Ok(())
}

/// `None`: a line longer than `MAX_LINE_BYTES`.
fn add(tally: &mut FeedbackTally, key: &str, number: u64, line: Option<&[u8]>) {
    match line {
        Some(line) => tally.add_line(key, number, line),
        None => {
            tally.lines += 1;
            tally.refusals.record(Refusal::LineTooLong, key, number, "");
        }
    }
}

fn unreadable(tally: &mut FeedbackTally, key: &str, error: &std::io::Error) {
    tracing::warn!(key, %error, "a feedback object is not readable gzip");
    tally
        .refusals
        .record(Refusal::UnreadableObject, key, 0, &error.to_string());
}

/// An object's bytes as stored; plain or gzip is decided by its first two bytes.
enum Body {
    Undecided(Vec<u8>),
    Plain,
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
}

impl Body {
    /// The plain bytes `chunk` carries (some may come with a later chunk).
    fn decode(&mut self, chunk: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain => Ok(chunk.to_vec()),
            Body::Gzip(decoder) => {
                decoder.write_all(chunk)?;
                Ok(std::mem::take(decoder.get_mut()))
            }
            Body::Undecided(head) => {
                head.extend_from_slice(chunk);
                if head.len() < GZIP_MAGIC.len() {
                    return Ok(Vec::new());
                }
                let head = std::mem::take(head);
                *self = if head.starts_with(&GZIP_MAGIC) {
                    Body::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
                } else {
                    Body::Plain
                };
                self.decode(&head)
            }
        }
    }

    /// What is left once the object has ended; an error when a gzip stream is cut short.
    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain => Ok(Vec::new()),
            Body::Undecided(head) => Ok(head),
            Body::Gzip(decoder) => decoder.finish(),
        }
    }
}

/// Splits bytes into lines across chunk boundaries; a line longer than `MAX_LINE_BYTES` is
/// handed on as `None` and dropped without being buffered whole.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
    number: u64,
    /// Inside a line already handed on as too long: dropped up to its end.
    skipping: bool,
}

impl Lines {
    fn push(&mut self, bytes: &[u8], mut on_line: impl FnMut(u64, Option<&[u8]>)) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            self.number += 1;
            let line = &self.pending[start..start + end];
            if self.skipping {
                self.skipping = false;
            } else if line.len() > MAX_LINE_BYTES {
                on_line(self.number, None);
            } else {
                on_line(self.number, Some(line));
            }
            start += end + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_LINE_BYTES {
            self.pending.clear();
            if !self.skipping {
                self.skipping = true;
                on_line(self.number + 1, None);
            }
        }
    }

    /// The last line, when the object does not end with a newline.
    fn finish(mut self, mut on_line: impl FnMut(u64, Option<&[u8]>)) {
        if !self.pending.is_empty() && !self.skipping {
            self.number += 1;
            on_line(self.number, Some(&std::mem::take(&mut self.pending)));
        }
    }
}
