//! The engine on in-memory adapters: GIVEN an export, WHEN a launch runs, THEN the counts and the
//! events on the stream.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use time::macros::datetime;

use super::*;
use crate::deliverability::suppression::{Suppression, SuppressionList as _};
use crate::domain::{CampaignEvent, TenantId};
use crate::error::Retryable;
use crate::testing::{MemoryAudienceSource, MemoryContactHistory, MemoryDirectory, MemoryStream};

const NOW: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

struct Setup {
    source: Arc<MemoryAudienceSource>,
    directory: Arc<MemoryDirectory>,
    stream: Arc<MemoryStream>,
    contacts: Arc<MemoryContactHistory>,
    engine: CampaignEngine,
}

fn setup() -> Setup {
    setup_with(Arc::new(AssumeAvailable))
}

fn setup_with(availability: Arc<dyn Availability>) -> Setup {
    let source = Arc::new(MemoryAudienceSource::default());
    let directory = Arc::new(MemoryDirectory::default());
    let stream = Arc::new(MemoryStream::default());
    let contacts = Arc::new(MemoryContactHistory::default());
    let engine = CampaignEngine {
        source: source.clone(),
        suppression: directory.clone(),
        availability,
        events: stream.clone(),
        contacts: contacts.clone(),
        retry: RetryPolicy::default(),
    };
    Setup {
        source,
        directory,
        stream,
        contacts,
        engine,
    }
}

fn campaign(key: &str, rules: serde_json::Value, holdout_percent: f64) -> CampaignDefinition {
    serde_json::from_value(serde_json::json!({
        "tenant_id": "alpine",
        "campaign_id": "spring",
        "template": {"id": "weekly", "version": 2},
        "channel": "email",
        "audience": {"source": {"bucket": "exports", "key": key}, "rules": rules},
        "variants": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}],
        "holdout_percent": holdout_percent,
        "offers": {"slots": 2}
    }))
    .unwrap()
}

fn launch(campaign: CampaignDefinition) -> Launch {
    Launch::new(campaign, NOW).unwrap()
}

fn row(id: &str, tier: &str) -> String {
    serde_json::json!({
        "id": id,
        "email": format!("{id}@Example.com"),
        "consent": {"email": true, "push": false},
        "attributes": {"tier": tier, "first_name": id},
        "candidates": [
            {"item_id": "low", "title": "Socks", "url": "https://s/low", "price": 5,
             "currency": "EUR", "score": 0.1},
            {"item_id": "high", "title": "Boots", "url": "https://s/high", "price": 90,
             "sale_price": 70, "currency": "EUR", "valid_until": "2026-12-01T00:00:00Z", "score": 0.9},
            {"item_id": "mid", "title": "Hat", "url": "https://s/mid", "price": 20,
             "currency": "EUR", "score": 0.5}
        ]
    })
    .to_string()
}

fn export(rows: &[String]) -> Vec<u8> {
    let mut bytes = rows.join("\n").into_bytes();
    bytes.push(b'\n');
    bytes
}

fn events(stream: &MemoryStream) -> Vec<CampaignEvent> {
    stream
        .records()
        .iter()
        .map(|r| {
            let event: CampaignEvent = serde_json::from_slice(&r.data).unwrap();
            assert_eq!(r.partition_key, event.message_id.as_str());
            event
        })
        .collect()
}

