//! Against a real HTTP server on a local port (axum), with the real client.

use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use time::macros::datetime;

use super::*;
use crate::availability::{ChangeNote, MissingScore, ModelColumn};
use crate::testing::{ManualClock, MemoryConfigStore};

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

/// What the server does with each request, in turn; the last one repeats.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Answer,
    Fail(u16),
    Hang,
}

#[derive(Default)]
struct Server {
    script: Mutex<Vec<Behaviour>>,
    requests: AtomicUsize,
    bodies: Mutex<Vec<(String, serde_json::Value)>>,
}

async fn scores(
    State(server): State<Arc<Server>>,
    Path(tenant): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let seen = server.requests.fetch_add(1, Ordering::SeqCst);
    server.bodies.lock().unwrap().push((tenant, body.clone()));
    let script = server.script.lock().unwrap().clone();
    let behaviour = script[seen.min(script.len() - 1)];
    match behaviour {
        Behaviour::Fail(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        Behaviour::Answer => {
            let mut scores = Vec::new();
            for item in body["items"].as_array().unwrap() {
                for model in body["models"].as_array().unwrap() {
                    scores.push(serde_json::json!({"store_id": item["store_id"],
                        "item_id": item["item_id"], "model": model, "score": 0.75,
                        "computed_at": "2026-11-30T11:59:00Z"}));
                }
            }
            // What must be dropped: an item not asked for, a score out of range, a model not
            // asked for, a time in the future.
            scores.push(serde_json::json!({"store_id": "st1", "item_id": "other", "model": "avail-2026-11", "score": 0.5, "computed_at": "2026-11-30T11:59:00Z"}));
            scores.push(serde_json::json!({"store_id": "st1", "item_id": "a", "model": "avail-2026-11", "score": 1.5, "computed_at": "2026-11-30T11:59:00Z"}));
            scores.push(serde_json::json!({"store_id": "st1", "item_id": "a", "model": "avail-1999", "score": 0.5, "computed_at": "2026-11-30T11:59:00Z"}));
            scores.push(serde_json::json!({"store_id": "st1", "item_id": "a", "model": "avail-2026-11", "score": 0.5, "computed_at": "2026-12-30T11:59:00Z"}));
            Json(serde_json::json!({"scores": scores})).into_response()
        }
    }
}

struct Setup {
    server: Arc<Server>,
    source: HttpScoreSource,
    clock: Arc<ManualClock>,
    tenant: TenantId,
}

async fn setup(script: Vec<Behaviour>, tune: impl FnOnce(&mut ScoringSettings)) -> Setup {
    let server = Arc::new(Server {
        script: Mutex::new(script),
        ..Server::default()
    });
    let app = axum::Router::new()
        .route("/v1/tenants/{tenant}/scores", post(scores))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tenant = TenantId::parse("alpine").unwrap();
    let configs = Arc::new(MemoryConfigStore::default());
    let model = |model: &str, column: &str| ModelColumn {
        model: ModelVersion::parse(model).unwrap(),
        column: ScoreColumn::parse(column).unwrap(),
        synced: true,
        enabled: true,
        base_threshold: 0.5,
    };
    let config = AvailabilityConfig {
        models: vec![model("avail-2026-11", "s1"), model("avail-2026-12", "s2")],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    };
    let note = ChangeNote {
        author: "ops".into(),
        at: NOW,
        reason: "start".into(),
        rollback_of: None,
    };
    configs.save(&tenant, &config, &note, None).await.unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let mut settings = ScoringSettings::new(format!("http://{address}/"));
    settings.backoff_base = Duration::from_millis(1);
    tune(&mut settings);
    let source = HttpScoreSource::new(settings, configs, clock.clone()).unwrap();
    Setup {
        server,
        source,
        clock,
        tenant,
    }
}

fn keys() -> Vec<ScoreKey> {
    ["a", "b"]
        .iter()
        .map(|item| ScoreKey {
            store: StoreId::parse("st1").unwrap(),
            item: ItemId::parse(*item).unwrap(),
        })
        .collect()
}

fn columns() -> Vec<ScoreColumn> {
    vec![
        ScoreColumn::parse("s1").unwrap(),
        ScoreColumn::parse("s2").unwrap(),
    ]
}

#[tokio::test]
async fn an_answer_becomes_writes_of_the_columns_and_what_was_not_asked_is_dropped() {
    let t = setup(vec![Behaviour::Answer], |_| {}).await;

    let writes = t
        .source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap();

    assert_eq!(writes.len(), 4, "two items, two columns");
    assert!(writes.iter().all(|w| w.value.score.value() == 0.75));
    assert!(
        writes
            .iter()
            .any(|w| w.key.item.as_str() == "b" && w.column.as_str() == "s2")
    );
    assert_eq!(t.source.dropped(), 4);
    let (tenant, body) = t.server.bodies.lock().unwrap()[0].clone();
    assert_eq!(tenant, "alpine");
    assert_eq!(
        body["models"],
        serde_json::json!(["avail-2026-11", "avail-2026-12"])
    );
    assert_eq!(
        body["items"][1],
        serde_json::json!({"store_id": "st1", "item_id": "b"})
    );
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_next_answer_used() {
    let t = setup(
        vec![
            Behaviour::Fail(500),
            Behaviour::Fail(429),
            Behaviour::Answer,
        ],
        |_| {},
    )
    .await;

    let writes = t
        .source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap();

    assert_eq!(writes.len(), 4);
    assert_eq!(t.server.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_that_times_out_is_retried_then_unavailable() {
    let t = setup(vec![Behaviour::Hang], |s| {
        s.request_timeout = Duration::from_millis(100);
        s.max_attempts = 2;
    })
    .await;

    let started = std::time::Instant::now();
    let error = t
        .source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap_err();

    assert!(matches!(error, SourceError::Unavailable { .. }));
    assert!(crate::error::Retryable::is_retryable(&error));
    assert_eq!(t.server.requests.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeouts"
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let t = setup(vec![Behaviour::Fail(400)], |_| {}).await;
    let error = t
        .source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap_err();
    assert!(matches!(error, SourceError::Refused { .. }));
    assert_eq!(t.server.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
    let t = setup(vec![Behaviour::Fail(503)], |s| {
        s.max_attempts = 2;
        s.breaker_failures = 2;
        s.breaker_cool_down = Duration::from_secs(30);
    })
    .await;
    for _ in 0..2 {
        t.source
            .fresh(&t.tenant, &keys(), &columns())
            .await
            .unwrap_err();
    }
    assert_eq!(t.server.requests.load(Ordering::SeqCst), 4);
    assert!(t.source.breaker_open());

    let error = t
        .source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap_err();
    assert!(error.source_chain_contains("open"));
    assert_eq!(
        t.server.requests.load(Ordering::SeqCst),
        4,
        "open: no request made"
    );

    t.clock.advance(time::Duration::seconds(31));
    t.source
        .fresh(&t.tenant, &keys(), &columns())
        .await
        .unwrap_err();
    assert_eq!(
        t.server.requests.load(Ordering::SeqCst),
        5,
        "the probe is one attempt"
    );
    assert!(t.source.breaker_open(), "a failed probe opens it again");

    *t.server.script.lock().unwrap() = vec![Behaviour::Answer];
    t.clock.advance(time::Duration::seconds(31));
    assert_eq!(
        t.source
            .fresh(&t.tenant, &keys(), &columns())
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(!t.source.breaker_open());
    assert_eq!(
        t.source
            .fresh(&t.tenant, &keys(), &columns())
            .await
            .unwrap()
            .len(),
        4
    );
}

trait SourceChain {
    fn source_chain_contains(&self, text: &str) -> bool;
}

impl SourceChain for SourceError {
    fn source_chain_contains(&self, text: &str) -> bool {
        chain(self).contains(text)
    }
}
