//! Push batches on the in-memory adapters: routing through the retailer's own applications, one
//! publish per device, the endpoint cache, and every bad input a counted outcome of its own.

use std::sync::Arc;

use super::*;
use crate::channels::push::PushEndpoints as _;
use crate::deliverability::suppression::{SuppressionList, SuppressionReason};
use crate::directory::TenantAdmin;
use crate::domain::Channel;
use crate::domain::{PushDevice, PushPlatform, TenantId};
use crate::pipeline::lambda_batch::InboundRecord;
use crate::pipeline::send_log::{DeliveryCounters as _, RecipientOutcome, SendLog};
use crate::testing::samples::{
    sample_push_application, sample_push_batch, sample_workspace, seed_retailer,
};
use crate::testing::{
    ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemoryPushEndpoints,
    MemoryPushProvider, MemorySendLog, ScriptedPushFailure,
};

const DOMAIN: &str = "mail.storecast.example";

struct World {
    directory: Arc<MemoryDirectory>,
    send_log: Arc<MemorySendLog>,
    archive: Arc<MemoryArchive>,
    push: Arc<MemoryPushProvider>,
    endpoints: Arc<MemoryPushEndpoints>,
    email: Arc<MemoryEmailProvider>,
    clock: Arc<ManualClock>,
    deliverer: Deliverer,
}

fn fcm(token: &str) -> PushDevice {
    PushDevice {
        platform: PushPlatform::Fcm,
        token: token.into(),
    }
}

fn apns(n: u8) -> PushDevice {
    PushDevice {
        platform: PushPlatform::Apns,
        token: format!("{n:02x}").repeat(32),
    }
}

/// Retailers onboarded with push applications on `platforms`.
async fn world(tenants: &[(&str, &[PushPlatform])]) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for (tenant, platforms) in tenants {
        seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
            .await
            .unwrap();
        let mut workspace = sample_workspace(tenant, DOMAIN);
        for platform in *platforms {
            let arn = sample_push_application(tenant, *platform);
            workspace.push_applications.set(*platform, arn);
        }
        directory.put_workspace(&workspace).await.unwrap();
    }
    let send_log = Arc::new(MemorySendLog::default());
    let archive = Arc::new(MemoryArchive::default());
    let push = Arc::new(MemoryPushProvider::default());
    let endpoints = Arc::new(MemoryPushEndpoints::default());
    let email = Arc::new(MemoryEmailProvider::keeping_messages());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-11-22 10:00 UTC),
    ));
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_retry.base_delay = Duration::from_millis(1);
    config.send_retry.max_delay = Duration::from_millis(2);
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: email.clone(),
            archive: archive.clone(),
            clock: clock.clone(),
            unsubscribe: crate::testing::unsubscribe_signer(),
        },
        config,
    )
    .with_push(PushPorts {
        provider: push.clone(),
        endpoints: endpoints.clone(),
        suppressions: directory.clone(),
    })
    .with_usage(send_log.clone());
    World {
        directory,
        send_log,
        archive,
        push,
        endpoints,
        email,
        clock,
        deliverer,
    }
}

impl World {
    async fn deliver(&self, batch: &SendBatch) -> DeliveryOutcome {
        let record = InboundRecord {
            sequence_number: "1".into(),
            partition_key: batch.batch_id.to_string(),
            data: serde_json::to_vec(batch).unwrap(),
            arrived_at: None,
        };
        let deadline = self.clock.now() + time::Duration::seconds(60);
        self.deliverer.deliver(&[record], deadline).await
    }

    async fn outcomes(&self, batch: &SendBatch) -> Vec<RecipientOutcome> {
        let group = &batch.group;
        self.send_log
            .outcome(&group.tenant_id, &group.campaign_id, &batch.batch_id)
            .await
            .unwrap()
            .expect("the outcome is recorded")
            .outcomes
    }
}

fn failed(reason: &str) -> RecipientOutcome {
    RecipientOutcome::Failed {
        reason: reason.into(),
    }
}