fn customer_ids(events: &[CampaignEvent]) -> Vec<String> {
    let mut ids: Vec<String> = events.iter().map(|e| e.customer.id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn eligibility_is_consent_then_suppression_then_segment() {
    let t = setup();
    let campaign = campaign(
        "a.jsonl",
        serde_json::json!([{"op": "equals", "field": "tier", "value": "gold"}]),
        0.0,
    );
    let no_consent = r#"{"id":"nc","email":"nc@example.com","consent":{"email":false},"attributes":{"tier":"gold"}}"#;
    let missing_consent = r#"{"id":"mc","email":"mc@example.com","attributes":{"tier":"gold"}}"#;
    let no_address = r#"{"id":"na","consent":{"email":true},"attributes":{"tier":"gold"}}"#;
    let rows = vec![
        row("gold1", "gold"),
        row("gold2", "gold"),
        row("silver", "silver"),
        row("blocked", "silver"),
        no_consent.to_string(),
        missing_consent.to_string(),
        no_address.to_string(),
    ];
    t.source.put(&campaign.audience.source, export(&rows));
    let tenant = TenantId::parse("alpine").unwrap();
    t.directory
        .add(&tenant, &Suppression::manual("BLOCKED@example.com", 0))
        .await
        .unwrap();
    t.directory
        .add(&tenant, &Suppression::manual("gold2@example.com", 0))
        .await
        .unwrap();

    let report = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap();

    assert_eq!(report.rows, 7);
    assert_eq!(report.not_consented, 2, "false and missing consent");
    assert_eq!(report.no_address, 1);
    assert_eq!(
        report.suppressed, 2,
        "suppression is checked before the segment"
    );
    assert_eq!(report.not_in_segment, 1);
    assert_eq!(report.matched_total(), 1);
    assert_eq!(report.events_emitted, 1);
    assert_eq!(customer_ids(&events(&t.stream)), vec!["gold1"]);
}

#[tokio::test]
async fn events_carry_the_contract_with_ranked_offers_cut_to_the_slots() {
    let t = setup();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source
        .put(&campaign.audience.source, export(&[row("ann", "gold")]));
    let launch = launch(campaign);
    t.engine.run(&launch, DEFAULT_CHUNK_BYTES).await.unwrap();

    let event = events(&t.stream).remove(0);
    assert_eq!(event.contract_version, crate::domain::CONTRACT_VERSION);
    assert_eq!(event.tenant_id.as_str(), "alpine");
    assert_eq!(event.template.version, 2);
    assert_eq!(
        event.message_id,
        MessageId::derive(
            &event.tenant_id,
            &event.campaign_id,
            &event.customer.id,
            Channel::Email
        )
    );
    assert_eq!(event.customer.email.as_deref(), Some("ann@Example.com"));
    assert_eq!(
        event
            .customer
            .fields
            .get("first_name")
            .and_then(|v| v.as_str()),
        Some("ann")
    );
    let items: Vec<&str> = event.offers.iter().map(|o| o.item_id.as_str()).collect();
    assert_eq!(items, vec!["high", "mid"]);
    assert_eq!(event.offers[0].sale_price, Some(70.0));
    assert!(event.offers[0].valid_until.is_some());
    assert_eq!(
        launch.variants().assign(&event.customer.id),
        Assignment::Variant(&event.variant)
    );
}

/// Per store, the items in stock there; records each question (store, shoppers, items).
#[derive(Default)]
struct OnlyInStock {
    stock: BTreeMap<String, HashSet<String>>,
    asked: std::sync::Mutex<Vec<(String, usize, usize)>>,
}

impl OnlyInStock {
    fn at(store: &str, items: &[&str]) -> Self {
        Self {
            stock: [(
                store.to_string(),
                items.iter().map(|i| i.to_string()).collect(),
            )]
            .into(),
            ..Self::default()
        }
    }
}

#[async_trait]
impl Availability for OnlyInStock {
    async fn likely_in_stock(
        &self,
        _tenant: &TenantId,
        query: &StockQuery<'_>,
    ) -> Result<Vec<Arc<HashSet<String>>>, StoreError> {
        self.asked.lock().unwrap().push((
            query.store.to_string(),
            query.shoppers.len(),
            query.items.len(),
        ));
        let empty = HashSet::new();
        let stock = self.stock.get(query.store.as_str()).unwrap_or(&empty);
        let set: Arc<HashSet<String>> = Arc::new(
            query
                .items
                .iter()
                .filter(|item| stock.contains(item.item_id))
                .map(|item| item.item_id.to_string())
                .collect(),
        );
        Ok(vec![set; query.shoppers.len()])
    }
}

/// `row`, shopping at `store`.
fn row_at(id: &str, store: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&row(id, "gold")).unwrap();
    value["store_id"] = store.into();
    value.to_string()
}

#[tokio::test]
async fn offers_skip_items_unlikely_in_stock_and_ties_keep_the_export_order() {
    let availability = Arc::new(OnlyInStock::at("s1", &["low", "mid"]));
    let t = setup_with(availability.clone());
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source.put(
        &campaign.audience.source,
        export(&[row_at("ann", "s1"), row("bob", "gold")]),
    );
    let report = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap();
    let offers = |customer: &str| -> Vec<String> {
        events(&t.stream)
            .into_iter()
            .find(|e| e.customer.id.as_str() == customer)
            .unwrap()
            .offers
            .iter()
            .map(|o| o.item_id.clone())
            .collect()
    };
    assert_eq!(offers("ann"), vec!["mid", "low"]);
    assert_eq!(offers("bob"), vec!["high", "mid"], "no store: not filtered");
    assert_eq!(
        report.offers_unavailable, 1,
        "high would have taken ann's slot"
    );
    assert_eq!(
        *availability.asked.lock().unwrap(),
        vec![("s1".to_string(), 1, 3)],
        "only the customer with a store is asked about"
    );

    let tie = |id: &str| Candidate {
        item_id: id.into(),
        title: id.into(),
        url: "u".into(),
        image_url: None,
        price: 1.0,
        sale_price: None,
        currency: "EUR".into(),
        valid_until: None,
        score: 1.0,
        category: None,
    };
    let all: HashSet<String> = ["x", "y", "z"].map(String::from).into();
    let selection = select_offers(vec![tie("x"), tie("y"), tie("z")], Some(&all), 2);
    let ids: Vec<&str> = selection
        .offers
        .iter()
        .map(|o| o.item_id.as_str())
        .collect();
    assert_eq!(ids, vec!["x", "y"]);
    assert_eq!(selection.unavailable, 0);
    let some: HashSet<String> = ["z"].map(String::from).into();
    let selection = select_offers(vec![tie("x"), tie("y"), tie("z")], Some(&some), 1);
    assert_eq!(selection.offers[0].item_id, "z");
    assert_eq!(
        selection.unavailable, 2,
        "x and y were passed over for the slot"
    );
    let selection = select_offers(vec![tie("x"), tie("y")], None, 5);
    assert_eq!((selection.offers.len(), selection.unavailable), (2, 0));
}

#[tokio::test]
async fn a_groups_customers_are_asked_about_once_per_store() {
    let availability = Arc::new(OnlyInStock::default());
    let t = setup_with(availability.clone());
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    let rows: Vec<String> = (0..GROUP_SIZE + 10)
        .map(|i| row_at(&format!("c{i}"), ["s1", "s2", "s3"][i % 3]))
        .collect();
    t.source.put(&campaign.audience.source, export(&rows));
    let report = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap();
    let mut asked = availability.asked.lock().unwrap().clone();
    asked.sort();
    // Two groups (500 and 10 rows), three stores each; every store's 3 items once.
    assert_eq!(asked.len(), 6, "{asked:?}");
    let shoppers: usize = asked.iter().map(|(_, shoppers, _)| shoppers).sum();
    assert_eq!(shoppers, GROUP_SIZE + 10);
    assert!(asked.iter().all(|(_, _, items)| *items == 3));
    assert_eq!(
        report.offers_unavailable,
        3 * (GROUP_SIZE as u64 + 10),
        "nothing is in stock: every candidate was passed over"
    );
    assert!(events(&t.stream).iter().all(|e| e.offers.is_empty()));
}

#[tokio::test]
async fn malformed_rows_are_counted_with_offsets_and_the_rest_goes_on() {
    let t = setup();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    let mut rows = vec![row("ok1", "gold")];
    for i in 0..7 {
        rows.push(format!("{{\"id\": \"broken{i}\""));
    }
    rows.push(String::new());
    rows.push(row("ok2", "gold"));
    let bytes = export(&rows);
    let second_line_offset = rows[0].len() as u64 + 1;
    t.source.put(&campaign.audience.source, bytes);

    let report = t.engine.run(&launch(campaign), 100).await.unwrap();

    assert_eq!(report.rows, 9, "blank lines are not rows");
    assert_eq!(report.malformed, 7);
    assert_eq!(report.malformed_examples.len(), report::MALFORMED_EXAMPLES);
    assert_eq!(report.malformed_examples[0].offset, second_line_offset);
    assert!(report.malformed_examples[0].reason.contains("EOF"));
    assert_eq!(report.events_emitted, 2);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["malformed"], 7);
}

