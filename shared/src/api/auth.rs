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

/// The claim holding the retailer a marketer works for.
pub const TENANT_CLAIM: &str = "tenant_id";
/// The claim holding the caller's role: `marketer`, `operator`, `data_scientist` or `service`.
pub const ROLE_CLAIM: &str = "role";
/// Cognito puts a user's custom attributes in its ID tokens under `custom:<name>`: the stack's
/// user pool keeps `tenant_id` and `role` there, which only an operator can write (the console's
/// app client may read them, not write them).
pub const COGNITO_ATTRIBUTE_PREFIX: &str = "custom:";

/// The verified claims of the caller's token, as strings (API Gateway passes them that way).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims(pub HashMap<String, String>);

impl Claims {
    /// The claim `name`, or else the Cognito custom attribute of that name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .or_else(|| self.0.get(&format!("{COGNITO_ATTRIBUTE_PREFIX}{name}")))
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Works for one retailer and can touch only that retailer's data.
    Marketer,
    /// Runs the platform: onboards, suspends and reinstates retailers.
    Operator,
    /// Tunes one retailer's availability models: reads and changes its availability
    /// configuration and looks availability up, nothing else.
    DataScientist,
    /// One retailer's own systems (its search, its shop): may only look availability up.
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Marketer,
        Role::Operator,
        Role::DataScientist,
        Role::Service,
    ];

    /// The role's value of the `role` claim.
    pub fn claim(self) -> &'static str {
        match self {
            Role::Marketer => "marketer",
            Role::Operator => "operator",
            Role::DataScientist => "data_scientist",
            Role::Service => "service",
        }
    }

    /// The role a `role` claim names.
    pub fn from_claim(claim: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|role| role.claim() == claim)
    }

    /// Every role but the operator works for one retailer, named by the token.
    pub fn is_tenant_scoped(self) -> bool {
        self != Role::Operator
    }

    /// What the role may do on a retailer it reaches.
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Operator => true,
            Role::Marketer => access != Access::ChangeAvailabilityConfig,
            Role::DataScientist => access != Access::Workspace,
            Role::Service => access == Access::AvailabilityLookup,
        }
    }
}

/// What a route does with a retailer, for the roles to allow or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The marketer's workspace: the retailer's settings, templates, campaigns and
    /// suppressions. Every route that is not an availability route.
    Workspace,
    AvailabilityLookup,
    ReadAvailabilityConfig,
    ChangeAvailabilityConfig,
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
        let role = match claims.get(ROLE_CLAIM) {
            Some(claim) => Role::from_claim(claim).ok_or_else(|| {
                Problem::unauthorized(format!(
                    "the token's {ROLE_CLAIM} claim {claim:?} is not a role (marketer, \
                     operator, data_scientist or service)"
                ))
            })?,
            None => {
                return Err(Problem::unauthorized(format!(
                    "the token has no {ROLE_CLAIM} claim"
                )));
            }
        };
        let tenant = match (role.is_tenant_scoped(), claims.get(TENANT_CLAIM)) {
            (true, Some(tenant)) => Some(TenantId::parse(tenant).map_err(|e| {
                Problem::unauthorized(format!("the token's {TENANT_CLAIM} claim: {e}"))
            })?),
            (true, None) => {
                return Err(Problem::unauthorized(format!(
                    "a {} token needs a {TENANT_CLAIM} claim",
                    role.claim()
                )));
            }
            (false, _) => None,
        };
        Ok(Self {
            subject,
            role,
            tenant,
        })
    }

    /// The workspace routes: marketers reach only their own retailer, operators every
    /// retailer, and no other role any.
    pub fn may_access(&self, tenant: &TenantId) -> Result<(), Problem> {
        self.may(tenant, Access::Workspace)
    }

    /// Whether the caller may do `access` on `tenant`: the role allows it, and a
    /// tenant-scoped caller names only their own retailer.
    pub fn may(&self, tenant: &TenantId, access: Access) -> Result<(), Problem> {
        if self.role.is_tenant_scoped() && self.tenant.as_ref() != Some(tenant) {
            return Err(Problem::forbidden(
                "this retailer is not the one your account belongs to",
            ));
        }
        if !self.role.allows(access) {
            return Err(Problem::forbidden(format!(
                "a {} token may not call this route",
                self.role.claim()
            )));
        }
        Ok(())
    }

    pub fn require_operator(&self) -> Result<(), Problem> {
        match self.role {
            Role::Operator => Ok(()),
            _ => Err(Problem::forbidden(
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
    fn a_cognito_id_token_names_role_and_retailer_in_its_custom_attributes() {
        let caller = Caller::from_claims(&claims(&[
            ("sub", "4f1c"),
            ("cognito:username", "ana@alpine.example"),
            ("custom:role", "marketer"),
            ("custom:tenant_id", "alpine"),
        ]))
        .unwrap();
        assert_eq!(caller.role, Role::Marketer);
        assert_eq!(caller.tenant, Some(TenantId::parse("alpine").unwrap()));
        let refused = caller
            .may_access(&TenantId::parse("harbor").unwrap())
            .unwrap_err();
        assert_eq!(refused.status, 403);
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
    fn the_new_roles_reach_only_availability_and_only_of_their_own_retailer() {
        let alpine = TenantId::parse("alpine").unwrap();
        let harbor = TenantId::parse("harbor").unwrap();
        let caller = |role: &str| {
            Caller::from_claims(&claims(&[("role", role), ("tenant_id", "alpine")])).unwrap()
        };
        let allowed = |caller: &Caller, access| caller.may(&alpine, access).is_ok();
        let scientist = caller("data_scientist");
        let service = caller("service");
        let marketer = caller("marketer");
        assert_eq!(scientist.role, Role::DataScientist);
        assert_eq!(service.role, Role::Service);
        for (caller, workspace, lookup, read, change) in [
            (&marketer, true, true, true, false),
            (&scientist, false, true, true, true),
            (&service, false, true, false, false),
        ] {
            assert_eq!(allowed(caller, Access::Workspace), workspace, "{caller:?}");
            assert_eq!(
                allowed(caller, Access::AvailabilityLookup),
                lookup,
                "{caller:?}"
            );
            assert_eq!(
                allowed(caller, Access::ReadAvailabilityConfig),
                read,
                "{caller:?}"
            );
            assert_eq!(
                allowed(caller, Access::ChangeAvailabilityConfig),
                change,
                "{caller:?}"
            );
            assert_eq!(caller.may_access(&alpine).is_ok(), workspace);
            assert_eq!(caller.require_operator().unwrap_err().status, 403);
            let foreign = caller.may(&harbor, Access::AvailabilityLookup).unwrap_err();
            assert_eq!(foreign.status, 403);
        }
        let operator = Caller::from_claims(&claims(&[("role", "operator")])).unwrap();
        assert!(
            operator
                .may(&harbor, Access::ChangeAvailabilityConfig)
                .is_ok()
        );
    }

    #[test]
    fn tokens_without_a_role_or_a_marketers_tenant_are_refused() {
        for pairs in [
            &[("tenant_id", "alpine")][..],
            &[("role", "admin"), ("tenant_id", "alpine")],
            &[("role", "marketer")],
            &[("role", "marketer"), ("tenant_id", "a#b")],
            &[("role", "service")],
            &[("role", "data_scientist")],
            &[("role", "Service"), ("tenant_id", "alpine")],
        ] {
            assert_eq!(Caller::from_claims(&claims(pairs)).unwrap_err().status, 401);
        }
    }
}
