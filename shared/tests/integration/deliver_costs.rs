//! What delivery counts of a campaign's usage: added to the delivered batch's own campaign only,
//! its messages once, the DynamoDB units of the warm-up cap, the send budget and the frequency
//! cap with the rest, and priced into the campaign's stats. (The batch's record and its campaign
//! events are counted where they are put: rebatch's and the launch's tests.)

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
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MemorySendLog>,
    clock: Arc<ManualClock>,
    deliverer: Deliverer,
}

async fn world(tenants: &[&str]) -> World {
    world_with(tenants, |deliverer| deliverer).await
}

async fn world_with(tenants: &[&str], extend: impl FnOnce(Deliverer) -> Deliverer) -> World {
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
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: Arc::new(MemoryEmailProvider::keeping_messages()),
            archive: Arc::new(MemoryArchive::default()),
            clock: clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    )
    .with_usage(send_log.clone());
    let deliverer = extend(deliverer);
    World {
        directory,
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
            .map(|(i, b)| crate::support::record(b, i))
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
    // Delivery puts nothing on a stream: the batch's record and its events were counted by
    // rebatch and the launch.
    assert_eq!(usage.kinesis_put_units, 0.0);
    // The in-memory send log reports no consumed capacity (the DynamoDB adapters do: the local
    // stack's test), and no cap or budget is configured.
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

    for tenant in ["alpine", "harbor"] {
        let counts = outcome.per_tenant[tenant];
        let usage = world.usage(tenant).await;
        assert_eq!(usage.lambda_requests, 0.5, "{tenant}: half the invocation");
        assert_eq!(
            usage.ses_messages,
            (counts.sent + counts.unconfirmed) as f64
        );
        assert_eq!(usage.kinesis_put_units, 0.0);
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
    assert_eq!(second.kinesis_put_units, first.kinesis_put_units);
    assert_eq!(second.lambda_requests, 2.0);
    assert!(second.lambda_gb_seconds > first.lambda_gb_seconds);
}

#[tokio::test]
async fn the_warmup_cap_the_send_budget_and_the_frequency_cap_add_their_units_to_the_batchs_campaign()
 {
    use storecast::deliverability::budget::{
        AccountRate, BudgetSettings, ConfiguredRate, SendBudgets,
    };
    use storecast::directory::TenantAdmin;
    use storecast::domain::{FrequencyCap, WarmupPlan};
    use storecast::testing::{MemoryBudgetStore, MemoryContactHistory, MemorySendCap};

    let budget_store = Arc::new(MemoryBudgetStore::default());
    let caps = Arc::new(MemorySendCap::default());
    let contacts = Arc::new(MemoryContactHistory::default());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-11-22 10:00:00 UTC),
    ));
    let settings = BudgetSettings {
        fallback_max_send_rate: 1000.0,
        account_share: 1.0,
        ..BudgetSettings::default()
    };
    let account = AccountRate::new(Arc::new(ConfiguredRate(1000.0)), settings, clock.clone());
    let budgets = Arc::new(SendBudgets::new(budget_store.clone(), account, clock));
    let world = world_with(&["alpine", "harbor"], |deliverer| {
        deliverer
            .with_send_cap(caps.clone())
            .with_send_budgets(budgets)
            .with_contact_ledger(contacts.clone())
    })
    .await;
    // alpine is in warm-up with a frequency cap; harbor, in the same invocation, with neither.
    let directory = world.directory.clone();
    let alpine = TenantId::parse("alpine").unwrap();
    let mut workspace = directory.workspace(&alpine).await.unwrap().unwrap();
    workspace.settings.warmup = Some(WarmupPlan {
        start_cap: 1_000,
        target: 100_000,
        ramp_days: 30,
        engaged_first: false,
    });
    workspace.settings.frequency_cap = Some(FrequencyCap {
        max_messages: 3,
        window_days: 7,
    });
    directory.put_workspace(&workspace).await.unwrap();
    let alpine_batch = sample_batch("alpine", "c1", 0..20);
    let harbor_batch = sample_batch("harbor", "c1", 100..110);

    let outcome = world.deliver(&[&alpine_batch, &harbor_batch]).await;

    assert_eq!(outcome.per_tenant["alpine"].sent, 20);
    assert_eq!(outcome.per_tenant["harbor"].sent, 10);
    let alpine_usage = world.usage("alpine").await;
    let harbor_usage = world.usage("harbor").await;
    // alpine: one take from the day's cap, a contact read and written for each of its 20
    // recipients, and its takes from the send budget (the in-memory stores count a unit a call,
    // as the DynamoDB adapters' small items do).
    let (applied, refused) = budget_store.writes();
    assert!(applied >= 2, "each batch took from the budget");
    assert!(alpine_usage.dynamodb_write_units >= 1.0 + 20.0 + 1.0);
    assert!(alpine_usage.dynamodb_read_units >= 20.0);
    // harbor: no cap and no contacts, only its own budget take(s): never alpine's 21 writes.
    assert!(harbor_usage.dynamodb_write_units >= 1.0);
    assert_eq!(
        alpine_usage.dynamodb_write_units + harbor_usage.dynamodb_write_units,
        1.0 + 20.0 + (applied + refused) as f64,
        "every write of the invocation counted once, for the batch it was made for"
    );
    assert_eq!(
        contacts.contacts_of(&alpine, storecast::domain::Channel::Email),
        20
    );
}