#[tokio::test]
async fn hostile_rows_are_counted_malformed_with_their_offsets_and_the_launch_goes_on() {
    let t = setup();
    let campaign = campaign("hostile.jsonl", serde_json::json!([]), 0.0);
    let with = |id: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut value: serde_json::Value = serde_json::from_str(&row(id, "gold")).unwrap();
        change(&mut value);
        value.to_string()
    };
    let rows = vec![
        row("ok1", "gold"),
        // Over DynamoDB's sort key once it is `SUPPRESSED#<address>`.
        with("long", &|v| {
            v["email"] = format!("{}@example.com", "a".repeat(1100)).into()
        }),
        with("noat", &|v| v["email"] = "ann.example.com".into()),
        with("space", &|v| v["email"] = "ann smith@example.com".into()),
        with("nodot", &|v| v["email"] = "ann@localhost".into()),
        // Over the customer id bound, so over the contacts key's.
        with(&"c".repeat(2000), &|_| {}),
        // An event over Kinesis's record limit.
        with("huge", &|v| {
            v["attributes"]["notes"] = "x".repeat(1024 * 1024).into()
        }),
        row("ok2", "gold"),
    ];
    let offsets: Vec<u64> = rows
        .iter()
        .scan(0u64, |at, row| {
            let offset = *at;
            *at += row.len() as u64 + 1;
            Some(offset)
        })
        .collect();
    t.source.put(&campaign.audience.source, export(&rows));

    let report = t.engine.run(&launch(campaign), 64 * 1024).await.unwrap();

    assert_eq!(report.rows, 8);
    assert_eq!(report.malformed, 6);
    assert_eq!(report.events_emitted, 2);
    assert_eq!(report.matched_total(), 2, "a malformed row is not matched");
    assert_eq!(customer_ids(&events(&t.stream)), vec!["ok1", "ok2"]);
    let examples: Vec<(u64, &str)> = report
        .malformed_examples
        .iter()
        .map(|row| (row.offset, row.reason.as_str()))
        .collect();
    assert_eq!(examples.len(), report::MALFORMED_EXAMPLES);
    assert_eq!(examples[0].0, offsets[1]);
    assert!(examples[0].1.contains("254-octet limit"), "{examples:?}");
    assert!(examples[1].1.contains("'@'"), "{examples:?}");
    assert!(examples[2].1.contains("spaces"), "{examples:?}");
    assert!(examples[3].1.contains("dotted"), "{examples:?}");
    assert!(examples[4].1.contains("customer id"), "{examples:?}");
    assert!(
        t.stream
            .records()
            .iter()
            .all(|r| r.size() <= MAX_CAMPAIGN_EVENT_BYTES)
    );
}

