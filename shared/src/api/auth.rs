//! Who is calling. API Gateway's JWT authorizer has already verified the token; the handler only
//! reads the verified claims from the request context. Locally, the dev server verifies its own
//! tokens and inserts the same [`Claims`], so handlers never know the difference.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;

use super::problem::Problem;
use crate::domain::TenantId;

/// The claim holding the retailer a marketer works for (Cognito: a custom attribute copied into
/// the token by a pre-token-generation trigger).
pub const TENANT_CLAIM: &str = "tenant_id";
/// The claim holding the caller's role: `marketer` or `operator`.
pub const ROLE_CLAIM: &str = "role";

/// The verified claims of the caller's token, as strings (API Gateway passes them that way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims(pub HashMap<String, String>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Works for one retailer and can touch only that retailer's data.
    Marketer,
    /// Runs the platform: onboards, suspends and reinstates retailers.
    Operator,
}

/// An authenticated caller. Extracting it fails with 401 when there are no usable claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    /// The marketer's retailer; operators have none.
    pub tenant: Option<TenantId>,
}

impl Caller {
    pub fn from_claims(claims: &Claims) -> Result<Self, Problem> {
        let subject = claims.0.get("sub").cloned().unwrap_or_default();
        let role = match claims.0.get(ROLE_CLAIM).map(String::as_str) {
            Some("operator") => Role::Operator,
            Some("marketer") => Role::Marketer,
            Some(other) => {
                return Err(Problem::unauthorized(format!(
                    "the token's {ROLE_CLAIM} claim {other:?} is not a role (marketer or operator)"
                )));
            }
            None => {
                return Err(Problem::unauthorized(format!(
                    "the token has no {ROLE_CLAIM} claim"
                )));
            }
        };
        let tenant = match (role, claims.0.get(TENANT_CLAIM)) {
            (Role::Marketer, Some(tenant)) => {
                Some(TenantId::parse(tenant.as_str()).map_err(|e| {
                    Problem::unauthorized(format!("the token's {TENANT_CLAIM} claim: {e}"))
                })?)
            }
            (Role::Marketer, None) => {
                return Err(Problem::unauthorized(format!(
                    "a marketer's token needs a {TENANT_CLAIM} claim"
                )));
            }
            (Role::Operator, _) => None,
        };
        Ok(Self {
            subject,
            role,
            tenant,
        })
    }

    /// Marketers reach only their own retailer; operators reach every retailer.
    pub fn may_access(&self, tenant: &TenantId) -> Result<(), Problem> {
        match (&self.role, &self.tenant) {
            (Role::Operator, _) => Ok(()),
            (Role::Marketer, Some(own)) if own == tenant => Ok(()),
            (Role::Marketer, _) => Err(Problem::forbidden(
                "this retailer is not the one your account belongs to",
            )),
        }
    }

    pub fn require_operator(&self) -> Result<(), Problem> {
        match self.role {
            Role::Operator => Ok(()),
            Role::Marketer => Err(Problem::forbidden(
                "only platform operators may onboard, suspend or reinstate retailers",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = parts
            .extensions
            .get::<Claims>()
            .ok_or_else(|| Problem::unauthorized("the request carries no verified token"))?;
        Caller::from_claims(claims)
    }
}

/// Middleware for Lambda: copies the JWT authorizer's verified claims out of API Gateway's
/// request context into [`Claims`].
pub async fn claims_from_api_gateway(mut request: Request, next: Next) -> Response {
    use lambda_http::request::RequestContext;
    let claims = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .map(|jwt| Claims(jwt.claims.clone())),
        _ => None,
    };
    if let Some(claims) = claims {
        request.extensions_mut().insert(claims);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> Claims {
        Claims(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_marketer_reaches_only_their_own_retailer() {
        let caller =
            Caller::from_claims(&claims(&[("role", "marketer"), ("tenant_id", "alpine")])).unwrap();
        assert!(
            caller
                .may_access(&TenantId::parse("alpine").unwrap())
                .is_ok()
        );
        let refused = caller
            .may_access(&TenantId::parse("harbor").unwrap())
            .unwrap_err();
        assert_eq!(refused.status, 403);
        assert_eq!(caller.require_operator().unwrap_err().status, 403);
    }

    #[test]
    fn an_operator_reaches_every_retailer() {
        let caller = Caller::from_claims(&claims(&[("role", "operator")])).unwrap();
        assert!(
            caller
                .may_access(&TenantId::parse("harbor").unwrap())
                .is_ok()
        );
        assert!(caller.require_operator().is_ok());
    }

    #[test]
    fn tokens_without_a_role_or_a_marketers_tenant_are_refused() {
        for pairs in [
            &[("tenant_id", "alpine")][..],
            &[("role", "admin"), ("tenant_id", "alpine")],
            &[("role", "marketer")],
            &[("role", "marketer"), ("tenant_id", "a#b")],
        ] {
            assert_eq!(Caller::from_claims(&claims(pairs)).unwrap_err().status, 401);
        }
    }
}
