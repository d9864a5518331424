//! The warm-up simulation: what it shows holds (a healthy tenant reaches its target within six
//! weeks, a degrading one holds and steps back before any review level), and the command writes
//! a CSV with every day and a PNG that decodes, with or without a system font.

use storecast::deliverability::warmup::WarmupThresholds;
use storecast::deliverability::warmup::decision::{
    SES_BOUNCE_REVIEW_RATE, SES_COMPLAINT_REVIEW_RATE,
};
use storecast_dev::tools::warmup_sim::{PLAN, SEED, SimDay, simulate};

fn days_of<'a>(rows: &'a [SimDay], tenant: &str) -> Vec<&'a SimDay> {
    rows.iter().filter(|r| r.tenant == tenant).collect()
}

fn at_review_level(r: &SimDay) -> bool {
    let t = WarmupThresholds::default();
    let counted = |rate: f64| (rate * r.sent as f64).round() as u64 >= t.min_events;
    (r.bounce_rate >= SES_BOUNCE_REVIEW_RATE && counted(r.bounce_rate))
        || (r.complaint_rate >= SES_COMPLAINT_REVIEW_RATE && counted(r.complaint_rate))
}

#[tokio::test]
async fn a_healthy_tenant_reaches_its_target_within_six_weeks() {
    let rows = simulate(42, SEED, WarmupThresholds::default())
        .await
        .unwrap();
    let healthy = days_of(&rows, "healthy");
    assert_eq!(healthy.len(), 42);
    let reached = healthy
        .iter()
        .find(|r| r.cap == PLAN.target)
        .expect("target reached");
    assert!(reached.day <= 42, "day {}", reached.day);
    assert!(healthy.iter().all(|r| r.decision != "step_back"));
    assert!(
        healthy.iter().all(|r| r.sent <= r.cap),
        "never past the cap"
    );
}

#[tokio::test]
async fn a_degrading_tenant_holds_and_steps_back_before_any_review_level() {
    for seed in [SEED, 1, 2, 3, 4] {
        let rows = simulate(42, seed, WarmupThresholds::default())
            .await
            .unwrap();
        let degrading = days_of(&rows, "degrading");
        let first = |decision: &str| {
            degrading
                .iter()
                .find(|r| r.decision == decision)
                .map(|r| r.day)
        };
        let hold = first("hold").expect("it holds");
        let step_back = first("step_back").expect("it steps back");
        let review = degrading.iter().find(|r| at_review_level(r)).map(|r| r.day);
        // A decision reads yesterday: the step back of day d answers the feedback of day d - 1,
        // so it comes before any day at a review level when it is on or before that day.
        if let Some(review) = review {
            assert!(
                hold.min(step_back) <= review && step_back <= review,
                "seed {seed}: held on day {hold}, stepped back on day {step_back}, review level on day {review}"
            );
        }
        assert!(
            degrading.last().unwrap().cap < PLAN.target / 2,
            "seed {seed}: it never ramps on"
        );
        let recovering = days_of(&rows, "recovering");
        assert!(recovering[..10].iter().any(|r| r.decision == "step_back"));
        assert!(
            recovering.last().unwrap().cap > recovering[10].cap * 10,
            "it resumes once clean"
        );
    }
}

#[tokio::test]
async fn the_command_writes_every_day_to_the_csv_and_a_png_that_decodes() {
    let out = std::env::temp_dir().join(format!("warmup-sim-{}", std::process::id()));
    let written = storecast_dev::tools::warmup_sim::run(42, SEED, &out)
        .await
        .unwrap();
    assert_eq!(
        written,
        vec![out.join("warmup.csv"), out.join("warmup.png")]
    );
    let csv = std::fs::read_to_string(out.join("warmup.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("day,tenant,cap,sent,bounce_rate,complaint_rate,deferral_rate,decision,reason")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.splitn(9, ',').collect()).collect();
    assert_eq!(rows.len(), 42 * 3);
    assert_eq!(&rows[0][..4], &["1", "healthy", "500", "500"]);
    assert!(rows.iter().all(|r| r.len() == 9 && r[8].starts_with('"')));
    let image = image::open(out.join("warmup.png")).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (
            storecast_dev::tools::warmup_plot::WIDTH,
            storecast_dev::tools::warmup_plot::HEIGHT
        )
    );
    // The ramp is drawn: the healthy tenant's green line leaves pixels of its colour.
    let rgb = image.to_rgb8();
    assert!(rgb.pixels().any(|p| p.0 == [0, 128, 0]));
    std::fs::remove_dir_all(&out).unwrap();
}