#[tokio::test]
async fn an_event_over_the_record_limit_is_a_malformed_row_not_a_failed_chunk() {
    let t = setup();
    let campaign = campaign("huge.jsonl", serde_json::json!([]), 0.0);
    let mut huge: serde_json::Value = serde_json::from_str(&row("huge", "gold")).unwrap();
    huge["attributes"]["notes"] = "x".repeat(1024 * 1024).into();
    let rows = vec![row("ok1", "gold"), huge.to_string()];
    t.source.put(&campaign.audience.source, export(&rows));

    let report = t
        .engine
        .run(&launch(campaign), 8 * 1024 * 1024)
        .await
        .unwrap();

    assert_eq!(report.malformed, 1);
    assert_eq!(
        report.malformed_examples[0].offset,
        rows[0].len() as u64 + 1
    );
    assert!(
        report.malformed_examples[0]
            .reason
            .contains("campaign event of"),
        "{:?}",
        report.malformed_examples
    );
    assert_eq!(report.events_emitted, 1);
}

/// Lines of different lengths, some without a final newline, some CRLF.
fn varied_export() -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut count = 0;
    for i in 0..12 {
        let line = if i % 3 == 0 {
            row(&format!("c{i}"), "gold")
        } else {
            format!(
                r#"{{"id":"c{i}","email":"c{i}@x.io","consent":{{"email":true}},"attributes":{{"pad":"{}"}}}}"#,
                "x".repeat(i * 7)
            )
        };
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(if i % 4 == 1 { b"\r\n" } else { b"\n" });
        count += 1;
    }
    bytes.extend_from_slice(br#"{"id":"last","email":"l@x.io","consent":{"email":true}}"#);
    (bytes, count + 1)
}

#[tokio::test]
async fn a_file_split_at_every_byte_offset_yields_each_row_exactly_once() {
    let (bytes, rows) = varied_export();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    let launch = launch(campaign);
    let t = setup();
    t.source
        .put(&launch.campaign().audience.source, bytes.clone());
    t.engine.run(&launch, u64::MAX).await.unwrap();
    let expected = customer_ids(&events(&t.stream));
    assert_eq!(expected.len(), rows);

    for split in 0..=bytes.len() as u64 {
        let t = setup();
        t.source
            .put(&launch.campaign().audience.source, bytes.clone());
        let mut report = LaunchReport::default();
        for range in [0..split, split..bytes.len() as u64] {
            report.merge(&t.engine.process_chunk(&launch, range).await.unwrap());
        }
        assert_eq!(report.rows, rows as u64, "split at {split}");
        assert_eq!(
            customer_ids(&events(&t.stream)),
            expected,
            "split at {split}"
        );
    }
    for chunk_bytes in [1, 2, 3, 7, 50, 333] {
        let t = setup();
        t.source
            .put(&launch.campaign().audience.source, bytes.clone());
        let report = t.engine.run(&launch, chunk_bytes).await.unwrap();
        assert_eq!(report.rows, rows as u64, "chunks of {chunk_bytes}");
        assert_eq!(customer_ids(&events(&t.stream)), expected);
    }
}

#[tokio::test]
async fn a_chunk_reads_its_range_and_only_a_little_past_it() {
    let t = setup();
    let rows: Vec<String> = (0..5_000).map(|i| row(&format!("c{i}"), "gold")).collect();
    let bytes = export(&rows);
    let size = bytes.len() as u64;
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source.put(&campaign.audience.source, bytes);
    let launch = launch(campaign);
    let chunk = size / 3;
    t.engine
        .process_chunk(&launch, chunk..2 * chunk)
        .await
        .unwrap();
    let reads = t.source.reads();
    assert!(
        reads
            .iter()
            .all(|r| r.end - r.start <= audience::READ_PIECE_BYTES)
    );
    let first = reads.iter().map(|r| r.start).min().unwrap();
    let last = reads.iter().map(|r| r.end).max().unwrap();
    assert_eq!(first, chunk - 1);
    assert!(last <= 2 * chunk + audience::EXTRA_READ_BYTES);
}

/// Keeps every checkpoint the engine reports.
#[derive(Default)]
struct Checkpoints(std::sync::Mutex<Vec<ChunkCheckpoint>>);

#[async_trait]
impl ChunkCheckpoints for Checkpoints {
    async fn checkpoint(&self, checkpoint: &ChunkCheckpoint) {
        self.0.lock().unwrap().push(checkpoint.clone());
    }
}

#[tokio::test]
async fn a_gzip_chunk_resumed_from_its_checkpoint_skips_the_rows_already_emitted() {
    // GIVEN a gzip export of three groups of rows whose second group's put fails
    let rows: Vec<String> = (0..1_200).map(|i| row(&format!("c{i}"), "gold")).collect();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&export(&rows)).unwrap();
    let mut t = setup();
    t.engine.retry.max_attempts = 1;
    let gz = campaign("alpine/customers.jsonl.gz", serde_json::json!([]), 0.0);
    t.source.put(&gz.audience.source, encoder.finish().unwrap());
    let launch = launch(gz);
    let whole = t.engine.plan(&launch, 100).await.unwrap().remove(0);
    let checkpoints = Checkpoints::default();
    t.stream.fail_after_calls(1);
    let error = t
        .engine
        .resume_chunk(&launch, whole.clone(), None, Some(&checkpoints))
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    t.stream.fail_always(false);
    let checkpoint = checkpoints
        .0
        .lock()
        .unwrap()
        .pop()
        .expect("the first group");
    assert_eq!(checkpoint.report.events_emitted, GROUP_SIZE as u64);

    // WHEN it runs again from the checkpoint
    let report = t
        .engine
        .resume_chunk(&launch, whole, Some(&checkpoint), Some(&checkpoints))
        .await
        .unwrap();

    // THEN each customer was emitted once, and the report counts the whole chunk
    let ids: HashSet<String> = t
        .stream
        .records()
        .iter()
        .map(|r| r.partition_key.clone())
        .collect();
    assert_eq!(t.stream.records().len(), 1_200);
    assert_eq!(ids.len(), 1_200);
    assert_eq!((report.rows, report.events_emitted), (1_200, 1_200));
}

