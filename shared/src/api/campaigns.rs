//! `/tenants/{tenant}/campaigns`: create, read, launch and steer campaigns, and their stats.

use axum::Json;
use axum::extract::{Query, State};
use http::{StatusCode, header};
use serde::Deserialize;

use super::ApiState;
use super::extract::{ApiJson, CampaignPath, TenantPath};
use super::problem::Problem;
use crate::campaigns::{
    CampaignError, CampaignPage, CampaignStats, CampaignView, LaunchAccepted, NewCampaign,
};
use crate::domain::{CampaignId, TenantId};

/// Pages of campaigns hold at most this many.
pub const MAX_PAGE_SIZE: usize = 100;
const DEFAULT_PAGE_SIZE: usize = 25;

/// Create a campaign (a draft, until it is launched).
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/campaigns",
    tag = "campaigns",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = NewCampaign,
    responses(
        (status = 201, description = "Created", body = CampaignView,
            headers(("Location" = String, description = "The campaign's URL"))),
        (status = 409, description = "A campaign with this id exists", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<NewCampaign>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<CampaignView>,
    ),
    Problem,
> {
    let campaign = state.campaigns.create(&tenant, request).await?;
    let location = format!("/tenants/{tenant}/campaigns/{}", campaign.campaign_id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(campaign),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// 1 to 100 (default 25).
    pub limit: Option<usize>,
}

/// The retailer's campaigns, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/campaigns",
    operation_id = "list_campaigns",
    tag = "campaigns",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), ListQuery),
    responses((status = 200, description = "A page of campaigns", body = CampaignPage))
)]
pub async fn list(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CampaignPage>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    // A cursor is a query parameter: one that does not parse is a bad request, not a bad body.
    let page = state
        .campaigns
        .list(&tenant, query.cursor, limit)
        .await
        .map_err(|error| match error {
            CampaignError::Invalid(invalid) if invalid.field == "cursor" => {
                Problem::bad_request(format!("cursor: {}", invalid.reason))
            }
            other => other.into(),
        })?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/tenants/{tenant}/campaigns/{campaign}",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses((status = 200, description = "The campaign", body = CampaignView))
)]
pub async fn get(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<Json<CampaignView>, Problem> {
    Ok(Json(state.campaigns.get(&tenant, &campaign).await?))
}

/// Launch: validates, then evaluates the audience in the background (or at the scheduled time,
/// outside the retailer's quiet hours). Answers at once with the launch id.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/campaigns/{campaign}/launch",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses(
        (status = 202, description = "Launch accepted", body = LaunchAccepted),
        (status = 409, description = "The campaign cannot be launched in its state", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn launch(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<(StatusCode, Json<LaunchAccepted>), Problem> {
    let accepted = state.campaigns.launch(&tenant, &campaign).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Hold the campaign's sending: batches not yet sent are parked until it is resumed.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/campaigns/{campaign}/pause",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses(
        (status = 200, description = "Paused", body = CampaignView),
        (status = 409, description = "The campaign cannot be paused in its state", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pause(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<Json<CampaignView>, Problem> {
    Ok(Json(state.campaigns.pause(&tenant, &campaign).await?))
}

/// Sending again: parked batches are redriven.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/campaigns/{campaign}/resume",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses(
        (status = 200, description = "Resumed", body = CampaignView),
        (status = 409, description = "The campaign is not paused", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resume(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<Json<CampaignView>, Problem> {
    Ok(Json(state.campaigns.resume(&tenant, &campaign).await?))
}

/// Stop the campaign for good: nothing more is sent.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/campaigns/{campaign}/cancel",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses(
        (status = 200, description = "Cancelled", body = CampaignView),
        (status = 409, description = "The campaign changed while it was being cancelled: read it and cancel again", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<Json<CampaignView>, Problem> {
    Ok(Json(state.campaigns.cancel(&tenant, &campaign).await?))
}

/// What the pipeline recorded: matched, held out, skipped by reason, sent, failed, parked.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/campaigns/{campaign}/stats",
    tag = "campaigns",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("campaign" = inline(CampaignId), Path, description = "The campaign's id"),
    ),
    responses((status = 200, description = "The campaign's figures", body = CampaignStats))
)]
pub async fn stats(
    CampaignPath(tenant, campaign): CampaignPath,
    State(state): State<ApiState>,
) -> Result<Json<CampaignStats>, Problem> {
    Ok(Json(state.campaigns.stats(&tenant, &campaign).await?))
}
