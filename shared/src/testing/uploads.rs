//! The in-memory upload signer (stands in for `aws::s3_uploads`).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use crate::campaigns::uploads::UploadSigner;
use crate::error::StoreError;

#[derive(Debug, Default)]
pub struct MemoryUploadSigner {
    signed: Mutex<Vec<(String, String)>>,
}

impl MemoryUploadSigner {
    /// The keys signed, with their content types.
    pub fn signed(&self) -> Vec<(String, String)> {
        lock(&self.signed).clone()
    }
}

#[async_trait]
impl UploadSigner for MemoryUploadSigner {
    async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        lifetime: Duration,
    ) -> Result<String, StoreError> {
        lock(&self.signed).push((key.to_string(), content_type.to_string()));
        Ok(format!(
            "https://uploads.invalid/{bucket}/{key}?expires-in={}",
            lifetime.as_secs()
        ))
    }
}
