//! The lookup and the configuration service on the in-memory adapters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::availability::{ColumnScore, Score, ScoreWrite};
use crate::domain::ScoreColumn;
use crate::testing::{ManualClock, MemoryConfigStore, MemoryScoreStore};

const START: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

/// The in-memory configuration store, counting the reads of the current revision and able to
/// fail as an unavailable table does.
#[derive(Default)]
struct CountingConfigs {
    inner: MemoryConfigStore,
    current_reads: AtomicU64,
    unavailable: AtomicBool,
}

impl CountingConfigs {
    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable {
                store: "tenants table",
                source: "set unavailable".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ConfigStore for CountingConfigs {
    async fn current(&self, tenant: &TenantId) -> Result<Option<ConfigRevision>, StoreError> {
        self.check()?;
        self.current_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.current(tenant).await
    }
    async fn revision(
        &self,
        tenant: &TenantId,
        version: u64,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        self.check()?;
        self.inner.revision(tenant, version).await
    }
    async fn history(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        self.check()?;
        self.inner.history(tenant, limit).await
    }
    async fn save(
        &self,
        tenant: &TenantId,
        config: &AvailabilityConfig,
        change: &ChangeNote,
        expected: Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        self.check()?;
        self.inner.save(tenant, config, change, expected).await
    }
}

struct Setup {
    scores: Arc<MemoryScoreStore>,
    configs: Arc<CountingConfigs>,
    clock: Arc<ManualClock>,
    lookup: Lookup,
    service: ConfigService,
}

fn setup() -> Setup {
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(CountingConfigs::default());
    let clock = Arc::new(ManualClock::new(START));
    let lookup = Lookup::new(scores.clone(), configs.clone(), clock.clone());
    let service = ConfigService::new(configs.clone(), clock.clone()).invalidating(lookup.cache());
    Setup {
        scores,
        configs,
        clock,
        lookup,
        service,
    }
}

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn config(threshold: f64) -> AvailabilityConfig {
    serde_json::from_value(json!({
        "models": [{"model": "m1", "column": "a", "base_threshold": threshold}],
        "default_column": "a",
        "deltas": [{"segment": "category", "value": "shoes", "delta": 0.1}]
    }))
    .unwrap()
}

fn change(config: AvailabilityConfig, expected: Option<u64>) -> ConfigChange {
    ConfigChange {
        config,
        author: "ds@alpine".into(),
        reason: "calibrated on October".into(),
        expected_version: expected,
    }
}

fn store(id: &str) -> StoreId {
    StoreId::parse(id).unwrap()
}

fn item(id: &str, category: Option<&str>) -> ItemQuery {
    ItemQuery {
        item_id: ItemId::parse(id).unwrap(),
        category: category.map(str::to_string),
    }
}

fn request(store_id: &str, items: Vec<ItemQuery>) -> LookupRequest {
    LookupRequest {
        store_id: store(store_id),
        region: None,
        user_id: Some("customer-1".into()),
        items,
    }
}

async fn put_score(scores: &MemoryScoreStore, tenant: &TenantId, at: &str, item: &str, value: f64) {
    scores.record_stores(tenant, &[store(at)]).await.unwrap();
    let write = ScoreWrite {
        key: ScoreKey {
            store: store(at),
            item: ItemId::parse(item).unwrap(),
        },
        column: ScoreColumn::parse("a").unwrap(),
        value: ColumnScore {
            score: Score::new(value).unwrap(),
            computed_at: START,
        },
    };
    scores.write(tenant, &[write]).await.unwrap();
}

/// Alpine configured at threshold 0.5; boots 0.55 and milk 0.9 at store s1, boots 0.1 at s2.
async fn configured() -> Setup {
    let t = setup();
    let tenant = alpine();
    t.service
        .change(&tenant, change(config(0.5), None))
        .await
        .unwrap();
    put_score(&t.scores, &tenant, "s1", "boots", 0.55).await;
    put_score(&t.scores, &tenant, "s1", "milk", 0.9).await;
    put_score(&t.scores, &tenant, "s2", "boots", 0.1).await;
    t
}

#[tokio::test]
async fn a_lookup_decides_each_item_with_its_stores_scores_in_one_read() {
    let t = configured().await;
    let answer = t
        .lookup
        .lookup(
            &alpine(),
            &request(
                "s1",
                vec![
                    item("boots", Some("shoes")),
                    item("milk", None),
                    item("new", None),
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!(answer.config_version, 1);
    let items: Vec<(&str, Option<f64>, bool, bool)> = answer
        .decision
        .items
        .iter()
        .map(|d| {
            (
                d.item.as_str(),
                d.score.map(Score::value),
                d.missing,
                d.available,
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("boots", Some(0.55), false, false),
            ("milk", Some(0.9), false, true),
            ("new", Some(0.5), true, true),
        ],
        "boots is held to 0.6 as shoes; the new item is assumed a coin flip"
    );
    assert_eq!(t.scores.get_calls(), 1);
    assert_eq!(t.scores.keys_read(), 3);

    let other_store = t
        .lookup
        .lookup(&alpine(), &request("s2", vec![item("boots", None)]))
        .await
        .unwrap();
    assert_eq!(
        other_store.decision.items[0].score.map(Score::value),
        Some(0.1)
    );
    assert!(!other_store.decision.items[0].available);
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_read() {
    let t = configured().await;
    let many: Vec<ItemQuery> = (0..=MAX_LOOKUP_ITEMS)
        .map(|i| item(&format!("i{i}"), None))
        .collect();
    let hundred = many[..MAX_LOOKUP_ITEMS].to_vec();
    for items in [
        vec![],
        many,
        vec![
            item("boots", None),
            item("milk", None),
            item("boots", Some("x")),
        ],
    ] {
        let refused = t
            .lookup
            .lookup(&alpine(), &request("s1", items))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, LookupError::Invalid { field: "items", .. }),
            "{refused}"
        );
        assert!(!refused.is_retryable());
    }
    assert_eq!(t.scores.get_calls(), 0);
    t.lookup
        .lookup(&alpine(), &request("s1", hundred))
        .await
        .unwrap();
    assert_eq!(t.scores.keys_read(), MAX_LOOKUP_ITEMS as u64);
}

#[tokio::test]
async fn unknown_stores_and_unconfigured_retailers_are_told_apart() {
    let t = configured().await;
    let unknown = t
        .lookup
        .lookup(&alpine(), &request("nowhere", vec![item("boots", None)]))
        .await
        .unwrap_err();
    assert!(matches!(unknown, LookupError::UnknownStore(ref s) if s.as_str() == "nowhere"));
    let harbor = TenantId::parse("harbor").unwrap();
    // Harbor has a store of the same name, but no configuration; alpine's is never used.
    t.scores
        .record_stores(&harbor, &[store("s1")])
        .await
        .unwrap();
    let unconfigured = t
        .lookup
        .lookup(&harbor, &request("s1", vec![item("boots", None)]))
        .await
        .unwrap_err();
    assert!(matches!(unconfigured, LookupError::NotConfigured));
}

#[tokio::test]
async fn the_configuration_is_read_once_a_minute_and_at_once_after_a_change_here() {
    let t = configured().await;
    let (tenant, boots) = (alpine(), request("s1", vec![item("boots", None)]));
    let ask = || t.lookup.lookup(&tenant, &boots);
    let reads = || t.configs.current_reads.load(Ordering::Relaxed);
    ask().await.unwrap();
    let after_first = reads();
    for _ in 0..5 {
        ask().await.unwrap();
    }
    t.clock.advance(time::Duration::seconds(59));
    ask().await.unwrap();
    assert_eq!(reads(), after_first, "cached for 60 s");
    t.clock.advance(time::Duration::seconds(1));
    ask().await.unwrap();
    assert_eq!(reads(), after_first + 1, "read again after 60 s");

    // Another container's lookup on the same table, and a change made here.
    let elsewhere = Lookup::new(t.scores.clone(), t.configs.clone(), t.clock.clone());
    elsewhere
        .lookup(&alpine(), &request("s1", vec![item("boots", None)]))
        .await
        .unwrap();
    t.service
        .change(&alpine(), change(config(0.2), Some(1)))
        .await
        .unwrap();
    let here = ask().await.unwrap();
    assert_eq!(
        here.config_version, 2,
        "this container's cache was invalidated"
    );
    assert!(here.decision.items[0].available);
    let there = || elsewhere.lookup(&tenant, &boots);
    assert_eq!(
        there().await.unwrap().config_version,
        1,
        "still cached there"
    );
    t.clock.advance(CONFIG_CACHE_TTL);
    assert_eq!(there().await.unwrap().config_version, 2);
}

#[tokio::test]
async fn failing_stores_are_retryable_errors() {
    let t = configured().await;
    t.scores.set_unavailable(true);
    let error = t
        .lookup
        .lookup(&alpine(), &request("s1", vec![item("boots", None)]))
        .await
        .unwrap_err();
    assert!(matches!(error, LookupError::Store(_)) && error.is_retryable());
    t.scores.set_unavailable(false);
    t.configs.unavailable.store(true, Ordering::Relaxed);
    t.clock.advance(CONFIG_CACHE_TTL);
    let error = t
        .lookup
        .lookup(&alpine(), &request("s1", vec![item("boots", None)]))
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    let error = t.service.current(&alpine()).await.unwrap_err();
    assert!(matches!(error, ConfigError::Store(_)) && error.is_retryable());
}

#[tokio::test]
async fn changes_are_validated_for_this_retailer_with_their_note() {
    let t = setup();
    let tenant = alpine();
    let mut invalid = config(0.5);
    invalid.models[0].base_threshold = 1.5;
    let refused = t
        .service
        .change(&tenant, change(invalid, None))
        .await
        .unwrap_err();
    assert!(matches!(refused, ConfigError::Invalid(_)), "{refused}");

    let mut foreign = config(0.5);
    foreign.deltas.push(crate::availability::SegmentDelta {
        segment: Segment::Retailer,
        value: "harbor".into(),
        delta: -0.2,
    });
    let refused = t
        .service
        .change(&tenant, change(foreign.clone(), None))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConfigError::Invalid(ref e) if e.0.contains("harbor")),
        "{refused}"
    );
    foreign.deltas[1].value = "alpine".into();
    let mut no_reason = change(foreign.clone(), None);
    no_reason.reason = "  ".into();
    let refused = t.service.change(&tenant, no_reason).await.unwrap_err();
    assert!(matches!(refused, ConfigError::InvalidNote(_)), "{refused}");
    assert!(matches!(
        t.service.current(&tenant).await.unwrap_err(),
        ConfigError::NotConfigured
    ));

    let saved = t
        .service
        .change(&tenant, change(foreign.clone(), None))
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    assert_eq!(saved.change.author, "ds@alpine");
    assert_eq!(saved.change.at, START);
    assert_eq!(t.service.current(&tenant).await.unwrap(), saved);
}

#[tokio::test]
async fn a_change_over_a_version_its_author_has_not_seen_is_a_conflict() {
    let t = setup();
    let tenant = alpine();
    t.service
        .change(&tenant, change(config(0.5), None))
        .await
        .unwrap();
    for expected in [None, Some(0), Some(2), Some(u64::MAX)] {
        let refused = t
            .service
            .change(&tenant, change(config(0.6), expected))
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                ConfigError::Conflict {
                    current: Some(1),
                    ..
                }
            ),
            "{expected:?}: {refused}"
        );
    }
    let second = t
        .service
        .change(&tenant, change(config(0.6), Some(1)))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    let stale = t
        .service
        .change(&tenant, change(config(0.7), Some(1)))
        .await
        .unwrap_err();
    assert!(stale.to_string().contains("expected version 1"), "{stale}");
    assert_eq!(t.service.current(&tenant).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_rollback_is_a_new_revision_holding_the_old_configuration() {
    let t = setup();
    let tenant = alpine();
    for (threshold, expected) in [(0.5, None), (0.6, Some(1)), (0.7, Some(2))] {
        t.service
            .change(&tenant, change(config(threshold), expected))
            .await
            .unwrap();
    }
    t.clock.advance(time::Duration::hours(1));
    let rolled = t
        .service
        .rollback(&tenant, 1, "lead@alpine".into(), "0.7 hid too much".into())
        .await
        .unwrap();
    assert_eq!(rolled.version, 4);
    assert_eq!(rolled.config, config(0.5));
    assert_eq!(rolled.change.rollback_of, Some(1));
    assert_eq!(rolled.change.author, "lead@alpine");
    assert_eq!(rolled.change.reason, "0.7 hid too much");
    assert_eq!(rolled.change.at, START + time::Duration::hours(1));
    let missing = t
        .service
        .rollback(&tenant, 9, "lead@alpine".into(), "typo".into())
        .await
        .unwrap_err();
    assert!(matches!(missing, ConfigError::NoSuchVersion(9)));

    let history = t.service.history(&tenant, 3).await.unwrap();
    let versions: Vec<u64> = history.iter().map(|r| r.version).collect();
    assert_eq!(versions, vec![4, 3, 2], "newest first, cut to the limit");
    assert_eq!(t.service.history(&tenant, 0).await.unwrap().len(), 1);
    let harbor = TenantId::parse("harbor").unwrap();
    assert!(t.service.history(&harbor, 10).await.unwrap().is_empty());
}
