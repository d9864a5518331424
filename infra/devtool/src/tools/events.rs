//! The sample Lambda events in `events/`, ready for `sam local invoke -e`, generated from the
//! current contracts so they never drift from what the functions read.

use std::path::Path;

use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use serde_json::json;
use storecast::domain::SendBatch;
use storecast::testing::samples::{sample_batch, sample_event};

use crate::demos::pipeline::{CAMPAIGN, PAUSED_CAMPAIGN, RETAILERS, UNKNOWN_TENANT};

fn kinesis_event(stream: &str, payloads: &[Vec<u8>]) -> Result<serde_json::Value> {
    use base64::Engine as _;
    let records: Vec<_> = payloads
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let sequence = format!("4959{:056}", i + 1);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("sample-{i}"),
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1795341600.0 + i as f64,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/storecast-local",
                "awsRegion": "us-east-1",
                "eventSourceARN": format!("arn:aws:kinesis:us-east-1:123456789012:stream/storecast-local-{stream}"),
            })
        })
        .collect();
    let event = json!({ "Records": records });
    // The file must be exactly what the handler's event type reads.
    serde_json::from_value::<KinesisEvent>(event.clone())
        .context("sample is not a Kinesis event")?;
    Ok(event)
}

/// An SQS event as Lambda delivers the launch queue's messages.
fn sqs_event(queue: &str, bodies: &[String]) -> Result<serde_json::Value> {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("00000000-0000-4000-8000-{:012}", i + 1),
                "receiptHandle": format!("sample-receipt-{}", i + 1),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795341600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795341600100"
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:storecast-local-{queue}"),
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let event = json!({ "Records": records });
    serde_json::from_value::<aws_lambda_events::event::sqs::SqsEvent>(event.clone())
        .context("sample is not an SQS event")?;
    Ok(event)
}

fn send_batch(tenant: &str, campaign: &str, customers: std::ops::Range<u32>) -> SendBatch {
    sample_batch(tenant, campaign, customers.map(|n| n * 2))
}

/// An API Gateway HTTP API request (payload format 2.0), with the claims its JWT authorizer
/// verified. The file name ends with the status the API must answer.
fn http_api_event(
    method: &str,
    path: &str,
    route: &str,
    claims: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut context = serde_json::json!({
        "accountId": "123456789012",
        "apiId": "a1b2c3d4e5",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "a1b2c3d4e5",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.10",
            "userAgent": "curl/8.5.0"
        },
        "requestId": "sample-request-id",
        "routeKey": format!("{method} {route}"),
        "stage": "$default",
        "time": "22/Nov/2026:08:00:00 +0000",
        "timeEpoch": 1_795_334_400_000_u64
    });
    if let Some(claims) = claims {
        context["authorizer"] = serde_json::json!({"jwt": {"claims": claims, "scopes": null}});
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
        },
        "requestContext": context,
        "isBase64Encoded": false
    })
}

/// (file name, event) for every sample.
pub fn samples() -> Result<Vec<(String, serde_json::Value)>> {
    let campaign_events: Vec<Vec<u8>> = [
        (RETAILERS[0], 1),
        (RETAILERS[0], 2),
        (RETAILERS[1], 3),
        (RETAILERS[2], 4),
    ]
    .iter()
    .map(|(tenant, n)| serde_json::to_vec(&sample_event(tenant, CAMPAIGN, *n)))
    .collect::<Result<_, _>>()?;
    let chunk = unknown_launch_chunk()?;
    let mut samples = api_samples();
    samples.push((
        "launch/chunk-message.json".into(),
        sqs_event("launch-chunks", &[serde_json::to_string(&chunk)?])?,
    ));
    samples.extend(rebatch_samples(&campaign_events)?);
    samples.extend(deliver_samples()?);
    Ok(samples)
}

/// A chunk of a launch the local stack never made: the worker skips it (nothing to emit).
fn unknown_launch_chunk() -> Result<storecast::campaigns::ChunkMessage> {
    Ok(storecast::campaigns::ChunkMessage {
        launch: storecast::campaigns::LaunchKey {
            tenant_id: storecast::domain::TenantId::parse(RETAILERS[0])?,
            campaign_id: storecast::domain::CampaignId::parse(CAMPAIGN)?,
            launch_id: storecast::campaigns::LaunchId::parse("sample-launch")?,
        },
        index: 0,
        start: 0,
        end: 64 * 1024 * 1024,
    })
}

/// A marketer's requests to the API: the public document, its own retailer, another one.
fn api_samples() -> Vec<(String, serde_json::Value)> {
    let marketer = serde_json::json!({
        "sub": "marketer-1",
        "role": "marketer",
        "tenant_id": RETAILERS[0],
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
        "aud": "storecast-api"
    });
    vec![
        (
            "api/openapi-200.json".into(),
            http_api_event("GET", "/openapi.json", "/openapi.json", None),
        ),
        (
            "api/own-tenant-200.json".into(),
            http_api_event(
                "GET",
                &format!("/tenants/{}", RETAILERS[0]),
                "/{proxy+}",
                Some(marketer.clone()),
            ),
        ),
        (
            "api/other-tenant-403.json".into(),
            http_api_event(
                "GET",
                &format!("/tenants/{}", RETAILERS[1]),
                "/{proxy+}",
                Some(marketer),
            ),
        ),
    ]
}

/// The campaign's events, and the first of them beside a record cut short.
fn rebatch_samples(campaign_events: &[Vec<u8>]) -> Result<Vec<(String, serde_json::Value)>> {
    let mut with_malformed = campaign_events[..1].to_vec();
    with_malformed.push(b"{\"tenant_id\": \"alpine-outfitters\", \"campaign_id\": ".to_vec());
    Ok(vec![
        (
            "rebatch/campaign-events.json".into(),
            kinesis_event("campaign-events", campaign_events)?,
        ),
        (
            "rebatch/malformed-record.json".into(),
            kinesis_event("campaign-events", &with_malformed)?,
        ),
    ])
}

/// One retailer's send batch; and one invocation mixing a healthy retailer, an unknown tenant,
/// a paused campaign and another healthy retailer.
fn deliver_samples() -> Result<Vec<(String, serde_json::Value)>> {
    let batch = |tenant: &str, campaign: &str, range| -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&send_batch(tenant, campaign, range))?)
    };
    Ok(vec![
        (
            "deliver/send-batch.json".into(),
            kinesis_event("send-batches", &[batch(RETAILERS[0], CAMPAIGN, 0..3)?])?,
        ),
        (
            "deliver/mixed-tenants.json".into(),
            kinesis_event(
                "send-batches",
                &[
                    batch(RETAILERS[1], CAMPAIGN, 0..2)?,
                    batch(UNKNOWN_TENANT, CAMPAIGN, 0..2)?,
                    batch(RETAILERS[0], PAUSED_CAMPAIGN, 0..2)?,
                    batch(RETAILERS[2], CAMPAIGN, 0..2)?,
                ],
            )?,
        ),
    ])
}

pub fn write_samples(dir: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (name, event) in samples()? {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, serde_json::to_string_pretty(&event)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}
