//! Presigned PUT URLs for audience uploads (`campaigns::uploads`): signed with the API
//! function's credentials, so the role's `s3:PutObject` on the uploads prefix is what they
//! allow; the content type is part of the signature.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;

use super::errors::store_error;
use crate::campaigns::uploads::UploadSigner;
use crate::error::StoreError;

const EXPORTS: &str = "exports bucket";

pub struct S3UploadSigner {
    client: Client,
}

impl S3UploadSigner {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl UploadSigner for S3UploadSigner {
    async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        lifetime: Duration,
    ) -> Result<String, StoreError> {
        let config =
            PresigningConfig::expires_in(lifetime).map_err(|error| StoreError::Rejected {
                store: EXPORTS,
                source: Box::new(error),
            })?;
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|error| store_error(EXPORTS, error))?;
        Ok(request.uri().to_string())
    }
}
