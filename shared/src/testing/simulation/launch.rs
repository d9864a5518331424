//! The simulated stack: the real services on the in-memory adapters behind the fault model, the
//! launch workers on the queue (`launch_queue.rs`), the scheduler's minute tick, and the wait
//! until the pipeline has settled.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use time::OffsetDateTime;

use super::kinesis::{Handler, Handlers, LaneProgress, Mapping, OnFailure, SimStream};
use super::launch_queue::{LaunchQueue, LaunchSettings, LaunchWorker};
use super::ses::SimSes;
use super::setbacks::{Operator, Setback};
use super::stores::FaultyStores;
use super::{Faults, Ledger, SimConfig, VirtualClock, audience};
use crate::campaigns::{
    AssumeAvailable, CampaignEngine, CampaignPorts, Campaigns, CampaignsConfig, ChunkMessage,
    NewCampaign, SCHEDULER_MINUTE,
};
use crate::clock::Clock;
use crate::deliverability::budget::{
    AccountRate, BudgetAnnouncer, BudgetCounts, BudgetSettings, ChannelAnnouncers, SendBudgets,
};
use crate::domain::{CampaignId, Channel, CustomerId, MessageId, TenantId};
use crate::onboarding::{Onboarding, OnboardingConfig, SendingWorkspaces, WorkspaceSpec};
use crate::pipeline::deliver::{Deliverer, DelivererPorts, DeliveryConfig};
use crate::pipeline::parked::CountedArchive;
use crate::pipeline::rebatch::Rebatcher;
use crate::testing::samples::{SAMPLE_TEMPLATE_ID, seed_retailer};
use crate::testing::{
    MemoryArchive, MemoryCampaignStore, MemoryChunkQueue, MemoryContactHistory, MemoryDirectory,
    MemorySendLog, MemorySendingWorkspaces,
};

pub const SENDING_DOMAIN: &str = "mail.storecast.example";
const START: OffsetDateTime = time::macros::datetime!(2026-12-01 09:00 UTC);
/// The scheduler function runs every minute.
const SCHEDULER_TICK: Duration = Duration::from_secs(60);
/// The simulated stores' latency draws come from the seed with this salt.
const LATENCY_SALT: u64 = 0x1a7e_0c75;

pub(super) struct SimWorld {
    pub(super) clock: Arc<VirtualClock>,
    pub(super) faults: Arc<Faults>,
    pub(super) ledger: Arc<Ledger>,
    pub(super) stores: Arc<FaultyStores>,
    pub(super) campaigns: Arc<Campaigns>,
    queue: Arc<MemoryChunkQueue>,
    pub(super) events: Arc<SimStream>,
    pub(super) batches: Arc<SimStream>,
    pub(super) rebatch: Arc<Mapping>,
    pub(super) deliver: Arc<Mapping>,
    pub(super) tenants: Vec<(TenantId, CampaignId)>,
    pub(super) launch_dead_letters: Arc<Mutex<Vec<ChunkMessage>>>,
    pub(super) launched_at: OffsetDateTime,
    /// When each tenant's campaign was launched.
    pub(super) launches: Arc<Mutex<HashMap<TenantId, OffsetDateTime>>>,
    /// Each deliver container's send budgets (its own view of the shared state).
    pub(super) budgets: Arc<Mutex<Vec<Arc<SendBudgets>>>>,
    others_launch_after: Duration,
    launch_settings: LaunchSettings,
    /// Suspends and reinstates tenants, on their simulated SES workspaces.
    onboarding: Arc<Onboarding>,
    /// The pauses and suspensions of this run, and whether the operator has carried them out.
    setbacks: Vec<Setback>,
    pub(super) setbacks_done: Arc<AtomicBool>,
    pub(super) setbacks_performed: Arc<Mutex<BTreeMap<String, u64>>>,
    /// Batches the scheduler's ticks redrove (the rest went back in the resumes' own slices).
    pub(super) tick_redriven: AtomicU64,
}

pub(super) struct Running {
    rebatch_lanes: Vec<(usize, usize, Arc<LaneProgress>)>,
    deliver_lanes: Vec<(usize, usize, Arc<LaneProgress>)>,
    launch: Arc<LaunchQueue>,
}

