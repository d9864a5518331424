//! The daily decision: yesterday's feedback against the thresholds, the ladder climbed, held or
//! stepped down, with the reason kept.

use serde::{Deserialize, Serialize};

use super::plan::Ladder;
use crate::deliverability::counters::{Day, FeedbackCounts};

/// SES puts an account under review at a 5 % bounce rate (hard bounces) ...
pub const SES_BOUNCE_REVIEW_RATE: f64 = 0.05;
/// ... and at a 0.1 % complaint rate.
pub const SES_COMPLAINT_REVIEW_RATE: f64 = 0.001;
/// Gmail's sender guidelines: keep the spam rate below 0.1 % ...
pub const GMAIL_SPAM_RATE_GUIDELINE: f64 = 0.001;
/// ... and never reach 0.3 %.
pub const GMAIL_SPAM_RATE_LIMIT: f64 = 0.003;
/// Decisions kept in a tenant's history (the newest last).
pub const MAX_HISTORY: usize = 60;

/// When the ladder holds and when it steps back. Rates are fractions (0.02 is 2 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WarmupThresholds {
    /// Fewer sends than this yesterday and the rates are not judged: the ladder holds.
    pub min_volume: u64,
    /// A rate resting on fewer events than this (one complaint in 600 sends is 0.17 %) is
    /// noise and not judged.
    pub min_events: u64,
    /// Hold at or above these (caution levels) ...
    pub hold_bounce_rate: f64,
    pub hold_complaint_rate: f64,
    /// Delayed and soft-bounced messages per message sent: the receivers' "slow down".
    pub hold_deferral_rate: f64,
    /// ... step back at or above these (near the review levels).
    pub step_back_bounce_rate: f64,
    pub step_back_complaint_rate: f64,
    /// Rungs a step back goes down.
    pub step_back_rungs: u32,
    /// Healthy days after a step back before the ladder climbs again.
    pub resume_after_healthy_days: u32,
}

impl Default for WarmupThresholds {
    fn default() -> Self {
        Self {
            min_volume: 50,
            min_events: 3,
            hold_bounce_rate: 0.02,
            hold_complaint_rate: 0.0005,
            hold_deferral_rate: 0.05,
            step_back_bounce_rate: 0.04,
            step_back_complaint_rate: 0.0008,
            step_back_rungs: 3,
            resume_after_healthy_days: 2,
        }
    }
}

impl WarmupThresholds {
    /// Each level ordered below the next, and every one below the review levels.
    pub fn validate(&self) -> Result<(), String> {
        let ordered = [
            (
                "hold_bounce_rate",
                self.hold_bounce_rate,
                self.step_back_bounce_rate,
            ),
            (
                "step_back_bounce_rate",
                self.step_back_bounce_rate,
                SES_BOUNCE_REVIEW_RATE,
            ),
            (
                "hold_complaint_rate",
                self.hold_complaint_rate,
                self.step_back_complaint_rate,
            ),
            (
                "step_back_complaint_rate",
                self.step_back_complaint_rate,
                SES_COMPLAINT_REVIEW_RATE,
            ),
        ];
        for (name, value, above) in ordered {
            if !(value > 0.0 && value < above) {
                return Err(format!("{name} must be above 0 and below {above}"));
            }
        }
        if !(self.hold_deferral_rate > 0.0 && self.hold_deferral_rate < 1.0) {
            return Err("hold_deferral_rate must be above 0 and below 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WarmupStage {
    Ramping,
    Holding,
    SteppedBack,
    /// At the target: still watched, stepped back like any other day.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WarmupAction {
    Start,
    Advance,
    Hold,
    StepBack,
    Resume,
    Complete,
}

impl WarmupAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WarmupAction::Start => "start",
            WarmupAction::Advance => "advance",
            WarmupAction::Hold => "hold",
            WarmupAction::StepBack => "step_back",
            WarmupAction::Resume => "resume",
            WarmupAction::Complete => "complete",
        }
    }
}

