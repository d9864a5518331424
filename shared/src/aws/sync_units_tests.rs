use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::availability::sync::{Compression, ExportFormat};
use crate::domain::{ExportId, TenantId};

fn units(count: u32) -> Vec<SyncUnit> {
    (0..count)
        .map(|index| SyncUnit {
            tenant_id: TenantId::parse("alpine").unwrap(),
            export_id: ExportId::parse("e1").unwrap(),
            index,
            key: "availability/exports/alpine/e1/data_0".into(),
            start: u64::from(index) * 100,
            end: u64::from(index + 1) * 100,
            format: ExportFormat::Csv,
            compression: Compression::None,
        })
        .collect()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

fn accepted(id: &str) -> SendMessageBatchResultEntry {
    SendMessageBatchResultEntry::builder()
        .id(id)
        .message_id(format!("m-{id}"))
        .md5_of_message_body("x")
        .build()
        .unwrap()
}

fn failed(id: &str, sender_fault: bool, code: &str) -> BatchResultErrorEntry {
    BatchResultErrorEntry::builder()
        .id(id)
        .sender_fault(sender_fault)
        .code(code)
        .build()
        .unwrap()
}

#[tokio::test]
async fn units_go_in_batches_of_ten_and_only_failed_entries_are_sent_again() {
    let calls = Arc::new(Mutex::new(Vec::<Vec<(String, SyncUnit)>>::new()));
    let rule = {
        let calls = calls.clone();
        mock!(Client::send_message_batch).then_compute_output(move |request| {
            let entries: Vec<(String, SyncUnit)> = request
                .entries()
                .iter()
                .map(|e| {
                    (
                        e.id().to_string(),
                        serde_json::from_str(e.message_body()).unwrap(),
                    )
                })
                .collect();
            let first_call = calls.lock().unwrap().is_empty();
            calls.lock().unwrap().push(entries.clone());
            let mut output = SendMessageBatchOutput::builder()
                .set_successful(Some(Vec::new()))
                .set_failed(Some(Vec::new()));
            for (id, _) in &entries {
                output = if first_call && (id == "2" || id == "9") {
                    output.failed(failed(id, false, "InternalError"))
                } else {
                    output.successful(accepted(id))
                };
            }
            output.build().unwrap()
        })
    };
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
    let queue = SqsSyncUnitQueue::new(client, "https://sqs/sync").with_retry(fast());

    queue.send(&units(25)).await.unwrap();

    let calls = calls.lock().unwrap().clone();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 2, 10, 5]);
    let resent: Vec<u32> = calls[1].iter().map(|(_, unit)| unit.index).collect();
    assert_eq!(resent, vec![2, 9], "the same units, not their neighbours");
    let mut queued: Vec<u32> = calls.iter().flatten().map(|(_, u)| u.index).collect();
    queued.sort_unstable();
    queued.dedup();
    assert_eq!(queued, (0..25).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_sender_fault_fails_at_once_and_a_lasting_failure_is_retryable() {
    let refused = mock!(Client::send_message_batch).then_output(|| {
        SendMessageBatchOutput::builder()
            .set_successful(Some(Vec::new()))
            .failed(failed("0", true, "InvalidParameterValue"))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&refused]);
    let queue = SqsSyncUnitQueue::new(client, "https://sqs/sync").with_retry(fast());
    let error = queue.send(&units(1)).await.unwrap_err();
    assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
    assert_eq!(refused.num_calls(), 1);

    let busy = mock!(Client::send_message_batch).then_output(|| {
        SendMessageBatchOutput::builder()
            .set_successful(Some(Vec::new()))
            .failed(failed("0", false, "InternalError"))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&busy]);
    let queue = SqsSyncUnitQueue::new(client, "https://sqs/sync").with_retry(fast());
    let error = queue.send(&units(1)).await.unwrap_err();
    assert!(crate::error::Retryable::is_retryable(&error));
    assert_eq!(busy.num_calls(), fast().max_attempts as usize);
}
