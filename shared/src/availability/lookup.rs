//! The availability lookup (which of a request's items are likely on the shelf of one store) and
//! the configuration service (read, change, roll back a retailer's configuration).
//!
//! A lookup reads the retailer's configuration from a short-lived per-tenant cache
//! ([`ConfigCache`], [`CONFIG_CACHE_TTL`]), asks whether the store is known and reads the items'
//! scores at once (one `ScoreStore::get` of at most [`MAX_LOOKUP_ITEMS`] keys), then decides
//! ([`super::decision`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Deserialize;
use time::OffsetDateTime;

use super::config::{AvailabilityConfig, ChangeNote, ConfigRevision, InvalidConfig, Segment};
use super::decision::{Decision, DecisionTable, ItemQuery, RequestContext};
use super::ports::{ConfigStore, ScoreStore};
use super::scores::{ItemScores, ScoreKey};
use crate::clock::Clock;
use crate::domain::{ItemId, StoreId, TenantId};
use crate::error::{Retryable, StoreError};

/// A lookup asks for at most this many items: one BatchGetItem's worth of keys.
pub const MAX_LOOKUP_ITEMS: usize = 100;
/// How long a container keeps a retailer's configuration before reading it again: a change
/// reaches every container within this time (and the one that made it at once).
pub const CONFIG_CACHE_TTL: time::Duration = time::Duration::seconds(60);
/// Revisions a history page holds when the caller does not say, and at most.
pub const DEFAULT_HISTORY_LIMIT: usize = 20;
pub const MAX_HISTORY_LIMIT: usize = 100;

const CONFIG: &str = "availability configuration";

/// Which items of one store a request asks about, for whom.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    pub store_id: StoreId,
    /// The store's or the user's region (the `region` segment).
    #[serde(default)]
    pub region: Option<String>,
    /// The user, bucketed into the experiment's arms and a user bucket; the retailer's customer
    /// id, so a search and an email decide alike for one customer.
    #[serde(default)]
    pub user_id: Option<String>,
    /// 1 to 100 items, each at most once.
    pub items: Vec<ItemQuery>,
}

/// A lookup's decision and the configuration version it was made with.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupAnswer {
    pub config_version: u64,
    pub decision: Decision,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("store {0} is not known for this retailer")]
    UnknownStore(StoreId),
    #[error("the retailer has no availability configuration")]
    NotConfigured,
    #[error("reading the scores or the configuration failed")]
    Store(#[source] StoreError),
}

impl Retryable for LookupError {
    fn is_retryable(&self) -> bool {
        matches!(self, LookupError::Store(e) if e.is_retryable())
    }
}

/// A stored revision, prepared to decide with.
#[derive(Debug)]
pub struct PreparedConfig {
    pub version: u64,
    pub table: DecisionTable,
}

struct CachedConfig {
    fetched_at: OffsetDateTime,
    /// `None`: the retailer had no configuration then (also kept, so a retailer without one
    /// costs no read per request).
    config: Option<Arc<PreparedConfig>>,
}

/// Each retailer's current configuration, read at most once per [`CONFIG_CACHE_TTL`].
pub struct ConfigCache {
    store: Arc<dyn ConfigStore>,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<TenantId, CachedConfig>>,
}

impl ConfigCache {
    pub fn new(store: Arc<dyn ConfigStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<TenantId, CachedConfig>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The retailer's current configuration, `None` when it has none.
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<Arc<PreparedConfig>>, StoreError> {
        let now = self.clock.now();
        if let Some(cached) = self.entries().get(tenant) {
            let age = now - cached.fetched_at;
            // A clock that went back is treated as expired, never as fresh for longer.
            if age >= time::Duration::ZERO && age < CONFIG_CACHE_TTL {
                return Ok(cached.config.clone());
            }
        }
        let config = match self.store.current(tenant).await? {
            Some(revision) => Some(Arc::new(PreparedConfig {
                version: revision.version,
                table: DecisionTable::new(revision.config).map_err(|e| StoreError::Corrupt {
                    store: CONFIG,
                    reason: format!("version {}: {e}", revision.version),
                })?,
            })),
            None => None,
        };
        self.entries().insert(
            tenant.clone(),
            CachedConfig {
                fetched_at: now,
                config: config.clone(),
            },
        );
        Ok(config)
    }

    /// Forgets the retailer's configuration: the next request reads it again.
    pub fn invalidate(&self, tenant: &TenantId) {
        self.entries().remove(tenant);
    }
}

/// The lookup service.
pub struct Lookup {
    scores: Arc<dyn ScoreStore>,
    configs: Arc<ConfigCache>,
}

impl Lookup {
    pub fn new(
        scores: Arc<dyn ScoreStore>,
        configs: Arc<dyn ConfigStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_cache(scores, Arc::new(ConfigCache::new(configs, clock)))
    }

