//! `/tenants/{tenant}/audiences/uploads`: where a retailer puts a customer export for its
//! campaigns, as a presigned PUT URL under its own prefix of the exports bucket.

use axum::Json;
use axum::extract::State;
use http::StatusCode;

use super::ApiState;
use super::extract::{ApiJson, TenantPath};
use super::problem::Problem;
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
