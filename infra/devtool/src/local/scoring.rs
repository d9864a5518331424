//! The local stand-in for the real-time scoring service (`storecast::http::scoring` speaks to
//! it): the same API, answering a deterministic score per tenant, store, item and model (a hash,
//! so a refresh writes the same value every time) computed now.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct ScoresRequest {
    items: Vec<Item>,
    models: Vec<String>,
}

#[derive(Deserialize)]
struct Item {
    store_id: String,
    item_id: String,
}

#[derive(Serialize)]
struct Scored {
    store_id: String,
    item_id: String,
    model: String,
    score: f64,
    computed_at: String,
}

/// A request asks for at most this many items (the library asks for 100 at a time).
pub const MAX_ITEMS_PER_REQUEST: usize = 1_000;

/// The score the local service gives: a fraction in `[0, 1]` from the hash of the four names,
/// to six decimals (as a model's output is sent; 17 digits would not survive every JSON parser).
pub fn deterministic_score(tenant: &str, store: &str, item: &str, model: &str) -> f64 {
    let mut hasher = Sha256::new();
    for part in [tenant, store, item, model] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let value = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (value as f64 / u64::MAX as f64 * 1e6).round() / 1e6
}

async fn scores(
    Path(tenant): Path<String>,
    Json(request): Json<ScoresRequest>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    if request.items.len() > MAX_ITEMS_PER_REQUEST {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let computed_at = storecast::clock::now_rfc3339();
    let mut scores = Vec::with_capacity(request.items.len() * request.models.len());
    for item in &request.items {
        for model in &request.models {
            scores.push(Scored {
                store_id: item.store_id.clone(),
                item_id: item.item_id.clone(),
                model: model.clone(),
                score: deterministic_score(&tenant, &item.store_id, &item.item_id, model),
                computed_at: computed_at.clone(),
            });
        }
    }
    Ok(Json(serde_json::json!({ "scores": scores })))
}

/// Serves the scoring API on `address` (port 0: any free port) until the task is dropped.
pub async fn serve_scoring(
    address: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = axum::Router::new().route("/v1/tenants/{tenant}/scores", post(scores));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let bound = listener.local_addr()?;
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the local scoring service stopped");
        }
    });
    Ok((bound, server))
}
