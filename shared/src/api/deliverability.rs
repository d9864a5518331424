//! `/tenants/{tenant}/deliverability`: the retailer's warm-up and its daily feedback counts and
//! rates ([`crate::deliverability::report`]), for its marketers and the operators.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::ApiState;
use super::extract::TenantPath;
use super::problem::Problem;
use crate::deliverability::report::{
    DEFAULT_REPORT_DAYS, DeliverabilityReport, MAX_REPORT_DAYS, ReportError,
};
use crate::domain::TenantId;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// Days reported, today included (1 to 60, default 14).
    pub days: Option<u32>,
}

/// The retailer's warm-up (plan, state, today's cap and what it granted, the last decisions with
/// their reasons; absent without a plan) and, for each of the last days, newest first, its
/// feedback counts with the bounce, complaint and deferral rates the warm-up judges, beside the
/// thresholds it judges them by.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/deliverability",
    operation_id = "get_deliverability",
    tag = "deliverability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), DaysQuery),
    responses(
        (status = 200, description = "The report", body = DeliverabilityReport),
        (status = 400, description = "`days` out of range", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    TenantPath(tenant): TenantPath,
    State(state): State<ApiState>,
    query: Result<Query<DaysQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliverabilityReport>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let days = query.days.unwrap_or(DEFAULT_REPORT_DAYS);
    match state.deliverability.report(&tenant, days).await {
        Ok(report) => Ok(Json(report)),
        Err(ReportError::Days) => Err(Problem::bad_request(format!(
            "days must be 1 to {MAX_REPORT_DAYS}"
        ))),
        Err(ReportError::UnknownTenant) => Err(Problem::not_found("no such retailer")),
        Err(error) => Err(Problem::from_retryable(&error)),
    }
}
