//! The marketer API on in-memory adapters: authorization on every route (walked from the
//! generated OpenAPI document, so a new route is covered the day it is added), onboarding,
//! template variables and preview, the campaign lifecycle, and problem details for bad input
//! and failing dependencies. The same router runs against the local AWS endpoint in
//! `infra/devtool/tests/api.rs` and under schemathesis (`make api-contract`).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use storecast::api::{ApiState, Claims};
use storecast::campaigns::{
    AssumeAvailable, AudienceLocation, CampaignEngine, CampaignPorts, Campaigns, CampaignsConfig,
    ChunkMessage,
};
use storecast::clock::SystemClock;
use storecast::deliverability::counters::FeedbackCounters as _;
use storecast::deliverability::suppression::{
    Suppression, SuppressionList as _, SuppressionReason,
};
use storecast::deliverability::unsubscribe::{LinkFor, MAX_TOKEN_AGE_SECONDS, Unsubscribes};
use storecast::directory::DeliveryDirectory as _;
use storecast::domain::{CampaignId, QuietHoursZone, TenantId, VariantId};
use storecast::onboarding::{Onboarding, OnboardingConfig};
use storecast::pipeline::publish::RetryPolicy;
use storecast::pipeline::redrive::RedriveWorker;
use storecast::templates::{Catalog, TemplateService};
use storecast::testing::MemoryRedriveJobs;
use storecast::testing::{
    MemoryArchive, MemoryAudienceSource, MemoryContactHistory, MemoryDirectory, MemorySendLog,
    MemoryStream,
};
use storecast::testing::{MemoryCampaignStore, MemoryChunkQueue};
use storecast::testing::{MemoryConfigStore, MemoryScoreStore};
use storecast::testing::{MemoryFeedbackCounters, MemorySendingWorkspaces, unsubscribe_signer};

const DOMAIN: &str = "mail.storecast.test";
const EXPORTS: &str = "exports";
const TEMPLATE: &str = "weekly-offers";

struct Harness {
    router: Router,
    directory: Arc<MemoryDirectory>,
    workspaces: Arc<MemorySendingWorkspaces>,
    source: Arc<MemoryAudienceSource>,
    queue: Arc<MemoryChunkQueue>,
    campaigns: Arc<Campaigns>,
    events: Arc<MemoryStream>,
    counters: Arc<MemoryFeedbackCounters>,
    scores: Arc<MemoryScoreStore>,
    email: Arc<storecast::testing::MemoryEmailProvider>,
    /// The delivery counters and usage the stats read.
    send_log: Arc<MemorySendLog>,
    /// The warm-up's state and day caps the deliverability report reads.
    warmup_store: Arc<storecast::testing::MemoryWarmupStore>,
    caps: Arc<storecast::testing::MemorySendCap>,
}

fn harness() -> Harness {
    let directory = Arc::new(MemoryDirectory::default());
    let workspaces = Arc::new(MemorySendingWorkspaces::new("storecast-test", DOMAIN));
    let redrive = RedriveWorker {
        archive: Arc::new(MemoryArchive::default()),
        stream: Arc::new(MemoryStream::default()),
        jobs: Arc::new(MemoryRedriveJobs::default()),
        clock: Arc::new(SystemClock),
        first_slice: storecast::pipeline::redrive::worker::START_SLICE,
    };
    let onboarding = Onboarding::new(
        workspaces.clone(),
        directory.clone(),
        OnboardingConfig {
            sending_domain: DOMAIN.into(),
            unsubscribe_base_url: "https://prefs.storecast.test/{tenant}/unsubscribe".into(),
        },
    )
    .with_redrive(redrive.clone())
    .with_push_applications(Arc::new(
        storecast::testing::MemoryPushApplications::default(),
    ));
    let source = Arc::new(MemoryAudienceSource::default());
    let queue = Arc::new(MemoryChunkQueue::default());
    let events = Arc::new(MemoryStream::default());
    let send_log = Arc::new(MemorySendLog::default());
    let send_log_for_lookup = send_log.clone();
    let send_log_for_stats = send_log.clone();
    let engine = CampaignEngine {
        source: source.clone(),
        suppression: directory.clone(),
        contacts: Arc::new(MemoryContactHistory::default()),
        availability: Arc::new(AssumeAvailable),
        events: events.clone(),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    };
    let campaigns = Arc::new(Campaigns::new(
        CampaignPorts {
            store: Arc::new(MemoryCampaignStore::syncing_status_to(directory.clone())),
            queue: queue.clone(),
            directory: directory.clone(),
            templates: directory.clone(),
            admin: directory.clone(),
            archive: redrive.archive.clone(),
            parked: Arc::new(storecast::testing::MemoryParkedCounts::default()),
            send_batches: redrive.stream.clone(),
            redrive_jobs: redrive.jobs.clone(),
            delivery: send_log.clone(),
            send_log,
            feedback: Arc::new(storecast::testing::MemoryFeedbackCounters::default()),
            engine: Arc::new(engine),
            clock: Arc::new(SystemClock),
        },
        CampaignsConfig {
            chunk_bytes: 4096,
            exports_bucket: Some(EXPORTS.into()),
            max_chunk_attempts: 3,
            chunk_retry: Default::default(),
            ..Default::default()
        },
    ));
    let counters = Arc::new(MemoryFeedbackCounters::default());
    let feedback_log = Arc::new(storecast::testing::MemoryFeedbackLog::new(
        send_log_for_lookup.clone(),
        counters.clone(),
    ));
    let scores = Arc::new(MemoryScoreStore::default());
    let (availability, availability_config) = storecast::wiring::availability_services(
        scores.clone(),
        Arc::new(MemoryConfigStore::default()),
    );
    let templates = Arc::new(
        TemplateService::new(directory.clone(), directory.clone(), unsubscribe_signer())
            .with_retailer_snippets(
                Arc::new(storecast::testing::MemoryRetailerSnippets::default()),
                storecast::templates::catalog::standard_snippets(),
            ),
    );
    let email = Arc::new(storecast::testing::MemoryEmailProvider::keeping_messages());
    let warmup_store = Arc::new(storecast::testing::MemoryWarmupStore::default());
    let caps = Arc::new(storecast::testing::MemorySendCap::default());
    let router = storecast::api::router(ApiState {
        deliverability: Arc::new(
            storecast::deliverability::report::DeliverabilityReports::new(
                storecast::deliverability::report::ReportPorts {
                    workspaces: directory.clone(),
                    feedback: counters.clone(),
                    warmup: warmup_store.clone(),
                    caps: caps.clone(),
                },
                Default::default(),
                Arc::new(SystemClock),
            ),
        ),
        onboarding: Arc::new(onboarding),
        test_sends: Arc::new(storecast::templates::TestSends::new(
            storecast::templates::test_send::TestSendPorts::new(
                templates.clone(),
                email.clone(),
                directory.clone(),
            ),
            DOMAIN,
        )),
        templates,
        campaigns: campaigns.clone(),
        suppressions: directory.clone(),
        workspaces: directory.clone(),
        unsubscribes: Arc::new(Unsubscribes::new(
            unsubscribe_signer(),
            directory.clone(),
            Some(counters.clone()),
            Arc::new(SystemClock),
        )),
        availability,
        availability_config,
        audience_uploads: Arc::new(storecast::campaigns::uploads::AudienceUploads::new(
            Arc::new(storecast::testing::MemoryUploadSigner::default()),
            EXPORTS,
            Arc::new(SystemClock),
        )),
        recipients: Arc::new(storecast::campaigns::recipients::RecipientLookup {
            send_log: send_log_for_lookup,
            feedback: feedback_log.clone(),
        }),
        audience_checks: Arc::new(storecast::campaigns::audience_check::AudienceChecks::new(
            source.clone(),
            EXPORTS,
        )),
        request_limit: None,
    });
    Harness {
        router,
        directory,
        workspaces,
        source,
        queue,
        campaigns,
        events,
        counters,
        scores,
        email,
        send_log: send_log_for_stats,
        warmup_store,
        caps,
    }
}

fn operator() -> Claims {
    claims(&[("sub", "ops"), ("role", "operator")])
}

fn marketer(tenant: &str) -> Claims {
    claims(&[("sub", "m"), ("role", "marketer"), ("tenant_id", tenant)])
}

