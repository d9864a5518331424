//! The push channel's provider port: one rendered notification published to one device endpoint
//! of a retailer's push application, and the endpoint of a device token created (or found) in
//! that application. The message is built here, per platform, within each platform's size limit;
//! the Amazon SNS adapter is `crate::aws::sns`, the in-memory one `crate::testing`.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{MAX_PUSH_TOKEN_BYTES, PushDevice, PushPlatform, TenantId};
use crate::error::{BoxError, Message, Retryable, StoreError};

/// APNs refuses a notification payload over 4 KB (Apple, "Sending notification requests to APNs").
pub const APNS_MAX_PAYLOAD_BYTES: usize = 4096;
/// FCM refuses a message payload over 4 KB (Firebase, "About FCM messages").
pub const FCM_MAX_PAYLOAD_BYTES: usize = 4096;
/// An APNs device token is 32 bytes today, 64 hex digits; Apple allows it to grow, to 100 bytes.
pub const APNS_TOKEN_HEX_DIGITS: std::ops::RangeInclusive<usize> = 64..=200;

/// What one push says, rendered for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushContent<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub campaign_id: &'a str,
    pub message_id: &'a str,
    /// Where tapping the notification leads (the first offer's page), when there is one.
    pub deep_link: Option<&'a str>,
}

/// One notification ready for the provider, routed to exactly one tenant's application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPush {
    pub tenant_id: TenantId,
    pub platform: PushPlatform,
    pub application_arn: String,
    pub endpoint_arn: String,
    /// The provider's message (`MessageStructure: json`, [`provider_message`]).
    pub message: String,
}

/// A device's endpoint as cached: the application it was created in, and its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEndpoint {
    pub application_arn: String,
    pub endpoint_arn: String,
}

#[async_trait]
pub trait PushProvider: Send + Sync {
    /// The endpoint of the device's token in `application_arn`, created if there is none
    /// (idempotent: the same token answers the same endpoint). An endpoint the provider holds
    /// disabled answers [`PushError::EndpointDisabled`].
    async fn endpoint(
        &self,
        application_arn: &str,
        device: &PushDevice,
    ) -> Result<String, PushError>;
    /// Publishes one notification to one endpoint; answers the provider's message id.
    async fn publish(&self, push: &OutboundPush) -> Result<String, PushError>;
}

/// The endpoints created for a tenant's device tokens, so a token costs one create ever.
#[async_trait]
pub trait PushEndpoints: Send + Sync {
    /// The known endpoints of these devices of the tenant (the others are absent).
    async fn known(
        &self,
        tenant: &TenantId,
        devices: &[PushDevice],
    ) -> Result<HashMap<PushDevice, KnownEndpoint>, StoreError>;
    async fn remember(
        &self,
        tenant: &TenantId,
        device: &PushDevice,
        endpoint: &KnownEndpoint,
    ) -> Result<(), StoreError>;
}

/// How the provider answered one endpoint lookup or publish.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The provider disabled the endpoint (the app was uninstalled, the token expired): the
    /// token is suppressed for the retailer and never tried again.
    #[error("endpoint disabled")]
    EndpointDisabled {
        #[source]
        source: BoxError,
    },
    /// The token cannot be a device of the platform (malformed, or refused by the provider).
    #[error("invalid device token: {reason}")]
    InvalidToken {
        reason: String,
        #[source]
        source: BoxError,
    },
    /// The rendered notification does not fit the platform: this recipient's to fix, not retried.
    #[error("{platform} payload of {bytes} bytes is over the {limit}-byte limit")]
    PayloadTooLarge {
        platform: PushPlatform,
        bytes: usize,
        limit: usize,
    },
    /// The cached endpoint was deleted at the provider: created again, then published once more.
    #[error("endpoint not found")]
    EndpointNotFound {
        #[source]
        source: BoxError,
    },
    #[error("push provider throttled the request")]
    Throttled {
        #[source]
        source: BoxError,
    },
    /// The provider refused the request for now (nothing was published): retry later.
    #[error("push provider unavailable")]
    Unavailable {
        #[source]
        source: BoxError,
    },
    /// The retailer's application cannot send (disabled credentials, deleted, not ours): every
    /// push of the retailer on that platform would fail alike, so the batch is parked.
    #[error("push application rejected the request: {reason}")]
    ApplicationRejected {
        reason: String,
        #[source]
        source: BoxError,
    },
    /// This one notification was refused.
    #[error("push rejected: {reason}")]
    MessageRejected {
        reason: String,
        #[source]
        source: BoxError,
    },
    /// The publish may have reached the provider but its answer was lost: never retried.
    #[error("publish unconfirmed: {reason}")]
    Unconfirmed {
        reason: String,
        #[source]
        source: BoxError,
    },
}

