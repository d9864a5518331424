//! `Archive` on S3: parked batches under `parked/`, dead letters under `dead-letter/`; the
//! event source mappings' on-failure destination (`OnFailureObjects`).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::errors::store_error;
use crate::domain::{CampaignId, TenantId};
use crate::error::StoreError;
use crate::pipeline::archive::{Archive, DeadLetter, DeferredBatch, ParkedBatch, keys};
use crate::pipeline::stream_failures::{ON_FAILURE_KEY_PREFIX, OnFailureObjects};

const ARCHIVE: &str = "archive bucket";

pub struct S3Archive {
    client: Client,
    bucket: String,
}

/// S3 clients for the local endpoint need path-style addresses (no per-bucket host names there).
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let local = config.endpoint_url().is_some();
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(local);
    Client::from_conf(builder.build())
}

/// Every key under `prefix`, page by page.
pub(super) async fn list_keys(
    client: &Client,
    bucket: &str,
    prefix: &str,
    store: &'static str,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| store_error(store, e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

async fn read_object(
    client: &Client,
    bucket: &str,
    key: &str,
    store: &'static str,
) -> Result<Vec<u8>, StoreError> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| store_error(store, e))?;
    collect_body(object.body, store).await
}

/// The whole object; `None` when there is no such key.
#[cfg(feature = "availability")]
pub(super) async fn read_object_if_exists(
    client: &Client,
    bucket: &str,
    key: &str,
    store: &'static str,
) -> Result<Option<Vec<u8>>, StoreError> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => collect_body(object.body, store).await.map(Some),
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(error) => Err(store_error(store, error)),
    }
}

async fn collect_body(body: ByteStream, store: &'static str) -> Result<Vec<u8>, StoreError> {
    let bytes = body.collect().await.map_err(|e| StoreError::Unavailable {
        store,
        source: Box::new(e),
    })?;
    Ok(bytes.into_bytes().to_vec())
}

/// `bytes` of `key` as a JSON document.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
    store: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        store,
        reason: format!("{key}: {e}"),
    })
}

/// `value` serialised as JSON (compact), under `key`.
pub(super) async fn put_json(
    client: &Client,
    bucket: &str,
    key: String,
    value: &impl serde::Serialize,
    store: &'static str,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec(value).map_err(|e| StoreError::Rejected {
        store,
        source: Box::new(e),
    })?;
    put_json_body(client, bucket, key, body, store).await
}

/// A JSON document already serialised, under `key`.
pub(super) async fn put_json_body(
    client: &Client,
    bucket: &str,
    key: String,
    body: Vec<u8>,
    store: &'static str,
) -> Result<(), StoreError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| store_error(store, e))?;
    Ok(())
}

async fn delete_object(
    client: &Client,
    bucket: &str,
    key: &str,
    store: &'static str,
) -> Result<(), StoreError> {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| store_error(store, e))?;
    Ok(())
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    async fn put_json(&self, key: String, value: &impl serde::Serialize) -> Result<(), StoreError> {
        self::put_json(&self.client, &self.bucket, key, value, ARCHIVE).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        list_keys(&self.client, &self.bucket, prefix, ARCHIVE).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, StoreError> {
        let bytes = read_object(&self.client, &self.bucket, key, ARCHIVE).await?;
        parse_json(key, &bytes, ARCHIVE)
    }
}

#[async_trait]
impl Archive for S3Archive {
    async fn park(&self, parked: &ParkedBatch) -> Result<(), StoreError> {
        self.put_json(keys::parked_batch(&parked.batch), parked)
            .await
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let key = keys::dead_letter(&letter.source, letter.tenant_id.as_deref(), &id);
        self.put_json(key, letter).await
    }

    async fn parked(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        let mut parked = Vec::new();
        for key in self.list(&keys::parked_prefix(tenant, campaign)).await? {
            let batch = self.get_json(&key).await?;
            parked.push((key, batch));
        }
        Ok(parked)
    }

