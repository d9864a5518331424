//! `/tenants/{tenant}/templates/{template}`: the retailer's variables over a standard template's
//! defaults, and live preview.

use axum::Json;
use axum::extract::State;

use super::ApiState;
use super::extract::{ApiJson, TemplatePath};
use super::problem::Problem;
use crate::domain::{TemplateId, TenantId};
use crate::templates::{Preview, PreviewRequest, TemplateVariables};

/// The retailer's values for a template's variables; `null` resets one to its default.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariablesUpdate {
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// The template's variables: their types and defaults, the retailer's values, and the values in
/// effect.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/templates/{template}/variables",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("template" = inline(TemplateId), Path, description = "The standard template's id"),
    ),
    responses((status = 200, description = "The variables", body = TemplateVariables))
)]
pub async fn get_variables(
    TemplatePath(tenant, template): TemplatePath,
    State(state): State<ApiState>,
) -> Result<Json<TemplateVariables>, Problem> {
    Ok(Json(state.templates.variables(&tenant, &template).await?))
}

/// Replace the retailer's values. Unknown variables and values of the wrong type are refused;
/// the template must render with the new values. Publishes a new version: delivery uses it
/// within a minute.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}/templates/{template}/variables",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("template" = inline(TemplateId), Path, description = "The standard template's id"),
    ),
    request_body = VariablesUpdate,
    responses((status = 200, description = "Saved and published", body = TemplateVariables))
)]
pub async fn put_variables(
    TemplatePath(tenant, template): TemplatePath,
    State(state): State<ApiState>,
    ApiJson(update): ApiJson<VariablesUpdate>,
) -> Result<Json<TemplateVariables>, Problem> {
    Ok(Json(
        state
            .templates
            .set_variables(&tenant, &template, update.variables)
            .await?,
    ))
}

/// Render the email (subject, HTML, text) and push notification exactly as delivery would, with
/// draft variable values and an optional sample customer and offers. Nothing is saved.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/templates/{template}/preview",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("template" = inline(TemplateId), Path, description = "The standard template's id"),
    ),
    request_body = PreviewRequest,
    responses((status = 200, description = "The rendered message", body = Preview))
)]
pub async fn preview(
    TemplatePath(tenant, template): TemplatePath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>, Problem> {
    let workspace = state.onboarding.tenant(&tenant).await?;
    Ok(Json(
        state
            .templates
            .preview(&workspace, &template, request)
            .await?,
    ))
}
