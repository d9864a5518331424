//! Builds the services on their AWS adapters: once per cold start in Lambda, and the same way in
//! the local runner.

use std::sync::Arc;

use aws_config::SdkConfig;

#[cfg(any(feature = "deliver", feature = "campaigns", feature = "feedback"))]
use crate::aws::dynamodb::DeliveryTable;
#[cfg(any(
    feature = "deliver",
    feature = "campaigns",
    feature = "feedback",
    feature = "availability",
    feature = "warmup"
))]
use crate::aws::dynamodb::TenantsTable;
use crate::aws::kinesis::KinesisStream;
use crate::aws::s3::S3Archive;
#[cfg(feature = "deliver")]
use crate::aws::ses::SesProvider;
#[cfg(any(
    feature = "deliver",
    feature = "campaigns",
    feature = "feedback",
    feature = "availability"
))]
use crate::clock::SystemClock;
use crate::config::RebatchSettings;
#[cfg(feature = "unsubscribe")]
use crate::deliverability::unsubscribe::UnsubscribeSigner;
#[cfg(feature = "deliver")]
use crate::pipeline::deliver::{Deliverer, DelivererPorts};
#[cfg(any(feature = "deliver", feature = "campaigns", feature = "feedback"))]
use crate::pipeline::parked::CountedArchive;
use crate::pipeline::rebatch::Rebatcher;

pub fn rebatcher(settings: &RebatchSettings, sdk: &SdkConfig) -> Rebatcher {
    let rebatcher = Rebatcher::new(
        Arc::new(KinesisStream::new(
            aws_sdk_kinesis::Client::new(sdk),
            &settings.send_batches_stream,
        )),
        Arc::new(S3Archive::new(
            crate::aws::s3::client(sdk),
            &settings.archive_bucket,
        )),
    );
    #[cfg(feature = "dynamodb")]
    if let Some(table) = &settings.send_budgets_table {
        // Each campaign's usage, on the delivery table's usage counters (`USAGE#`).
        let usage = Arc::new(crate::aws::dynamodb::DeliveryTable::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
            Arc::new(crate::clock::SystemClock),
        ));
        return rebatcher
            .with_budget_announcers(budget_announcers(table, sdk))
            .with_usage(usage, settings.lambda_memory_mb);
    }
    rebatcher
}

#[cfg(feature = "dynamodb")]
/// The tenants of the batches written, counted on the email and push budget items.
fn budget_announcers(
    table: &str,
    sdk: &SdkConfig,
) -> crate::deliverability::budget::ChannelAnnouncers {
    use crate::aws::dynamodb::BudgetTable;
    use crate::deliverability::budget::{BudgetAnnouncer, ChannelAnnouncers};
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    ChannelAnnouncers {
        email: Arc::new(BudgetAnnouncer::new(
            Arc::new(BudgetTable::new(dynamodb.clone(), table)),
            clock.clone(),
        )),
        push: Arc::new(BudgetAnnouncer::new(
            Arc::new(BudgetTable::push(dynamodb, table)),
            clock,
        )),
    }
}

#[cfg(feature = "unsubscribe")]
/// The unsubscribe key ring, read once per cold start: a missing or unreadable secret fails it.
pub async fn unsubscribe_signer(
    secret_id: &str,
    sdk: &SdkConfig,
) -> Result<Arc<UnsubscribeSigner>, crate::deliverability::unsubscribe::KeyRingError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let ring = crate::aws::secrets::load_key_ring(&client, secret_id).await?;
    Ok(Arc::new(UnsubscribeSigner::new(ring)))
}

#[cfg(feature = "deliver")]
pub fn deliverer(
    settings: &crate::config::DeliverSettings,
    sdk: &SdkConfig,
    unsubscribe: Arc<UnsubscribeSigner>,
) -> Deliverer {
    let provider = Arc::new(SesProvider::new(crate::aws::ses::client(sdk)));
    deliverer_with_provider(settings, sdk, unsubscribe, provider)
}

