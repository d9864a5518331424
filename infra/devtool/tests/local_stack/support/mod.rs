//! Shared by the tests against the local endpoint: every test gets its own stack name, so tests
//! run in parallel on one endpoint without seeing each other's resources.

// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use aws_sdk_kinesis::types::ShardIteratorType;
use storecast::domain::CampaignEvent;
use storecast_dev::local::provision::provision;
use storecast_dev::local::template::{Resolution, Stack};
use storecast_dev::local::{Clients, Endpoint};

pub struct TestStack {
    pub stack: Stack,
    pub clients: Clients,
    pub endpoint: Endpoint,
    pub sending_domain: String,
}

pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// A freshly provisioned copy of the template's resources under a unique stack name.
pub async fn test_stack(name: &str) -> TestStack {
    let endpoint = Endpoint::from_env().expect(
        "these tests need the local endpoint: run them with `make test` \
         (or infra/scripts/with-local-stack.sh cargo test)",
    );
    let suffix = uuid_suffix();
    let resolution = Resolution {
        stack_name: format!("t-{name}-{suffix}"),
        ..Resolution::default()
    };
    let stack = Stack::load(&template_path(), &resolution).expect("template.yaml loads");
    let sdk = endpoint.sdk_config().await;
    let clients = Clients::new(&sdk);
    let sending_domain = stack.function("deliver").unwrap().environment["SENDING_DOMAIN"].clone();
    provision(&clients, &stack, &sending_domain)
        .await
        .expect("provisioning on the local endpoint");
    TestStack {
        stack,
        clients,
        endpoint,

        sending_domain,
    }
}

fn uuid_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every record of the stream, from the start of each shard: (partition key, decoded event).
pub async fn stream_events(t: &TestStack, name: &str) -> Vec<(String, CampaignEvent)> {
    let kinesis = &t.clients.kinesis;
    let mut events = Vec::new();
    let shards = kinesis
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .unwrap();
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let output = kinesis
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .unwrap();
            if output.records().is_empty() {
                break;
            }
            for record in output.records() {
                let event: CampaignEvent = serde_json::from_slice(record.data().as_ref())
                    .expect("every record decodes as the campaign-event contract");
                events.push((
                    record.partition_key().unwrap_or_default().to_string(),
                    event,
                ));
            }
            iterator = output.next_shard_iterator;
        }
    }
    events
}
