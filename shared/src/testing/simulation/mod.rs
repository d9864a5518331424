//! A deterministic, seeded simulation of the delivery pipeline as AWS runs it, in virtual time
//! (tokio's paused clock): the real launch worker, rebatch and deliver code on the in-memory
//! adapters, under a model of Lambda's event source mappings (shards, `ParallelizationFactor`,
//! `BatchSize`, immediate retries, bisect on error, `MaximumRetryAttempts`, an on-failure
//! destination keeping the records, function timeouts), the launch queue (visibility timeout,
//! the worker's ChangeMessageVisibility, `maxReceiveCount`), SES (latency, a maximum send rate,
//! throttling) and the faults of docs/architecture.md, "The fault model", with campaigns paused
//! and tenants suspended mid-campaign and their parked batches redriven. It ends by reconciling
//! every message of the campaign against what SES accepted.

mod audience;
mod invocation;
mod kinesis;
mod launch;
mod launch_queue;
mod ledger;
mod reconcile;
mod ses;
mod setbacks;
mod stores;

pub use invocation::{Fault, FaultAction, FaultPoint};
pub use kinesis::MappingSettings;
pub use launch_queue::LaunchSettings;
pub use ledger::{Ledger, SimReport};

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use crate::clock::Clock;

/// Virtual time: the simulation's start plus tokio's (paused, auto-advancing) clock.
pub struct VirtualClock {
    origin: OffsetDateTime,
    started: tokio::time::Instant,
}

impl VirtualClock {
    pub fn new(origin: OffsetDateTime) -> Self {
        Self {
            origin,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> OffsetDateTime {
        self.origin + self.started.elapsed()
    }
}

/// How often faults strike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// The chance that an invocation is dealt one fault somewhere inside it.
    pub per_invocation: f64,
    /// Outage windows: DynamoDB unavailable, the archive unavailable, an SES throttling storm.
    pub windows: bool,
}

impl FaultRates {
    pub const NONE: FaultRates = FaultRates {
        per_invocation: 0.0,
        windows: false,
    };
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub tenants: usize,
    pub recipients_per_tenant: u64,
    pub ses_rate_per_second: f64,
    pub ses_latency: (Duration, Duration),
    pub campaign_events: MappingSettings,
    pub send_batches: MappingSettings,
    pub send_concurrency: usize,
    pub launch: launch_queue::LaunchSettings,
    /// The first tenant's campaign size, when it differs from the others' (a noisy neighbour).
    pub first_tenant_recipients: Option<u64>,
    /// The other tenants launch this long after the first.
    pub others_launch_after: Duration,
    /// The send budget every delivery shares, as deployed; off, SES's throttling alone paces.
    pub send_budget: bool,
    pub faults: FaultRates,
    /// Campaigns paused and resumed, tenants suspended and reinstated mid-campaign, at times
    /// drawn from the seed (`setbacks`): delivery parks, and redrive jobs put the batches back.
    pub setbacks: bool,
    /// The simulation gives up (and reports it) if the pipeline has not settled by then.
    pub max_virtual_time: Duration,
}

impl SimConfig {
    /// The stack as template.yaml declares it (checked against the template by the tests).
    pub fn as_deployed(seed: u64) -> Self {
        Self {
            seed,
            tenants: 3,
            recipients_per_tenant: 200,
            ses_rate_per_second: 500.0,
            ses_latency: (Duration::from_millis(20), Duration::from_millis(120)),
            campaign_events: MappingSettings {
                shards: 8,
                batch_size: 1000,
                parallelization: 1,
                max_retries: 10,
                bisect: true,
                function_timeout: Duration::from_secs(60),
            },
            send_batches: MappingSettings {
                shards: 8,
                batch_size: 10,
                parallelization: 4,
                max_retries: 10,
                bisect: true,
                function_timeout: Duration::from_secs(120),
            },
            send_concurrency: 16,
            launch: launch_queue::LaunchSettings {
                chunk_bytes: 64 * 1024 * 1024,
                concurrency: 20,
                visibility_timeout: Duration::from_secs(1800),
                max_receives: 5,
                function_timeout: Duration::from_secs(300),
            },
            first_tenant_recipients: None,
            others_launch_after: Duration::ZERO,
            send_budget: true,
            faults: FaultRates::NONE,
            setbacks: false,
            max_virtual_time: Duration::from_secs(6 * 3600),
        }
    }

