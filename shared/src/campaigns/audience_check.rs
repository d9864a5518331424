//! The parse report of an uploaded audience export, before any campaign uses it: read with the
//! engine's own line reader and row parser ([`super::audience`]), so a row reported malformed
//! here is one a launch would count malformed, for the same reason. Bounded: at most
//! [`MAX_CHECKED_LINES`] lines and [`MAX_CHECKED_BYTES`] bytes are read, so a report answers
//! well within API Gateway's 29 s; past either, the report says it stopped and where.

use std::sync::Arc;

use serde::Serialize;

use super::audience::{open_chunk, parse_row};
use super::definition::AudienceLocation;
use super::ports::AudienceSource;
use crate::domain::{TenantId, check_email_address, check_push_token, normalise_address};
use crate::error::{Retryable, StoreError};

/// Lines read at most. The unit test checks 200,000 short rows in under a second in a debug
/// build; the API's answer also waits for the bytes from S3 (128 MiB at most, below), so the
/// check stays a fraction of API Gateway's 29 s.
pub const MAX_CHECKED_LINES: u64 = 200_000;
/// Bytes of the export (decompressed, for a gzip one) read at most.
pub const MAX_CHECKED_BYTES: u64 = 128 * 1024 * 1024;
/// Malformed rows listed with their line and reason; the rest are only counted.
pub const MAX_LISTED_MALFORMED: usize = 20;
/// A reason is cut to this many characters (serde's messages quote the input).
const MAX_REASON_CHARS: usize = 300;

/// What an export holds, as a launch would read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct AudienceCheck {
    pub bucket: String,
    pub key: String,
    /// The object's size in bytes (compressed, for a gzip export).
    pub size: u64,
    /// Lines read, blank ones included (a malformed row's `line` counts them).
    pub lines: u64,
    /// Rows read: lines that are not blank.
    pub rows: u64,
    /// Rows a launch would count malformed (not a customer record, an attribute or candidate
    /// of the wrong type, an email address or push token that cannot be one).
    pub malformed: u64,
    /// Rows with email consent and an address.
    pub email_reachable: u64,
    /// Rows with push consent and a device token.
    pub push_reachable: u64,
    /// The first malformed rows, in line order.
    pub malformed_rows: Vec<MalformedLine>,
    /// False when the check stopped at [`MAX_CHECKED_LINES`] or [`MAX_CHECKED_BYTES`]: the
    /// counts are of the lines read.
    pub complete: bool,
}

/// A malformed row: its line number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct MalformedLine {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AudienceCheckError {
    /// The key is not under the retailer's own prefix.
    #[error("key: {0}")]
    Key(String),
    /// No export there (not uploaded yet, or another key), or one that cannot be read.
    #[error("the export cannot be read: {0}")]
    Unreadable(#[source] StoreError),
    #[error(transparent)]
    Store(StoreError),
}

impl Retryable for AudienceCheckError {
    fn is_retryable(&self) -> bool {
        matches!(self, AudienceCheckError::Store(error) if error.is_retryable())
    }
}

impl From<StoreError> for AudienceCheckError {
    fn from(error: StoreError) -> Self {
        if error.is_retryable() {
            AudienceCheckError::Store(error)
        } else {
            AudienceCheckError::Unreadable(error)
        }
    }
}

/// Reports on exports in the exports bucket, each retailer's under its own prefix only.
pub struct AudienceChecks {
    source: Arc<dyn AudienceSource>,
    bucket: String,
}

impl AudienceChecks {
    pub fn new(source: Arc<dyn AudienceSource>, bucket: impl Into<String>) -> Self {
        Self {
            source,
            bucket: bucket.into(),
        }
    }