impl Retryable for PushError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            PushError::Throttled { .. } | PushError::Unavailable { .. }
        )
    }
}

impl PushError {
    /// The short reason kept in a failed outcome and counted in the stats.
    pub fn reason(&self) -> &'static str {
        match self {
            PushError::EndpointDisabled { .. } => "endpoint disabled",
            PushError::InvalidToken { .. } => "invalid device token",
            PushError::PayloadTooLarge { .. } => "payload too large",
            PushError::EndpointNotFound { .. } => "endpoint not found",
            PushError::Throttled { .. } => "throttled",
            PushError::Unavailable { .. } => "provider unavailable",
            PushError::ApplicationRejected { .. } => "push application rejected",
            PushError::MessageRejected { .. } => "push rejected",
            PushError::Unconfirmed { .. } => "unconfirmed",
        }
    }

    fn invalid_token(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        PushError::InvalidToken {
            source: Message::boxed(reason.clone()),
            reason,
        }
    }
}

/// A token that cannot be a device of its platform, refused before any call: an APNs token is
/// 64 to 200 hex digits; an FCM token is printable ASCII without spaces, at most
/// [`MAX_PUSH_TOKEN_BYTES`].
pub fn check_token(device: &PushDevice) -> Result<(), PushError> {
    let token = device.token.as_str();
    if token.is_empty() {
        return Err(PushError::invalid_token("the token is empty"));
    }
    match device.platform {
        PushPlatform::Apns | PushPlatform::ApnsSandbox => {
            if !APNS_TOKEN_HEX_DIGITS.contains(&token.len())
                || !token.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(PushError::invalid_token(
                    "an APNs token is 64 to 200 hex digits",
                ));
            }
        }
        PushPlatform::Fcm => {
            if token.len() > MAX_PUSH_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(PushError::invalid_token(format!(
                    "an FCM token is at most {MAX_PUSH_TOKEN_BYTES} printable ASCII characters"
                )));
            }
        }
    }
    Ok(())
}

/// The provider's name of a platform: the key of its payload in the message, and the platform of
/// its applications.
pub fn provider_platform(platform: PushPlatform) -> &'static str {
    match platform {
        PushPlatform::Fcm => "GCM",
        PushPlatform::Apns => "APNS",
        PushPlatform::ApnsSandbox => "APNS_SANDBOX",
    }
}

/// The limit of a platform's payload.
pub fn payload_limit(platform: PushPlatform) -> usize {
    match platform {
        PushPlatform::Fcm => FCM_MAX_PAYLOAD_BYTES,
        PushPlatform::Apns | PushPlatform::ApnsSandbox => APNS_MAX_PAYLOAD_BYTES,
    }
}

#[derive(Serialize)]
struct Data<'a> {
    campaign_id: &'a str,
    message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deep_link: Option<&'a str>,
}

#[derive(Serialize)]
struct Alert<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    title: &'a str,
    body: &'a str,
}

/// The platform's own payload: FCM HTTP v1 (`fcmV1Message.message` with `notification` and
/// `data`), or APNs (`aps.alert` and the data beside `aps`). Over the platform's limit it is
/// [`PushError::PayloadTooLarge`].
pub fn platform_payload(
    platform: PushPlatform,
    content: &PushContent<'_>,
) -> Result<String, PushError> {
    let alert = Alert {
        title: content.title,
        body: content.body,
    };
    let data = Data {
        campaign_id: content.campaign_id,
        message_id: content.message_id,
        deep_link: content.deep_link,
    };
    let payload = match platform {
        PushPlatform::Fcm => serde_json::json!({
            "fcmV1Message": { "message": { "notification": alert, "data": data } }
        }),
        PushPlatform::Apns | PushPlatform::ApnsSandbox => {
            let mut payload = serde_json::to_value(&data).unwrap_or_default();
            payload["aps"] = serde_json::json!({ "alert": alert });
            payload
        }
    };
    let payload = payload.to_string();
    let limit = payload_limit(platform);
    if payload.len() > limit {
        return Err(PushError::PayloadTooLarge {
            platform,
            bytes: payload.len(),
            limit,
        });
    }
    Ok(payload)
}

/// The message published with `MessageStructure: json`: `default` (the body, which SNS requires)
/// and the platform's payload as a JSON string under its key (`GCM`, `APNS`, `APNS_SANDBOX`).
pub fn provider_message(
    platform: PushPlatform,
    content: &PushContent<'_>,
) -> Result<String, PushError> {
    let payload = platform_payload(platform, content)?;
    let mut message = serde_json::Map::new();
    message.insert("default".into(), content.body.into());
    message.insert(provider_platform(platform).into(), payload.into());
    Ok(serde_json::Value::Object(message).to_string())
}