    /// The campaign size of tenant `index`.
    pub fn recipients_of(&self, index: usize) -> u64 {
        match (index, self.first_tenant_recipients) {
            (0, Some(first)) => first,
            _ => self.recipients_per_tenant,
        }
    }
}

/// The faults of one run: drawn from its seed.
pub struct Faults {
    rng: Mutex<StdRng>,
    rates: FaultRates,
    dynamodb: Option<Range<OffsetDateTime>>,
    archive: Option<Range<OffsetDateTime>>,
    ses_storm: Option<Range<OffsetDateTime>>,
    dealt: Mutex<BTreeMap<String, u64>>,
}

impl Faults {
    pub fn new(seed: u64, rates: FaultRates, start: OffsetDateTime) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // Early in the run, while the launch and the first sends are under way.
        let mut window = |longest: u64| {
            let from = start + Duration::from_millis(rng.random_range(500..15_000));
            from..from + Duration::from_secs(rng.random_range(2..=longest))
        };
        let (dynamodb, archive, ses_storm) = match rates.windows {
            true => (Some(window(90)), Some(window(20)), Some(window(120))),
            false => (None, None, None),
        };
        Self {
            rng: Mutex::new(rng),
            rates,
            dynamodb,
            archive,
            ses_storm,
            dealt: Mutex::default(),
        }
    }

    pub fn rng<T>(&self, draw: impl FnOnce(&mut StdRng) -> T) -> T {
        draw(&mut self.rng.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn within(window: &Option<Range<OffsetDateTime>>, now: OffsetDateTime) -> bool {
        window.as_ref().is_some_and(|w| w.contains(&now))
    }

    pub fn dynamodb_down(&self, now: OffsetDateTime) -> bool {
        Self::within(&self.dynamodb, now)
    }

    pub fn archive_down(&self, now: OffsetDateTime) -> bool {
        Self::within(&self.archive, now)
    }

    pub fn ses_storm(&self, now: OffsetDateTime) -> bool {
        Self::within(&self.ses_storm, now)
    }

    /// The fault (if any) an invocation of `function` is dealt.
    pub fn draw(&self, function: &str) -> Option<Fault> {
        use FaultAction::*;
        use FaultPoint::*;
        let fault = self.rng(|rng| {
            if !rng.random_bool(self.rates.per_invocation) {
                return None;
            }
            let at = rng.random_range(1..=40);
            let (point, action) = match function {
                "deliver" => match rng.random_range(0..8) {
                    0 => (BeforeClaim, Crash),
                    1 => (AfterClaim, Crash),
                    2 | 3 => (AfterSend, Crash),
                    4 => (LostAnswer, LoseAnswer),
                    5 => (OutcomeWrite, Crash),
                    6 => (OutcomeWrite, Fail(rng.random_range(1..=12))),
                    _ => (OutcomeWrite, Hang),
                },
                _ => (AfterPut, Crash),
            };
            let at = if point == OutcomeWrite { 1 } else { at };
            Some(Fault { point, at, action })
        })?;
        let name = format!("{function}: {:?} {:?}", fault.point, fault.action);
        *self
            .dealt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default() += 1;
        Some(fault)
    }

    pub fn dealt(&self) -> BTreeMap<String, u64> {
        self.dealt.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sleeps (in virtual time) until every outage window has ended.
    pub async fn wait_for_windows_to_end(&self, clock: &dyn Clock) {
        let ends = [&self.dynamodb, &self.archive, &self.ses_storm]
            .into_iter()
            .filter_map(|w| w.as_ref().map(|w| w.end))
            .max();
        if let Some(end) = ends {
            let left = end - clock.now();
            if left.is_positive() {
                tokio::time::sleep(left.unsigned_abs()).await;
            }
        }
    }

    pub fn windows(&self) -> Vec<String> {
        [
            ("DynamoDB unavailable", &self.dynamodb),
            ("archive unavailable", &self.archive),
            ("SES throttling storm", &self.ses_storm),
        ]
        .into_iter()
        .filter_map(|(name, window)| {
            let window = window.as_ref()?;
            Some(format!(
                "{name} for {} s",
                (window.end - window.start).whole_seconds()
            ))
        })
        .collect()
    }
}

/// Runs one simulation to the end (inside a runtime with a paused clock) and reconciles it.
pub async fn run(config: SimConfig) -> SimReport {
    crate::random::reseed_this_thread(config.seed);
    let world = launch::SimWorld::build(&config).await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = world.start(stop.clone()).await;
    let mut settled = running.wait_until_settled(&world, &config).await;
    // What the mappings gave up on is kept whole; once the outages are over, the operator
    // replays it (`storecast-dev replay-failures`) and the pipeline settles again.
    world
        .faults
        .wait_for_windows_to_end(world.clock.as_ref())
        .await;
    let replayed = world.replay_given_up().await;
    if replayed > 0 {
        settled = running.wait_until_settled(&world, &config).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut report = world.reconcile(&config, settled).await;
    report.replayed = replayed;
    report
}
