//! The availability decision of 100 items, in process on one core. Target: well under 50 µs of
//! CPU per 100 items. Run with `cargo bench -p storecast --bench availability`; without
//! `--bench` (as under `cargo test --all-targets`) it is a quick smoke run of the same code.
//!
//! The configuration is as large as one may be: three models, an experiment between two of
//! them, and the full 1,000 segment deltas (categories, regions, the retailer, every user
//! bucket). Every item has a category with a delta and is scored in every column. Two figures:
//! the decision alone (`DecisionTable::decide`: the request's terms, then each item), and the
//! whole `Lookup::lookup` on the in-memory stores with the configuration cached (validation,
//! keys, the store's read, the decision).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use storecast::availability::config::MAX_DELTAS;
use storecast::availability::decision::{DecisionTable, ItemQuery, RequestContext};
use storecast::availability::lookup::{Lookup, LookupRequest, MAX_LOOKUP_ITEMS};
use storecast::availability::{
    AvailabilityConfig, ChangeNote, ColumnScore, ConfigStore as _, ItemScores, Score, ScoreKey,
    ScoreStore as _, ScoreWrite,
};
use storecast::clock::SystemClock;
use storecast::domain::{ItemId, ScoreColumn, StoreId, TenantId};
use storecast::testing::{MemoryConfigStore, MemoryScoreStore};

/// Requests timed (a tenth of them through the whole lookup); the smoke run does fewer.
const RUNS: usize = 20_000;
const SMOKE_RUNS: usize = 200;
const BUDGET: Duration = Duration::from_micros(50);
const COLUMNS: [&str; 3] = ["a", "b", "c"];

fn config() -> AvailabilityConfig {
    let mut deltas = vec![json!({"segment": "retailer", "value": "alpine", "delta": 0.01})];
    for bucket in 0..10 {
        deltas.push(json!({"segment": "user_bucket", "value": format!("b{bucket}"), "delta": 0.001 * f64::from(bucket)}));
    }
    for region in 0..50 {
        deltas.push(
            json!({"segment": "region", "value": format!("region-{region}"), "delta": -0.02}),
        );
    }
    let mut category = 0;
    while deltas.len() < MAX_DELTAS {
        deltas.push(
            json!({"segment": "category", "value": format!("category-{category}"), "delta": 0.05}),
        );
        category += 1;
    }
    serde_json::from_value(json!({
        "models": [
            {"model": "m1", "column": "a", "base_threshold": 0.5},
            {"model": "m2", "column": "b", "base_threshold": 0.45},
            {"model": "m3", "column": "c", "base_threshold": 0.55, "enabled": false}
        ],
        "default_column": "a",
        "experiment": {"key": "m2-rollout", "coverage": 0.8,
                       "arms": [{"column": "a", "weight": 1}, {"column": "b", "weight": 1}]},
        "deltas": deltas
    }))
    .expect("the bench configuration parses")
}

fn items() -> Vec<ItemQuery> {
    (0..MAX_LOOKUP_ITEMS)
        .map(|i| ItemQuery {
            item_id: ItemId::parse(format!("item-{i:05}")).unwrap(),
            category: Some(format!("category-{}", i * 7)),
        })
        .collect()
}

fn scores_of(i: usize) -> ItemScores {
    let computed_at = time::OffsetDateTime::now_utc();
    ItemScores {
        columns: COLUMNS
            .iter()
            .enumerate()
            .map(|(c, column)| {
                let value = ((i * 37 + c * 11) % 100) as f64 / 100.0;
                let score = ColumnScore {
                    score: Score::new(value).unwrap(),
                    computed_at,
                };
                (ScoreColumn::parse(*column).unwrap(), score)
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn median_and_p99(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tenant = TenantId::parse("alpine").unwrap();
    let store = StoreId::parse("berlin-1").unwrap();
    let items = items();
    let stored: HashMap<ItemId, ItemScores> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.item_id.clone(), scores_of(i)))
        .collect();
    let table = DecisionTable::new(config()).expect("valid");
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    let runs = if std::env::args().any(|a| a == "--bench") {
        RUNS
    } else {
        SMOKE_RUNS
    };
    let users: Vec<String> = (0..runs).map(|i| format!("customer-{i}")).collect();
    let regions: Vec<String> = (0..64).map(|i| format!("region-{i}")).collect();

    println!(
        "availability bench: {runs} requests of {MAX_LOOKUP_ITEMS} items, {MAX_DELTAS} deltas, \
         one core (target: well under {} per 100 items)",
        micros(BUDGET)
    );
    let mut available = 0usize;
    let mut decide_times = Vec::with_capacity(runs);
    for (run, user) in users.iter().enumerate() {
        let context = RequestContext {
            tenant: &tenant,
            store: &store,
            region: Some(&regions[run % regions.len()]),
            user: Some(user),
        };
        let started = Instant::now();
        let decision = table.decide(black_box(&context), black_box(&items), &stored);
        decide_times.push(started.elapsed());
        available += decision.items.iter().filter(|d| d.available).count();
        black_box(decision);
    }
    let (median, p99) = median_and_p99(decide_times);
    println!(
        "decision (DecisionTable::decide, 100 items): median {}, p99 {} (threshold {}); {:.1} % available",
        micros(median),
        micros(p99),
        micros(BUDGET),
        100.0 * available as f64 / (runs * MAX_LOOKUP_ITEMS) as f64
    );

    let lookup = lookup_on_memory_stores(&tenant, &store, &items).await;
    let mut lookup_times = Vec::with_capacity(runs / 10);
    for user in users.iter().take(runs / 10) {
        let request = LookupRequest {
            store_id: store.clone(),
            region: Some(regions[0].clone()),
            user_id: Some(user.clone()),
            items: items.clone(),
        };
        let started = Instant::now();
        let answer = lookup.lookup(&tenant, black_box(&request)).await.unwrap();
        lookup_times.push(started.elapsed());
        black_box(answer);
    }
    let (median, p99) = median_and_p99(lookup_times);
    println!(
        "lookup (Lookup::lookup on the in-memory stores, config cached, 100 items): median {}, p99 {}",
        micros(median),
        micros(p99)
    );
}

async fn lookup_on_memory_stores(
    tenant: &TenantId,
    store: &StoreId,
    items: &[ItemQuery],
) -> Lookup {
    let scores = Arc::new(MemoryScoreStore::default());
    let configs = Arc::new(MemoryConfigStore::default());
    let note = ChangeNote {
        author: "bench".into(),
        at: time::OffsetDateTime::now_utc(),
        reason: "bench".into(),
        rollback_of: None,
    };
    configs.save(tenant, &config(), &note, None).await.unwrap();
    scores
        .record_stores(tenant, std::slice::from_ref(store))
        .await
        .unwrap();
    let mut writes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        for (column, value) in scores_of(i).columns {
            writes.push(ScoreWrite {
                key: ScoreKey {
                    store: store.clone(),
                    item: item.item_id.clone(),
                },
                column,
                value,
            });
        }
    }
    scores.write(tenant, &writes).await.unwrap();
    Lookup::new(scores, configs, Arc::new(SystemClock))
}
