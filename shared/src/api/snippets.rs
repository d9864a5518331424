//! `/tenants/{tenant}/snippets`: a retailer's own Liquid snippets, which override the template
//! library's of the same name (or add names) for that retailer's templates only. Every call is
//! scoped by the tenant in the path, checked against the caller before anything is read
//! ([`super::extract::TenantPath`]).

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;

use super::ApiState;
use super::extract::{ApiJson, TenantPath};
use super::problem::{FieldError, Problem};
use crate::domain::TenantId;
use crate::templates::retailer_snippets::{
    LibrarySnippetDetail, LibrarySnippetSummary, SnippetDetail, SnippetError, SnippetSummary,
};

/// A snippet's new source.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnippetUpdate {
    /// Liquid source, at most 32 KiB.
    pub source: String,
}

impl From<SnippetError> for Problem {
    fn from(error: SnippetError) -> Self {
        match error {
            SnippetError::Invalid { field, reason } => Problem::invalid_field(field, reason),
            SnippetError::NotFound { name } => {
                Problem::not_found(format!("no snippet {name} for this retailer"))
            }
            SnippetError::NotInLibrary { name } => {
                Problem::not_found(format!("the template library has no snippet {name}"))
            }
            SnippetError::Liquid {
                line,
                column,
                message,
            } => {
                let mut problem = Problem::invalid_fields(vec![FieldError {
                    field: "source".into(),
                    reason: message,
                    line: line.and_then(|l| u32::try_from(l).ok()),
                    column: column.and_then(|c| u32::try_from(c).ok()),
                }]);
                problem.kind = "https://storecast.dev/problems/template-error".into();
                problem
            }
            other => Problem::from_retryable(&other),
        }
    }
}

/// The name in the path, as every route checks its path parameters: a malformed one is a 400.
fn snippet_name(name: String) -> Result<String, Problem> {
    crate::templates::snippets::check_snippet_name(&name)
        .map_err(|reason| Problem::bad_request(format!("path parameter name: {reason}")))?;
    Ok(name)
}

/// The retailer's own snippets by name, each saying whether it overrides the library's.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/snippets",
    operation_id = "list_snippets",
    tag = "templates",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses((status = 200, description = "The retailer's snippets", body = Vec<SnippetSummary>))
)]
pub async fn list(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
) -> Result<Json<Vec<SnippetSummary>>, Problem> {
    Ok(Json(state.templates.snippets(&tenant).await?))
}

/// One of the retailer's snippets with its source.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/snippets/{name}",
    operation_id = "get_snippet",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("name" = String, Path, description = "1 to 64 of a-z, 0-9, _ and -"),
    ),
    responses((status = 200, description = "The snippet", body = SnippetDetail))
)]
pub async fn get(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<SnippetDetail>, Problem> {
    let name = snippet_name(name)?;
    Ok(Json(state.templates.snippet(&tenant, &name).await?))
}

/// Create or replace a snippet of this retailer. The source must compile with the library's and
/// the retailer's other snippets (a 422 names the line and column otherwise; nothing is
/// stored). Published versions keep the snippets they pinned: the retailer's next publish of a
/// template (a variables save) pins this one where the template reaches it; previews use it at
/// once.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}/snippets/{name}",
    operation_id = "put_snippet",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("name" = String, Path, description = "1 to 64 of a-z, 0-9, _ and -"),
    ),
    request_body = SnippetUpdate,
    responses((status = 200, description = "Saved", body = SnippetDetail))
)]
pub async fn put(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
    ApiJson(update): ApiJson<SnippetUpdate>,
) -> Result<Json<SnippetDetail>, Problem> {
    let name = snippet_name(name)?;
    Ok(Json(
        state
            .templates
            .save_snippet(&tenant, &name, update.source)
            .await?,
    ))
}

/// Delete a snippet of this retailer: the library's of that name, if any, is pinned again from
/// the retailer's next publish.
#[utoipa::path(
    delete,
    path = "/tenants/{tenant}/snippets/{name}",
    operation_id = "delete_snippet",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("name" = String, Path, description = "1 to 64 of a-z, 0-9, _ and -"),
    ),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let name = snippet_name(name)?;
    state.templates.delete_snippet(&tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The template library's snippets (what a retailer's own snippet of the same name replaces),
/// each saying whether this retailer replaces it.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/library/snippets",
    operation_id = "list_library_snippets",
    tag = "templates",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses((status = 200, description = "The library's snippets", body = Vec<LibrarySnippetSummary>))
)]
pub async fn list_library(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
) -> Result<Json<Vec<LibrarySnippetSummary>>, Problem> {
    Ok(Json(state.templates.library_snippets(&tenant).await?))
}

/// One of the template library's snippets with its source: the starting point of a retailer's
/// own version.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/library/snippets/{name}",
    operation_id = "get_library_snippet",
    tag = "templates",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("name" = String, Path, description = "1 to 64 of a-z, 0-9, _ and -"),
    ),
    responses((status = 200, description = "The library's snippet", body = LibrarySnippetDetail))
)]
pub async fn get_library(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<LibrarySnippetDetail>, Problem> {
    let name = snippet_name(name)?;
    Ok(Json(state.templates.library_snippet(&tenant, &name).await?))
}
