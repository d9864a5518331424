//! How templates see a [`FieldValue`]: leniently.
//!
//! Shopify's Liquid renders a key that does not exist as nil; the `liquid` crate raises
//! "Unknown index" instead. A retailer's customer attributes differ from customer to customer, so
//! a missing one must never fail a send: looking up a missing key on a `FieldValue` object gives
//! the shared nil [`NIL`], and that nil answers any further key with itself, so
//! `customer.address.city` is nil when the customer has no address.

use std::fmt;

use liquid_core::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};

use crate::domain::FieldValue;

/// The nil every missing lookup resolves to.
pub static NIL: FieldValue = FieldValue::Nil;

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
        super::echo_tag::write_ruby_float(f, self.0)
    }
}

pub(crate) struct OwnedSource(pub(crate) Value);

impl fmt::Display for OwnedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.source())
    }
}

impl ValueView for FieldValue {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }

    fn render(&self) -> DisplayCow<'_> {
        match self {
            FieldValue::Nil => DisplayCow::Borrowed(&""),
            FieldValue::Bool(b) => DisplayCow::Borrowed(b),
            FieldValue::Integer(i) => DisplayCow::Borrowed(i),
            FieldValue::Float(f) => DisplayCow::Owned(Box::new(RubyFloat(*f))),
            FieldValue::String(s) => DisplayCow::Borrowed(s),
            FieldValue::Array(_) | FieldValue::Object(_) => {
                DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
            }
        }
    }

    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }

    fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Nil => "nil",
            FieldValue::Bool(_) => "boolean",
            FieldValue::Integer(_) => "whole number",
            FieldValue::Float(_) => "fractional number",
            FieldValue::String(_) => "string",
            FieldValue::Array(_) => "array",
            FieldValue::Object(_) => "object",
        }
    }

    fn query_state(&self, state: State) -> bool {
        match self {
            FieldValue::Nil => !matches!(state, State::Truthy),
            FieldValue::Bool(b) => match state {
                State::Truthy => *b,
                State::DefaultValue | State::Blank => !b,
                State::Empty => false,
            },
            FieldValue::Integer(_) | FieldValue::Float(_) => matches!(state, State::Truthy),
            FieldValue::String(s) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty => s.is_empty(),
                State::Blank => s.trim().is_empty(),
            },
            FieldValue::Array(_) | FieldValue::Object(_) => match state {
                State::Truthy => true,
                State::DefaultValue | State::Empty | State::Blank => self.len() == 0,
            },
        }
    }

    fn to_kstr(&self) -> KStringCow<'_> {
        match self {
            FieldValue::Nil => KStringCow::from_static(""),
            FieldValue::String(s) => KStringCow::from_ref(s),
            _ => KStringCow::from_string(self.render().to_string()),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            FieldValue::Nil => Value::Nil,
            FieldValue::Bool(b) => Value::scalar(*b),
            FieldValue::Integer(i) => Value::scalar(*i),
            FieldValue::Float(f) => Value::scalar(*f),
            FieldValue::String(s) => Value::scalar(liquid_core::model::KString::from_ref(s)),
            FieldValue::Array(items) => Value::Array(items.iter().map(|v| v.to_value()).collect()),
            FieldValue::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (liquid_core::model::KString::from_ref(k), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        match self {
            FieldValue::Bool(b) => Some(ScalarCow::new(*b)),
            FieldValue::Integer(i) => Some(ScalarCow::new(*i)),
            FieldValue::Float(f) => Some(ScalarCow::new(*f)),
            FieldValue::String(s) => Some(ScalarCow::new(s.as_str())),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&dyn ArrayView> {
        match self {
            FieldValue::Array(_) => Some(self),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<&dyn ObjectView> {
        match self {
            // Nil poses as an empty object so that a path through it (`a.missing.b`) keeps
            // resolving, to nil, instead of stopping with "Unknown index".
            FieldValue::Object(_) | FieldValue::Nil => Some(self),
            _ => None,
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self, FieldValue::Nil)
    }
}

impl ArrayView for FieldValue {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        i64::try_from(self.len()).unwrap_or(i64::MAX)
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            FieldValue::Array(items) => Box::new(items.iter().map(|v| v as &dyn ValueView)),
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

impl ObjectView for FieldValue {
    fn as_value(&self) -> &dyn ValueView {
        self
    }

    fn size(&self) -> i64 {
        i64::try_from(self.len()).unwrap_or(i64::MAX)
    }

    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self {
            FieldValue::Object(map) => Box::new(map.keys().map(|k| KStringCow::from_ref(k))),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            FieldValue::Object(map) => Box::new(map.values().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self {
            FieldValue::Object(map) => Box::new(
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
            None if index == "size" && matches!(self, FieldValue::Object(_)) => None,
            None => Some(&NIL),
        }
    }
}

#[cfg(test)]
mod tests {
    use liquid_core::model::ValueViewCmp;

    use super::*;

    fn value(json: serde_json::Value) -> FieldValue {
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
        assert_eq!(parsed.get("int"), Some(&FieldValue::Integer(-3)));
        assert_eq!(parsed.get("float"), Some(&FieldValue::Float(2.5)));
        assert_eq!(
            FieldValue::from(json),
            parsed,
            "From<serde_json::Value> agrees"
        );
    }

    #[test]
    fn given_integer_beyond_i64_when_deserialized_then_it_becomes_a_float() {
        assert_eq!(
            value(serde_json::json!(u64::MAX)),
            FieldValue::Float(u64::MAX as f64)
        );
    }

    #[test]
    fn given_default_value_then_it_is_an_empty_object() {
        assert_eq!(FieldValue::default(), value(serde_json::json!({})));
        assert!(FieldValue::default().as_object().is_some());
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
            assert_eq!(FieldValue::Float(float).render().to_string(), expected);
            assert_eq!(FieldValue::Float(float).to_kstr(), expected);
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