fn claims(pairs: &[(&str, &str)]) -> Claims {
    Claims(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

struct Answer {
    status: StatusCode,
    content_type: String,
    location: Option<String>,
    body: Value,
}

impl Answer {
    fn location(&self) -> &str {
        self.location.as_deref().unwrap_or_default()
    }
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        caller: Option<Claims>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(match body {
                Some(body) => Body::from(body.to_string()),
                None => Body::empty(),
            })
            .unwrap();
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        self.send(request).await
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let header_text = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &http::HeaderValue| v.to_str().unwrap().to_string())
        };
        let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
        let location = header_text(header::LOCATION);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            content_type,
            location,
            body,
        }
    }

    async fn onboard(&self, tenant: &str) -> Answer {
        self.call(
            Method::PUT,
            &format!("/tenants/{tenant}"),
            Some(operator()),
            Some(json!({
                "display_name": format!("{tenant} store"),
                "slug": tenant,
                "settings": {"timezone": "Europe/Berlin", "brand": {"name": tenant}}
            })),
        )
        .await
    }

    /// The standard catalog, published to every onboarded retailer, as CI/CD deploys it.
    async fn deploy_templates(&self) {
        let catalog = Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/catalog.yaml"),
        )
        .unwrap();
        let report = storecast::templates::deploy::deploy(
            &catalog,
            self.directory.as_ref(),
            self.directory.as_ref(),
            &Default::default(),
        )
        .await
        .unwrap();
        assert!(report.is_success(), "{}", report.to_text());
    }

    fn put_audience(&self, tenant: &str, rows: usize) {
        let mut text = String::new();
        for i in 0..rows {
            text.push_str(
                &json!({
                    "id": format!("{tenant}-c{i}"),
                    "email": format!("c{i}@{tenant}.customers.test"),
                    "consent": {"email": i % 10 != 0},
                    "attributes": {"first_name": format!("C{i}"), "tier": if i % 3 == 0 { "bronze" } else { "gold" }},
                    "candidates": [{"item_id": "boots", "title": "Boots", "url": "https://s.test/b",
                                    "price": 90, "currency": "EUR", "score": 0.5}]
                })
                .to_string(),
            );
            text.push('\n');
        }
        text.push_str("{\"id\": \"broken\n");
        self.source.put(
            &AudienceLocation {
                bucket: EXPORTS.into(),
                key: format!("{tenant}/customers.jsonl"),
            },
            text.into_bytes(),
        );
    }

    /// Runs the launch queue's messages through the launch worker, as the SQS mapping does.
    async fn run_launch_queue(&self) {
        loop {
            let messages = self.queue.take();
            if messages.is_empty() {
                return;
            }
            let response = self
                .campaigns
                .handle_chunk_messages(sqs_event(&messages))
                .await;
            assert!(response.batch_item_failures.is_empty());
        }
    }
}

