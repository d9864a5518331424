//! `warmup-sim`: the real warm-up (`WarmupService::run_daily` and the day's cap, on the
//! in-memory adapters) run day by day for three tenants on synthetic feedback from a fixed seed:
//! a healthy one, a degrading one (the deeper into its list it mails, the more hard bounces, and
//! from day 20 its list decays by 0.2 points a day, up to 3 points) and a recovering one (a bad list, cleaned on day 10).

use std::sync::Arc;

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use storecast::deliverability::counters::{Day, FeedbackCounts};
use storecast::deliverability::warmup::{SendCap, WarmupPorts, WarmupService, WarmupThresholds};
use storecast::directory::TenantAdmin;
use storecast::domain::{TenantId, WarmupPlan};
use storecast::testing::samples::sample_workspace;
use storecast::testing::{
    MemoryDirectory, MemoryFeedbackCounters, MemorySendCap, MemoryWarmupStore,
};

pub const SEED: u64 = 20_260_301;
/// Every tenant's plan in the simulation.
pub const PLAN: WarmupPlan = WarmupPlan {
    start_cap: 500,
    target: 40_000,
    ramp_days: 35,
    engaged_first: true,
};
/// What each tenant would send a day without a cap.
const DEMAND: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Healthy,
    Degrading,
    Recovering,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Healthy, Scenario::Degrading, Scenario::Recovering];

    pub fn tenant(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::Degrading => "degrading",
            Scenario::Recovering => "recovering",
        }
    }

    /// The day's true rates (hard bounce, complaint, deferral) at `sent` messages on `day`.
    fn rates(self, day: u32, sent: u64) -> (f64, f64, f64) {
        let volume = sent as f64 / PLAN.target as f64;
        match self {
            Scenario::Healthy => (0.006, 0.0002, 0.01),
            Scenario::Degrading => (
                0.006
                    + 0.03 * volume.powf(1.5)
                    + (0.002 * (f64::from(day) - 20.0)).clamp(0.0, 0.03),
                0.0001 + 0.0003 * volume,
                0.015,
            ),
            Scenario::Recovering if day < 10 => (0.03 + 0.0025 * f64::from(day), 0.0003, 0.03),
            Scenario::Recovering => (0.007, 0.0002, 0.012),
        }
    }
}

/// One tenant's day: the cap decided that morning, what it sent, the feedback it got.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDay {
    pub day: u32,
    pub tenant: &'static str,
    pub cap: u64,
    pub sent: u64,
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    pub deferral_rate: f64,
    pub decision: &'static str,
    pub reason: String,
}

/// A count near `n * p`: binomial noise by its normal approximation.
fn sample(rng: &mut StdRng, n: u64, p: f64) -> u64 {
    let mean = n as f64 * p;
    let sd = (mean * (1.0 - p)).max(0.0).sqrt();
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (mean + z * sd).round().clamp(0.0, n as f64) as u64
}

fn feedback(rng: &mut StdRng, scenario: Scenario, day: u32, sent: u64) -> FeedbackCounts {
    let (bounce, complaint, deferral) = scenario.rates(day, sent);
    let hard_bounced = sample(rng, sent, bounce);
    FeedbackCounts {
        sent,
        delivered: sent - hard_bounced,
        hard_bounced,
        complained: sample(rng, sent, complaint),
        delayed: sample(rng, sent, deferral),
        ..FeedbackCounts::default()
    }
}

/// `days` days from 2026-03-01, every tenant's day decided by the real service first.
pub async fn simulate(days: u32, seed: u64, thresholds: WarmupThresholds) -> Result<Vec<SimDay>> {
    let directory = Arc::new(MemoryDirectory::default());
    for scenario in Scenario::ALL {
        let mut workspace = sample_workspace(scenario.tenant(), "mail.storecast.example");
        workspace.settings.warmup = Some(PLAN);
        directory.put_workspace(&workspace).await?;
    }
    let counters = Arc::new(MemoryFeedbackCounters::default());
    let caps = Arc::new(MemorySendCap::default());
    let service = WarmupService::new(
        WarmupPorts {
            workspaces: directory,
            feedback: counters.clone(),
            store: Arc::new(MemoryWarmupStore::default()),
            caps: caps.clone(),
        },
        thresholds,
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let start = time::macros::datetime!(2026-03-01 00:05 UTC);
    let mut rows = Vec::new();
    for day in 1..=days {
        let now = start + time::Duration::days(i64::from(day - 1));
        let today = Day::of_epoch(now.unix_timestamp());
        let summary = service.run_daily(now).await?;
        anyhow::ensure!(
            summary.failed == 0,
            "warm-up failures: {:?}",
            summary.failures
        );
        for scenario in Scenario::ALL {
            let tenant = TenantId::parse(scenario.tenant())?;
            let decided = summary
                .results
                .iter()
                .find(|r| r.tenant == scenario.tenant())
                .expect("every tenant is decided");
            let sent = caps.take(&tenant, &today, DEMAND, PLAN.start_cap).await?;
            let counts = feedback(&mut rng, scenario, day, sent);
            counters.set_day(&tenant, &today, counts);
            rows.push(SimDay {
                day,
                tenant: scenario.tenant(),
                cap: decided.cap,
                sent,
                bounce_rate: counts.hard_bounce_rate(),
                complaint_rate: counts.complaint_rate(),
                deferral_rate: counts.delay_rate(),
                decision: decided.action.as_str(),
                reason: decided.reason.clone(),
            });
        }
    }
    Ok(rows)
}

/// `day,tenant,cap,sent,bounce_rate,complaint_rate,deferral_rate,decision,reason`.
pub fn to_csv(rows: &[SimDay]) -> String {
    let mut csv = String::from(
        "day,tenant,cap,sent,bounce_rate,complaint_rate,deferral_rate,decision,reason\n",
    );
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{},{:.5},{:.5},{:.5},{},\"{}\"\n",
            r.day,
            r.tenant,
            r.cap,
            r.sent,
            r.bounce_rate,
            r.complaint_rate,
            r.deferral_rate,
            r.decision,
            r.reason.replace('"', "'")
        ));
    }
    csv
}

/// The command: simulates with the default thresholds, writes `warmup.csv` and `warmup.png`
/// into `out`, and answers their paths.
pub async fn run(days: u32, seed: u64, out: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let thresholds = WarmupThresholds::default();
    let rows = simulate(days, seed, thresholds).await?;
    std::fs::create_dir_all(out)?;
    let csv = out.join("warmup.csv");
    std::fs::write(&csv, to_csv(&rows))?;
    let png = out.join("warmup.png");
    super::warmup_plot::draw(&rows, &thresholds, &png)?;
    Ok(vec![csv, png])
}
