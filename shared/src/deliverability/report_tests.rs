use super::*;
use crate::deliverability::counters::{CounterKey, FeedbackKind};
use crate::deliverability::warmup::{WarmupPorts, WarmupService};
use crate::domain::CampaignId;
use crate::testing::samples::seed_retailer;
use crate::testing::{
    ManualClock, MemoryDirectory, MemoryFeedbackCounters, MemorySendCap, MemoryWarmupStore,
};

const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-22 10:00:00 UTC);

struct World {
    reports: DeliverabilityReports,
    warmup: WarmupService,
    directory: Arc<MemoryDirectory>,
    counters: Arc<MemoryFeedbackCounters>,
    caps: Arc<MemorySendCap>,
}

async fn world() -> World {
    let directory = Arc::new(MemoryDirectory::default());
    seed_retailer(directory.as_ref(), "alpine", "c1", "mail.test")
        .await
        .unwrap();
    let counters = Arc::new(MemoryFeedbackCounters::default());
    let store = Arc::new(MemoryWarmupStore::default());
    let caps = Arc::new(MemorySendCap::default());
    let reports = DeliverabilityReports::new(
        ReportPorts {
            workspaces: directory.clone(),
            feedback: counters.clone(),
            warmup: store.clone(),
            caps: caps.clone(),
        },
        WarmupThresholds::default(),
        Arc::new(ManualClock::new(NOW)),
    );
    let warmup = WarmupService::new(
        WarmupPorts {
            workspaces: directory.clone(),
            feedback: counters.clone(),
            store,
            caps: caps.clone(),
        },
        WarmupThresholds::default(),
    );
    World {
        reports,
        warmup,
        directory,
        counters,
        caps,
    }
}

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

impl World {
    async fn count(&self, days_back: i64, kind: FeedbackKind, times: u64) {
        let key = CounterKey {
            tenant: alpine(),
            campaign: CampaignId::parse("c1").unwrap(),
            variant: "A".into(),
            day: day_after(NOW.unix_timestamp(), -days_back),
        };
        for _ in 0..times {
            self.counters.increment(&key, kind).await.unwrap();
        }
    }
}

#[tokio::test]
async fn the_days_rates_are_the_warm_ups_own_and_the_state_is_reported_newest_first() {
    let w = world().await;
    let plan = WarmupPlan {
        start_cap: 200,
        target: 50_000,
        ramp_days: 35,
        engaged_first: true,
    };
    let mut workspace = w.directory.workspace(&alpine()).await.unwrap().unwrap();
    workspace.settings.warmup = Some(plan);
    w.directory.put_workspace(&workspace).await.unwrap();
    // Yesterday: 200 sent, 6 hard bounces (3 %: a hold), 4 delayed and 1 soft bounce.
    w.count(1, FeedbackKind::Sent, 200).await;
    w.count(1, FeedbackKind::HardBounced, 6).await;
    w.count(1, FeedbackKind::Delayed, 4).await;
    w.count(1, FeedbackKind::SoftBounced, 1).await;
    w.count(0, FeedbackKind::Sent, 10).await;
    let yesterday = NOW.unix_timestamp() - 86_400;
    w.warmup
        .run_tenant(&alpine(), plan, yesterday)
        .await
        .unwrap();
    w.warmup
        .run_tenant(&alpine(), plan, NOW.unix_timestamp())
        .await
        .unwrap();
    w.caps
        .take(&alpine(), &Day::of_epoch(NOW.unix_timestamp()), 10, 200)
        .await
        .unwrap();

    let report = w.reports.report(&alpine(), 3).await.unwrap();
    assert_eq!(report.today, "2026-11-22");
    let days: Vec<&str> = report.days.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(days, ["2026-11-22", "2026-11-21", "2026-11-20"]);
    let y = &report.days[1];
    let rates = DayRates::of(&y.counts);
    assert_eq!(
        (y.counts.sent, y.counts.hard_bounced, y.deferrals),
        (200, 6, 5)
    );
    assert_eq!(y.bounce_rate, rates.bounce);
    assert!((y.bounce_rate - 0.03).abs() < 1e-12);
    assert!((y.deferral_rate - 0.025).abs() < 1e-12);
    assert_eq!(report.days[2].counts, FeedbackCounts::default());

    let warm_up = report.warm_up.unwrap();
    assert_eq!(warm_up.top_rung, 34);
    let state = warm_up.state.unwrap();
    assert_eq!((state.rung, state.stage), (0, WarmupStage::Holding));
    assert_eq!(warm_up.today_cap, Some(200));
    assert_eq!(warm_up.today_used, 10);
    let actions: Vec<WarmupAction> = warm_up.decisions.iter().map(|d| d.action).collect();
    assert_eq!(actions, [WarmupAction::Hold, WarmupAction::Start]);
    assert!(
        warm_up.decisions[0].reason.contains("bounce rate 3.00%"),
        "{}",
        warm_up.decisions[0].reason
    );
}

#[tokio::test]
async fn no_plan_reports_no_warm_up_and_bad_days_or_tenants_are_refused() {
    let w = world().await;
    w.count(0, FeedbackKind::Sent, 3).await;
    let report = w.reports.report(&alpine(), 1).await.unwrap();
    assert_eq!(report.warm_up, None);
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.days[0].counts.sent, 3);
    for days in [0, MAX_REPORT_DAYS + 1] {
        assert!(matches!(
            w.reports.report(&alpine(), days).await,
            Err(ReportError::Days)
        ));
    }
    assert_eq!(
        w.reports
            .report(&alpine(), MAX_REPORT_DAYS)
            .await
            .unwrap()
            .days
            .len(),
        MAX_REPORT_DAYS as usize
    );
    assert!(matches!(
        w.reports
            .report(&TenantId::parse("nobody").unwrap(), 1)
            .await,
        Err(ReportError::UnknownTenant)
    ));
}