/// One day's decision and what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmupDecision {
    /// The day the cap applies to.
    pub day: Day,
    pub action: WarmupAction,
    pub rung: u32,
    pub cap: u64,
    pub reason: String,
    /// Yesterday's figures (none on the first day).
    pub sent: u64,
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    pub deferral_rate: f64,
}

/// A tenant's warm-up as of its last decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmupState {
    pub rung: u32,
    /// The cap of `day`.
    pub cap: u64,
    pub day: Day,
    pub stage: WarmupStage,
    pub healthy_streak: u32,
    pub history: Vec<WarmupDecision>,
}

/// The rates a decision reads from one day's counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayRates {
    pub sent: u64,
    /// The events behind each rate.
    pub bounces: u64,
    pub complaints: u64,
    pub deferrals: u64,
    /// Hard bounces: what SES's review level counts.
    pub bounce: f64,
    pub complaint: f64,
    /// Delayed and soft-bounced per message sent.
    pub deferral: f64,
}

impl DayRates {
    pub fn of(counts: &FeedbackCounts) -> Self {
        let deferred = counts.delayed + counts.soft_bounced;
        Self {
            sent: counts.sent,
            bounces: counts.hard_bounced,
            complaints: counts.complained,
            deferrals: deferred,
            bounce: counts.hard_bounce_rate(),
            complaint: counts.complaint_rate(),
            deferral: if counts.sent == 0 {
                0.0
            } else {
                deferred as f64 / counts.sent as f64
            },
        }
    }
}

enum Health {
    TooLittle,
    StepBack(String),
    Hold(String),
    Healthy,
}

