//! What the local endpoint does not check, with request-level mocks: the message published per
//! platform, SNS's size limit, and how SNS's errors are classified.

use aws_sdk_sns::operation::create_platform_endpoint::CreatePlatformEndpointOutput;
use aws_sdk_sns::operation::get_endpoint_attributes::GetEndpointAttributesOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::types::error::{
    EndpointDisabledException, InvalidParameterException, PlatformApplicationDisabledException,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::channels::push::{PushContent, provider_message};
use crate::domain::{PushPlatform, TenantId};
use crate::error::Retryable;

const APP: &str = "arn:aws:sns:eu-west-1:123456789012:app/GCM/storecast-alpine-fcm";
const ENDPOINT: &str = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-alpine-fcm/e1";

fn outbound(platform: PushPlatform, body: &str) -> OutboundPush {
    let (app, endpoint) = match platform {
        PushPlatform::Fcm => (APP.to_string(), ENDPOINT.to_string()),
        other => {
            let name = crate::channels::push::provider_platform(other);
            (
                format!("arn:aws:sns:eu-west-1:123456789012:app/{name}/storecast-alpine-ios"),
                format!(
                    "arn:aws:sns:eu-west-1:123456789012:endpoint/{name}/storecast-alpine-ios/e2"
                ),
            )
        }
    };
    let content = PushContent {
        title: "Spring picks",
        body,
        campaign_id: "spring",
        message_id: "m-1",
        deep_link: Some("https://shop.example/tent"),
    };
    OutboundPush {
        tenant_id: TenantId::parse("alpine").unwrap(),
        platform,
        application_arn: app,
        endpoint_arn: endpoint,
        message: provider_message(platform, &content).unwrap(),
    }
}

fn fcm_device() -> PushDevice {
    PushDevice {
        platform: PushPlatform::Fcm,
        token: "dGVzdA:APA91b-token".into(),
    }
}

/// The platform's payload inside a published message, parsed.
fn payload(message: &str, key: &str) -> Option<serde_json::Value> {
    let message: serde_json::Value = serde_json::from_str(message).ok()?;
    serde_json::from_str(message.get(key)?.as_str()?).ok()
}

#[tokio::test]
async fn an_fcm_push_is_published_as_json_with_the_http_v1_message_under_gcm() {
    let rule = mock!(Client::publish)
        .match_requests(|r| {
            r.target_arn() == Some(ENDPOINT)
                && r.message_structure() == Some("json")
                && r.message()
                    .and_then(|m| payload(m, "GCM"))
                    .is_some_and(|gcm| {
                        let message = &gcm["fcmV1Message"]["message"];
                        message["notification"]["title"] == "Spring picks"
                            && message["notification"]["body"] == "Tents are in"
                            && message["data"]["campaign_id"] == "spring"
                            && message["data"]["message_id"] == "m-1"
                            && message["data"]["deep_link"] == "https://shop.example/tent"
                    })
                && r.message().and_then(|m| payload(m, "APNS")).is_none()
        })
        .then_output(|| PublishOutput::builder().message_id("sns-1").build());
    let client = mock_client!(aws_sdk_sns, [&rule]);
    let id = SnsPush::new(client)
        .publish(&outbound(PushPlatform::Fcm, "Tents are in"))
        .await
        .unwrap();
    assert_eq!((id.as_str(), rule.num_calls()), ("sns-1", 1));
}

#[tokio::test]
async fn an_apns_push_carries_its_alert_and_data_under_its_own_key() {
    for (platform, key) in [
        (PushPlatform::Apns, "APNS"),
        (PushPlatform::ApnsSandbox, "APNS_SANDBOX"),
    ] {
        let rule = mock!(Client::publish)
            .match_requests(move |r| {
                r.message_structure() == Some("json")
                    && r.message()
                        .and_then(|m| payload(m, key))
                        .is_some_and(|apns| {
                            apns["aps"]["alert"]["title"] == "Spring picks"
                                && apns["aps"]["alert"]["body"] == "Tents are in"
                                && apns["message_id"] == "m-1"
                        })
                    && r.message().and_then(|m| payload(m, "GCM")).is_none()
            })
            .then_output(|| PublishOutput::builder().message_id("sns-2").build());
        let client = mock_client!(aws_sdk_sns, [&rule]);
        SnsPush::new(client)
            .publish(&outbound(platform, "Tents are in"))
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1, "{platform}");
    }
}