fn tenant_name(index: usize) -> String {
    format!("retailer-{index:02}")
}

/// The directory with every tenant's workspace, and each tenant with its campaign.
async fn seeded_tenants(config: &SimConfig) -> (Arc<MemoryDirectory>, Vec<(TenantId, CampaignId)>) {
    let directory = Arc::new(MemoryDirectory::default());
    let tenants: Vec<(TenantId, CampaignId)> = (0..config.tenants)
        .map(|i| {
            (
                TenantId::parse(tenant_name(i)).expect("valid"),
                CampaignId::parse("winter").expect("valid"),
            )
        })
        .collect();
    for (tenant, _) in &tenants {
        seed_retailer(
            directory.as_ref(),
            tenant.as_str(),
            "seeded",
            SENDING_DOMAIN,
        )
        .await
        .expect("in-memory seeding");
    }
    (directory, tenants)
}

/// Every message the campaigns must reach: one per customer of each tenant's export.
pub(super) fn expected_messages(
    config: &SimConfig,
    tenants: &[(TenantId, CampaignId)],
) -> HashMap<String, (TenantId, CampaignId)> {
    let mut expected = HashMap::new();
    for (index, (tenant, campaign)) in tenants.iter().enumerate() {
        for i in 0..config.recipients_of(index) {
            let customer = CustomerId::parse(audience::customer_id(i)).expect("valid id");
            let id = MessageId::derive(tenant, campaign, &customer, Channel::Email);
            expected.insert(id.to_string(), (tenant.clone(), campaign.clone()));
        }
    }
    expected
}

impl SimWorld {
    pub(super) async fn build(config: &SimConfig) -> Self {
        let clock = Arc::new(VirtualClock::new(START));
        let faults = Arc::new(Faults::new(config.seed, config.faults, START));
        let (directory, tenants) = seeded_tenants(config).await;
        let send_log = Arc::new(MemorySendLog::default());
        let archive = Arc::new(MemoryArchive::default());
        let ledger = Arc::new(Ledger::new(
            send_log.clone(),
            archive.clone(),
            expected_messages(config, &tenants),
        ));
        let stores = Arc::new(FaultyStores {
            send_log: send_log.clone(),
            directory: directory.clone(),
            archive,
            parked: Arc::default(),
            budget: Arc::default(),
            jobs: Arc::default(),
            faults: faults.clone(),
            clock: clock.clone(),
            latency: Mutex::new(rand::SeedableRng::seed_from_u64(config.seed ^ LATENCY_SALT)),
        });
        let events = Arc::new(SimStream::new(
            config.campaign_events.shards,
            config.campaign_events.parallelization,
            clock.clone(),
        ));
        let batches = Arc::new(SimStream::new(
            config.send_batches.shards,
            config.send_batches.parallelization,
            clock.clone(),
        ));
        let queue = Arc::new(MemoryChunkQueue::default());
        let campaigns = Arc::new(Self::campaigns(
            config, &clock, &directory, &stores, &events, &batches, &queue,
        ));
        let rebatch = Arc::new(Mapping {
            name: "rebatch",
            stream: events.clone(),
            settings: config.campaign_events,
            handlers: rebatch_handlers(Self::rebatcher(config, &clock, &stores, &batches)),
            on_failure: Arc::new(OnFailure::default()),
        });
        let budgets = Arc::new(Mutex::new(Vec::new()));
        let deliver = Self::deliver_mapping(
            config, &clock, &faults, &ledger, &stores, &batches, &budgets,
        );
        let onboarding = Arc::new(Self::onboarding(&tenants, &directory, &campaigns).await);
        let setbacks = match config.setbacks {
            true => super::setbacks::plan(config.seed, tenants.len()),
            false => Vec::new(),
        };
        Self {
            launched_at: clock.now(),
            clock,
            faults,
            ledger,
            stores,
            campaigns,
            queue,
            events,
            batches,
            rebatch,
            deliver,
            tenants,
            launch_dead_letters: Arc::default(),
            launches: Arc::default(),
            budgets,
            others_launch_after: config.others_launch_after,
            launch_settings: config.launch,
            onboarding,
            setbacks_done: Arc::new(AtomicBool::new(setbacks.is_empty())),
            setbacks,
            setbacks_performed: Arc::default(),
            tick_redriven: AtomicU64::new(0),
        }
    }

