//! [`RenderValue`]: a JSON-shaped value tree that Liquid templates read leniently.
//!
//! Shopify's Liquid renders a key that does not exist as nil; the `liquid` crate raises
//! "Unknown index" instead. A retailer's customer attributes differ from customer to customer, so
//! a missing one must never fail a send: looking up a missing key on a `RenderValue` object gives
//! the shared nil [`NIL`], and that nil answers any further key with itself, so
//! `customer.address.city` is nil when the customer has no address.

use std::collections::BTreeMap;
use std::fmt;

use liquid_core::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// The nil every missing lookup resolves to.
pub static NIL: RenderValue = RenderValue::Nil;

/// A lenient Liquid value, (de)serialized as plain JSON.
///
/// Objects keep their keys sorted, as `serde_json`'s default map does, so rendering an object or
/// serializing one is deterministic.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderValue {
    Nil,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Array(Vec<RenderValue>),
    Object(BTreeMap<String, RenderValue>),
}

impl Default for RenderValue {
    /// An empty object: a customer without attributes still has a `fields` object.
    fn default() -> Self {
        RenderValue::Object(BTreeMap::new())
    }
}

impl RenderValue {
    /// The value under `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&RenderValue> {
        match self {
            RenderValue::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            RenderValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, RenderValue::Nil)
    }

    fn array_item(&self, index: i64) -> Option<&RenderValue> {
        let RenderValue::Array(items) = self else {
            return None;
        };
        let len = i64::try_from(items.len()).ok()?;
        // Liquid counts negative indexes from the end: `offers[-1]` is the last offer.
        let index = if index < 0 { len + index } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|i| items.as_slice().get(i))
    }

    fn len(&self) -> usize {
        match self {
            RenderValue::Array(items) => items.len(),
            RenderValue::Object(map) => map.len(),
            _ => 0,
        }
    }
}

impl From<serde_json::Value> for RenderValue {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => RenderValue::Nil,
            serde_json::Value::Bool(b) => RenderValue::Bool(b),
            serde_json::Value::Number(n) => number(&n),
            serde_json::Value::String(s) => RenderValue::String(s),
            serde_json::Value::Array(items) => {
                RenderValue::Array(items.into_iter().map(RenderValue::from).collect())
            }
            serde_json::Value::Object(map) => RenderValue::Object(
                map.into_iter()
                    .map(|(k, v)| (k, RenderValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&serde_json::Value> for RenderValue {
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => RenderValue::Nil,
            serde_json::Value::Bool(b) => RenderValue::Bool(*b),
            serde_json::Value::Number(n) => number(n),
            serde_json::Value::String(s) => RenderValue::String(s.clone()),
            serde_json::Value::Array(items) => {
                RenderValue::Array(items.iter().map(RenderValue::from).collect())
            }
            serde_json::Value::Object(map) => RenderValue::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), RenderValue::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&serde_json::Map<String, serde_json::Value>> for RenderValue {
    fn from(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        RenderValue::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), RenderValue::from(v)))
                .collect(),
        )
    }
}

fn number(n: &serde_json::Number) -> RenderValue {
    match n.as_i64() {
        Some(i) => RenderValue::Integer(i),
        None => RenderValue::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

impl From<&str> for RenderValue {
    fn from(value: &str) -> Self {
        RenderValue::String(value.to_owned())
    }
}

impl From<String> for RenderValue {
    fn from(value: String) -> Self {
        RenderValue::String(value)
    }
}

impl From<i64> for RenderValue {
    fn from(value: i64) -> Self {
        RenderValue::Integer(value)
    }
}

impl From<f64> for RenderValue {
    fn from(value: f64) -> Self {
        RenderValue::Float(value)
    }
}

impl From<bool> for RenderValue {
    fn from(value: bool) -> Self {
        RenderValue::Bool(value)
    }
}

impl Serialize for RenderValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RenderValue::Nil => serializer.serialize_unit(),
            RenderValue::Bool(b) => serializer.serialize_bool(*b),
            RenderValue::Integer(i) => serializer.serialize_i64(*i),
            RenderValue::Float(f) => serializer.serialize_f64(*f),
            RenderValue::String(s) => serializer.serialize_str(s),
            RenderValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            RenderValue::Object(map) => {
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
impl<'de> Deserialize<'de> for RenderValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RenderValueVisitor)
    }
}

struct RenderValueVisitor;

