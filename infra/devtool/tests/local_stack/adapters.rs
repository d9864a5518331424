//! Every AWS adapter against the local endpoint (moto in server mode), through the real SDK.

use crate::support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::types::ShardIteratorType;
use storecast::aws::dynamodb::{DeliveryTable, TenantsTable};
use storecast::aws::kinesis::KinesisStream;
use storecast::aws::s3::S3Archive;
use storecast::aws::ses::SesProvider;
use storecast::campaigns::ContactHistory as _;
use storecast::channels::email::{EmailProvider, OutboundEmail};
use storecast::clock::SystemClock;
use storecast::deliverability::frequency_cap::{ContactLedger as _, ContactScope, ContactTake};
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::directory::DeliveryDirectory;
use storecast::directory::TenantAdmin;
use storecast::domain::{
    BatchId, CampaignId, CampaignStatus, Channel, CustomerId, FrequencyCap, MessageId,
    QuietHoursZone, TenantId, TenantStatus, VariantId,
};
use storecast::error::SendError;
use storecast::pipeline::archive::{Archive, DeadLetter, ParkedBatch};
use storecast::pipeline::parked::{CountedArchive, ParkedCounts};
use storecast::pipeline::publish::{EntryResult, RecordStream, StreamRecord};
use storecast::pipeline::redrive::redrive_parked;
use storecast::pipeline::send_log::{
    AttemptId, BatchOutcome, ClaimResult, DeliveryCounters, DeliveryTally, MessageClaim,
    OutcomeWrite, OutcomeWritten, RecipientOutcome, SendLog, record_outcome,
};
use storecast::templates::ports::TemplateStore;
use storecast::testing::samples::{sample_template_version, sample_workspace};
use support::test_stack;

