//! Per-retailer request limits. API Gateway's throttle is shared by every retailer: one
//! retailer's script could use it all up. Each retailer's people and their scripts (marketer and
//! data scientist tokens) therefore take their request from the retailer's allowance for the
//! current second, kept where every API container sees it ([`RequestQuota`]); past it the answer
//! is `429` with `Retry-After`. Not limited here: operators, the public unsubscribe routes, and
//! `service` tokens (a retailer's search calling the availability lookup on every page view,
//! whose rate is the API throttle's to bound).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::auth::{Caller, Claims, Role};
use super::problem::Problem;
use crate::clock::Clock;
use crate::domain::TenantId;
use crate::error::StoreError;

/// Requests a retailer may make in one second unless configured otherwise: a fifth of the API's
/// shared rate (`ThrottlingRateLimit: 100` in template.yaml).
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;

/// Each retailer's requests per second, shared by every API container.
#[async_trait]
pub trait RequestQuota: Send + Sync {
    /// Takes one request from `tenant`'s allowance of `limit` for the second `second` (Unix
    /// time): false when the allowance is used up.
    async fn take(&self, tenant: &TenantId, second: i64, limit: u32) -> Result<bool, StoreError>;
}

/// The limit the API applies, and the quota it takes from.
pub struct TenantRequestLimit {
    quota: Arc<dyn RequestQuota>,
    per_second: u32,
    clock: Arc<dyn Clock>,
    /// The second each retailer was last refused in: further requests in that second are
    /// refused here without a write (this container's view; the others find out themselves).
    refused_in: Mutex<HashMap<TenantId, i64>>,
}

/// What the limit decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the retailer's allowance for this second.
    Limited,
}

impl TenantRequestLimit {
    pub fn new(quota: Arc<dyn RequestQuota>, per_second: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            quota,
            per_second,
            clock,
            refused_in: Mutex::new(HashMap::new()),
        }
    }

    /// Admits or limits one request of `tenant`. A quota that cannot be read admits it: the
    /// shared throttle still bounds the API, and a retailer is never refused for our failure.
    pub async fn admit(&self, tenant: &TenantId) -> Admission {
        let second = self.clock.now().unix_timestamp();
        if self.refused_in.lock().expect("lock").get(tenant) == Some(&second) {
            return Admission::Limited;
        }
        match self.quota.take(tenant, second, self.per_second).await {
            Ok(true) => Admission::Admitted,
            Ok(false) => {
                count(tenant, "RequestsLimited");
                self.refused_in
                    .lock()
                    .expect("lock")
                    .insert(tenant.clone(), second);
                Admission::Limited
            }
            Err(error) => {
                tracing::warn!(tenant_id = %tenant, %error, "request quota unavailable; request admitted");
                count(tenant, "RequestQuotaUnavailable");
                Admission::Admitted
            }
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }
}

/// One EMF line: the refusals and the quota's failures are rare, so each is written as it
/// happens (as the unsubscribe routes do).
fn count(tenant: &TenantId, name: &'static str) {
    let metrics = crate::metrics::Metrics::new(super::FUNCTION_NAME);
    metrics.add(tenant.as_str(), name, 1.0);
    if let Err(error) = metrics.flush(&mut std::io::stdout().lock()) {
        tracing::warn!(%error, "metrics not written");
    }
}

/// The middleware: a retailer-scoped caller over its allowance gets `429`, before any handler
/// reads or writes anything.
pub async fn limit_requests(
    State(limit): State<Arc<TenantRequestLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let tenant = request
        .extensions()
        .get::<Claims>()
        .and_then(|claims| Caller::from_claims(claims).ok())
        .filter(|caller| matches!(caller.role, Role::Marketer | Role::DataScientist))
        .and_then(|caller| caller.tenant);
    if let Some(tenant) = tenant
        && limit.admit(&tenant).await == Admission::Limited
    {
        return too_many_requests(limit.per_second()).into_response();
    }
    next.run(request).await
}

fn too_many_requests(per_second: u32) -> Response {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
        format!(
            "this retailer's requests are over its limit of {per_second} a second; retry after \
             the time in Retry-After"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ManualClock, MemoryRequestQuota};

    fn limit(quota: Arc<MemoryRequestQuota>, clock: Arc<ManualClock>) -> TenantRequestLimit {
        TenantRequestLimit::new(quota, 3, clock)
    }

    #[tokio::test]
    async fn a_retailer_over_its_allowance_is_limited_until_the_next_second_and_others_are_not() {
        let quota = Arc::new(MemoryRequestQuota::default());
        let clock = Arc::new(ManualClock::new(
            time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ));
        let limit = limit(quota.clone(), clock.clone());
        let alpine = TenantId::parse("alpine").unwrap();
        let harbor = TenantId::parse("harbor").unwrap();

        let mut admitted = Vec::new();
        for _ in 0..5 {
            admitted.push(limit.admit(&alpine).await);
        }
        assert_eq!(
            admitted,
            [
                Admission::Admitted,
                Admission::Admitted,
                Admission::Admitted,
                Admission::Limited,
                Admission::Limited
            ]
        );
        assert_eq!(
            limit.admit(&harbor).await,
            Admission::Admitted,
            "its own allowance"
        );
        assert_eq!(
            quota.takes(),
            5,
            "the second refusal took nothing from the store"
        );

        clock.advance(time::Duration::seconds(1));
        assert_eq!(limit.admit(&alpine).await, Admission::Admitted);
    }

    #[tokio::test]
    async fn a_quota_that_cannot_be_read_admits_the_request() {
        let quota = Arc::new(MemoryRequestQuota::default());
        quota.fail_next();
        let limit = limit(
            quota,
            Arc::new(ManualClock::new(
                time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            )),
        );
        assert_eq!(
            limit.admit(&TenantId::parse("alpine").unwrap()).await,
            Admission::Admitted
        );
    }

    async fn status_and_retry_after(
        router: &axum::Router,
        claims: &[(&str, &str)],
    ) -> (u16, Option<String>) {
        use tower::ServiceExt as _;
        let mut request = http::Request::get("/tenants/alpine/campaigns")
            .body(axum::body::Body::empty())
            .unwrap();
        request.extensions_mut().insert(Claims(
            claims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        let response = router.clone().oneshot(request).await.unwrap();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|value| value.to_str().unwrap().to_string());
        (response.status().as_u16(), retry_after)
    }

    #[tokio::test]
    async fn the_middleware_answers_429_with_retry_after_to_the_retailer_over_its_limit_only() {
        let limit = Arc::new(TenantRequestLimit::new(
            Arc::new(MemoryRequestQuota::default()),
            1,
            Arc::new(ManualClock::new(
                time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            )),
        ));
        let router = axum::Router::new()
            .route(
                "/tenants/alpine/campaigns",
                axum::routing::get(|| async { "ok" }),
            )
            .layer(axum::middleware::from_fn_with_state(limit, limit_requests));
        let alpine = [("role", "marketer"), ("tenant_id", "alpine")];

        assert_eq!(status_and_retry_after(&router, &alpine).await, (200, None));
        assert_eq!(
            status_and_retry_after(&router, &alpine).await,
            (429, Some("1".into()))
        );
        let harbor = [("role", "marketer"), ("tenant_id", "harbor")];
        assert_eq!(status_and_retry_after(&router, &harbor).await.0, 200);
        let operator = [("role", "operator")];
        let search = [("role", "service"), ("tenant_id", "alpine")];
        for _ in 0..3 {
            assert_eq!(status_and_retry_after(&router, &operator).await.0, 200);
            assert_eq!(status_and_retry_after(&router, &search).await.0, 200);
        }
    }
}
