//! What several modules of this binary drive delivery with.

use std::sync::Arc;

use storecast::domain::SendBatch;
use storecast::pipeline::deliver::{Deliverer, TenantCounts};
use storecast::pipeline::lambda_batch::InboundRecord;
use time::OffsetDateTime;

/// The `n`th send batch as the stream hands it to `deliver`.
pub fn record(batch: &SendBatch, n: usize) -> InboundRecord {
    InboundRecord {
        sequence_number: format!("{}", 100 + n),
        partition_key: batch.batch_id.to_string(),
        data: serde_json::to_vec(batch).unwrap(),
        arrived_at: None,
    }
}

/// Every batch in its own invocation, all at once (as many shards would); each must leave
/// nothing to Lambda's retry. The counts of every invocation, summed.
pub async fn deliver_concurrently(
    deliverer: &Arc<Deliverer>,
    batches: &[SendBatch],
    deadline: OffsetDateTime,
) -> TenantCounts {
    let runs = batches.iter().enumerate().map(|(n, batch)| {
        let deliverer = deliverer.clone();
        let records = vec![record(batch, n)];
        tokio::spawn(async move { deliverer.deliver(&records, deadline).await })
    });
    let mut total = TenantCounts::default();
    for outcome in futures::future::join_all(runs).await {
        let outcome = outcome.unwrap();
        assert!(
            outcome.failed_positions.is_empty(),
            "nothing is left to Lambda's retry"
        );
        for counts in outcome.per_tenant.values() {
            total.add(counts);
        }
    }
    total
}
