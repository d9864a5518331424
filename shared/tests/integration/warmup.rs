//! The warm-up's daily cap in delivery, on the in-memory adapters: enforced across concurrent
//! deliveries, the overflow deferred to the next UTC day and redriven then, nothing lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use storecast::clock::Clock;
use storecast::deliverability::counters::Day;
use storecast::deliverability::warmup::{SendCap, next_day_start};
use storecast::directory::TenantAdmin;
use storecast::domain::{FieldValue, SendBatch, TenantId, WarmupPlan};
use storecast::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig, TenantCounts};
use storecast::pipeline::redrive::redrive_due;
use storecast::testing::samples::{sample_batch, seed_retailer};
use storecast::testing::{
    ManualClock, MemoryArchive, MemoryDirectory, MemoryEmailProvider, MemorySendCap, MemorySendLog,
    MemoryStream,
};
use time::OffsetDateTime;

const DOMAIN: &str = "mail.storecast.example";

struct World {
    send_log: Arc<MemorySendLog>,
    provider: Arc<MemoryEmailProvider>,
    archive: Arc<MemoryArchive>,
    caps: Arc<MemorySendCap>,
    clock: Arc<ManualClock>,
    deliverer: Arc<Deliverer>,
    stream: Arc<MemoryStream>,
}

fn plan(start_cap: u64, engaged_first: bool) -> WarmupPlan {
    WarmupPlan {
        start_cap,
        target: 100_000,
        ramp_days: 30,
        engaged_first,
    }
}

async fn world(warming: &[(&str, WarmupPlan)], others: &[&str]) -> World {
    let directory = Arc::new(MemoryDirectory::default());
    for tenant in others.iter().chain(warming.iter().map(|(t, _)| t)) {
        seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
            .await
            .unwrap();
    }
    for (tenant, plan) in warming {
        let id = TenantId::parse(*tenant).unwrap();
        let mut workspace = directory.workspace(&id).await.unwrap().unwrap();
        workspace.settings.warmup = Some(*plan);
        directory.put_workspace(&workspace).await.unwrap();
    }
    let send_log = Arc::new(MemorySendLog::default());
    let provider = Arc::new(MemoryEmailProvider::keeping_messages());
    let archive = Arc::new(MemoryArchive::default());
    let caps = Arc::new(MemorySendCap::default());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-11-22 10:00:00 UTC),
    ));
    let mut config = DeliveryConfig::new(DOMAIN);
    config.send_concurrency = 4;
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: directory.clone(),
            templates: directory.clone(),
            send_log: send_log.clone(),
            provider: provider.clone(),
            archive: archive.clone(),
            clock: clock.clone(),
            unsubscribe: storecast::testing::unsubscribe_signer(),
        },
        config,
    )
    .with_send_cap(caps.clone());
    World {
        send_log,
        provider,
        archive,
        caps,
        clock,
        deliverer: Arc::new(deliverer),
        stream: Arc::new(MemoryStream::default()),
    }
}

impl World {
    fn deadline(&self) -> OffsetDateTime {
        self.clock.now() + time::Duration::seconds(60)
    }

    /// Every batch in its own invocation, all at once (as many shards would).
    async fn deliver_concurrently(&self, batches: &[SendBatch]) -> TenantCounts {
        crate::support::deliver_concurrently(&self.deliverer, batches, self.deadline()).await
    }

    /// The scheduler's redrive, then delivery of what it put back (concurrently).
    async fn redrive(&self) -> TenantCounts {
        redrive_due(
            self.archive.as_ref(),
            self.stream.as_ref(),
            self.send_log.as_ref(),
            self.clock.now().unix_timestamp(),
        )
        .await
        .unwrap();
        let batches: Vec<SendBatch> = self
            .stream
            .take_records()
            .into_iter()
            .map(|r| serde_json::from_slice(&r.data).unwrap())
            .collect();
        self.deliver_concurrently(&batches).await
    }

    fn sent_per_address(&self) -> BTreeMap<String, usize> {
        let mut sent = BTreeMap::new();
        for (_, email) in self.provider.sent() {
            *sent.entry(email.to_address).or_insert(0) += 1;
        }
        sent
    }