    /// What every deliver container's send budget did, added up.
    pub(super) fn budget_counts(&self) -> BudgetCounts {
        lock(&self.budgets)
            .iter()
            .map(|b| b.counts())
            .fold(BudgetCounts::default(), |total, c| BudgetCounts {
                takes: total.takes + c.takes,
                reads: total.reads + c.reads,
                writes: total.writes + c.writes,
                refused_writes: total.refused_writes + c.refused_writes,
                later: total.later + c.later,
            })
    }

    /// Onboarding on the tenants' simulated SES workspaces, redriving through the lifecycle's
    /// redrive jobs (the same archive, stream and jobs).
    async fn onboarding(
        tenants: &[(TenantId, CampaignId)],
        directory: &Arc<MemoryDirectory>,
        campaigns: &Campaigns,
    ) -> Onboarding {
        let workspaces = Arc::new(MemorySendingWorkspaces::new("storecast", SENDING_DOMAIN));
        for (tenant, _) in tenants {
            let spec = WorkspaceSpec {
                tenant_id: tenant.clone(),
                slug: tenant.to_string(),
                sending_pool: None,
            };
            workspaces
                .provision(&spec)
                .await
                .expect("in-memory workspace");
        }
        let config = OnboardingConfig {
            sending_domain: SENDING_DOMAIN.into(),
            unsubscribe_base_url: format!("https://prefs.{SENDING_DOMAIN}/{{tenant}}/unsubscribe"),
        };
        Onboarding::new(workspaces, directory.clone(), config)
            .with_redrive(campaigns.redrive_worker())
    }

    /// The rebatcher as deployed: with the budget, it counts the tenants of the batches it
    /// writes in the shares (the sim has no push budget: those go to a store of their own).
    fn rebatcher(
        config: &SimConfig,
        clock: &Arc<VirtualClock>,
        stores: &Arc<FaultyStores>,
        batches: &Arc<SimStream>,
    ) -> Rebatcher {
        let rebatcher = Rebatcher::new(batches.clone(), stores.clone());
        if !config.send_budget {
            return rebatcher;
        }
        let clock: Arc<dyn Clock> = clock.clone();
        rebatcher.with_budget_announcers(ChannelAnnouncers {
            email: Arc::new(BudgetAnnouncer::new(stores.clone(), clock.clone())),
            push: Arc::new(BudgetAnnouncer::new(
                Arc::new(crate::testing::MemoryBudgetStore::default()),
                clock,
            )),
        })
    }

    /// The deliver function on the send-batches stream, sending through the simulated SES;
    /// each lane's container has its own deliverer, with its own view of the send budget.
    fn deliver_mapping(
        config: &SimConfig,
        clock: &Arc<VirtualClock>,
        faults: &Arc<Faults>,
        ledger: &Arc<Ledger>,
        stores: &Arc<FaultyStores>,
        batches: &Arc<SimStream>,
        budgets: &Arc<Mutex<Vec<Arc<SendBudgets>>>>,
    ) -> Arc<Mapping> {
        let provider = Arc::new(SimSes::new(
            config.ses_rate_per_second,
            config.ses_latency,
            clock.clone(),
            faults.clone(),
            ledger.clone(),
        ));
        let mut delivery = DeliveryConfig::new(SENDING_DOMAIN);
        delivery.send_concurrency = config.send_concurrency;
        let (clock, stores, budgets) = (clock.clone(), stores.clone(), budgets.clone());
        let with_budget = config.send_budget;
        let handlers: Handlers = Arc::new(move || {
            let deliverer = Deliverer::new(
                DelivererPorts {
                    directory: stores.clone(),
                    templates: stores.clone(),
                    send_log: stores.clone(),
                    provider: provider.clone(),
                    archive: Arc::new(CountedArchive::new(stores.clone(), stores.clone())),
                    clock: clock.clone(),
                    unsubscribe: crate::testing::unsubscribe_signer(),
                },
                delivery.clone(),
            );
            let deliverer = match with_budget {
                true => {
                    let settings = BudgetSettings {
                        fallback_max_send_rate: provider.rate_per_second,
                        ..BudgetSettings::default()
                    };
                    let account = AccountRate::new(provider.clone(), settings, clock.clone());
                    let budget = Arc::new(SendBudgets::new(stores.clone(), account, clock.clone()));
                    lock(&budgets).push(budget.clone());
                    deliverer.with_send_budgets(budget)
                }
                false => deliverer,
            };
            deliver_handler(deliverer)
        });
        Arc::new(Mapping {
            name: "deliver",
            stream: batches.clone(),
            settings: config.send_batches,
            handlers,
            on_failure: Arc::new(OnFailure::default()),
        })
    }

