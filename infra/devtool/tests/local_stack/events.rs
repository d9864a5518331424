//! Every file in events/ goes through its function's handler, in process, against the local
//! endpoint: the same event `sam local invoke -e` would pass.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_lambda_events::event::kinesis::KinesisEvent;
use storecast::config::{DeliverSettings, RebatchSettings};
use storecast_dev::local::pipeline::LocalPipeline;
use storecast_dev::local::template::Resolution;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn event(name: &str) -> KinesisEvent {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_events_match_the_current_contracts() {
    for (name, expected) in storecast_dev::tools::events::samples().unwrap() {
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(events_dir().join(&name)).unwrap())
                .unwrap();
        assert_eq!(
            committed, expected,
            "events/{name} is stale: run `cargo run -p storecast-dev -- sample-events`"
        );
    }
}

async fn pipeline(name: &str) -> (LocalPipeline, aws_config::SdkConfig) {
    let resolution = Resolution {
        stack_name: format!("t-events-{name}-{}", std::process::id()),
        ..Resolution::default()
    };
    let pipeline = LocalPipeline::connect_as(&support::template_path(), &resolution)
        .await
        .expect("run with `make test`: it starts the local endpoint");
    pipeline.provision().await.unwrap();
    storecast_dev::demos::pipeline::seed(&pipeline, 10)
        .await
        .unwrap();
    let sdk = pipeline.sdk_config().await;
    (pipeline, sdk)
}

fn environment(pipeline: &LocalPipeline, binary: &str) -> BTreeMap<String, String> {
    pipeline.stack.function(binary).unwrap().environment.clone()
}

#[tokio::test]
async fn rebatch_events_run_through_the_handler() {
    let (pipeline, sdk) = pipeline("rebatch").await;
    let settings = RebatchSettings::from_lookup(&environment(&pipeline, "rebatch")).unwrap();
    let rebatcher = storecast::wiring::rebatcher(&settings, &sdk);
    for name in [
        "rebatch/campaign-events.json",
        "rebatch/malformed-record.json",
    ] {
        let response = rebatcher.handle(event(name)).await.unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: {response:?}"
        );
    }
    use storecast::pipeline::archive::Archive;
    let letters = pipeline.archive().unwrap().dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "the malformed record is dead-lettered");
}

#[tokio::test]
async fn launch_events_run_through_the_handler() {
    let (pipeline, sdk) = pipeline("launch").await;
    let settings =
        storecast::config::CampaignsSettings::from_lookup(&environment(&pipeline, "launch"))
            .unwrap();
    let campaigns = storecast::wiring::campaigns(&settings, &sdk);
    let path = events_dir().join("launch/chunk-message.json");
    let event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let response = campaigns.handle_chunk_messages(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

#[tokio::test]
async fn deliver_events_run_through_the_handler() {
    let (pipeline, sdk) = pipeline("deliver").await;
    let settings = DeliverSettings::from_lookup(&environment(&pipeline, "deliver")).unwrap();
    let signer =
        storecast_dev::local::api::unsubscribe_signer(&settings.unsubscribe_keys_secret, &sdk)
            .await
            .unwrap();
    let deliverer = storecast::wiring::deliverer(&settings, &sdk, signer);
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
    for name in [
        "deliver/send-batch.json",
        "deliver/mixed-tenants.json",
        "deliver/send-batch.json",
    ] {
        let response = deliverer.handle(event(name), deadline).await.unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: {response:?}"
        );
    }
    use storecast::pipeline::archive::Archive;
    let archive = pipeline.archive().unwrap();
    let letters = archive.dead_letters().await.unwrap();
    assert!(letters.iter().any(|l| l.reason == "unknown tenant"));
    let parked = archive
        .parked(
            &storecast::domain::TenantId::parse("alpine-outfitters").unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(parked[0].1.reason, "campaign paused");
}

#[tokio::test]
async fn api_events_run_through_the_router_as_lambda_http_passes_them() {
    use tower::ServiceExt as _;
    let (pipeline, sdk) = pipeline("api").await;
    let router = storecast::api::router(
        storecast_dev::local::api::api_state(&pipeline, &sdk)
            .await
            .unwrap(),
    )
    .layer(axum::middleware::from_fn(
        storecast::api::auth::claims_from_api_gateway,
    ));
    for name in [
        "api/openapi-200.json",
        "api/own-tenant-200.json",
        "api/other-tenant-403.json",
    ] {
        let text = std::fs::read_to_string(events_dir().join(name)).unwrap();
        let request = lambda_http::request::from_str(&text).unwrap();
        let expected: u16 = name
            .trim_end_matches(".json")
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{name}");
    }
}