#[tokio::test]
async fn given_devices_on_both_platforms_when_delivered_then_each_gets_one_publish_through_its_own_application()
 {
    let world = world(&[("alpine", &[PushPlatform::Fcm, PushPlatform::Apns])]).await;
    let batch = sample_push_batch("alpine", "c1", [(1, vec![fcm("tok-1"), apns(1)])]);

    let outcome = world.deliver(&batch).await;

    assert!(outcome.failed_positions.is_empty());
    assert_eq!(outcome.per_tenant["alpine"].sent, 1);
    let published = world.push.published();
    assert_eq!(published.len(), 2, "one publish per device");
    for (_, push) in &published {
        assert_eq!(
            push.application_arn,
            sample_push_application("alpine", push.platform)
        );
        let message: serde_json::Value = serde_json::from_str(&push.message).unwrap();
        let key = crate::channels::push::provider_platform(push.platform);
        assert!(message[key].is_string(), "{key} payload in {message}");
    }
    let RecipientOutcome::Sent {
        provider_message_id,
        ..
    } = &world.outcomes(&batch).await[0]
    else {
        panic!("sent");
    };
    assert_eq!(provider_message_id.split(',').count(), 2, "both ids kept");
    assert_eq!(world.endpoints.len(), 2, "both endpoints cached");
}

#[tokio::test]
async fn given_a_cached_endpoint_when_the_device_is_pushed_again_then_no_endpoint_is_created() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world
        .deliver(&sample_push_batch(
            "alpine",
            "c1",
            [(1, vec![fcm("tok-1")])],
        ))
        .await;
    let second = sample_push_batch("alpine", "c1", [(2, vec![fcm("tok-1")])]);

    world.deliver(&second).await;

    assert_eq!(world.push.published().len(), 2);
    assert_eq!(
        world.push.endpoint_creates(),
        1,
        "the cached endpoint is used"
    );
}

#[tokio::test]
async fn given_bad_input_when_delivered_then_each_recipient_has_its_own_counted_outcome_and_the_batch_is_done()
 {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world.push.disable_token("tok-disabled");
    let huge = "x".repeat(crate::channels::push::FCM_MAX_PAYLOAD_BYTES);
    let mut batch = sample_push_batch(
        "alpine",
        "c1",
        [
            (1, vec![]),
            (2, vec![fcm("has space")]),
            (3, vec![fcm("tok-disabled")]),
            (4, vec![fcm("tok-huge")]),
            (5, vec![apns(5)]),
            (6, vec![fcm("tok-ok")]),
        ],
    );
    batch.recipients[3].offers[0].url = format!("https://alpine.shop.example/{huge}");

    let outcome = world.deliver(&batch).await;

    assert!(outcome.failed_positions.is_empty(), "never a failed batch");
    let counts = outcome.per_tenant["alpine"];
    assert_eq!(
        (counts.sent, counts.failed, counts.dead_lettered),
        (1, 5, 0)
    );
    assert_eq!(
        world.outcomes(&batch).await[..5],
        [
            failed("customer has no push token"),
            failed("push: invalid device token"),
            failed("push: endpoint disabled"),
            failed("push: payload too large"),
            failed("push: the retailer has no push application for the device's platform"),
        ]
    );
    let tenant = TenantId::parse("alpine").unwrap();
    let suppressed = world
        .directory
        .get(&tenant, "tok-disabled")
        .await
        .unwrap()
        .expect("the disabled endpoint's token is suppressed");
    assert_eq!(suppressed.reason, SuppressionReason::EndpointDisabled);
    // Counted on the push channel's counters, each failure by its reason.
    let tallies = world
        .send_log
        .campaign_tallies(&tenant, &batch.group.campaign_id)
        .await
        .unwrap();
    let (key, tally) = &tallies[0];
    assert_eq!(
        crate::pipeline::send_log::split_counter_key(key).1,
        Channel::Push
    );
    let by_reason = tally.failed_by_reason;
    assert_eq!((tally.sent, tally.failed), (1, 5));
    assert_eq!(
        (
            by_reason.no_address,
            by_reason.invalid_address,
            by_reason.endpoint_disabled,
            by_reason.payload_too_large,
            by_reason.no_push_application
        ),
        (1, 1, 1, 1, 1)
    );
}

#[tokio::test]
async fn given_a_suppressed_token_when_delivered_then_only_the_other_devices_are_pushed() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    let tenant = TenantId::parse("alpine").unwrap();
    let entry = crate::deliverability::suppression::Suppression::manual("tok-gone", 0);
    world.directory.add(&tenant, &entry).await.unwrap();
    let batch = sample_push_batch(
        "alpine",
        "c1",
        [
            (1, vec![fcm("tok-gone"), fcm("tok-kept")]),
            (2, vec![fcm("tok-gone")]),
        ],
    );

    world.deliver(&batch).await;

    let outcomes = world.outcomes(&batch).await;
    assert!(matches!(outcomes[0], RecipientOutcome::Sent { .. }));
    assert_eq!(outcomes[1], RecipientOutcome::Suppressed);
    let tokens: Vec<_> = world
        .push
        .published()
        .iter()
        .map(|(_, p)| world.push.token_of(&p.endpoint_arn).unwrap())
        .collect();
    assert_eq!(tokens, ["tok-kept"]);
}