#[tokio::test]
async fn kinesis_stream_puts_records_that_read_back_unchanged() {
    let t = test_stack("kinesis").await;
    let name = t.stack.stream("SendBatchesStream").unwrap().name.clone();
    let stream = KinesisStream::new(t.clients.kinesis.clone(), &name);
    let records: Vec<StreamRecord> = (0..7)
        .map(|i| StreamRecord {
            partition_key: format!("key-{i}"),
            data: format!("payload {i}").into_bytes(),
        })
        .collect();
    let results = stream.put_records(&records).await.unwrap();
    assert_eq!(results, vec![EntryResult::Accepted; 7]);

    let mut read = Vec::new();
    let shards = t
        .clients
        .kinesis
        .list_shards()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    for shard in shards.shards() {
        let iterator = t
            .clients
            .kinesis
            .get_shard_iterator()
            .stream_name(&name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let output = t
            .clients
            .kinesis
            .get_records()
            .shard_iterator(iterator)
            .send()
            .await
            .unwrap();
        read.extend(
            output
                .records()
                .iter()
                .map(|r| String::from_utf8(r.data().as_ref().to_vec()).unwrap()),
        );
    }
    read.sort();
    let expected: Vec<String> = (0..7).map(|i| format!("payload {i}")).collect();
    assert_eq!(read, expected);
}

#[tokio::test]
async fn kinesis_stream_reports_a_missing_stream_as_not_retryable() {
    let t = test_stack("kinesis-missing").await;
    let stream = KinesisStream::new(t.clients.kinesis.clone(), "no-such-stream");
    let error = stream
        .put_records(&[StreamRecord {
            partition_key: "k".into(),
            data: b"x".to_vec(),
        }])
        .await
        .unwrap_err();
    assert!(
        !storecast::error::Retryable::is_retryable(&error),
        "{error:?}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the SDK error is kept"
    );
}

#[tokio::test]
async fn tenants_table_answers_the_delivery_context_in_one_read() {
    let t = test_stack("tenants").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let campaign = CampaignId::parse("c1").unwrap();
    let mut workspace = sample_workspace("alpine", &t.sending_domain);
    workspace.status = TenantStatus::Paused;
    table.put_workspace(&workspace).await.unwrap();
    table
        .set_campaign_status(&tenant, &campaign, CampaignStatus::Active)
        .await
        .unwrap();
    table
        .add(&tenant, &Suppression::manual("Ann@Example.com", 0))
        .await
        .unwrap();
    // Another tenant's suppression of the same address does not leak.
    table
        .add(
            &TenantId::parse("harbor").unwrap(),
            &Suppression::manual("bo@example.com", 0),
        )
        .await
        .unwrap();

    let addresses = vec!["ann@example.com".to_string(), "bo@example.com".to_string()];
    let context = table
        .delivery_context(&tenant, &campaign, &addresses)
        .await
        .unwrap();
    assert_eq!(context.workspace, Some(workspace));
    assert_eq!(context.campaign_status, Some(CampaignStatus::Active));
    assert_eq!(
        context.suppressed.into_iter().collect::<Vec<_>>(),
        vec!["ann@example.com".to_string()]
    );

    assert_eq!(context.campaign_quiet_hours, QuietHoursZone::Retailer);

    let unknown = table
        .delivery_context(&TenantId::parse("ghost").unwrap(), &campaign, &[])
        .await
        .unwrap();
    assert!(unknown.workspace.is_none() && unknown.campaign_status.is_none());

    // The campaign's quiet-hours zone, read with its status; a status put whole resets it.
    let zone = || async {
        let context = table
            .delivery_context(&tenant, &campaign, &[])
            .await
            .unwrap();
        (context.campaign_status, context.campaign_quiet_hours)
    };
    table
        .set_campaign_quiet_hours(&tenant, &campaign, QuietHoursZone::Customer)
        .await
        .unwrap();
    assert_eq!(
        zone().await,
        (Some(CampaignStatus::Active), QuietHoursZone::Customer)
    );
    table
        .set_campaign_quiet_hours(&tenant, &campaign, QuietHoursZone::Retailer)
        .await
        .unwrap();
    assert_eq!(zone().await.1, QuietHoursZone::Retailer);
}

#[tokio::test]
async fn tenants_table_lists_the_workspaces_from_the_registry_index_alone() {
    use storecast::directory::WorkspaceListing as _;
    let t = test_stack("registry").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let harbor = sample_workspace("harbor", &t.sending_domain);
    let alpine = sample_workspace("alpine", &t.sending_domain);
    assert!(table.create_workspace(&harbor).await.unwrap());
    table.put_workspace(&alpine).await.unwrap();
    // Items beside the workspaces: a suppression, a campaign status, a template version.
    table
        .add(
            &alpine.tenant_id,
            &Suppression::manual("ann@example.com", 0),
        )
        .await
        .unwrap();
    table
        .set_campaign_status(
            &alpine.tenant_id,
            &CampaignId::parse("c1").unwrap(),
            CampaignStatus::Active,
        )
        .await
        .unwrap();

    let listed = table.workspaces().await.unwrap();

    assert_eq!(
        listed,
        vec![alpine, harbor],
        "the workspaces, in tenant order, only"
    );
    let indexed = t
        .clients
        .dynamodb
        .scan()
        .table_name(&t.stack.table("TenantsTable").unwrap().name)
        .index_name(storecast::aws::dynamodb::WORKSPACE_REGISTRY_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.count(), 2, "the index holds one entry per retailer");

    // A workspace written before the registry existed is listed once registered, and only then.
    let table_name = &t.stack.table("TenantsTable").unwrap().name;
    let mut older = t
        .clients
        .dynamodb
        .get_item()
        .table_name(table_name)
        .key("pk", AttributeValue::S("TENANT#alpine".into()))
        .key("sk", AttributeValue::S("WORKSPACE".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    older.remove("registry");
    older.insert("pk".into(), AttributeValue::S("TENANT#citrus".into()));
    older.insert("tenant_id".into(), AttributeValue::S("citrus".into()));
    t.clients
        .dynamodb
        .put_item()
        .table_name(table_name)
        .set_item(Some(older))
        .send()
        .await
        .unwrap();
    assert_eq!(table.workspaces().await.unwrap().len(), 2);
    assert_eq!(table.register_unlisted_workspaces().await.unwrap(), 1);
    assert_eq!(
        table.register_unlisted_workspaces().await.unwrap(),
        0,
        "once"
    );
    let tenants: Vec<String> = table
        .workspaces()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.tenant_id.to_string())
        .collect();
    assert_eq!(tenants, ["alpine", "citrus", "harbor"]);
}

#[tokio::test]
async fn workspace_writes_change_only_their_attributes_on_their_conditions() {
    let t = test_stack("workspaces").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let workspace = sample_workspace("alpine", &t.sending_domain);
    assert!(table.create_workspace(&workspace).await.unwrap());
    assert!(
        !table.create_workspace(&workspace).await.unwrap(),
        "created once"
    );

    // An operator suspends between a marketer's read and write: the settings write, conditional
    // on the settings read, leaves the status alone.
    let read = table.workspace(&tenant).await.unwrap().unwrap();
    assert!(
        table
            .set_workspace_status(&tenant, None, TenantStatus::Suspended)
            .await
            .unwrap()
    );
    let mut patched = read.settings.clone();
    patched.timezone = "America/New_York".into();
    assert!(
        table
            .update_settings(&tenant, &read.settings, &patched, None)
            .await
            .unwrap()
    );
    let stored = table.workspace(&tenant).await.unwrap().unwrap();
    assert_eq!(stored.status, TenantStatus::Suspended);
    assert_eq!(stored.settings, patched);
    // A write on the settings it read before is refused: they changed since.
    assert!(
        !table
            .update_settings(&tenant, &read.settings, &read.settings, Some("Stale"))
            .await
            .unwrap()
    );
    // A reinstate on a status that changed since it was read is refused.
    assert!(
        !table
            .set_workspace_status(&tenant, Some(TenantStatus::Paused), TenantStatus::Active)
            .await
            .unwrap()
    );
    // A re-PUT writes what onboarding owns, never the status; only with the same slug.
    let mut renamed = stored.clone();
    renamed.display_name = "Alpine AG".into();
    renamed.status = TenantStatus::Active;
    assert!(table.update_onboarding(&renamed).await.unwrap());
    let stored = table.workspace(&tenant).await.unwrap().unwrap();
    assert_eq!(
        (stored.display_name.as_str(), stored.status),
        ("Alpine AG", TenantStatus::Suspended)
    );
    renamed.slug = "other".into();
    assert!(!table.update_onboarding(&renamed).await.unwrap());
    let nobody = TenantId::parse("nobody").unwrap();
    assert!(
        !table
            .set_workspace_status(&nobody, None, TenantStatus::Suspended)
            .await
            .unwrap(),
        "no item is created by a status write"
    );
    assert!(table.workspace(&nobody).await.unwrap().is_none());

    // A campaign resumes only from PAUSED.
    let campaign = CampaignId::parse("c1").unwrap();
    table
        .set_campaign_status(&tenant, &campaign, CampaignStatus::Cancelled)
        .await
        .unwrap();
    assert!(
        !table
            .set_campaign_status_if(
                &tenant,
                &campaign,
                CampaignStatus::Paused,
                CampaignStatus::Active
            )
            .await
            .unwrap()
    );
    table
        .set_campaign_status(&tenant, &campaign, CampaignStatus::Paused)
        .await
        .unwrap();
    assert!(
        table
            .set_campaign_status_if(
                &tenant,
                &campaign,
                CampaignStatus::Paused,
                CampaignStatus::Active
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn tenants_table_keeps_template_versions_per_tenant() {
    let t = test_stack("templates").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let version = sample_template_version("alpine", 3);
    table.put_template_version(&version).await.unwrap();
    let read = table
        .template_version(&version.tenant_id, &version.template)
        .await
        .unwrap();
    assert_eq!(read, Some(version.clone()));
    let other_tenant = table
        .template_version(&TenantId::parse("harbor").unwrap(), &version.template)
        .await
        .unwrap();
    assert_eq!(other_tenant, None);
}

fn claim(batch: &str, slot: u16, lease_until: i64) -> MessageClaim {
    MessageClaim {
        tenant_id: TenantId::parse("alpine").unwrap(),
        campaign_id: CampaignId::parse("c1").unwrap(),
        message_id: MessageId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        batch_id: BatchId::parse(batch).unwrap(),
        slot,
        lease_until,
        // Each claim written is its own attempt: the lease stands in for it here.
        attempt: AttemptId(lease_until as u64 * 1_000_003),
    }
}

#[tokio::test]
async fn delivery_table_claims_once_and_takes_over_only_the_named_claim() {
    let t = test_stack("claims").await;
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    );
    let first = claim("batch-a", 3, 1_000);
    assert_eq!(table.claim(&first).await.unwrap(), ClaimResult::Claimed);
    let second = claim("batch-b", 0, 2_000);
    assert_eq!(
        table.claim(&second).await.unwrap(),
        ClaimResult::Held(first.clone()),
        "the conditional put answers the existing claim"
    );
    let stale = claim("batch-a", 3, 999);
    assert!(!table.take_over(&stale, &second).await.unwrap());
    assert!(table.take_over(&first, &second).await.unwrap());
    assert_eq!(
        table
            .message_claim(&first.tenant_id, &first.campaign_id, &first.message_id)
            .await
            .unwrap(),
        Some(second)
    );
}

#[tokio::test]
async fn delivery_table_keeps_batch_outcomes_with_an_expiry() {
    let t = test_stack("outcomes").await;
    let table_name = t.stack.table("DeliveryTable").unwrap().name.clone();
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &table_name,
        Arc::new(SystemClock),
    );
    let outcome = BatchOutcome {
        tenant_id: TenantId::parse("alpine").unwrap(),
        campaign_id: CampaignId::parse("c1").unwrap(),
        batch_id: BatchId::parse("b1").unwrap(),
        attempt: AttemptId(u64::MAX),
        outcomes: vec![
            RecipientOutcome::Sent {
                provider_message_id: "0100-abc".into(),
                endpoints_disabled: 0,
            },
            RecipientOutcome::Suppressed,
            RecipientOutcome::Failed {
                reason: "bad address".into(),
            },
            RecipientOutcome::Pending,
            RecipientOutcome::Unconfirmed {
                reason: "no answer in time".into(),
            },
        ],
        revision: 0,
        channel: Default::default(),
    };
    let variant = VariantId::parse("A").unwrap();
    record_outcome(&table, &outcome, &variant, None)
        .await
        .unwrap();
    let read = table
        .outcome(&outcome.tenant_id, &outcome.campaign_id, &outcome.batch_id)
        .await
        .unwrap();
    assert_eq!(
        read,
        Some(BatchOutcome {
            revision: 1,
            ..outcome
        })
    );
    let scan = t
        .clients
        .dynamodb
        .scan()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    let expires_at: i64 = scan.items()[0]["expires_at"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires_at > time::OffsetDateTime::now_utc().unix_timestamp() + 86_400);
}

#[tokio::test]
async fn delivery_table_counts_each_message_once_with_its_outcome() {
    let t = test_stack("delivery-counts").await;
    let table_name = t.stack.table("DeliveryTable").unwrap().name.clone();
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &table_name,
        Arc::new(SystemClock),
    );
    let (tenant, campaign) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("c1").unwrap(),
    );
    let (a, b) = (
        VariantId::parse("A").unwrap(),
        VariantId::parse("B").unwrap(),
    );
    let sent = |id: &str| RecipientOutcome::Sent {
        provider_message_id: id.into(),
        endpoints_disabled: 0,
    };
    let batch = |id: &str, attempt: u64, outcomes: Vec<RecipientOutcome>| BatchOutcome {
        tenant_id: tenant.clone(),
        campaign_id: campaign.clone(),
        batch_id: BatchId::parse(id).unwrap(),
        attempt: AttemptId(attempt),
        outcomes,
        revision: 0,
        channel: Default::default(),
    };
    let first = batch("b1", 1, vec![sent("1"), RecipientOutcome::Pending]);
    record_outcome(&table, &first, &a, None).await.unwrap();
    // The retry of a write that went through, and the redrive of the same outcome kept.
    record_outcome(&table, &first, &a, None).await.unwrap();
    let later = batch("b1", 2, vec![RecipientOutcome::Duplicate, sent("2")]);
    record_outcome(&table, &later, &a, None).await.unwrap();
    record_outcome(&table, &first, &a, None).await.unwrap();
    record_outcome(
        &table,
        &batch(
            "c2",
            1,
            vec![
                RecipientOutcome::Suppressed,
                RecipientOutcome::Failed {
                    reason: "bad address".into(),
                },
                RecipientOutcome::Unconfirmed {
                    reason: "timeout".into(),
                },
                RecipientOutcome::FrequencyCapped,
            ],
        ),
        &b,
        None,
    )
    .await
    .unwrap();
    // An outcome stored before revisions were kept: the write is conditioned on its absence.
    let mut legacy = std::collections::HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S("BATCH#alpine#c1#d".into()),
        ),
        ("sk".to_string(), AttributeValue::S("d3".into())),
        ("attempt".to_string(), AttributeValue::N("5".into())),
    ]);
    legacy.insert(
        "o".into(),
        AttributeValue::L(vec![AttributeValue::S("P".into())]),
    );
    t.clients
        .dynamodb
        .put_item()
        .table_name(&table_name)
        .set_item(Some(legacy))
        .send()
        .await
        .unwrap();
    record_outcome(&table, &batch("d3", 6, vec![sent("3")]), &a, None)
        .await
        .unwrap();
    let stale = OutcomeWrite {
        outcome: &batch("d3", 7, vec![sent("4")]),
        expected: Some(0),
        variant: &a,
        tally: DeliveryTally {
            sent: 1,
            ..DeliveryTally::default()
        },
    };
    assert_eq!(
        table.write_outcome(&stale).await.unwrap(),
        OutcomeWritten::Stale
    );

    let tallies = table.campaign_tallies(&tenant, &campaign).await.unwrap();

    assert_eq!(
        tallies,
        vec![
            (
                "A".to_string(),
                DeliveryTally {
                    sent: 3,
                    ..DeliveryTally::default()
                }
            ),
            (
                "B".to_string(),
                DeliveryTally {
                    sent: 0,
                    failed: 1,
                    suppressed: 1,
                    unconfirmed: 1,
                    frequency_capped: 1,
                    endpoints_disabled: 0,
                    failed_by_reason: storecast::pipeline::send_log::FailedByReason {
                        other: 1,
                        ..Default::default()
                    },
                }
            ),
        ]
    );
    let stored = table
        .outcome(&tenant, &campaign, &BatchId::parse("b1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.outcomes, vec![sent("1"), sent("2")]);
    assert_eq!((stored.attempt, stored.revision), (AttemptId(2), 2));
}

#[tokio::test]
async fn s3_archive_parks_lists_and_removes_batches_and_keeps_dead_letters() {
    let t = test_stack("archive").await;
    let archive = S3Archive::new(
        t.clients.s3.clone(),
        &t.stack.bucket("ArchiveBucket").unwrap().name,
    );
    let event = storecast::testing::samples::sample_event("alpine", "c1", 1);
    let batch = storecast::domain::SendBatch {
        contract_version: 1,
        batch_id: BatchId::parse("b1").unwrap(),
        group: event.group(),
        recipients: vec![event.into_recipient()],
        share_reservation: None,
        redrive: 0,
    };
    archive
        .park(&ParkedBatch {
            reason: "campaign paused".into(),
            parked_at: "2026-11-22T10:00:00Z".into(),
            batch: batch.clone(),
        })
        .await
        .unwrap();
    let tenant = TenantId::parse("alpine").unwrap();
    let parked = archive.parked(&tenant, None).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].1.batch, batch);
    assert!(
        archive
            .parked(&TenantId::parse("harbor").unwrap(), None)
            .await
            .unwrap()
            .is_empty()
    );
    archive.remove_parked(&parked[0].0).await.unwrap();
    assert!(archive.parked(&tenant, None).await.unwrap().is_empty());

    let letter = DeadLetter::of_payload("rebatch", "malformed", None, &[0xff, 0xfe]);
    archive.dead_letter(&letter).await.unwrap();
    assert_eq!(archive.dead_letters().await.unwrap(), vec![letter]);
}

