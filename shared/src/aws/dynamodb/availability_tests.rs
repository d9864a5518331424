//! Request shapes the local endpoint does not check: one conditional update per changed row,
//! each column's condition on its own time, the fallback to one column at a time, BatchGetItem
//! in requests of at most 100 unique keys.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;

fn tenant() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn score_key(store: &str, item: &str) -> ScoreKey {
    ScoreKey {
        store: StoreId::parse(store).unwrap(),
        item: ItemId::parse(item).unwrap(),
    }
}

fn write(item: &str, column: &str, score: f64, at: i64) -> ScoreWrite {
    ScoreWrite {
        key: score_key("s1", item),
        column: ScoreColumn::parse(column).unwrap(),
        value: ColumnScore {
            score: Score::new(score).unwrap(),
            computed_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
        },
    }
}

#[tokio::test]
async fn the_columns_of_one_item_are_one_conditional_update_each_column_guarded_by_its_time() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rule = {
        let seen = seen.clone();
        mock!(Client::update_item).then_compute_output(move |request| {
            seen.lock().unwrap().push((
                request.key().unwrap()["pk"].as_s().unwrap().clone(),
                request.update_expression().unwrap().to_string(),
                request.condition_expression().unwrap().to_string(),
                request.expression_attribute_names().unwrap().clone(),
            ));
            UpdateItemOutput::builder().build()
        })
    };
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let table = ScoresTable::new(client, "scores");
    let outcomes = table
        .write(
            &tenant(),
            &[
                write("i1", "v7", 0.8, 100),
                write("i2", "v7", 0.4, 100),
                write("i1", "v8", 0.7, 100),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Written; 3]);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen.len(), 2, "one request per item");
    let (pk, update, condition, names) = &seen[0];
    assert_eq!(pk, "I#alpine#s1#i1");
    assert_eq!(update, "SET #s0 = :s0, #t0 = :t0, #s1 = :s1, #t1 = :t1");
    assert_eq!(
        condition,
        "(attribute_not_exists(#t0) OR #t0 < :t0) AND (attribute_not_exists(#t1) OR #t1 < :t1)"
    );
    assert_eq!(names["#s0"], "s_v7");
    assert_eq!(names["#t1"], "t_v8");
    assert_eq!(seen[1].0, "I#alpine#s1#i2");
}

#[tokio::test]
async fn when_one_column_is_newer_in_the_table_the_others_are_still_written_alone() {
    // The combined update fails; then v7 alone fails (stored newer) and v8 alone succeeds.
    let combined = mock!(Client::update_item)
        .match_requests(|r| r.expression_attribute_names().unwrap().len() == 4)
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
    let v7_alone = mock!(Client::update_item)
        .match_requests(|r| {
            let names = r.expression_attribute_names().unwrap();
            names.len() == 2 && names["#s0"] == "s_v7"
        })
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
    let v8_alone = mock!(Client::update_item)
        .match_requests(|r| r.expression_attribute_names().unwrap()["#s0"] == "s_v8")
        .then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&combined, &v7_alone, &v8_alone]
    );
    let table = ScoresTable::new(client, "scores");
    let outcomes = table
        .write(
            &tenant(),
            &[write("i1", "v7", 0.8, 100), write("i1", "v8", 0.7, 100)],
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![WriteOutcome::Stale, WriteOutcome::Written]);
    assert_eq!(
        (
            combined.num_calls(),
            v7_alone.num_calls(),
            v8_alone.num_calls()
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_lookup_reads_unique_keys_in_requests_of_at_most_100_and_decodes_the_columns() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let rule = {
        let sizes = sizes.clone();
        mock!(Client::batch_get_item).then_compute_output(move |request| {
            let keys = request.request_items().unwrap()["scores"].keys().to_vec();
            sizes.lock().unwrap().push(keys.len());
            let found: Vec<Item> = keys
                .iter()
                .filter(|k| k["pk"].as_s().unwrap().ends_with("#i7"))
                .map(|k| {
                    let mut item = k.clone();
                    item.insert("s_v7".into(), n(0.25));
                    item.insert("t_v7".into(), n(1_700_000_000_000i64));
                    item
                })
                .collect();
            BatchGetItemOutput::builder()
                .responses("scores", found)
                .build()
        })
    };
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let table = ScoresTable::new(client, "scores");
    let mut keys: Vec<ScoreKey> = (0..230)
        .map(|i| score_key("s1", &format!("i{i}")))
        .collect();
    keys.push(score_key("s1", "i7"));
    let found = table.get(&tenant(), &keys).await.unwrap();
    assert_eq!(*sizes.lock().unwrap(), vec![100, 100, 30]);
    let scores = &found[&score_key("s1", "i7")];
    let v7 = scores.get(&ScoreColumn::parse("v7").unwrap()).unwrap();
    assert_eq!(v7.score.value(), 0.25);
    assert_eq!(v7.computed_at.unix_timestamp(), 1_700_000_000);
    assert_eq!(found.len(), 1);
}

#[test]
fn an_item_of_another_retailer_is_never_decoded_as_this_one() {
    let item = pk_only("I#harbor#s1#i1".into());
    assert!(decode_scores(&tenant(), &item).is_err());
    let item = pk_only("I#alpine#s1#i1".into());
    let (key, scores) = decode_scores(&tenant(), &item).unwrap();
    assert_eq!(key, score_key("s1", "i1"));
    assert!(scores.columns.is_empty());
}

#[test]
fn the_longest_ids_make_a_key_far_below_the_partition_key_limit() {
    let key = ScoreKey {
        store: StoreId::parse("s".repeat(StoreId::MAX_CHARS)).unwrap(),
        item: ItemId::parse("i".repeat(ItemId::MAX_CHARS)).unwrap(),
    };
    let tenant = TenantId::parse("t".repeat(TenantId::MAX_CHARS)).unwrap();
    assert!(score_pk(&tenant, &key).len() <= MAX_PARTITION_KEY_BYTES);
}
