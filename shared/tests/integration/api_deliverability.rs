//! `/tenants/{tenant}/deliverability`: a retailer's warm-up and daily counts and rates through
//! the API, the rates the warm-up's own, out of every other retailer's reach.

use super::*;
use storecast::deliverability::counters::{CounterKey, Day, FeedbackKind};
use storecast::deliverability::warmup::{
    SendCap as _, WarmupPorts, WarmupService, WarmupThresholds, day_after,
};
use storecast::directory::TenantAdmin as _;
use storecast::domain::WarmupPlan;

const PLAN: WarmupPlan = WarmupPlan {
    start_cap: 200,
    target: 50_000,
    ramp_days: 35,
    engaged_first: true,
};

impl Harness {
    async fn count(&self, tenant: &str, days_back: i64, kind: FeedbackKind, times: u64) {
        let key = CounterKey {
            tenant: TenantId::parse(tenant).unwrap(),
            campaign: CampaignId::parse("spring").unwrap(),
            variant: "A".into(),
            day: day_after(now(), -days_back),
        };
        for _ in 0..times {
            self.counters.increment(&key, kind).await.unwrap();
        }
    }

    async fn start_warm_up(&self, tenant: &str) {
        let id = TenantId::parse(tenant).unwrap();
        let mut workspace = self.directory.workspace(&id).await.unwrap().unwrap();
        workspace.settings.warmup = Some(PLAN);
        self.directory.put_workspace(&workspace).await.unwrap();
    }

    /// The daily warm-up run of `days_back` days ago, on the stores the API reads.
    async fn run_warm_up(&self, tenant: &str, days_back: i64) {
        let service = WarmupService::new(
            WarmupPorts {
                workspaces: self.directory.clone(),
                feedback: self.counters.clone(),
                store: self.warmup_store.clone(),
                caps: self.caps.clone(),
            },
            WarmupThresholds::default(),
        );
        service
            .run_tenant(
                &TenantId::parse(tenant).unwrap(),
                PLAN,
                now() - days_back * 86_400,
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_retailer_in_warm_up_gets_its_days_rates_cap_and_decisions_and_no_one_else_does() {
    let h = two_retailers().await;
    h.start_warm_up("alpine").await;
    // Two days ago: healthy. Yesterday: 3 % hard bounces (a hold), 4 delayed and a soft bounce.
    h.count("alpine", 2, FeedbackKind::Sent, 200).await;
    h.count("alpine", 2, FeedbackKind::Delivered, 199).await;
    h.count("alpine", 2, FeedbackKind::Complained, 1).await;
    h.count("alpine", 1, FeedbackKind::Sent, 300).await;
    h.count("alpine", 1, FeedbackKind::HardBounced, 9).await;
    h.count("alpine", 1, FeedbackKind::Delayed, 4).await;
    h.count("alpine", 1, FeedbackKind::SoftBounced, 1).await;
    h.count("alpine", 0, FeedbackKind::Sent, 40).await;
    h.run_warm_up("alpine", 2).await;
    h.run_warm_up("alpine", 1).await;
    h.run_warm_up("alpine", 0).await;
    let today = Day::of_epoch(now());
    let alpine = TenantId::parse("alpine").unwrap();
    assert_eq!(h.caps.take(&alpine, &today, 40, 0).await.unwrap(), 40);

    for caller in [marketer("alpine"), operator()] {
        let answer = h
            .call(
                Method::GET,
                "/tenants/alpine/deliverability?days=3",
                Some(caller),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let body = &answer.body;
        assert_eq!(body["today"], today.0);
        let days = body["days"].as_array().unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[0]["day"], today.0);
        assert_eq!(days[0]["counts"]["sent"], 40);
        assert_eq!(days[1]["day"], day_after(now(), -1).0);
        assert_eq!(days[1]["counts"]["sent"], 300);
        assert_eq!(days[1]["counts"]["hard_bounced"], 9);
        assert_eq!(days[1]["deferrals"], 5);
        assert!((days[1]["bounce_rate"].as_f64().unwrap() - 0.03).abs() < 1e-12);
        assert!((days[1]["deferral_rate"].as_f64().unwrap() - 5.0 / 300.0).abs() < 1e-12);
        assert!((days[2]["complaint_rate"].as_f64().unwrap() - 0.005).abs() < 1e-12);
        assert_eq!(body["thresholds"]["hold_bounce_rate"], 0.02);
        assert_eq!(body["thresholds"]["min_volume"], 50);

        let warm_up = &body["warm_up"];
        assert_eq!(warm_up["plan"]["start_cap"], 200);
        assert_eq!(warm_up["top_rung"], 34);
        // Start; then two days ago judged healthy (its one complaint, 0.5 %, is under
        // min_events: not judged), up to rung 1; then a hold for yesterday's bounces.
        let decisions = warm_up["decisions"].as_array().unwrap();
        let actions: Vec<&str> = decisions
            .iter()
            .map(|d| d["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["hold", "advance", "start"], "{warm_up}");
        assert!(
            decisions[0]["reason"]
                .as_str()
                .unwrap()
                .contains("bounce rate 3.00% >= 2.00%"),
            "{}",
            decisions[0]["reason"]
        );
        assert_eq!(decisions[0]["day"], today.0);
        assert_eq!(decisions[0]["sent"], 300);
        assert_eq!(warm_up["state"]["rung"], 1);
        assert_eq!(warm_up["state"]["stage"], "holding");
        assert_eq!(warm_up["today_cap"], decisions[0]["cap"]);
        assert_eq!(warm_up["today_used"], 40);
    }

    let foreign = h
        .call(
            Method::GET,
            "/tenants/alpine/deliverability",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.content_type, "application/problem+json");
}

#[tokio::test]
async fn a_retailer_without_a_plan_gets_its_counts_and_no_warm_up() {
    let h = two_retailers().await;
    h.count("harbor", 0, FeedbackKind::Sent, 7).await;
    h.count("harbor", 0, FeedbackKind::Complained, 1).await;
    h.count("harbor", 13, FeedbackKind::Sent, 5).await;
    let answer = h
        .call(
            Method::GET,
            "/tenants/harbor/deliverability",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["warm_up"], Value::Null);
    let days = answer.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert_eq!(days[0]["counts"]["sent"], 7);
    assert!((days[0]["complaint_rate"].as_f64().unwrap() - 1.0 / 7.0).abs() < 1e-12);
    assert_eq!(days[13]["counts"]["sent"], 5);
    assert_eq!(days[13]["day"], day_after(now(), -13).0);
    // Alpine's counts are alpine's.
    assert_eq!(days[1]["counts"]["sent"], 0);
}

#[tokio::test]
async fn bad_days_are_a_400_and_an_unknown_retailer_a_404() {
    let h = two_retailers().await;
    for days in ["0", "61", "-1", "many"] {
        let answer = h
            .call(
                Method::GET,
                &format!("/tenants/alpine/deliverability?days={days}"),
                Some(marketer("alpine")),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "days={days}");
        assert_eq!(answer.content_type, "application/problem+json");
    }
    let sixty = h
        .call(
            Method::GET,
            "/tenants/alpine/deliverability?days=60",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(sixty.body["days"].as_array().unwrap().len(), 60);
    let unknown = h
        .call(
            Method::GET,
            "/tenants/nowhere/deliverability",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
