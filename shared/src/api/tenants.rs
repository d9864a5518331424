//! `/tenants/{tenant}`: onboarding (operators) and the retailer's own settings.

use axum::Json;
use axum::extract::State;
use http::StatusCode;

use super::ApiState;
use super::auth::{Caller, Role};
use super::extract::{ApiJson, OperatorOnly, PushPlatformPath, TenantPath};
use super::problem::Problem;
use crate::domain::{PushPlatform, TenantId, TenantWorkspace};
use crate::onboarding::push::PushApplicationRequest;
use crate::onboarding::{Reinstated, TenantPatch, TenantRequest};

/// Onboard a retailer, or update its onboarding: provisions its isolated SES workspace
/// (configuration set with event destination and reputation metrics, SES tenant, from-address
/// under the central sending domain). Safe to call again.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}",
    tag = "tenants",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = TenantRequest,
    responses(
        (status = 201, description = "Onboarded", body = TenantWorkspace),
        (status = 200, description = "Already onboarded; updated", body = TenantWorkspace),
        (status = 409, description = "The slug belongs to another retailer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_tenant(
    _operator: OperatorOnly,
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<TenantRequest>,
) -> Result<(StatusCode, Json<TenantWorkspace>), Problem> {
    let (workspace, created) = state.onboarding.put_tenant(&tenant, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(workspace)))
}

/// The retailer's workspace and settings.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}",
    tag = "tenants",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses((status = 200, description = "The retailer", body = TenantWorkspace))
)]
pub async fn get_tenant(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
) -> Result<Json<TenantWorkspace>, Problem> {
    Ok(Json(state.onboarding.tenant(&tenant).await?))
}

/// Change the retailer's brand variables (JSON merge patch: `null` removes a key), time zone,
/// quiet hours, frequency cap or warm-up plan; operators also the display name. Only the
/// settings (and display name) are written, on condition that they are still those read, so a
/// concurrent suspend is never undone.
#[utoipa::path(
    patch,
    path = "/tenants/{tenant}",
    tag = "tenants",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body(content = TenantPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated retailer", body = TenantWorkspace),
        (status = 403, description = "Another retailer, or a marketer naming a field only operators change (`display_name`, `status`; type `.../operator-only-field`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The settings kept changing concurrently; read and try again", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch_tenant(
    TenantPath(tenant): TenantPath,
    caller: Caller,
    State(state): State<ApiState>,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> Result<Json<TenantWorkspace>, Problem> {
    let operator_fields = patch.operator_fields();
    if caller.role != Role::Operator && !operator_fields.is_empty() {
        return Err(Problem::operator_only_fields(&operator_fields));
    }
    Ok(Json(state.onboarding.patch_tenant(&tenant, patch).await?))
}

/// Stop the retailer's sending (at SES too); its batches are parked until it is reinstated.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/suspend",
    tag = "tenants",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses((status = 200, description = "Suspended", body = TenantWorkspace))
)]
pub async fn suspend_tenant(
    _operator: OperatorOnly,
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
) -> Result<Json<TenantWorkspace>, Problem> {
    Ok(Json(state.onboarding.suspend(&tenant).await?))
}

/// Let the retailer send again; its parked batches are redriven by a job (its first slice now,
/// the rest on the scheduler's minute tick), whose progress the answer shows.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/reinstate",
    tag = "tenants",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses((status = 200, description = "Reinstated", body = Reinstated))
)]
pub async fn reinstate_tenant(
    _operator: OperatorOnly,
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
) -> Result<Json<Reinstated>, Problem> {
    Ok(Json(state.onboarding.reinstate(&tenant).await?))
}

/// Create the retailer's push application on a platform (an Amazon SNS platform application
/// named after the retailer), or replace its credentials; its ARN is kept in the workspace and
/// only that retailer's pushes go through it. FCM takes `service_account_json` (HTTP v1); APNs
/// and the APNs sandbox take token authentication (`signing_key`, `key_id`, `team_id`,
/// `bundle_id`). The credentials are passed to SNS only: never stored by us, never logged.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}/push/{platform}",
    tag = "tenants",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("platform" = inline(PushPlatform), Path, description = "The push platform"),
    ),
    request_body = PushApplicationRequest,
    responses(
        (status = 200, description = "The retailer, with its push applications", body = TenantWorkspace),
        (status = 409, description = "Push applications are not configured on this deployment", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_push_application(
    _operator: OperatorOnly,
    PushPlatformPath(tenant, platform): PushPlatformPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<PushApplicationRequest>,
) -> Result<Json<TenantWorkspace>, Problem> {
    Ok(Json(
        state
            .onboarding
            .put_push_application(&tenant, platform, request)
            .await?,
    ))
}