#[cfg(feature = "deliver")]
/// The deliverer on its AWS adapters with a given provider (the local stack wraps SES's to
/// emulate its event publishing).
pub fn deliverer_with_provider(
    settings: &crate::config::DeliverSettings,
    sdk: &SdkConfig,
    unsubscribe: Arc<UnsubscribeSigner>,
    provider: Arc<dyn crate::channels::email::EmailProvider>,
) -> Deliverer {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let tenants = Arc::new(TenantsTable::new(dynamodb.clone(), &settings.tenants_table));
    let tenants_for_push = tenants.clone();
    let clock = Arc::new(SystemClock);
    let caps = Arc::new(crate::aws::dynamodb::DailyCaps::new(
        dynamodb.clone(),
        &settings.delivery_table,
    ));
    let delivery = Arc::new(DeliveryTable::new(
        dynamodb.clone(),
        &settings.delivery_table,
        clock.clone(),
    ));
    let usage = delivery.clone();
    let deliverer = Deliverer::new(
        DelivererPorts {
            directory: tenants.clone(),
            templates: tenants,
            send_log: delivery.clone(),
            provider,
            archive: Arc::new(CountedArchive::new(
                Arc::new(S3Archive::new(
                    crate::aws::s3::client(sdk),
                    &settings.archive_bucket,
                )),
                delivery,
            )),
            clock: clock.clone(),
            unsubscribe,
        },
        settings.delivery_config(),
    )
    .with_send_cap(caps)
    .with_usage(usage)
    .with_contact_ledger(tenants_for_push.clone())
    .with_push(crate::pipeline::deliver::PushPorts {
        provider: Arc::new(crate::aws::sns::SnsPush::new(crate::aws::sns::client(sdk))),
        endpoints: tenants_for_push.clone(),
        suppressions: tenants_for_push,
    });
    let Some(budget) = settings.send_budget else {
        return deliverer;
    };
    let push = push_budgets(settings, budget, dynamodb.clone(), clock.clone());
    deliverer
        .with_send_budgets(Arc::new(send_budgets(
            budget,
            sdk,
            dynamodb,
            &settings.delivery_table,
            clock,
        )))
        .with_push_budgets(Arc::new(push))
}

#[cfg(feature = "deliver")]
/// The push budget on the delivery table's push budget item, at SNS's configured rate.
fn push_budgets(
    settings: &crate::config::DeliverSettings,
    budget: crate::deliverability::budget::BudgetSettings,
    dynamodb: aws_sdk_dynamodb::Client,
    clock: Arc<SystemClock>,
) -> crate::deliverability::budget::SendBudgets {
    use crate::deliverability::budget::{AccountRate, ConfiguredRate, SendBudgets};
    let rate = settings.push_send_rate;
    let account = AccountRate::new(
        Arc::new(ConfiguredRate(rate)),
        crate::deliverability::budget::BudgetSettings {
            fallback_max_send_rate: rate,
            ..budget
        },
        clock.clone(),
    );
    SendBudgets::new(
        Arc::new(crate::aws::dynamodb::BudgetTable::push(
            dynamodb,
            &settings.delivery_table,
        )),
        account,
        clock,
    )
}

#[cfg(feature = "deliver")]
/// The send budgets on the delivery table's budget item, with SES's limits from GetAccount.
fn send_budgets(
    settings: crate::deliverability::budget::BudgetSettings,
    sdk: &SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    delivery_table: &str,
    clock: Arc<SystemClock>,
) -> crate::deliverability::budget::SendBudgets {
    use crate::deliverability::budget::{AccountRate, SendBudgets};
    let account = AccountRate::new(
        Arc::new(crate::aws::ses_account::SesAccount::new(
            aws_sdk_sesv2::Client::new(sdk),
        )),
        settings,
        clock.clone(),
    );
    SendBudgets::new(
        Arc::new(crate::aws::dynamodb::BudgetTable::new(
            dynamodb,
            delivery_table,
        )),
        account,
        clock,
    )
}

#[cfg(any(feature = "api", feature = "feedback"))]
/// The onboarding service on SES v2 and the tenants table (the API's tenant endpoints).
pub fn onboarding(
    settings: &crate::config::OnboardingSettings,
    sdk: &SdkConfig,
) -> crate::onboarding::Onboarding {
    let tenants = Arc::new(TenantsTable::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.tenants_table,
    ));
    let onboarding = crate::onboarding::Onboarding::new(
        Arc::new(crate::aws::ses_workspaces::SesWorkspaces::new(
            aws_sdk_sesv2::Client::new(sdk),
            settings.workspace_config(),
        )),
        tenants.clone(),
        settings.onboarding_config(),
    );
    #[cfg(feature = "api")]
    let onboarding = onboarding.with_push_applications(Arc::new(
        crate::aws::sns_applications::SnsApplications::new(
            aws_sdk_sns::Client::new(sdk),
            &settings.resource_prefix,
        ),
    ));
    #[cfg(feature = "api")]
    let onboarding = onboarding.with_standard_templates(crate::onboarding::StandardTemplates {
        catalog: Arc::new(
            crate::templates::catalog::standard()
                .expect("the standard catalog compiled into the binary is checked by its tests"),
        ),
        publisher: tenants.clone(),
    });
    let redrive = (
        &settings.archive_bucket,
        &settings.send_batches_stream,
        &settings.delivery_table,
    );
    match redrive {
        (Some(bucket), Some(stream), Some(table)) => {
            onboarding.with_redrive(crate::pipeline::redrive::RedriveWorker {
                archive: Arc::new(CountedArchive::new(
                    Arc::new(S3Archive::new(crate::aws::s3::client(sdk), bucket)),
                    Arc::new(DeliveryTable::new(
                        aws_sdk_dynamodb::Client::new(sdk),
                        table,
                        Arc::new(SystemClock),
                    )),
                )),
                stream: Arc::new(KinesisStream::new(
                    aws_sdk_kinesis::Client::new(sdk),
                    stream,
                )),
                jobs: tenants,
                clock: Arc::new(SystemClock),
                first_slice: crate::pipeline::redrive::worker::START_SLICE,
            })
        }
        _ => onboarding,
    }
}

