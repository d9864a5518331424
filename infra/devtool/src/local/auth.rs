//! Tokens for the local API. In AWS, API Gateway's JWT authorizer verifies the caller's token and
//! the handler reads the verified claims; locally, `serve-api` plays the authorizer: it verifies
//! tokens signed with a local development key and hands the handler the same [`Claims`].
//! The key signs nothing outside the loopback server.

use std::collections::HashMap;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use storecast::api::auth::{ROLE_CLAIM, TENANT_CLAIM};
use storecast::api::{Claims, Problem, Role};
use storecast::domain::TenantId;

/// Overrides the development signing key.
pub const SECRET_ENV: &str = "STORECAST_DEV_JWT_SECRET";
const DEFAULT_SECRET: &str = "storecast-local-development-only";
pub const ISSUER: &str = "storecast-local";
pub const AUDIENCE: &str = "storecast-api";

fn secret() -> Vec<u8> {
    std::env::var(SECRET_ENV)
        .unwrap_or_else(|_| DEFAULT_SECRET.to_string())
        .into_bytes()
}

/// A token for `role` (and, for every role but the operator, `tenant`), valid for
/// `ttl_seconds`.
pub fn mint(role: Role, tenant: Option<&TenantId>, ttl_seconds: i64) -> anyhow::Result<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = serde_json::Map::new();
    let subject = match (role.is_tenant_scoped(), tenant) {
        (false, _) => format!("local-{}", role.claim()),
        (true, Some(tenant)) => format!("{}@{tenant}", role.claim()),
        (true, None) => anyhow::bail!("a {} token needs a tenant", role.claim()),
    };
    claims.insert("sub".into(), subject.into());
    claims.insert(ROLE_CLAIM.into(), role.claim().into());
    if let Some(tenant) = tenant {
        claims.insert(TENANT_CLAIM.into(), tenant.as_str().into());
    }
    claims.insert("iss".into(), ISSUER.into());
    claims.insert("aud".into(), AUDIENCE.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl_seconds).into());
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret()),
    )?)
}

/// Verifies the bearer token like the JWT authorizer does (signature, issuer, audience, expiry)
/// and passes its claims on as strings, the way API Gateway does.
pub fn verify(token: &str) -> Result<Claims, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let data = jsonwebtoken::decode::<HashMap<String, Value>>(
        token,
        &DecodingKey::from_secret(&secret()),
        &validation,
    )
    .map_err(|e| e.to_string())?;
    Ok(Claims(
        data.claims
            .into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                (key, text)
            })
            .collect(),
    ))
}

/// The local authorizer: every route but the OpenAPI document needs a valid token.
pub async fn authorize(mut request: Request, next: Next) -> Response {
    // Public as in template.yaml (`Authorizer: NONE`): the document and the signed unsubscribe
    // links.
    if request.uri().path() == "/openapi.json"
        || request
            .uri()
            .path()
            .starts_with(storecast::api::PUBLIC_PREFIX)
    {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match token.map(verify) {
        Some(Ok(claims)) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        Some(Err(reason)) => {
            Problem::unauthorized(format!("the token is not valid: {reason}")).into_response()
        }
        None => Problem::unauthorized("a bearer token is required").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_carry_role_and_tenant() {
        let tenant = TenantId::parse("alpine").unwrap();
        let claims = verify(&mint(Role::Marketer, Some(&tenant), 60).unwrap()).unwrap();
        assert_eq!(claims.0[ROLE_CLAIM], "marketer");
        assert_eq!(claims.0[TENANT_CLAIM], "alpine");
        let caller = storecast::api::Caller::from_claims(&claims).unwrap();
        assert_eq!(caller.tenant, Some(tenant));
    }

    #[test]
    fn every_role_can_be_minted_and_tenant_scoped_ones_need_a_tenant() {
        let tenant = TenantId::parse("alpine").unwrap();
        for role in Role::ALL {
            let claims = verify(&mint(role, Some(&tenant), 60).unwrap()).unwrap();
            let caller = storecast::api::Caller::from_claims(&claims).unwrap();
            assert_eq!(caller.role, role);
            assert_eq!(caller.tenant.is_some(), role.is_tenant_scoped());
            assert_eq!(mint(role, None, 60).is_ok(), !role.is_tenant_scoped());
        }
    }

    #[test]
    fn expired_or_tampered_tokens_are_refused() {
        let expired = mint(Role::Operator, None, -120).unwrap();
        assert!(verify(&expired).unwrap_err().contains("Expired"));
        let token = mint(Role::Operator, None, 60).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                br#"{"sub":"x","role":"operator","iss":"storecast-local","aud":"storecast-api","exp":9999999999}"#,
            )
        };
        parts[1] = &forged_claims;
        assert!(verify(&parts.join(".")).is_err());
    }
}
