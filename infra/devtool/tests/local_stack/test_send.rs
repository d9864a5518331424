//! A template's test send through the API as the `api` function builds it (its SES client on the
//! local endpoint), end to end: onboarding publishes the standard templates, the marketer sets a
//! seed list through the settings PATCH, and the test send is an email SES (moto) accepted, to
//! that address only, from the retailer's from-address, with the `[TEST] ` subject.

use crate::support;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use storecast::api::Claims;
use storecast_dev::local::pipeline::LocalPipeline;
use storecast_dev::local::template::Resolution;
use tower::ServiceExt as _;

fn claims(pairs: &[(&str, &str)]) -> Claims {
    Claims(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

async fn call(
    router: &axum::Router,
    method: Method,
    uri: &str,
    caller: Claims,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    request.extensions_mut().insert(caller);
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_test_send_reaches_the_local_ses_from_the_retailers_address_to_its_seed_address_only() {
    let resolution = Resolution {
        stack_name: format!("t-test-send-{}", std::process::id()),
        ..Resolution::default()
    };
    let pipeline = LocalPipeline::connect_as(&support::template_path(), &resolution)
        .await
        .expect("run with `make test`: it starts the local endpoint");
    pipeline.provision().await.unwrap();
    let sdk = pipeline.sdk_config().await;
    let router = storecast::api::router(
        storecast_dev::local::api::api_state(&pipeline, &sdk)
            .await
            .unwrap(),
    );
    let tenant = format!("seed-{}", std::process::id());
    let operator = claims(&[("sub", "ops"), ("role", "operator")]);
    let marketer = claims(&[("sub", "m"), ("role", "marketer"), ("tenant_id", &tenant)]);
    let (status, workspace) = call(
        &router,
        Method::PUT,
        &format!("/tenants/{tenant}"),
        operator,
        json!({"display_name": "Seed Outfitters", "slug": tenant}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{workspace}");
    let seed = format!("qa@{tenant}.test");
    let (status, patched) = call(
        &router,
        Method::PATCH,
        &format!("/tenants/{tenant}"),
        marketer.clone(),
        json!({"seed_list": [seed.to_uppercase()]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["settings"]["seed_list"], json!([seed]));
    let before = pipeline.endpoint.sent_emails().await.unwrap().len();

    let uri = format!("/tenants/{tenant}/templates/weekly-offers/test-send");
    let (status, refused) = call(
        &router,
        Method::POST,
        &uri,
        marketer.clone(),
        json!({"to": "someone@else.test"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, sent) = call(
        &router,
        Method::POST,
        &uri,
        marketer,
        json!({"to": seed, "customer": {"fields": {"first_name": "Ana"}}}),
    )
    .await;

    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert!(
        !sent["provider_message_id"].as_str().unwrap().is_empty(),
        "{sent}"
    );
    let emails = pipeline.endpoint.sent_emails().await.unwrap();
    let ours: Vec<_> = emails[before..]
        .iter()
        .filter(|email| email.source == workspace["from_address"])
        .collect();
    assert_eq!(ours.len(), 1, "one email, the test: {emails:?}");
    // moto lists the envelope's recipient and the MIME `To` both: each is the seed address.
    let destinations = &ours[0].destinations;
    assert!(
        !destinations.is_empty() && destinations.iter().all(|to| *to == seed),
        "{destinations:?}"
    );
    let message = mail_parser::MessageParser::default()
        .parse(ours[0].raw.as_bytes())
        .unwrap();
    let subject = message.subject().unwrap();
    assert!(subject.starts_with("[TEST] Ana"), "{subject}");
    assert_eq!(sent["subject"], subject);
}
