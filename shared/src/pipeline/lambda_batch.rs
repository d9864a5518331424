//! The Kinesis event source mapping's side of the contract: records in, partial batch
//! failures out.

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;

/// One stream record as the handler receives it, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// When the stream took the record (Kinesis's approximate arrival time): how far behind
    /// its shard the consumer is.
    pub arrived_at: Option<time::OffsetDateTime>,
}

pub fn inbound_records(event: KinesisEvent) -> Vec<InboundRecord> {
    event
        .records
        .into_iter()
        .map(|record| InboundRecord {
            sequence_number: record.kinesis.sequence_number,
            partition_key: record.kinesis.partition_key,
            data: record.kinesis.data.0,
            arrived_at: time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(
                    record
                        .kinesis
                        .approximate_arrival_timestamp
                        .0
                        .timestamp_millis(),
                ) * 1_000_000,
            )
            .ok(),
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
#[error("record at position {position} failed but has no sequence number to report")]
pub struct MissingSequenceNumber {
    pub position: usize,
}

/// Builds the partial batch response from the positions (in delivery order) of the records
/// that must be retried.
///
/// Lambda checkpoints a Kinesis shard just before the reported record with the lowest sequence
/// number and retries everything after it, so reporting the earliest failed record is both
/// necessary and sufficient. Records of one invocation all come from one shard in sequence
/// order, so the earliest position is the lowest sequence number: no sequence numbers are parsed
/// or compared. An empty identifier would make Lambda treat the whole batch as failed in an
/// unintended way, so it is an error instead.
pub fn partial_batch_response(
    records: &[InboundRecord],
    failed_positions: impl IntoIterator<Item = usize>,
) -> Result<KinesisEventResponse, MissingSequenceNumber> {
    let mut response = KinesisEventResponse::default();
    if let Some(position) = failed_positions.into_iter().min() {
        let sequence_number = records
            .get(position)
            .map(|r| r.sequence_number.as_str())
            .filter(|s| !s.is_empty())
            .ok_or(MissingSequenceNumber { position })?;
        response.add_failure(sequence_number);
    }
    Ok(response)
}

/// What the runtime reports when a handler fails as a whole (never for one bad record: those are
/// dead-lettered or reported as batch item failures). Lambda then retries the batch.
pub fn diagnostic(
    error: &(dyn std::error::Error + 'static),
    retryable: bool,
) -> lambda_runtime::Diagnostic {
    let message = crate::error::chain(error);
    lambda_runtime::Diagnostic {
        error_type: if retryable {
            "Retryable"
        } else {
            "NonRetryable"
        }
        .to_string(),
        error_message: message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: &str) -> InboundRecord {
        InboundRecord {
            sequence_number: seq.into(),
            partition_key: "p".into(),
            data: vec![],
            arrived_at: None,
        }
    }

    #[test]
    fn reports_only_the_earliest_failed_record() {
        let records = vec![record("10"), record("9"), record("11")];
        let response = partial_batch_response(&records, [2, 1]).unwrap();
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(ids, vec![Some("9".to_string())]);
    }

    #[test]
    fn no_failures_gives_an_empty_list() {
        let response = partial_batch_response(&[record("1")], []).unwrap();
        assert!(response.batch_item_failures.is_empty());
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(json, r#"{"batchItemFailures":[]}"#);
    }

    #[test]
    fn never_reports_an_empty_identifier() {
        let err = partial_batch_response(&[record("")], [0]).unwrap_err();
        assert_eq!(err.position, 0);
    }

    #[test]
    fn decodes_a_lambda_kinesis_event() {
        let event: KinesisEvent = serde_json::from_str(
            r#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk",
            "sequenceNumber":"4959","data":"aGVsbG8=","approximateArrivalTimestamp":1.7e9},
            "eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:4959",
            "eventName":"aws:kinesis:record","awsRegion":"us-east-1",
            "eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}]}"#,
        )
        .unwrap();
        let records = inbound_records(event);
        assert_eq!(records[0].data, b"hello");
        assert_eq!(records[0].sequence_number, "4959");
    }
}