#[tokio::test]
async fn a_gzip_export_is_one_chunk_streamed_through_the_decoder() {
    let rows: Vec<String> = (0..3_000).map(|i| row(&format!("c{i}"), "gold")).collect();
    let plain = export(&rows);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    let gzipped = encoder.finish().unwrap();
    assert!(gzipped.len() as u64 > 0);

    let t = setup();
    let gz = campaign("alpine/customers.jsonl.gz", serde_json::json!([]), 0.0);
    t.source.put(&gz.audience.source, gzipped.clone());
    let launch = launch(gz);
    let plan = t.engine.plan(&launch, 100).await.unwrap();
    assert_eq!(plan, vec![0..gzipped.len() as u64]);
    let report = t.engine.run(&launch, 100).await.unwrap();
    assert_eq!(report.rows, 3_000);
    let beyond = t.engine.process_chunk(&launch, 100..200).await.unwrap();
    assert_eq!(
        beyond.rows, 0,
        "only the chunk at 0 owns a gzip export's lines"
    );
    assert_eq!(report.events_emitted, 3_000);
    assert!(
        t.source
            .reads()
            .iter()
            .all(|r| r.end - r.start <= audience::GZIP_PIECE_BYTES)
    );

    let t = setup();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    let truncated = encoder.finish().unwrap();
    let cut = campaign("cut.jsonl.gz", serde_json::json!([]), 0.0);
    t.source.put(
        &cut.audience.source,
        truncated[..truncated.len() / 2].to_vec(),
    );
    let error = t.engine.run(&self::launch(cut), 100).await.unwrap_err();
    assert!(
        matches!(error, ChunkError::Audience(StoreError::Corrupt { .. })),
        "{error:?}"
    );

    let t = setup();
    let corrupt = campaign("broken.jsonl.gz", serde_json::json!([]), 0.0);
    t.source
        .put(&corrupt.audience.source, plain[..5_000].to_vec());
    let error = t.engine.run(&self::launch(corrupt), 100).await.unwrap_err();
    assert!(matches!(
        error,
        ChunkError::Audience(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn holdout_is_counted_not_sent_and_reruns_emit_the_same_events() {
    let rows: Vec<String> = (0..2_000).map(|i| row(&format!("c{i}"), "gold")).collect();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 25.0);
    let launch = launch(campaign);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let t = setup();
        t.source
            .put(&launch.campaign().audience.source, export(&rows));
        let report = t.engine.run(&launch, 10_000).await.unwrap();
        assert_eq!(report.held_out + report.matched_total(), 2_000);
        assert!((400..600).contains(&report.held_out), "{}", report.held_out);
        assert_eq!(report.events_emitted, report.matched_total());
        let mut sent: Vec<(String, String, String)> = events(&t.stream)
            .into_iter()
            .map(|e| {
                (
                    e.customer.id.to_string(),
                    e.variant.to_string(),
                    e.message_id.to_string(),
                )
            })
            .collect();
        sent.sort();
        runs.push((report, sent));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_put_fails_the_chunk_as_retryable_and_the_retry_emits_the_same_ids() {
    let t = setup();
    let rows: Vec<String> = (0..20).map(|i| row(&format!("c{i}"), "gold")).collect();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source.put(&campaign.audience.source, export(&rows));
    let launch = launch(campaign);
    t.stream.fail_always(true);
    let error = t
        .engine
        .run(&launch, DEFAULT_CHUNK_BYTES)
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert!(matches!(error, ChunkError::Publish { failed: 20, .. }));

    t.stream.fail_always(false);
    let report = t.engine.run(&launch, DEFAULT_CHUNK_BYTES).await.unwrap();
    assert_eq!(report.events_emitted, 20);
    let ids: HashSet<String> = events(&t.stream)
        .iter()
        .map(|e| e.message_id.to_string())
        .collect();
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn a_suppression_outage_fails_the_chunk_as_retryable() {
    let t = setup();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source
        .put(&campaign.audience.source, export(&[row("ann", "gold")]));
    t.directory.set_unavailable(true);
    let error = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap_err();
    assert!(matches!(error, ChunkError::Suppression(_)));
    assert!(error.is_retryable());
    assert!(t.stream.records().is_empty());
}

#[tokio::test]
async fn groups_are_emitted_in_calls_of_500_and_suppression_asked_once_per_group() {
    let t = setup();
    let rows: Vec<String> = (0..1_234).map(|i| row(&format!("c{i}"), "gold")).collect();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    t.source.put(&campaign.audience.source, export(&rows));
    let report = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap();
    assert_eq!(report.events_emitted, 1_234);
    assert_eq!(t.stream.calls(), vec![500, 500, 234]);
    assert_eq!(t.directory.lookups(), 3);
    let per_variant: BTreeMap<String, u64> = report.matched.clone();
    assert_eq!(per_variant.values().sum::<u64>(), 1_234);
    assert_eq!(per_variant.len(), 2);
}

#[test]
fn a_launch_refuses_an_invalid_campaign() {
    let mut invalid = campaign("a.jsonl", serde_json::json!([]), 0.0);
    invalid.offers.slots = 0;
    assert_eq!(Launch::new(invalid, NOW).unwrap_err().field, "offers.slots");
}

#[tokio::test]
async fn candidates_are_read_when_a_customer_is_sent_and_bad_ones_make_the_row_malformed() {
    let t = setup();
    let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
    let bad_candidates = r#"{"id":"bad","email":"b@x.io","consent":{"email":true},"attributes":null,"candidates":[{"item_id":1}]}"#;
    let null_candidates =
        r#"{"id":"fine","email":"f@x.io","consent":{"email":true},"candidates":null}"#;
    t.source.put(
        &campaign.audience.source,
        export(&[bad_candidates.to_string(), null_candidates.to_string()]),
    );
    let report = t
        .engine
        .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
        .await
        .unwrap();
    assert_eq!(report.malformed, 1);
    assert_eq!(report.malformed_examples[0].offset, 0);
    assert!(
        report.malformed_examples[0]
            .reason
            .starts_with("candidates:")
    );
    assert_eq!(report.matched_total(), 1);
    assert_eq!(customer_ids(&events(&t.stream)), vec!["fine"]);
}

fn capped(
    campaign_id: &str,
    tenant: &str,
    holdout_percent: f64,
    now: OffsetDateTime,
    cap: Option<crate::domain::FrequencyCap>,
) -> Launch {
    let mut definition = campaign("cap.jsonl", serde_json::json!([]), holdout_percent);
    definition.campaign_id = CampaignId::parse(campaign_id).unwrap();
    definition.tenant_id = TenantId::parse(tenant).unwrap();
    Launch::new(definition, now)
        .unwrap()
        .with_frequency_cap(cap)
}

fn cap(max_messages: u32, window_days: u32) -> Option<crate::domain::FrequencyCap> {
    Some(crate::domain::FrequencyCap {
        max_messages,
        window_days,
    })
}

fn cap_audience(t: &Setup, customers: usize) {
    let rows: Vec<String> = (0..customers)
        .map(|i| row(&format!("c{i}"), "gold"))
        .collect();
    let location = campaign("cap.jsonl", serde_json::json!([]), 0.0)
        .audience
        .source;
    t.source.put(&location, export(&rows));
}

use crate::domain::CampaignId;

/// What delivery does when it sends: the customers of the stream's events take their contact
/// for the campaign at `at` (the engine itself records none).
fn deliver_all(t: &Setup, campaign: &str, at: OffsetDateTime) {
    let campaign = CampaignId::parse(campaign).unwrap();
    for event in events(&t.stream) {
        t.contacts.record(
            &event.tenant_id,
            event.channel,
            &campaign,
            &event.customer.id,
            at,
        );
    }
    t.stream.take_records();
}

#[tokio::test]
async fn the_frequency_cap_counts_the_tenants_other_campaigns_within_the_window() {
    let t = setup();
    cap_audience(&t, 40);
    let first = t
        .engine
        .run(
            &capped("spring", "alpine", 0.0, NOW, cap(2, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(first.events_emitted, 40);
    assert_eq!(first.frequency_capped, 0);
    deliver_all(&t, "spring", NOW);

    let second = t
        .engine
        .run(
            &capped(
                "summer",
                "alpine",
                0.0,
                NOW + time::Duration::days(1),
                cap(2, 7),
            ),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(
        second.events_emitted, 40,
        "one earlier contact, the cap is 2"
    );
    deliver_all(&t, "summer", NOW + time::Duration::days(1));

    let third = t
        .engine
        .run(
            &capped(
                "autumn",
                "alpine",
                0.0,
                NOW + time::Duration::days(2),
                cap(2, 7),
            ),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(third.frequency_capped, 40, "two contacts in the window");
    assert_eq!(third.events_emitted, 0);
    assert_eq!(third.matched_total(), 0, "capped customers are not matched");
    assert!(t.stream.records().is_empty());

    let later = t
        .engine
        .run(
            &capped(
                "winter",
                "alpine",
                0.0,
                NOW + time::Duration::days(8),
                cap(2, 7),
            ),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(
        later.events_emitted, 40,
        "spring left the 7-day window: one contact (summer) remains"
    );
}

#[tokio::test]
async fn a_launch_reads_the_contact_history_and_records_no_contact() {
    let t = setup();
    cap_audience(&t, 30);
    let spring = capped("spring", "alpine", 0.0, NOW, cap(1, 30));
    let report = t.engine.run(&spring, 1024).await.unwrap();
    assert_eq!(report.events_emitted, 30);
    let alpine = TenantId::parse("alpine").unwrap();
    assert_eq!(t.contacts.contacts_of(&alpine, Channel::Email), 0);
    let (reads, ledger) = t.contacts.calls();
    assert!(reads > 0);
    assert_eq!(ledger, 0, "the engine never takes a contact");
    let summer = t
        .engine
        .run(
            &capped("summer", "alpine", 0.0, NOW, cap(1, 30)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(
        summer.events_emitted, 30,
        "spring's events are no contact until delivery sends them"
    );
}

#[tokio::test]
async fn held_out_customers_are_not_counted_as_contacted() {
    let t = setup();
    cap_audience(&t, 200);
    let spring = t
        .engine
        .run(
            &capped("spring", "alpine", 30.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert!(spring.held_out > 20);
    deliver_all(&t, "spring", NOW);
    let summer = t
        .engine
        .run(
            &capped("summer", "alpine", 0.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(summer.frequency_capped, spring.events_emitted);
    assert_eq!(
        summer.events_emitted, spring.held_out,
        "exactly spring's holdout is still under the cap"
    );
}

#[tokio::test]
async fn another_tenants_contacts_and_another_channels_do_not_count() {
    let t = setup();
    cap_audience(&t, 20);
    t.engine
        .run(
            &capped("spring", "alpine", 0.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    deliver_all(&t, "spring", NOW);
    let harbor = t
        .engine
        .run(
            &capped("spring", "harbor", 0.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(
        harbor.events_emitted, 20,
        "same customer ids, another retailer"
    );
    assert_eq!(harbor.frequency_capped, 0);
    t.stream.take_records();
    // Alpine's customers were contacted by push only: email's cap is untouched.
    let (alpine, winter) = (
        TenantId::parse("alpine").unwrap(),
        CampaignId::parse("winter").unwrap(),
    );
    let harbor_id = TenantId::parse("harbor").unwrap();
    for i in 0..20 {
        let customer = CustomerId::parse(format!("c{i}")).unwrap();
        t.contacts
            .record(&harbor_id, Channel::Push, &winter, &customer, NOW);
    }
    let summer = t
        .engine
        .run(
            &capped("summer", "harbor", 0.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(
        summer.events_emitted, 20,
        "push contacts leave email's cap alone"
    );
    assert_eq!(t.contacts.contacts_of(&alpine, Channel::Email), 20);
}

#[tokio::test]
async fn without_a_cap_the_contact_history_is_never_touched() {
    let t = setup();
    cap_audience(&t, 20);
    t.engine
        .run(
            &capped("spring", "alpine", 0.0, NOW, None),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap();
    assert_eq!(t.contacts.calls(), (0, 0));
}

#[tokio::test]
async fn a_contact_history_outage_fails_the_chunk_as_retryable() {
    let t = setup();
    cap_audience(&t, 5);
    t.contacts.set_unavailable(true);
    let error = t
        .engine
        .run(
            &capped("spring", "alpine", 0.0, NOW, cap(1, 7)),
            DEFAULT_CHUNK_BYTES,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ChunkError::ContactHistory(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(t.stream.records().is_empty(), "nothing sent unchecked");
}

mod stock_filter {
    //! The real adapter, `availability::offers::StockFilter`, on the in-memory score and
    //! configuration stores.

    use super::*;
    use crate::availability::lookup::ConfigCache;
    use crate::availability::offers::StockFilter;
    use crate::availability::{
        ChangeNote, ColumnScore, ConfigStore as _, Score, ScoreKey, ScoreStore as _, ScoreWrite,
    };
    use crate::domain::{ItemId, ScoreColumn, StoreId};
    use crate::testing::{ManualClock, MemoryConfigStore, MemoryScoreStore};

    struct Stores {
        scores: Arc<MemoryScoreStore>,
        configs: Arc<MemoryConfigStore>,
    }

    fn filtered() -> (Setup, Stores) {
        let scores = Arc::new(MemoryScoreStore::default());
        let configs = Arc::new(MemoryConfigStore::default());
        let cache = Arc::new(ConfigCache::new(
            configs.clone(),
            Arc::new(ManualClock::new(NOW)),
        ));
        let filter = Arc::new(StockFilter::new(scores.clone(), cache));
        (setup_with(filter), Stores { scores, configs })
    }

    async fn configure(configs: &MemoryConfigStore, tenant: &str) {
        let config = serde_json::from_value(serde_json::json!({
            "models": [{"model": "m1", "column": "a", "base_threshold": 0.5}],
            "default_column": "a",
            "missing_score": "unavailable"
        }))
        .unwrap();
        let note = ChangeNote {
            author: "ds".into(),
            at: NOW,
            reason: "launch".into(),
            rollback_of: None,
        };
        let tenant = TenantId::parse(tenant).unwrap();
        configs.save(&tenant, &config, &note, None).await.unwrap();
    }

    async fn score(scores: &MemoryScoreStore, store: &str, item: &str, value: f64) {
        let write = ScoreWrite {
            key: ScoreKey {
                store: StoreId::parse(store).unwrap(),
                item: ItemId::parse(item).unwrap(),
            },
            column: ScoreColumn::parse("a").unwrap(),
            value: ColumnScore {
                score: Score::new(value).unwrap(),
                computed_at: NOW,
            },
        };
        let tenant = TenantId::parse("alpine").unwrap();
        scores.write(&tenant, &[write]).await.unwrap();
    }

    fn offers_of(stream: &MemoryStream, customer: &str) -> Vec<String> {
        events(stream)
            .into_iter()
            .find(|e| e.customer.id.as_str() == customer)
            .unwrap_or_else(|| panic!("no event for {customer}"))
            .offers
            .into_iter()
            .map(|o| o.item_id)
            .collect()
    }

    #[tokio::test]
    async fn a_customer_at_a_store_gets_only_what_that_store_likely_has() {
        let (t, stores) = filtered();
        configure(&stores.configs, "alpine").await;
        for (store, item, value) in [
            ("s1", "high", 0.9),
            ("s1", "mid", 0.3),
            ("s1", "low", 0.8),
            ("s2", "high", 0.2),
            ("s2", "mid", 0.9),
            ("s2", "low", 0.9),
        ] {
            score(&stores.scores, store, item, value).await;
        }
        let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
        t.source.put(
            &campaign.audience.source,
            export(&[
                row_at("ann", "s1"),
                row_at("cat", "s2"),
                row_at("dan", "s3"),
                row("bob", "gold"),
            ]),
        );

        let report = t
            .engine
            .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
            .await
            .unwrap();

        assert_eq!(
            offers_of(&t.stream, "ann"),
            vec!["high", "low"],
            "mid is 0.3 at s1"
        );
        assert_eq!(
            offers_of(&t.stream, "cat"),
            vec!["mid", "low"],
            "high is 0.2 at s2"
        );
        assert!(
            offers_of(&t.stream, "dan").is_empty(),
            "s3 has no scores: missing counts as unavailable"
        );
        assert_eq!(
            offers_of(&t.stream, "bob"),
            vec!["high", "mid"],
            "no store: unfiltered"
        );
        assert_eq!(report.offers_unavailable, 1 + 1 + 3);
        assert_eq!(report.events_emitted, 4);
        assert_eq!(stores.scores.get_calls(), 3, "one read per store");
        assert_eq!(stores.scores.keys_read(), 9, "each store's own three items");
    }

    #[tokio::test]
    async fn a_retailer_without_a_configuration_keeps_every_offer() {
        let (t, stores) = filtered();
        configure(&stores.configs, "harbor").await;
        score(&stores.scores, "s1", "high", 0.0).await;
        let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
        t.source
            .put(&campaign.audience.source, export(&[row_at("ann", "s1")]));
        let report = t
            .engine
            .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
            .await
            .unwrap();
        assert_eq!(offers_of(&t.stream, "ann"), vec!["high", "mid"]);
        assert_eq!(report.offers_unavailable, 0);
        assert_eq!(
            stores.scores.get_calls(),
            0,
            "nothing to decide with: nothing read"
        );
    }

    #[tokio::test]
    async fn a_score_outage_fails_the_chunk_as_retryable() {
        let (t, stores) = filtered();
        configure(&stores.configs, "alpine").await;
        stores.scores.set_unavailable(true);
        let campaign = campaign("a.jsonl", serde_json::json!([]), 0.0);
        t.source
            .put(&campaign.audience.source, export(&[row_at("ann", "s1")]));
        let error = t
            .engine
            .run(&launch(campaign), DEFAULT_CHUNK_BYTES)
            .await
            .unwrap_err();
        assert!(matches!(error, ChunkError::Availability(_)) && error.is_retryable());
        assert!(t.stream.records().is_empty());
    }
}

#[tokio::test]
async fn a_campaign_on_both_channels_emits_one_event_per_channel_each_with_its_own_message_id() {
    let t = setup();
    let mut campaign = campaign("both.jsonl", serde_json::json!([]), 0.0);
    campaign.channel = CampaignChannel::Both;
    let both = serde_json::json!({
        "id": "both", "email": "both@example.com", "consent": {"email": true, "push": true},
        "push_tokens": [{"platform": "fcm", "token": "fcm-1"}, {"platform": "apns", "token": "ab".repeat(32)}],
    });
    let email_only = serde_json::json!({
        "id": "mail", "email": "mail@example.com", "consent": {"email": true, "push": false},
        "push_token": "fcm-2",
    });
    let no_token = serde_json::json!({
        "id": "notok", "email": "notok@example.com", "consent": {"email": true, "push": true},
    });
    let legacy = serde_json::json!({
        "id": "legacy", "consent": {"push": true}, "push_token": "fcm-3",
    });
    let rows: Vec<String> = [both, email_only, no_token, legacy]
        .iter()
        .map(|r| r.to_string())
        .collect();
    t.source.put(&campaign.audience.source, export(&rows));

    let report = t.engine.run(&launch(campaign), 1 << 20).await.unwrap();

    let events = events(&t.stream);
    let mut sent: Vec<(String, Channel)> = events
        .iter()
        .map(|e| (e.customer.id.to_string(), e.channel))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("both".to_string(), Channel::Email),
            ("both".to_string(), Channel::Push),
            ("legacy".to_string(), Channel::Push),
            ("mail".to_string(), Channel::Email),
            ("notok".to_string(), Channel::Email),
        ]
    );
    let ids: HashSet<_> = events.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(
        ids.len(),
        events.len(),
        "every event has its own message id"
    );
    let push = events
        .iter()
        .find(|e| e.customer.id.as_str() == "both" && e.channel == Channel::Push)
        .unwrap();
    assert_eq!(push.customer.push_devices().len(), 2);
    assert_eq!(
        (
            report.rows,
            report.events_emitted,
            report.not_consented,
            report.no_address
        ),
        (4, 5, 2, 1),
        "counted per row and channel"
    );
}
