//! The marketer API: one axum router, served by the `api` function behind API Gateway (HTTP API
//! with a JWT authorizer) and by `storecast-dev serve-api` on a loopback port.
//!
//! Every route under `/tenants/{tenant}` takes its identifiers through the path extractors of
//! [`extract`], which check the caller against the tenant in the path before the handler runs or
//! the body is read ([`auth::Caller::may_access`]), and every store below is keyed by that
//! tenant, so a marketer reaches no other retailer's data. Errors are problem details
//! ([`problem::Problem`]); the OpenAPI document is built from the handlers as the router is.

pub mod audiences;
pub mod auth;
pub mod availability;
pub mod campaigns;
pub mod deliverability;
pub mod errors;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod snippets;
pub mod suppressions;
pub mod templates;
pub mod tenants;
pub mod unsubscribe;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Access, Caller, Claims, Role};
pub use problem::{FieldError, Problem};

/// Request bodies larger than this are refused (413): the largest legitimate one is a preview
/// with draft variables and a sample customer.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The function the API runs as (its metrics' `function` dimension).
pub const FUNCTION_NAME: &str = "api";

/// Routes under this prefix are public (no token): the signed link is what authorizes them.
pub const PUBLIC_PREFIX: &str = "/unsubscribe/";

/// The services behind the API, built once per cold start.
#[derive(Clone)]
pub struct ApiState {
    pub onboarding: Arc<crate::onboarding::Onboarding>,
    pub templates: Arc<crate::templates::TemplateService>,
    /// Templates mailed to the retailer's seed list through its workspace.
    pub test_sends: Arc<crate::templates::TestSends>,
    pub campaigns: Arc<crate::campaigns::Campaigns>,
    /// Each retailer's suppression list (the suppressions routes).
    pub suppressions: Arc<dyn crate::deliverability::suppression::SuppressionList>,
    /// The public one-click unsubscribe routes.
    pub unsubscribes: Arc<crate::deliverability::unsubscribe::Unsubscribes>,
    /// The availability lookup.
    pub availability: Arc<crate::availability::lookup::Lookup>,
    /// The availability configuration (sharing the lookup's cache, so a change is in effect at
    /// once in this container).
    pub availability_config: Arc<crate::availability::lookup::ConfigService>,
    /// Parse reports of uploaded audience exports.
    pub audience_checks: Arc<crate::campaigns::audience_check::AudienceChecks>,
    /// Every retailer's workspace, for the operators' list (`GET /tenants`).
    pub workspaces: Arc<dyn crate::directory::WorkspaceListing>,
    /// Presigned URLs for audience exports under each retailer's prefix.
    pub audience_uploads: Arc<crate::campaigns::uploads::AudienceUploads>,
    /// One customer's messages of a campaign and their feedback.
    pub recipients: Arc<crate::campaigns::recipients::RecipientLookup>,
    /// Each retailer's warm-up and daily feedback figures.
    pub deliverability: Arc<crate::deliverability::report::DeliverabilityReports>,
    /// Each retailer's requests per second ([`limits`]); none: unlimited (the shared throttle
    /// alone).
    pub request_limit: Option<Arc<limits::TenantRequestLimit>>,
}

/// The routes and the OpenAPI document describing exactly them.
pub fn routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(
            tenants::put_tenant,
            tenants::get_tenant,
            tenants::patch_tenant
        ))
        .routes(routes!(tenants::list_tenants))
        .routes(routes!(tenants::suspend_tenant))
        .routes(routes!(tenants::reinstate_tenant))
        .routes(routes!(tenants::put_push_application))
        .routes(routes!(templates::get_variables, templates::put_variables))
        .routes(routes!(templates::preview))
        .routes(routes!(templates::test_send))
        .routes(routes!(snippets::list))
        .routes(routes!(snippets::get, snippets::put, snippets::delete))
        .routes(routes!(snippets::list_library))
        .routes(routes!(snippets::get_library))
        .routes(routes!(campaigns::create, campaigns::list))
        .routes(routes!(campaigns::get, campaigns::edit, campaigns::delete))
        .routes(routes!(campaigns::launch))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::cancel))
        .routes(routes!(campaigns::stats))
        .routes(routes!(campaigns::recipient))
        .routes(routes!(audiences::create_upload))
        .routes(routes!(audiences::report))
        .routes(routes!(audiences::sample))
        .routes(routes!(suppressions::list))
        .routes(routes!(suppressions::add, suppressions::remove))
        .routes(routes!(suppressions::import))
        .routes(routes!(deliverability::get))
        .routes(routes!(unsubscribe::confirm_page, unsubscribe::one_click))
        .routes(routes!(availability::lookup))
        .routes(routes!(availability::get_config, availability::put_config))
        .routes(routes!(availability::history))
        .routes(routes!(availability::rollback))
        .split_for_parts();
    openapi::add_common_problems(&mut document);
    (router, document)
}

/// The whole API. Authentication is the caller's concern: put [`Claims`] into each request's
/// extensions (Lambda: [`auth::claims_from_api_gateway`]; locally: the dev server's verifier).
pub fn router(state: ApiState) -> Router {
    let (routes, document) = routes();
    let document = Arc::new(document);
    let request_limit = state.request_limit.clone();
    let mut router = routes
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { Json(document.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    // Inside the request log, so a refusal is logged like any answer.
    if let Some(limit) = request_limit {
        router = router.layer(axum::middleware::from_fn_with_state(
            limit,
            limits::limit_requests,
        ));
    }
    router
        .layer(axum::middleware::from_fn(answer_preflight))
        .layer(axum::middleware::from_fn(log_request))
}

/// A browser's CORS preflight (`OPTIONS`, no token) for the console on its own origin: API
/// Gateway routes it here without the authorizer and adds the stack's CORS headers (which origin,
/// methods, headers) to this empty answer; the API itself allows nothing by it.
async fn answer_preflight(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.method() == http::Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    next.run(request).await
}

/// One span and one log line per request: the route (not the raw path, so no identifiers of a
/// retailer's customers end up in a metric label), the tenant and campaign it names, the status
/// and the latency. The services' own spans nest inside.
async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let mut segments = request.uri().path().split('/').skip(1);
    let tenant_id = match (segments.next(), segments.next()) {
        (Some("tenants"), Some(tenant)) => tenant.to_string(),
        _ => String::new(),
    };
    let campaign_id = match (segments.next(), segments.next()) {
        (Some("campaigns"), Some(campaign)) => campaign.to_string(),
        _ => String::new(),
    };
    let span = tracing::info_span!(
        "api_request",
        method = %request.method(),
        route = %route,
        tenant_id = %tenant_id,
        campaign_id = %campaign_id,
    );
    let started = std::time::Instant::now();
    async move {
        let response = next.run(request).await;
        tracing::info!(
            status = response.status().as_u16(),
            millis = started.elapsed().as_millis() as u64,
            "request answered"
        );
        response
    }
    .instrument(span)
    .await
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
