use super::*;
use crate::deliverability::counters::FeedbackCounts;
use crate::domain::WarmupPlan;

fn plan(start_cap: u64, target: u64, ramp_days: u32) -> WarmupPlan {
    WarmupPlan {
        start_cap,
        target,
        ramp_days,
        engaged_first: true,
    }
}

fn ladder() -> Ladder {
    Ladder::new(plan(200, 50_000, 35)).unwrap()
}

fn day(n: u32) -> Day {
    day_after(
        time::macros::datetime!(2026-03-01 00:00 UTC).unix_timestamp(),
        i64::from(n),
    )
}

fn counts(sent: u64, hard: u64, complained: u64, delayed: u64) -> FeedbackCounts {
    FeedbackCounts {
        sent,
        delivered: sent - hard,
        hard_bounced: hard,
        complained,
        delayed,
        ..FeedbackCounts::default()
    }
}

fn healthy(sent: u64) -> FeedbackCounts {
    counts(sent, sent / 200, 0, 0)
}

fn step(state: Option<&WarmupState>, n: u32, yesterday: FeedbackCounts) -> WarmupState {
    decide(
        &ladder(),
        &WarmupThresholds::default(),
        state,
        &day(n),
        &yesterday,
    )
    .unwrap()
}

#[test]
fn a_plan_outside_the_bounds_is_refused_with_its_field() {
    assert_eq!(
        Ladder::new(plan(49, 10_000, 30)).unwrap_err().field,
        "start_cap"
    );
    assert_eq!(
        Ladder::new(plan(1_001, 10_000, 30)).unwrap_err().field,
        "start_cap"
    );
    assert_eq!(Ladder::new(plan(100, 99, 30)).unwrap_err().field, "target");
    assert_eq!(
        Ladder::new(plan(100, 20_000_000, 30)).unwrap_err().field,
        "target"
    );
    assert_eq!(
        Ladder::new(plan(100, 10_000, 27)).unwrap_err().field,
        "ramp_days"
    );
    assert_eq!(
        Ladder::new(plan(100, 10_000, 43)).unwrap_err().field,
        "ramp_days"
    );
    assert!(Ladder::new(plan(50, 50, 28)).is_ok());
    assert!(Ladder::new(plan(1_000, 10_000_000, 42)).is_ok());
}

#[test]
fn the_ladder_grows_geometrically_from_the_start_to_the_target_on_the_last_ramp_day() {
    for (start, target, days) in [(50, 100_000, 28), (1_000, 2_000_000, 42), (200, 50_000, 35)] {
        let ladder = Ladder::new(plan(start, target, days)).unwrap();
        assert_eq!(ladder.cap(0), start);
        assert_eq!(ladder.top(), days - 1);
        assert_eq!(ladder.cap(days - 1), target);
        assert_eq!(ladder.cap(days + 5), target);
        let caps: Vec<u64> = (0..days).map(|r| ladder.cap(r)).collect();
        assert!(
            caps.windows(2).all(|w| w[0] < w[1]),
            "strictly growing: {caps:?}"
        );
        let factor = ladder.growth_factor();
        for w in caps.windows(2).skip(3) {
            let ratio = w[1] as f64 / w[0] as f64;
            assert!((ratio - factor).abs() < 0.01, "{ratio} vs {factor}");
        }
    }
}

#[test]
fn the_default_thresholds_sit_below_every_review_level() {
    let t = WarmupThresholds::default();
    t.validate().unwrap();
    assert!(t.hold_bounce_rate < t.step_back_bounce_rate);
    assert!(t.step_back_bounce_rate < decision::SES_BOUNCE_REVIEW_RATE);
    assert!(t.step_back_complaint_rate < decision::SES_COMPLAINT_REVIEW_RATE);
    assert!(t.step_back_complaint_rate < decision::GMAIL_SPAM_RATE_GUIDELINE);
    let wrong = WarmupThresholds {
        step_back_bounce_rate: 0.06,
        ..t
    };
    assert!(
        wrong
            .validate()
            .unwrap_err()
            .contains("step_back_bounce_rate")
    );
}

#[test]
fn a_healthy_tenant_starts_then_climbs_a_rung_a_day_to_the_target() {
    let mut state = step(None, 0, FeedbackCounts::default());
    assert_eq!((state.rung, state.cap), (0, 200));
    assert_eq!(state.history[0].action, WarmupAction::Start);
    for n in 1..35 {
        let cap = state.cap;
        state = step(Some(&state), n, healthy(cap));
    }
    assert_eq!(state.cap, 50_000);
    assert_eq!(state.stage, WarmupStage::Complete);
    assert_eq!(state.history.last().unwrap().action, WarmupAction::Complete);
    let advances = state
        .history
        .iter()
        .filter(|d| d.action == WarmupAction::Advance)
        .count();
    assert_eq!(advances, 33);
    let next = step(Some(&state), 35, healthy(50_000));
    assert_eq!((next.cap, next.stage), (50_000, WarmupStage::Complete));
}

