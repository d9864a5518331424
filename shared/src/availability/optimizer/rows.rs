//! One feedback row (an order line: was the item found, and what score was shown), read from a
//! JSON line; and the tally of refused rows by reason, with a few samples of each. A refused row
//! is never used.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::availability::config::MAX_SEGMENT_VALUE_CHARS;
use crate::domain::{ItemId, ModelVersion, ScoreColumn, StoreId};

/// Samples kept per refusal reason.
pub const MAX_REFUSAL_SAMPLES: usize = 5;
/// A sample is cut to this many characters.
pub const MAX_SAMPLE_CHARS: usize = 200;

/// What the optimizer uses of a row (the store and item are checked, not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow<'a> {
    pub category: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub user_bucket: Cow<'a, str>,
    /// The score shown, in [0, 1].
    pub score: f64,
    pub found: bool,
    pub column: Option<ScoreColumn>,
}

/// Why a row was refused: `"not a JSON object"`, `"missing <field>"` or `"invalid <field>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    NotJson,
    Missing(&'static str),
    Invalid(&'static str),
    LineTooLong,
    UnreadableObject,
}

impl Refusal {
    pub fn reason(self) -> String {
        match self {
            Refusal::NotJson => "not a JSON object".to_string(),
            Refusal::Missing(field) => format!("missing {field}"),
            Refusal::Invalid(field) => format!("invalid {field}"),
            Refusal::LineTooLong => "line too long".to_string(),
            Refusal::UnreadableObject => "unreadable object".to_string(),
        }
    }
}

#[derive(Deserialize)]
struct RawRow<'a> {
    #[serde(borrow)]
    store_id: Option<&'a RawValue>,
    #[serde(borrow)]
    item_id: Option<&'a RawValue>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(borrow)]
    region: Option<&'a RawValue>,
    #[serde(borrow)]
    user_bucket: Option<&'a RawValue>,
    #[serde(borrow)]
    score: Option<&'a RawValue>,
    #[serde(borrow)]
    found: Option<&'a RawValue>,
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    column: Option<&'a RawValue>,
}

/// A present, non-null field.
fn field<'a>(raw: Option<&'a RawValue>, name: &'static str) -> Result<&'a str, Refusal> {
    match raw.map(RawValue::get) {
        None | Some("null") => Err(Refusal::Missing(name)),
        Some(json) => Ok(json),
    }
}

fn text<'a>(raw: Option<&'a RawValue>, name: &'static str) -> Result<Cow<'a, str>, Refusal> {
    let json = field(raw, name)?;
    let value: Cow<'a, str> = serde_json::from_str(json).map_err(|_| Refusal::Invalid(name))?;
    Ok(value)
}

/// A segment value as a delta can name it: 1 to `MAX_SEGMENT_VALUE_CHARS` characters.
fn segment_value<'a>(
    raw: Option<&'a RawValue>,
    name: &'static str,
) -> Result<Cow<'a, str>, Refusal> {
    let value = text(raw, name)?;
    let chars = value.chars().count();
    if value.trim().is_empty() || chars > MAX_SEGMENT_VALUE_CHARS {
        return Err(Refusal::Invalid(name));
    }
    Ok(value)
}

fn optional<T>(
    raw: Option<&RawValue>,
    name: &'static str,
    parse: impl Fn(String) -> Option<T>,
) -> Result<Option<T>, Refusal> {
    match field(raw, name) {
        Err(_) => Ok(None),
        Ok(_) => {
            let value = text(raw, name)?;
            parse(value.into_owned())
                .map(Some)
                .ok_or(Refusal::Invalid(name))
        }
    }
}

/// Reads one JSON line.
pub fn parse_row(line: &str) -> Result<FeedbackRow<'_>, Refusal> {
    let raw: RawRow<'_> = serde_json::from_str(line).map_err(|_| Refusal::NotJson)?;
    StoreId::parse(text(raw.store_id, "store_id")?).map_err(|_| Refusal::Invalid("store_id"))?;
    ItemId::parse(text(raw.item_id, "item_id")?).map_err(|_| Refusal::Invalid("item_id"))?;
    let category = segment_value(raw.category, "category")?;
    let region = segment_value(raw.region, "region")?;
    let user_bucket = segment_value(raw.user_bucket, "user_bucket")?;
    let score: f64 =
        serde_json::from_str(field(raw.score, "score")?).map_err(|_| Refusal::Invalid("score"))?;
    if !(score.is_finite() && (0.0..=1.0).contains(&score)) {
        return Err(Refusal::Invalid("score"));
    }
    let found: bool =
        serde_json::from_str(field(raw.found, "found")?).map_err(|_| Refusal::Invalid("found"))?;
    optional(raw.model, "model", |v| ModelVersion::parse(v).ok())?;
    let column = optional(raw.column, "column", |v| ScoreColumn::parse(v).ok())?;
    Ok(FeedbackRow {
        category,
        region,
        user_bucket,
        score,
        found,
        column,
    })
}

/// The rows of one reason: how many, and the first few (`<key>:<line>: <text>`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefusedRows {
    pub count: u64,
    pub samples: Vec<String>,
}

/// Refused rows by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Refusals(pub BTreeMap<String, RefusedRows>);

impl Refusals {
    pub fn record(&mut self, refusal: Refusal, key: &str, line: u64, text: &str) {
        let rows = self.0.entry(refusal.reason()).or_default();
        rows.count += 1;
        if rows.samples.len() < MAX_REFUSAL_SAMPLES {
            let cut: String = text.chars().take(MAX_SAMPLE_CHARS).collect();
            rows.samples.push(format!("{key}:{line}: {cut}"));
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().map(|r| r.count).sum()
    }

    pub fn count(&self, refusal: Refusal) -> u64 {
        self.0.get(&refusal.reason()).map_or(0, |r| r.count)
    }
}
