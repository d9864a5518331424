//! `/tenants/{tenant}/suppressions`: a retailer's suppression list, listed by page, added to,
//! removed from and imported into. Every call is scoped by the tenant in the path, checked
//! against the caller before anything is read ([`super::extract::TenantPath`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::extract::TenantPath;
use super::problem::Problem;
use crate::deliverability::import::{ImportError, ImportReport, import_csv};
use crate::deliverability::suppression::{MAX_SUPPRESSION_PAGE, Suppression, SuppressionReason};
use crate::domain::{TenantId, check_email_address, normalise_address};

/// Entries a page holds when the caller does not say.
pub const DEFAULT_PAGE_LIMIT: usize = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The last address of the previous page (its `next_after`).
    pub after: Option<String>,
    /// At most this many entries (1 to 1000, default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuppressionListPage {
    pub entries: Vec<Suppression>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// The retailer's suppressed addresses in address order, a page at a time, each with its reason
/// and since when.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/suppressions",
    operation_id = "list_suppressions",
    tag = "suppressions",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), PageQuery),
    responses((status = 200, description = "One page", body = SuppressionListPage))
)]
pub async fn list(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SuppressionListPage>, Problem> {
    // A query that does not parse is a problem document like every other refusal.
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_SUPPRESSION_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be 1 to {MAX_SUPPRESSION_PAGE}"
        )));
    }
    let page = state
        .suppressions
        .page(&tenant, query.after.as_deref(), limit)
        .await
        .map_err(|e| Problem::from_retryable(&e))?;
    Ok(Json(SuppressionListPage {
        entries: page.entries,
        next_after: page.next_after,
    }))
}

/// Suppress one address for this retailer (reason `MANUAL`). An address already on the list
/// keeps its first reason and time.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}/suppressions/{address}",
    tag = "suppressions",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("address" = String, Path, description = "The email address (normalised to lower case)"),
    ),
    responses(
        (status = 201, description = "Added", body = Suppression),
        (status = 200, description = "Already on the list; unchanged", body = Suppression),
    )
)]
pub async fn add(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, address)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Suppression>), Problem> {
    let address = path_address(&address)?;
    let entry = Suppression {
        address: address.clone(),
        reason: SuppressionReason::Manual,
        since: time::OffsetDateTime::now_utc().unix_timestamp(),
        detail: None,
    };
    let store = |e: crate::error::StoreError| Problem::from_retryable(&e);
    if state
        .suppressions
        .add(&tenant, &entry)
        .await
        .map_err(store)?
    {
        return Ok((StatusCode::CREATED, Json(entry)));
    }
    let existing = state
        .suppressions
        .get(&tenant, &address)
        .await
        .map_err(store)?
        .unwrap_or(entry);
    Ok((StatusCode::OK, Json(existing)))
}

/// Take one address off this retailer's list: it may be mailed again.
#[utoipa::path(
    delete,
    path = "/tenants/{tenant}/suppressions/{address}",
    tag = "suppressions",
    params(
        ("tenant" = inline(TenantId), Path, description = "The retailer's id"),
        ("address" = String, Path, description = "The email address"),
    ),
    responses((status = 204, description = "Removed"))
)]
pub async fn remove(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    Path((_, address)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let address = path_address(&address)?;
    match state.suppressions.remove(&tenant, &address).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found(
            "the address is not on this retailer's list",
        )),
        Err(error) => Err(Problem::from_retryable(&error)),
    }
}

/// Import addresses from a CSV (one column, header optional; or a header naming an `email` or
/// `address` column), at most 5,000 rows. Each is added with reason `MANUAL`; the report names
/// the invalid rows by line.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/suppressions/import",
    tag = "suppressions",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "What was imported", body = ImportReport))
)]
pub async fn import(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<ImportReport>, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid_field(
            "body",
            "the CSV is empty: send at least one address",
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match import_csv(state.suppressions.as_ref(), &tenant, &body, now).await {
        // Not one row was an address: the body is no suppression list (a JSON object, a typo).
        Ok(report) if report.added == 0 && report.already_present == 0 => {
            Err(Problem::invalid_field(
                "body",
                format!(
                    "no row is an email address ({} invalid rows)",
                    report.invalid.len()
                ),
            ))
        }
        Ok(report) => Ok(Json(report)),
        Err(error @ (ImportError::TooManyRows | ImportError::Unreadable(_))) => {
            Err(Problem::invalid_field("body", error.to_string()))
        }
        Err(error) => Err(Problem::from_retryable(&error)),
    }
}

fn path_address(address: &str) -> Result<String, Problem> {
    let address = normalise_address(address);
    check_email_address(&address)
        .map_err(|e| Problem::bad_request(format!("path parameter address: {e}")))?;
    Ok(address)
}