#[cfg(feature = "campaigns")]
/// The campaign lifecycle on its AWS adapters: for the API, the launch worker and the scheduler.
pub fn campaigns(
    settings: &crate::config::CampaignsSettings,
    sdk: &SdkConfig,
) -> crate::campaigns::Campaigns {
    use crate::aws::dynamodb::campaigns::DynamoCampaignStore;
    use crate::aws::launch_queue::SqsChunkQueue;
    use crate::aws::s3::S3AudienceSource;
    use crate::campaigns::{CampaignEngine, CampaignPorts, Campaigns};

    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    let s3 = crate::aws::s3::client(sdk);
    let tenants = Arc::new(TenantsTable::new(dynamodb.clone(), &settings.tenants_table));
    let clock = Arc::new(SystemClock);
    let delivery = Arc::new(DeliveryTable::new(
        dynamodb.clone(),
        &settings.delivery_table,
        clock.clone(),
    ));
    let dynamodb_for_feedback = dynamodb.clone();
    let engine = CampaignEngine {
        source: Arc::new(S3AudienceSource::new(s3.clone())),
        suppression: tenants.clone(),
        contacts: tenants.clone(),
        availability: Arc::new(crate::availability::offers::StockFilter::new(
            Arc::new(crate::aws::dynamodb::ScoresTable::new(
                dynamodb.clone(),
                &settings.scores_table,
            )),
            Arc::new(crate::availability::lookup::ConfigCache::new(
                tenants.clone(),
                clock.clone(),
            )),
        )),
        events: Arc::new(KinesisStream::new(
            kinesis.clone(),
            &settings.campaign_events_stream,
        )),
        retry: crate::campaigns::LAUNCH_PUBLISH_RETRY,
    };
    Campaigns::new(
        CampaignPorts {
            store: Arc::new(DynamoCampaignStore::new(dynamodb, &settings.tenants_table)),
            queue: Arc::new(SqsChunkQueue::new(
                aws_sdk_sqs::Client::new(sdk),
                &settings.launch_queue_url,
            )),
            directory: tenants.clone(),
            templates: tenants.clone(),
            admin: tenants.clone(),
            archive: Arc::new(CountedArchive::new(
                Arc::new(S3Archive::new(s3, &settings.archive_bucket)),
                delivery.clone(),
            )),
            parked: delivery.clone(),
            send_batches: Arc::new(KinesisStream::new(kinesis, &settings.send_batches_stream)),
            redrive_jobs: tenants,
            delivery: delivery.clone(),
            send_log: delivery.clone(),
            feedback: Arc::new(crate::aws::dynamodb::FeedbackTable::new(
                dynamodb_for_feedback,
                &settings.delivery_table,
                clock.clone(),
            )),
            engine: Arc::new(engine),
            clock,
        },
        settings.campaigns_config(),
    )
    // The launch chunks' usage, on the delivery table's usage counters (`USAGE#`).
    .with_usage(delivery)
}

#[cfg(feature = "api")]
mod api;
#[cfg(feature = "api")]
pub use api::{api, api_state, availability_services};

#[cfg(feature = "warmup")]
/// The daily warm-up on the tenants table (workspaces, states) and the delivery table (caps),
/// reading the feedback counters it is given.
pub fn warmup(
    settings: &crate::config::WarmupSettings,
    sdk: &SdkConfig,
    feedback: Arc<dyn crate::deliverability::counters::FeedbackCounters>,
) -> crate::deliverability::warmup::WarmupService {
    use crate::deliverability::warmup::{WarmupPorts, WarmupService};

    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let tenants = Arc::new(TenantsTable::new(dynamodb.clone(), &settings.tenants_table));
    WarmupService::new(
        WarmupPorts {
            workspaces: tenants.clone(),
            feedback,
            store: tenants,
            caps: Arc::new(crate::aws::dynamodb::DailyCaps::new(
                dynamodb,
                &settings.delivery_table,
            )),
        },
        settings.thresholds,
    )
}

/// Lambda's deadline (milliseconds since the epoch) as a time.
pub fn deadline_from_millis(millis: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc() + time::Duration::seconds(60))
}

