//! The usage counters on the delivery table, and the DynamoDB units the adapters report to a
//! batch's meter, against the local endpoint.

use crate::support;

use std::sync::Arc;

use storecast::aws::dynamodb::{DeliveryTable, TenantsTable};
use storecast::clock::SystemClock;
use storecast::costs::{Usage, UsageCounters as _, metered};
use storecast::directory::{DeliveryDirectory as _, TenantAdmin as _};
use storecast::domain::{BatchId, CampaignId, CampaignStatus, MessageId, TenantId, VariantId};
use storecast::pipeline::send_log::{
    AttemptId, BatchOutcome, DeliveryCounters as _, MessageClaim, RecipientOutcome, SendLog as _,
    record_outcome,
};
use storecast::testing::samples::sample_workspace;
use support::test_stack;

#[tokio::test]
async fn usage_is_added_per_campaign_and_read_back_summed() {
    let t = test_stack("usage").await;
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    );
    let (alpine, harbor) = (
        TenantId::parse("alpine").unwrap(),
        TenantId::parse("harbor").unwrap(),
    );
    let campaign = CampaignId::parse("c1").unwrap();
    let usage = Usage {
        lambda_gb_seconds: 0.125,
        lambda_requests: 0.5,
        dynamodb_read_units: 1.5,
        dynamodb_write_units: 10.0,
        kinesis_put_units: 51.0,
        ses_messages: 50.0,
        sns_publishes: 0.0,
    };
    // Two batches in different shards, one in the same shard as the first.
    for batch in ["ab01", "cd02", "ab03"] {
        let batch = BatchId::parse(batch).unwrap();
        table
            .add_usage(&alpine, &campaign, &batch, &usage)
            .await
            .unwrap();
    }
    let other = Usage {
        ses_messages: 7.0,
        ..Usage::default()
    };
    table
        .add_usage(&harbor, &campaign, &BatchId::parse("ab01").unwrap(), &other)
        .await
        .unwrap();

    let read = table.campaign_usage(&alpine, &campaign).await.unwrap();

    assert_eq!(read.ses_messages, 150.0);
    assert_eq!(read.kinesis_put_units, 153.0);
    assert_eq!(read.lambda_requests, 1.5);
    assert_eq!(read.lambda_gb_seconds, 0.375);
    assert_eq!(read.dynamodb_read_units, 4.5);
    // Each counter update counts its own write unit.
    assert_eq!(read.dynamodb_write_units, 33.0);
    let foreign = table.campaign_usage(&harbor, &campaign).await.unwrap();
    assert_eq!(foreign.ses_messages, 7.0);
    assert_eq!(foreign.dynamodb_write_units, 1.0);
    assert!(
        table
            .campaign_usage(&alpine, &CampaignId::parse("c2").unwrap())
            .await
            .unwrap()
            .is_zero()
    );
}