#[tokio::test]
async fn a_message_over_snss_limit_is_refused_before_any_call() {
    let rule = mock!(Client::publish).then_output(|| PublishOutput::builder().build());
    let client = mock_client!(aws_sdk_sns, [&rule]);
    let mut push = outbound(PushPlatform::Fcm, "x");
    push.message = "m".repeat(MAX_MESSAGE_BYTES + 1);
    let error = SnsPush::new(client).publish(&push).await.unwrap_err();
    assert!(
        matches!(error, PushError::PayloadTooLarge { .. }),
        "{error}"
    );
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn an_endpoint_of_another_application_is_never_published_to() {
    let rule = mock!(Client::publish).then_output(|| PublishOutput::builder().build());
    let client = mock_client!(aws_sdk_sns, [&rule]);
    let mut push = outbound(PushPlatform::Fcm, "x");
    push.endpoint_arn =
        "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-birch-fcm/e9".into();
    let error = SnsPush::new(client).publish(&push).await.unwrap_err();
    assert!(
        matches!(error, PushError::ApplicationRejected { .. }),
        "{error}"
    );
    assert_eq!(rule.num_calls(), 0);
}

async fn classify_publish(error: fn() -> PublishError) -> (PushError, usize) {
    let rule = mock!(Client::publish).then_error(error);
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule], configure);
    let error = SnsPush::new(client)
        .publish(&outbound(PushPlatform::Fcm, "x"))
        .await
        .unwrap_err();
    (error, rule.num_calls())
}

fn generic(code: &'static str) -> PublishError {
    PublishError::generic(
        aws_sdk_sns::error::ErrorMetadata::builder()
            .code(code)
            .message(code)
            .build(),
    )
}

#[tokio::test]
async fn publish_errors_are_classified_and_a_lost_answer_is_never_retried() {
    let (disabled, _) = classify_publish(|| {
        PublishError::EndpointDisabledException(
            EndpointDisabledException::builder()
                .message("Endpoint is disabled")
                .build(),
        )
    })
    .await;
    assert!(matches!(disabled, PushError::EndpointDisabled { .. }));
    let (application, _) = classify_publish(|| {
        PublishError::PlatformApplicationDisabledException(
            PlatformApplicationDisabledException::builder().build(),
        )
    })
    .await;
    assert!(matches!(application, PushError::ApplicationRejected { .. }));
    let (throttled, _) = classify_publish(|| generic("Throttled")).await;
    assert!(throttled.is_retryable(), "{throttled:?}");
    let (internal, calls) = classify_publish(|| generic("InternalError")).await;
    assert!(
        matches!(internal, PushError::Unconfirmed { .. }),
        "{internal:?}"
    );
    assert!(!internal.is_retryable());
    assert_eq!(calls, 1, "the SDK does not retry Publish");
}

#[tokio::test]
async fn a_new_endpoint_is_created_and_read_for_its_state() {
    let create = mock!(Client::create_platform_endpoint)
        .match_requests(|r| {
            r.platform_application_arn() == Some(APP) && r.token() == Some("dGVzdA:APA91b-token")
        })
        .then_output(|| {
            CreatePlatformEndpointOutput::builder()
                .endpoint_arn(ENDPOINT)
                .build()
        });
    let enabled = mock!(Client::get_endpoint_attributes)
        .match_requests(|r| r.endpoint_arn() == Some(ENDPOINT))
        .then_output(|| {
            GetEndpointAttributesOutput::builder()
                .attributes("Enabled", "true")
                .build()
        });
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&create, &enabled]);
    let arn = SnsPush::new(client)
        .endpoint(APP, &fcm_device())
        .await
        .unwrap();
    assert_eq!(arn, ENDPOINT);
}

#[tokio::test]
async fn an_endpoint_sns_holds_disabled_is_reported_disabled() {
    let create = mock!(Client::create_platform_endpoint).then_error(|| {
        CreatePlatformEndpointError::InvalidParameterException(
            InvalidParameterException::builder()
                .message(format!(
                    "Invalid parameter: Token Reason: Endpoint {ENDPOINT} already exists with \
                     the same Token, but different attributes."
                ))
                .build(),
        )
    });
    let disabled = mock!(Client::get_endpoint_attributes)
        .match_requests(|r| r.endpoint_arn() == Some(ENDPOINT))
        .then_output(|| {
            GetEndpointAttributesOutput::builder()
                .attributes("Enabled", "false")
                .build()
        });
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&create, &disabled]);
    let error = SnsPush::new(client)
        .endpoint(APP, &fcm_device())
        .await
        .unwrap_err();
    assert!(
        matches!(error, PushError::EndpointDisabled { .. }),
        "{error}"
    );
    assert_eq!(disabled.num_calls(), 1);
}

#[tokio::test]
async fn a_token_sns_refuses_is_invalid_and_an_endpoint_of_another_app_is_refused() {
    let refused = mock!(Client::create_platform_endpoint).then_error(|| {
        CreatePlatformEndpointError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("Invalid parameter: Token Reason: malformed")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&refused]);
    let error = SnsPush::new(client)
        .endpoint(APP, &fcm_device())
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::InvalidToken { .. }), "{error}");

    let foreign = mock!(Client::create_platform_endpoint).then_output(|| {
        CreatePlatformEndpointOutput::builder()
            .endpoint_arn("arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/storecast-birch-fcm/e")
            .build()
    });
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&foreign]);
    let error = SnsPush::new(client)
        .endpoint(APP, &fcm_device())
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::InvalidToken { .. }), "{error}");
}
