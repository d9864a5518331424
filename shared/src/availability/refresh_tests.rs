use std::sync::Arc;

use time::Duration;
use time::macros::datetime;

use super::*;
use crate::availability::{
    ChangeNote, ColumnScore, MissingScore, ModelColumn, Score, ScoreSource, SourceError,
};
use crate::domain::{ItemId, ModelVersion, StoreId};
use crate::testing::{
    ManualClock, MemoryArchive, MemoryConfigStore, MemoryScoreSource, MemoryScoreStore,
};

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

struct World {
    scores: Arc<MemoryScoreStore>,
    source: Arc<MemoryScoreSource>,
    archive: Arc<MemoryArchive>,
    refresher: Refresher,
}

fn config() -> AvailabilityConfig {
    let model = |model: &str, column: &str, synced| ModelColumn {
        model: ModelVersion::parse(model).unwrap(),
        column: ScoreColumn::parse(column).unwrap(),
        synced,
        enabled: true,
        base_threshold: 0.5,
    };
    AvailabilityConfig {
        models: vec![
            model("avail-2026-11", "s1", true),
            model("avail-2026-12", "s2", true),
            model("avail-2026-10", "s0", false),
        ],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

/// The scoring service's clock is `source_lag` behind the refresher's.
async fn world_with(source: Option<Arc<dyn ScoreSource>>) -> (World, Arc<dyn ScoreSource>) {
    let configs = Arc::new(MemoryConfigStore::default());
    let note = ChangeNote {
        author: "ops".into(),
        at: NOW,
        reason: "start".into(),
        rollback_of: None,
    };
    for tenant in ["alpine", "brook"] {
        let tenant = TenantId::parse(tenant).unwrap();
        configs.save(&tenant, &config(), &note, None).await.unwrap();
    }
    let clock = Arc::new(ManualClock::new(NOW));
    let memory_source = Arc::new(MemoryScoreSource::new(clock.clone()));
    let source: Arc<dyn ScoreSource> = source.unwrap_or(memory_source.clone());
    let scores = Arc::new(MemoryScoreStore::default());
    let archive = Arc::new(MemoryArchive::default());
    let refresher = Refresher::new(RefreshPorts {
        configs,
        scores: scores.clone(),
        source: source.clone(),
        archive: archive.clone(),
        clock,
    });
    (
        World {
            scores,
            source: memory_source,
            archive,
            refresher,
        },
        source,
    )
}

async fn world() -> World {
    world_with(None).await.0
}

fn record(sequence: usize, data: serde_json::Value) -> InboundRecord {
    InboundRecord {
        sequence_number: format!("{sequence:05}"),
        partition_key: "p".into(),
        data: serde_json::to_vec(&data).unwrap(),
        arrived_at: None,
    }
}

fn shown(sequence: usize, tenant: &str, store: &str, items: &[&str]) -> InboundRecord {
    record(
        sequence,
        serde_json::json!({"contract_version": 1, "tenant_id": tenant, "store_id": store,
            "item_ids": items, "shown_at": "2026-11-30T11:59:00Z", "user_id": "u1"}),
    )
}

fn key(store: &str, item: &str) -> ScoreKey {
    ScoreKey {
        store: StoreId::parse(store).unwrap(),
        item: ItemId::parse(item).unwrap(),
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn column(name: &str) -> ScoreColumn {
    ScoreColumn::parse(name).unwrap()
}

async fn store(w: &World, item: &str, col: &str, computed_at: OffsetDateTime) {
    let write = ScoreWrite {
        key: key("st1", item),
        column: column(col),
        value: ColumnScore {
            score: Score::new(0.5).unwrap(),
            computed_at,
        },
    };
    w.scores.write(&tenant("alpine"), &[write]).await.unwrap();
}

#[tokio::test]
async fn given_fresh_old_and_missing_scores_then_only_the_stale_columns_are_refreshed() {
    let w = world().await;
    let recent = NOW - Duration::minutes(10);
    let old = NOW - Duration::hours(2);
    for col in ["s1", "s2"] {
        store(&w, "fresh", col, recent).await;
    }
    store(&w, "half", "s1", recent).await;
    store(&w, "half", "s2", old).await;

    let outcome = w
        .refresher
        .refresh(&[shown(1, "alpine", "st1", &["fresh", "half", "new"])])
        .await;

    let s = &outcome.summary;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!((s.impressions, s.unique_items, s.fresh), (3, 3, 1));
    assert_eq!(
        (s.refreshed, s.written, s.stale),
        (2, 3, 0),
        "half's s2, new's s1 and s2"
    );
    let half = w
        .scores
        .item(&tenant("alpine"), &key("st1", "half"))
        .unwrap();
    assert_eq!(
        half.get(&column("s1")).unwrap().computed_at,
        recent,
        "fresh column left alone"
    );
    assert_eq!(half.get(&column("s2")).unwrap().computed_at, NOW);
    let new = w
        .scores
        .item(&tenant("alpine"), &key("st1", "new"))
        .unwrap();
    assert!(
        new.get(&column("s0")).is_none(),
        "an unsynced model is never refreshed"
    );
    assert_eq!(
        new.get(&column("s1")).unwrap().score,
        MemoryScoreSource::score_of(&tenant("alpine"), &key("st1", "new"), &column("s1"))
    );
}

#[tokio::test]
async fn given_the_same_items_in_several_records_then_each_is_asked_for_once() {
    let w = world().await;
    let records = [
        shown(1, "alpine", "st1", &["a", "b", "a"]),
        shown(2, "alpine", "st1", &["b", "c"]),
        shown(3, "alpine", "st2", &["a"]),
    ];

    let outcome = w.refresher.refresh(&records).await;

    assert_eq!(outcome.summary.impressions, 6);
    assert_eq!(outcome.summary.unique_items, 4);
    assert_eq!(w.source.calls(), vec![(tenant("alpine"), 4)]);
    assert_eq!(w.scores.get_calls(), 1);
}

#[tokio::test]
async fn given_many_stale_items_then_the_scoring_service_is_asked_in_chunks() {
    let w = world().await;
    let items: Vec<String> = (0..250).map(|i| format!("i{i}")).collect();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();

    let outcome = w
        .refresher
        .refresh(&[shown(1, "alpine", "st1", &items)])
        .await;

    let sizes: Vec<usize> = w.source.calls().iter().map(|(_, n)| *n).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(outcome.summary.written, 500);
}

#[tokio::test]
async fn given_malformed_and_unconfigured_records_then_they_are_kept_and_the_rest_flow() {
    let w = world().await;
    let records = [
        record(1, serde_json::json!({"nonsense": true})),
        shown(2, "nobody", "st1", &["a"]),
        record(
            3,
            serde_json::json!({"contract_version": 9, "tenant_id": "alpine", "store_id": "st1",
                "item_ids": ["a"], "shown_at": "2026-11-30T11:59:00Z"}),
        ),
        shown(4, "alpine", "st1", &["a"]),
        record(
            5,
            serde_json::json!({"contract_version": 1, "tenant_id": "alpine",
            "store_id": "st 1", "item_ids": ["a"], "shown_at": "2026-11-30T11:59:00Z"}),
        ),
    ];

    let outcome = w.refresher.refresh(&records).await;

    let s = &outcome.summary;
    assert!(outcome.failed_positions.is_empty());
    assert_eq!((s.malformed, s.unconfigured, s.dead_lettered), (3, 1, 4));
    assert_eq!(s.written, 2);
    let letters = w.archive.dead_letters().await.unwrap();
    assert!(
        letters
            .iter()
            .any(|l| l.reason.contains("contract version 9"))
    );
    let unknown = letters
        .iter()
        .find(|l| l.tenant_id.as_deref() == Some("nobody"))
        .unwrap();
    assert!(unknown.reason.contains("unknown tenant"));
    assert!(
        unknown.payload.contains("\"store_id\":\"st1\""),
        "kept byte for byte"
    );
}

#[tokio::test]
async fn given_the_scoring_service_down_for_one_retailer_then_only_its_earliest_record_is_retried()
{
    let w = world().await;
    let records = [
        shown(1, "alpine", "st1", &["a"]),
        shown(2, "brook", "st1", &["b"]),
        shown(3, "alpine", "st1", &["c"]),
        shown(4, "brook", "st1", &["d"]),
    ];
    // The first call (alpine's) succeeds, the second (brook's) fails.
    let outcome = {
        let first = w.refresher.refresh(&records[..1]).await;
        assert!(first.failed_positions.is_empty());
        w.source.fail_next(1);
        w.refresher.refresh(&records[1..]).await
    };

    assert_eq!(outcome.summary.source_failures, 1);
    assert_eq!(
        outcome.failed_positions,
        vec![0, 2],
        "brook's records, at positions 0 and 2"
    );
    assert_eq!(outcome.summary.retried, 3);
    assert_eq!(outcome.summary.written, 2, "alpine's c is written");
    let response = partial_batch_response(&records[1..], outcome.failed_positions).unwrap();
    let reported: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(reported, vec!["00002".to_string()]);
}

#[tokio::test]
async fn given_a_refusing_service_or_an_unavailable_table_then_only_the_table_is_retried() {
    struct Refusing;
    #[async_trait::async_trait]
    impl ScoreSource for Refusing {
        async fn fresh(
            &self,
            _: &TenantId,
            _: &[ScoreKey],
            _: &[ScoreColumn],
        ) -> Result<Vec<ScoreWrite>, SourceError> {
            Err(SourceError::Refused {
                reason: "400 bad request".into(),
            })
        }
    }
    let (w, _) = world_with(Some(Arc::new(Refusing))).await;
    let records = [shown(1, "alpine", "st1", &["a"])];
    let refused = w.refresher.refresh(&records).await;
    assert!(
        refused.failed_positions.is_empty(),
        "a retry gets the same refusal"
    );
    assert_eq!(refused.summary.source_failures, 1);

    w.scores.set_unavailable(true);
    let unavailable = w.refresher.refresh(&records).await;
    assert_eq!(unavailable.failed_positions, vec![0]);
}

#[tokio::test]
async fn given_a_newer_score_stored_meanwhile_then_the_refresh_write_is_stale() {
    let clock = Arc::new(ManualClock::new(NOW - Duration::hours(3)));
    let behind: Arc<dyn ScoreSource> = Arc::new(MemoryScoreSource::new(clock));
    let (w, _) = world_with(Some(behind)).await;
    store(&w, "a", "s1", NOW - Duration::hours(2)).await;
    store(&w, "a", "s2", NOW - Duration::hours(2)).await;

    let outcome = w
        .refresher
        .refresh(&[shown(1, "alpine", "st1", &["a"])])
        .await;

    assert_eq!((outcome.summary.written, outcome.summary.stale), (0, 2));
    let item = w.scores.item(&tenant("alpine"), &key("st1", "a")).unwrap();
    assert_eq!(
        item.get(&column("s1")).unwrap().computed_at,
        NOW - Duration::hours(2)
    );
}

#[tokio::test]
async fn given_an_archive_that_is_down_then_a_malformed_record_is_retried_not_lost() {
    let w = world().await;
    w.archive.set_unavailable(true);
    let outcome = w
        .refresher
        .refresh(&[
            shown(1, "alpine", "st1", &["a"]),
            record(2, serde_json::json!(1)),
        ])
        .await;
    assert_eq!(outcome.failed_positions, vec![1]);
    assert_eq!(outcome.summary.written, 2);
}

#[test]
fn stale_columns_are_the_missing_and_the_too_old() {
    let synced = [column("s1"), column("s2")];
    let mut item = ItemScores::default();
    let value = |at| ColumnScore {
        score: Score::new(0.5).unwrap(),
        computed_at: at,
    };
    item.columns
        .insert(column("s1"), value(NOW - Duration::seconds(3600)));
    assert_eq!(
        stale_columns(Some(&item), &synced, NOW, 3600),
        vec![&synced[1]]
    );
    item.columns
        .insert(column("s2"), value(NOW - Duration::seconds(3601)));
    assert_eq!(
        stale_columns(Some(&item), &synced, NOW, 3600),
        vec![&synced[1]]
    );
    assert_eq!(stale_columns(None, &synced, NOW, 3600).len(), 2);
}