#[tokio::test]
async fn s3_archive_pages_parked_batches_in_key_order_after_a_cursor() {
    // GIVEN five batches parked for one campaign, one for another and one for another tenant
    let t = test_stack("archive-pages").await;
    let archive = S3Archive::new(
        t.clients.s3.clone(),
        &t.stack.bucket("ArchiveBucket").unwrap().name,
    );
    let park = |tenant: &str, campaign: &str, batch: &str| {
        let event = storecast::testing::samples::sample_event(tenant, campaign, 1);
        ParkedBatch {
            reason: "campaign paused".into(),
            parked_at: "2026-11-22T10:00:00Z".into(),
            batch: storecast::domain::SendBatch {
                contract_version: 1,
                batch_id: BatchId::parse(batch).unwrap(),
                group: event.group(),
                recipients: vec![event.into_recipient()],
                share_reservation: None,
                redrive: 0,
            },
        }
    };
    for batch in ["b5", "b1", "b3", "b2", "b4"] {
        archive.park(&park("alpine", "c1", batch)).await.unwrap();
    }
    archive.park(&park("alpine", "c2", "b9")).await.unwrap();
    archive.park(&park("harbor", "c1", "b0")).await.unwrap();
    let alpine = TenantId::parse("alpine").unwrap();
    let c1 = CampaignId::parse("c1").unwrap();
    let batches = |page: &[(String, ParkedBatch)]| -> Vec<String> {
        page.iter()
            .map(|(_, p)| p.batch.batch_id.to_string())
            .collect()
    };

    // WHEN it is read two at a time, each page after the last key of the one before
    let first = archive
        .parked_page(&alpine, Some(&c1), None, 2)
        .await
        .unwrap();
    let cursor = first.last().map(|(key, _)| key.clone());
    let second = archive
        .parked_page(&alpine, Some(&c1), cursor.as_deref(), 2)
        .await
        .unwrap();
    let last_key = "parked/alpine/c1/b5.json";
    let end = archive
        .parked_page(&alpine, Some(&c1), Some(last_key), 2)
        .await
        .unwrap();
    let tenant_wide = archive.parked_page(&alpine, None, None, 100).await.unwrap();

    // THEN pages come in key order within the prefix, and an empty page is the end
    assert_eq!(batches(&first), ["b1", "b2"]);
    assert_eq!(batches(&second), ["b3", "b4"]);
    assert!(end.is_empty());
    assert_eq!(batches(&tenant_wide), ["b1", "b2", "b3", "b4", "b5", "b9"]);
}

