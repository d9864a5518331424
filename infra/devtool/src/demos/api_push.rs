//! The API demo's push step: the first retailer's push applications (credentials the local
//! endpoint accepts as they are: nothing reaches Google or Apple), and the pushes the endpoint
//! took for this run, per platform.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};

use crate::local::pipeline::LocalPipeline;

/// Each platform's credentials for the retailer's applications, as the operator PUTs them.
pub fn demo_credentials(tenant: &str) -> Vec<(&'static str, Value)> {
    let account = json!({
        "type": "service_account",
        "project_id": format!("{tenant}-app"),
        "private_key": "-----BEGIN PRIVATE KEY-----\nlocal-only\n-----END PRIVATE KEY-----\n",
        "client_email": format!("push@{tenant}-app.iam.gserviceaccount.com"),
    });
    vec![
        (
            "fcm",
            json!({ "service_account_json": account.to_string() }),
        ),
        (
            "apns",
            json!({
                "signing_key": "-----BEGIN PRIVATE KEY-----\nlocal-only\n-----END PRIVATE KEY-----",
                "key_id": "DEMOKEY123",
                "team_id": "DEMOTEAM45",
                "bundle_id": format!("example.{tenant}.app"),
            }),
        ),
    ]
}

/// The pushes the endpoint took through this run's applications (named after the stack), by
/// platform (`fcm`, `apns`, `apns_sandbox`).
pub async fn pushes_of_this_run(
    pipeline: &LocalPipeline,
    stack_name: &str,
) -> Result<BTreeMap<String, u64>> {
    let mut by_platform = BTreeMap::new();
    for push in pipeline.endpoint.published_pushes().await? {
        let Some((platform, application)) = push
            .endpoint_arn
            .split_once(":endpoint/")
            .and_then(|(_, rest)| rest.split_once('/'))
        else {
            continue;
        };
        if !application.starts_with(&format!("{stack_name}-")) {
            continue;
        }
        let name = match platform {
            "GCM" => "fcm",
            "APNS" => "apns",
            "APNS_SANDBOX" => "apns_sandbox",
            other => other,
        };
        *by_platform.entry(name.to_string()).or_default() += 1;
    }
    Ok(by_platform)
}