    /// A lookup sharing `cache` (with a [`ConfigService`] that invalidates it, or a
    /// `StockFilter`).
    pub fn with_cache(scores: Arc<dyn ScoreStore>, cache: Arc<ConfigCache>) -> Self {
        Self {
            scores,
            configs: cache,
        }
    }

    pub fn cache(&self) -> Arc<ConfigCache> {
        self.configs.clone()
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, store = %request.store_id, items = request.items.len()))]
    pub async fn lookup(
        &self,
        tenant: &TenantId,
        request: &LookupRequest,
    ) -> Result<LookupAnswer, LookupError> {
        check_items(&request.items)?;
        let prepared = self
            .configs
            .get(tenant)
            .await
            .map_err(LookupError::Store)?
            .ok_or(LookupError::NotConfigured)?;
        let keys: Vec<ScoreKey> = request
            .items
            .iter()
            .map(|item| ScoreKey {
                store: request.store_id.clone(),
                item: item.item_id.clone(),
            })
            .collect();
        // One round trip for both: the scores read is wasted only for an unknown store.
        let (known, stored) = futures::try_join!(
            self.scores.store_known(tenant, &request.store_id),
            self.scores.get(tenant, &keys),
        )
        .map_err(LookupError::Store)?;
        if !known {
            return Err(LookupError::UnknownStore(request.store_id.clone()));
        }
        let by_item: HashMap<ItemId, ItemScores> = stored
            .into_iter()
            .map(|(key, scores)| (key.item, scores))
            .collect();
        let context = RequestContext {
            tenant,
            store: &request.store_id,
            region: request.region.as_deref(),
            user: request.user_id.as_deref(),
        };
        Ok(LookupAnswer {
            config_version: prepared.version,
            decision: prepared.table.decide(&context, &request.items, &by_item),
        })
    }
}

