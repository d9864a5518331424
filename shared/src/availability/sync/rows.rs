//! One row of a scoring export, read without allocating what can be borrowed: JSON objects
//! through a visitor that maps field names to the configuration's models as it goes, CSV lines
//! split in place, timestamps parsed by hand (RFC 3339 in the shapes warehouses write, or epoch
//! seconds). A row is either refused whole (a [`RejectReason`] of the row) or read, with the
//! refusals of single values beside it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::export::ExportFormat;
use crate::availability::{AvailabilityConfig, Score};
use crate::domain::{ModelVersion, ScoreColumn};

/// A row scored further in the future than this is refused: the warehouse's and our clocks may
/// differ by this much, no more. Accepting a future time would make every later (real) score of
/// the column stale until that time comes.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The row: not a JSON object, a wrong number of CSV fields, a field twice, a quote out of
    /// place, `store_id`, `item_id` or `scored_at` missing.
    Malformed,
    BadStoreId,
    BadItemId,
    /// `scored_at` is neither RFC 3339 nor epoch seconds.
    BadTimestamp,
    /// `scored_at` is later than now plus [`MAX_CLOCK_SKEW_SECONDS`].
    FutureTimestamp,
    /// A value: its column names no model of the retailer's configuration.
    UnknownModel,
    /// A value that is not a (finite) number.
    NotANumber,
    /// A value outside `[0, 1]`.
    OutOfRange,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::BadStoreId => "bad_store_id",
            RejectReason::BadItemId => "bad_item_id",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::UnknownModel => "unknown_model",
            RejectReason::NotANumber => "not_a_number",
            RejectReason::OutOfRange => "out_of_range",
        }
    }
}

/// The configuration's models, as an export names them. A model's slot is its position here.
#[derive(Debug, Clone)]
pub struct ModelSlots {
    models: Vec<(ModelVersion, ScoreColumn, bool)>,
}

impl ModelSlots {
    pub fn new(config: &AvailabilityConfig) -> Self {
        Self {
            models: config
                .models
                .iter()
                .map(|m| (m.model.clone(), m.column.clone(), m.synced))
                .collect(),
        }
    }

    fn slot(&self, name: &str) -> Option<usize> {
        self.models
            .iter()
            .position(|(model, ..)| model.as_str() == name)
    }

    /// The column a slot's model is written to, if it is synced.
    pub fn synced_column(&self, slot: usize) -> Option<&ScoreColumn> {
        self.models
            .get(slot)
            .and_then(|(_, column, synced)| synced.then_some(column))
    }
}

/// A row as read: ids still as text (the caller parses them once into its keys).
#[derive(Debug)]
pub struct RawRow<'a> {
    pub store: Cow<'a, str>,
    pub item: Cow<'a, str>,
    pub scored_at: OffsetDateTime,
}

/// Reads rows of one file, reusing its buffers from row to row.
pub struct RowReader {
    format: ExportFormat,
    slots: ModelSlots,
    /// CSV: what each field of a line is.
    header: Vec<Field>,
    /// The current row's scores: (slot, score).
    pub values: Vec<(usize, Score)>,
    /// The current row's refused values.
    pub value_rejections: Vec<RejectReason>,
    now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Store,
    Item,
    ScoredAt,
    Model(usize),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the CSV header {0}")]
pub struct BadHeader(pub String);

impl RowReader {
    pub fn new(format: ExportFormat, slots: ModelSlots, now: OffsetDateTime) -> Self {
        Self {
            format,
            slots,
            header: Vec::new(),
            values: Vec::new(),
            value_rejections: Vec::new(),
            now: now.unix_timestamp(),
        }
    }

    /// CSV only: the file's first line, which names the fields of every other line.
    pub fn read_header(&mut self, line: &[u8]) -> Result<(), BadHeader> {
        let text = std::str::from_utf8(line).map_err(|_| BadHeader("is not UTF-8".into()))?;
        let mut header = Vec::new();
        for name in CsvFields::new(text) {
            let name = name.ok_or_else(|| BadHeader("has a quote out of place".into()))?;
            header.push(self.field(name));
        }
        for (field, name) in [
            (Field::Store, "store_id"),
            (Field::Item, "item_id"),
            (Field::ScoredAt, "scored_at"),
        ] {
            match header.iter().filter(|f| **f == field).count() {
                1 => {}
                0 => return Err(BadHeader(format!("has no {name}"))),
                _ => return Err(BadHeader(format!("names {name} twice"))),
            }
        }
        self.header = header;
        Ok(())
    }

    fn field(&self, name: &str) -> Field {
        match name {
            "store_id" => Field::Store,
            "item_id" => Field::Item,
            "scored_at" => Field::ScoredAt,
            _ => self.slots.slot(name).map_or(Field::Unknown, Field::Model),
        }
    }

