//! Audience uploads: a retailer's console (or script) asks for somewhere to put its customer
//! export and gets a presigned PUT URL for a fresh key under the retailer's own prefix of the
//! exports bucket, the one place a campaign may read its audience from. The URL is good for one
//! object, for [`UPLOAD_URL_LIFETIME`], with the content type it was signed for.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::clock::Clock;
use crate::domain::TenantId;
use crate::error::StoreError;

/// How long an upload URL may be used.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Where uploads go under the retailer's prefix: `<tenant>/uploads/...`.
pub const UPLOADS_FOLDER: &str = "uploads";

/// Signs a PUT of one object (S3 presigning; no request is made).
#[async_trait]
pub trait UploadSigner: Send + Sync {
    async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        lifetime: Duration,
    ) -> Result<String, StoreError>;
}

/// What the caller asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The export is gzip-compressed JSON lines (the key ends in `.gz`); plain JSON lines
    /// otherwise.
    #[serde(default)]
    pub gzip: bool,
}

/// Where to put the export, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct UploadTarget {
    /// The campaign's `audience.source` once the upload is done.
    pub bucket: String,
    pub key: String,
    /// PUT the file's bytes here, with the `Content-Type` below.
    pub url: String,
    pub method: String,
    pub content_type: String,
    /// RFC 3339: the URL is refused after this.
    pub expires_at: String,
}

pub struct AudienceUploads {
    signer: Arc<dyn UploadSigner>,
    bucket: String,
    clock: Arc<dyn Clock>,
}

impl AudienceUploads {
    pub fn new(
        signer: Arc<dyn UploadSigner>,
        bucket: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            signer,
            bucket: bucket.into(),
            clock,
        }
    }

    /// A new key under `tenant`'s prefix (time-ordered, then random: two uploads never share
    /// one) and the URL to put it with.
    pub async fn new_upload(
        &self,
        tenant: &TenantId,
        request: &UploadRequest,
    ) -> Result<UploadTarget, StoreError> {
        let now = self.clock.now();
        let (extension, content_type) = if request.gzip {
            ("jsonl.gz", "application/gzip")
        } else {
            ("jsonl", "application/x-ndjson")
        };
        let key = format!(
            "{tenant}/{UPLOADS_FOLDER}/{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}.{extension}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            uuid::Uuid::new_v4().simple(),
        );
        let url = self
            .signer
            .presign_put(&self.bucket, &key, content_type, UPLOAD_URL_LIFETIME)
            .await?;
        let expires_at = (now + UPLOAD_URL_LIFETIME)
            .format(&Rfc3339)
            .unwrap_or_default();
        Ok(UploadTarget {
            bucket: self.bucket.clone(),
            key,
            url,
            method: "PUT".into(),
            content_type: content_type.into(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ManualClock, MemoryUploadSigner};

    #[tokio::test]
    async fn an_upload_is_a_fresh_key_under_the_retailers_prefix_signed_for_its_content_type() {
        let signer = Arc::new(MemoryUploadSigner::default());
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-12-07 10:11:12 UTC),
        ));
        let uploads = AudienceUploads::new(signer.clone(), "exports", clock);
        let alpine = TenantId::parse("alpine").unwrap();

        let plain = uploads
            .new_upload(&alpine, &UploadRequest::default())
            .await
            .unwrap();
        let gzip = uploads
            .new_upload(&alpine, &UploadRequest { gzip: true })
            .await
            .unwrap();

        assert!(plain.key.starts_with("alpine/uploads/20261207T101112Z-"));
        assert!(plain.key.ends_with(".jsonl"));
        assert!(gzip.key.ends_with(".jsonl.gz"), "read as one gzip stream");
        assert_ne!(plain.key, gzip.key);
        assert_eq!(plain.expires_at, "2026-12-07T10:26:12Z");
        assert_eq!(
            signer.signed(),
            [
                (plain.key.clone(), "application/x-ndjson".to_string()),
                (gzip.key.clone(), "application/gzip".to_string()),
            ]
        );
        assert_eq!(
            (plain.bucket.as_str(), plain.method.as_str()),
            ("exports", "PUT")
        );
    }
}
