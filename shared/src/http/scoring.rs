//! `ScoreSource` over the scoring service's HTTP API:
//!
//! ```text
//! POST {base_url}/v1/tenants/{tenant}/scores
//! {"items": [{"store_id", "item_id"}], "models": ["avail-2026-11", …]}
//! → 200 {"scores": [{"store_id", "item_id", "model", "score", "computed_at"}]}
//! ```
//!
//! The port speaks of columns, the service of model versions: the retailer's configuration
//! (read through the given `ConfigStore`, kept [`CONFIG_CACHE_SECONDS`]) maps one to the other.
//! Every attempt is bounded ([`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`]); 429, 5xx, timeouts and
//! broken connections are retried up to [`MAX_ATTEMPTS`] with full-jitter backoff; consecutive
//! failed calls open a [`CircuitBreaker`]. An answer is checked before it becomes a write:
//! scores outside `[0, 1]`, of items or models not asked for, or computed in the future are
//! dropped and counted ([`HttpScoreSource::dropped`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::breaker::{CircuitBreaker, Permit};
use crate::availability::{
    AvailabilityConfig, ColumnScore, ConfigStore, Score, ScoreKey, ScoreSource, ScoreWrite,
    SourceError,
};
use crate::clock::Clock;
use crate::domain::{ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};
use crate::error::{BoxError, Message, chain};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt, connection included: a refresh is worth less than the invocation's time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_ATTEMPTS: u32 = 3;
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The circuit opens after this many consecutive failed calls…
pub const BREAKER_FAILURES: u32 = 5;
/// …and lets a probe through after this long.
pub const BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);
/// A retailer's model versions are read from its configuration at most this often.
pub const CONFIG_CACHE_SECONDS: i64 = 60;
/// A score computed later than now plus this is refused (it would win over every later one).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone)]
pub struct ScoringSettings {
    pub base_url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub breaker_failures: u32,
    pub breaker_cool_down: Duration,
}

impl ScoringSettings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_attempts: MAX_ATTEMPTS,
            backoff_base: BACKOFF_BASE,
            breaker_failures: BREAKER_FAILURES,
            breaker_cool_down: BREAKER_COOL_DOWN,
        }
    }
}

#[derive(Serialize)]
struct ScoresRequest<'a> {
    items: Vec<RequestItem<'a>>,
    models: Vec<&'a ModelVersion>,
}

#[derive(Serialize)]
struct RequestItem<'a> {
    store_id: &'a StoreId,
    item_id: &'a ItemId,
}

#[derive(Deserialize)]
struct ScoresResponse {
    scores: Vec<AnsweredScore>,
}

#[derive(Deserialize)]
struct AnsweredScore {
    store_id: String,
    item_id: String,
    model: String,
    score: f64,
    #[serde(with = "time::serde::rfc3339")]
    computed_at: OffsetDateTime,
}

/// Why one attempt failed.
enum AttemptError {
    /// 429, 5xx, a timeout, a broken connection: another attempt may pass.
    Transient(BoxError),
    Refused(String),
}

pub struct HttpScoreSource {
    client: reqwest::Client,
    settings: ScoringSettings,
    configs: Arc<dyn ConfigStore>,
    clock: Arc<dyn Clock>,
    breaker: CircuitBreaker,
    models: Mutex<HashMap<TenantId, (OffsetDateTime, Arc<AvailabilityConfig>)>>,
    dropped: AtomicU64,
}

impl HttpScoreSource {
    pub fn new(
        settings: ScoringSettings,
        configs: Arc<dyn ConfigStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .build()?;
        let breaker = CircuitBreaker::new(
            settings.breaker_failures,
            settings.breaker_cool_down,
            clock.clone(),
        );
        Ok(Self {
            client,
            settings,
            configs,
            clock,
            breaker,
            models: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        })
    }

