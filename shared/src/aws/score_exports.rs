//! `ExportStore` on S3: the warehouse's unloads under `availability/exports/`, read with ranged
//! GetObject calls, and the sync's run records under `availability/runs/`, in one bucket, laid
//! out by `availability::sync::export::keys`.

use async_trait::async_trait;
use aws_sdk_s3::Client;

use super::errors::store_error;
use super::s3::{list_keys, parse_json, read_object_if_exists};
use crate::availability::sync::export::keys;
use crate::availability::sync::{ExportStore, RunRecord, UnitReport};
use crate::domain::{ExportId, TenantId};
use crate::error::StoreError;

const STORE: &str = "exports bucket";

pub struct S3ExportStore {
    client: Client,
    bucket: String,
}

impl S3ExportStore {
    /// Build the client with `aws::s3::client` (path-style addresses on the local endpoint).
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The whole object; `None` when there is no such key.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read_object_if_exists(&self.client, &self.bucket, key, STORE).await
    }

    async fn put_json(&self, key: String, value: &impl serde::Serialize) -> Result<(), StoreError> {
        super::s3::put_json(&self.client, &self.bucket, key, value, STORE).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(key)
            .await?
            .map(|bytes| parse_json(key, &bytes, STORE))
            .transpose()
    }
}

#[async_trait]
impl ExportStore for S3ExportStore {
    async fn exports(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError> {
        let prefix = keys::exports_prefix(tenant);
        let listed = list_keys(&self.client, &self.bucket, &prefix, STORE).await?;
        Ok(listed
            .iter()
            .filter_map(|key| keys::export_of_manifest(tenant, key))
            .collect())
    }

    async fn manifest(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&keys::manifest(tenant, export)).await
    }

    async fn object_size(&self, key: &str) -> Result<u64, StoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| store_error(STORE, e))?;
        let length = head.content_length().unwrap_or_default();
        u64::try_from(length).map_err(|_| StoreError::Corrupt {
            store: STORE,
            reason: format!("negative content length {length}"),
        })
    }

    async fn read_range(
        &self,
        key: &str,
        start: u64,
        end_exclusive: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if end_exclusive <= start {
            return Ok(Vec::new());
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", end_exclusive - 1))
            .send()
            .await;
        let object = match object {
            Ok(object) => object,
            // A range starting at or past the end: nothing there, as the port promises.
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 416) =>
            {
                return Ok(Vec::new());
            }
            Err(error) => return Err(store_error(STORE, error)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                store: STORE,
                source: Box::new(e),
            })?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn runs(&self, tenant: &TenantId) -> Result<Vec<ExportId>, StoreError> {
        let prefix = keys::runs_prefix(tenant);
        let listed = list_keys(&self.client, &self.bucket, &prefix, STORE).await?;
        Ok(listed
            .iter()
            .filter_map(|key| keys::export_of_run(tenant, key))
            .collect())
    }

    async fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.put_json(keys::run(&run.tenant_id, &run.export_id), run)
            .await
    }

    async fn run(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Option<RunRecord>, StoreError> {
        self.get_json(&keys::run(tenant, export)).await
    }

    async fn put_unit_report(&self, report: &UnitReport) -> Result<(), StoreError> {
        let key = keys::unit_report(&report.tenant_id, &report.export_id, report.unit);
        self.put_json(key, report).await
    }

    async fn unit_reports(
        &self,
        tenant: &TenantId,
        export: &ExportId,
    ) -> Result<Vec<UnitReport>, StoreError> {
        let prefix = keys::unit_reports_prefix(tenant, export);
        let mut reports = Vec::new();
        for key in list_keys(&self.client, &self.bucket, &prefix, STORE).await? {
            reports.extend(self.get_json(&key).await?);
        }
        Ok(reports)
    }
}
