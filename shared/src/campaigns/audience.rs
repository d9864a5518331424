//! The audience export and how chunks read it.
//!
//! A chunk `[start, end)` owns the lines that start inside it: unless it starts at 0 it skips
//! the partial line it begins in (reading from `start - 1` tells whether `start` begins a line),
//! and it reads past `end`, in small extra reads, to finish its last line. Reads come in pieces,
//! so a chunk never holds more than a piece and one line. A gzip export cannot be entered in the
//! middle: it is one chunk, decompressed as it streams in.

use std::io::Write as _;
use std::ops::Range;

use memchr::memchr;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::definition::AudienceLocation;
use super::ports::AudienceSource;
use crate::domain::FieldValue;
use crate::domain::{CustomerId, Offer, StoreId};
use crate::error::StoreError;

/// A chunk reads its range in pieces of at most this many bytes.
pub const READ_PIECE_BYTES: u64 = 1024 * 1024;
/// Past its end, a chunk finishes its last line in reads of this many bytes.
pub const EXTRA_READ_BYTES: u64 = 16 * 1024;
/// A gzip export is fetched in compressed pieces of this many bytes.
pub const GZIP_PIECE_BYTES: u64 = 256 * 1024;
/// Compressed bytes are fed to the decoder this many at a time, and the lines they yield handed
/// out before more: deflate expands at most about 1,000 times, so the decompressed buffer stays
/// within a few MiB however well the export compresses.
pub const GZIP_FEED_BYTES: usize = 4 * 1024;

const AUDIENCE: &str = "audience export";

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AudienceRow {
    pub id: CustomerId,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub push_token: Option<String>,
    #[serde(default)]
    pub consent: Consent,
    /// The store the customer shops at: offers are filtered by that store's availability.
    #[serde(default)]
    pub store_id: Option<StoreId>,
    /// The customer's (or their store's) region, a segment of the availability thresholds.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub attributes: FieldValue,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
}

/// Subscription consent per channel; a missing answer is no.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Consent {
    #[serde(default)]
    pub email: Option<bool>,
    #[serde(default)]
    pub push: Option<bool>,
}

/// An item the retailer suggests for this customer, with its relevance score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Candidate {
    pub item_id: String,
    pub title: String,
    pub url: String,
    #[serde(default)]
    pub image_url: Option<String>,
    pub price: f64,
    #[serde(default)]
    pub sale_price: Option<f64>,
    pub currency: String,
    #[serde(default, with = "time::serde::iso8601::option")]
    pub valid_until: Option<time::OffsetDateTime>,
    #[serde(default)]
    pub score: f64,
    /// The item's product category, a segment of the availability thresholds.
    #[serde(default)]
    pub category: Option<String>,
}

impl Candidate {
    pub fn into_offer(self) -> Offer {
        Offer {
            item_id: self.item_id,
            title: self.title,
            url: self.url,
            image_url: self.image_url,
            price: self.price,
            sale_price: self.sale_price,
            currency: self.currency,
            valid_until: self.valid_until,
        }
    }
}

/// Parses one line completely; the error is the reason it is malformed.
pub fn parse_row(line: &[u8]) -> Result<AudienceRow, String> {
    let head = RowHead::parse(line)?;
    let attributes = head.attributes()?;
    let candidates = parse_candidates(head.candidates)?;
    Ok(AudienceRow {
        id: head.id,
        email: head.email,
        push_token: head.push_token,
        consent: head.consent,
        store_id: head.store_id,
        region: head.region,
        attributes,
        candidates,
    })
}

/// A row read only as far as consent needs: `attributes` and `candidates` stay raw JSON until a
/// rule or an offer needs them, so the rows that are left out early cost less.
#[derive(Deserialize)]
pub(crate) struct RowHead<'a> {
    pub(crate) id: CustomerId,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) push_token: Option<String>,
    #[serde(default)]
    pub(crate) consent: Consent,
    #[serde(default)]
    pub(crate) store_id: Option<StoreId>,
    #[serde(default)]
    pub(crate) region: Option<String>,
    #[serde(default, borrow)]
    attributes: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) candidates: Option<&'a RawValue>,
}

impl<'a> RowHead<'a> {
    pub(crate) fn parse(line: &'a [u8]) -> Result<Self, String> {
        serde_json::from_slice(line).map_err(|e| e.to_string())
    }

    pub(crate) fn attributes(&self) -> Result<FieldValue, String> {
        let Some(raw) = self.attributes else {
            return Ok(FieldValue::default());
        };
        match serde_json::from_str(raw.get()).map_err(|e| format!("attributes: {e}"))? {
            FieldValue::Nil => Ok(FieldValue::default()),
            object @ FieldValue::Object(_) => Ok(object),
            _ => Err("attributes must be an object".into()),
        }
    }
}