#[tokio::test]
async fn given_one_device_disabled_and_one_live_then_the_message_is_sent_and_the_dead_token_suppressed()
 {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world.push.disable_token("tok-old");
    world.push.disable_token("tok-older");
    let batch = sample_push_batch(
        "alpine",
        "c1",
        [
            (1, vec![fcm("tok-old"), fcm("tok-new"), fcm("tok-older")]),
            (2, vec![fcm("tok-other")]),
        ],
    );

    world.deliver(&batch).await;
    // A redelivered copy finds the message done: nothing is counted twice.
    world.deliver(&batch).await;

    let outcomes = world.outcomes(&batch).await;
    assert!(matches!(
        outcomes[0],
        RecipientOutcome::Sent {
            endpoints_disabled: 2,
            ..
        }
    ));
    assert!(matches!(
        outcomes[1],
        RecipientOutcome::Sent {
            endpoints_disabled: 0,
            ..
        }
    ));
    let tenant = TenantId::parse("alpine").unwrap();
    // The campaign's push counters have the disabled devices of the sent message; no message
    // failed for them.
    let tallies = world
        .send_log
        .campaign_tallies(&tenant, &batch.group.campaign_id)
        .await
        .unwrap();
    let (_, tally) = &tallies[0];
    assert_eq!((tally.sent, tally.failed), (2, 0));
    assert_eq!(tally.endpoints_disabled, 2);
    assert_eq!(tally.failed_by_reason.endpoint_disabled, 0);
    // The campaign's usage counts the two pushes the devices took, once; no email.
    let usage = world
        .send_log
        .campaign_usage(&tenant, &batch.group.campaign_id)
        .await
        .unwrap();
    assert_eq!((usage.sns_publishes, usage.ses_messages), (2.0, 0.0));
    assert!(
        world
            .directory
            .get(&tenant, "tok-old")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        world
            .directory
            .get(&tenant, "tok-new")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn given_a_throttled_provider_then_the_push_is_retried_and_past_the_retries_deferred() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world.push.throttle_next(1);
    let first = sample_push_batch("alpine", "c1", [(1, vec![fcm("tok-1")])]);
    world.deliver(&first).await;
    assert!(matches!(
        world.outcomes(&first).await[0],
        RecipientOutcome::Sent { .. }
    ));

    world
        .push
        .fail_token("tok-2", ScriptedPushFailure::Throttle);
    let second = sample_push_batch("alpine", "c1", [(2, vec![fcm("tok-2")])]);
    let outcome = world.deliver(&second).await;

    assert_eq!(outcome.per_tenant["alpine"].deferred, 1);
    assert_eq!(world.archive.deferred().len(), 1);
}

#[tokio::test]
async fn given_a_lost_publish_answer_then_the_push_is_unconfirmed_and_not_retried() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world
        .push
        .fail_token("tok-1", ScriptedPushFailure::LoseAnswer);
    let batch = sample_push_batch("alpine", "c1", [(1, vec![fcm("tok-1")])]);

    let outcome = world.deliver(&batch).await;

    assert_eq!(outcome.per_tenant["alpine"].unconfirmed, 1);
    assert_eq!(world.push.published().len(), 1);
}

#[tokio::test]
async fn given_a_removed_application_then_the_batch_is_parked_not_failed() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world
        .push
        .remove_application(&sample_push_application("alpine", PushPlatform::Fcm));
    let batch = sample_push_batch(
        "alpine",
        "c1",
        [(1, vec![fcm("tok-1")]), (2, vec![fcm("tok-2")])],
    );

    let outcome = world.deliver(&batch).await;

    assert_eq!(outcome.per_tenant["alpine"].parked, 2);
    assert!(outcome.failed_positions.is_empty());
}

#[tokio::test]
async fn given_a_cached_endpoint_deleted_at_the_provider_then_it_is_created_again_and_pushed() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    world
        .deliver(&sample_push_batch(
            "alpine",
            "c1",
            [(1, vec![fcm("tok-1")])],
        ))
        .await;
    world.push.delete_endpoints_of("tok-1");
    let again = sample_push_batch("alpine", "c1", [(2, vec![fcm("tok-1")])]);

    world.deliver(&again).await;

    assert!(matches!(
        world.outcomes(&again).await[0],
        RecipientOutcome::Sent { .. }
    ));
    assert_eq!(world.push.endpoint_creates(), 2);
}

