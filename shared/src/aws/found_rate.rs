//! The delta optimizer's bucket: the found-rate feedback under `availability/feedback/` (listed,
//! then each object streamed as its body arrives) and the run reports under
//! `availability/optimizer/`.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use time::Date;

use super::errors::store_error;
use super::s3::{parse_json, put_json_body, read_object_if_exists};
use crate::availability::optimizer::{
    ChunkStream, FeedbackObject, FoundRateFeedback, OptimizerReport, OptimizerReports, keys,
};
use crate::domain::TenantId;
use crate::error::StoreError;

const FEEDBACK: &str = "feedback bucket";
const REPORTS: &str = "optimizer reports";

/// Build the client with [`super::s3::client`] (path-style addresses on the local endpoint).
pub struct S3FoundRateFeedback {
    client: Client,
    bucket: String,
}

impl S3FoundRateFeedback {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl FoundRateFeedback for S3FoundRateFeedback {
    async fn objects(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Vec<FeedbackObject>, StoreError> {
        let mut objects = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(keys::feedback_prefix(tenant, day))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(FEEDBACK, e))?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(FeedbackObject {
                    key: o.key()?.to_string(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            }));
        }
        // ListObjectsV2 answers in key order already; sorted so the contract does not rest on it.
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn open(
        &self,
        tenant: &TenantId,
        object: &FeedbackObject,
    ) -> Result<ChunkStream, StoreError> {
        if !object
            .key
            .starts_with(&keys::tenant_feedback_prefix(tenant))
        {
            return Err(StoreError::Rejected {
                store: FEEDBACK,
                source: format!("{} is not {tenant}'s", object.key).into(),
            });
        }
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| store_error(FEEDBACK, e))?;
        Ok(Box::pin(body_chunks(response.body)))
    }
}

/// The body's chunks as the connection delivers them; a broken connection mid-body is
/// `Unavailable` (a retry reads the object again).
fn body_chunks(
    body: ByteStream,
) -> impl futures::Stream<Item = Result<Vec<u8>, StoreError>> + Send + 'static {
    futures::stream::unfold(body, |mut body| async move {
        let chunk = body.next().await?;
        let chunk = chunk
            .map(|bytes| bytes.to_vec())
            .map_err(|e| StoreError::Unavailable {
                store: FEEDBACK,
                source: Box::new(e),
            });
        Some((chunk, body))
    })
}

pub struct S3OptimizerReports {
    client: Client,
    bucket: String,
}

impl S3OptimizerReports {
    /// Build the client with [`super::s3::client`].
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

fn report_key(report: &OptimizerReport) -> Result<String, StoreError> {
    let tenant = TenantId::parse(report.tenant.as_str()).map_err(|e| StoreError::Rejected {
        store: REPORTS,
        source: Box::new(e),
    })?;
    let day = keys::parse_day(&report.day).ok_or_else(|| StoreError::Rejected {
        store: REPORTS,
        source: format!("{} is not a yyyy-mm-dd day", report.day).into(),
    })?;
    Ok(keys::report(&tenant, day))
}

#[async_trait]
impl OptimizerReports for S3OptimizerReports {
    async fn put(&self, report: &OptimizerReport) -> Result<(), StoreError> {
        let key = report_key(report)?;
        let body = serde_json::to_vec_pretty(report).map_err(|e| StoreError::Rejected {
            store: REPORTS,
            source: Box::new(e),
        })?;
        put_json_body(&self.client, &self.bucket, key, body, REPORTS).await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Option<OptimizerReport>, StoreError> {
        let key = keys::report(tenant, day);
        read_object_if_exists(&self.client, &self.bucket, &key, REPORTS)
            .await?
            .map(|bytes| parse_json(&key, &bytes, REPORTS))
            .transpose()
    }
}
