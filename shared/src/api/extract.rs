//! Request extractors that answer with problem details: JSON bodies whose errors name the field
//! at fault, and path identifiers parsed into domain ids.
//!
//! The path extractors also authorize: they resolve the [`Caller`] and refuse a retailer that is
//! not the caller's before the handler runs and before the body is read, so no route can forget
//! the check and no other retailer's request is ever parsed.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::auth::{Access, Caller};
use super::problem::Problem;
use crate::domain::{CampaignId, TemplateId, TenantId};

/// A JSON body. Malformed JSON is a 400; JSON of the wrong shape is a 422 naming the field.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        // Too large is a 413 (see `MAX_BODY_BYTES`); anything else unreadable a 400.
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            Problem::new(
                e.status(),
                "unreadable-body",
                format!("the body could not be read: {}", e.body_text()),
            )
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Every request body of the API is a JSON object; serde would also accept a struct written as
/// an array, which the document does not allow.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => Problem::invalid_field("body", "must be a JSON object"),
                Err(e) => Problem::bad_request(format!("the body is not valid JSON: {e}")),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                Problem::invalid_field(field, strip_position(&inner.to_string()))
            }
            _ => Problem::bad_request(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn parse_id<T>(
    value: String,
    name: &str,
    parse: impl FnOnce(String) -> Result<T, crate::domain::InvalidId>,
) -> Result<T, Problem> {
    parse(value).map_err(|e| Problem::bad_request(format!("path parameter {name}: {e}")))
}

async fn path_segments<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Vec<(String, String)>, Problem> {
    let Path(segments) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map_err(|e| Problem::bad_request(e.body_text()))?;
    Ok(segments)
}

fn segment(segments: &[(String, String)], name: &str) -> Result<String, Problem> {
    segments
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .ok_or_else(|| Problem::bad_request(format!("path parameter {name} is missing")))
}

async fn authorized_tenant<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    segments: &[(String, String)],
) -> Result<TenantId, Problem> {
    let caller = Caller::from_request_parts(parts, state).await?;
    let tenant = parse_id(segment(segments, "tenant")?, "tenant", TenantId::parse)?;
    caller.may_access(&tenant)?;
    Ok(tenant)
}

/// `/tenants/{tenant}/availability/...`: the caller and the retailer, for a caller whose role
/// allows `access` on it. The workspace extractors above allow only marketers and operators, so
/// the availability roles reach nothing but the routes that take one of these.
macro_rules! availability_path {
    ($(#[$doc:meta])* $name:ident, $access:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub TenantId, pub Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = Problem;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let segments = path_segments(parts, state).await?;
                let caller = Caller::from_request_parts(parts, state).await?;
                let tenant = parse_id(segment(&segments, "tenant")?, "tenant", TenantId::parse)?;
                caller.may(&tenant, $access)?;
                Ok(Self(tenant, caller))
            }
        }
    };
}

availability_path!(
    /// Availability lookups: marketers, data scientists, services, operators.
    LookupPath,
    Access::AvailabilityLookup
);
availability_path!(
    /// Reading the availability configuration: marketers, data scientists, operators.
    ConfigReaderPath,
    Access::ReadAvailabilityConfig
);
availability_path!(
    /// Changing the availability configuration: data scientists, operators.
    ConfigEditorPath,
    Access::ChangeAvailabilityConfig
);

/// Routes only platform operators may call (onboarding, suspension).
#[derive(Debug, Clone)]
pub struct OperatorOnly(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for OperatorOnly {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_operator()?;
        Ok(Self(caller))
    }
}

/// `/tenants/{tenant}/...`, for a caller allowed to reach that retailer.
#[derive(Debug, Clone)]
pub struct TenantPath(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let segments = path_segments(parts, state).await?;
        let tenant = authorized_tenant(parts, state, &segments).await?;
        Ok(Self(tenant))
    }
}

/// `/tenants/{tenant}/templates/{template}/...`, for a caller allowed to reach that retailer.
#[derive(Debug, Clone)]
pub struct TemplatePath(pub TenantId, pub TemplateId);

impl<S: Send + Sync> FromRequestParts<S> for TemplatePath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let segments = path_segments(parts, state).await?;
        let tenant = authorized_tenant(parts, state, &segments).await?;
        let template = parse_id(
            segment(&segments, "template")?,
            "template",
            TemplateId::parse,
        )?;
        Ok(Self(tenant, template))
    }
}

/// `/tenants/{tenant}/push/{platform}`, for a caller allowed to reach that retailer.
#[derive(Debug, Clone)]
pub struct PushPlatformPath(pub TenantId, pub crate::domain::PushPlatform);

impl<S: Send + Sync> FromRequestParts<S> for PushPlatformPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let segments = path_segments(parts, state).await?;
        let tenant = authorized_tenant(parts, state, &segments).await?;
        let platform = segment(&segments, "platform")?;
        let platform = crate::domain::PushPlatform::parse(&platform).ok_or_else(|| {
            Problem::bad_request("path parameter platform: one of fcm, apns, apns_sandbox")
        })?;
        Ok(Self(tenant, platform))
    }
}

/// `/tenants/{tenant}/campaigns/{campaign}/...`, for a caller allowed to reach that retailer.
#[derive(Debug, Clone)]
pub struct CampaignPath(pub TenantId, pub CampaignId);

impl<S: Send + Sync> FromRequestParts<S> for CampaignPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let segments = path_segments(parts, state).await?;
        let tenant = authorized_tenant(parts, state, &segments).await?;
        let campaign = parse_id(
            segment(&segments, "campaign")?,
            "campaign",
            CampaignId::parse,
        )?;
        Ok(Self(tenant, campaign))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        variants: Vec<Variant>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Variant {
        weight: u32,
    }

    #[test]
    fn a_wrong_field_is_a_422_that_names_it() {
        let problem = parse_json::<Body>(
            br#"{"name": "x", "variants": [{"weight": 1}, {"weight": "heavy"}]}"#,
        )
        .unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "variants[1].weight");
        assert!(problem.errors[0].reason.contains("invalid type"));
    }

    #[test]
    fn unknown_and_missing_fields_are_422s() {
        let unknown =
            parse_json::<Body>(br#"{"name": "x", "variants": [], "nme": 1}"#).unwrap_err();
        assert_eq!(unknown.status, 422);
        assert!(unknown.errors[0].reason.contains("unknown field `nme`"));
        let missing = parse_json::<Body>(br#"{"variants": []}"#).unwrap_err();
        assert_eq!(missing.status, 422);
        assert!(missing.errors[0].reason.contains("missing field `name`"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_422() {
        for body in [&b"[null, null]"[..], b"\"x\"", b"42", b"null"] {
            let problem = parse_json::<Body>(body).unwrap_err();
            assert_eq!(problem.status, 422);
            assert_eq!(problem.errors[0].field, "body");
        }
    }

    #[test]
    fn malformed_json_is_a_400() {
        for body in [
            &b"{"[..],
            b"not json",
            b"{\"name\": \"x\", \"variants\": []} trailing",
        ] {
            assert_eq!(parse_json::<Body>(body).unwrap_err().status, 400);
        }
    }
}
