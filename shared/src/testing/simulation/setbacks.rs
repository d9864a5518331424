//! Setbacks mid-campaign, drawn from the seed: a campaign paused and resumed (sometimes paused
//! again just after the resume), a tenant suspended and reinstated, or both overlapping (the
//! campaign resumed while its tenant is still suspended). An operator carries them out through
//! the real lifecycle (`Campaigns::pause`, `resume`) and onboarding (`Onboarding::suspend`,
//! `reinstate`), retrying what fails as an API client would; delivery parks, and the redrive
//! jobs those resumes and reinstates start put the parked batches back, their first slice in the
//! call and the rest on the scheduler's tick.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::VirtualClock;
use crate::campaigns::Campaigns;
use crate::clock::Clock;
use crate::domain::{CampaignId, TenantId};
use crate::onboarding::Onboarding;
use crate::pipeline::redrive::SliceBudget;

/// Setbacks are drawn from their own generator (the seed with this salt), so they do not shift
/// the faults the seed deals.
const SETBACK_SALT: u64 = 0x5e7b_ac45;
/// A failed operator action (an outage, a concurrent change) is tried again after this, up to
/// [`ACTION_ATTEMPTS`] times.
const ACTION_RETRY: Duration = Duration::from_secs(5);
const ACTION_ATTEMPTS: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Pause,
    Resume,
    Suspend,
    Reinstate,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pause => "campaign paused",
            Action::Resume => "campaign resumed",
            Action::Suspend => "tenant suspended",
            Action::Reinstate => "tenant reinstated",
        }
    }
}

/// One action on one tenant (by index), `at` after the launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Setback {
    pub(super) at: Duration,
    pub(super) tenant: usize,
    pub(super) action: Action,
}

/// What a resume or reinstate redrives itself: in even seeds the lifecycle's own first slice,
/// in odd ones nothing (the job is only recorded), so the scheduler's tick puts everything back.
pub(super) fn first_slice(seed: u64) -> SliceBudget {
    match seed % 2 {
        0 => crate::pipeline::redrive::worker::START_SLICE,
        _ => SliceBudget {
            pages: 0,
            time: Duration::ZERO,
        },
    }
}

fn millis(rng: &mut StdRng, range: std::ops::Range<u64>) -> Duration {
    Duration::from_millis(rng.random_range(range))
}

/// The run's setbacks, in time order: for each tenant none, a pause, a suspension, or both
/// overlapping, early enough to catch the campaign's batches on their way (a small campaign is
/// delivered within seconds of its launch).
pub(super) fn plan(seed: u64, tenants: usize) -> Vec<Setback> {
    use Action::*;
    let mut rng = StdRng::seed_from_u64(seed ^ SETBACK_SALT);
    let mut plan = Vec::new();
    for tenant in 0..tenants {
        let mut at = millis(&mut rng, 0..3_000);
        let mut step = |plan: &mut Vec<Setback>, action, after: Duration| {
            at += after;
            plan.push(Setback { at, tenant, action });
        };
        let hold = |rng: &mut StdRng| millis(rng, 10_000..120_000);
        match rng.random_range(0..5) {
            0 => {}
            1 => {
                step(&mut plan, Pause, Duration::ZERO);
                step(&mut plan, Resume, hold(&mut rng));
                if rng.random_bool(0.5) {
                    // Paused again while the resume's redrive job is under way.
                    step(&mut plan, Pause, millis(&mut rng, 0..4_000));
                    step(&mut plan, Resume, hold(&mut rng));
                }
            }
            2 => {
                step(&mut plan, Suspend, Duration::ZERO);
                step(&mut plan, Reinstate, hold(&mut rng));
            }
            3 => {
                // Resumed while the tenant is still suspended: that redrive's batches are parked
                // again as it goes, until the reinstate puts them all back.
                step(&mut plan, Pause, Duration::ZERO);
                step(&mut plan, Suspend, millis(&mut rng, 0..2_000));
                step(&mut plan, Resume, hold(&mut rng));
                step(&mut plan, Reinstate, millis(&mut rng, 0..10_000));
            }
            _ => {
                // Reinstated while the campaign is still paused: the same, the other way round.
                step(&mut plan, Suspend, Duration::ZERO);
                step(&mut plan, Pause, millis(&mut rng, 0..2_000));
                step(&mut plan, Reinstate, hold(&mut rng));
                step(&mut plan, Resume, millis(&mut rng, 0..10_000));
            }
        }
    }
    plan.sort_by_key(|setback| setback.at);
    plan
}

fn chain(error: impl std::error::Error + 'static) -> String {
    crate::error::chain(&error)
}

/// Carries out the plan through the lifecycle and onboarding, then says it is done.
pub(super) struct Operator {
    pub(super) campaigns: Arc<Campaigns>,
    pub(super) onboarding: Arc<Onboarding>,
    pub(super) tenants: Vec<(TenantId, CampaignId)>,
    pub(super) clock: Arc<VirtualClock>,
    pub(super) done: Arc<AtomicBool>,
    /// Actions carried out (and given up on), by name.
    pub(super) performed: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Operator {
    pub(super) async fn run(self, plan: Vec<Setback>, launched_at: time::OffsetDateTime) {
        for setback in plan {
            let left = launched_at + setback.at - self.clock.now();
            if left.is_positive() {
                tokio::time::sleep(left.unsigned_abs()).await;
            }
            let outcome = match self.carry_out(setback).await {
                true => setback.action.name().to_string(),
                false => format!("{} (given up)", setback.action.name()),
            };
            *self
                .performed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(outcome)
                .or_default() += 1;
        }
        self.done.store(true, Ordering::SeqCst);
    }

    async fn carry_out(&self, setback: Setback) -> bool {
        let (tenant, campaign) = &self.tenants[setback.tenant];
        for _ in 0..ACTION_ATTEMPTS {
            let result = match setback.action {
                Action::Pause => self
                    .campaigns
                    .pause(tenant, campaign)
                    .await
                    .map(drop)
                    .map_err(chain),
                Action::Resume => self
                    .campaigns
                    .resume(tenant, campaign)
                    .await
                    .map(drop)
                    .map_err(chain),
                Action::Suspend => self
                    .onboarding
                    .suspend(tenant)
                    .await
                    .map(drop)
                    .map_err(chain),
                Action::Reinstate => self
                    .onboarding
                    .reinstate(tenant)
                    .await
                    .map(drop)
                    .map_err(chain),
            };
            match result {
                Ok(()) => return true,
                Err(error) => {
                    tracing::debug!(error, ?setback, "operator action failed; trying again");
                    tokio::time::sleep(ACTION_RETRY).await;
                }
            }
        }
        false
    }
}
