use std::sync::Arc;

use super::*;
use crate::campaigns::definition::AudienceLocation;
use crate::testing::MemoryAudienceSource;

fn checks(key: &str, bytes: Vec<u8>) -> AudienceChecks {
    let source = Arc::new(MemoryAudienceSource::default());
    let location = AudienceLocation {
        bucket: "exports".into(),
        key: key.into(),
    };
    source.put(&location, bytes);
    AudienceChecks::new(source, "exports")
}

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn row(i: usize) -> String {
    format!(
        r#"{{"id": "c{i}", "email": "c{i}@x.test", "consent": {{"email": true, "push": {}}}, "attributes": {{"first_name": "N{i}"}}}}"#,
        i.is_multiple_of(2)
    )
}

const KEY: &str = "alpine/uploads/a.jsonl";

#[tokio::test]
async fn a_sample_is_one_of_the_exports_customers_with_its_fields_and_consent() {
    let text = (0..10).map(row).collect::<Vec<_>>().join("\n");
    let checks = checks(KEY, text.into_bytes());
    let sample = checks.sample(&alpine(), KEY, Some(7)).await.unwrap();
    let i: usize = sample.customer_id[1..].parse().unwrap();
    assert_eq!(sample.line, i as u64 + 1);
    assert_eq!(
        sample.email.as_deref(),
        Some(format!("c{i}@x.test").as_str())
    );
    assert_eq!(sample.fields["first_name"], format!("N{i}"));
    assert!(sample.consent.email);
    assert_eq!(sample.consent.push, i.is_multiple_of(2));
    assert_eq!((sample.rows, sample.malformed, sample.seed), (10, 0, 7));
    assert!(sample.complete);
    let again = checks.sample(&alpine(), KEY, Some(7)).await.unwrap();
    assert_eq!(again, sample, "the same seed picks the same customer");
}

#[tokio::test]
async fn seeds_reach_every_row() {
    let text = (0..5).map(row).collect::<Vec<_>>().join("\n");
    let checks = checks(KEY, text.into_bytes());
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let sample = checks.sample(&alpine(), KEY, Some(seed)).await.unwrap();
        seen.insert(sample.customer_id);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[tokio::test]
async fn malformed_rows_are_skipped_and_counted() {
    let text = [
        r#"{"id": "broken"#.to_string(),
        row(1),
        String::new(),
        r#"{"id": "c2", "attributes": [1]}"#.to_string(),
        "not json".to_string(),
    ]
    .join("\n");
    let checks = checks(KEY, text.into_bytes());
    for seed in 0..20 {
        let sample = checks.sample(&alpine(), KEY, Some(seed)).await.unwrap();
        assert_eq!(sample.customer_id, "c1");
        assert_eq!((sample.line, sample.rows, sample.malformed), (2, 1, 3));
    }
}

#[tokio::test]
async fn an_empty_or_all_malformed_export_has_no_customer() {
    for text in ["", "\n\n", "{\"id\": \"broken\nnot json\n"] {
        let error = checks(KEY, text.into())
            .sample(&alpine(), KEY, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, AudienceSampleError::NoCustomer { .. }),
            "{text:?}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
}

#[tokio::test]
async fn another_retailers_key_or_a_missing_export_is_refused() {
    let checks = checks("harbor/uploads/a.jsonl", row(1).into_bytes());
    for key in ["harbor/uploads/a.jsonl", "alpine/../harbor/uploads/a.jsonl"] {
        let error = checks.sample(&alpine(), key, None).await.unwrap_err();
        assert!(
            matches!(
                error,
                AudienceSampleError::Check(AudienceCheckError::Key(_))
            ),
            "{key}: {error:?}"
        );
    }
    let error = checks.sample(&alpine(), KEY, None).await.unwrap_err();
    assert!(
        matches!(
            error,
            AudienceSampleError::Check(AudienceCheckError::Unreadable(_))
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn only_the_first_bytes_are_sampled() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() as u64 <= 2 * MAX_SAMPLED_BYTES {
        text.push_str(&row(i));
        text.push('\n');
        i += 1;
    }
    let checks = checks(KEY, text.into_bytes());
    let mut last = 0;
    for seed in 0..50 {
        let sample = checks.sample(&alpine(), KEY, Some(seed)).await.unwrap();
        assert!(!sample.complete);
        last = last.max(sample.line);
        assert!(sample.rows < i as u64 / 2 + 100, "{}", sample.rows);
    }
    assert!(last <= (i as u64) / 2 + 100, "{last}");
}

#[tokio::test]
async fn a_gzip_export_is_sampled_from_its_decompressed_rows() {
    use std::io::Write as _;
    let text = (0..4).map(row).collect::<Vec<_>>().join("\n");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let key = "alpine/uploads/a.jsonl.gz";
    let checks = checks(key, encoder.finish().unwrap());
    let sample = checks.sample(&alpine(), key, Some(3)).await.unwrap();
    assert_eq!((sample.rows, sample.complete), (4, true));
    assert!(sample.customer_id.starts_with('c'));
}
