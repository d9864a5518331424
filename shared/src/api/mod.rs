//! The marketer API: one axum router, served by the `api` function behind API Gateway (HTTP API
//! with a JWT authorizer) and by `storecast-dev serve-api` on a loopback port.
//!
//! Every route under `/tenants/{tenant}` checks the caller against the tenant in the path
//! before it reads anything (see [`auth::Caller::may_access`]), and every store below is keyed by
//! that tenant, so a marketer can reach no other retailer's data. Errors are problem details.

pub mod auth;
pub mod extract;
pub mod openapi;
pub mod problem;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::StatusCode;

pub use auth::{Caller, Claims, Role};
pub use problem::{FieldError, Problem};

/// The whole API. Authentication is the caller's concern: put [`Claims`] into each request's
/// extensions (Lambda: [`auth::claims_from_api_gateway`]; locally: the dev server's verifier).
pub fn router() -> Router {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async {
                let mut document = <openapi::ApiDoc as utoipa::OpenApi>::openapi();
                openapi::add_common_problems(&mut document);
                axum::Json(document)
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> Problem {
    Problem::not_found("no such route")
}

async fn method_not_allowed() -> impl IntoResponse {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not accept that method",
    )
}