#[tokio::test]
async fn given_two_retailers_then_each_ones_pushes_go_only_through_its_own_applications() {
    let world = world(&[
        ("alpine", &[PushPlatform::Fcm, PushPlatform::Apns]),
        ("birch", &[PushPlatform::Fcm]),
    ])
    .await;
    // A cache entry of another application (poisoned, or from before a re-onboarding) is never
    // used: the device's endpoint is created in the retailer's own application.
    let birch = TenantId::parse("birch").unwrap();
    let alpine_endpoint = crate::channels::push::KnownEndpoint {
        application_arn: sample_push_application("alpine", PushPlatform::Fcm),
        endpoint_arn: "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/storecast-alpine-fcm/x"
            .into(),
    };
    world
        .endpoints
        .remember(&birch, &fcm("shared-tok"), &alpine_endpoint)
        .await
        .unwrap();
    for (tenant, devices) in [
        ("alpine", vec![fcm("a-1"), apns(7)]),
        ("birch", vec![fcm("shared-tok"), apns(8)]),
    ] {
        world
            .deliver(&sample_push_batch(tenant, "c1", [(1, devices)]))
            .await;
    }

    for (_, push) in world.push.published() {
        let own = sample_push_application(push.tenant_id.as_str(), push.platform);
        assert_eq!(push.application_arn, own);
        assert!(crate::channels::push::endpoint_belongs_to(
            &own,
            &push.endpoint_arn
        ));
    }
    assert_eq!(
        world.push.published().len(),
        3,
        "birch has no APNs application"
    );
}

#[tokio::test]
async fn given_no_push_provider_or_no_push_template_then_the_batch_is_dead_lettered() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    let mut version = crate::testing::samples::sample_template_version("alpine", 1);
    version.push_title = None;
    version.push_body = None;
    version.template.version = 2;
    world
        .directory
        .put_template_version(&version)
        .await
        .unwrap();
    let mut batch = sample_push_batch("alpine", "c1", [(1, vec![fcm("tok-1")])]);
    batch.group.template.version = 2;

    let outcome = world.deliver(&batch).await;

    assert_eq!(outcome.per_tenant["alpine"].dead_lettered, 1);
    let letters = world.archive.dead_letters().await.unwrap();
    assert!(
        letters[0].reason.contains("no push notification"),
        "{}",
        letters[0].reason
    );
}

/// An APNs token (64 hex digits) that names its tenant and customer.
fn apns_of(tenant: &str, n: u32) -> PushDevice {
    let name: String = format!("{tenant}-{n:05}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    PushDevice {
        platform: PushPlatform::Apns,
        token: format!("{name:0<64}"),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 24,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Whatever the mix of retailers and channels in one invocation, a push goes out only
    /// through its own retailer's application, to an endpoint of that application, for a token
    /// of that retailer's customers, with that retailer's content; an email only through its own
    /// workspace.
    #[test]
    fn tenant_isolation_holds_across_channels_for_any_mix(
        mix in proptest::collection::vec((0usize..4, proptest::bool::ANY, 0u32..200), 1..10)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let tenants = ["alpine", "harbor", "citrus", "gadget"];
            let both = [PushPlatform::Fcm, PushPlatform::Apns];
            let world = world(&tenants.map(|t| (t, &both[..]))).await;
            let mut owners = std::collections::HashMap::new();
            for (tenant, push, start) in &mix {
                let tenant = tenants[*tenant];
                let batch = if *push {
                    let customers = (*start..*start + 3).map(|n| {
                        let devices = vec![fcm(&format!("{tenant}-{n}")), apns_of(tenant, n)];
                        for device in &devices {
                            owners.insert(device.token.clone(), tenant);
                        }
                        (n, devices)
                    });
                    sample_push_batch(tenant, "c1", customers)
                } else {
                    crate::testing::samples::sample_batch(tenant, "c1", *start..*start + 3)
                };
                world.deliver(&batch).await;
            }
            for (_, push) in world.push.published() {
                let owner = push.tenant_id.as_str();
                let own = sample_push_application(owner, push.platform);
                proptest::prop_assert_eq!(&push.application_arn, &own);
                proptest::prop_assert!(crate::channels::push::endpoint_belongs_to(&own, &push.endpoint_arn));
                let token = world.push.token_of(&push.endpoint_arn).unwrap();
                proptest::prop_assert_eq!(owners[&token], owner);
                let own_shop = format!("{owner}.shop.example");
                proptest::prop_assert!(push.message.contains(&own_shop));
                for other in tenants.iter().filter(|t| **t != owner) {
                    let their_shop = format!("{other}.shop.example");
                    proptest::prop_assert!(!push.message.contains(&their_shop));
                }
            }
            for (_, email) in world.email.sent() {
                let owner = email.tags.iter().find(|(k, _)| k == "tenant").unwrap().1.clone();
                let expected = sample_workspace(&owner, DOMAIN);
                proptest::prop_assert_eq!(&email.configuration_set, &expected.configuration_set);
                let own_domain = format!("@{owner}.customers.example");
                proptest::prop_assert!(email.to_address.ends_with(&own_domain));
            }
            Ok(())
        })?;
    }
}

