use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

use super::*;
use crate::availability::{MissingScore, ModelColumn};

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
            model("avail-2026-12", "s2", false),
        ],
        default_column: ScoreColumn::parse("s1").unwrap(),
        experiment: None,
        deltas: vec![],
        max_score_age_seconds: 3600,
        missing_score: MissingScore::Unavailable,
        optimizer: Default::default(),
    }
}

fn reader(format: ExportFormat) -> RowReader {
    RowReader::new(
        format,
        ModelSlots::new(&config()),
        datetime!(2026-11-30 12:00 UTC),
    )
}

#[test]
fn timestamps_parse_as_the_time_crate_parses_them() {
    for text in [
        "2026-11-30T02:10:00Z",
        "2026-11-30t02:10:00z",
        "2026-11-30T02:10:00.5Z",
        "2026-11-30T02:10:00.123456789+01:30",
        "2024-02-29T23:59:59-08:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2000-03-01T00:00:00Z",
    ] {
        let expected = OffsetDateTime::parse(&text.replace('t', "T").replace('z', "Z"), &Rfc3339);
        assert_eq!(parse_timestamp(text), expected.ok(), "{text}");
    }
    assert_eq!(
        parse_timestamp("2026-11-30 02:10:00Z"),
        Some(datetime!(2026-11-30 02:10 UTC))
    );
    assert_eq!(
        parse_timestamp("1796004600"),
        Some(OffsetDateTime::from_unix_timestamp(1_796_004_600).unwrap())
    );
    for bad in [
        "",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-30T24:00:00Z",
        "2026-11-30T02:10:00",
        "2026-11-30T02:10:00.Z",
        "2026-11-30T02:10:00+1:00",
        "yesterday",
        "-5",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn a_json_row_reads_its_ids_time_and_scores_by_model() {
    let mut reader = reader(ExportFormat::Jsonl);
    let row = reader
        .read(br#"{"store_id":"s-1","item_id":"i.9","scored_at":"2026-11-30T02:10:00Z","avail-2026-11":0.25,"avail-2026-12":1}"#)
        .unwrap();
    assert_eq!((row.store.as_ref(), row.item.as_ref()), ("s-1", "i.9"));
    assert_eq!(row.scored_at, datetime!(2026-11-30 02:10 UTC));
    let values: Vec<(usize, f64)> = reader.values.iter().map(|(s, v)| (*s, v.value())).collect();
    assert_eq!(values, vec![(0, 0.25), (1, 1.0)]);
    assert_eq!(reader.slots().synced_column(0).unwrap().as_str(), "s1");
    assert!(reader.slots().synced_column(1).is_none(), "not synced");
    assert!(reader.value_rejections.is_empty());
}

#[test]
fn a_json_row_with_epoch_seconds_nulls_and_bad_values_keeps_what_is_good() {
    let mut reader = reader(ExportFormat::Jsonl);
    let row = reader
        .read(br#"{"scored_at":1796004600,"store_id":"s","item_id":"i","avail-2026-11":null,"avail-2099":0.5,"avail-2026-12":"0.5"}"#)
        .unwrap();
    assert_eq!(row.scored_at.unix_timestamp(), 1_796_004_600);
    assert!(reader.values.is_empty());
    assert_eq!(
        reader.value_rejections,
        vec![RejectReason::UnknownModel, RejectReason::NotANumber]
    );
    reader
        .read(br#"{"store_id":"s","item_id":"i","scored_at":1,"avail-2026-11":1.5}"#)
        .unwrap();
    assert_eq!(reader.value_rejections, vec![RejectReason::OutOfRange]);
}

#[test]
fn rows_are_refused_whole_for_what_makes_them_unusable() {
    let mut reader = reader(ExportFormat::Jsonl);
    let mut refused = |line: &[u8]| reader.read(line).map(|_| ()).unwrap_err();
    assert_eq!(refused(b"not json"), RejectReason::Malformed);
    assert_eq!(refused(br#"[1,2]"#), RejectReason::Malformed);
    assert_eq!(
        refused(br#"{"store_id":"s","scored_at":1}"#),
        RejectReason::Malformed
    );
    assert_eq!(
        refused(br#"{"store_id":"s","store_id":"t","item_id":"i","scored_at":1}"#),
        RejectReason::Malformed
    );
    assert_eq!(
        refused(br#"{"store_id":"s","item_id":"i","scored_at":"soon"}"#),
        RejectReason::BadTimestamp
    );
    assert_eq!(
        refused(br#"{"store_id":"s","item_id":"i","scored_at":"2026-11-30T12:06:00Z"}"#),
        RejectReason::FutureTimestamp
    );
    assert!(
        reader
            .read(br#"{"store_id":"s","item_id":"i","scored_at":"2026-11-30T12:04:00Z"}"#)
            .is_ok(),
        "within the clock skew allowance"
    );
}

#[test]
fn a_csv_row_is_read_by_its_header() {
    let mut reader = reader(ExportFormat::Csv);
    reader
        .read_header(b"item_id,\"avail-2026-11\",store_id,scored_at,avail-2099")
        .unwrap();
    let row = reader
        .read(b"\"i1\",0.75,s1,2026-11-30T02:10:00Z,")
        .unwrap();
    assert_eq!((row.store.as_ref(), row.item.as_ref()), ("s1", "i1"));
    assert_eq!(reader.values[0].1.value(), 0.75);
    assert!(
        reader.value_rejections.is_empty(),
        "an empty unknown column is no value"
    );
    reader.read(b"i1,abc,s1,1796004600,0.1").unwrap();
    assert_eq!(
        reader.value_rejections,
        vec![RejectReason::NotANumber, RejectReason::UnknownModel]
    );
    reader.read(b"i1,NaN,s1,1796004600,").unwrap();
    assert_eq!(reader.value_rejections, vec![RejectReason::NotANumber]);
    assert_eq!(
        reader.read(b"i1,0.5,s1").unwrap_err(),
        RejectReason::Malformed
    );
    assert_eq!(
        reader.read(b"i1,0.5,s1,1,,extra").unwrap_err(),
        RejectReason::Malformed
    );
    assert_eq!(
        reader.read(b"i\"1,0.5,s1,1,").unwrap_err(),
        RejectReason::Malformed
    );
}

#[test]
fn a_csv_header_must_name_the_ids_and_the_time_once() {
    let mut reader = reader(ExportFormat::Csv);
    assert!(
        reader
            .read_header(b"store_id,item_id,avail-2026-11")
            .is_err()
    );
    assert!(
        reader
            .read_header(b"store_id,item_id,scored_at,store_id")
            .is_err()
    );
    assert!(reader.read_header(b"store_id,item_id,scored_at").is_ok());
}