impl<'de> Visitor<'de> for RenderValueVisitor {
    type Value = RenderValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RenderValue, E> {
        Ok(RenderValue::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<RenderValue, E> {
        Ok(RenderValue::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RenderValue, D::Error> {
        RenderValue::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RenderValue, E> {
        Ok(RenderValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RenderValue, E> {
        Ok(RenderValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RenderValue, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => RenderValue::Integer(i),
            // Precision loss past i64 is what JSON readers everywhere do with such numbers.
            Err(_) => RenderValue::Float(v as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RenderValue, E> {
        Ok(RenderValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RenderValue, E> {
        Ok(RenderValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RenderValue, E> {
        Ok(RenderValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RenderValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RenderValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RenderValue, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((k, v)) = access.next_entry::<String, RenderValue>()? {
            map.insert(k, v);
        }
        Ok(RenderValue::Object(map))
    }
}

/// Renders an owned liquid [`Value`]: composite views render through their liquid equivalent so
/// that `{{ some_object }}` prints exactly what the `liquid` crate prints.
pub(crate) struct OwnedRender(pub(crate) Value);

impl fmt::Display for OwnedRender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.render())
    }
}

/// A float as Ruby prints it: a whole number keeps its `.0`, so a price of `49.0` in the data
/// prints `49.0` as in Shopify, not `49`.
struct RubyFloat(f64);

impl fmt::Display for RubyFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() && self.0.fract() == 0.0 {
            write!(f, "{:.1}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

pub(crate) struct OwnedSource(pub(crate) Value);

impl fmt::Display for OwnedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.source())
    }
}

impl ValueView for RenderValue {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }

    fn render(&self) -> DisplayCow<'_> {
        match self {
            RenderValue::Nil => DisplayCow::Borrowed(&""),
            RenderValue::Bool(b) => DisplayCow::Borrowed(b),
            RenderValue::Integer(i) => DisplayCow::Borrowed(i),
            RenderValue::Float(f) => DisplayCow::Owned(Box::new(RubyFloat(*f))),
            RenderValue::String(s) => DisplayCow::Borrowed(s),
            RenderValue::Array(_) | RenderValue::Object(_) => {
                DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
            }
        }
    }

    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }

    fn type_name(&self) -> &'static str {
        match self {
            RenderValue::Nil => "nil",
            RenderValue::Bool(_) => "boolean",
            RenderValue::Integer(_) => "whole number",
            RenderValue::Float(_) => "fractional number",
            RenderValue::String(_) => "string",
            RenderValue::Array(_) => "array",
            RenderValue::Object(_) => "object",
        }
    }

    fn query_state(&self, state: State) -> bool {
        match self {
            RenderValue::Nil => !matches!(state, State::Truthy),
            RenderValue::Bool(b) => match state {
                State::Truthy => *b,
                State::DefaultValue | State::Blank => !b,
                State::Empty => false,
            },
            RenderValue::Integer(_) | RenderValue::Float(_) => matches!(state, State::Truthy),
            RenderValue::String(s) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty => s.is_empty(),
                State::Blank => s.trim().is_empty(),
            },
            RenderValue::Array(_) | RenderValue::Object(_) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty | State::Blank => self.len() == 0,
            },
        }
    }

    fn to_kstr(&self) -> KStringCow<'_> {
        match self {
            RenderValue::Nil => KStringCow::from_static(""),
            RenderValue::String(s) => KStringCow::from_ref(s),
            _ => KStringCow::from_string(self.render().to_string()),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            RenderValue::Nil => Value::Nil,
            RenderValue::Bool(b) => Value::scalar(*b),
            RenderValue::Integer(i) => Value::scalar(*i),
            RenderValue::Float(f) => Value::scalar(*f),
            RenderValue::String(s) => Value::scalar(liquid_core::model::KString::from_ref(s)),
            RenderValue::Array(items) => Value::Array(items.iter().map(|v| v.to_value()).collect()),
            RenderValue::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (liquid_core::model::KString::from_ref(k), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        match self {
            RenderValue::Bool(b) => Some(ScalarCow::new(*b)),
            RenderValue::Integer(i) => Some(ScalarCow::new(*i)),
            RenderValue::Float(f) => Some(ScalarCow::new(*f)),
            RenderValue::String(s) => Some(ScalarCow::new(s.as_str())),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&dyn ArrayView> {
        match self {
            RenderValue::Array(_) => Some(self),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<&dyn ObjectView> {
        match self {
            // Nil poses as an empty object so that a path through it (`a.missing.b`) keeps
            // resolving, to nil, instead of stopping with "Unknown index".
            RenderValue::Object(_) | RenderValue::Nil => Some(self),
            _ => None,
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self, RenderValue::Nil)
    }
}

impl ArrayView for RenderValue {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        i64::try_from(self.len()).unwrap_or(i64::MAX)
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            RenderValue::Array(items) => Box::new(items.iter().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn contains_key(&self, index: i64) -> bool {
        self.array_item(index).is_some()
    }

    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        Some(self.array_item(index).unwrap_or(&NIL))
    }
}

impl ObjectView for RenderValue {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        i64::try_from(self.len()).unwrap_or(i64::MAX)
    }

    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self {
            RenderValue::Object(map) => Box::new(map.keys().map(|k| KStringCow::from_ref(k))),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            RenderValue::Object(map) => Box::new(map.values().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self {
            RenderValue::Object(map) => Box::new(
                map.iter()
                    .map(|(k, v)| (KStringCow::from_ref(k), v as &dyn ValueView)),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn contains_key(&self, index: &str) -> bool {
        self.get(index).is_some()
    }

    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        match self.get(index) {
            Some(value) => Some(value),
            // An object without a `size` key answers `size` with its length: liquid computes
            // that when `get` has nothing.
            None if index == "size" && matches!(self, RenderValue::Object(_)) => None,
            None => Some(&NIL),
        }
    }
}

#[cfg(test)]
mod tests {
    use liquid_core::model::ValueViewCmp;

    use super::*;

    fn value(json: serde_json::Value) -> RenderValue {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn given_plain_json_when_deserialized_and_serialized_then_round_trips() {
        let json = serde_json::json!({
            "null": null, "yes": true, "int": -3, "float": 2.5, "text": "Grüße",
            "list": [1, "two", [3]], "object": { "nested": { "deep": false } }
        });

        let parsed = value(json.clone());

        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
        assert_eq!(parsed.get("int"), Some(&RenderValue::Integer(-3)));
        assert_eq!(parsed.get("float"), Some(&RenderValue::Float(2.5)));
        assert_eq!(
            RenderValue::from(json),
            parsed,
            "From<serde_json::Value> agrees"
        );
    }

    #[test]
    fn given_integer_beyond_i64_when_deserialized_then_it_becomes_a_float() {
        assert_eq!(
            value(serde_json::json!(u64::MAX)),
            RenderValue::Float(u64::MAX as f64)
        );
    }

    #[test]
    fn given_default_value_then_it_is_an_empty_object() {
        assert_eq!(RenderValue::default(), value(serde_json::json!({})));
        assert!(RenderValue::default().as_object().is_some());
    }

    #[test]
    fn given_object_when_missing_key_looked_up_then_shared_nil_that_answers_any_key() {
        let customer = value(serde_json::json!({ "first_name": "Ann" }));

        let missing = ObjectView::get(&customer, "address").unwrap();
        let deeper = missing.as_object().unwrap().get("city").unwrap();

        assert!(missing.is_nil());
        assert!(std::ptr::addr_eq(deeper, &NIL));
        assert!(!ObjectView::contains_key(&customer, "address"));
        assert_eq!(deeper.render().to_string(), "");
    }

    #[test]
    fn given_nil_then_it_is_falsy_blank_empty_and_default() {
        for state in [State::DefaultValue, State::Empty, State::Blank] {
            assert!(NIL.query_state(state), "{state:?}");
        }
        assert!(!NIL.query_state(State::Truthy));
        assert_eq!(NIL.to_value(), Value::Nil);
        assert_eq!(ValueViewCmp::new(&NIL), ValueViewCmp::new(&Value::Nil));
    }

    #[test]
    fn given_values_then_query_state_matches_liquid() {
        let cases = [
            (serde_json::json!(""), [true, true, true, true]),
            (serde_json::json!("  "), [true, false, false, true]),
            (serde_json::json!("x"), [true, false, false, false]),
            (serde_json::json!(false), [false, true, false, true]),
            (serde_json::json!(0), [true, false, false, false]),
            (serde_json::json!([]), [true, true, true, true]),
            (serde_json::json!({ "a": 1 }), [true, false, false, false]),
        ];
        for (json, [truthy, default, empty, blank]) in cases {
            let v = value(json.clone());
            let liquid: Value = liquid_core::model::to_value(&json).unwrap();
            assert_eq!(v.query_state(State::Truthy), truthy, "{json} truthy");
            assert_eq!(
                v.query_state(State::DefaultValue),
                default,
                "{json} default"
            );
            assert_eq!(v.query_state(State::Empty), empty, "{json} empty");
            assert_eq!(v.query_state(State::Blank), blank, "{json} blank");
            for state in [
                State::Truthy,
                State::DefaultValue,
                State::Empty,
                State::Blank,
            ] {
                assert_eq!(
                    v.query_state(state),
                    liquid.query_state(state),
                    "{json} {state:?} as liquid's Value"
                );
            }
        }
    }

    #[test]
    fn given_values_then_they_render_like_liquid_values() {
        let json = serde_json::json!([null, true, 7, 1.5, "a", [1, 2], { "k": "v" }]);
        let ours = value(json.clone());
        let liquid: Value = liquid_core::model::to_value(&json).unwrap();

        assert_eq!(ours.render().to_string(), liquid.render().to_string());
        assert_eq!(ours.to_value(), liquid);
    }

    #[test]
    fn given_whole_float_when_rendered_then_it_keeps_its_fraction_like_ruby() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (49.9, "49.9"),
            (1e3, "1000.0"),
        ];
        for (float, expected) in cases {
            assert_eq!(RenderValue::Float(float).render().to_string(), expected);
            assert_eq!(RenderValue::Float(float).to_kstr(), expected);
        }
    }

    #[test]
    fn given_array_when_indexed_then_negative_counts_from_end_and_out_of_range_is_nil() {
        let list = value(serde_json::json!(["a", "b", "c"]));
        let array = list.as_array().unwrap();

        assert_eq!(array.get(-1).unwrap().to_kstr(), "c");
        assert!(array.get(3).unwrap().is_nil());
        assert!(!array.contains_key(3));
        assert_eq!(array.first().unwrap().to_kstr(), "a");
        assert!(
            value(serde_json::json!([]))
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .is_nil()
        );
    }
}
