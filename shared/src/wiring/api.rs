//! The marketer API's services on their AWS adapters.

use super::*;

/// The templates (previews with the retailer's own snippets over the library's) and the test
/// sends through SES, on the tenants table.
fn template_services(
    settings: &crate::config::ApiSettings,
    sdk: &SdkConfig,
    tenants: &Arc<TenantsTable>,
    unsubscribe: Arc<UnsubscribeSigner>,
) -> (
    Arc<crate::templates::TemplateService>,
    Arc<crate::templates::TestSends>,
) {
    use crate::templates::{TemplateService, TestSends, catalog, test_send::TestSendPorts};
    let templates = Arc::new(
        TemplateService::new(tenants.clone(), tenants.clone(), unsubscribe)
            .with_retailer_snippets(tenants.clone(), catalog::standard_snippets()),
    );
    let ses = Arc::new(SesProvider::new(crate::aws::ses::client(sdk)));
    let ports = TestSendPorts::new(templates.clone(), ses, tenants.clone());
    let domain = &settings.onboarding.sending_domain;
    (templates.clone(), Arc::new(TestSends::new(ports, domain)))
}

/// The marketer API's services on their AWS adapters, with the availability stores given: the
/// scores table and the configuration's revisions (`aws::dynamodb::availability`).
pub fn api_state(
    settings: &crate::config::ApiSettings,
    sdk: &SdkConfig,
    unsubscribe: Arc<UnsubscribeSigner>,
) -> crate::api::ApiState {
    let tenants = Arc::new(TenantsTable::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.campaigns.tenants_table,
    ));
    let scores = Arc::new(crate::aws::dynamodb::ScoresTable::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.campaigns.scores_table,
    ));
    let (availability, availability_config) = availability_services(scores, tenants.clone());
    let (templates, test_sends) = template_services(settings, sdk, &tenants, unsubscribe.clone());
    let feedback = Arc::new(crate::aws::dynamodb::FeedbackTable::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.campaigns.delivery_table,
        Arc::new(SystemClock),
    ));
    let deliverability = deliverability_reports(settings, sdk, &tenants, feedback.clone());
    crate::api::ApiState {
        deliverability,
        onboarding: Arc::new(onboarding(&settings.onboarding, sdk)),
        test_sends,
        templates,
        campaigns: Arc::new(campaigns(&settings.campaigns, sdk)),
        suppressions: tenants.clone(),
        workspaces: tenants.clone(),
        unsubscribes: Arc::new(crate::deliverability::unsubscribe::Unsubscribes::new(
            unsubscribe,
            tenants,
            Some(feedback.clone()),
            Arc::new(SystemClock),
        )),
        availability,
        availability_config,
        audience_uploads: Arc::new(crate::campaigns::uploads::AudienceUploads::new(
            Arc::new(crate::aws::s3_uploads::S3UploadSigner::new(
                crate::aws::s3::client(sdk),
            )),
            &settings.campaigns.exports_bucket,
            Arc::new(SystemClock),
        )),
        recipients: Arc::new(crate::campaigns::recipients::RecipientLookup {
            send_log: Arc::new(DeliveryTable::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &settings.campaigns.delivery_table,
                Arc::new(SystemClock),
            )),
            feedback,
        }),
        audience_checks: Arc::new(crate::campaigns::audience_check::AudienceChecks::new(
            Arc::new(crate::aws::s3::S3AudienceSource::new(
                crate::aws::s3::client(sdk),
            )),
            &settings.campaigns.exports_bucket,
        )),
        request_limit: (settings.tenant_requests_per_second > 0).then(|| {
            Arc::new(crate::api::limits::TenantRequestLimit::new(
                Arc::new(crate::aws::dynamodb::RequestQuotaTable::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    &settings.campaigns.delivery_table,
                )),
                settings.tenant_requests_per_second,
                Arc::new(SystemClock),
            ))
        }),
    }
}

/// The deliverability reports: the workspace and the warm-up state on the tenants table, the day
/// counters and the day's cap on the delivery table.
fn deliverability_reports(
    settings: &crate::config::ApiSettings,
    sdk: &SdkConfig,
    tenants: &Arc<TenantsTable>,
    feedback: Arc<crate::aws::dynamodb::FeedbackTable>,
) -> Arc<crate::deliverability::report::DeliverabilityReports> {
    use crate::deliverability::report::{DeliverabilityReports, ReportPorts};
    Arc::new(DeliverabilityReports::new(
        ReportPorts {
            workspaces: tenants.clone(),
            feedback,
            warmup: tenants.clone(),
            caps: Arc::new(crate::aws::dynamodb::DailyCaps::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &settings.campaigns.delivery_table,
            )),
        },
        settings.warmup_thresholds,
        Arc::new(SystemClock),
    ))
}

/// The lookup and the configuration service on one configuration cache, so a change made
/// through this container is in effect for its lookups at once.
pub fn availability_services(
    scores: Arc<dyn crate::availability::ScoreStore>,
    configs: Arc<dyn crate::availability::ConfigStore>,
) -> (
    Arc<crate::availability::lookup::Lookup>,
    Arc<crate::availability::lookup::ConfigService>,
) {
    use crate::availability::lookup::{ConfigService, Lookup};
    let lookup = Lookup::new(scores, configs.clone(), Arc::new(SystemClock));
    let service = ConfigService::new(configs, Arc::new(SystemClock)).invalidating(lookup.cache());
    (Arc::new(lookup), Arc::new(service))
}

/// The marketer API's router; the caller adds how claims reach it.
pub fn api(
    settings: &crate::config::ApiSettings,
    sdk: &SdkConfig,
    unsubscribe: Arc<UnsubscribeSigner>,
) -> axum::Router {
    crate::api::router(api_state(settings, sdk, unsubscribe))
}
