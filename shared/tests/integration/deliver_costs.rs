//! What delivery counts of a campaign's usage: added to the delivered batch's own campaign only,
//! each message's campaign event once, and priced into the campaign's stats.

use std::sync::Arc;

use storecast::clock::Clock;
use storecast::costs::Usage;
use storecast::domain::{CampaignId, SendBatch, TenantId};
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig, DeliveryOutcome};
use storecast::pipeline::lambda_batch::InboundRecord;
use storecast::pipeline::send_log::DeliveryCounters;
use storecast::testing::samples::{sample_batch, seed_retailer};
use storecast::testing::{
    ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendLog,
};

const DOMAIN: &str = "mail.storecast.example";

struct World {
    send_log: Arc<MemorySendLog>,
    clock: Arc<ManualClock>,
    deliverer: Deliverer,
}

async fn world(tenants: &[&str]) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for tenant in tenants {
        seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
            .await
            .unwrap();
    }
    let send_log = Arc::new(MemorySendLog::default());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-11-22 10:00:00 UTC),
    ));
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory,
            send_log: send_log.clone(),
            provider: Arc::new(MemoryEmailProvider::keeping_messages()),
            archive: Arc::new(MemoryArchive::default()),
            clock: clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    )
    .with_usage(send_log.clone());
    World {
        send_log,
        clock,
        deliverer,
    }
}

impl World {
    async fn deliver(&self, batches: &[&SendBatch]) -> DeliveryOutcome {
        let records: Vec<InboundRecord> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| InboundRecord {
                sequence_number: format!("{}", 100 + i),
                partition_key: b.batch_id.to_string(),
                data: serde_json::to_vec(b).unwrap(),
                arrived_at: None,
            })
            .collect();
        let deadline = self.clock.now() + time::Duration::seconds(60);
        self.deliverer.deliver(&records, deadline).await
    }

    async fn usage(&self, tenant: &str) -> Usage {
        self.send_log
            .campaign_usage(
                &TenantId::parse(tenant).unwrap(),
                &CampaignId::parse("c1").unwrap(),
            )
            .await
            .unwrap()
    }
}

fn record_units(batch: &SendBatch) -> f64 {
    Usage::put_units(serde_json::to_vec(batch).unwrap().len())
}

#[tokio::test]
async fn a_delivered_batch_adds_its_usage_to_its_own_campaign_only() {
    let world = world(&["alpine", "harbor"]).await;
    let batch = sample_batch("alpine", "c1", 0..20);

    let outcome = world.deliver(&[&batch]).await;

    let counts = outcome.per_tenant["alpine"];
    assert!(counts.sent > 0);
    let usage = world.usage("alpine").await;
    assert_eq!(
        usage.ses_messages,
        (counts.sent + counts.unconfirmed) as f64
    );
    assert_eq!(usage.sns_publishes, 0.0);
    assert_eq!(usage.lambda_requests, 1.0, "the invocation's one batch");
    assert!(usage.lambda_gb_seconds > 0.0);
    // The send batch's record and the 20 campaign events it carried, each under 25 KB.
    assert_eq!(usage.kinesis_put_units, record_units(&batch) + 20.0);
    // The in-memory stores report no consumed capacity (the DynamoDB adapters do: the local
    // stack's test).
    assert_eq!(usage.dynamodb_write_units, 0.0);
    assert!(usage.usd() >= usage.ses_messages * storecast::costs::SES_MESSAGE_USD);
    assert!(
        world.usage("harbor").await.is_zero(),
        "another retailer's campaign is unchanged"
    );
}

#[tokio::test]
async fn batches_of_two_retailers_in_one_invocation_each_count_their_own_share() {
    let world = world(&["alpine", "harbor"]).await;
    let alpine = sample_batch("alpine", "c1", 0..10);
    let harbor = sample_batch("harbor", "c1", 100..130);

    let outcome = world.deliver(&[&alpine, &harbor]).await;

    for (tenant, batch, events) in [("alpine", &alpine, 10.0), ("harbor", &harbor, 30.0)] {
        let counts = outcome.per_tenant[tenant];
        let usage = world.usage(tenant).await;
        assert_eq!(usage.lambda_requests, 0.5, "{tenant}: half the invocation");
        assert_eq!(
            usage.ses_messages,
            (counts.sent + counts.unconfirmed) as f64
        );
        assert_eq!(usage.kinesis_put_units, record_units(batch) + events);
    }
}

#[tokio::test]
async fn a_redelivered_batch_counts_its_time_again_but_never_its_messages() {
    let world = world(&["alpine"]).await;
    let batch = sample_batch("alpine", "c1", 0..10);
    world.deliver(&[&batch]).await;
    let first = world.usage("alpine").await;

    let again = world.deliver(&[&batch]).await;

    assert_eq!(again.per_tenant["alpine"].sent, 0, "all duplicates");
    let second = world.usage("alpine").await;
    assert_eq!(second.ses_messages, first.ses_messages);
    // Only the record's own unit again: its campaign events were counted when final.
    assert_eq!(
        second.kinesis_put_units,
        first.kinesis_put_units + record_units(&batch)
    );
    assert_eq!(second.lambda_requests, 2.0);
    assert!(second.lambda_gb_seconds > first.lambda_gb_seconds);
}
