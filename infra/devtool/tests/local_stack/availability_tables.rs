//! The availability adapters against the local endpoint: the scores table's conditional column
//! writes and bulk reads, the stores a retailer has, and the configuration's revisions.

use crate::support;

use storecast::availability::{
    AvailabilityConfig, ChangeNote, ColumnScore, ConfigStore, MissingScore, ModelColumn, Score,
    ScoreKey, ScoreStore, ScoreWrite, WriteOutcome,
};
use storecast::aws::dynamodb::{ScoresTable, TenantsTable};
use storecast::domain::{ItemId, ModelVersion, ScoreColumn, StoreId, TenantId};
use support::test_stack;
use time::OffsetDateTime;

fn key(store: &str, item: &str) -> ScoreKey {
    ScoreKey {
        store: StoreId::parse(store).unwrap(),
        item: ItemId::parse(item).unwrap(),
    }
}

fn write(item: &str, column: &str, score: f64, at: i64) -> ScoreWrite {
    ScoreWrite {
        key: key("s1", item),
        column: ScoreColumn::parse(column).unwrap(),
        value: ColumnScore {
            score: Score::new(score).unwrap(),
            computed_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
        },
    }
}

fn column(name: &str) -> ScoreColumn {
    ScoreColumn::parse(name).unwrap()
}

#[tokio::test]
async fn a_write_never_replaces_a_newer_score_nor_another_models_column() {
    let t = test_stack("scores").await;
    let table = ScoresTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("ScoresTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let harbor = TenantId::parse("harbor").unwrap();

    let first = table
        .write(
            &alpine,
            &[write("i1", "v7", 0.8, 1_000), write("i1", "v8", 0.6, 1_000)],
        )
        .await
        .unwrap();
    assert_eq!(first, vec![WriteOutcome::Written; 2]);
    // v7 from an older export is stale; a newer v8 replaces only v8.
    let second = table
        .write(
            &alpine,
            &[write("i1", "v7", 0.1, 900), write("i1", "v8", 0.3, 2_000)],
        )
        .await
        .unwrap();
    assert_eq!(second, vec![WriteOutcome::Stale, WriteOutcome::Written]);
    // The same write again (a redelivered unit) is stale: nothing changes.
    let again = table
        .write(&alpine, &[write("i1", "v8", 0.3, 2_000)])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Stale]);

    let stored = table
        .get(&alpine, &[key("s1", "i1"), key("s1", "missing")])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let item = &stored[&key("s1", "i1")];
    assert_eq!(item.get(&column("v7")).unwrap().score.value(), 0.8);
    assert_eq!(item.get(&column("v8")).unwrap().score.value(), 0.3);
    assert_eq!(
        item.get(&column("v8"))
            .unwrap()
            .computed_at
            .unix_timestamp(),
        2_000
    );
    // Another retailer with the same store and item ids sees nothing of it.
    assert!(
        table
            .get(&harbor, &[key("s1", "i1")])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_bulk_read_of_many_items_answers_each_stored_one() {
    let t = test_stack("scores-bulk").await;
    let table = ScoresTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("ScoresTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    let writes: Vec<ScoreWrite> = (0..150)
        .map(|i| write(&format!("i{i}"), "v7", f64::from(i) / 150.0, 1_000))
        .collect();
    table.write(&alpine, &writes).await.unwrap();
    let keys: Vec<ScoreKey> = (0..250).map(|i| key("s1", &format!("i{i}"))).collect();
    let stored = table.get(&alpine, &keys).await.unwrap();
    assert_eq!(stored.len(), 150);
    assert_eq!(
        stored[&key("s1", "i75")]
            .get(&column("v7"))
            .unwrap()
            .score
            .value(),
        0.5
    );

    let store = StoreId::parse("s1").unwrap();
    assert!(!table.store_known(&alpine, &store).await.unwrap());
    table
        .record_stores(&alpine, &[store.clone(), store.clone()])
        .await
        .unwrap();
    assert!(table.store_known(&alpine, &store).await.unwrap());
    let harbor = TenantId::parse("harbor").unwrap();
    assert!(!table.store_known(&harbor, &store).await.unwrap());
}

fn config(threshold: f64) -> AvailabilityConfig {
    AvailabilityConfig {
        models: vec![ModelColumn {
            model: ModelVersion::parse("avail-2026-11").unwrap(),
            column: column("v7"),
            synced: true,
            enabled: true,
            base_threshold: threshold,
        }],
        default_column: column("v7"),
        experiment: None,
        deltas: Vec::new(),
        max_score_age_seconds: 3_600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

fn note(reason: &str) -> ChangeNote {
    ChangeNote {
        author: "dana@alpine.example".into(),
        at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        reason: reason.into(),
        rollback_of: None,
    }
}

#[tokio::test]
async fn configuration_versions_are_written_once_and_read_newest_first() {
    let t = test_stack("availability-config").await;
    let table = TenantsTable::new(
        t.clients.dynamodb.clone(),
        &t.stack.table("TenantsTable").unwrap().name,
    );
    let alpine = TenantId::parse("alpine").unwrap();
    assert!(table.current(&alpine).await.unwrap().is_none());
    assert_eq!(
        table
            .save(&alpine, &config(0.5), &note("first"), None)
            .await
            .unwrap(),
        Some(1)
    );
    // Two changes made from version 1 at once: only the first becomes version 2.
    assert_eq!(
        table
            .save(&alpine, &config(0.6), &note("second"), Some(1))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        table
            .save(&alpine, &config(0.7), &note("late"), Some(1))
            .await
            .unwrap(),
        None
    );
    let current = table.current(&alpine).await.unwrap().unwrap();
    assert_eq!(current.version, 2);
    assert_eq!(current.config.models[0].base_threshold, 0.6);
    assert_eq!(current.change.reason, "second");
    let history = table.history(&alpine, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(
        table
            .revision(&alpine, 1)
            .await
            .unwrap()
            .unwrap()
            .change
            .reason,
        "first"
    );
    let harbor = TenantId::parse("harbor").unwrap();
    assert!(table.current(&harbor).await.unwrap().is_none());
}
