use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::reading::{MAX_LINE_BYTES, read_day};
use super::*;
use crate::domain::TenantId;
use crate::testing::MemoryFoundRateFeedback;

const DAY: time::Date = time::macros::date!(2026 - 04 - 02);

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn line(i: usize) -> String {
    format!(
        r#"{{"store_id":"s-{}","item_id":"i.{i}","category":"cat-{}","region":"north","user_bucket":"b","score":0.{},"found":{},"model":"m-1","column":"col_a"}}"#,
        i % 7,
        i % 3,
        10 + i % 80,
        i.is_multiple_of(2)
    )
}

fn lines(n: usize, ending: &str) -> Vec<u8> {
    (0..n)
        .map(|i| line(i) + ending)
        .collect::<String>()
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn read(feedback: &MemoryFoundRateFeedback) -> FeedbackTally {
    read_day(feedback, &tenant(), DAY).await.unwrap()
}

fn summary(tally: &FeedbackTally) -> Vec<(usize, CellSumsView)> {
    let mut cells: Vec<(usize, CellSumsView)> = (0..3)
        .flat_map(|d| {
            tally
                .value_sums(d)
                .into_iter()
                .zip(tally.values(d).to_vec())
                .map(move |(s, v)| (d, (v, s.rows, (s.score_sum * 1e6).round() as i64, s.found)))
        })
        .collect();
    cells.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(a.0.cmp(&b.0)));
    cells
}

type CellSumsView = (String, u64, i64, u64);

#[tokio::test]
async fn plain_gzip_and_multi_member_gzip_read_alike_across_any_chunking() {
    let plain = MemoryFoundRateFeedback::with_chunk_bytes(5);
    plain.put(&tenant(), DAY, "a.jsonl", lines(200, "\n"));
    let expected = read(&plain).await;
    assert_eq!(expected.rows(), 200);
    assert_eq!(expected.refusals.total(), 0);

    // CRLF endings, no final newline, gzip in two members, under a name that does not say gzip.
    let mut crlf = lines(200, "\r\n");
    crlf.truncate(crlf.len() - 2);
    let (first, second) = crlf.split_at(crlf.len() / 3);
    let mut members = gzip(first);
    members.extend(gzip(second));
    for chunk_bytes in [1, 3, 4096] {
        let zipped = MemoryFoundRateFeedback::with_chunk_bytes(chunk_bytes);
        zipped.put(&tenant(), DAY, "b.data", members.clone());
        let tally = read(&zipped).await;
        assert_eq!(tally.rows(), 200, "chunks of {chunk_bytes}");
        assert_eq!(summary(&tally), summary(&expected));
        assert_eq!(tally.rows_by_column.get("col_a"), Some(&200));
    }
}

#[tokio::test]
async fn only_the_days_objects_of_the_tenant_are_read() {
    let feedback = MemoryFoundRateFeedback::default();
    feedback.put(&tenant(), DAY, "a.jsonl", lines(10, "\n"));
    feedback.put(
        &tenant(),
        DAY.next_day().unwrap(),
        "a.jsonl",
        lines(7, "\n"),
    );
    feedback.put(
        &TenantId::parse("acme2").unwrap(),
        DAY,
        "a.jsonl",
        lines(5, "\n"),
    );
    let tally = read(&feedback).await;
    assert_eq!((tally.objects, tally.rows()), (1, 10));
}

#[tokio::test]
async fn refused_rows_are_counted_by_reason_with_samples_and_never_used() {
    let good = line(1);
    let bad = [
        ("not json at all", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        (
            r#"{"item_id":"i","category":"c","region":"r","user_bucket":"b","score":0.5,"found":true}"#,
            "missing store_id",
        ),
        (
            r#"{"store_id":"s/1","item_id":"i","category":"c","region":"r","user_bucket":"b","score":0.5,"found":true}"#,
            "invalid store_id",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"","region":"r","user_bucket":"b","score":0.5,"found":true}"#,
            "invalid category",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":null,"user_bucket":"b","score":0.5,"found":true}"#,
            "missing region",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","score":0.5,"found":true}"#,
            "missing user_bucket",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","user_bucket":"b","score":1.5,"found":true}"#,
            "invalid score",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","user_bucket":"b","score":"0.5","found":true}"#,
            "invalid score",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","user_bucket":"b","score":0.5,"found":"yes"}"#,
            "invalid found",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","user_bucket":"b","score":0.5}"#,
            "missing found",
        ),
        (
            r#"{"store_id":"s","item_id":"i","category":"c","region":"r","user_bucket":"b","score":0.5,"found":true,"column":"col.a"}"#,
            "invalid column",
        ),
    ];
    let long_category = "x".repeat(65);
    let too_long_value = good.replace("cat-1", &long_category);
    let mut body = format!("{good}\n\n   \n");
    for (text, _) in &bad {
        body.push_str(text);
        body.push('\n');
    }
    body.push_str(&too_long_value);
    body.push('\n');
    body.push_str(&"y".repeat(MAX_LINE_BYTES + 10));
    body.push('\n');
    body.push_str(&good);
    body.push('\n');
    let feedback = MemoryFoundRateFeedback::with_chunk_bytes(1000);
    let key = feedback.put(&tenant(), DAY, "mixed.jsonl", body.into_bytes());
    let tally = read(&feedback).await;

    assert_eq!(tally.rows(), 2, "only the two good rows are used");
    assert_eq!(tally.lines, 2 + bad.len() as u64 + 2);
    assert_eq!(tally.refusals.count(Refusal::NotJson), 2);
    assert_eq!(tally.refusals.count(Refusal::Invalid("score")), 2);
    assert_eq!(tally.refusals.count(Refusal::Invalid("category")), 2);
    assert_eq!(tally.refusals.count(Refusal::LineTooLong), 1);
    for (_, reason) in bad {
        assert!(tally.refusals.0.contains_key(reason), "{reason}");
    }
    let missing = &tally.refusals.0["missing store_id"];
    assert_eq!(missing.count, 1);
    assert_eq!(missing.samples, vec![format!("{key}:6: {}", bad[2].0)]);
    assert_eq!(tally.refusals.total(), bad.len() as u64 + 2);
}

#[tokio::test]
async fn a_broken_gzip_object_is_counted_unreadable_and_the_other_objects_are_read() {
    let feedback = MemoryFoundRateFeedback::with_chunk_bytes(64);
    let mut cut = gzip(&lines(500, "\n"));
    cut.truncate(cut.len() / 2);
    feedback.put(&tenant(), DAY, "1-cut.gz", cut);
    let mut garbage = vec![0x1f, 0x8b];
    garbage.extend(b"definitely not deflate".repeat(10));
    feedback.put(&tenant(), DAY, "2-garbage.gz", garbage);
    feedback.put(&tenant(), DAY, "3-good.jsonl", lines(30, "\n"));
    let tally = read(&feedback).await;
    assert_eq!(tally.objects, 3);
    assert_eq!(tally.refusals.count(Refusal::UnreadableObject), 2);
    let from_cut = tally.rows() - 30;
    assert!(from_cut < 500, "{from_cut} rows of the cut object");
}

#[tokio::test]
async fn a_failing_bucket_fails_the_read_as_retryable() {
    use crate::error::Retryable;
    let feedback = MemoryFoundRateFeedback::default();
    feedback.set_unavailable(true);
    let error = read_day(&feedback, &tenant(), DAY).await.unwrap_err();
    assert!(error.is_retryable());
}