    fn campaigns(
        config: &SimConfig,
        clock: &Arc<VirtualClock>,
        directory: &Arc<MemoryDirectory>,
        stores: &Arc<FaultyStores>,
        events: &Arc<SimStream>,
        batches: &Arc<SimStream>,
        queue: &Arc<MemoryChunkQueue>,
    ) -> Campaigns {
        let engine = CampaignEngine {
            source: Arc::new(audience::GeneratedAudience {
                rows: (0..config.tenants)
                    .map(|i| (tenant_name(i), config.recipients_of(i)))
                    .collect(),
            }),
            suppression: directory.clone(),
            contacts: Arc::new(MemoryContactHistory::default()),
            availability: Arc::new(AssumeAvailable),
            events: events.clone(),
            retry: crate::campaigns::LAUNCH_PUBLISH_RETRY,
        };
        Campaigns::new(
            CampaignPorts {
                store: Arc::new(MemoryCampaignStore::syncing_status_to(directory.clone())),
                queue: queue.clone(),
                directory: directory.clone(),
                templates: directory.clone(),
                admin: directory.clone(),
                archive: Arc::new(CountedArchive::new(stores.clone(), stores.clone())),
                parked: stores.clone(),
                send_batches: batches.clone(),
                redrive_jobs: stores.clone(),
                delivery: stores.send_log.clone(),
                send_log: stores.clone(),
                feedback: Arc::new(crate::testing::MemoryFeedbackCounters::default()),
                engine: Arc::new(engine),
                clock: clock.clone(),
            },
            CampaignsConfig {
                chunk_bytes: config.launch.chunk_bytes,
                exports_bucket: Some("exports".into()),
                max_chunk_attempts: config.launch.max_receives,
                chunk_retry: Default::default(),
                redrive_first_slice: super::setbacks::first_slice(config.seed),
                ..Default::default()
            },
        )
    }

    /// Starts the mappings and the launch queue's consumers, then launches every campaign.
    pub(super) async fn start(&self, stop: Arc<AtomicBool>) -> Running {
        let rebatch_lanes = self.rebatch.start(
            self.faults.clone(),
            self.ledger.clone(),
            self.clock.clone(),
            stop.clone(),
        );
        let deliver_lanes = self.deliver.start(
            self.faults.clone(),
            self.ledger.clone(),
            self.clock.clone(),
            stop.clone(),
        );
        let launch = Arc::new(LaunchQueue::default());
        let (first, others) = self.tenants.split_at(1.min(self.tenants.len()));
        let launcher = Launcher {
            campaigns: self.campaigns.clone(),
            clock: self.clock.clone(),
            launches: self.launches.clone(),
        };
        launcher.launch_all(first).await;
        match self.others_launch_after.is_zero() {
            true => launcher.launch_all(others).await,
            false => {
                let (others, after) = (others.to_vec(), self.others_launch_after);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    launcher.launch_all(&others).await;
                });
            }
        }
        if !self.setbacks.is_empty() {
            let operator = Operator {
                campaigns: self.campaigns.clone(),
                onboarding: self.onboarding.clone(),
                tenants: self.tenants.clone(),
                clock: self.clock.clone(),
                done: self.setbacks_done.clone(),
                performed: self.setbacks_performed.clone(),
            };
            tokio::spawn(operator.run(self.setbacks.clone(), self.launched_at));
        }
        for _ in 0..self.launch_settings.concurrency {
            tokio::spawn(launch.clone().consume(LaunchWorker {
                settings: self.launch_settings,
                campaigns: self.campaigns.clone(),
                queue: self.queue.clone(),
                faults: self.faults.clone(),
                ledger: self.ledger.clone(),
                clock: self.clock.clone(),
                dead_letters: self.launch_dead_letters.clone(),
                stop: stop.clone(),
            }));
        }
        Running {
            rebatch_lanes,
            deliver_lanes,
            launch,
        }
    }
}