/// Whether `endpoint_arn` is an endpoint of `application_arn`
/// (`arn:…:app/<platform>/<name>` → `arn:…:endpoint/<platform>/<name>/<id>`): an endpoint of
/// another retailer's application is never published to.
pub fn endpoint_belongs_to(application_arn: &str, endpoint_arn: &str) -> bool {
    let Some((head, app)) = application_arn.split_once(":app/") else {
        return false;
    };
    endpoint_arn
        .strip_prefix(head)
        .and_then(|rest| rest.strip_prefix(":endpoint/"))
        .and_then(|rest| rest.strip_prefix(app))
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/') && !rest[1..].contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content<'a>(title: &'a str, body: &'a str) -> PushContent<'a> {
        PushContent {
            title,
            body,
            campaign_id: "spring",
            message_id: "m-1",
            deep_link: Some("https://shop.example/i1"),
        }
    }

    #[test]
    fn the_fcm_message_is_http_v1_as_a_string_under_gcm() {
        let message = provider_message(PushPlatform::Fcm, &content("Hi", "Tents")).unwrap();
        let message: serde_json::Value = serde_json::from_str(&message).unwrap();
        assert_eq!(message["default"], "Tents");
        let gcm: serde_json::Value =
            serde_json::from_str(message["GCM"].as_str().expect("a string")).unwrap();
        let inner = &gcm["fcmV1Message"]["message"];
        assert_eq!(inner["notification"]["title"], "Hi");
        assert_eq!(inner["notification"]["body"], "Tents");
        assert_eq!(inner["data"]["campaign_id"], "spring");
        assert_eq!(inner["data"]["message_id"], "m-1");
        assert_eq!(inner["data"]["deep_link"], "https://shop.example/i1");
        assert!(message.get("APNS").is_none());
    }

    #[test]
    fn the_apns_message_has_its_alert_and_the_data_beside_aps() {
        for (platform, key) in [
            (PushPlatform::Apns, "APNS"),
            (PushPlatform::ApnsSandbox, "APNS_SANDBOX"),
        ] {
            let message = provider_message(platform, &content("", "Tents")).unwrap();
            let message: serde_json::Value = serde_json::from_str(&message).unwrap();
            let apns: serde_json::Value =
                serde_json::from_str(message[key].as_str().unwrap()).unwrap();
            assert_eq!(apns["aps"]["alert"]["body"], "Tents");
            assert!(
                apns["aps"]["alert"].get("title").is_none(),
                "empty title left out"
            );
            assert_eq!(apns["message_id"], "m-1");
            assert!(message.get("GCM").is_none());
        }
    }

    #[test]
    fn a_payload_over_the_platforms_limit_is_refused_and_one_at_it_passes() {
        for platform in PushPlatform::ALL {
            let base = platform_payload(platform, &content("T", "")).unwrap().len();
            let limit = payload_limit(platform);
            let fits = "b".repeat(limit - base);
            assert_eq!(
                platform_payload(platform, &content("T", &fits))
                    .unwrap()
                    .len(),
                limit
            );
            let over = "b".repeat(limit - base + 1);
            let error = platform_payload(platform, &content("T", &over)).unwrap_err();
            assert!(
                matches!(error, PushError::PayloadTooLarge { bytes, .. } if bytes == limit + 1),
                "{error}"
            );
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_call() {
        let device = |platform, token: &str| PushDevice {
            platform,
            token: token.into(),
        };
        assert!(check_token(&device(PushPlatform::Apns, &"ab".repeat(32))).is_ok());
        assert!(check_token(&device(PushPlatform::Fcm, "dGVzdA:APA91b-x_y")).is_ok());
        for bad in [
            device(PushPlatform::Apns, "not-hex"),
            device(PushPlatform::ApnsSandbox, &"a".repeat(63)),
            device(PushPlatform::Fcm, "has space"),
            device(PushPlatform::Fcm, ""),
            device(PushPlatform::Fcm, &"f".repeat(MAX_PUSH_TOKEN_BYTES + 1)),
        ] {
            let error = check_token(&bad).unwrap_err();
            assert!(matches!(error, PushError::InvalidToken { .. }), "{bad:?}");
        }
    }

    #[test]
    fn an_endpoint_belongs_only_to_its_own_application() {
        let app = "arn:aws:sns:eu-west-1:123456789012:app/GCM/storecast-alpine-fcm";
        let own = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-alpine-fcm/0f1e";
        assert!(endpoint_belongs_to(app, own));
        for other in [
            "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-alpine-fcm2/0f1e",
            "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-birch-fcm/0f1e",
            "arn:aws:sns:eu-west-1:999999999999:endpoint/GCM/storecast-alpine-fcm/0f1e",
            "arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/storecast-alpine-fcm/0f1e",
            "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-alpine-fcm/",
        ] {
            assert!(!endpoint_belongs_to(app, other), "{other}");
        }
    }
}
