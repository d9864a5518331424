//! The launch queue on SQS: one message per audience chunk, sent through [`SqsBatchSender`];
//! a chunk to retry is made visible again with ChangeMessageVisibility.

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use super::sqs::SqsBatchSender;
use crate::campaigns::queue::{ChunkMessage, ChunkQueue};
use crate::error::StoreError;

const STORE: &str = "launch queue";

pub struct SqsChunkQueue {
    sender: SqsBatchSender,
}

impl SqsChunkQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            sender: SqsBatchSender::new(client, queue_url, STORE),
        }
    }
}

#[async_trait]
impl ChunkQueue for SqsChunkQueue {
    async fn enqueue(&self, messages: &[ChunkMessage]) -> Result<(), StoreError> {
        self.sender.send_all(messages).await
    }

    async fn retry_after(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.sender.change_visibility(receipt_handle, delay).await
    }
}

/// The local endpoint never fails single entries; a request-level mock does.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::store::{LaunchId, LaunchKey};
    use crate::domain::{CampaignId, TenantId};
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    fn messages(count: u32) -> Vec<ChunkMessage> {
        (0..count)
            .map(|index| ChunkMessage {
                launch: LaunchKey {
                    tenant_id: TenantId::parse("alpine").unwrap(),
                    campaign_id: CampaignId::parse("spring").unwrap(),
                    launch_id: LaunchId::parse("l1").unwrap(),
                },
                index,
                start: u64::from(index) * 100,
                end: u64::from(index + 1) * 100,
            })
            .collect()
    }

    #[tokio::test]
    async fn messages_go_in_groups_of_ten_and_failed_entries_are_sent_again() {
        let calls = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let rule = {
            let calls = calls.clone();
            mock!(Client::send_message_batch).then_compute_output(move |request| {
                let ids: Vec<String> = request
                    .entries()
                    .iter()
                    .map(|e| e.id().to_string())
                    .collect();
                let first_call = calls.lock().unwrap().is_empty();
                calls.lock().unwrap().push(ids.clone());
                let mut output = SendMessageBatchOutput::builder()
                    .set_successful(Some(Vec::new()))
                    .set_failed(Some(Vec::new()));
                for id in &ids {
                    if first_call && (id == "3" || id == "7") {
                        output = output.failed(
                            BatchResultErrorEntry::builder()
                                .id(id)
                                .sender_fault(false)
                                .code("InternalError")
                                .build()
                                .unwrap(),
                        );
                    } else {
                        output = output.successful(
                            SendMessageBatchResultEntry::builder()
                                .id(id)
                                .message_id(format!("m-{id}"))
                                .md5_of_message_body("x")
                                .build()
                                .unwrap(),
                        );
                    }
                }
                output.build().unwrap()
            })
        };
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let mut queue = SqsChunkQueue::new(client, "https://sqs/launch");
        queue.sender.retry.base_delay = std::time::Duration::from_millis(1);

        queue.enqueue(&messages(23)).await.unwrap();

        let calls = calls.lock().unwrap().clone();
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 2, 10, 3]);
        assert_eq!(calls[1], vec!["3".to_string(), "7".to_string()]);
    }

    #[tokio::test]
    async fn a_retry_changes_the_visibility_of_the_received_message() {
        let rule = mock!(Client::change_message_visibility)
            .match_requests(|request| {
                request.queue_url() == Some("https://sqs/launch")
                    && request.receipt_handle() == Some("receipt-1")
                    && request.visibility_timeout() == Some(95)
            })
            .then_output(|| {
                aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput::builder().build()
            });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let queue = SqsChunkQueue::new(client, "https://sqs/launch");

        queue
            .retry_after("receipt-1", std::time::Duration::from_millis(95_700))
            .await
            .unwrap();

        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_visibility_change_past_twelve_hours_asks_for_twelve() {
        let rule = mock!(Client::change_message_visibility)
            .match_requests(|request| request.visibility_timeout() == Some(43_200))
            .then_output(|| {
                aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput::builder().build()
            });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let queue = SqsChunkQueue::new(client, "https://sqs/launch");

        queue
            .retry_after("r", std::time::Duration::from_secs(100_000))
            .await
            .unwrap();

        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_sender_fault_is_not_retried() {
        let rule = mock!(Client::send_message_batch).then_output(|| {
            SendMessageBatchOutput::builder()
                .set_successful(Some(Vec::new()))
                .failed(
                    BatchResultErrorEntry::builder()
                        .id("0")
                        .sender_fault(true)
                        .code("InvalidParameterValue")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let queue = SqsChunkQueue::new(client, "https://sqs/launch");
        let error = queue.enqueue(&messages(1)).await.unwrap_err();
        assert!(matches!(error, StoreError::Rejected { .. }), "{error:?}");
        assert_eq!(rule.num_calls(), 1);
    }
}
