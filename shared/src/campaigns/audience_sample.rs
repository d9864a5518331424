//! One real customer of an uploaded audience export, for a template preview: picked at random
//! (seeded, so the same seed picks the same customer again) among the well-formed rows of the
//! export's first [`MAX_SAMPLED_BYTES`], read with the engine's own line reader and row parser
//! ([`super::audience`]). Each retailer reads only exports under its own prefix, as the parse
//! report ([`super::audience_check`]) enforces.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};

use super::audience::{AudienceRow, open_chunk, parse_row};
use super::audience_check::{AudienceCheckError, AudienceChecks};
use crate::domain::TenantId;
use crate::error::Retryable;

/// Bytes of the export (decompressed, for a gzip one) a sample is picked from: the rows that
/// start within them. A retailer's first MiB holds thousands of customers, and the answer never
/// waits for the rest of a large export.
pub const MAX_SAMPLED_BYTES: u64 = 1024 * 1024;

/// A customer of the export, with the `email` and `fields` a preview's custom customer takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct AudienceSample {
    /// The row's `id`.
    pub customer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The row's `attributes`: what a template reads as `customer.fields`.
    #[cfg_attr(feature = "api", schema(value_type = Object))]
    pub fields: Map<String, Value>,
    /// The row's subscription consent (a missing answer is no).
    pub consent: SampleConsent,
    /// Whether the row names a push device.
    pub has_push_token: bool,
    /// The row's line in the export (from 1).
    pub line: u64,
    /// The seed the customer was picked with: the same seed picks the same customer again.
    pub seed: u64,
    /// Well-formed rows the customer was picked among.
    pub rows: u64,
    /// Malformed rows skipped.
    pub malformed: u64,
    /// False when the export goes on past the bytes read.
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct SampleConsent {
    pub email: bool,
    pub push: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AudienceSampleError {
    #[error(transparent)]
    Check(#[from] AudienceCheckError),
    /// The bytes read hold no well-formed row.
    #[error(
        "the export holds no customer to pick in its first {MAX_SAMPLED_BYTES} bytes \
         ({malformed} malformed rows)"
    )]
    NoCustomer { malformed: u64 },
}

impl Retryable for AudienceSampleError {
    fn is_retryable(&self) -> bool {
        matches!(self, AudienceSampleError::Check(error) if error.is_retryable())
    }
}

impl AudienceChecks {
    /// A customer of the export at `key` (under the retailer's prefix), picked with `seed`, or
    /// with a random one when none is given.
    #[tracing::instrument(skip(self), fields(tenant_id = %tenant))]
    pub async fn sample(
        &self,
        tenant: &TenantId,
        key: &str,
        seed: Option<u64>,
    ) -> Result<AudienceSample, AudienceSampleError> {
        let location = self.location(tenant, key)?;
        let source = self.source();
        let size = source
            .object_size(&location)
            .await
            .map_err(AudienceCheckError::from)?;
        let range = 0..size.min(MAX_SAMPLED_BYTES);
        let mut lines = open_chunk(source, &location, range)
            .await
            .map_err(AudienceCheckError::from)?;
        let seed = seed.unwrap_or_else(|| rand::rng().random());
        let mut rng = StdRng::seed_from_u64(seed);
        let mut picked: Option<(u64, AudienceRow)> = None;
        let (mut line_number, mut bytes, mut rows, mut malformed) = (0u64, 0u64, 0u64, 0u64);
        let mut complete = true;
        while let Some((_, line)) = lines.next_line().await.map_err(AudienceCheckError::from)? {
            if bytes >= MAX_SAMPLED_BYTES {
                complete = false;
                break;
            }
            line_number += 1;
            bytes += line.len() as u64 + 1;
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let Ok(row) = parse_row(line) else {
                malformed += 1;
                continue;
            };
            rows += 1;
            // Reservoir sampling: the n-th row replaces the pick with probability 1/n.
            if rng.random_range(0..rows) == 0 {
                picked = Some((line_number, row));
            }
        }
        complete &= size <= MAX_SAMPLED_BYTES || location.is_gzip();
        let Some((line, row)) = picked else {
            return Err(AudienceSampleError::NoCustomer { malformed });
        };
        let fields = match serde_json::to_value(&row.attributes) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        tracing::info!(rows, malformed, line, "audience sample picked");
        Ok(AudienceSample {
            customer_id: row.id.as_str().to_string(),
            email: row.email,
            fields,
            consent: SampleConsent {
                email: row.consent.email == Some(true),
                push: row.consent.push == Some(true),
            },
            has_push_token: row.push_token.is_some() || !row.push_tokens.is_empty(),
            line,
            seed,
            rows,
            malformed,
            complete,
        })
    }
}

#[cfg(test)]
#[path = "audience_sample_tests.rs"]
mod tests;