/// A row's `candidates` (missing or `null`: none).
pub(crate) fn parse_candidates(raw: Option<&RawValue>) -> Result<Vec<Candidate>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    serde_json::from_str::<Option<Vec<Candidate>>>(raw.get())
        .map(Option::unwrap_or_default)
        .map_err(|e| format!("candidates: {e}"))
}

/// Byte ranges of `chunk_bytes` (the last one shorter) covering an object of `size` bytes.
pub fn plan_chunks(size: u64, chunk_bytes: u64) -> Vec<Range<u64>> {
    let chunk_bytes = chunk_bytes.max(1);
    let mut chunks = Vec::with_capacity(size.div_ceil(chunk_bytes) as usize);
    let mut start = 0;
    while start < size {
        let end = (start + chunk_bytes).min(size);
        chunks.push(start..end);
        start = end;
    }
    chunks
}

/// The lines a chunk owns, each with the offset of its first byte.
pub(crate) enum ChunkLines<'a> {
    Range(RangeLines<'a>),
    Gzip(Box<GzipLines<'a>>),
}

impl<'a> ChunkLines<'a> {
    pub(crate) async fn open(
        source: &'a dyn AudienceSource,
        location: &'a AudienceLocation,
        range: Range<u64>,
    ) -> Result<Self, StoreError> {
        let size = source.object_size(location).await?;
        if location.is_gzip() {
            // Every line of a gzip stream starts, as far as byte ranges go, at 0: the chunk that
            // starts there owns them all, any other owns none.
            let owns_all = range.start == 0 && !range.is_empty();
            Ok(ChunkLines::Gzip(Box::new(GzipLines {
                source,
                location,
                size: if owns_all { size } else { 0 },
                fetched: 0,
                decoder: flate2::write::MultiGzDecoder::new(Vec::new()),
                input: Vec::new(),
                input_at: 0,
                consumed: 0,
                offset: 0,
                finished: !owns_all,
            })))
        } else {
            let end = range.end.min(size);
            let mut lines = RangeLines {
                source,
                location,
                size,
                end,
                fetched: range.start.saturating_sub(1),
                buf: Vec::new(),
                consumed: 0,
                buf_offset: range.start.saturating_sub(1),
            };
            if range.start > 0 {
                // The line that ends at or after `start - 1` began before this chunk.
                lines.next_piece_of_line(true).await?;
            }
            Ok(ChunkLines::Range(lines))
        }
    }

    pub(crate) async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        match self {
            ChunkLines::Range(lines) => lines.next_line().await,
            ChunkLines::Gzip(lines) => lines.next_line().await,
        }
    }
}

pub(crate) struct RangeLines<'a> {
    source: &'a dyn AudienceSource,
    location: &'a AudienceLocation,
    size: u64,
    end: u64,
    /// Offset of the next byte to fetch.
    fetched: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out; always at the start of a line.
    consumed: usize,
    /// Offset of `buf[0]`.
    buf_offset: u64,
}

impl RangeLines<'_> {
    async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        if self.buf_offset + self.consumed as u64 >= self.end {
            return Ok(None);
        }
        Ok(self
            .next_piece_of_line(false)
            .await?
            .map(|(offset, range)| (offset, &self.buf[range])))
    }

    /// The next line (without its newline) from the current position, fetching as needed.
    async fn next_piece_of_line(
        &mut self,
        skipping: bool,
    ) -> Result<Option<(u64, Range<usize>)>, StoreError> {
        let mut searched = self.consumed;
        loop {
            if let Some(position) = memchr(b'\n', &self.buf[searched..]) {
                let line = self.consumed..searched + position;
                let offset = self.buf_offset + self.consumed as u64;
                self.consumed = searched + position + 1;
                return Ok(Some((offset, line)));
            }
            if self.fetched >= self.size {
                if self.consumed < self.buf.len() && !skipping {
                    let line = self.consumed..self.buf.len();
                    let offset = self.buf_offset + self.consumed as u64;
                    self.consumed = self.buf.len();
                    return Ok(Some((offset, line)));
                }
                self.consumed = self.buf.len();
                return Ok(None);
            }
            if self.consumed > 0 {
                self.buf.drain(..self.consumed);
                self.buf_offset += self.consumed as u64;
                self.consumed = 0;
            }
            searched = self.buf.len();
            let until = if self.fetched < self.end {
                (self.fetched + READ_PIECE_BYTES).min(self.end)
            } else {
                (self.fetched + EXTRA_READ_BYTES).min(self.size)
            };
            let bytes = self
                .source
                .read_range(self.location, self.fetched, until)
                .await?;
            if bytes.is_empty() {
                // The object shrank under us: what is there is all there is.
                self.size = self.fetched;
                continue;
            }
            self.fetched += bytes.len() as u64;
            if self.buf.is_empty() {
                self.buf = bytes;
            } else {
                self.buf.extend_from_slice(&bytes);
            }
        }
    }
}