fn email(from: &str) -> OutboundEmail {
    OutboundEmail {
        configuration_set: "storecast-alpine".into(),
        ses_tenant: "storecast-alpine".into(),
        from_address: from.into(),
        to_address: "ann@example.com".into(),
        raw_mime: format!(
            "From: {from}\r\nTo: ann@example.com\r\nSubject: hello\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\n\r\nhi\r\n"
        )
        .into_bytes(),
        tags: vec![
            ("tenant".into(), "alpine".into()),
            ("campaign".into(), "c1".into()),
        ],
    }
}

#[tokio::test]
async fn ses_provider_sends_raw_mail_with_the_tenants_routing() {
    let t = test_stack("ses").await;
    let provider = SesProvider::new(t.clients.sesv2.clone());
    let from = format!("alpine@{}", t.sending_domain);
    let id = provider.send(&email(&from)).await.unwrap();
    assert!(!id.is_empty());
    let sent = t.endpoint.sent_emails().await.unwrap();
    assert!(
        sent.iter()
            .any(|e| e.source == from && e.raw.contains("Subject: hello"))
    );
}

#[tokio::test]
async fn ses_provider_classifies_an_unverified_identity_as_a_tenant_failure() {
    let t = test_stack("ses-unverified").await;
    let provider = SesProvider::new(t.clients.sesv2.clone());
    let error = provider
        .send(&email("alpine@never-verified.example"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SendError::TenantRejected { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn delivery_table_lists_a_campaigns_send_log_across_its_key_shards() {
    let t = test_stack("send-log").await;
    let table = DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let campaign = CampaignId::parse("c1").unwrap();
    let batch = BatchId::parse("b1").unwrap();
    let ids: Vec<MessageId> = (0..20)
        .map(|i| {
            MessageId::derive(
                &tenant,
                &campaign,
                &storecast::domain::CustomerId::parse(format!("u{i}")).unwrap(),
                storecast::domain::Channel::Email,
            )
        })
        .collect();
    for (slot, id) in ids.iter().enumerate() {
        let claim = MessageClaim {
            tenant_id: tenant.clone(),
            campaign_id: campaign.clone(),
            message_id: id.clone(),
            batch_id: batch.clone(),
            slot: slot as u16,
            lease_until: 1,
            attempt: AttemptId(1),
        };
        table.claim(&claim).await.unwrap();
    }
    let mut outcomes = vec![RecipientOutcome::Suppressed; 20];
    outcomes[0] = RecipientOutcome::Sent {
        provider_message_id: "ses-0".into(),
        endpoints_disabled: 0,
    };
    record_outcome(
        &table,
        &BatchOutcome {
            tenant_id: tenant.clone(),
            campaign_id: campaign.clone(),
            batch_id: batch.clone(),
            attempt: AttemptId(1),
            outcomes,
            revision: 0,
            channel: Default::default(),
        },
        &VariantId::parse("A").unwrap(),
        None,
    )
    .await
    .unwrap();
    let statuses =
        storecast::pipeline::send_log::campaign_statuses(&table, &table, &tenant, &campaign)
            .await
            .unwrap();
    assert_eq!(statuses.len(), 20);
    let first = statuses.iter().find(|s| s.message_id == ids[0]).unwrap();
    assert_eq!(
        first.outcome,
        Some(RecipientOutcome::Sent {
            provider_message_id: "ses-0".into(),
            endpoints_disabled: 0,
        })
    );
    let one = storecast::pipeline::send_log::recipient_status(&table, &tenant, &campaign, &ids[5])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.outcome, Some(RecipientOutcome::Suppressed));
}

#[tokio::test]
async fn suppression_lists_keep_reasons_page_in_order_and_stay_per_tenant() {
    use storecast::deliverability::suppression::SuppressionReason;
    let t = test_stack("suppressions").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let harbor = TenantId::parse("harbor").unwrap();
    let unsubscribed = Suppression {
        address: "Bo@Example.com".into(),
        reason: SuppressionReason::Unsubscribed,
        since: 1_700_000_000,
        detail: Some("spring".into()),
    };
    assert!(table.add(&alpine, &unsubscribed).await.unwrap());
    // A later complaint keeps the first reason.
    let complaint = Suppression {
        reason: SuppressionReason::Complaint,
        ..unsubscribed.clone()
    };
    assert!(!table.add(&alpine, &complaint).await.unwrap());
    for address in ["ann@example.com", "cy@example.com", "dee@example.com"] {
        assert!(
            table
                .add(&alpine, &Suppression::manual(address, 5))
                .await
                .unwrap()
        );
    }
    assert!(
        table
            .add(&harbor, &Suppression::manual("zed@example.com", 5))
            .await
            .unwrap()
    );
    let entry = table.get(&alpine, "bo@example.com").await.unwrap().unwrap();
    assert_eq!(entry.reason, SuppressionReason::Unsubscribed);
    assert_eq!(entry.since, 1_700_000_000);
    assert_eq!(entry.detail.as_deref(), Some("spring"));

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = table.page(&alpine, after.as_deref(), 3).await.unwrap();
        seen.extend(page.entries.iter().map(|e| e.address.clone()));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "ann@example.com",
            "bo@example.com",
            "cy@example.com",
            "dee@example.com"
        ]
    );
    // Delivery's read sees the same items.
    let context = table
        .delivery_context(
            &alpine,
            &CampaignId::parse("c1").unwrap(),
            &["bo@example.com".to_string(), "zed@example.com".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(context.suppressed.len(), 1);

    assert!(table.remove(&alpine, "BO@example.com").await.unwrap());
    assert!(!table.remove(&alpine, "bo@example.com").await.unwrap());
    assert!(
        !table.remove(&alpine, "zed@example.com").await.unwrap(),
        "harbor's stays"
    );
    assert!(
        table
            .get(&harbor, "zed@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_unsubscribe_key_ring_is_read_from_the_provisioned_secret() {
    let t = test_stack("secrets").await;
    let secret = &t.stack.secret("UnsubscribeKeysSecret").unwrap().name;
    let ring = storecast::aws::secrets::load_key_ring(&t.clients.secrets, secret)
        .await
        .unwrap();
    assert_eq!(ring.current_key_id(), "k1");
    let missing = storecast::aws::secrets::load_key_ring(&t.clients.secrets, "no-such-secret")
        .await
        .unwrap_err();
    assert!(
        std::error::Error::source(&missing).is_some(),
        "the SDK error is kept"
    );
}

#[tokio::test]
async fn parked_batches_are_counted_once_per_park_and_once_per_redrive_on_the_delivery_table() {
    // GIVEN the archive bucket counted on the delivery table, as the functions wire it
    let t = test_stack("parked-counts").await;
    let table = Arc::new(DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    ));
    let archive = CountedArchive::new(
        Arc::new(S3Archive::new(
            t.clients.s3.clone(),
            &t.stack.bucket("ArchiveBucket").unwrap().name,
        )),
        table.clone(),
    );
    let parked = |customers: std::ops::Range<u32>| ParkedBatch {
        reason: "campaign paused".into(),
        parked_at: "2026-11-22T10:00:00Z".into(),
        batch: storecast::testing::samples::sample_batch("alpine", "c1", customers),
    };
    let (tenant, campaign) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("c1").unwrap(),
    );

    // WHEN two batches are parked, one of them twice (a retried record)
    archive.park(&parked(0..3)).await.unwrap();
    archive.park(&parked(0..3)).await.unwrap();
    archive.park(&parked(3..5)).await.unwrap();

    // THEN each is counted once
    let tally = table.campaign_parked(&tenant, &campaign).await.unwrap();
    assert_eq!((tally.batches, tally.recipients), (2, 5));

    // WHEN they are redriven, and one uncount is repeated (a redrive retried)
    let stream = KinesisStream::new(
        t.clients.kinesis.clone(),
        &t.stack.stream("SendBatchesStream").unwrap().name,
    );
    let summary = redrive_parked(&archive, &stream, &tenant, Some(&campaign))
        .await
        .unwrap();
    table.uncount_parked(&parked(0..3).batch).await.unwrap();

    // THEN nothing is counted, nothing below zero, and the objects are gone
    assert_eq!(summary.batches, 2);
    let tally = table.campaign_parked(&tenant, &campaign).await.unwrap();
    assert_eq!((tally.batches, tally.recipients), (0, 0));
    assert!(archive.parked(&tenant, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn request_quota_admits_a_retailers_allowance_a_second_and_no_more() {
    use storecast::api::limits::RequestQuota as _;
    use storecast::aws::dynamodb::RequestQuotaTable;
    let t = test_stack("quota").await;
    let quota = RequestQuotaTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let harbor = TenantId::parse("harbor").unwrap();

    let mut taken = Vec::new();
    for _ in 0..3 {
        taken.push(quota.take(&alpine, 1_700_000_000, 2).await.unwrap());
    }
    assert_eq!(taken, [true, true, false]);
    assert!(
        quota.take(&harbor, 1_700_000_000, 2).await.unwrap(),
        "its own allowance"
    );
    assert!(
        quota.take(&alpine, 1_700_000_001, 2).await.unwrap(),
        "the next second"
    );
}

#[tokio::test]
async fn an_upload_url_puts_the_export_where_the_campaign_reads_it() {
    use storecast::aws::s3_uploads::S3UploadSigner;
    use storecast::campaigns::uploads::{AudienceUploads, UploadRequest};
    let t = test_stack("uploads").await;
    let bucket = t.stack.bucket("ExportsBucket").unwrap().name.clone();
    let s3 = t.clients.s3.clone();
    let uploads = AudienceUploads::new(
        Arc::new(S3UploadSigner::new(s3.clone())),
        &bucket,
        Arc::new(SystemClock),
    );
    let target = uploads
        .new_upload(
            &TenantId::parse("alpine").unwrap(),
            &UploadRequest::default(),
        )
        .await
        .unwrap();
    let export = "{\"customer_id\": \"c1\", \"email\": \"ann@example.com\"}\n";

    let put = reqwest::Client::new()
        .put(&target.url)
        .header("content-type", &target.content_type)
        .body(export)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let stored = s3
        .get_object()
        .bucket(&target.bucket)
        .key(&target.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("application/x-ndjson"));
    let bytes = stored.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.as_ref(), export.as_bytes());
}

#[tokio::test]
async fn an_uploaded_export_is_reported_as_the_engine_reads_it_from_s3() {
    use storecast::aws::s3::S3AudienceSource;
    use storecast::campaigns::audience_check::AudienceChecks;
    let t = test_stack("audience-report").await;
    let bucket = t.stack.bucket("ExportsBucket").unwrap().name.clone();
    let export = [
        r#"{"id": "c1", "email": "ann@example.com", "consent": {"email": true}}"#,
        r#"{"id": "c2", "email": "bob@example.com", "consent": {"email": false}}"#,
        r#"{"id": "c3", "candidates": "none"}"#,
        r#"{"id": "c4", "email": "cy@example.com", "consent": {"email": true}}"#,
    ]
    .join("\n");
    t.clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("alpine/uploads/export.jsonl")
        .body(export.clone().into_bytes().into())
        .send()
        .await
        .unwrap();
    let checks = AudienceChecks::new(
        Arc::new(S3AudienceSource::new(t.clients.s3.clone())),
        &bucket,
    );
    let alpine = TenantId::parse("alpine").unwrap();

    let report = checks
        .check(&alpine, "alpine/uploads/export.jsonl")
        .await
        .unwrap();
    assert_eq!((report.rows, report.malformed), (4, 1));
    assert_eq!(report.email_reachable, 2);
    assert_eq!(report.malformed_rows[0].line, 3);
    assert!(report.malformed_rows[0].reason.starts_with("candidates"));
    assert_eq!(report.size, export.len() as u64);
    let missing = checks
        .check(&alpine, "alpine/uploads/none.jsonl")
        .await
        .unwrap_err();
    assert!(
        !storecast::error::Retryable::is_retryable(&missing),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_preview_customer_is_sampled_from_the_first_mib_of_an_export_in_s3() {
    use storecast::aws::s3::S3AudienceSource;
    use storecast::campaigns::audience_check::AudienceChecks;
    use storecast::campaigns::audience_sample::MAX_SAMPLED_BYTES;
    let t = test_stack("audience-sample").await;
    let bucket = t.stack.bucket("ExportsBucket").unwrap().name.clone();
    // A line past the first MiB: the sample's bounded range read stops before most of them.
    let mut export = String::from("{\"id\": \"broken\n");
    let mut rows = 0u64;
    while export.len() as u64 <= MAX_SAMPLED_BYTES * 3 / 2 {
        export.push_str(&format!(
            r#"{{"id": "c{rows}", "email": "c{rows}@example.com", "consent": {{"email": true}}, "attributes": {{"first_name": "N{rows}"}}}}"#
        ));
        export.push('\n');
        rows += 1;
    }
    t.clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("alpine/uploads/big.jsonl")
        .body(export.into_bytes().into())
        .send()
        .await
        .unwrap();
    let checks = AudienceChecks::new(
        Arc::new(S3AudienceSource::new(t.clients.s3.clone())),
        &bucket,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let key = "alpine/uploads/big.jsonl";
    let sample = checks.sample(&alpine, key, Some(42)).await.unwrap();
    assert!(!sample.complete);
    assert_eq!(sample.malformed, 1);
    assert!(sample.rows < rows * 3 / 4, "{} of {rows}", sample.rows);
    let n = sample.line - 2;
    assert_eq!(sample.customer_id, format!("c{n}"));
    assert_eq!(sample.fields["first_name"], format!("N{n}"));
    assert_eq!(checks.sample(&alpine, key, Some(42)).await.unwrap(), sample);
    assert!(
        checks
            .sample(&alpine, "harbor/uploads/big.jsonl", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_local_console_origin_may_put_uploads_as_the_templates_cors_rule_allows() {
    let t = test_stack("uploads-cors").await;
    let bucket = t.stack.bucket("ExportsBucket").unwrap().name.clone();
    let origin = "http://127.0.0.1:8787";
    storecast_dev::local::provision::allow_console_origin(&t.clients, &t.stack, origin)
        .await
        .unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{endpoint}/{bucket}/alpine/uploads/a.jsonl"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("http://127.0.0.1:8787").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], origin);
    assert_eq!(allowed.headers()["access-control-allow-methods"], "PUT");
    let other = preflight("http://elsewhere.example").await.unwrap();
    assert_eq!(other.status(), reqwest::StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_batch_parked_again_before_its_redrive_removed_it_stays_in_s3_and_counted() {
    // GIVEN a batch parked on S3 and counted on the delivery table, put back by a redrive
    // (one park generation on) and parked again by delivery before the redrive removed it
    let t = test_stack("parked-again").await;
    let table = Arc::new(DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    ));
    let archive = CountedArchive::new(
        Arc::new(S3Archive::new(
            t.clients.s3.clone(),
            &t.stack.bucket("ArchiveBucket").unwrap().name,
        )),
        table.clone(),
    );
    let first = ParkedBatch {
        reason: "campaign paused".into(),
        parked_at: "2026-11-22T10:00:00Z".into(),
        batch: storecast::testing::samples::sample_batch("alpine", "c1", 0..3),
    };
    let again = ParkedBatch {
        batch: first.batch.redriven(),
        ..first.clone()
    };
    let (tenant, campaign) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("c1").unwrap(),
    );
    archive.park(&first).await.unwrap();
    let read = archive.parked(&tenant, Some(&campaign)).await.unwrap();
    archive.park(&again).await.unwrap();
    archive.park(&again).await.unwrap();
    let both = archive.parked(&tenant, Some(&campaign)).await.unwrap();
    let generations: Vec<u32> = both.iter().map(|(_, p)| p.batch.redrive).collect();
    assert_eq!(
        generations,
        [1, 0],
        "a later generation lists before the earlier"
    );

    // WHEN the redrive removes what it read
    archive.unpark(&read[0].0, &read[0].1).await.unwrap();

    // THEN the later park is still there, with its ids, and counted once
    let left = archive.parked(&tenant, Some(&campaign)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.batch, again.batch);
    let tally = table.campaign_parked(&tenant, &campaign).await.unwrap();
    assert_eq!((tally.batches, tally.recipients), (1, 3));
}

#[tokio::test]
async fn redrive_jobs_move_on_the_revision_they_read_and_the_index_lists_the_running_ones() {
    use storecast::pipeline::redrive::{
        RedriveJob, RedriveJobs, RedriveScope, RedriveState, RedriveWorker, SliceBudget,
    };
    // GIVEN a job recorded on the tenants table
    let t = test_stack("redrive-jobs").await;
    let tenants = Arc::new(TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    ));
    let (tenant, campaign) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("c1").unwrap(),
    );
    let scope = RedriveScope::campaign(&tenant, &campaign);
    let job = RedriveJob::new(scope.clone(), 1_764_590_400, None);
    assert!(tenants.save(&job, None).await.unwrap());
    assert!(
        !tenants.save(&job, None).await.unwrap(),
        "one job per scope"
    );
    assert_eq!(tenants.running(10).await.unwrap(), vec![scope.clone()]);

    // WHEN two writers move it from the same revision
    let mut first = job.next(1_764_590_410);
    first.cursor = Some("parked/alpine/c1/b1.json".into());
    let mut second = job.next(1_764_590_411);
    second.cursor = Some("parked/alpine/c1/b9.json".into());
    let was = Some(RedriveState::Running);

    // THEN only the first moves the cursor
    assert!(tenants.save(&first, was).await.unwrap());
    assert!(!tenants.save(&second, was).await.unwrap());
    assert_eq!(tenants.job(&scope).await.unwrap(), Some(first.clone()));

    // WHEN the worker runs the job over three parked batches on S3, counted on the delivery table
    let table = Arc::new(DeliveryTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("DeliveryTable").unwrap().name,
        Arc::new(SystemClock),
    ));
    let archive = Arc::new(CountedArchive::new(
        Arc::new(S3Archive::new(
            t.clients.s3.clone(),
            &t.stack.bucket("ArchiveBucket").unwrap().name,
        )),
        table.clone(),
    ));
    for customers in [0..2, 2..4, 4..5] {
        let parked = ParkedBatch {
            reason: "campaign paused".into(),
            parked_at: "2026-11-22T10:00:00Z".into(),
            batch: storecast::testing::samples::sample_batch("alpine", "c1", customers),
        };
        archive.park(&parked).await.unwrap();
    }
    let worker = RedriveWorker {
        archive: archive.clone(),
        stream: Arc::new(KinesisStream::new(
            t.clients.kinesis.clone(),
            &t.stack.stream("SendBatchesStream").unwrap().name,
        )),
        jobs: tenants.clone(),
        clock: Arc::new(SystemClock),
        first_slice: SliceBudget {
            pages: 1,
            time: std::time::Duration::from_secs(10),
        },
    };
    let started = worker.start(&scope).await.unwrap();

    // THEN its pass went back to the first key, put all three back, and left the index
    assert_eq!((started.state, started.passes), (RedriveState::Done, 2));
    assert_eq!((started.batches, started.recipients), (3, 5));
    assert_eq!(tenants.job(&scope).await.unwrap(), Some(started));
    assert!(tenants.running(10).await.unwrap().is_empty());
    assert!(archive.parked(&tenant, None).await.unwrap().is_empty());
    let tally = table.campaign_parked(&tenant, &campaign).await.unwrap();
    assert_eq!((tally.batches, tally.recipients), (0, 0));
}

fn contact_scope<'a>(tenant: &'a TenantId, campaign: &'a CampaignId) -> ContactScope<'a> {
    ContactScope {
        tenant,
        channel: Channel::Email,
        campaign,
    }
}

/// The frequency cap's take is one conditional write on the customer's contact item: campaigns
/// racing for the same customers under a cap of one each win some and lose the rest, and
/// exactly one wins each customer (the losers re-read and are refused, never let through).
#[tokio::test]
async fn contact_takes_racing_under_a_cap_of_one_let_exactly_one_campaign_through() {
    let t = test_stack("contact-race").await;
    let table = Arc::new(TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    ));
    let tenant = TenantId::parse("alpine").unwrap();
    let cap = FrequencyCap {
        max_messages: 1,
        window_days: 7,
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let customers: Vec<CustomerId> = (0..30)
        .map(|i| CustomerId::parse(format!("c{i}")).unwrap())
        .collect();
    let campaigns: Vec<CampaignId> = (0..4)
        .map(|i| CampaignId::parse(format!("race{i}")).unwrap())
        .collect();
    let races = campaigns.iter().map(|campaign| {
        let (table, tenant, customers) = (table.clone(), tenant.clone(), customers.clone());
        let campaign = campaign.clone();
        tokio::spawn(async move {
            table
                .take_contacts(contact_scope(&tenant, &campaign), &customers, cap, now)
                .await
                .into_iter()
                .map(|answer| answer.unwrap())
                .collect::<Vec<ContactTake>>()
        })
    });
    let answers: Vec<Vec<ContactTake>> = futures::future::join_all(races)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let mut winners = vec![None; customers.len()];
    for (c, answers) in answers.iter().enumerate() {
        for (i, answer) in answers.iter().enumerate() {
            match answer {
                ContactTake::Taken => {
                    assert!(winners[i].is_none(), "customer {i} let through twice");
                    winners[i] = Some(c);
                }
                ContactTake::Refused => {}
                ContactTake::AlreadyHeld => panic!("no campaign held a contact before"),
            }
        }
    }
    assert!(
        winners.iter().all(Option::is_some),
        "each customer let through once"
    );

    // The winner taking again (a redelivery) is idempotent; a loser is still refused.
    let first = winners[0].unwrap();
    let again = table
        .take_contacts(
            contact_scope(&tenant, &campaigns[first]),
            &customers[..1],
            cap,
            now,
        )
        .await;
    assert_eq!(*again[0].as_ref().unwrap(), ContactTake::AlreadyHeld);
    let loser = (first + 1) % campaigns.len();
    let refused = table
        .take_contacts(
            contact_scope(&tenant, &campaigns[loser]),
            &customers[..1],
            cap,
            now,
        )
        .await;
    assert_eq!(*refused[0].as_ref().unwrap(), ContactTake::Refused);
    // Given back (its send failed): the loser may take it now.
    table
        .release_contacts(contact_scope(&tenant, &campaigns[first]), &customers[..1])
        .await
        .unwrap();
    let after = table
        .take_contacts(
            contact_scope(&tenant, &campaigns[loser]),
            &customers[..1],
            cap,
            now,
        )
        .await;
    assert_eq!(*after[0].as_ref().unwrap(), ContactTake::Taken);
    // Releasing a contact that is not there creates no item.
    let nobody = CustomerId::parse("nobody").unwrap();
    table
        .release_contacts(
            contact_scope(&tenant, &campaigns[0]),
            std::slice::from_ref(&nobody),
        )
        .await
        .unwrap();
    let counts = table
        .recent_contacts(
            &tenant,
            Channel::Email,
            &[nobody],
            now - time::Duration::days(7),
            &campaigns[1],
        )
        .await
        .unwrap();
    assert!(counts.is_empty());
}

/// An item written before takes were versioned (contacts recorded at launch, no
/// `contacts_version`) is taken on the condition that it still has none: two racing takes under
/// a cap of two with one contact there already let exactly one through.
#[tokio::test]
async fn contact_takes_on_an_unversioned_item_race_on_its_first_revision() {
    let t = test_stack("contact-legacy").await;
    let name = t.stack.table("TenantsTable").unwrap().name.clone();
    let table = Arc::new(TenantsTable::new(t.clients.dynamodb.clone(), &name));
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    for i in 0..20 {
        t.clients
            .dynamodb
            .put_item()
            .table_name(&name)
            .item("pk", AttributeValue::S("TENANT#alpine".into()))
            .item("sk", AttributeValue::S(format!("CONTACTS#c{i}")))
            .item(
                "C#legacy",
                AttributeValue::N((now.unix_timestamp() - 86_400).to_string()),
            )
            .send()
            .await
            .unwrap();
    }
    let tenant = TenantId::parse("alpine").unwrap();
    let customers: Vec<CustomerId> = (0..20)
        .map(|i| CustomerId::parse(format!("c{i}")).unwrap())
        .collect();
    let cap = FrequencyCap {
        max_messages: 2,
        window_days: 7,
    };
    let races = ["north", "south"].map(|campaign| {
        let (table, tenant, customers) = (table.clone(), tenant.clone(), customers.clone());
        let campaign = CampaignId::parse(campaign).unwrap();
        tokio::spawn(async move {
            table
                .take_contacts(contact_scope(&tenant, &campaign), &customers, cap, now)
                .await
                .into_iter()
                .map(|answer| answer.unwrap())
                .collect::<Vec<ContactTake>>()
        })
    });
    let [north, south] = races;
    let (north, south) = (north.await.unwrap(), south.await.unwrap());
    for i in 0..customers.len() {
        let taken = [north[i], south[i]]
            .iter()
            .filter(|a| **a == ContactTake::Taken)
            .count();
        assert_eq!(taken, 1, "customer {i}: {:?} {:?}", north[i], south[i]);
    }
}
