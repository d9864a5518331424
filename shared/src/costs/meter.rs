//! What a unit of work consumed of the services billed per request: the DynamoDB adapters report
//! what each counted call's `ConsumedCapacity` says (or, where DynamoDB answers with an error, the
//! units it bills for it), and `pipeline::publish::put_all` the PUT payload units of the records a
//! stream accepted, to the meter of the task they run in. Delivery runs each batch in a meter of
//! its own ([`metered`]), and the launch worker each chunk, so every call made for it (concurrent
//! ones too, as long as they run in its task) is counted for its tenant and campaign, and calls
//! made outside a metered unit of work count for nothing.

use std::cell::Cell;
use std::future::Future;

/// Request units counted by the meter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeteredUnits {
    /// DynamoDB read request units.
    pub read: f64,
    /// DynamoDB write request units.
    pub write: f64,
    /// Kinesis PUT payload units of the records accepted.
    pub kinesis_put: f64,
}

tokio::task_local! {
    static METER: Cell<MeteredUnits>;
}

fn record(add: MeteredUnits) {
    // Outside a metered unit of work there is nobody to count for.
    let _ = METER.try_with(|meter| {
        let mut units = meter.get();
        units.read += add.read;
        units.write += add.write;
        units.kinesis_put += add.kinesis_put;
        meter.set(units);
    });
}

/// Read units consumed by a call made in the current task.
pub fn record_dynamodb_read(units: f64) {
    record(MeteredUnits {
        read: units,
        ..MeteredUnits::default()
    });
}

/// Write units consumed by a call made in the current task.
pub fn record_dynamodb_write(units: f64) {
    record(MeteredUnits {
        write: units,
        ..MeteredUnits::default()
    });
}

/// PUT payload units of records a stream accepted from the current task.
pub fn record_kinesis_put(units: f64) {
    record(MeteredUnits {
        kinesis_put: units,
        ..MeteredUnits::default()
    });
}

/// Runs `work` with a meter of its own and answers what it consumed.
pub async fn metered<F: Future>(work: F) -> (F::Output, MeteredUnits) {
    METER
        .scope(Cell::new(MeteredUnits::default()), async {
            let output = work.await;
            (output, METER.with(Cell::get))
        })
        .await
}
