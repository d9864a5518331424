use std::io::Write as _;
use std::sync::Mutex;

use super::*;

struct Bytes {
    data: Vec<u8>,
    reads: Mutex<Vec<Range<u64>>>,
}

#[async_trait]
impl RangeRead for &Bytes {
    fn label(&self) -> &'static str {
        "test object"
    }
    async fn read_range(&self, start: u64, end_exclusive: u64) -> Result<Vec<u8>, StoreError> {
        let end = (end_exclusive as usize).min(self.data.len());
        let start = (start as usize).min(end);
        self.reads.lock().unwrap().push(start as u64..end as u64);
        Ok(self.data[start..end].to_vec())
    }
}

fn object(data: Vec<u8>) -> Bytes {
    Bytes {
        data,
        reads: Mutex::new(Vec::new()),
    }
}

async fn lines_of(source: &Bytes, range: Range<u64>, gzip: bool) -> Vec<(u64, String)> {
    let size = source.data.len() as u64;
    let mut lines = OwnedLines::open(source, size, range, gzip).await.unwrap();
    let mut out = Vec::new();
    while let Some((offset, line)) = lines.next_line().await.unwrap() {
        out.push((offset, String::from_utf8(line.to_vec()).unwrap()));
    }
    out
}

#[test]
fn ranges_cover_the_object_once() {
    assert_eq!(plan_ranges(10, 4), vec![0..4, 4..8, 8..10]);
    assert_eq!(plan_ranges(8, 4), vec![0..4, 4..8]);
    assert!(plan_ranges(0, 4).is_empty());
}

#[tokio::test]
async fn every_line_is_owned_by_exactly_one_range_whatever_the_cut() {
    let text: String = (0..200)
        .map(|i| format!("line-{i}-{}\n", "x".repeat(i % 17)))
        .collect();
    // No newline at the end: the last line still counts.
    let text = text.trim_end().to_string();
    let expected: Vec<String> = text.split('\n').map(str::to_string).collect();
    let source = object(text.into_bytes());
    for range_bytes in [1, 2, 7, 64, 333, 5_000] {
        let mut seen = Vec::new();
        for range in plan_ranges(source.data.len() as u64, range_bytes) {
            for (offset, line) in lines_of(&source, range.clone(), false).await {
                assert!(
                    range.contains(&offset),
                    "a range owns only lines starting in it"
                );
                seen.push(line);
            }
        }
        assert_eq!(seen, expected, "range size {range_bytes}");
    }
}

#[tokio::test]
async fn a_gzip_object_is_owned_by_the_range_at_zero_and_read_in_bounded_pieces() {
    let plain: String = (0..20_000).map(|i| format!("row {i}\n")).collect();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(plain.as_bytes()).unwrap();
    let source = object(encoder.finish().unwrap());
    let size = source.data.len() as u64;
    let lines = lines_of(&source, 0..size, true).await;
    assert_eq!(lines.len(), 20_000);
    assert_eq!(lines[1], (6, "row 1".to_string()));
    assert!(lines_of(&source, 1..size, true).await.is_empty());
    assert!(
        source
            .reads
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.end - r.start <= GZIP_PIECE_BYTES)
    );
}

#[tokio::test]
async fn a_truncated_gzip_object_is_corrupt() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&vec![b'a'; 100_000]).unwrap();
    let mut data = encoder.finish().unwrap();
    data.truncate(data.len() / 2);
    let source = object(data);
    let size = source.data.len() as u64;
    let mut lines = OwnedLines::open(&source, size, 0..size, true)
        .await
        .unwrap();
    let error = loop {
        match lines.next_line().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a truncated stream must not end quietly"),
            Err(error) => break error,
        }
    };
    assert!(matches!(
        error,
        StoreError::Corrupt {
            store: "test object",
            ..
        }
    ));
}