fn pct(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn judge(t: &WarmupThresholds, rates: &DayRates) -> Health {
    if rates.sent < t.min_volume {
        return Health::TooLittle;
    }
    let counted = |events: u64, rate: f64| if events >= t.min_events { rate } else { 0.0 };
    let r = &DayRates {
        bounce: counted(rates.bounces, rates.bounce),
        complaint: counted(rates.complaints, rates.complaint),
        deferral: counted(rates.deferrals, rates.deferral),
        ..*rates
    };
    if r.bounce >= t.step_back_bounce_rate {
        return Health::StepBack(format!(
            "bounce rate {} >= {} (SES reviews at {})",
            pct(r.bounce),
            pct(t.step_back_bounce_rate),
            pct(SES_BOUNCE_REVIEW_RATE)
        ));
    }
    if r.complaint >= t.step_back_complaint_rate {
        return Health::StepBack(format!(
            "complaint rate {} >= {} (SES reviews at {}, Gmail's limit {})",
            pct(r.complaint),
            pct(t.step_back_complaint_rate),
            pct(SES_COMPLAINT_REVIEW_RATE),
            pct(GMAIL_SPAM_RATE_GUIDELINE)
        ));
    }
    if r.bounce >= t.hold_bounce_rate {
        return Health::Hold(format!(
            "bounce rate {} >= {}",
            pct(r.bounce),
            pct(t.hold_bounce_rate)
        ));
    }
    if r.complaint >= t.hold_complaint_rate {
        return Health::Hold(format!(
            "complaint rate {} >= {}",
            pct(r.complaint),
            pct(t.hold_complaint_rate)
        ));
    }
    if r.deferral >= t.hold_deferral_rate {
        return Health::Hold(format!(
            "deferral rate {} >= {}",
            pct(r.deferral),
            pct(t.hold_deferral_rate)
        ));
    }
    Health::Healthy
}

/// Today's state from the last one and yesterday's counts; `None` when `today` was already
/// decided (a second run of the day changes nothing).
pub fn decide(
    ladder: &Ladder,
    thresholds: &WarmupThresholds,
    last: Option<&WarmupState>,
    today: &Day,
    yesterday: &FeedbackCounts,
) -> Option<WarmupState> {
    let rates = DayRates::of(yesterday);
    let Some(last) = last else {
        let cap = ladder.cap(0);
        return Some(with_decision(
            None,
            today,
            (WarmupAction::Start, 0, WarmupStage::Ramping, 0),
            format!(
                "warm-up starts at {cap} a day, {} a day by day {}",
                ladder.plan().target,
                ladder.plan().ramp_days
            ),
            ladder,
            &rates,
        ));
    };
    if &last.day >= today {
        return None;
    }
    let rung = last.rung.min(ladder.top());
    let (step, reason) = match judge(thresholds, &rates) {
        Health::TooLittle => (
            (
                WarmupAction::Hold,
                rung,
                hold_stage(last.stage),
                last.healthy_streak,
            ),
            format!(
                "{} sent, fewer than {}: too little to judge",
                rates.sent, thresholds.min_volume
            ),
        ),
        Health::StepBack(why) => {
            let down = rung.saturating_sub(thresholds.step_back_rungs);
            (
                (WarmupAction::StepBack, down, WarmupStage::SteppedBack, 0),
                format!("{why}: back to rung {down}"),
            )
        }
        Health::Hold(why) => (
            (WarmupAction::Hold, rung, hold_stage(last.stage), 0),
            format!("{why}: holding"),
        ),
        Health::Healthy => healthy(ladder, thresholds, last, rung),
    };
    Some(with_decision(
        Some(last),
        today,
        step,
        reason,
        ladder,
        &rates,
    ))
}

/// A stepped-back or completed tenant keeps its stage through a hold.
fn hold_stage(stage: WarmupStage) -> WarmupStage {
    match stage {
        WarmupStage::SteppedBack | WarmupStage::Complete => stage,
        WarmupStage::Ramping | WarmupStage::Holding => WarmupStage::Holding,
    }
}

type Step = (WarmupAction, u32, WarmupStage, u32);

fn healthy(ladder: &Ladder, t: &WarmupThresholds, last: &WarmupState, rung: u32) -> (Step, String) {
    let streak = last.healthy_streak + 1;
    if last.stage == WarmupStage::SteppedBack && streak < t.resume_after_healthy_days {
        return (
            (WarmupAction::Hold, rung, WarmupStage::SteppedBack, streak),
            format!(
                "healthy {streak} of {} days before resuming",
                t.resume_after_healthy_days
            ),
        );
    }
    if rung >= ladder.top() {
        return (
            (
                WarmupAction::Complete,
                ladder.top(),
                WarmupStage::Complete,
                streak,
            ),
            "healthy at the target".into(),
        );
    }
    let next = rung + 1;
    let stage = if next >= ladder.top() {
        WarmupStage::Complete
    } else {
        WarmupStage::Ramping
    };
    let action = match (last.stage, stage) {
        (_, WarmupStage::Complete) => WarmupAction::Complete,
        (WarmupStage::Holding | WarmupStage::SteppedBack, _) => WarmupAction::Resume,
        _ => WarmupAction::Advance,
    };
    (
        (action, next, stage, streak),
        format!("healthy: up to rung {next}"),
    )
}

fn with_decision(
    last: Option<&WarmupState>,
    today: &Day,
    (action, rung, stage, healthy_streak): Step,
    reason: String,
    ladder: &Ladder,
    rates: &DayRates,
) -> WarmupState {
    let cap = ladder.cap(rung);
    let mut history = last.map(|l| l.history.clone()).unwrap_or_default();
    history.push(WarmupDecision {
        day: today.clone(),
        action,
        rung,
        cap,
        reason,
        sent: rates.sent,
        bounce_rate: rates.bounce,
        complaint_rate: rates.complaint,
        deferral_rate: rates.deferral,
    });
    if history.len() > MAX_HISTORY {
        history.drain(..history.len() - MAX_HISTORY);
    }
    WarmupState {
        rung,
        cap,
        day: today.clone(),
        stage,
        healthy_streak,
        history,
    }
}
