//! The demo through the marketer API, on the local stack: an operator onboards three retailers,
//! the standard templates are deployed to them (as CI/CD does), each retailer's marketer sets
//! template variables and previews, uploads an audience export, creates and launches a campaign;
//! the pipeline runs (launch chunks, rebatch, deliver) and the report is read back from each
//! campaign's stats. Every call is an HTTP request with a bearer token, as curl would make it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use storecast::api::Role;
use storecast::aws::dynamodb::TenantsTable;
use storecast::deliverability::suppression::{Suppression, SuppressionList as _};
use storecast::domain::TenantId;

use crate::demos::api_audience::upload_audience;
use crate::demos::api_deferred::{drain_pipeline, settle_deferrals};
pub use crate::demos::api_report::{
    ApiDemoReport, CARELESS_RETAILER, RetailerLine, WARMUP_RETAILER, WarmupLine,
};
use crate::demos::one_click;
use crate::local::SentEmail;
use crate::local::api::{LocalPipelineRunner, api_state, console_site, serve};
use crate::local::pipeline::LocalPipeline;

/// The demo's retailers: (tenant id, display name, time zone).
pub const RETAILERS: &[(&str, &str, &str)] = &[
    ("alpine-outfitters", "Alpine Outfitters", "Europe/Berlin"),
    ("harbor-books", "Harbor Books", "America/New_York"),
    ("citrus-kitchen", "Citrus Kitchen", "Europe/Madrid"),
];
pub const TEMPLATE: &str = "weekly-offers";
pub const CAMPAIGN: &str = "winter-warmup";
/// The third retailer's second campaign, launched after the first was delivered.
pub const SECOND_CAMPAIGN: &str = "new-year-teaser";
/// The first retailer's email + push campaign, once its push applications are set up.
pub const PUSH_CAMPAIGN: &str = "winter-push";

#[derive(Debug, Clone)]
pub struct ApiDemoOptions {
    /// Customers per retailer's audience export.
    pub size: usize,
    pub stack_name: String,
    pub reset: bool,
    pub out_dir: PathBuf,
    pub template_path: PathBuf,
    pub catalog_path: PathBuf,
}

/// Tries of one call the API answers 429 (over the retailer's requests a second).
const MAX_ATTEMPTS_WHEN_LIMITED: u32 = 5;

/// A client of the local API with one caller's token.
struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    fn new(base: &str, role: Role, tenant: Option<&TenantId>) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: crate::local::auth::mint(role, tenant, 3600)?,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        // A well-behaved client: a 429 (the retailer's requests over its limit a second) is
        // tried again after the Retry-After the API names.
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {path}"))?;
            let status = response.status().as_u16();
            if status == 429 && attempt < MAX_ATTEMPTS_WHEN_LIMITED {
                let seconds = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok()?.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
                attempt += 1;
                continue;
            }
            let body = response.json().await.unwrap_or(Value::Null);
            return Ok((status, body));
        }
    }

    /// The call must answer `expected`; the problem details are the error otherwise.
    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Result<Value> {
        let (status, body) = self.call(method.clone(), path, body).await?;
        ensure!(
            status == expected,
            "{method} {path}: HTTP {status} (expected {expected}): {body}"
        );
        Ok(body)
    }
}

/// The auto-pause's minimum volume in the demo (500 in a deployed stack).
pub const DEMO_PAUSE_MIN_SENT: u32 = 60;
/// The demo's complaint threshold (0.001 in a deployed stack).
pub const DEMO_PAUSE_COMPLAINT_RATE: &str = "0.05";

