//! `/tenants/{tenant}/audiences/uploads`: where a retailer puts a customer export for its
//! campaigns, as a presigned PUT URL under its own prefix of the exports bucket; and
//! `/tenants/{tenant}/audiences/report`: what an uploaded export holds, as a launch reads it;
//! and `/tenants/{tenant}/audiences/sample`: one of its customers, for a template preview.

use axum::Json;
use axum::extract::{Query, State};
use http::StatusCode;
use serde::Deserialize;

use super::ApiState;
use super::extract::{ApiJson, TenantPath};
use super::problem::Problem;
use crate::campaigns::audience_check::{AudienceCheck, AudienceCheckError};
use crate::campaigns::audience_sample::{AudienceSample, AudienceSampleError, MAX_SAMPLED_BYTES};
use crate::campaigns::uploads::{UploadRequest, UploadTarget};
use crate::domain::TenantId;

/// A URL to upload a customer export (JSON lines, or gzip-compressed JSON lines) to; once the
/// PUT succeeds, a campaign names `{bucket, key}` as its `audience.source`.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/audiences/uploads",
    tag = "campaigns",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = UploadRequest,
    responses(
        (status = 201, description = "Where and how to upload, valid for 15 minutes", body = UploadTarget),
    )
)]
pub async fn create_upload(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<UploadRequest>,
) -> Result<(StatusCode, Json<UploadTarget>), Problem> {
    let target = state
        .audience_uploads
        .new_upload(&tenant, &request)
        .await
        .map_err(|error| Problem::from_retryable(&error))?;
    Ok((StatusCode::CREATED, Json(target)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The export's key in the exports bucket (an upload's `key`), under the retailer's prefix.
    pub key: String,
}

/// The parse report of an export in the exports bucket: its rows, those with email or push
/// reachable, and the malformed ones (the first 20 with their line and reason), read with the
/// campaigns engine's own reader, so a launch counts the same rows malformed. At most 200,000
/// lines or 128 MiB are read (`complete` is false past them).
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/audiences/report",
    operation_id = "report_audience",
    tag = "campaigns",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), ReportQuery),
    responses(
        (status = 200, description = "What the export holds", body = AudienceCheck),
        (status = 400, description = "No `key`, or one outside the retailer's prefix", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No export at that key (not uploaded yet?)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn report(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AudienceCheck>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    match state.audience_checks.check(&tenant, &query.key).await {
        Ok(report) => Ok(Json(report)),
        Err(error) => Err(check_problem(error)),
    }
}

fn check_problem(error: AudienceCheckError) -> Problem {
    match error {
        AudienceCheckError::Key(reason) => Problem::bad_request(format!("key: {reason}")),
        AudienceCheckError::Unreadable(_) => {
            Problem::not_found("no export can be read at that key")
        }
        error => Problem::from_retryable(&error),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// The export's key in the exports bucket (an upload's `key`), under the retailer's prefix.
    pub key: String,
    /// Picks the same customer again; a random one when absent (the answer's `seed` says which).
    pub seed: Option<u64>,
}

/// One customer of an export in the exports bucket, for a template preview: its `email` and
/// `fields` are a preview's `customer`. Picked at random (or with `seed`) among the well-formed
/// rows that start in the export's first MiB (`MAX_SAMPLED_BYTES`), read with the campaigns
/// engine's own reader; malformed rows are skipped.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/audiences/sample",
    operation_id = "sample_audience",
    tag = "campaigns",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), SampleQuery),
    responses(
        (status = 200, description = "A customer of the export", body = AudienceSample),
        (status = 400, description = "No `key`, or one outside the retailer's prefix", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No export at that key (not uploaded yet?)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The export's first MiB holds no well-formed row", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sample(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    query: Result<Query<SampleQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AudienceSample>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let sample = state
        .audience_checks
        .sample(&tenant, &query.key, query.seed);
    match sample.await {
        Ok(sample) => Ok(Json(sample)),
        Err(AudienceSampleError::Check(error)) => Err(check_problem(error)),
        Err(AudienceSampleError::NoCustomer { malformed }) => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "audience-without-customers",
            format!(
                "the export holds no well-formed customer row in its first {MAX_SAMPLED_BYTES} \
                 bytes ({malformed} malformed rows skipped)"
            ),
        )),
    }
}