fn check_items(items: &[ItemQuery]) -> Result<(), LookupError> {
    if items.is_empty() || items.len() > MAX_LOOKUP_ITEMS {
        return Err(LookupError::Invalid {
            field: "items",
            reason: format!(
                "between 1 and {MAX_LOOKUP_ITEMS} items are allowed, not {}",
                items.len()
            ),
        });
    }
    let mut seen = HashSet::with_capacity(items.len());
    if let Some(twice) = items.iter().find(|item| !seen.insert(&item.item_id)) {
        return Err(LookupError::Invalid {
            field: "items",
            reason: format!("item {} is asked for twice", twice.item_id),
        });
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Invalid(InvalidConfig),
    /// The change's author or reason is not acceptable.
    #[error(transparent)]
    InvalidNote(InvalidConfig),
    #[error("the retailer has no availability configuration")]
    NotConfigured,
    #[error("the retailer has no configuration version {0}")]
    NoSuchVersion(u64),
    /// The configuration changed since the caller read it.
    #[error("{}", conflict_text(.expected, .current))]
    Conflict {
        expected: Option<u64>,
        current: Option<u64>,
    },
    #[error("reading or writing the configuration failed")]
    Store(#[source] StoreError),
}

fn conflict_text(expected: &Option<u64>, current: &Option<u64>) -> String {
    let name = |version: &Option<u64>| match version {
        Some(version) => format!("version {version}"),
        None => "no configuration".to_string(),
    };
    format!(
        "the change expected {} but the retailer has {}: read it again and reapply",
        name(expected),
        name(current)
    )
}

impl Retryable for ConfigError {
    fn is_retryable(&self) -> bool {
        matches!(self, ConfigError::Store(e) if e.is_retryable())
    }
}

impl From<StoreError> for ConfigError {
    fn from(error: StoreError) -> Self {
        ConfigError::Store(error)
    }
}

/// A change of the configuration, as its author asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub config: AvailabilityConfig,
    pub author: String,
    pub reason: String,
    /// The version the author read (`None`: the retailer had none): a change over any other
    /// version is refused, so no one overwrites a change they have not seen.
    pub expected_version: Option<u64>,
}

/// Reads and changes a retailer's configuration; every change is a new revision.
pub struct ConfigService {
    store: Arc<dyn ConfigStore>,
    clock: Arc<dyn Clock>,
    cache: Option<Arc<ConfigCache>>,
}

impl ConfigService {
    pub fn new(store: Arc<dyn ConfigStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cache: None,
        }
    }

    /// Forgets the retailer's cached configuration in `cache` after each change, so this
    /// container's lookups use it at once.
    pub fn invalidating(mut self, cache: Arc<ConfigCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub async fn current(&self, tenant: &TenantId) -> Result<ConfigRevision, ConfigError> {
        self.store
            .current(tenant)
            .await?
            .ok_or(ConfigError::NotConfigured)
    }

    /// The newest `limit` revisions (1 to [`MAX_HISTORY_LIMIT`]), newest first.
    pub async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, ConfigError> {
        Ok(self
            .store
            .history(tenant, limit.clamp(1, MAX_HISTORY_LIMIT))
            .await?)
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, expected = ?change.expected_version))]
    pub async fn change(
        &self,
        tenant: &TenantId,
        change: ConfigChange,
    ) -> Result<ConfigRevision, ConfigError> {
        let note = ChangeNote {
            author: change.author,
            at: self.clock.now(),
            reason: change.reason,
            rollback_of: None,
        };
        self.save(tenant, change.config, note, change.expected_version)
            .await
    }

    /// Restores version `version` as a new revision noting `rollback_of`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, version))]
    pub async fn rollback(
        &self,
        tenant: &TenantId,
        version: u64,
        author: String,
        reason: String,
    ) -> Result<ConfigRevision, ConfigError> {
        let restored = self
            .store
            .revision(tenant, version)
            .await?
            .ok_or(ConfigError::NoSuchVersion(version))?;
        let current = self.store.current(tenant).await?.map(|r| r.version);
        let note = ChangeNote {
            author,
            at: self.clock.now(),
            reason,
            rollback_of: Some(version),
        };
        self.save(tenant, restored.config, note, current).await
    }

    async fn save(
        &self,
        tenant: &TenantId,
        config: AvailabilityConfig,
        note: ChangeNote,
        expected: Option<u64>,
    ) -> Result<ConfigRevision, ConfigError> {
        note.validate().map_err(ConfigError::InvalidNote)?;
        validate_for(tenant, &config).map_err(ConfigError::Invalid)?;
        let current = self.store.current(tenant).await?.map(|r| r.version);
        if current != expected {
            return Err(ConfigError::Conflict { expected, current });
        }
        let version = self
            .store
            .save(tenant, &config, &note, expected)
            .await?
            .ok_or_else(|| ConfigError::Conflict {
                expected,
                current: Some(expected.map_or(1, |v| v.saturating_add(1))),
            })?;
        if let Some(cache) = &self.cache {
            cache.invalidate(tenant);
        }
        tracing::info!(version, author = %note.author, "availability configuration changed");
        Ok(ConfigRevision {
            version,
            config,
            change: note,
        })
    }
}

/// What every configuration must be, plus what only this retailer's may: a retailer-segment
/// delta names the retailer itself (another retailer's id would never match a request).
fn validate_for(tenant: &TenantId, config: &AvailabilityConfig) -> Result<(), InvalidConfig> {
    config.validate()?;
    if let Some(foreign) = config
        .deltas
        .iter()
        .find(|d| d.segment == Segment::Retailer && d.value != tenant.as_str())
    {
        return Err(InvalidConfig(format!(
            "a retailer delta must name this retailer ({tenant}), not {}",
            foreign.value
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
