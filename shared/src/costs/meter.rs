//! The DynamoDB capacity a batch's delivery consumed: the DynamoDB adapters report what each
//! counted call's `ConsumedCapacity` says (or, where DynamoDB answers with an error, the units
//! it bills for it) to the meter of the task they run in. Delivery runs each batch in a meter of
//! its own ([`metered`]), so every call made for the batch (its sends run concurrently, but in
//! the batch's task) is counted for the batch's tenant and campaign, and calls made outside a
//! metered batch count for nothing.

use std::cell::Cell;
use std::future::Future;

/// DynamoDB request units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DynamoUnits {
    pub read: f64,
    pub write: f64,
}

tokio::task_local! {
    static METER: Cell<DynamoUnits>;
}

fn record(read: f64, write: f64) {
    // Outside a metered batch there is nobody to count for.
    let _ = METER.try_with(|meter| {
        let mut units = meter.get();
        units.read += read;
        units.write += write;
        meter.set(units);
    });
}

/// Read units consumed by a call made in the current task.
pub fn record_dynamodb_read(units: f64) {
    record(units, 0.0);
}

/// Write units consumed by a call made in the current task.
pub fn record_dynamodb_write(units: f64) {
    record(0.0, units);
}

/// Runs `work` with a meter of its own and answers what it consumed.
pub async fn metered<F: Future>(work: F) -> (F::Output, DynamoUnits) {
    METER
        .scope(Cell::new(DynamoUnits::default()), async {
            let output = work.await;
            (output, METER.with(Cell::get))
        })
        .await
}
