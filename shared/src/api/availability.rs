//! `/tenants/{tenant}/availability`: which items of a store are likely on the shelf (the
//! lookup), and the retailer's availability configuration (read, changed, its history, rolled
//! back). The extractors decide who may: a lookup takes a marketer, a data scientist, a service
//! or an operator of the retailer; reading the configuration all but a service; changing it a
//! data scientist or an operator ([`super::auth::Role::allows`]).

use axum::Json;
use axum::extract::{Query, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::extract::{ApiJson, ConfigEditorPath, ConfigReaderPath, LookupPath};
use super::problem::Problem;
use crate::api::auth::Caller;
use crate::availability::decision::{AppliedDelta, ArmAssignment};
use crate::availability::lookup::{
    ConfigChange, DEFAULT_HISTORY_LIMIT, LookupAnswer, LookupRequest, MAX_HISTORY_LIMIT,
};
use crate::availability::{AvailabilityConfig, ConfigRevision};
use crate::domain::{ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};

/// A lookup's answer: per item whether it is likely available, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResponse {
    pub store_id: StoreId,
    /// The configuration version that decided.
    pub config_version: u64,
    /// In the request's order.
    pub items: Vec<ItemAvailability>,
}

/// One item's decision, explained.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemAvailability {
    pub item_id: ItemId,
    /// Whether the score reaches the threshold.
    pub available: bool,
    /// The score used: the stored one, or the one the missing-score policy assumes; null when
    /// the policy counts a missing score as unavailable.
    pub score: Option<f64>,
    /// Whether the column had no score for the item.
    pub missing_score: bool,
    /// RFC 3339: when the model computed the stored score.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub computed_at: Option<String>,
    pub model: ModelVersion,
    pub column: ScoreColumn,
    /// The experiment arm the user was bucketed into; absent when the default column decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<ArmAssignment>,
    pub base_threshold: f64,
    /// Every delta applied: retailer, region, user bucket, category.
    pub deltas: Vec<AppliedDelta>,
    /// Base plus the deltas, clamped to [0, 1].
    pub threshold: f64,
}

impl From<LookupAnswer> for LookupResponse {
    fn from(answer: LookupAnswer) -> Self {
        let decision = answer.decision;
        let terms = &decision.terms;
        let items = decision
            .items
            .iter()
            .map(|item| ItemAvailability {
                item_id: item.item.clone(),
                available: item.available,
                score: item.score.map(f64::from),
                missing_score: item.missing,
                computed_at: item.computed_at.map(crate::clock::rfc3339),
                model: terms.model.clone(),
                column: terms.column.clone(),
                arm: terms.arm.clone(),
                base_threshold: terms.base_threshold,
                deltas: item.deltas(terms).cloned().collect(),
                threshold: item.threshold,
            })
            .collect();
        Self {
            store_id: decision.store,
            config_version: answer.config_version,
            items,
        }
    }
}

/// Which of 1 to 100 items (each at most once) are likely on the shelf of one store, for one
/// user: the column of the user's experiment arm (the default without a user), the model's
/// threshold moved by the deltas of the retailer, the region, the user's bucket and each item's
/// category.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/availability",
    tag = "availability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = LookupRequest,
    responses(
        (status = 200, description = "Each item's decision", body = LookupResponse),
        (status = 404, description = "The store is not known for this retailer, or the retailer has no availability configuration", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn lookup(
    LookupPath(tenant, _): LookupPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<LookupRequest>,
) -> Result<Json<LookupResponse>, Problem> {
    let answer = state.availability.lookup(&tenant, &request).await?;
    Ok(Json(answer.into()))
}

/// The retailer's current availability configuration, with its version and who changed it,
/// when and why.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/availability/config",
    tag = "availability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    responses(
        (status = 200, description = "The current revision", body = ConfigRevision),
        (status = 404, description = "The retailer has no availability configuration", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_config(
    ConfigReaderPath(tenant, _): ConfigReaderPath,
    State(state): State<ApiState>,
) -> Result<Json<ConfigRevision>, Problem> {
    Ok(Json(state.availability_config.current(&tenant).await?))
}

/// A change of the configuration: the whole new configuration, why, and the version it was
/// made over.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigChangeRequest {
    pub config: AvailabilityConfig,
    /// Why (kept with the revision), 1 to 500 characters.
    pub reason: String,
    /// The version the change was made over (from `GET .../config`); null or absent for a
    /// retailer's first configuration. Any other version than the current one is a 409.
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Change the configuration: a new revision, in effect for lookups within a minute. The author
/// is the token's subject.
#[utoipa::path(
    put,
    path = "/tenants/{tenant}/availability/config",
    tag = "availability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = ConfigChangeRequest,
    responses(
        (status = 201, description = "The retailer's first configuration", body = ConfigRevision),
        (status = 200, description = "The new revision", body = ConfigRevision),
        (status = 409, description = "The configuration changed since `expected_version`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_config(
    ConfigEditorPath(tenant, caller): ConfigEditorPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<ConfigChangeRequest>,
) -> Result<(StatusCode, Json<ConfigRevision>), Problem> {
    let change = ConfigChange {
        config: request.config,
        author: author(&caller)?,
        reason: request.reason,
        expected_version: request.expected_version,
    };
    let revision = state.availability_config.change(&tenant, change).await?;
    let status = if revision.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(revision)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// At most this many revisions (1 to 100, default 20).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigHistory {
    /// Newest first.
    pub revisions: Vec<ConfigRevision>,
}

/// The newest revisions of the configuration, newest first.
#[utoipa::path(
    get,
    path = "/tenants/{tenant}/availability/config/history",
    tag = "availability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id"), HistoryQuery),
    responses((status = 200, description = "The revisions", body = ConfigHistory))
)]
pub async fn history(
    ConfigReaderPath(tenant, _): ConfigReaderPath,
    State(state): State<ApiState>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConfigHistory>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be 1 to {MAX_HISTORY_LIMIT}"
        )));
    }
    let revisions = state.availability_config.history(&tenant, limit).await?;
    Ok(Json(ConfigHistory { revisions }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to restore.
    pub version: u64,
    /// Why (kept with the new revision), 1 to 500 characters.
    pub reason: String,
}

/// Restore an earlier version: a new revision holding its configuration, noting
/// `rollback_of`. The author is the token's subject.
#[utoipa::path(
    post,
    path = "/tenants/{tenant}/availability/config/rollback",
    tag = "availability",
    params(("tenant" = inline(TenantId), Path, description = "The retailer's id")),
    request_body = RollbackRequest,
    responses(
        (status = 200, description = "The new revision", body = ConfigRevision),
        (status = 404, description = "The retailer has no such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another change was made at the same time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rollback(
    ConfigEditorPath(tenant, caller): ConfigEditorPath,
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> Result<Json<ConfigRevision>, Problem> {
    let revision = state
        .availability_config
        .rollback(&tenant, request.version, author(&caller)?, request.reason)
        .await?;
    Ok(Json(revision))
}

/// A revision records who made it: a token without a subject cannot change anything.
fn author(caller: &Caller) -> Result<String, Problem> {
    if caller.subject.trim().is_empty() {
        return Err(Problem::unauthorized(
            "the token has no sub claim: a change records who made it",
        ));
    }
    Ok(caller.subject.clone())
}
