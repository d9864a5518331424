//! `RecordStream` on Kinesis PutRecords; `StreamsByName` on one client.

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::errors::stream_error;
use crate::error::{Message, StreamError};
use crate::pipeline::publish::{EntryResult, RecordStream, StreamRecord};
use crate::pipeline::stream_failures::StreamsByName;

pub struct KinesisStream {
    client: Client,
    stream_name: String,
}

impl KinesisStream {
    pub fn new(client: Client, stream_name: impl Into<String>) -> Self {
        Self {
            client,
            stream_name: stream_name.into(),
        }
    }
}

#[async_trait]
impl RecordStream for KinesisStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<EntryResult>, StreamError> {
        let entries = records
            .iter()
            .map(|record| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&record.partition_key)
                    .data(Blob::new(record.data.clone()))
                    .build()
                    .map_err(|e| StreamError::Rejected {
                        stream: self.stream_name.clone(),
                        source: Box::new(e),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .put_records()
            .stream_name(&self.stream_name)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| stream_error(&self.stream_name, e))?;
        let results: Vec<EntryResult> = output
            .records()
            .iter()
            .map(|entry| match entry.error_code() {
                None => EntryResult::Accepted,
                Some(code) => EntryResult::Failed {
                    code: code.to_string(),
                    message: entry.error_message().unwrap_or_default().to_string(),
                },
            })
            .collect();
        if results.len() != records.len() {
            return Err(StreamError::Unavailable {
                stream: self.stream_name.clone(),
                source: Message::boxed(format!(
                    "PutRecords answered {} results for {} records",
                    results.len(),
                    records.len()
                )),
            });
        }
        Ok(results)
    }
}

/// Each stream of the account by name, on one client (a replay puts records back on the stream
/// each came from).
pub struct KinesisStreams {
    client: Client,
}

impl KinesisStreams {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl StreamsByName for KinesisStreams {
    fn stream(&self, name: &str) -> Box<dyn RecordStream> {
        Box::new(KinesisStream::new(self.client.clone(), name))
    }
}