    fn today(&self) -> Day {
        Day::of_epoch(self.clock.now().unix_timestamp())
    }
}

fn batches(tenant: &str, count: u32) -> Vec<SendBatch> {
    (0..count)
        .map(|b| sample_batch(tenant, "c1", b * 50 + 1..b * 50 + 51))
        .collect()
}

#[tokio::test]
async fn concurrent_deliveries_send_no_more_than_the_days_cap_and_defer_the_rest_to_tomorrow() {
    let w = world(&[("alpine", plan(100, false))], &[]).await;
    let tenant = TenantId::parse("alpine").unwrap();
    w.caps.set_cap(&tenant, &w.today(), 230).await.unwrap();

    let first = w.deliver_concurrently(&batches("alpine", 12)).await;

    assert_eq!(first.recipients, 600);
    assert_eq!(
        first.sent, 230,
        "exactly the cap, across 12 concurrent deliveries"
    );
    assert_eq!(w.provider.sent_count(), 230);
    assert_eq!(
        first.sent + first.deferred + first.suppressed + first.failed,
        600
    );
    assert_eq!(first.deferred, 370);
    let tomorrow = next_day_start(w.clock.now().unix_timestamp());
    let deferred = w.archive.deferred();
    assert!(!deferred.is_empty());
    for (_, batch) in &deferred {
        assert_eq!(batch.retry_at, tomorrow, "the cap's reset");
        assert_eq!(batch.reason, "daily warm-up cap reached");
    }
    assert_eq!(
        w.caps
            .usage(&tenant, &w.today())
            .await
            .unwrap()
            .unwrap()
            .used,
        230
    );

    // Later the same day the redrive finds nothing due.
    w.clock.advance(time::Duration::hours(3));
    assert_eq!(w.redrive().await.recipients, 0);
    assert_eq!(w.provider.sent_count(), 230);
}

#[tokio::test]
async fn the_overflow_goes_out_over_the_next_days_once_each_and_nothing_is_lost() {
    let w = world(&[("alpine", plan(100, false))], &[]).await;
    let tenant = TenantId::parse("alpine").unwrap();
    w.caps.set_cap(&tenant, &w.today(), 200).await.unwrap();
    w.deliver_concurrently(&batches("alpine", 10)).await;
    assert_eq!(w.provider.sent_count(), 200);

    // Day 2: the warm-up run set 250; day 3: no cap set yet, so the plan's start (100) holds.
    let now = w.clock.now().unix_timestamp();
    w.clock
        .advance(time::Duration::seconds(next_day_start(now) - now + 60));
    w.caps.set_cap(&tenant, &w.today(), 250).await.unwrap();
    let day2 = w.redrive().await;
    assert_eq!(day2.sent, 250);
    assert_eq!(w.provider.sent_count(), 450);
    w.clock.advance(time::Duration::days(1));
    let day3 = w.redrive().await;
    assert_eq!(day3.sent, 50, "the last 50 fit in the fallback of 100");
    assert_eq!(day3.deferred, 0);

    let sent = w.sent_per_address();
    assert_eq!(sent.len(), 500, "every recipient got its message");
    assert!(sent.values().all(|&n| n == 1), "and only one");
    assert!(w.archive.deferred().is_empty());
}

#[tokio::test]
async fn a_tenant_not_in_warm_up_costs_no_cap_call_and_is_not_capped() {
    let w = world(&[("alpine", plan(50, false))], &["borealis"]).await;
    let counts = w.deliver_concurrently(&batches("borealis", 4)).await;
    assert_eq!(counts.sent, 200);
    assert_eq!(w.caps.calls(), 0);
    // The tenant in warm-up next to it: one take per batch, its cap applies.
    let counts = w.deliver_concurrently(&batches("alpine", 4)).await;
    assert_eq!(counts.sent, 50);
    assert!(
        w.caps.calls() <= 8,
        "a take per batch (and a give-back at most): {}",
        w.caps.calls()
    );
}