fn sqs_event(messages: &[ChunkMessage]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "messageId": format!("msg-{i}"),
                "receiptHandle": "r",
                "body": serde_json::to_string(m).unwrap(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:launch",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn campaign_body(id: &str, tenant: &str) -> Value {
    json!({
        "campaign_id": id,
        "name": "Spring edit",
        "template": {"id": TEMPLATE},
        "channel": "email",
        "audience": {
            "source": {"bucket": EXPORTS, "key": format!("{tenant}/customers.jsonl")},
            "rules": [{"op": "equals", "field": "tier", "value": "gold"}]
        },
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": 10.0,
        "offers": {"slots": 2}
    })
}

/// Two onboarded retailers with the standard templates and a draft campaign of the first.
async fn two_retailers() -> Harness {
    let h = harness();
    assert_eq!(h.onboard("alpine").await.status, StatusCode::CREATED);
    assert_eq!(h.onboard("harbor").await.status, StatusCode::CREATED);
    h.deploy_templates().await;
    h.put_audience("alpine", 60);
    let created = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(campaign_body("spring", "alpine")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.location(), "/tenants/alpine/campaigns/spring");
    h
}

/// Every operation of the generated document, with its path filled in.
fn operations(tenant: &str, campaign: &str) -> Vec<(Method, String, bool)> {
    let (_, document) = storecast::api::routes();
    let mut operations = Vec::new();
    for (path, item) in &document.paths.paths {
        let uri = path
            .replace("{tenant}", tenant)
            .replace("{campaign}", campaign)
            .replace("{template}", TEMPLATE)
            .replace("{name}", "text_footer")
            .replace("{platform}", "fcm")
            .replace("{customer}", "alpine-c1");
        for (method, operation) in [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ] {
            if path.starts_with(storecast::api::PUBLIC_PREFIX) {
                continue;
            }
            if let Some(operation) = operation {
                operations.push((method, uri.clone(), operation.request_body.is_some()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_route_refuses_other_retailers_and_anonymous_callers() {
    let h = two_retailers().await;
    let routes = operations("alpine", "spring");
    assert!(routes.len() >= 14, "only {} operations", routes.len());
    for (method, uri, takes_body) in &routes {
        let body = takes_body.then(|| json!({}));
        let foreign = h
            .call(method.clone(), uri, Some(marketer("harbor")), body.clone())
            .await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(foreign.content_type, "application/problem+json");
        let anonymous = h.call(method.clone(), uri, None, body.clone()).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
    // Alpine's campaign id under harbor's own path names nothing of harbor's.
    for (method, uri, takes_body) in operations("harbor", "spring") {
        if !uri.contains("/campaigns/spring") {
            continue;
        }
        let answer = h
            .call(
                method.clone(),
                &uri,
                Some(marketer("harbor")),
                takes_body.then(|| json!({})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {uri}");
    }
    // None of it touched alpine's campaign.
    let campaign = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(campaign.body["state"], "DRAFT");
    assert!(h.events.records().is_empty());
}

#[tokio::test]
async fn a_marketer_edits_and_deletes_a_draft_but_not_a_launched_campaign() {
    let h = two_retailers().await;
    let uri = "/tenants/alpine/campaigns/spring";
    let edited = h
        .call(
            Method::PATCH,
            uri,
            Some(marketer("alpine")),
            Some(json!({"revision": 1, "name": "Spring, edited", "holdout_percent": 0})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["name"], "Spring, edited");
    assert_eq!(edited.body["revision"], 2);
    let stale = h
        .call(
            Method::DELETE,
            &format!("{uri}?revision=1"),
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    let unknown_field = h
        .call(
            Method::PATCH,
            uri,
            Some(marketer("alpine")),
            Some(json!({"state": "SENT"})),
        )
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown_field.body
    );
    let deleted = h
        .call(
            Method::DELETE,
            &format!("{uri}?revision=2"),
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let gone = h
        .call(Method::GET, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    let created = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(campaign_body("summer", "alpine")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let summer = "/tenants/alpine/campaigns/summer";
    let launched = h
        .call(
            Method::POST,
            &format!("{summer}/launch"),
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(launched.status, StatusCode::ACCEPTED, "{}", launched.body);
    for (method, body) in [
        (Method::PATCH, Some(json!({"name": "Late"}))),
        (Method::DELETE, None),
    ] {
        let refused = h
            .call(method.clone(), summer, Some(marketer("alpine")), body)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{method}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn a_campaigns_quiet_hours_zone_round_trips_reaches_delivery_and_refuses_an_unknown_value() {
    let h = two_retailers().await;
    let mut body = campaign_body("night", "alpine");
    body["channel"] = json!("push");
    body["quiet_hours_zone"] = json!("customer");
    let created = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["definition"]["quiet_hours_zone"], "customer");
    let uri = "/tenants/alpine/campaigns/night";
    let read = h
        .call(Method::GET, uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(read.body["definition"]["quiet_hours_zone"], "customer");
    // Delivery reads it with the campaign's status, in the same read.
    let (alpine, night) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("night").unwrap(),
    );
    let context = h
        .directory
        .delivery_context(&alpine, &night, &[])
        .await
        .unwrap();
    assert_eq!(context.campaign_quiet_hours, QuietHoursZone::Customer);
    // Left out, it is the retailer's.
    let spring = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(spring.body["definition"]["quiet_hours_zone"], "retailer");

    for (method, uri, body) in [
        (
            Method::PATCH,
            uri.to_string(),
            json!({"quiet_hours_zone": "Customer"}),
        ),
        (Method::POST, "/tenants/alpine/campaigns".to_string(), {
            let mut body = campaign_body("moon", "alpine");
            body["quiet_hours_zone"] = json!("moon");
            body
        }),
    ] {
        let refused = h
            .call(method, &uri, Some(marketer("alpine")), Some(body))
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert_eq!(refused.body["errors"][0]["field"], "quiet_hours_zone");
    }

    let edited = h
        .call(
            Method::PATCH,
            uri,
            Some(marketer("alpine")),
            Some(json!({"quiet_hours_zone": "retailer"})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["definition"]["quiet_hours_zone"], "retailer");
    let context = h
        .directory
        .delivery_context(&alpine, &night, &[])
        .await
        .unwrap();
    assert_eq!(context.campaign_quiet_hours, QuietHoursZone::Retailer);
    // Another retailer cannot read it.
    let foreign = h
        .call(Method::GET, uri, Some(marketer("harbor")), None)
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.body);
}

#[tokio::test]
async fn a_marketer_reads_one_customers_messages_of_a_campaign() {
    let h = two_retailers().await;
    let answer = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring/recipients/alpine-c1",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["customer_id"], "alpine-c1");
    let channels = answer.body["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1, "{}", answer.body);
    assert_eq!(channels[0]["channel"], "email");
    assert_eq!(channels[0]["state"], "NOT_SENT", "a draft sent nothing");
    assert_eq!(channels[0]["message_id"].as_str().unwrap().len(), 32);
    for uri in [
        "/tenants/alpine/campaigns/nope/recipients/alpine-c1",
        "/tenants/alpine/campaigns/spring/recipients/bad%20id",
    ] {
        let refused = h
            .call(Method::GET, uri, Some(marketer("alpine")), None)
            .await;
        assert!(
            refused.status == StatusCode::NOT_FOUND || refused.status == StatusCode::BAD_REQUEST,
            "{uri}: {}",
            refused.status
        );
    }
}

#[tokio::test]
async fn a_cors_preflight_is_an_empty_204_that_reads_and_changes_nothing() {
    let h = two_retailers().await;
    for uri in [
        "/tenants/alpine/campaigns",
        "/tenants/alpine/audiences/uploads",
        "/tenants",
    ] {
        let preflight = h.call(Method::OPTIONS, uri, None, None).await;
        assert_eq!(preflight.status, StatusCode::NO_CONTENT, "{uri}");
        assert_eq!(preflight.body, Value::Null, "{uri}");
    }
    assert!(h.events.records().is_empty());
    assert!(h.queue.take().is_empty());
}

#[tokio::test]
async fn operators_list_retailers_a_page_at_a_time_and_marketers_cannot() {
    let h = two_retailers().await;
    assert_eq!(h.onboard("cove").await.status, StatusCode::CREATED);
    h.call(
        Method::POST,
        "/tenants/harbor/suspend",
        Some(operator()),
        None,
    )
    .await;

    let first = h
        .call(Method::GET, "/tenants?limit=2", Some(operator()), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let ids = |page: &Answer| -> Vec<String> {
        page.body["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ["alpine", "cove"]);
    assert_eq!(first.body["tenants"][0]["status"], "ACTIVE");
    assert_eq!(first.body["next_after"], "cove");
    let second = h
        .call(
            Method::GET,
            "/tenants?limit=2&after=cove",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(ids(&second), ["harbor"]);
    assert_eq!(second.body["tenants"][0]["status"], "SUSPENDED");
    assert!(second.body.get("next_after").is_none(), "the last page");

    let marketer = h
        .call(Method::GET, "/tenants", Some(marketer("alpine")), None)
        .await;
    assert_eq!(marketer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.call(Method::GET, "/tenants", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        "/tenants?limit=0",
        "/tenants?limit=101",
        "/tenants?after=a%23b",
    ] {
        let answer = h.call(Method::GET, bad, Some(operator()), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn only_operators_onboard_suspend_and_reinstate() {
    let h = two_retailers().await;
    for (method, uri) in [
        (Method::PUT, "/tenants/alpine"),
        (Method::POST, "/tenants/alpine/suspend"),
        (Method::POST, "/tenants/alpine/reinstate"),
    ] {
        let body = (method == Method::PUT).then(|| json!({"display_name": "x", "slug": "alpine"}));
        let answer = h
            .call(method.clone(), uri, Some(marketer("alpine")), body)
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("operators")
        );
    }
    let suspended = h
        .call(
            Method::POST,
            "/tenants/alpine/suspend",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(suspended.body["status"], "SUSPENDED");
    let reinstated = h
        .call(
            Method::POST,
            "/tenants/alpine/reinstate",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(reinstated.body["status"], "ACTIVE");
    assert_eq!(
        reinstated.body["redrive"]["state"], "DONE",
        "{}",
        reinstated.body
    );
}

#[tokio::test]
async fn an_operator_sets_a_retailers_push_application_and_a_marketer_cannot() {
    let h = two_retailers().await;
    let account = json!({
        "client_email": "push@alpine.iam", "private_key": "k", "project_id": "alpine"
    });
    let body = json!({ "service_account_json": account.to_string() });
    let uri = "/tenants/alpine/push/fcm";

    let marketer = h
        .call(
            Method::PUT,
            uri,
            Some(marketer("alpine")),
            Some(body.clone()),
        )
        .await;
    let unknown = h
        .call(
            Method::PUT,
            "/tenants/alpine/push/webos",
            Some(operator()),
            Some(body.clone()),
        )
        .await;
    let wrong = h
        .call(
            Method::PUT,
            "/tenants/alpine/push/apns",
            Some(operator()),
            Some(body.clone()),
        )
        .await;
    let set = h.call(Method::PUT, uri, Some(operator()), Some(body)).await;

    assert_eq!(marketer.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["errors"][0]["field"], "service_account_json");
    assert_eq!(set.status, StatusCode::OK);
    let arn = set.body["push_applications"]["fcm"].as_str().unwrap();
    assert!(arn.ends_with("storecast-alpine-fcm"), "{arn}");
    let harbor = h
        .call(Method::GET, "/tenants/harbor", Some(operator()), None)
        .await;
    assert!(harbor.body.get("push_applications").is_none());
}

#[tokio::test]
async fn onboarding_is_idempotent_and_each_retailer_gets_its_own_workspace() {
    let h = harness();
    let first = h.onboard("alpine").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body["from_address"], format!("alpine@{DOMAIN}"));
    let again = h.onboard("alpine").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    h.onboard("harbor").await;
    let workspaces = h.workspaces.workspaces();
    assert_eq!(workspaces.len(), 2, "a re-PUT provisions nothing new");
    let alpine = h
        .call(
            Method::GET,
            "/tenants/alpine",
            Some(marketer("alpine")),
            None,
        )
        .await;
    let harbor = h
        .call(
            Method::GET,
            "/tenants/harbor",
            Some(marketer("harbor")),
            None,
        )
        .await;
    for field in ["configuration_set", "ses_tenant", "from_address"] {
        assert_ne!(alpine.body[field], harbor.body[field], "{field}");
    }
    // Another retailer may not take alpine's slug (it is alpine's from-address).
    let taken = h
        .call(
            Method::PUT,
            "/tenants/copycat",
            Some(operator()),
            Some(json!({"display_name": "Copycat", "slug": "alpine"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    // A marketer patches the brand variables (merge patch: null removes).
    let patched = h
        .call(
            Method::PATCH,
            "/tenants/alpine",
            Some(marketer("alpine")),
            Some(json!({"brand": {"logo_url": "https://cdn.test/logo.png", "name": null}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        patched.body["settings"]["brand"],
        json!({"logo_url": "https://cdn.test/logo.png"})
    );
    // What only operators change (the sender's name, the status) is a 403 naming the fields.
    let renamed = h
        .call(
            Method::PATCH,
            "/tenants/alpine",
            Some(marketer("alpine")),
            Some(json!({"display_name": "Not Alpine", "status": "ACTIVE"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::FORBIDDEN, "{}", renamed.body);
    assert_eq!(
        renamed.body["type"],
        "https://storecast.dev/problems/operator-only-field"
    );
    assert_eq!(renamed.body["errors"][0]["field"], "display_name");
    assert_eq!(renamed.body["errors"][1]["field"], "status");
    let by_operator = h
        .call(
            Method::PATCH,
            "/tenants/alpine",
            Some(operator()),
            Some(json!({"display_name": "Alpine Outfitters AG"})),
        )
        .await;
    assert_eq!(by_operator.status, StatusCode::OK, "{}", by_operator.body);
    assert_eq!(by_operator.body["display_name"], "Alpine Outfitters AG");
    assert_eq!(
        by_operator.body["settings"]["brand"],
        json!({"logo_url": "https://cdn.test/logo.png"})
    );
    let status_by_operator = h
        .call(
            Method::PATCH,
            "/tenants/alpine",
            Some(operator()),
            Some(json!({"status": "SUSPENDED"})),
        )
        .await;
    assert_eq!(status_by_operator.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status_by_operator.body["errors"][0]["field"], "status");
    let bad_zone = h
        .call(
            Method::PATCH,
            "/tenants/alpine",
            Some(marketer("alpine")),
            Some(json!({"timezone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(bad_zone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_zone.body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .contains("timezone")
    );
}

#[tokio::test]
async fn template_variables_are_checked_saved_and_previewed_as_delivery_renders() {
    let h = two_retailers().await;
    let uri = format!("/tenants/alpine/templates/{TEMPLATE}/variables");
    let before = h
        .call(Method::GET, &uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let live = before.body["live_version"].as_u64().unwrap();

    let unknown = h
        .call(
            Method::PUT,
            &uri,
            Some(marketer("alpine")),
            Some(json!({"variables": {"subject_lien": "typo"}})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["errors"][0]["field"], "variables.subject_lien");
    let wrong_type = h
        .call(
            Method::PUT,
            &uri,
            Some(marketer("alpine")),
            Some(json!({"variables": {"brand_color": "green-ish"}})),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);

    let saved = h
        .call(
            Method::PUT,
            &uri,
            Some(marketer("alpine")),
            Some(json!({"variables": {"subject_line": "the alpine winter sale"}})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["live_version"].as_u64().unwrap(), live + 1);
    assert_eq!(
        saved.body["effective"]["subject_line"],
        "the alpine winter sale"
    );
    // Harbor's template is untouched.
    let harbor = h
        .call(
            Method::GET,
            &format!("/tenants/harbor/templates/{TEMPLATE}/variables"),
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_ne!(
        harbor.body["effective"]["subject_line"],
        "the alpine winter sale"
    );

    let preview_uri = format!("/tenants/alpine/templates/{TEMPLATE}/preview");
    let preview = h
        .call(
            Method::POST,
            &preview_uri,
            Some(marketer("alpine")),
            Some(json!({
                "variables": {"headline": "Draft headline"},
                "customer": {"email": "ana@example.com", "fields": {"first_name": "Ana"}}
            })),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body["subject"]
            .as_str()
            .unwrap()
            .starts_with("Ana, the alpine winter sale"),
        "{}",
        preview.body["subject"]
    );
    assert!(
        preview.body["html"]
            .as_str()
            .unwrap()
            .contains("Draft headline")
    );
    assert!(preview.body["text"].as_str().unwrap().contains("Ana"));
    assert!(preview.body["push"]["title"].is_string());
    // The draft was not saved.
    let after = h
        .call(Method::GET, &uri, Some(marketer("alpine")), None)
        .await;
    assert_eq!(after.body["live_version"].as_u64().unwrap(), live + 1);
    assert_ne!(after.body["effective"]["headline"], "Draft headline");
}

#[tokio::test]
async fn a_campaign_is_created_launched_in_chunks_and_counted() {
    let h = two_retailers().await;
    let duplicate = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(campaign_body("spring", "alpine")),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let foreign_export = h
        .call(
            Method::POST,
            "/tenants/harbor/campaigns",
            Some(marketer("harbor")),
            Some(campaign_body("steal", "alpine")),
        )
        .await;
    assert_eq!(foreign_export.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        foreign_export.body["errors"][0]["field"],
        "audience.source.key"
    );

    let launched = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns/spring/launch",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(launched.status, StatusCode::ACCEPTED, "{}", launched.body);
    assert_eq!(launched.body["state"], "LAUNCHING");
    assert!(launched.body["launch_id"].is_string());
    let again = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns/spring/launch",
            Some(marketer("alpine")),
            None,
        )
        .await;
    // A repeated launch request is the same launch, not a second one.
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["launch_id"], launched.body["launch_id"]);

    h.run_launch_queue().await;
    let stats = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring/stats",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK);
    let body = &stats.body;
    assert_eq!(body["rows"], 61);
    assert_eq!(body["skipped"]["malformed"], 1);
    assert_eq!(body["skipped"]["not_consented"], 6);
    let matched: u64 = body["matched"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let held_out = body["held_out"].as_u64().unwrap();
    let not_in_segment = body["skipped"]["not_in_segment"].as_u64().unwrap();
    assert_eq!(matched + held_out + not_in_segment + 6, 60);
    assert_eq!(body["events_emitted"].as_u64().unwrap(), matched);
    assert_eq!(h.events.records().len() as u64, matched);
    assert_eq!(
        body["progress"]["chunks_done"],
        body["progress"]["chunks_total"]
    );

    let paused = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns/spring/pause",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["state"], "PAUSED");
    let resumed = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns/spring/resume",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let stats = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring/stats",
            Some(marketer("alpine")),
            None,
        )
        .await;
    // Nothing was parked (no delivery here): the resume's redrive job ended in its first slice.
    let redrive = &stats.body["redrive"];
    assert_eq!(redrive["state"], "DONE", "{}", stats.body);
    assert_eq!(
        (redrive["batches"].as_u64(), redrive["passes"].as_u64()),
        (Some(0), Some(1))
    );
    let cancelled = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns/spring/cancel",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(cancelled.body["state"], "CANCELLED");
    let list = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns?limit=10",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(list.body["campaigns"].as_array().unwrap().len(), 1);
    let harbor_list = h
        .call(
            Method::GET,
            "/tenants/harbor/campaigns",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert!(harbor_list.body["campaigns"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_requests_get_problem_details_that_name_the_fault() {
    let h = two_retailers().await;
    let uri = "/tenants/alpine/campaigns";
    let raw = |body: &'static str, content_type: Option<&str>| {
        let mut request = Request::builder().method(Method::POST).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let mut request = request.body(Body::from(body)).unwrap();
        request.extensions_mut().insert(marketer("alpine"));
        request
    };
    let malformed = h
        .send(raw("{\"campaign_id\": ", Some("application/json")))
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.content_type, "application/problem+json");
    let not_json = h.send(raw("{}", Some("text/plain"))).await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let mut body = campaign_body("autumn", "alpine");
    body["variants"][1]["weight"] = json!("heavy");
    let wrong_type = h
        .call(Method::POST, uri, Some(marketer("alpine")), Some(body))
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_type.body["errors"][0]["field"], "variants[1].weight");
    let mut body = campaign_body("autumn", "alpine");
    body["holdout_percent"] = json!(75.0);
    let out_of_range = h
        .call(Method::POST, uri, Some(marketer("alpine")), Some(body))
        .await;
    assert_eq!(out_of_range.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(out_of_range.body["errors"][0]["field"], "holdout_percent");
    let mut body = campaign_body("autumn", "alpine");
    body["surprise"] = json!(1);
    let unknown = h
        .call(Method::POST, uri, Some(marketer("alpine")), Some(body))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    let bad_id = h
        .call(
            Method::GET,
            "/tenants/al%23pine/campaigns",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    let no_route = h
        .call(Method::GET, "/nowhere", Some(operator()), None)
        .await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
    assert_eq!(no_route.content_type, "application/problem+json");
    let wrong_method = h
        .call(Method::DELETE, "/tenants/alpine", Some(operator()), None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    let bad_limit = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns?limit=0",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(bad_limit.status, StatusCode::BAD_REQUEST);

    let broken_liquid = h
        .call(
            Method::POST,
            &format!("/tenants/alpine/templates/{TEMPLATE}/preview"),
            Some(marketer("alpine")),
            Some(json!({"variables": {"headline": "{% if %}"}})),
        )
        .await;
    // Variables are values, not markup: a Liquid-looking value renders as text.
    assert_eq!(
        broken_liquid.status,
        StatusCode::OK,
        "{}",
        broken_liquid.body
    );
    let missing_template = h
        .call(
            Method::GET,
            "/tenants/alpine/templates/no-such-template/variables",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(missing_template.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failing_dependency_is_a_retryable_503_without_internals() {
    let h = two_retailers().await;
    h.directory.set_unavailable(true);
    let answer = h
        .call(
            Method::GET,
            "/tenants/alpine",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["retryable"], true);
    assert!(!answer.body["detail"].as_str().unwrap().contains("memory"));
}

#[tokio::test]
async fn the_openapi_document_is_public_and_lists_every_route_with_its_problems() {
    let h = harness();
    let answer = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let paths = answer.body["paths"].as_object().unwrap();
    for path in [
        "/tenants/{tenant}",
        "/tenants/{tenant}/suspend",
        "/tenants/{tenant}/reinstate",
        "/tenants/{tenant}/templates/{template}/variables",
        "/tenants/{tenant}/templates/{template}/preview",
        "/tenants/{tenant}/campaigns",
        "/tenants/{tenant}/campaigns/{campaign}",
        "/tenants/{tenant}/campaigns/{campaign}/launch",
        "/tenants/{tenant}/campaigns/{campaign}/pause",
        "/tenants/{tenant}/campaigns/{campaign}/resume",
        "/tenants/{tenant}/campaigns/{campaign}/cancel",
        "/tenants/{tenant}/campaigns/{campaign}/stats",
    ] {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for (_, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("401") && responses.contains_key("403"));
        }
    }
    assert_eq!(
        answer.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn ids_with_a_dot_are_refused_at_the_edge_and_the_schema_says_which_ids_are_valid() {
    let h = harness();
    for uri in [
        "/tenants/alpine.outfitters/campaigns",
        "/tenants/alpine/campaigns/spring.sale",
    ] {
        let answer = h.call(Method::GET, uri, Some(operator()), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
    }
    let document = h.call(Method::GET, "/openapi.json", None, None).await.body;
    let parameters =
        &document["paths"]["/tenants/{tenant}/campaigns/{campaign}"]["get"]["parameters"];
    for (name, max_length) in [("tenant", 64), ("campaign", 64)] {
        let parameter = parameters
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        assert_eq!(parameter["schema"]["pattern"], "^[A-Za-z0-9_-]+$", "{name}");
        assert_eq!(parameter["schema"]["maxLength"], max_length, "{name}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let h = two_retailers().await;
    let huge = "x".repeat(storecast::api::MAX_BODY_BYTES + 1);
    let answer = h
        .call(
            Method::POST,
            &format!("/tenants/alpine/templates/{TEMPLATE}/preview"),
            Some(marketer("alpine")),
            Some(json!({"variables": {"headline": huge}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.content_type, "application/problem+json");
}

#[tokio::test]
async fn a_marketer_gets_an_upload_url_for_a_fresh_key_under_its_own_prefix_that_a_campaign_accepts()
 {
    let h = two_retailers().await;
    let answer = h
        .call(
            Method::POST,
            "/tenants/alpine/audiences/uploads",
            Some(marketer("alpine")),
            Some(json!({"gzip": false})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let key = answer.body["key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("alpine/uploads/") && key.ends_with(".jsonl"),
        "{key}"
    );
    assert_eq!(answer.body["bucket"], EXPORTS);
    assert_eq!(answer.body["method"], "PUT");
    assert_eq!(answer.body["content_type"], "application/x-ndjson");

    // The key it names is one a campaign may read its audience from.
    let mut campaign = campaign_body("from-upload", "alpine");
    campaign["audience"]["source"] = json!({"bucket": EXPORTS, "key": key});
    let created = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(campaign),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let unknown_field = h
        .call(
            Method::POST,
            "/tenants/alpine/audiences/uploads",
            Some(marketer("alpine")),
            Some(json!({"bucket": "elsewhere"})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_uploaded_export_gets_its_parse_report_with_the_malformed_rows_lines() {
    let h = two_retailers().await;
    let report = h
        .call(
            Method::GET,
            "/tenants/alpine/audiences/report?key=alpine/customers.jsonl",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["rows"], 61);
    assert_eq!(report.body["malformed"], 1);
    assert_eq!(
        report.body["email_reachable"], 54,
        "every tenth row has no consent"
    );
    assert_eq!(report.body["malformed_rows"][0]["line"], 61);
    assert_eq!(report.body["complete"], true);

    let missing = h
        .call(
            Method::GET,
            "/tenants/alpine/audiences/report?key=alpine/uploads/none.jsonl",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Harbor reaches neither alpine's path nor, through its own, alpine's key.
    for (uri, status) in [
        (
            "/tenants/alpine/audiences/report?key=alpine/customers.jsonl",
            StatusCode::FORBIDDEN,
        ),
        (
            "/tenants/harbor/audiences/report?key=alpine/customers.jsonl",
            StatusCode::BAD_REQUEST,
        ),
        ("/tenants/harbor/audiences/report", StatusCode::BAD_REQUEST),
    ] {
        let answer = h
            .call(Method::GET, uri, Some(marketer("harbor")), None)
            .await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_preview_renders_for_a_customer_picked_from_an_uploaded_export() {
    let h = two_retailers().await;
    let sample_uri = |seed: u64| {
        format!("/tenants/alpine/audiences/sample?key=alpine/customers.jsonl&seed={seed}")
    };
    let sample = h
        .call(Method::GET, &sample_uri(11), Some(marketer("alpine")), None)
        .await;
    assert_eq!(sample.status, StatusCode::OK, "{}", sample.body);
    let id = sample.body["customer_id"].as_str().unwrap().to_string();
    let i: u64 = id.strip_prefix("alpine-c").unwrap().parse().unwrap();
    assert!(i < 60, "{id}");
    assert_eq!(sample.body["line"], i + 1);
    assert_eq!(sample.body["email"], format!("c{i}@alpine.customers.test"));
    assert_eq!(sample.body["fields"]["first_name"], format!("C{i}"));
    assert_eq!(sample.body["consent"]["email"], !i.is_multiple_of(10));
    assert_eq!(sample.body["rows"], 60, "the broken last row is skipped");
    assert_eq!(sample.body["malformed"], 1);
    assert_eq!(sample.body["seed"], 11);
    let again = h
        .call(Method::GET, &sample_uri(11), Some(marketer("alpine")), None)
        .await;
    assert_eq!(
        again.body, sample.body,
        "the same seed picks the same customer"
    );
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let other = h
            .call(
                Method::GET,
                &sample_uri(seed),
                Some(marketer("alpine")),
                None,
            )
            .await;
        seen.insert(other.body["customer_id"].as_str().unwrap().to_string());
    }
    assert!(seen.len() > 5, "new seeds pick other customers: {seen:?}");

    // The answer is a preview's customer as it stands.
    let preview = h
        .call(
            Method::POST,
            &format!("/tenants/alpine/templates/{TEMPLATE}/preview"),
            Some(marketer("alpine")),
            Some(json!({"customer": sample.body})),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let subject = preview.body["subject"].as_str().unwrap();
    assert!(subject.starts_with(&format!("C{i}, ")), "{subject}");

    // Harbor reaches neither alpine's path nor, through its own, alpine's key.
    for (uri, status) in [
        (sample_uri(1), StatusCode::FORBIDDEN),
        (
            "/tenants/harbor/audiences/sample?key=alpine/customers.jsonl".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/tenants/harbor/audiences/sample?key=harbor/none.jsonl".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/tenants/harbor/audiences/sample".into(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = h
            .call(Method::GET, &uri, Some(marketer("harbor")), None)
            .await;
        assert_eq!(answer.status, status, "{uri}: {}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json");
    }

    // An export without a well-formed row is a 422 that says so.
    for (key, text) in [
        ("harbor/empty.jsonl", ""),
        ("harbor/broken.jsonl", "{\"id\": \"broken\nnot json\n"),
    ] {
        let location = AudienceLocation {
            bucket: EXPORTS.into(),
            key: key.into(),
        };
        h.source.put(&location, text.as_bytes().to_vec());
        let answer = h
            .call(
                Method::GET,
                &format!("/tenants/harbor/audiences/sample?key={key}"),
                Some(marketer("harbor")),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{key}");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("no well-formed customer"), "{detail}");
    }
}

#[test]
fn every_operation_has_its_own_id_for_client_generators() {
    let (_, document) = storecast::api::routes();
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.put, &item.post, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            let id = operation.operation_id.clone().unwrap_or_default();
            if let Some(other) = seen.insert(id.clone(), path.clone()) {
                panic!("operation id {id:?} names an operation of {other} and of {path}");
            }
        }
    }
}

/// A raw answer: the unsubscribe routes answer HTML.
struct RawAnswer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Harness {
    async fn raw(&self, request: Request<Body>) -> RawAnswer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        RawAnswer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn unsubscribe_post(&self, uri: &str, content_type: &str, body: &str) -> RawAnswer {
        self.raw(
            Request::post(uri)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn suppressed(&self, tenant: &str, address: &str) -> Option<Suppression> {
        self.directory
            .get(&TenantId::parse(tenant).unwrap(), address)
            .await
            .unwrap()
    }
}

fn link_token(tenant: &str, address: &str, issued_at: i64) -> String {
    unsubscribe_signer()
        .sign(&LinkFor {
            tenant: &TenantId::parse(tenant).unwrap(),
            campaign: &CampaignId::parse("spring").unwrap(),
            variant: &VariantId::parse("A").unwrap(),
            address,
            issued_at,
        })
        .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn the_unsubscribe_page_changes_nothing_and_the_one_click_post_suppresses_once() {
    let h = two_retailers().await;
    let token = link_token("alpine", "zoe@example.com", now());
    let uri = format!("/unsubscribe/alpine/{token}");
    // No token of a marketer, no cookie: the signed link is enough.
    let page = h.raw(Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.body.contains("<form method=\"post\">"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("name=\"List-Unsubscribe\" value=\"One-Click\"")
    );
    assert!(page.body.contains("z**@example.com") && !page.body.contains("zoe@"));
    assert_eq!(
        h.suppressed("alpine", "zoe@example.com").await,
        None,
        "GET changes nothing"
    );

    for _ in 0..2 {
        let done = h
            .unsubscribe_post(
                &uri,
                "application/x-www-form-urlencoded",
                "List-Unsubscribe=One-Click",
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.headers.get(header::LOCATION).is_none());
        assert_eq!(done.headers[header::CACHE_CONTROL], "no-store");
    }
    let entry = h.suppressed("alpine", "zoe@example.com").await.unwrap();
    assert_eq!(entry.reason, SuppressionReason::Unsubscribed);
    assert_eq!(entry.detail.as_deref(), Some("spring"));
    let counts = h
        .counters
        .campaign_counts(
            &TenantId::parse("alpine").unwrap(),
            &CampaignId::parse("spring").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(counts[0].1.unsubscribed, 1, "counted once");
    assert_eq!(h.suppressed("harbor", "zoe@example.com").await, None);
}

#[tokio::test]
async fn a_multipart_one_click_post_is_accepted_and_another_body_is_not() {
    let h = two_retailers().await;
    let uri = format!(
        "/unsubscribe/alpine/{}",
        link_token("alpine", "bo@example.com", now())
    );
    let wrong = h
        .unsubscribe_post(
            &uri,
            "application/x-www-form-urlencoded",
            "List-Unsubscribe=Maybe",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.suppressed("alpine", "bo@example.com").await, None);
    let body = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
    let done = h
        .unsubscribe_post(&uri, "multipart/form-data; boundary=b", body)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(h.suppressed("alpine", "bo@example.com").await.is_some());
}

#[tokio::test]
async fn forged_expired_and_other_tenants_links_are_refused_and_suppress_nothing() {
    let h = two_retailers().await;
    let good = link_token("alpine", "zoe@example.com", now());
    let mut forged = good.clone().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let expired = link_token(
        "alpine",
        "zoe@example.com",
        now() - MAX_TOKEN_AGE_SECONDS - 60,
    );
    let cases = [
        (
            format!("/unsubscribe/alpine/{forged}"),
            StatusCode::FORBIDDEN,
        ),
        (format!("/unsubscribe/alpine/{expired}"), StatusCode::GONE),
        (format!("/unsubscribe/harbor/{good}"), StatusCode::FORBIDDEN),
        (
            "/unsubscribe/alpine/not-a-token".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/unsubscribe/al.pine/{good}"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (uri, status) in &cases {
        let page = h.raw(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(page.status, *status, "GET {uri}");
        let post = h
            .unsubscribe_post(
                uri,
                "application/x-www-form-urlencoded",
                "List-Unsubscribe=One-Click",
            )
            .await;
        assert_eq!(post.status, *status, "POST {uri}");
        assert_eq!(
            post.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(!post.body.contains(&good), "the token is not echoed");
    }
    for tenant in ["alpine", "harbor"] {
        assert_eq!(h.suppressed(tenant, "zoe@example.com").await, None);
    }
}

#[tokio::test]
async fn a_retailer_lists_adds_removes_and_imports_its_suppressions_and_no_one_elses() {
    let h = two_retailers().await;
    let alpine = || Some(marketer("alpine"));
    let added = h
        .call(
            Method::PUT,
            "/tenants/alpine/suppressions/Ann@Example.com",
            alpine(),
            None,
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["address"], "ann@example.com");
    assert_eq!(added.body["reason"], "MANUAL");
    let again = h
        .call(
            Method::PUT,
            "/tenants/alpine/suppressions/ann@example.com",
            alpine(),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let bad = h
        .call(
            Method::PUT,
            "/tenants/alpine/suppressions/not-an-address",
            alpine(),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let import = h
        .send(
            Request::post("/tenants/alpine/suppressions/import")
                .header(header::CONTENT_TYPE, "text/csv")
                .extension(marketer("alpine"))
                .body(Body::from(
                    "email\nbo@example.com\nann@example.com\nbroken\ncy@example.com\n",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(import.status, StatusCode::OK, "{}", import.body);
    assert_eq!(import.body["added"], 2);
    assert_eq!(import.body["already_present"], 1);
    assert_eq!(import.body["invalid"][0]["line"], 4);

    // Refusals are problem documents: an empty import, a limit that is no number.
    let empty = h
        .send(
            Request::post("/tenants/alpine/suppressions/import")
                .header(header::CONTENT_TYPE, "text/csv")
                .extension(marketer("alpine"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.body
    );
    let negative = h
        .call(
            Method::GET,
            "/tenants/alpine/suppressions?limit=-1",
            alpine(),
            None,
        )
        .await;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST);
    assert!(
        negative.body["detail"].as_str().is_some(),
        "{}",
        negative.body
    );

    let first = h
        .call(
            Method::GET,
            "/tenants/alpine/suppressions?limit=2",
            alpine(),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let addresses: Vec<&str> = first.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["ann@example.com", "bo@example.com"]);
    let next = first.body["next_after"].as_str().unwrap();
    let rest = h
        .call(
            Method::GET,
            &format!("/tenants/alpine/suppressions?limit=2&after={next}"),
            alpine(),
            None,
        )
        .await;
    assert_eq!(rest.body["entries"][0]["address"], "cy@example.com");
    assert_eq!(
        h.call(
            Method::GET,
            "/tenants/alpine/suppressions?limit=0",
            alpine(),
            None
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    // Harbor's marketer can neither see nor change alpine's list; harbor's own list is empty.
    for (method, uri) in [
        (Method::GET, "/tenants/alpine/suppressions"),
        (
            Method::DELETE,
            "/tenants/alpine/suppressions/ann@example.com",
        ),
        (Method::PUT, "/tenants/alpine/suppressions/eve@example.com"),
    ] {
        let refused = h
            .call(method.clone(), uri, Some(marketer("harbor")), None)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    let harbor = h
        .call(
            Method::GET,
            "/tenants/harbor/suppressions",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(harbor.body["entries"], json!([]));
    assert!(h.suppressed("alpine", "ann@example.com").await.is_some());
    assert_eq!(h.suppressed("alpine", "eve@example.com").await, None);

    let removed = h
        .call(
            Method::DELETE,
            "/tenants/alpine/suppressions/ann@example.com",
            alpine(),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = h
        .call(
            Method::DELETE,
            "/tenants/alpine/suppressions/ann@example.com",
            alpine(),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

// Availability: the lookup and the configuration routes, and the two roles that reach them.

fn data_scientist(tenant: &str) -> Claims {
    claims(&[
        ("sub", "ds@alpine"),
        ("role", "data_scientist"),
        ("tenant_id", tenant),
    ])
}

fn service(tenant: &str) -> Claims {
    claims(&[
        ("sub", "search"),
        ("role", "service"),
        ("tenant_id", tenant),
    ])
}

fn availability_config(threshold: f64) -> Value {
    json!({
        "models": [{"model": "m1", "column": "a", "base_threshold": threshold}],
        "default_column": "a",
        "deltas": [{"segment": "category", "value": "shoes", "delta": 0.2}],
        "missing_score": "unavailable"
    })
}

impl Harness {
    async fn score(&self, tenant: &str, store: &str, item: &str, value: f64) {
        use storecast::availability::{ColumnScore, Score, ScoreKey, ScoreStore as _, ScoreWrite};
        use storecast::domain::{ItemId, ScoreColumn, StoreId};
        let tenant = TenantId::parse(tenant).unwrap();
        let store = StoreId::parse(store).unwrap();
        self.scores
            .record_stores(&tenant, std::slice::from_ref(&store))
            .await
            .unwrap();
        let write = ScoreWrite {
            key: ScoreKey {
                store,
                item: ItemId::parse(item).unwrap(),
            },
            column: ScoreColumn::parse("a").unwrap(),
            value: ColumnScore {
                score: Score::new(value).unwrap(),
                computed_at: time::OffsetDateTime::now_utc(),
            },
        };
        self.scores.write(&tenant, &[write]).await.unwrap();
    }

    async fn configure(&self, tenant: &str, threshold: f64, expected: Option<u64>) -> Answer {
        self.call(
            Method::PUT,
            &format!("/tenants/{tenant}/availability/config"),
            Some(data_scientist(tenant)),
            Some(json!({
                "config": availability_config(threshold),
                "reason": "calibrated on October",
                "expected_version": expected
            })),
        )
        .await
    }

    async fn look_up(&self, tenant: &str, caller: Claims, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/tenants/{tenant}/availability"),
            Some(caller),
            Some(body),
        )
        .await
    }
}

fn boots_and_hat() -> Value {
    json!({
        "store_id": "berlin-1",
        "user_id": "alpine-c1",
        "items": [{"item_id": "boots", "category": "shoes"}, {"item_id": "hat"}]
    })
}

#[tokio::test]
async fn the_availability_roles_reach_only_the_availability_routes() {
    let h = two_retailers().await;
    for (caller, allowed) in [
        (
            service("alpine"),
            &["POST /tenants/alpine/availability"][..],
        ),
        (
            data_scientist("alpine"),
            &[
                "POST /tenants/alpine/availability",
                "GET /tenants/alpine/availability/config",
                "PUT /tenants/alpine/availability/config",
                "GET /tenants/alpine/availability/config/history",
                "POST /tenants/alpine/availability/config/rollback",
            ][..],
        ),
    ] {
        for (method, uri, takes_body) in operations("alpine", "spring") {
            let answer = h
                .call(
                    method.clone(),
                    &uri,
                    Some(caller.clone()),
                    takes_body.then(|| json!({})),
                )
                .await;
            let route = format!("{method} {uri}");
            if allowed.contains(&route.as_str()) {
                assert_ne!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{route}: {}",
                    answer.body
                );
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{route}");
                assert_eq!(answer.content_type, "application/problem+json");
            }
        }
    }
    // Nothing of the workspace moved.
    assert!(h.events.records().is_empty());
}

#[tokio::test]
async fn a_service_looks_availability_up_and_is_refused_a_campaign() {
    let h = two_retailers().await;
    assert_eq!(
        h.configure("alpine", 0.5, None).await.status,
        StatusCode::CREATED
    );
    h.score("alpine", "berlin-1", "boots", 0.65).await;
    h.score("alpine", "berlin-1", "hat", 0.55).await;

    let answer = h
        .look_up("alpine", service("alpine"), boots_and_hat())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["store_id"], "berlin-1");
    assert_eq!(answer.body["config_version"], 1);
    let boots = &answer.body["items"][0];
    assert_eq!(boots["item_id"], "boots");
    assert_eq!(boots["available"], false, "0.65 is below 0.5 + 0.2");
    assert_eq!(boots["score"], 0.65);
    assert_eq!(boots["threshold"], 0.7);
    assert_eq!(boots["model"], "m1");
    assert_eq!(boots["column"], "a");
    assert_eq!(
        boots["deltas"],
        json!([{"segment": "category", "value": "shoes", "delta": 0.2}])
    );
    assert!(boots["computed_at"].is_string());
    assert_eq!(answer.body["items"][1]["available"], true);

    let campaigns = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns",
            Some(service("alpine")),
            None,
        )
        .await;
    assert_eq!(campaigns.status, StatusCode::FORBIDDEN);
    assert_eq!(campaigns.content_type, "application/problem+json");
    // Marketers may look up too; a service of another retailer may not.
    let marketer = h
        .look_up("alpine", marketer("alpine"), boots_and_hat())
        .await;
    assert_eq!(marketer.status, StatusCode::OK);
    let foreign = h
        .look_up("alpine", service("harbor"), boots_and_hat())
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_data_scientist_changes_their_own_retailers_configuration_only() {
    let h = two_retailers().await;
    let first = h.configure("alpine", 0.5, None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["version"], 1);
    assert_eq!(
        first.body["change"]["author"], "ds@alpine",
        "the token's subject"
    );
    assert_eq!(first.body["change"]["reason"], "calibrated on October");

    let foreign = h
        .call(
            Method::PUT,
            "/tenants/harbor/availability/config",
            Some(data_scientist("alpine")),
            Some(json!({"config": availability_config(0.1), "reason": "x"})),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let foreign_read = h
        .call(
            Method::GET,
            "/tenants/harbor/availability/config",
            Some(data_scientist("alpine")),
            None,
        )
        .await;
    assert_eq!(foreign_read.status, StatusCode::FORBIDDEN);
    let by_marketer = h
        .call(
            Method::PUT,
            "/tenants/alpine/availability/config",
            Some(marketer("alpine")),
            Some(json!({"config": availability_config(0.1), "reason": "x", "expected_version": 1})),
        )
        .await;
    assert_eq!(
        by_marketer.status,
        StatusCode::FORBIDDEN,
        "marketers only read it"
    );
    let read = h
        .call(
            Method::GET,
            "/tenants/alpine/availability/config",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, first.body);
    let unconfigured = h
        .call(
            Method::GET,
            "/tenants/harbor/availability/config",
            Some(marketer("harbor")),
            None,
        )
        .await;
    assert_eq!(unconfigured.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unconfigured.body["type"],
        "https://storecast.dev/problems/availability-not-configured"
    );
}

#[tokio::test]
async fn configuration_changes_are_versioned_conflicts_refused_and_rollbacks_recorded() {
    let h = two_retailers().await;
    h.score("alpine", "berlin-1", "hat", 0.55).await;
    h.configure("alpine", 0.5, None).await;
    let second = h.configure("alpine", 0.6, Some(1)).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["version"], 2);
    let hat = |answer: &Answer| answer.body["items"][1]["available"].clone();
    let now = h
        .look_up("alpine", service("alpine"), boots_and_hat())
        .await;
    assert_eq!(
        hat(&now),
        false,
        "the change is in effect at once: 0.55 < 0.6"
    );

    let stale = h.configure("alpine", 0.7, Some(1)).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.content_type, "application/problem+json");
    let again = h.configure("alpine", 0.7, None).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "no version means none expected"
    );

    let invalid = h
        .call(
            Method::PUT,
            "/tenants/alpine/availability/config",
            Some(data_scientist("alpine")),
            Some(json!({"config": availability_config(1.5), "reason": "x", "expected_version": 2})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.body["errors"][0]["field"], "config");
    let foreign_delta = {
        let mut config = availability_config(0.5);
        config["deltas"] = json!([{"segment": "retailer", "value": "harbor", "delta": 0.1}]);
        h.call(
            Method::PUT,
            "/tenants/alpine/availability/config",
            Some(data_scientist("alpine")),
            Some(json!({"config": config, "reason": "x", "expected_version": 2})),
        )
        .await
    };
    assert_eq!(foreign_delta.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_reason = h
        .call(
            Method::PUT,
            "/tenants/alpine/availability/config",
            Some(data_scientist("alpine")),
            Some(json!({"config": availability_config(0.5), "reason": " ", "expected_version": 2})),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.body["errors"][0]["field"], "reason");

    let rollback = |version: u64| {
        h.call(
            Method::POST,
            "/tenants/alpine/availability/config/rollback",
            Some(data_scientist("alpine")),
            Some(json!({"version": version, "reason": "0.6 hid too much"})),
        )
    };
    let rolled = rollback(1).await;
    assert_eq!(rolled.status, StatusCode::OK, "{}", rolled.body);
    assert_eq!(rolled.body["version"], 3);
    assert_eq!(rolled.body["change"]["rollback_of"], 1);
    assert_eq!(rolled.body["config"]["models"][0]["base_threshold"], 0.5);
    assert_eq!(rollback(9).await.status, StatusCode::NOT_FOUND);
    let after = h
        .look_up("alpine", service("alpine"), boots_and_hat())
        .await;
    assert_eq!(hat(&after), true);
    assert_eq!(after.body["config_version"], 3);

    let history = h
        .call(
            Method::GET,
            "/tenants/alpine/availability/config/history?limit=2",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    let versions: Vec<&Value> = history.body["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["version"])
        .collect();
    assert_eq!(versions, vec![&json!(3), &json!(2)]);
    for limit in ["0", "101", "x"] {
        let refused = h
            .call(
                Method::GET,
                &format!("/tenants/alpine/availability/config/history?limit={limit}"),
                Some(marketer("alpine")),
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "limit={limit}");
    }
}

#[tokio::test]
async fn lookups_refuse_bad_requests_unknown_stores_and_unconfigured_retailers() {
    let h = two_retailers().await;
    let unconfigured = h
        .look_up("alpine", service("alpine"), boots_and_hat())
        .await;
    assert_eq!(unconfigured.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unconfigured.body["type"],
        "https://storecast.dev/problems/availability-not-configured"
    );
    h.configure("alpine", 0.5, None).await;
    let unknown = h
        .look_up("alpine", service("alpine"), boots_and_hat())
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::NOT_FOUND,
        "berlin-1 has no scores yet"
    );
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("berlin-1")
    );

    h.score("alpine", "berlin-1", "hat", 0.9).await;
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"item_id": format!("i{i}")}))
        .collect();
    for (body, field) in [
        (json!({"store_id": "berlin-1", "items": []}), "items"),
        (json!({"store_id": "berlin-1", "items": too_many}), "items"),
        (
            json!({"store_id": "berlin-1", "items": [{"item_id": "hat"}, {"item_id": "hat"}]}),
            "items",
        ),
        (
            json!({"store_id": "berlin-1", "items": [{"item_id": "a b"}]}),
            "items[0].item_id",
        ),
        (
            json!({"store_id": "no/slash", "items": [{"item_id": "hat"}]}),
            "store_id",
        ),
    ] {
        let refused = h.look_up("alpine", service("alpine"), body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.body["errors"][0]["field"], field, "{body}");
    }
    let unknown_field = h
        .look_up(
            "alpine",
            service("alpine"),
            json!({"store_id": "berlin-1", "items": [{"item_id": "hat"}], "store": "x"}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    h.scores.set_unavailable(true);
    let down = h
        .look_up(
            "alpine",
            service("alpine"),
            json!({"store_id": "berlin-1", "items": [{"item_id": "hat"}]}),
        )
        .await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["retryable"], true);
}

#[test]
fn the_document_declares_the_availability_routes_answers() {
    let (_, document) = storecast::api::routes();
    let responses = |path: &str, method: &str| -> Vec<String> {
        let item = &document.paths.paths[path];
        let operation = match method {
            "get" => item.get.as_ref(),
            "put" => item.put.as_ref(),
            _ => item.post.as_ref(),
        }
        .unwrap();
        operation.responses.responses.keys().cloned().collect()
    };
    let config = responses("/tenants/{tenant}/availability/config", "put");
    for status in ["200", "201", "401", "403", "409", "415", "422", "503"] {
        assert!(config.iter().any(|s| s == status), "PUT config: {status}");
    }
    let rollback = responses("/tenants/{tenant}/availability/config/rollback", "post");
    for status in ["200", "404", "409", "422"] {
        assert!(rollback.iter().any(|s| s == status), "rollback: {status}");
    }
    let lookup = responses("/tenants/{tenant}/availability", "post");
    for status in ["200", "404", "422", "503"] {
        assert!(lookup.iter().any(|s| s == status), "lookup: {status}");
    }
}

/// The retailer's seed list set through the settings PATCH.
async fn set_seed_list(h: &Harness, tenant: &str, addresses: Value) -> Answer {
    h.call(
        Method::PATCH,
        &format!("/tenants/{tenant}"),
        Some(marketer(tenant)),
        Some(json!({ "seed_list": addresses })),
    )
    .await
}

async fn test_send(h: &Harness, tenant: &str, caller: &str, body: Value) -> Answer {
    h.call(
        Method::POST,
        &format!("/tenants/{tenant}/templates/{TEMPLATE}/test-send"),
        Some(marketer(caller)),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_seed_list_is_validated_deduplicated_and_stored_lower_case() {
    let h = two_retailers().await;
    let saved = set_seed_list(
        &h,
        "alpine",
        json!(["QA@Alpine.test", " qa@alpine.test", "boss@alpine.test"]),
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(
        saved.body["settings"]["seed_list"],
        json!(["qa@alpine.test", "boss@alpine.test"])
    );
    let bad = set_seed_list(&h, "alpine", json!(["qa@alpine.test", "not-an-address"])).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "seed_list[1]");
    let too_many: Vec<String> = (0..=storecast::domain::MAX_SEED_ADDRESSES)
        .map(|i| format!("qa{i}@alpine.test"))
        .collect();
    let over = set_seed_list(&h, "alpine", json!(too_many)).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.body["errors"][0]["field"], "seed_list");
    let kept = h
        .call(
            Method::GET,
            "/tenants/alpine",
            Some(marketer("alpine")),
            None,
        )
        .await;
    assert_eq!(
        kept.body["settings"]["seed_list"],
        json!(["qa@alpine.test", "boss@alpine.test"]),
        "a refused PATCH changes nothing"
    );
    let emptied = set_seed_list(&h, "alpine", json!([])).await;
    assert_eq!(emptied.status, StatusCode::OK);
    assert!(emptied.body["settings"].get("seed_list").is_none());
}

#[tokio::test]
async fn a_test_send_mails_a_seed_address_through_the_retailers_own_workspace() {
    let h = two_retailers().await;
    assert_eq!(
        set_seed_list(&h, "alpine", json!(["qa@alpine.test"]))
            .await
            .status,
        StatusCode::OK
    );
    let workspace = h
        .call(
            Method::GET,
            "/tenants/alpine",
            Some(marketer("alpine")),
            None,
        )
        .await
        .body;

    let sent = test_send(
        &h,
        "alpine",
        "alpine",
        json!({
            "to": "QA@alpine.test",
            "variables": {"headline": "Draft headline"},
            "customer": {"email": "someone@else.test", "fields": {"first_name": "Ana"}}
        }),
    )
    .await;

    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let mails = h.email.sent();
    assert_eq!(mails.len(), 1);
    let (provider_id, mail) = &mails[0];
    assert_eq!(sent.body["provider_message_id"], provider_id.as_str());
    assert_eq!(sent.body["to"], "qa@alpine.test");
    assert_eq!(
        mail.to_address, "qa@alpine.test",
        "never the customer's address"
    );
    assert_eq!(mail.configuration_set, workspace["configuration_set"]);
    assert_eq!(mail.ses_tenant, workspace["ses_tenant"]);
    assert_eq!(mail.from_address, workspace["from_address"]);
    let tag = |name: &str| {
        mail.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(tag("tenant").as_deref(), Some("alpine"));
    assert_eq!(tag("campaign").as_deref(), Some("test-send"));
    assert_eq!(tag("test_send").as_deref(), Some("true"));
    assert_eq!(
        tag("message_id"),
        sent.body["message_id"].as_str().map(String::from)
    );
    let message = mail_parser::MessageParser::default()
        .parse(&mail.raw_mime)
        .unwrap();
    let subject = message.subject().unwrap();
    assert!(subject.starts_with("[TEST] Ana, "), "{subject}");
    assert_eq!(sent.body["subject"], subject);
    assert!(message.body_html(0).unwrap().contains("Draft headline"));
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("qa@alpine.test")
    );
    assert!(message.header_raw("List-Unsubscribe").is_some());

    // A second test send is its own message: a message id of its own.
    let again = test_send(&h, "alpine", "alpine", json!({"to": "qa@alpine.test"})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_ne!(again.body["message_id"], sent.body["message_id"]);
    assert!(
        again.body["subject"]
            .as_str()
            .unwrap()
            .starts_with("[TEST] ")
    );
}

#[tokio::test]
async fn a_test_send_goes_only_to_the_own_seed_list_of_an_active_retailer() {
    let h = two_retailers().await;
    set_seed_list(&h, "alpine", json!(["qa@alpine.test", "gone@alpine.test"])).await;
    set_seed_list(&h, "harbor", json!(["qa@harbor.test"])).await;

    let stranger = test_send(&h, "alpine", "alpine", json!({"to": "ana@example.com"})).await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stranger.content_type, "application/problem+json");
    assert_eq!(stranger.body["errors"][0]["field"], "to");
    // Another retailer's seed address is no seed address of this one.
    let harbors = test_send(&h, "alpine", "alpine", json!({"to": "qa@harbor.test"})).await;
    assert_eq!(harbors.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another retailer's template (and seed list) is out of reach.
    let foreign = test_send(&h, "alpine", "harbor", json!({"to": "qa@alpine.test"})).await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let foreign = test_send(&h, "alpine", "harbor", json!({"to": "qa@harbor.test"})).await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    // A template the retailer does not have.
    let missing = h
        .call(
            Method::POST,
            "/tenants/alpine/templates/no-such-template/test-send",
            Some(marketer("alpine")),
            Some(json!({"to": "qa@alpine.test"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // A suppressed seed address.
    h.directory
        .add(
            &TenantId::parse("alpine").unwrap(),
            &Suppression {
                address: "gone@alpine.test".into(),
                reason: SuppressionReason::HardBounce,
                since: 0,
                detail: None,
            },
        )
        .await
        .unwrap();
    let suppressed = test_send(&h, "alpine", "alpine", json!({"to": "gone@alpine.test"})).await;
    assert_eq!(suppressed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        suppressed.body["detail"]
            .as_str()
            .unwrap()
            .contains("suppression")
    );
    assert!(h.email.sent().is_empty(), "nothing was sent");

    // A suspended retailer sends no tests; harbor still does.
    let suspended = h
        .call(
            Method::POST,
            "/tenants/alpine/suspend",
            Some(operator()),
            None,
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK);
    let refused = test_send(&h, "alpine", "alpine", json!({"to": "qa@alpine.test"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("suspended")
    );
    let harbor = test_send(&h, "harbor", "harbor", json!({"to": "qa@harbor.test"})).await;
    assert_eq!(harbor.status, StatusCode::ACCEPTED, "{}", harbor.body);
    let mails = h.email.sent();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].1.configuration_set.contains("harbor"));
}

#[tokio::test]
async fn a_test_send_of_a_broken_template_names_part_line_and_column_and_sends_nothing() {
    use storecast::templates::ports::{TemplatePublisher as _, TemplateStore as _};
    let h = two_retailers().await;
    set_seed_list(&h, "alpine", json!(["qa@alpine.test"])).await;
    let alpine = TenantId::parse("alpine").unwrap();
    let template = storecast::domain::TemplateId::parse(TEMPLATE).unwrap();
    let mut version = h
        .directory
        .live_template(&alpine, &template)
        .await
        .unwrap()
        .unwrap();
    let live = version.template.version;
    version.template.version = live + 1;
    version.text =
        "Hello\n\n{% if customer.first_name %}\n  {{ customer.first_name | }}\n{% endif %}".into();
    h.directory.publish(&version, Some(live)).await.unwrap();

    let broken = test_send(&h, "alpine", "alpine", json!({"to": "qa@alpine.test"})).await;

    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.body
    );
    assert_eq!(
        broken.body["type"],
        "https://storecast.dev/problems/template-error"
    );
    assert_eq!(broken.body["errors"][0]["field"], "email.txt");
    assert_eq!(broken.body["errors"][0]["line"], 4);
    assert!(broken.body["errors"][0]["column"].as_u64().unwrap() > 1);
    assert!(h.email.sent().is_empty());
}

#[tokio::test]
async fn test_sends_are_limited_per_retailer_and_minute_and_the_campaign_id_is_reserved() {
    let h = two_retailers().await;
    set_seed_list(&h, "alpine", json!(["qa@alpine.test"])).await;
    set_seed_list(&h, "harbor", json!(["qa@harbor.test"])).await;
    let limit = storecast::templates::test_send::MAX_TEST_SENDS_PER_MINUTE;
    for _ in 0..limit {
        let sent = test_send(&h, "alpine", "alpine", json!({"to": "qa@alpine.test"})).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    }
    let over = test_send(&h, "alpine", "alpine", json!({"to": "qa@alpine.test"})).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.body["retryable"], true);
    assert_eq!(h.email.sent().len(), limit);
    let harbor = test_send(&h, "harbor", "harbor", json!({"to": "qa@harbor.test"})).await;
    assert_eq!(
        harbor.status,
        StatusCode::ACCEPTED,
        "another retailer's minute"
    );

    let reserved = h
        .call(
            Method::POST,
            "/tenants/alpine/campaigns",
            Some(marketer("alpine")),
            Some(campaign_body("test-send", "alpine")),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reserved.body["errors"][0]["field"], "campaign_id");
}

#[path = "api_snippets.rs"]
mod snippets;

#[path = "api_deliverability.rs"]
mod deliverability;

#[tokio::test]
async fn the_stats_show_the_campaigns_own_cost_per_sent_message() {
    use storecast::costs::{Usage, UsageCounters as _};
    use storecast::domain::{BatchId, Channel};
    use storecast::pipeline::send_log::{AttemptId, BatchOutcome, RecipientOutcome};
    let h = two_retailers().await;
    let (alpine, spring) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("spring").unwrap(),
    );
    let batch = BatchId::parse("ab12").unwrap();
    let sent = |n: u32| RecipientOutcome::Sent {
        provider_message_id: format!("ses-{n}"),
        endpoints_disabled: 0,
    };
    storecast::pipeline::send_log::record_outcome(
        h.send_log.as_ref(),
        &BatchOutcome {
            tenant_id: alpine.clone(),
            campaign_id: spring.clone(),
            batch_id: batch.clone(),
            attempt: AttemptId(1),
            outcomes: (0..4).map(sent).collect(),
            revision: 0,
            channel: Channel::Email,
        },
        &VariantId::parse("A").unwrap(),
        Some(None),
    )
    .await
    .unwrap();
    let usage = Usage {
        lambda_gb_seconds: 0.5,
        lambda_requests: 1.0,
        dynamodb_read_units: 3.0,
        dynamodb_write_units: 9.0,
        kinesis_put_units: 5.0,
        ses_messages: 4.0,
        sns_publishes: 0.0,
    };
    h.send_log
        .add_usage(&alpine, &spring, &batch, &usage)
        .await
        .unwrap();
    // Another retailer's campaign of the same name: never in alpine's figures.
    let harbor = TenantId::parse("harbor").unwrap();
    let foreign = Usage {
        ses_messages: 1_000.0,
        ..usage
    };
    h.send_log
        .add_usage(&harbor, &spring, &batch, &foreign)
        .await
        .unwrap();

    let stats = h
        .call(
            Method::GET,
            "/tenants/alpine/campaigns/spring/stats",
            Some(marketer("alpine")),
            None,
        )
        .await;

    assert_eq!(stats.status, StatusCode::OK);
    let cost = &stats.body["cost"];
    assert_eq!(cost["usage"]["ses_messages"], 4.0, "{cost}");
    assert_eq!(cost["usage"]["dynamodb_write_units"], 9.0);
    assert_eq!(cost["usage"]["kinesis_put_units"], 5.0);
    let usd = cost["usd"].as_f64().unwrap();
    assert!((usd - usage.usd()).abs() < 1e-12, "{usd}");
    let per_sent = cost["usd_per_sent"].as_f64().unwrap();
    assert!((per_sent - usage.usd() / 4.0).abs() < 1e-12, "{per_sent}");
}