    /// The export at `key`, which must be under the retailer's own prefix.
    pub(crate) fn location(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<AudienceLocation, AudienceCheckError> {
        let prefix = format!("{tenant}/");
        if !key.starts_with(&prefix) || key.contains("..") {
            return Err(AudienceCheckError::Key(format!("must start with {prefix}")));
        }
        Ok(AudienceLocation {
            bucket: self.bucket.clone(),
            key: key.to_string(),
        })
    }

    pub(crate) fn source(&self) -> &dyn AudienceSource {
        self.source.as_ref()
    }

    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn check(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<AudienceCheck, AudienceCheckError> {
        let location = self.location(tenant, key)?;
        let size = self.source.object_size(&location).await?;
        let mut lines = open_chunk(self.source.as_ref(), &location, 0..size).await?;
        let mut report = AudienceCheck {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            size,
            complete: true,
            ..AudienceCheck::default()
        };
        let mut bytes = 0u64;
        while let Some((_, line)) = lines.next_line().await? {
            if report.lines >= MAX_CHECKED_LINES || bytes >= MAX_CHECKED_BYTES {
                report.complete = false;
                break;
            }
            report.lines += 1;
            bytes += line.len() as u64 + 1;
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            report.rows += 1;
            if let Err(reason) = count_row(line, &mut report) {
                report.malformed += 1;
                if report.malformed_rows.len() < MAX_LISTED_MALFORMED {
                    let reason = reason.chars().take(MAX_REASON_CHARS).collect();
                    let line = report.lines;
                    report.malformed_rows.push(MalformedLine { line, reason });
                }
            }
        }
        tracing::info!(
            rows = report.rows,
            malformed = report.malformed,
            complete = report.complete,
            "audience export checked"
        );
        Ok(report)
    }
}

/// Counts a well-formed row's reachable channels; the error is why the row is malformed.
fn count_row(line: &[u8], report: &mut AudienceCheck) -> Result<(), String> {
    let row = parse_row(line)?;
    let email = row.email.as_deref().map(normalise_address);
    let email = email.filter(|a| !a.is_empty() && row.consent.email == Some(true));
    if let Some(address) = &email {
        check_email_address(address).map_err(|e| e.to_string())?;
    }
    let token = row.push_tokens.first().map(|d| d.token.as_str());
    let token = token.or(row.push_token.as_deref()).map(normalise_address);
    let token = token.filter(|t| !t.is_empty() && row.consent.push == Some(true));
    if let Some(token) = &token {
        check_push_token(token).map_err(|e| e.to_string())?;
    }
    report.email_reachable += u64::from(email.is_some());
    report.push_reachable += u64::from(token.is_some());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryAudienceSource;

    fn checks(text: &str) -> AudienceChecks {
        let source = Arc::new(MemoryAudienceSource::default());
        source.put(
            &AudienceLocation {
                bucket: "exports".into(),
                key: "alpine/uploads/a.jsonl".into(),
            },
            text.as_bytes().to_vec(),
        );
        AudienceChecks::new(source, "exports")
    }

    fn alpine() -> TenantId {
        TenantId::parse("alpine").unwrap()
    }

    #[tokio::test]
    async fn counts_rows_and_lists_malformed_ones_with_their_line_and_reason() {
        let text = [
            r#"{"id": "c1", "email": "a@x.test", "consent": {"email": true}}"#,
            "",
            r#"{"id": "c2", "email": "b@x.test", "consent": {"email": false, "push": true}, "push_token": "t2"}"#,
            r#"{"id": "c3", "email": "not an address", "consent": {"email": true}}"#,
            r#"{"id": "c4", "attributes": [1]}"#,
            r#"{"id": "broken"#,
            r#"{"id": "c5", "push_tokens": [{"platform": "fcm", "token": "tok"}], "consent": {"push": true}}"#,
        ]
        .join("\n");
        let report = checks(&text)
            .check(&alpine(), "alpine/uploads/a.jsonl")
            .await
            .unwrap();
        assert_eq!((report.lines, report.rows, report.malformed), (7, 6, 3));
        assert!(report.complete);
        assert_eq!(report.email_reachable, 1);
        assert_eq!(report.push_reachable, 2);
        let lines: Vec<u64> = report.malformed_rows.iter().map(|m| m.line).collect();
        assert_eq!(lines, [4, 5, 6], "{:?}", report.malformed_rows);
        assert!(report.malformed_rows[1].reason.contains("attributes"));
        assert_eq!(report.size, text.len() as u64);
    }

    #[tokio::test]
    async fn another_retailers_key_is_refused_before_anything_is_read() {
        let checks = checks("{}");
        for key in [
            "harbor/uploads/a.jsonl",
            "alpine/../harbor/a.jsonl",
            "alpine",
        ] {
            let error = checks.check(&alpine(), key).await.unwrap_err();
            assert!(
                matches!(error, AudienceCheckError::Key(_)),
                "{key}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_export_is_unreadable_not_retryable() {
        let error = checks("{}")
            .check(&alpine(), "alpine/uploads/none.jsonl")
            .await
            .unwrap_err();
        assert!(
            matches!(error, AudienceCheckError::Unreadable(_)),
            "{error:?}"
        );
        assert!(!error.is_retryable());
    }

    #[tokio::test]
    async fn the_check_stops_at_its_line_limit_and_says_so() {
        let row = r#"{"id": "c", "email": "a@x.test", "consent": {"email": true}}"#;
        let text = format!("{row}\n").repeat(MAX_CHECKED_LINES as usize + 5);
        let report = checks(&text)
            .check(&alpine(), "alpine/uploads/a.jsonl")
            .await
            .unwrap();
        assert!(!report.complete);
        assert_eq!(report.lines, MAX_CHECKED_LINES);
        assert_eq!(report.email_reachable, MAX_CHECKED_LINES);
    }
}
