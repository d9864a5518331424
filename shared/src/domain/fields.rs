//! [`FieldValue`]: a retailer's customer attributes, a JSON-shaped value tree. Templates read it
//! leniently (`crate::render::value`): a missing key is nil, never an error.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A lenient Liquid value, (de)serialized as plain JSON.
///
/// Objects keep their keys sorted, as `serde_json`'s default map does, so rendering an object or
/// serializing one is deterministic.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Nil,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Array(Vec<FieldValue>),
    Object(BTreeMap<String, FieldValue>),
}

impl Default for FieldValue {
    /// An empty object: a customer without attributes still has a `fields` object.
    fn default() -> Self {
        FieldValue::Object(BTreeMap::new())
    }
}

impl FieldValue {
    /// The value under `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        match self {
            FieldValue::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, FieldValue::Nil)
    }

    #[cfg(feature = "render")]
    pub(crate) fn array_item(&self, index: i64) -> Option<&FieldValue> {
        let FieldValue::Array(items) = self else {
            return None;
        };
        let len = i64::try_from(items.len()).ok()?;
        // Liquid counts negative indexes from the end: `offers[-1]` is the last offer.
        let index = if index < 0 { len + index } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|i| items.as_slice().get(i))
    }

    #[cfg(feature = "render")]
    pub(crate) fn len(&self) -> usize {
        match self {
            FieldValue::Array(items) => items.len(),
            FieldValue::Object(map) => map.len(),
            _ => 0,
        }
    }
}

impl From<serde_json::Value> for FieldValue {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => FieldValue::Nil,
            serde_json::Value::Bool(b) => FieldValue::Bool(b),
            serde_json::Value::Number(n) => number(&n),
            serde_json::Value::String(s) => FieldValue::String(s),
            serde_json::Value::Array(items) => {
                FieldValue::Array(items.into_iter().map(FieldValue::from).collect())
            }
            serde_json::Value::Object(map) => FieldValue::Object(
                map.into_iter()
                    .map(|(k, v)| (k, FieldValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&serde_json::Value> for FieldValue {
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => FieldValue::Nil,
            serde_json::Value::Bool(b) => FieldValue::Bool(*b),
            serde_json::Value::Number(n) => number(n),
            serde_json::Value::String(s) => FieldValue::String(s.clone()),
            serde_json::Value::Array(items) => {
                FieldValue::Array(items.iter().map(FieldValue::from).collect())
            }
            serde_json::Value::Object(map) => FieldValue::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), FieldValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&serde_json::Map<String, serde_json::Value>> for FieldValue {
    fn from(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        FieldValue::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), FieldValue::from(v)))
                .collect(),
        )
    }
}

fn number(n: &serde_json::Number) -> FieldValue {
    match n.as_i64() {
        Some(i) => FieldValue::Integer(i),
        None => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

impl From<&str> for FieldValue {
    fn from(value: &str) -> Self {
        FieldValue::String(value.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(value: String) -> Self {
        FieldValue::String(value)
    }
}

impl From<i64> for FieldValue {
    fn from(value: i64) -> Self {
        FieldValue::Integer(value)
    }
}

impl From<f64> for FieldValue {
    fn from(value: f64) -> Self {
        FieldValue::Float(value)
    }
}

impl From<bool> for FieldValue {
    fn from(value: bool) -> Self {
        FieldValue::Bool(value)
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Nil => serializer.serialize_unit(),
            FieldValue::Bool(b) => serializer.serialize_bool(*b),
            FieldValue::Integer(i) => serializer.serialize_i64(*i),
            FieldValue::Float(f) => serializer.serialize_f64(*f),
            FieldValue::String(s) => serializer.serialize_str(s),
            FieldValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            FieldValue::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, v)?;
                }
                out.end()
            }
        }
    }
}

// A hand-written visitor rather than `#[serde(untagged)]`: customer fields arrive with every
// campaign event, and untagged enums buffer the whole input before trying each variant.
impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<FieldValue, D::Error> {
        FieldValue::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldValue, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => FieldValue::Integer(i),
            // Precision loss past i64 is what JSON readers everywhere do with such numbers.
            Err(_) => FieldValue::Float(v as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(FieldValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<FieldValue, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((k, v)) = access.next_entry::<String, FieldValue>()? {
            map.insert(k, v);
        }
        Ok(FieldValue::Object(map))
    }
}
