//! The decision on hand-built configurations and scores: GIVEN a configuration and stored
//! scores, WHEN a request is decided, THEN its column, threshold and verdicts.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::availability::ColumnScore;

fn tenant() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn store() -> StoreId {
    StoreId::parse("berlin-1").unwrap()
}

fn column(name: &str) -> ScoreColumn {
    ScoreColumn::parse(name).unwrap()
}

/// Two models: `m1` in column `a` (the default, threshold 0.6) and `m2` in column `b` (0.4).
fn config(extra: serde_json::Value) -> AvailabilityConfig {
    let mut value = json!({
        "models": [
            {"model": "m1", "column": "a", "base_threshold": 0.6},
            {"model": "m2", "column": "b", "base_threshold": 0.4}
        ],
        "default_column": "a"
    });
    for (key, field) in extra.as_object().unwrap() {
        value[key] = field.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn table(extra: serde_json::Value) -> DecisionTable {
    DecisionTable::new(config(extra)).unwrap()
}

fn scores(pairs: &[(&str, f64)]) -> ItemScores {
    ItemScores {
        columns: pairs
            .iter()
            .map(|&(name, score)| {
                (
                    column(name),
                    ColumnScore {
                        score: Score::new(score).unwrap(),
                        computed_at: datetime!(2026-11-20 06:00 UTC),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn item(id: &str, category: Option<&str>) -> ItemQuery {
    ItemQuery {
        item_id: ItemId::parse(id).unwrap(),
        category: category.map(str::to_string),
    }
}

fn context<'a>(
    tenant: &'a TenantId,
    store: &'a StoreId,
    region: Option<&'a str>,
    user: Option<&'a str>,
) -> RequestContext<'a> {
    RequestContext {
        tenant,
        store,
        region,
        user,
    }
}

#[test]
fn without_a_user_the_default_column_decides_with_its_models_threshold() {
    let table = table(json!({
        "experiment": {"key": "exp", "arms": [{"column": "a", "weight": 1}, {"column": "b", "weight": 1}]}
    }));
    let (tenant, store) = (tenant(), store());
    let stored: HashMap<ItemId, ItemScores> = [
        (
            ItemId::parse("boots").unwrap(),
            scores(&[("a", 0.7), ("b", 0.1)]),
        ),
        (
            ItemId::parse("socks").unwrap(),
            scores(&[("a", 0.5), ("b", 0.9)]),
        ),
    ]
    .into();
    for user in [None, Some("")] {
        let decision = table.decide(
            &context(&tenant, &store, None, user),
            &[item("boots", None), item("socks", None)],
            &stored,
        );
        assert_eq!(decision.terms.column, column("a"), "user {user:?}");
        assert_eq!(decision.terms.model.as_str(), "m1");
        assert_eq!(decision.terms.arm, None);
        assert_eq!(decision.terms.base_threshold, 0.6);
        assert_eq!(decision.store, store);
        let verdicts: Vec<(f64, bool)> = decision
            .items
            .iter()
            .map(|d| (d.score.unwrap().value(), d.available))
            .collect();
        assert_eq!(verdicts, vec![(0.7, true), (0.5, false)]);
        assert!(
            decision
                .items
                .iter()
                .all(|d| !d.missing && d.threshold == 0.6)
        );
    }
}

#[test]
fn users_are_split_between_arms_as_growthbook_buckets_them() {
    let table = table(json!({
        "experiment": {"key": "exp", "seed": "s1", "coverage": 0.5,
                       "arms": [{"column": "a", "weight": 3}, {"column": "b", "weight": 1}]}
    }));
    let (tenant, store) = (tenant(), store());
    // The arms' shares are normalised (3:1 is 0.75 and 0.25) before GrowthBook's ranges.
    let ranges = bucketing::bucket_ranges(2, 0.5, Some(&[0.75, 0.25]));
    let mut seen = [0u32; 3];
    for i in 0..2_000 {
        let user = format!("user-{i}");
        let terms = table.terms(&context(&tenant, &store, None, Some(&user)));
        let n = bucketing::hash("s1", &user, HashVersion::V2);
        match bucketing::choose_variation(n, &ranges) {
            Some(arm) => {
                let expected = ["a", "b"][arm];
                assert_eq!(terms.column, column(expected), "{user}");
                assert_eq!(
                    terms.arm,
                    Some(ArmAssignment {
                        experiment: "exp".into(),
                        arm
                    })
                );
                assert_eq!(terms.base_threshold, [0.6, 0.4][arm]);
                seen[arm] += 1;
            }
            None => {
                assert_eq!(terms.column, column("a"), "outside coverage: default");
                assert_eq!(terms.arm, None);
                seen[2] += 1;
            }
        }
    }
    // Half the users are covered, three to one between the arms.
    assert!((650..=850).contains(&seen[0]), "{seen:?}");
    assert!((180..=320).contains(&seen[1]), "{seen:?}");
    assert!((900..=1100).contains(&seen[2]), "{seen:?}");
}

#[test]
fn the_deltas_of_every_segment_the_request_and_item_fall_in_add_up() {
    let user = (0..)
        .map(|i| format!("u{i}"))
        .find(|u| bucketing::user_bucket(u) == 3)
        .unwrap();
    let table = table(json!({
        "deltas": [
            {"segment": "retailer", "value": "alpine", "delta": 0.05},
            {"segment": "retailer", "value": "harbor", "delta": 0.3},
            {"segment": "region", "value": "north", "delta": -0.1},
            {"segment": "user_bucket", "value": "b3", "delta": 0.02},
            {"segment": "category", "value": "shoes", "delta": 0.2},
            {"segment": "category", "value": "dairy", "delta": -0.25}
        ]
    }));
    let (tenant, store) = (tenant(), store());
    let stored: HashMap<ItemId, ItemScores> = [
        (ItemId::parse("boots").unwrap(), scores(&[("a", 0.75)])),
        (ItemId::parse("milk").unwrap(), scores(&[("a", 0.4)])),
        (ItemId::parse("hat").unwrap(), scores(&[("a", 0.6)])),
    ]
    .into();
    let decision = table.decide(
        &context(&tenant, &store, Some("north"), Some(&user)),
        &[
            item("boots", Some("shoes")),
            item("milk", Some("dairy")),
            item("hat", Some("hats")),
        ],
        &stored,
    );
    let request: Vec<(Segment, &str, f64)> = decision
        .terms
        .deltas
        .iter()
        .map(|d| (d.segment, d.value.as_str(), d.delta))
        .collect();
    assert_eq!(
        request,
        vec![
            (Segment::Retailer, "alpine", 0.05),
            (Segment::Region, "north", -0.1),
            (Segment::UserBucket, "b3", 0.02),
        ],
        "another retailer's delta never applies"
    );
    let base = 0.6 + 0.05 - 0.1 + 0.02;
    let [boots, milk, hat] = &decision.items[..] else {
        panic!("three items")
    };
    assert!((boots.threshold - (base + 0.2)).abs() < 1e-12);
    assert!(!boots.available, "0.75 < 0.77");
    assert_eq!(boots.deltas(&decision.terms).count(), 4);
    assert!((milk.threshold - (base - 0.25)).abs() < 1e-12);
    assert!(milk.available, "0.4 >= 0.32");
    assert_eq!(hat.category_delta, None, "a category without a delta");
    assert!((hat.threshold - base).abs() < 1e-12);
    assert!(hat.available, "0.6 >= 0.57");
}

#[test]
fn thresholds_are_clamped_and_a_score_equal_to_the_threshold_is_available() {
    let strict = table(json!({
        "models": [{"model": "m1", "column": "a", "base_threshold": 0.9}],
        "deltas": [{"segment": "category", "value": "x", "delta": 0.5},
                   {"segment": "category", "value": "y", "delta": -0.5},
                   {"segment": "region", "value": "r", "delta": -0.5}]
    }));
    let (tenant, store) = (tenant(), store());
    let terms = strict.terms(&context(&tenant, &store, Some("r"), None));
    let perfect = scores(&[("a", 1.0)]);
    let zero = scores(&[("a", 0.0)]);
    let over = strict.decide_item(&terms, &item("i", Some("x")), Some(&perfect));
    assert_eq!(over.threshold, 0.9 - 0.5 + 0.5);
    let plain = strict.terms(&context(&tenant, &store, None, None));
    let clamped_high = strict.decide_item(&plain, &item("i", Some("x")), Some(&perfect));
    assert_eq!(clamped_high.threshold, 1.0, "0.9 + 0.5 clamps to 1");
    assert!(
        clamped_high.available,
        "a score of 1 meets a threshold of 1"
    );
    let clamped_low = strict.decide_item(&terms, &item("i", Some("y")), Some(&zero));
    assert_eq!(clamped_low.threshold, 0.0, "0.9 - 1.0 clamps to 0");
    assert!(clamped_low.available);
}

#[test]
fn a_missing_score_follows_the_configured_policy() {
    let (tenant, store) = (tenant(), store());
    // Only the other column is scored: for column a the score is missing.
    let other_column = scores(&[("b", 0.99)]);
    let assume = table(json!({"missing_score": {"assume": {"score": 0.65}}}));
    let terms = assume.terms(&context(&tenant, &store, None, None));
    for stored in [None, Some(&other_column)] {
        let decision = assume.decide_item(&terms, &item("new", None), stored);
        assert!(decision.missing);
        assert_eq!(decision.score.map(Score::value), Some(0.65));
        assert_eq!(decision.computed_at, None);
        assert!(decision.available, "0.65 >= 0.6");
    }
    let default_policy = table(json!({}));
    let terms = default_policy.terms(&context(&tenant, &store, None, None));
    let coin = default_policy.decide_item(&terms, &item("new", None), None);
    assert_eq!(coin.score.map(Score::value), Some(0.5));
    assert!(!coin.available, "one half is below 0.6");
    let unavailable = table(json!({"missing_score": "unavailable"}));
    let terms = unavailable.terms(&context(&tenant, &store, None, None));
    let refused = unavailable.decide_item(&terms, &item("new", None), Some(&other_column));
    assert!(refused.missing && !refused.available);
    assert_eq!(refused.score, None);
}

#[test]
fn requests_with_equal_keys_have_equal_terms() {
    let table = table(json!({
        "experiment": {"key": "exp", "arms": [{"column": "a", "weight": 1}, {"column": "b", "weight": 1}]},
        "deltas": [{"segment": "region", "value": "north", "delta": 0.1},
                   {"segment": "user_bucket", "value": "b0", "delta": 0.1}]
    }));
    let tenant = tenant();
    let south = table.key(Some("south"), Some("u1"));
    assert_eq!(
        south.region, None,
        "a region without a delta is not part of the key"
    );
    assert_eq!(table.key(Some("north"), None).region, Some("north"));
    let mut by_key: HashMap<TermsKey<'_>, RequestTerms> = HashMap::new();
    let users: Vec<String> = (0..300).map(|i| format!("u{i}")).collect();
    for user in &users {
        for region in [None, Some("north"), Some("south")] {
            let key = table.key(region, Some(user));
            let terms = table.terms_for(&tenant, &key);
            let store = store();
            assert_eq!(
                terms,
                table.terms(&context(&tenant, &store, region, Some(user)))
            );
            assert_eq!(by_key.entry(key).or_insert_with(|| terms.clone()), &terms);
            assert_eq!(
                key.user_bucket.is_some(),
                bucketing::user_bucket(user) == 0,
                "only a bucket with a delta is part of the key"
            );
        }
    }
    // Two arms, two regions that matter, bucket b0 or not.
    assert_eq!(by_key.len(), 2 * 2 * 2);
}

#[test]
fn an_invalid_configuration_is_never_prepared() {
    let mut invalid = config(json!({}));
    invalid.default_column = column("zz");
    assert!(DecisionTable::new(invalid).is_err());
}