#[cfg(feature = "feedback")]
/// The feedback service (the ses-events function) on the delivery and tenants tables, the
/// archive, and onboarding for the auto-pause.
pub fn feedback(
    settings: &crate::config::FeedbackSettings,
    sdk: &SdkConfig,
) -> crate::deliverability::feedback::Feedback {
    let pauser = Arc::new(onboarding(&settings.onboarding, sdk));
    feedback_with_pauser(settings, sdk, pauser)
}

#[cfg(feature = "feedback")]
/// The feedback service with a given way to suspend a tenant (the local stack's onboarding
/// skips the SES calls moto lacks).
pub fn feedback_with_pauser(
    settings: &crate::config::FeedbackSettings,
    sdk: &SdkConfig,
    pauser: Arc<dyn crate::deliverability::autopause::TenantPauser>,
) -> crate::deliverability::feedback::Feedback {
    use crate::aws::dynamodb::FeedbackTable;
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let table = Arc::new(FeedbackTable::new(
        dynamodb.clone(),
        &settings.delivery_table,
        Arc::new(SystemClock),
    ));
    crate::deliverability::feedback::Feedback::new(
        crate::deliverability::feedback::FeedbackPorts {
            log: table.clone(),
            counters: table,
            suppressions: Arc::new(TenantsTable::new(
                dynamodb,
                &settings.onboarding.tenants_table,
            )),
            unmatched: Arc::new(S3Archive::new(
                crate::aws::s3::client(sdk),
                &settings.archive_bucket,
            )),
            pauser,
        },
        settings.feedback.clone(),
    )
}

#[cfg(feature = "availability")]
/// The score sync on the scores and tenants tables, the exports bucket and the units' queue, and
/// the retailers its schedule plans for.
pub fn score_sync(
    settings: &crate::availability::settings::ScoreSyncSettings,
    sdk: &SdkConfig,
) -> (
    crate::availability::sync::ScoreSync,
    Arc<dyn crate::directory::WorkspaceListing>,
) {
    use crate::availability::sync::{ScoreSync, SyncPorts};
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let tenants = Arc::new(TenantsTable::new(dynamodb.clone(), &settings.tenants_table));
    let sync = ScoreSync::new(SyncPorts {
        exports: Arc::new(crate::aws::score_exports::S3ExportStore::new(
            crate::aws::s3::client(sdk),
            &settings.exports_bucket,
        )),
        scores: Arc::new(crate::aws::dynamodb::ScoresTable::new(
            dynamodb,
            &settings.scores_table,
        )),
        configs: tenants.clone(),
        queue: Arc::new(crate::aws::sync_units::SqsSyncUnitQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            &settings.queue_url,
        )),
        clock: Arc::new(SystemClock),
    });
    (sync, tenants)
}

#[cfg(feature = "scoring-http")]
/// The lazy refresh on the scores and tenants tables, the scoring service and the archive.
pub fn score_refresh(
    settings: &crate::availability::settings::ScoreRefreshSettings,
    sdk: &SdkConfig,
) -> Result<crate::availability::refresh::Refresher, reqwest::Error> {
    use crate::availability::refresh::{RefreshPorts, Refresher};
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let tenants: Arc<TenantsTable> =
        Arc::new(TenantsTable::new(dynamodb.clone(), &settings.tenants_table));
    let source = crate::http::scoring::HttpScoreSource::new(
        crate::http::scoring::ScoringSettings::new(&settings.scoring_service_url),
        tenants.clone(),
        Arc::new(SystemClock),
    )?;
    Ok(Refresher::new(RefreshPorts {
        configs: tenants,
        scores: Arc::new(crate::aws::dynamodb::ScoresTable::new(
            dynamodb,
            &settings.scores_table,
        )),
        source: Arc::new(source),
        archive: Arc::new(S3Archive::new(
            crate::aws::s3::client(sdk),
            &settings.archive_bucket,
        )),
        clock: Arc::new(SystemClock),
    }))
}

#[cfg(feature = "availability")]
/// The delta optimizer on the tenants table (retailers, configurations) and the exports bucket
/// (feedback, reports).
pub fn delta_optimizer(
    settings: &crate::availability::settings::DeltaOptimizerSettings,
    sdk: &SdkConfig,
) -> crate::availability::optimizer::DeltaOptimizer {
    use crate::availability::optimizer::{DeltaOptimizer, OptimizerPorts};
    let tenants = Arc::new(TenantsTable::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.tenants_table,
    ));
    let s3 = crate::aws::s3::client(sdk);
    DeltaOptimizer::new(OptimizerPorts {
        workspaces: tenants.clone(),
        configs: tenants,
        feedback: Arc::new(crate::aws::found_rate::S3FoundRateFeedback::new(
            s3.clone(),
            &settings.exports_bucket,
        )),
        reports: Arc::new(crate::aws::found_rate::S3OptimizerReports::new(
            s3,
            &settings.exports_bucket,
        )),
        clock: Arc::new(SystemClock),
    })
}