    pub fn slots(&self) -> &ModelSlots {
        &self.slots
    }

    /// Reads one line; the values land in `self.values` and `self.value_rejections`.
    pub fn read<'a>(&mut self, line: &'a [u8]) -> Result<RawRow<'a>, RejectReason> {
        self.values.clear();
        self.value_rejections.clear();
        let (store, item, scored_at) = match self.format {
            ExportFormat::Jsonl => self.read_json(line)?,
            ExportFormat::Csv => self.read_csv(line)?,
        };
        let scored_at = scored_at.parse()?;
        if scored_at.unix_timestamp() > self.now + MAX_CLOCK_SKEW_SECONDS {
            return Err(RejectReason::FutureTimestamp);
        }
        Ok(RawRow {
            store,
            item,
            scored_at,
        })
    }

    fn read_json<'a>(&mut self, line: &'a [u8]) -> Result<RowFields<'a>, RejectReason> {
        let mut deserializer = serde_json::Deserializer::from_slice(line);
        let seed = JsonRow { reader: self };
        let fields = seed
            .deserialize(&mut deserializer)
            .map_err(|_| RejectReason::Malformed)?;
        deserializer.end().map_err(|_| RejectReason::Malformed)?;
        fields.ok_or(RejectReason::Malformed)
    }

    fn read_csv<'a>(&mut self, line: &'a [u8]) -> Result<RowFields<'a>, RejectReason> {
        let text = std::str::from_utf8(line).map_err(|_| RejectReason::Malformed)?;
        let (mut store, mut item, mut scored_at) = (None, None, None);
        let mut fields = CsvFields::new(text);
        for index in 0..self.header.len() {
            let value = fields.next().flatten().ok_or(RejectReason::Malformed)?;
            match self.header[index] {
                Field::Store => store = Some(Cow::Borrowed(value)),
                Field::Item => item = Some(Cow::Borrowed(value)),
                Field::ScoredAt => scored_at = Some(TimeValue::Text(Cow::Borrowed(value))),
                Field::Model(slot) if !value.is_empty() => match value.parse::<f64>() {
                    Ok(number) => self.score(slot, number),
                    Err(_) => self.value_rejections.push(RejectReason::NotANumber),
                },
                Field::Model(_) => {}
                Field::Unknown if !value.is_empty() => {
                    self.value_rejections.push(RejectReason::UnknownModel)
                }
                Field::Unknown => {}
            }
        }
        if fields.next().is_some() {
            return Err(RejectReason::Malformed);
        }
        match (store, item, scored_at) {
            (Some(store), Some(item), Some(at)) => Ok((store, item, at)),
            _ => Err(RejectReason::Malformed),
        }
    }

    fn score(&mut self, slot: usize, number: f64) {
        match Score::new(number) {
            Ok(score) => self.values.push((slot, score)),
            Err(_) if !number.is_finite() => self.value_rejections.push(RejectReason::NotANumber),
            Err(_) => self.value_rejections.push(RejectReason::OutOfRange),
        }
    }
}

type RowFields<'a> = (Cow<'a, str>, Cow<'a, str>, TimeValue<'a>);

/// The fields of one CSV line, unquoted; `None` for a field whose quotes are out of place.
struct CsvFields<'a> {
    rest: Option<&'a str>,
}

impl<'a> CsvFields<'a> {
    fn new(line: &'a str) -> Self {
        Self { rest: Some(line) }
    }
}

impl<'a> Iterator for CsvFields<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let (field, after) = match memchr::memchr(b',', rest.as_bytes()) {
            Some(comma) => (&rest[..comma], Some(&rest[comma + 1..])),
            None => (rest, None),
        };
        self.rest = after;
        Some(unquote(field))
    }
}

/// No value of an export can hold a quote or a comma (ids, numbers, timestamps), so a quoted
/// field is simply its inside.
fn unquote(field: &str) -> Option<&str> {
    let inner = match field.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => field,
    };
    (!inner.contains('"')).then_some(inner)
}

/// `scored_at` as written: text (RFC 3339 or epoch digits) or a JSON number.
#[derive(Debug)]
enum TimeValue<'a> {
    Text(Cow<'a, str>),
    Epoch(i64),
    Invalid,
}

impl TimeValue<'_> {
    fn parse(&self) -> Result<OffsetDateTime, RejectReason> {
        match self {
            TimeValue::Text(text) => parse_timestamp(text),
            TimeValue::Epoch(seconds) => OffsetDateTime::from_unix_timestamp(*seconds).ok(),
            TimeValue::Invalid => None,
        }
        .ok_or(RejectReason::BadTimestamp)
    }
}