#[tokio::test]
async fn with_engaged_first_the_days_sends_go_to_the_most_engaged() {
    let w = world(&[("alpine", plan(50, true))], &[]).await;
    let tenant = TenantId::parse("alpine").unwrap();
    w.caps.set_cap(&tenant, &w.today(), 10).await.unwrap();
    let mut batch = sample_batch("alpine", "c1", 1..51);
    for (i, recipient) in batch.recipients.iter_mut().enumerate() {
        if let FieldValue::Object(fields) = &mut recipient.customer.fields {
            fields.insert(
                "engagement_score".into(),
                FieldValue::Integer(((i * 37) % 50) as i64),
            );
        }
    }
    let expected: Vec<String> = {
        let mut scored: Vec<(i64, String)> = batch
            .recipients
            .iter()
            .map(|r| match r.customer.fields.get("engagement_score") {
                Some(FieldValue::Integer(s)) => (*s, r.customer.email.clone().unwrap()),
                _ => unreachable!(),
            })
            .collect();
        scored.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut top: Vec<String> = scored.into_iter().take(10).map(|(_, a)| a).collect();
        top.sort();
        top
    };
    w.deliver_concurrently(&[batch]).await;
    let sent: Vec<String> = w.sent_per_address().into_keys().collect();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn an_unavailable_cap_defers_the_batch_for_a_minute_instead_of_sending_past_it() {
    let w = world(&[("alpine", plan(100, false))], &[]).await;
    w.caps.set_unavailable(true);
    let counts = w.deliver_concurrently(&batches("alpine", 1)).await;
    assert_eq!((counts.sent, counts.deferred), (0, 50));
    let (_, deferred) = &w.archive.deferred()[0];
    assert_eq!(deferred.retry_at, w.clock.now().unix_timestamp() + 60);
    assert_eq!(deferred.reason, "send cap unavailable");
    w.caps.set_unavailable(false);
    w.clock.advance(time::Duration::minutes(2));
    assert_eq!(w.redrive().await.sent, 50);
}

mod daily_run {
    use super::*;
    use storecast::deliverability::counters::FeedbackCounts;
    use storecast::deliverability::warmup::{
        WarmupAction, WarmupPorts, WarmupService, WarmupThresholds, day_after,
    };
    use storecast::testing::{MemoryFeedbackCounters, MemoryWarmupStore};

    struct Daily {
        directory: Arc<MemoryDirectory>,
        feedback: Arc<MemoryFeedbackCounters>,
        store: Arc<MemoryWarmupStore>,
        caps: Arc<MemorySendCap>,
        service: Arc<WarmupService>,
    }

    async fn daily(warming: &[(&str, WarmupPlan)], others: &[&str]) -> Daily {
        let directory = Arc::new(MemoryDirectory::default());
        for tenant in others.iter().chain(warming.iter().map(|(t, _)| t)) {
            seed_retailer(directory.as_ref(), tenant, "c1", DOMAIN)
                .await
                .unwrap();
        }
        for (tenant, plan) in warming {
            let id = TenantId::parse(*tenant).unwrap();
            let mut workspace = directory.workspace(&id).await.unwrap().unwrap();
            workspace.settings.warmup = Some(*plan);
            directory.put_workspace(&workspace).await.unwrap();
        }
        let feedback = Arc::new(MemoryFeedbackCounters::default());
        let store = Arc::new(MemoryWarmupStore::default());
        let caps = Arc::new(MemorySendCap::default());
        let service = Arc::new(WarmupService::new(
            WarmupPorts {
                workspaces: directory.clone(),
                feedback: feedback.clone(),
                store: store.clone(),
                caps: caps.clone(),
            },
            WarmupThresholds::default(),
        ));
        Daily {
            directory,
            feedback,
            store,
            caps,
            service,
        }
    }

    fn at(day: i64) -> OffsetDateTime {
        time::macros::datetime!(2026-03-01 00:05 UTC) + time::Duration::days(day)
    }

    fn healthy(sent: u64) -> FeedbackCounts {
        FeedbackCounts {
            sent,
            delivered: sent,
            ..FeedbackCounts::default()
        }
    }

    #[tokio::test]
    async fn each_tenant_in_warm_up_gets_todays_cap_and_tomorrows_until_it_is_decided() {
        let d = daily(&[("alpine", plan(100, true))], &["borealis"]).await;
        let alpine = TenantId::parse("alpine").unwrap();
        let first = d.service.run_daily(at(0)).await.unwrap();
        assert_eq!((first.tenants, first.decided, first.failed), (1, 1, 0));
        assert_eq!(first.results[0].action, WarmupAction::Start);
        let day0 = Day::of_epoch(at(0).unix_timestamp());
        let day1 = day_after(at(0).unix_timestamp(), 1);
        assert_eq!(
            d.caps.usage(&alpine, &day0).await.unwrap().unwrap().cap,
            Some(100)
        );
        assert_eq!(
            d.caps.usage(&alpine, &day1).await.unwrap().unwrap().cap,
            Some(100)
        );

        d.feedback.set_day(&alpine, &day0, healthy(100));
        let second = d.service.run_daily(at(1)).await.unwrap();
        assert_eq!(second.results[0].action, WarmupAction::Advance);
        let cap = second.results[0].cap;
        assert!(cap > 100);
        assert_eq!(
            d.caps.usage(&alpine, &day1).await.unwrap().unwrap().cap,
            Some(cap)
        );
        let state = d.store.state(&alpine).unwrap();
        assert_eq!(state.history.len(), 2);
        assert!(
            d.store
                .state(&TenantId::parse("borealis").unwrap())
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_second_or_concurrent_run_of_the_day_decides_nothing_again() {
        let d = daily(&[("alpine", plan(100, true))], &[]).await;
        d.service.run_daily(at(0)).await.unwrap();
        let alpine = TenantId::parse("alpine").unwrap();
        d.feedback.set_day(
            &alpine,
            &Day::of_epoch(at(0).unix_timestamp()),
            healthy(100),
        );
        let runs = (0..4).map(|_| {
            let service = d.service.clone();
            tokio::spawn(async move { service.run_daily(at(1)).await.unwrap() })
        });
        let summaries: Vec<_> = futures::future::join_all(runs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let decided: u64 = summaries.iter().map(|s| s.decided).sum();
        assert_eq!(decided, 1, "one run applies the day");
        assert_eq!(summaries.iter().map(|s| s.already_decided).sum::<u64>(), 3);
        assert_eq!(d.store.state(&alpine).unwrap().history.len(), 2);
        let again = d
            .service
            .run_daily(at(1) + time::Duration::hours(5))
            .await
            .unwrap();
        assert_eq!((again.decided, again.already_decided), (0, 1));
    }

    #[tokio::test]
    async fn one_tenants_failure_is_counted_and_the_others_are_decided() {
        let bad = WarmupPlan {
            start_cap: 10,
            ..plan(100, true)
        };
        let d = daily(
            &[
                ("alpine", plan(100, true)),
                ("broken", bad),
                ("cedar", plan(500, false)),
            ],
            &[],
        )
        .await;
        let summary = d.service.run_daily(at(0)).await.unwrap();
        assert_eq!(
            (summary.tenants, summary.decided, summary.failed),
            (3, 2, 1)
        );
        assert_eq!(summary.failures[0].0, "broken");
        assert!(
            summary.failures[0].1.contains("start_cap"),
            "{}",
            summary.failures[0].1
        );
        assert!(summary.failures_as_error().is_err());
        assert!(d.store.state(&TenantId::parse("cedar").unwrap()).is_some());

        // A store outage for one call fails that tenant only, and the retry completes it.
        d.caps.set_unavailable(true);
        let outage = d.service.run_daily(at(1)).await.unwrap();
        assert_eq!(outage.failed, 3);
        d.caps.set_unavailable(false);
        let retried = d.service.run_daily(at(1)).await.unwrap();
        assert_eq!(
            (retried.failed, retried.decided + retried.already_decided),
            (1, 2)
        );
        let _ = &d.directory;
    }
}