/// Creates and launches campaigns, noting when.
struct Launcher {
    campaigns: Arc<Campaigns>,
    clock: Arc<VirtualClock>,
    launches: Arc<Mutex<HashMap<TenantId, OffsetDateTime>>>,
}

impl Launcher {
    async fn launch_all(&self, tenants: &[(TenantId, CampaignId)]) {
        for (tenant, campaign) in tenants {
            let new: NewCampaign = serde_json::from_value(serde_json::json!({
                "campaign_id": campaign,
                "name": "Winter",
                "template": {"id": SAMPLE_TEMPLATE_ID, "version": 1},
                "channel": "email",
                "audience": {"source": {"bucket": "exports", "key": format!("{tenant}/customers.jsonl")}, "rules": []},
                "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
                "holdout_percent": 0.0,
                "offers": {"slots": 1},
            }))
            .expect("a valid campaign");
            self.campaigns.create(tenant, new).await.expect("created");
            self.campaigns
                .launch(tenant, campaign)
                .await
                .expect("launched");
            lock(&self.launches).insert(tenant.clone(), self.clock.now());
        }
    }
}

fn rebatch_handlers(rebatcher: Rebatcher) -> Handlers {
    let rebatcher = Arc::new(rebatcher);
    let handler: Handler = Arc::new(move |records, _deadline| {
        let rebatcher = rebatcher.clone();
        async move { rebatcher.rebatch(&records).await.failed_positions }.boxed()
    });
    Arc::new(move || handler.clone())
}

fn deliver_handler(deliverer: Deliverer) -> Handler {
    let deliverer = Arc::new(deliverer);
    Arc::new(move |records, deadline| {
        let deliverer = deliverer.clone();
        async move { deliverer.deliver(&records, deadline).await.failed_positions }.boxed()
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Running {
    /// Ticks the scheduler every minute until nothing is left anywhere (streams read to the end,
    /// the launch queue empty, nothing deferred, every setback carried out and every redrive job
    /// done), or the time limit passes.
    pub(super) async fn wait_until_settled(&self, world: &SimWorld, config: &SimConfig) -> bool {
        // The schedule runs every minute whether or not anything is launched: one minute has
        // begun when the launch comes.
        let mut next_tick = world.clock.now();
        let mut minutes = Vec::new();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = world.clock.now();
            if now >= next_tick {
                next_tick = now + SCHEDULER_TICK;
                // As the schedule invokes the function: each minute's invocation runs on its own.
                let campaigns = world.campaigns.clone();
                minutes.push(tokio::spawn(async move {
                    campaigns.scheduler_minute(SCHEDULER_MINUTE).await
                }));
            }
            for minute in std::mem::take(&mut minutes) {
                if !minute.is_finished() {
                    minutes.push(minute);
                    continue;
                }
                match minute.await {
                    Ok(Ok(summary)) => {
                        let redriven = summary.tick.redrives.batches;
                        world.tick_redriven.fetch_add(redriven, Ordering::Relaxed);
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "scheduler tick failed; the next one tries again");
                    }
                    Err(error) => panic!("the scheduler's minute panicked: {error}"),
                }
            }
            self.launch.absorb(&world.queue, now);
            let settled = lock(&world.launches).len() == world.tenants.len()
                && self.launch.idle()
                && world.rebatch.caught_up(&self.rebatch_lanes)
                && world.deliver.caught_up(&self.deliver_lanes)
                && world.stores.archive.deferred().is_empty()
                && world.setbacks_done.load(Ordering::SeqCst)
                && world.stores.jobs.jobs().iter().all(|job| !job.is_running());
            if settled || now - world.launched_at > config.max_virtual_time {
                minutes.iter().for_each(|minute| minute.abort());
                return settled;
            }
        }
    }
}
