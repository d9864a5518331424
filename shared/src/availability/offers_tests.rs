//! The stock filter alone: shoppers of one store decided by their region and experiment arm,
//! one decision shared by every shopper with the same terms.

use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::availability::bucketing;
use crate::availability::{ChangeNote, ColumnScore, ConfigStore as _, Score, ScoreWrite};
use crate::campaigns::{Shopper, StockItem};
use crate::domain::{CustomerId, ScoreColumn, StoreId};
use crate::testing::{ManualClock, MemoryConfigStore, MemoryScoreStore};

const NOW: time::OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

async fn filter(config: serde_json::Value) -> (StockFilter, Arc<MemoryScoreStore>) {
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(MemoryConfigStore::default());
    let note = ChangeNote {
        author: "ds".into(),
        at: NOW,
        reason: "test".into(),
        rollback_of: None,
    };
    configs
        .save(
            &tenant(),
            &serde_json::from_value(config).unwrap(),
            &note,
            None,
        )
        .await
        .unwrap();
    let cache = Arc::new(ConfigCache::new(configs, Arc::new(ManualClock::new(NOW))));
    (StockFilter::new(scores.clone(), cache), scores)
}

fn tenant() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

async fn score(scores: &MemoryScoreStore, column: &str, item: &str, value: f64) {
    let write = ScoreWrite {
        key: ScoreKey {
            store: StoreId::parse("s1").unwrap(),
            item: ItemId::parse(item).unwrap(),
        },
        column: ScoreColumn::parse(column).unwrap(),
        value: ColumnScore {
            score: Score::new(value).unwrap(),
            computed_at: NOW,
        },
    };
    scores.write(&tenant(), &[write]).await.unwrap();
}

fn sorted(set: &HashSet<String>) -> Vec<&str> {
    let mut items: Vec<&str> = set.iter().map(String::as_str).collect();
    items.sort();
    items
}

#[tokio::test]
async fn shoppers_are_decided_by_region_and_category_and_share_equal_decisions() {
    let (filter, scores) = filter(json!({
        "models": [{"model": "m1", "column": "a", "base_threshold": 0.5}],
        "default_column": "a",
        "deltas": [{"segment": "region", "value": "north", "delta": 0.2},
                   {"segment": "category", "value": "shoes", "delta": -0.3}]
    }))
    .await;
    score(&scores, "a", "boots", 0.45).await;
    score(&scores, "a", "hat", 0.6).await;
    let customers: Vec<CustomerId> = (0..4)
        .map(|i| CustomerId::parse(format!("c{i}")).unwrap())
        .collect();
    let regions = [Some("north"), None, Some("south"), Some("north")];
    let shoppers: Vec<Shopper<'_>> = customers
        .iter()
        .zip(regions)
        .map(|(customer, region)| Shopper { customer, region })
        .collect();
    let items = [
        StockItem {
            item_id: "boots",
            category: Some("shoes"),
        },
        StockItem {
            item_id: "hat",
            category: None,
        },
        StockItem {
            item_id: "not an id",
            category: None,
        },
    ];
    let store = StoreId::parse("s1").unwrap();
    let query = StockQuery {
        store: &store,
        items: &items,
        shoppers: &shoppers,
    };

    let sets = filter.likely_in_stock(&tenant(), &query).await.unwrap();

    // North: boots 0.45 >= 0.5 + 0.2 - 0.3, hat 0.6 < 0.7; elsewhere both pass. The item id
    // that cannot be a key is a missing score, assumed one half: below 0.5 + 0.2 only.
    assert_eq!(sorted(&sets[0]), vec!["boots"]);
    assert_eq!(sorted(&sets[1]), vec!["boots", "hat", "not an id"]);
    assert_eq!(sorted(&sets[2]), vec!["boots", "hat", "not an id"]);
    assert!(
        Arc::ptr_eq(&sets[0], &sets[3]),
        "both northern shoppers share one decision"
    );
    assert!(
        Arc::ptr_eq(&sets[1], &sets[2]),
        "south has no delta: decided as no region"
    );
    assert_eq!(scores.get_calls(), 1);
    assert_eq!(scores.keys_read(), 2, "only ids that can be keys are read");
}

#[tokio::test]
async fn each_shopper_reads_the_column_of_their_experiment_arm() {
    let (filter, scores) = filter(json!({
        "models": [{"model": "m1", "column": "a", "base_threshold": 0.5},
                   {"model": "m2", "column": "b", "base_threshold": 0.5}],
        "default_column": "a",
        "experiment": {"key": "exp", "arms": [{"column": "a", "weight": 1}, {"column": "b", "weight": 1}]}
    }))
    .await;
    score(&scores, "a", "boots", 0.9).await;
    score(&scores, "b", "boots", 0.1).await;
    let customers: Vec<CustomerId> = (0..40)
        .map(|i| CustomerId::parse(format!("c{i}")).unwrap())
        .collect();
    let shoppers: Vec<Shopper<'_>> = customers
        .iter()
        .map(|customer| Shopper {
            customer,
            region: None,
        })
        .collect();
    let items = [StockItem {
        item_id: "boots",
        category: None,
    }];
    let store = StoreId::parse("s1").unwrap();
    let query = StockQuery {
        store: &store,
        items: &items,
        shoppers: &shoppers,
    };
    let sets = filter.likely_in_stock(&tenant(), &query).await.unwrap();
    let ranges = bucketing::bucket_ranges(2, 1.0, Some(&[0.5, 0.5]));
    for (customer, set) in customers.iter().zip(&sets) {
        let n = bucketing::hash("exp", customer.as_str(), bucketing::HashVersion::V2);
        let arm = bucketing::choose_variation(n, &ranges).unwrap();
        assert_eq!(set.contains("boots"), arm == 0, "{customer}: arm {arm}");
    }
    assert!(sets.iter().any(|s| s.is_empty()) && sets.iter().any(|s| !s.is_empty()));
}