pub async fn run(options: &ApiDemoOptions) -> Result<ApiDemoReport> {
    let started = std::time::Instant::now();
    let mut resolution = crate::local::template::Resolution {
        stack_name: options.stack_name.clone(),
        ..crate::local::template::Resolution::default()
    };
    // A demo's audiences are small: rates count from 60 sends, so the careless retailer's
    // bounces pause it within its first batches; and its complaints (a few per hundred, to be
    // seen at all) are held to 5 %, not SES's 0.1 %, or every retailer would be paused.
    resolution
        .parameters
        .insert("PauseMinSent".into(), DEMO_PAUSE_MIN_SENT.to_string());
    resolution.parameters.insert(
        "PauseComplaintRate".into(),
        DEMO_PAUSE_COMPLAINT_RATE.into(),
    );
    let pipeline = LocalPipeline::connect_as(&options.template_path, &resolution).await?;
    if options.reset {
        pipeline.endpoint.reset().await?;
    }
    pipeline.provision().await?;
    let sdk = pipeline.sdk_config().await;
    let (address, server) = serve(
        api_state(&pipeline, &sdk).await?,
        ([127, 0, 0, 1], 0).into(),
        console_site(&pipeline, &options.template_path)?,
    )
    .await?;
    let base = format!("http://{address}");
    crate::local::provision::allow_console_origin(&pipeline.clients, &pipeline.stack, &base)
        .await?;
    let mut report = ApiDemoReport {
        base_url: base.clone(),
        ..ApiDemoReport::default()
    };
    let result = drive(&pipeline, &sdk, &base, options, &mut report).await;
    server.abort();
    result?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The warm-up retailer's day through the API, as the console's Deliverability page reads it.
async fn warmup_retailers_deliverability(base: &str) -> Result<(u16, Value)> {
    let warming = TenantId::parse(crate::demos::api_report::WARMUP_RETAILER)?;
    let path = format!("/tenants/{warming}/deliverability?days=2");
    ApiClient::new(base, Role::Marketer, Some(&warming))?
        .call(reqwest::Method::GET, &path, None)
        .await
}

async fn drive(
    pipeline: &LocalPipeline,
    sdk: &aws_config::SdkConfig,
    base: &str,
    options: &ApiDemoOptions,
    report: &mut ApiDemoReport,
) -> Result<()> {
    let operator = ApiClient::new(base, Role::Operator, None)?;
    // 1. The operator onboards the retailers: each gets its own SES workspace.
    onboard_retailers(&operator).await?;
    // The `warmup` function's run of the day sets the warm-up retailer's first cap.
    crate::demos::api_warmup::run_daily_warmup(pipeline, sdk).await?;
    // The first retailer's item availability: configuration, syncs, refresh, lookups, the
    // optimizer; its campaign below offers only what is likely in stock.
    report.availability =
        crate::demos::availability::run(pipeline, sdk, base, &TenantId::parse(RETAILERS[0].0)?)
            .await?;
    // 2. CI/CD deploys the standard templates to every onboarded retailer.
    let catalog = storecast::templates::Catalog::load(&options.catalog_path)?;
    let tenants = pipeline.tenants()?;
    let deployed =
        storecast::templates::deploy::deploy(&catalog, &tenants, &tenants, &Default::default())
            .await?;
    ensure!(deployed.is_success(), "{}", deployed.to_text());
    suppress_earlier_bounces(&tenants, options).await?;

    let exports_bucket = pipeline.stack.bucket("ExportsBucket")?.name.clone();
    launch_first_campaigns(pipeline, base, options, &exports_bucket, report).await?;
    // Isolation, as a marketer sees it.
    let first = TenantId::parse(RETAILERS[0].0)?;
    let (status, _) = ApiClient::new(base, Role::Marketer, Some(&first))?
        .call(
            reqwest::Method::GET,
            &format!("/tenants/{}/campaigns/{CAMPAIGN}/stats", RETAILERS[1].0),
            None,
        )
        .await?;
    report.cross_tenant_status = status;

    // 5. The pipeline behind the API: launch chunks, rebatch, deliver, until nothing moves.
    let mut runner = LocalPipelineRunner::new(pipeline, sdk).await?;
    drain_pipeline(&mut runner).await?;
    // 6. The frequency-capped retailer's second campaign, to the same audience.
    launch_capped_second_campaign(&mut runner, base, &exports_bucket, report).await?;
    // 7. The first retailer's push applications, then an email + push campaign.
    launch_push_campaign(&mut runner, &operator, base, &exports_bucket, report).await?;
    // What a delivery deferred for a minute (a store call that missed its bound) is redriven
    // when due, as the scheduler does; only the warm-up cap's overflow waits for tomorrow.
    report.settle_rounds = settle_deferrals(pipeline, &mut runner).await?;
    // 8. The report, from each campaign's stats, and what is still on its way in the archive.
    read_campaign_stats(base, report).await?;
    report.deferred = crate::demos::api_deferred::deferred_recipients(
        &crate::demos::api_deferred::deferred_batches(pipeline).await?,
    );
    read_workspace_statuses(&operator, report).await?;
    report.warmup = crate::demos::api_warmup::read_warmup(pipeline).await?;
    report.warmup.api_report = warmup_retailers_deliverability(base).await?;
    report.feedback = runner.ses_events.summary();
    report.feedback_failures = runner.ses_events.failed();
    let sent = emails_of_this_run(pipeline, options).await?;
    report.emails_at_endpoint = sent.len();
    report.pushes_by_platform =
        crate::demos::api_push::pushes_of_this_run(pipeline, &options.stack_name).await?;
    // 9. One recipient of the first retailer unsubscribes with one click from the email itself:
    // a customer's own address, not a simulator mailbox (a bounce or complaint may already have
    // suppressed that one for another reason, which an unsubscribe does not overwrite).
    let raw: Vec<&str> = sent
        .iter()
        .filter(|e| {
            e.destinations
                .iter()
                .all(|d| !d.ends_with("@simulator.amazonses.com"))
        })
        .map(|e| e.raw.as_str())
        .collect();
    report.one_click =
        one_click::follow_first(base, &raw, &TenantId::parse(RETAILERS[0].0)?).await?;
    Ok(())
}

/// Each retailer's workspace, as the operator puts it.
async fn onboard_retailers(operator: &ApiClient) -> Result<()> {
    for (i, (tenant, name, zone)) in RETAILERS.iter().enumerate() {
        // The third retailer allows one marketing message per customer a week: its second
        // campaign skips whoever the first one reached.
        let frequency_cap = (i == 2).then(|| json!({"max_messages": 1, "window_days": 7}));
        // One retailer starts in warm-up with a day cap below its audience: the rest of its
        // campaign waits for tomorrow's cap.
        let warmup = (*tenant == WARMUP_RETAILER).then(demo_warmup_plan);
        operator
            .expect(
                reqwest::Method::PUT,
                &format!("/tenants/{tenant}"),
                Some(json!({
                    "display_name": name,
                    "slug": tenant,
                    "settings": {
                        "timezone": zone,
                        "frequency_cap": frequency_cap,
                        "warmup": warmup,
                        "brand": {"name": name, "primary_color": "#1f4d3a"}
                    }
                })),
                201,
            )
            .await?;
    }
    Ok(())
}

/// The warm-up retailer's plan: the smallest first day's cap, below its audience.
fn demo_warmup_plan() -> Value {
    json!({"start_cap": 50, "target": 40000, "ramp_days": 35, "engaged_first": true})
}

/// A few addresses bounced earlier (SES feedback puts them on the suppression list).
async fn suppress_earlier_bounces(tenants: &TenantsTable, options: &ApiDemoOptions) -> Result<()> {
    for (tenant, _, _) in RETAILERS {
        let tenant_id = TenantId::parse(*tenant)?;
        for i in (7..options.size).step_by(97) {
            tenants
                .add(
                    &tenant_id,
                    &Suppression::manual(
                        &format!("customer{i}@{}", customer_domain(options, tenant)),
                        0,
                    ),
                )
                .await?;
        }
    }
    Ok(())
}

/// Per retailer, its marketer sets the template's variables and previews (saved to the out
/// dir), uploads the audience export, then creates and launches the first campaign.
async fn launch_first_campaigns(
    pipeline: &LocalPipeline,
    base: &str,
    options: &ApiDemoOptions,
    exports_bucket: &str,
    report: &mut ApiDemoReport,
) -> Result<()> {
    let previews_dir = options.out_dir.join("previews");
    std::fs::create_dir_all(&previews_dir)?;
    for (tenant, name, _) in RETAILERS {
        let tenant_id = TenantId::parse(*tenant)?;
        let marketer = ApiClient::new(base, Role::Marketer, Some(&tenant_id))?;
        // 3. The marketer sets the template's variables, then previews.
        let preview = set_variables_and_preview(&marketer, tenant, name).await?;
        let path = previews_dir.join(format!("{tenant}.html"));
        std::fs::File::create(&path)?
            .write_all(preview["html"].as_str().unwrap_or_default().as_bytes())?;
        report.previews.push(path);
        let line = report.lines.entry(tenant.to_string()).or_default();
        line.preview_subject = preview["subject"].as_str().unwrap_or_default().to_string();
        // 4. The audience export, then the campaign: created, launched (202 at once).
        let (rows, malformed) = upload_audience(
            pipeline,
            exports_bucket,
            tenant,
            &customer_domain(options, tenant),
            options.size,
        )
        .await?;
        line.rows_written = rows;
        line.malformed_written = malformed;
        create_and_launch(
            &marketer,
            tenant,
            (CAMPAIGN, "email"),
            "Winter warm-up",
            exports_bucket,
        )
        .await?;
    }
    Ok(())
}

/// Answers the preview (subject, html) of the template with the retailer's variables.
async fn set_variables_and_preview(
    marketer: &ApiClient,
    tenant: &str,
    name: &str,
) -> Result<Value> {
    marketer
        .expect(
            reqwest::Method::PUT,
            &format!("/tenants/{tenant}/templates/{TEMPLATE}/variables"),
            Some(json!({"variables": {
                "subject_line": format!("{name}'s winter warm-up"),
                "headline": format!("Warm up with {name}"),
                "cta_label": "See my picks"
            }})),
            200,
        )
        .await?;
    marketer
        .expect(
            reqwest::Method::POST,
            &format!("/tenants/{tenant}/templates/{TEMPLATE}/preview"),
            Some(
                json!({"customer": {"email": "ana@example.com", "fields": {"first_name": "Ana"}}}),
            ),
            200,
        )
        .await
}

/// The operator sets up the first retailer's push applications (FCM and APNs); its marketer
/// launches an email + push campaign over the same export; the pipeline runs.
async fn launch_push_campaign(
    runner: &mut LocalPipelineRunner,
    operator: &ApiClient,
    base: &str,
    exports_bucket: &str,
    report: &mut ApiDemoReport,
) -> Result<()> {
    let (tenant, _, _) = RETAILERS[0];
    for (platform, credentials) in crate::demos::api_push::demo_credentials(tenant) {
        operator
            .expect(
                reqwest::Method::PUT,
                &format!("/tenants/{tenant}/push/{platform}"),
                Some(credentials),
                200,
            )
            .await?;
    }
    let tenant_id = TenantId::parse(tenant)?;
    let marketer = ApiClient::new(base, Role::Marketer, Some(&tenant_id))?;
    let campaign = (PUSH_CAMPAIGN, "both");
    create_and_launch(&marketer, tenant, campaign, "Winter push", exports_bucket).await?;
    drain_pipeline(runner).await?;
    let first = &report.lines[tenant];
    let line = RetailerLine {
        rows_written: first.rows_written,
        malformed_written: first.malformed_written,
        channels: 2,
        ..RetailerLine::default()
    };
    report
        .lines
        .insert(format!("{tenant}/{PUSH_CAMPAIGN}"), line);
    Ok(())
}

/// Launches the third retailer's second campaign and runs the pipeline; its report line starts
/// from the first campaign's (same export, same preview).
async fn launch_capped_second_campaign(
    runner: &mut LocalPipelineRunner,
    base: &str,
    exports_bucket: &str,
    report: &mut ApiDemoReport,
) -> Result<()> {
    let (capped, _, _) = RETAILERS[2];
    let capped_id = TenantId::parse(capped)?;
    let capped_marketer = ApiClient::new(base, Role::Marketer, Some(&capped_id))?;
    create_and_launch(
        &capped_marketer,
        capped,
        (SECOND_CAMPAIGN, "email"),
        "New year teaser",
        exports_bucket,
    )
    .await?;
    drain_pipeline(runner).await?;
    let first = &report.lines[capped];
    let second = RetailerLine {
        rows_written: first.rows_written,
        malformed_written: first.malformed_written,
        preview_subject: first.preview_subject.clone(),
        ..RetailerLine::default()
    };
    report
        .lines
        .insert(format!("{capped}/{SECOND_CAMPAIGN}"), second);
    Ok(())
}

/// Each report line's campaign stats, as its retailer's marketer reads them (a line is a
/// retailer's first campaign, or `<retailer>/<campaign>`).
async fn read_campaign_stats(base: &str, report: &mut ApiDemoReport) -> Result<()> {
    for (line, entry) in report.lines.iter_mut() {
        let (tenant, campaign) = line.split_once('/').unwrap_or((line.as_str(), CAMPAIGN));
        let tenant_id = TenantId::parse(tenant)?;
        let marketer = ApiClient::new(base, Role::Marketer, Some(&tenant_id))?;
        entry.stats = marketer
            .expect(
                reqwest::Method::GET,
                &format!("/tenants/{tenant}/campaigns/{campaign}/stats"),
                None,
                200,
            )
            .await?;
    }
    Ok(())
}

/// Each retailer's workspace status (a careless one may have been paused), as the operator
/// reads it.
async fn read_workspace_statuses(operator: &ApiClient, report: &mut ApiDemoReport) -> Result<()> {
    for (tenant, _, _) in RETAILERS {
        let workspace = operator
            .expect(
                reqwest::Method::GET,
                &format!("/tenants/{tenant}"),
                None,
                200,
            )
            .await?;
        report.statuses.insert(
            tenant.to_string(),
            workspace["status"].as_str().unwrap_or("?").to_string(),
        );
    }
    Ok(())
}

/// The emails at the endpoint sent to this run's customers and simulator mailboxes: runs sharing
/// an endpoint tell theirs apart by the stack name in the addresses.
async fn emails_of_this_run(
    pipeline: &LocalPipeline,
    options: &ApiDemoOptions,
) -> Result<Vec<SentEmail>> {
    Ok(pipeline
        .endpoint
        .sent_emails()
        .await?
        .into_iter()
        .filter(|e| {
            e.destinations.iter().all(|d| {
                d.ends_with(&format!(".{}.example", options.stack_name))
                    || (d.ends_with("@simulator.amazonses.com")
                        && d.contains(&format!("-{}-example-", options.stack_name)))
            })
        })
        .collect())
}

/// Creates the campaign over the retailer's export (gold and silver customers, two variants, a
/// 10 % holdout, three offers) and launches it: 202 with a launch id.
async fn create_and_launch(
    marketer: &ApiClient,
    tenant: &str,
    (campaign, channel): (&str, &str),
    name: &str,
    exports_bucket: &str,
) -> Result<()> {
    use reqwest::Method;
    marketer
        .expect(
            Method::POST,
            &format!("/tenants/{tenant}/campaigns"),
            Some(json!({
                "campaign_id": campaign,
                "name": name,
                "template": {"id": TEMPLATE},
                "channel": channel,
                "audience": {
                    "source": {"bucket": exports_bucket, "key": format!("{tenant}/customers.jsonl")},
                    "rules": [{"op": "in", "field": "tier", "values": ["gold", "silver"]}]
                },
                "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
                "holdout_percent": 10.0,
                "offers": {"slots": 3}
            })),
            201,
        )
        .await?;
    let accepted = marketer
        .expect(
            Method::POST,
            &format!("/tenants/{tenant}/campaigns/{campaign}/launch"),
            None,
            202,
        )
        .await?;
    if accepted["launch_id"].as_str().is_none() {
        bail!("{tenant}: the launch of {campaign} answered no launch id: {accepted}");
    }
    Ok(())
}

/// The retailer's customers' mail domain, per stack, so that runs sharing an endpoint count
/// only their own emails.
fn customer_domain(options: &ApiDemoOptions, tenant: &str) -> String {
    format!("{tenant}.{}.example", options.stack_name)
}

/// `templates/catalog.yaml` next to the given template.yaml.
pub fn catalog_beside(template_path: &Path) -> PathBuf {
    template_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("templates/catalog.yaml")
}