/// RFC 3339 (`2026-11-30T02:10:00Z`, `…T02:10:00.123+01:00`; `t`, `z` and a space separator
/// too), or epoch seconds as digits. By hand: `time`'s parser is general and several times
/// slower, and every row has one.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) {
        return OffsetDateTime::from_unix_timestamp(text.parse().ok()?).ok();
    }
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    let (hour, minute, second) = (
        digits(&bytes[11..13])?,
        digits(&bytes[14..16])?,
        digits(&bytes[17..19])?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (nanos, zone) = fraction(&bytes[19..])?;
    let offset = zone_offset(zone)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(seconds) * 1_000_000_000 + nanos).ok()
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
    })
}

/// An optional `.fff…` (1 to 9 digits kept, more ignored), then the rest: the zone.
fn fraction(bytes: &[u8]) -> Option<(i128, &[u8])> {
    let Some(rest) = bytes.strip_prefix(b".") else {
        return Some((0, bytes));
    };
    let count = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if count == 0 {
        return None;
    }
    let kept = count.min(9);
    let value = digits(&rest[..kept])? * 10i64.pow((9 - kept) as u32);
    Some((i128::from(value), &rest[count..]))
}

/// `Z` or `±HH:MM`, as seconds east of UTC.
fn zone_offset(zone: &[u8]) -> Option<i64> {
    match zone {
        b"Z" | b"z" => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3_600 + minutes * 60;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => None,
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A JSON row, read field by field into the reader's buffers.
struct JsonRow<'r> {
    reader: &'r mut RowReader,
}

impl<'de> DeserializeSeed<'de> for JsonRow<'_> {
    type Value = Option<RowFields<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JsonRow<'_> {
    type Value = Option<RowFields<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a score row object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut store, mut item, mut scored_at) = (None, None, None);
        while let Some(field) = map.next_key_seed(FieldName {
            reader: self.reader,
        })? {
            let twice = || de::Error::custom("a field twice");
            match field {
                Field::Store if store.is_none() => store = Some(map.next_value::<Text>()?.0),
                Field::Item if item.is_none() => item = Some(map.next_value::<Text>()?.0),
                Field::ScoredAt if scored_at.is_none() => {
                    scored_at = Some(map.next_value::<JsonTime>()?.0)
                }
                Field::Store | Field::Item | Field::ScoredAt => return Err(twice()),
                Field::Model(slot) => match map.next_value::<JsonScore>()? {
                    JsonScore::Number(number) => self.reader.score(slot, number),
                    JsonScore::Empty => {}
                    JsonScore::NotANumber => {
                        self.reader.value_rejections.push(RejectReason::NotANumber)
                    }
                },
                Field::Unknown => {
                    if !matches!(map.next_value::<JsonScore>()?, JsonScore::Empty) {
                        self.reader
                            .value_rejections
                            .push(RejectReason::UnknownModel);
                    }
                }
            }
        }
        Ok(match (store, item, scored_at) {
            (Some(store), Some(item), Some(at)) => Some((store, item, at)),
            _ => None,
        })
    }
}

struct FieldName<'r> {
    reader: &'r RowReader,
}

impl<'de> DeserializeSeed<'de> for FieldName<'_> {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName<'_> {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
        Ok(self.reader.field(name))
    }
}

/// A string field, borrowed from the line unless it had escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

struct JsonTime<'de>(TimeValue<'de>);

impl<'de> Deserialize<'de> for JsonTime<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = JsonTime<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Text(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonTime(
                    i64::try_from(v).map_or(TimeValue::Invalid, TimeValue::Epoch),
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Epoch(v)))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Invalid))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Invalid))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonTime(TimeValue::Invalid))
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

/// A model's value: a number, nothing (`null`), or anything else.
enum JsonScore {
    Number(f64),
    Empty,
    NotANumber,
}

impl<'de> Deserialize<'de> for JsonScore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScoreVisitor;
        impl<'de> Visitor<'de> for ScoreVisitor {
            type Value = JsonScore;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a score")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonScore, E> {
                Ok(JsonScore::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonScore, E> {
                Ok(JsonScore::Number(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonScore, E> {
                Ok(JsonScore::Number(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonScore, E> {
                Ok(JsonScore::Empty)
            }
            fn visit_none<E: de::Error>(self) -> Result<JsonScore, E> {
                Ok(JsonScore::Empty)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonScore, E> {
                Ok(JsonScore::NotANumber)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonScore, E> {
                Ok(JsonScore::NotANumber)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonScore, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonScore::NotANumber)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonScore, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonScore::NotANumber)
            }
        }
        deserializer.deserialize_any(ScoreVisitor)
    }
}

#[cfg(test)]
#[path = "rows_tests.rs"]
mod tests;
