//! The audience export and how chunks read it: each chunk reads the lines it owns through the
//! shared line reader (`crate::ranged_lines`: a chunk owns the lines that start inside it; a gzip
//! export is one chunk, decompressed as it streams in).

use std::ops::Range;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::definition::AudienceLocation;
use super::ports::AudienceSource;
use crate::domain::FieldValue;
use crate::domain::{CustomerId, Offer, PushDevice, StoreId};
use crate::error::StoreError;
pub use crate::ranged_lines::{
    EXTRA_READ_BYTES, GZIP_FEED_BYTES, GZIP_PIECE_BYTES, READ_PIECE_BYTES,
};
use crate::ranged_lines::{OwnedLines, RangeRead};

const AUDIENCE: &str = "audience export";

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AudienceRow {
    pub id: CustomerId,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub push_token: Option<String>,
    /// The customer's devices, each with its platform (`{"platform": "fcm", "token": ...}`).
    #[serde(default)]
    pub push_tokens: Vec<PushDevice>,
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
        push_tokens: head.push_tokens,
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
    pub(crate) push_tokens: Vec<PushDevice>,
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
    crate::ranged_lines::plan_ranges(size, chunk_bytes)
}

/// The lines a chunk owns, each with the offset of its first byte.
pub(crate) type ChunkLines<'a> = OwnedLines<AudienceObject<'a>>;

/// One audience export as the shared line reader reads it.
pub(crate) struct AudienceObject<'a> {
    source: &'a dyn AudienceSource,
    location: &'a AudienceLocation,
}

#[async_trait]
impl RangeRead for AudienceObject<'_> {
    fn label(&self) -> &'static str {
        AUDIENCE
    }

    async fn read_range(&self, start: u64, end_exclusive: u64) -> Result<Vec<u8>, StoreError> {
        self.source
            .read_range(self.location, start, end_exclusive)
            .await
    }
}

/// Opens the lines a chunk of the export at `location` owns.
pub(crate) async fn open_chunk<'a>(
    source: &'a dyn AudienceSource,
    location: &'a AudienceLocation,
    range: Range<u64>,
) -> Result<ChunkLines<'a>, StoreError> {
    let size = source.object_size(location).await?;
    let object = AudienceObject { source, location };
    OwnedLines::open(object, size, range, location.is_gzip()).await
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