    async fn parked_page(
        &self,
        tenant: &TenantId,
        campaign: Option<&CampaignId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ParkedBatch)>, StoreError> {
        // One ListObjectsV2 page: keys come in order, StartAfter resumes past the last one.
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(keys::parked_prefix(tenant, campaign))
            .set_start_after(after.map(str::to_string))
            .max_keys(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| store_error(ARCHIVE, e))?;
        let mut page = Vec::with_capacity(output.contents().len());
        for key in output.contents().iter().filter_map(|o| o.key()) {
            page.push((key.to_string(), self.get_json(key).await?));
        }
        Ok(page)
    }

    async fn remove_parked(&self, key: &str) -> Result<(), StoreError> {
        delete_object(&self.client, &self.bucket, key, ARCHIVE).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters = Vec::new();
        for key in self.list("dead-letter/").await? {
            letters.push(self.get_json(&key).await?);
        }
        Ok(letters)
    }

    async fn defer(&self, deferred: &DeferredBatch) -> Result<(), StoreError> {
        let key = keys::deferred_key(deferred).ok_or_else(|| StoreError::Rejected {
            store: ARCHIVE,
            source: crate::error::Message::boxed("a deferral with neither a batch nor an outcome"),
        })?;
        self.put_json(key, deferred).await
    }

    async fn due_deferred(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(String, DeferredBatch)>, StoreError> {
        let mut due = Vec::new();
        // Keys sort by when they are due: list from the start, stop at the first not yet due.
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(keys::DEFERRED_PREFIX)
            .into_paginator()
            .send();
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(ARCHIVE, e))?;
            for key in page.contents().iter().filter_map(|o| o.key()) {
                if due.len() >= limit || keys::deferred_due(key).is_none_or(|at| at > now) {
                    break 'pages;
                }
                due.push((key.to_string(), self.get_json(key).await?));
            }
        }
        Ok(due)
    }
}

const STREAM_FAILURES: &str = "stream failures bucket";

/// The bucket Lambda writes what the Kinesis event source mappings give up on.
pub struct S3OnFailureObjects {
    client: Client,
    bucket: String,
}

impl S3OnFailureObjects {
    /// Build the client with [`client`] (path-style addresses on the local endpoint).
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl OnFailureObjects for S3OnFailureObjects {
    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        list_keys(
            &self.client,
            &self.bucket,
            ON_FAILURE_KEY_PREFIX,
            STREAM_FAILURES,
        )
        .await
    }

    async fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        read_object(&self.client, &self.bucket, key, STREAM_FAILURES).await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        delete_object(&self.client, &self.bucket, key, STREAM_FAILURES).await
    }
}

#[cfg(feature = "campaigns")]
const AUDIENCE: &str = "audience export";

/// The retailers' customer exports on S3, read with ranged GetObject calls.
#[cfg(feature = "campaigns")]
#[derive(Clone)]
pub struct S3AudienceSource {
    client: Client,
}

#[cfg(feature = "campaigns")]
impl S3AudienceSource {
    /// Build the client with [`client`] (path-style addresses on the local endpoint).
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[cfg(feature = "campaigns")]
#[async_trait]
impl crate::campaigns::AudienceSource for S3AudienceSource {
    async fn object_size(
        &self,
        location: &crate::campaigns::AudienceLocation,
    ) -> Result<u64, StoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| store_error(AUDIENCE, e))?;
        let length = head.content_length().unwrap_or_default();
        u64::try_from(length).map_err(|_| StoreError::Corrupt {
            store: AUDIENCE,
            reason: format!("negative content length {length}"),
        })
    }

    async fn read_range(
        &self,
        location: &crate::campaigns::AudienceLocation,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if end_exclusive <= start {
            return Ok(Vec::new());
        }
        let object = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .range(format!("bytes={start}-{}", end_exclusive - 1))
            .send()
            .await
            .map_err(|e| store_error(AUDIENCE, e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                store: AUDIENCE,
                source: Box::new(e),
            })?;
        Ok(bytes.into_bytes().to_vec())
    }
}