#[test]
fn a_day_already_decided_is_not_decided_again() {
    let state = step(None, 3, FeedbackCounts::default());
    let again = decide(
        &ladder(),
        &WarmupThresholds::default(),
        Some(&state),
        &day(3),
        &healthy(200),
    );
    assert_eq!(again, None);
}

#[test]
fn caution_levels_hold_the_rung_with_the_reason() {
    let start = step(None, 0, FeedbackCounts::default());
    let up = step(Some(&start), 1, healthy(200));
    for (yesterday, why) in [
        (counts(1_000, 25, 0, 0), "bounce rate 2.50% >= 2.00%"),
        (counts(10_000, 0, 6, 0), "complaint rate 0.06% >= 0.05%"),
        (counts(1_000, 0, 0, 60), "deferral rate 6.00% >= 5.00%"),
        (counts(20, 0, 0, 0), "20 sent, fewer than 50"),
    ] {
        let held = step(Some(&up), 2, yesterday);
        let decision = held.history.last().unwrap();
        assert_eq!(decision.action, WarmupAction::Hold, "{why}");
        assert_eq!((held.rung, held.cap), (up.rung, up.cap));
        assert!(decision.reason.contains(why), "{} / {why}", decision.reason);
    }
}

#[test]
fn near_a_review_level_the_ladder_steps_back_and_resumes_after_healthy_days() {
    let mut state = step(None, 0, FeedbackCounts::default());
    for n in 1..=10 {
        let cap = state.cap;
        state = step(Some(&state), n, healthy(cap));
    }
    assert_eq!(state.rung, 10);
    let back = step(Some(&state), 11, counts(5_000, 210, 0, 0));
    let decision = back.history.last().unwrap();
    assert_eq!(decision.action, WarmupAction::StepBack);
    assert!(
        decision.reason.contains("SES reviews at 5.00%"),
        "{}",
        decision.reason
    );
    assert_eq!((back.rung, back.stage), (7, WarmupStage::SteppedBack));
    let complaint = step(Some(&state), 11, counts(10_000, 0, 8, 0));
    assert_eq!(
        complaint.history.last().unwrap().action,
        WarmupAction::StepBack
    );

    let first_healthy = step(Some(&back), 12, healthy(back.cap));
    assert_eq!(
        first_healthy.history.last().unwrap().action,
        WarmupAction::Hold
    );
    assert_eq!(first_healthy.rung, 7);
    let resumed = step(Some(&first_healthy), 13, healthy(back.cap));
    assert_eq!(resumed.history.last().unwrap().action, WarmupAction::Resume);
    assert_eq!(resumed.rung, 8);
}

#[test]
fn a_step_back_at_the_bottom_stays_at_the_start_cap_and_history_is_bounded() {
    let mut state = step(None, 0, FeedbackCounts::default());
    for n in 1..100 {
        state = step(Some(&state), n, counts(200, 12, 0, 0));
    }
    assert_eq!((state.rung, state.cap), (0, 200));
    assert_eq!(state.history.len(), decision::MAX_HISTORY);
    assert_eq!(state.history.last().unwrap().day, day(99));
}

#[test]
fn days_and_the_cap_reset_are_utc() {
    let noon = time::macros::datetime!(2026-03-01 12:00 UTC).unix_timestamp();
    assert_eq!(day_after(noon, -1).0, "2026-02-28");
    assert_eq!(day_after(noon, 1).0, "2026-03-02");
    assert_eq!(
        next_day_start(noon),
        time::macros::datetime!(2026-03-02 00:00 UTC).unix_timestamp()
    );
    let midnight = time::macros::datetime!(2026-03-02 00:00 UTC).unix_timestamp();
    assert_eq!(next_day_start(midnight), midnight + SECONDS_PER_DAY);
}

#[test]
fn a_rate_resting_on_fewer_than_min_events_is_noise() {
    let start = step(None, 0, FeedbackCounts::default());
    // One complaint in 600 sends is 0.17 %: above every level, and no evidence of anything.
    let one = step(Some(&start), 1, counts(600, 1, 1, 2));
    assert_eq!(one.history.last().unwrap().action, WarmupAction::Advance);
    let three = step(Some(&start), 1, counts(600, 0, 3, 0));
    assert_eq!(three.history.last().unwrap().action, WarmupAction::StepBack);
}
