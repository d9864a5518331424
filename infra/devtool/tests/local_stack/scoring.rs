//! The local scoring service answered through the library's HTTP adapter.

use std::sync::Arc;

use storecast::availability::{
    AvailabilityConfig, ChangeNote, ConfigStore as _, MissingScore, ModelColumn, ScoreKey,
    ScoreSource as _,
};
use storecast::clock::SystemClock;
use storecast::domain::{ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};
use storecast::http::scoring::{HttpScoreSource, ScoringSettings};
use storecast::testing::MemoryConfigStore;
use storecast_dev::local::scoring::{deterministic_score, serve_scoring};

#[tokio::test]
async fn the_local_scoring_service_answers_the_same_score_for_the_same_item_and_model() {
    let (address, server) = serve_scoring("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let tenant = TenantId::parse("alpine").unwrap();
    let configs = Arc::new(MemoryConfigStore::default());
    let config = AvailabilityConfig {
        models: vec![ModelColumn {
            model: ModelVersion::parse("avail-2026-11").unwrap(),
            column: ScoreColumn::parse("s1").unwrap(),
            synced: true,
            enabled: true,
            base_threshold: 0.5,
        }],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    };
    let note = ChangeNote {
        author: "ops".into(),
        at: time::OffsetDateTime::now_utc(),
        reason: "test".into(),
        rollback_of: None,
    };
    configs.save(&tenant, &config, &note, None).await.unwrap();
    let settings = ScoringSettings::new(format!("http://{address}"));
    let source = HttpScoreSource::new(settings, configs, Arc::new(SystemClock)).unwrap();
    let keys: Vec<ScoreKey> = (0..150)
        .map(|i| ScoreKey {
            store: StoreId::parse("st1").unwrap(),
            item: ItemId::parse(format!("it{i}")).unwrap(),
        })
        .collect();
    let columns = [ScoreColumn::parse("s1").unwrap()];

    let first = source.fresh(&tenant, &keys, &columns).await.unwrap();
    let second = source.fresh(&tenant, &keys, &columns).await.unwrap();

    assert_eq!(first.len(), 150);
    assert_eq!(source.dropped(), 0);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.value.score, b.value.score);
    }
    let expected = deterministic_score("alpine", "st1", "it7", "avail-2026-11");
    let it7 = first.iter().find(|w| w.key.item.as_str() == "it7").unwrap();
    assert!((it7.value.score.value() - expected).abs() < 1e-12);
    let age = time::OffsetDateTime::now_utc() - it7.value.computed_at;
    assert!(age < time::Duration::minutes(1), "computed now");
    server.abort();
}
