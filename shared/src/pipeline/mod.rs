//! The delivery pipeline: campaign events are rebatched into send batches of at most 50, and
//! each batch is delivered once per recipient through the tenant's own workspace.
//!
//! - [`publish`]: the stream port and writing many records to it.
//! - [`lambda_batch`]: a Kinesis event in, the partial batch response out.
//! - [`rebatch`]: campaign events to send batches.
//! - [`deliver`]: a send batch to one message per recipient (claims, render, send, outcome).
//! - [`send_log`], [`archive`]: the ports delivery writes (the tenants' records it reads are
//!   `crate::directory`).
//! - [`parked`]: the parked batches counted per campaign (what `stats` reads).
//! - [`redrive`]: parked batches back onto the stream.
//! - [`stream_failures`]: what the event source mappings gave up on, back onto its stream.

pub mod archive;
#[cfg(feature = "deliver")]
pub mod deliver;
pub mod lambda_batch;
pub mod parked;
pub mod publish;
pub mod rebatch;
pub mod redrive;
pub mod send_log;
pub mod stream_failures;