/// The email budget and the push budget, each on its own store, at their own rates.
struct Budgets {
    email: Arc<crate::testing::MemoryBudgetStore>,
    push: Arc<crate::testing::MemoryBudgetStore>,
}

/// The world's deliverer again, on a clock that moves with tokio's (paused) time, as a budget's
/// waits need, with an email budget and a push budget at their own rates.
fn budgeted(mut world: World, email_rate: f64, push_rate: f64) -> (World, Budgets) {
    use crate::deliverability::budget::{AccountRate, BudgetSettings, ConfiguredRate, SendBudgets};
    let clock = Arc::new(crate::testing::simulation::VirtualClock::new(
        world.clock.now(),
    ));
    let budgets = Budgets {
        email: Arc::default(),
        push: Arc::default(),
    };
    let budget = |store: &Arc<crate::testing::MemoryBudgetStore>, rate: f64| {
        let settings = BudgetSettings {
            fallback_max_send_rate: rate,
            account_share: 1.0,
            ..BudgetSettings::default()
        };
        let account = AccountRate::new(Arc::new(ConfiguredRate(rate)), settings, clock.clone());
        Arc::new(SendBudgets::new(store.clone(), account, clock.clone()))
    };
    world.deliverer = Deliverer::new(
        DelivererPorts {
            directory: world.directory.clone(),
            templates: world.directory.clone(),
            send_log: world.send_log.clone(),
            provider: world.email.clone(),
            archive: world.archive.clone(),
            clock: clock.clone(),
            unsubscribe: crate::testing::unsubscribe_signer(),
        },
        DeliveryConfig::new(DOMAIN),
    )
    .with_push(PushPorts {
        provider: world.push.clone(),
        endpoints: world.endpoints.clone(),
        suppressions: world.directory.clone(),
    })
    .with_send_budgets(budget(&budgets.email, email_rate))
    .with_push_budgets(budget(&budgets.push, push_rate));
    (world, budgets)
}

#[tokio::test(start_paused = true)]
async fn given_a_push_budget_then_pushes_take_from_it_alone_and_what_it_cannot_pace_is_deferred() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    // SNS's rate far below SES's: 2 pushes a second, 1,000 emails.
    let (world, budgets) = budgeted(world, 1_000.0, 2.0);
    let batch = sample_push_batch(
        "alpine",
        "c1",
        (1..=40).map(|n| (n, vec![fcm(&format!("tok-{n}"))])),
    );

    let outcome = world.deliver(&batch).await;

    let counts = &outcome.per_tenant["alpine"];
    assert!(outcome.failed_positions.is_empty());
    assert!(counts.sent > 0, "{counts:?}");
    assert!(
        counts.sent <= 2 * 10 + 1,
        "no more than the push rate allows within the wait: {counts:?}"
    );
    assert_eq!(
        counts.sent + counts.deferred,
        40,
        "the rest deferred: {counts:?}"
    );
    assert_eq!(world.push.published().len() as u64, counts.sent);
    let push = budgets.push.state();
    assert!(
        push.account.is_some()
            && push
                .tenants
                .contains_key(&TenantId::parse("alpine").unwrap())
    );
    assert_eq!(
        budgets.email.state(),
        Default::default(),
        "SES's budget untouched"
    );
}

#[tokio::test(start_paused = true)]
async fn given_both_budgets_then_an_email_batch_leaves_the_push_budget_alone() {
    let world = world(&[("alpine", &[PushPlatform::Fcm])]).await;
    let (world, budgets) = budgeted(world, 1_000.0, 2.0);
    let batch = crate::testing::samples::sample_batch("alpine", "c1", 1..4);

    let outcome = world.deliver(&batch).await;

    assert_eq!(outcome.per_tenant["alpine"].sent, 3, "{outcome:?}");
    assert_eq!(world.email.sent_count(), 3);
    assert!(budgets.email.state().account.is_some());
    assert_eq!(
        budgets.push.state(),
        Default::default(),
        "SNS's budget untouched"
    );
}