#[tokio::test]
async fn the_adapters_report_what_delivery_reads_and_writes_to_the_batchs_meter() {
    let t = test_stack("usage-meter").await;
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    );
    let tenants = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let campaign = CampaignId::parse("c1").unwrap();
    tenants
        .put_workspace(&sample_workspace("alpine", &t.sending_domain))
        .await
        .unwrap();
    tenants
        .set_campaign_status(&tenant, &campaign, CampaignStatus::Active)
        .await
        .unwrap();
    let batch = BatchId::parse("ab01").unwrap();
    let claim = |message: &str| MessageClaim {
        tenant_id: tenant.clone(),
        campaign_id: campaign.clone(),
        message_id: MessageId::parse(message).unwrap(),
        batch_id: batch.clone(),
        slot: 0,
        lease_until: i64::MAX,
        attempt: AttemptId(1),
    };

    let ((), units) = metered(async {
        tenants
            .delivery_context(&tenant, &campaign, &["ann@example.com".to_string()])
            .await
            .unwrap();
        table.claim(&claim("m1")).await.unwrap();
        // Refused (already claimed): billed all the same.
        table.claim(&claim("m1")).await.unwrap();
        let outcome = BatchOutcome {
            tenant_id: tenant.clone(),
            campaign_id: campaign.clone(),
            batch_id: batch.clone(),
            attempt: AttemptId(1),
            outcomes: vec![RecipientOutcome::Sent {
                provider_message_id: "ses-1".into(),
                endpoints_disabled: 0,
            }],
            revision: 0,
            channel: Default::default(),
        };
        record_outcome(&table, &outcome, &VariantId::parse("A").unwrap(), None)
            .await
            .unwrap();
    })
    .await;

    // Two claims of one unit each (the endpoint's ConsumedCapacity for the first, the billed
    // unit of the refused one) and the counted outcome's transaction: two items, each billed
    // twice (the endpoint returns no capacity for transactions: the model's 4 units).
    assert!(units.write >= 2.0 + 4.0, "{units:?}");
    assert!(units.read > 0.0, "the delivery context's read: {units:?}");
    // Outside a meter nothing is counted for anybody.
    table.claim(&claim("m2")).await.unwrap();
}

/// The rebatcher as the template wires it: each campaign of an invocation gets the PUT units of
/// its own batches, its share of the time and the request, and its tenant's budget announcement.
#[tokio::test]
async fn a_rebatch_invocation_adds_each_campaigns_share_to_its_usage() {
    use storecast::config::RebatchSettings;
    use storecast::pipeline::lambda_batch::InboundRecord;
    use storecast::testing::samples::sample_event;

    let t = test_stack("usage-rebatch").await;
    let environment = t.stack.function("rebatch").unwrap().environment.clone();
    let settings = RebatchSettings::from_lookup(&environment).unwrap();
    let sdk = t.endpoint.sdk_config().await;
    let rebatcher = storecast::wiring::rebatcher(&settings, &sdk);
    let mut events: Vec<_> = (0..60).map(|i| sample_event("alpine", "c1", i)).collect();
    events.extend((0..20).map(|i| sample_event("harbor", "c2", i)));
    let records: Vec<InboundRecord> = events
        .iter()
        .enumerate()
        .map(|(i, e)| InboundRecord {
            sequence_number: format!("{}", 1000 + i),
            partition_key: e.message_id.to_string(),
            data: serde_json::to_vec(e).unwrap(),
            arrived_at: None,
        })
        .collect();

    let outcome = rebatcher.rebatch(&records).await;

    assert!(outcome.failed_positions.is_empty(), "{outcome:?}");
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    );
    let usage = |tenant: &str, campaign: &str| {
        let table = &table;
        let (tenant, campaign) = (
            TenantId::parse(tenant).unwrap(),
            CampaignId::parse(campaign).unwrap(),
        );
        async move { table.campaign_usage(&tenant, &campaign).await.unwrap() }
    };
    let alpine = usage("alpine", "c1").await;
    let harbor = usage("harbor", "c2").await;
    // alpine's 60 events in two variants: at least two batches, each at least a unit.
    assert!(alpine.kinesis_put_units >= 2.0, "{alpine:?}");
    assert!(harbor.kinesis_put_units >= 1.0, "{harbor:?}");
    assert!((alpine.lambda_requests - 0.75).abs() < 1e-9, "{alpine:?}");
    assert!((harbor.lambda_requests - 0.25).abs() < 1e-9, "{harbor:?}");
    assert!(alpine.lambda_gb_seconds > 0.0);
    // The usage update's own unit and the tenant's announcement, at what the endpoint reports
    // for it (moto answers fixed capacities: the plumbing, not the numbers).
    assert!(alpine.dynamodb_write_units > 1.0, "{alpine:?}");
    assert!(harbor.dynamodb_write_units > 1.0, "{harbor:?}");
    assert!(usage("alpine", "c2").await.is_zero());
    assert!(usage("harbor", "c1").await.is_zero());
}