    /// Scores dropped from answers so far (out of range, not asked for, computed in the future).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    async fn config(&self, tenant: &TenantId) -> Result<Arc<AvailabilityConfig>, SourceError> {
        let now = self.clock.now();
        let cached = self.lock_models().get(tenant).cloned();
        if let Some((read_at, config)) = cached
            && (now - read_at).whole_seconds() < CONFIG_CACHE_SECONDS
        {
            return Ok(config);
        }
        let revision =
            self.configs
                .current(tenant)
                .await
                .map_err(|e| SourceError::Unavailable {
                    source: Box::new(e),
                })?;
        let Some(revision) = revision else {
            return Err(SourceError::Refused {
                reason: format!("retailer {tenant} has no availability configuration"),
            });
        };
        let config = Arc::new(revision.config);
        self.lock_models()
            .insert(tenant.clone(), (now, config.clone()));
        Ok(config)
    }

    fn lock_models(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<TenantId, (OffsetDateTime, Arc<AvailabilityConfig>)>>
    {
        self.models.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call's attempts: one for a probe, up to `max_attempts` otherwise.
    async fn call(
        &self,
        tenant: &TenantId,
        body: &ScoresRequest<'_>,
        permit: Permit,
    ) -> Result<ScoresResponse, SourceError> {
        let attempts = match permit {
            Permit::Probe => 1,
            Permit::Call => self.settings.max_attempts.max(1),
        };
        let url = format!("{}/v1/tenants/{tenant}/scores", self.settings.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&url, body).await {
                Ok(response) => {
                    self.breaker.succeeded();
                    return Ok(response);
                }
                Err(AttemptError::Refused(reason)) => {
                    // The service answered: it is up, whatever it thought of the request.
                    self.breaker.succeeded();
                    return Err(SourceError::Refused { reason });
                }
                Err(AttemptError::Transient(source)) if attempt >= attempts => {
                    self.breaker.failed();
                    tracing::warn!(error = %chain(source.as_ref()), attempt, "scoring service unavailable");
                    return Err(SourceError::Unavailable { source });
                }
                Err(AttemptError::Transient(_)) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .settings
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(BACKOFF_MAX);
        Duration::from_millis(crate::random::up_to(bound.as_millis() as u64))
    }

    async fn attempt(
        &self,
        url: &str,
        body: &ScoresRequest<'_>,
    ) -> Result<ScoresResponse, AttemptError> {
        let response = self
            .client
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| AttemptError::Transient(Box::new(e)))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(AttemptError::Transient(Message::boxed(format!(
                "the scoring service answered {status}"
            ))));
        }
        if !status.is_success() {
            return Err(AttemptError::Refused(format!("answered {status}")));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AttemptError::Transient(Box::new(e)))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| AttemptError::Refused(format!("an answer that cannot be read: {e}")))
    }

    /// The answer's scores that were asked for and are scores, as writes of their columns.
    fn writes(
        &self,
        answer: ScoresResponse,
        keys: &[ScoreKey],
        columns: &HashMap<&str, &ScoreColumn>,
    ) -> Vec<ScoreWrite> {
        let asked: HashSet<(&str, &str)> = keys
            .iter()
            .map(|k| (k.store.as_str(), k.item.as_str()))
            .collect();
        let latest = self.clock.now() + time::Duration::seconds(MAX_CLOCK_SKEW_SECONDS);
        let mut writes = Vec::with_capacity(answer.scores.len());
        let mut dropped = 0;
        for answered in answer.scores {
            let column = columns.get(answered.model.as_str());
            let known = asked.contains(&(answered.store_id.as_str(), answered.item_id.as_str()));
            let score = Score::new(answered.score);
            let key = StoreId::parse(answered.store_id).and_then(|store| {
                ItemId::parse(answered.item_id).map(|item| ScoreKey { store, item })
            });
            match (column, known, score, key) {
                (Some(column), true, Ok(score), Ok(key)) if answered.computed_at <= latest => {
                    writes.push(ScoreWrite {
                        key,
                        column: (*column).clone(),
                        value: ColumnScore {
                            score,
                            computed_at: answered.computed_at,
                        },
                    })
                }
                _ => dropped += 1,
            }
        }
        if dropped > 0 {
            tracing::warn!(dropped, "scores dropped from the scoring service's answer");
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        writes
    }
}

#[async_trait]
impl ScoreSource for HttpScoreSource {
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, keys = keys.len()))]
    async fn fresh(
        &self,
        tenant: &TenantId,
        keys: &[ScoreKey],
        columns: &[ScoreColumn],
    ) -> Result<Vec<ScoreWrite>, SourceError> {
        if keys.is_empty() || columns.is_empty() {
            return Ok(Vec::new());
        }
        let config = self.config(tenant).await?;
        let by_model: HashMap<&str, &ScoreColumn> = columns
            .iter()
            .filter_map(|column| config.model_of(column).map(|m| (m.model.as_str(), column)))
            .collect();
        if by_model.is_empty() {
            return Ok(Vec::new());
        }
        let body = ScoresRequest {
            items: keys
                .iter()
                .map(|k| RequestItem {
                    store_id: &k.store,
                    item_id: &k.item,
                })
                .collect(),
            models: columns
                .iter()
                .filter_map(|column| config.model_of(column).map(|m| &m.model))
                .collect(),
        };
        let Some(permit) = self.breaker.permit() else {
            return Err(SourceError::Unavailable {
                source: Message::boxed("the circuit to the scoring service is open"),
            });
        };
        let answer = self.call(tenant, &body, permit).await?;
        Ok(self.writes(answer, keys, &by_model))
    }
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