pub(crate) struct GzipLines<'a> {
    source: &'a dyn AudienceSource,
    location: &'a AudienceLocation,
    size: u64,
    fetched: u64,
    /// Decompressed bytes collect in the decoder's buffer; `consumed` of them are handed out.
    decoder: flate2::write::MultiGzDecoder<Vec<u8>>,
    /// The compressed piece being fed to the decoder, and how far.
    input: Vec<u8>,
    input_at: usize,
    consumed: usize,
    /// Offset in the decompressed stream of the decoder buffer's first byte.
    offset: u64,
    finished: bool,
}

impl GzipLines<'_> {
    async fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        let mut searched = self.consumed;
        loop {
            let out = self.decoder.get_ref();
            if let Some(position) = memchr(b'\n', &out[searched..]) {
                let line = self.consumed..searched + position;
                let offset = self.offset + self.consumed as u64;
                self.consumed = searched + position + 1;
                return Ok(Some((offset, &self.decoder.get_ref()[line])));
            }
            if self.finished {
                if self.consumed < out.len() {
                    let line = self.consumed..out.len();
                    let offset = self.offset + self.consumed as u64;
                    self.consumed = out.len();
                    return Ok(Some((offset, &self.decoder.get_ref()[line])));
                }
                return Ok(None);
            }
            let consumed = std::mem::take(&mut self.consumed);
            self.decoder.get_mut().drain(..consumed);
            self.offset += consumed as u64;
            searched = self.decoder.get_ref().len();
            if self.input_at < self.input.len() {
                let until = (self.input_at + GZIP_FEED_BYTES).min(self.input.len());
                self.decoder
                    .write_all(&self.input[self.input_at..until])
                    .map_err(corrupt_gzip)?;
                self.input_at = until;
                continue;
            }
            if self.fetched >= self.size {
                self.decoder.try_finish().map_err(corrupt_gzip)?;
                self.finished = true;
                continue;
            }
            let until = (self.fetched + GZIP_PIECE_BYTES).min(self.size);
            let bytes = self
                .source
                .read_range(self.location, self.fetched, until)
                .await?;
            if bytes.is_empty() {
                self.size = self.fetched;
                continue;
            }
            self.fetched += bytes.len() as u64;
            self.input = bytes;
            self.input_at = 0;
        }
    }
}

fn corrupt_gzip(error: std::io::Error) -> StoreError {
    StoreError::Corrupt {
        store: AUDIENCE,
        reason: format!("gzip stream: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_object_once() {
        assert_eq!(plan_chunks(10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(plan_chunks(8, 4), vec![0..4, 4..8]);
        assert!(plan_chunks(0, 4).is_empty());
    }

    #[test]
    fn a_row_reads_consent_attributes_and_candidates() {
        let row = parse_row(
            br#"{"id":"c1","email":"Ann@Example.com","consent":{"email":true},
                "attributes":{"tier":"gold"},
                "candidates":[{"item_id":"i1","title":"Boots","url":"https://s/i1","price":90,
                  "currency":"EUR","valid_until":"2026-12-01T00:00:00Z","score":0.5}]}"#,
        )
        .unwrap();
        assert_eq!(row.consent.email, Some(true));
        assert_eq!(row.consent.push, None);
        assert_eq!(row.candidates[0].score, 0.5);
        assert!(row.candidates[0].valid_until.is_some());
        assert_eq!(row.store_id, None);
        assert_eq!(row.candidates[0].category, None);
    }

    #[test]
    fn a_row_may_name_its_store_region_and_candidates_categories() {
        let row = parse_row(
            br#"{"id":"c1","store_id":"berlin-1","region":"north",
                "candidates":[{"item_id":"i1","title":"Boots","url":"u","price":90,
                  "currency":"EUR","category":"shoes"}]}"#,
        )
        .unwrap();
        assert_eq!(row.store_id.as_ref().map(StoreId::as_str), Some("berlin-1"));
        assert_eq!(row.region.as_deref(), Some("north"));
        assert_eq!(row.candidates[0].category.as_deref(), Some("shoes"));
        assert!(parse_row(br#"{"id":"c1","store_id":"no/slash"}"#).is_err());
    }

    #[test]
    fn rows_without_an_id_or_with_bad_attributes_are_malformed() {
        assert!(parse_row(br#"{"email":"a@b.c"}"#).is_err());
        assert!(parse_row(br#"{"id":"has space"}"#).is_err());
        assert!(parse_row(br#"{"id":"c1","attributes":[1]}"#).is_err());
        assert!(parse_row(b"not json").is_err());
        assert!(parse_row(br#"{"id":"c1"}"#).is_ok());
    }
}
