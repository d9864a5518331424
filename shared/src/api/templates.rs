//! `/tenants/{tenant}/templates/{template}`: the retailer's variables over a standard template's
//! defaults, live preview, and test sends to the retailer's seed list.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use http::{HeaderValue, StatusCode, header};

use super::ApiState;
use super::extract::{ApiJson, TemplatePath};
use super::problem::Problem;
use crate::domain::{TemplateId, TenantId};
use crate::templates::test_send::MAX_TEST_SENDS_PER_MINUTE;
use crate::templates::{
    Preview, PreviewRequest, TemplateVariables, TestSendError, TestSendRequest, TestSent,
};

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

/// Mail the template, rendered exactly as its preview (same draft values, sample customer and
/// offers, render budget), to an address of the retailer's seed list, through the retailer's own
/// workspace. The subject starts with `[TEST] `; the message carries the one-click unsubscribe
/// headers and a working link signed for the seed address. Its feedback touches no campaign.
/// At most 10 test sends a minute per retailer (per API container).
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/templates/{template}/test-send",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("template" = inline(TemplateId), Path, description = "The standard template's id"),
    ),
    request_body = TestSendRequest,
    responses(
        (status = 202, description = "Accepted by the email provider", body = TestSent),
        (status = 409, description = "The retailer's sending is paused or suspended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`to` is not on the seed list or is suppressed, bad draft values, or a template that does not render (`line`, `column`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the retailer's test sends a minute (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn test_send(
    TemplatePath(tenant, template): TemplatePath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<TestSendRequest>,
) -> Result<(StatusCode, Json<TestSent>), Response> {
    let workspace = state
        .onboarding
        .tenant(&tenant)
        .await
        .map_err(|e| Problem::from(e).into_response())?;
    match state.test_sends.send(&workspace, &template, request).await {
        Ok(sent) => Ok((StatusCode::ACCEPTED, Json(sent))),
        Err(TestSendError::TooMany {
            retry_after_seconds,
        }) => {
            let mut response = Problem {
                retryable: true,
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-test-sends",
                    format!(
                        "at most {MAX_TEST_SENDS_PER_MINUTE} test sends a minute; \
                         retry in {retry_after_seconds} s"
                    ),
                )
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            Err(response)
        }
        Err(other) => Err(Problem::from(other).into_response()),
    }
}
