//! The array filters that test a property of each item (`where`, `reject`, `has`, `find`,
//! `find_index`) and `sum`, as Ruby Liquid's `filter_array` computes them: the input is flattened
//! (a hash or a string is a list of one), an item is tested by `item[property]` (a hash's value,
//! a string's substring), and an item that cannot be indexed (nil, true, a float) ends the
//! filter with nil.

use super::math::{Decimal, Number, to_number};
use super::*;

/// The input as Ruby's `InputIterator` lists it: arrays flattened, nil empty, anything else one
/// item.
fn flatten<'v>(input: &'v dyn ValueView, out: &mut Vec<&'v dyn ValueView>) {
    if let Some(array) = input.as_array() {
        for item in array.values() {
            flatten(item, out);
        }
    } else if !input.is_nil() {
        out.push(input);
    }
}

fn items(input: &dyn ValueView) -> Vec<&dyn ValueView> {
    let mut out = Vec::new();
    flatten(input, &mut out);
    out
}

/// `item[property]` as Ruby reads it.
enum Property {
    /// The value found, or nil (`None`).
    Value(Option<Value>),
    /// The item cannot be indexed at all: Ruby's filter returns nil.
    NotIndexable,
}

fn property_of(item: &dyn ValueView, property: &Value) -> Result<Property> {
    if let Some(object) = item.as_object() {
        let found = property
            .as_scalar()
            .filter(|_| property.type_name() == "string")
            .and_then(|key| object.get(key.to_kstr().as_str()).map(|v| v.to_value()));
        return Ok(Property::Value(found.filter(|v| !v.is_nil())));
    }
    match item.type_name() {
        "string" => {
            if property.is_nil() {
                return Ok(Property::NotIndexable);
            }
            if property.type_name() != "string" {
                return Err(property_error(property));
            }
            let needle = property.to_kstr();
            let found = item.to_kstr().contains(needle.as_str());
            Ok(Property::Value(
                found.then(|| Value::scalar(needle.into_owned())),
            ))
        }
        "whole number" => match property.type_name() {
            // Ruby's `Integer#[]` reads a bit, 0 or 1: both are truthy.
            "whole number" => Ok(Property::Value(Some(Value::scalar(0i64)))),
            _ => Err(property_error(property)),
        },
        _ => Ok(Property::NotIndexable),
    }
}

fn property_error(property: &dyn ValueView) -> Error {
    Error::with_msg(format!(
        "cannot select the property {} of a number",
        property.source()
    ))
}

fn truthy(value: &Option<Value>) -> bool {
    value
        .as_ref()
        .is_some_and(|v| v.query_state(liquid_core::model::State::Truthy))
}

/// Ruby's `==` between Liquid values: numbers by value, everything else by type and content.
pub(super) fn ruby_equal(left: &dyn ValueView, right: &dyn ValueView) -> bool {
    let numeric = |v: &dyn ValueView| matches!(v.type_name(), "whole number" | "fractional number");
    if numeric(left) && numeric(right) {
        return match (to_number(left), to_number(right)) {
            (Number::Integer(a), Number::Integer(b)) => a == b,
            (a, b) => super::math::as_f64(a) == super::math::as_f64(b),
        };
    }
    if left.type_name() != right.type_name() {
        return false;
    }
    left.to_value() == right.to_value()
}

/// Which items pass the test, item by item; `None` when an item cannot be indexed.
fn matches(input: &dyn ValueView, arguments: &Arguments) -> Result<Option<Vec<bool>>> {
    let property = arguments.get(0).map_or(Value::Nil, |v| v.to_value());
    let target = arguments.get(1).filter(|v| !v.is_nil());
    let mut out = Vec::new();
    for item in items(input) {
        let Property::Value(found) = property_of(item, &property)? else {
            return Ok(None);
        };
        out.push(match target {
            None => truthy(&found),
            Some(target) => ruby_equal(found.as_ref().unwrap_or(&Value::Nil), target),
        });
    }
    Ok(Some(out))
}

const PROPERTY: &[ParameterReflection] = &[
    required(
        "property",
        "The key of a hash item, or a substring of a text item.",
    ),
    parameter(
        "value",
        "The value the property must equal; truthy if absent.",
    ),
];

fn select(input: &dyn ValueView, arguments: &Arguments, keep: bool) -> Result<Value> {
    let all = items(input);
    Ok(match matches(input, arguments)? {
        None => Value::Nil,
        Some(tests) => Value::Array(
            all.into_iter()
                .zip(tests)
                .filter(|(_, passed)| *passed == keep)
                .map(|(item, _)| item.to_value())
                .collect(),
        ),
    })
}

pub(super) const WHERE: ShopifyFilter = ShopifyFilter {
    name: "where",
    description: "The items whose property is truthy, or equals the value.",
    positional: PROPERTY,
    keyword: &[],
    required: 1,
    apply: |input, arguments| select(input, arguments, true),
};

pub(super) const REJECT: ShopifyFilter = ShopifyFilter {
    name: "reject",
    description: "The items whose property is not truthy, or does not equal the value.",
    positional: PROPERTY,
    keyword: &[],
    required: 1,
    apply: |input, arguments| select(input, arguments, false),
};

pub(super) const HAS: ShopifyFilter = ShopifyFilter {
    name: "has",
    description: "Whether any item's property is truthy, or equals the value.",
    positional: PROPERTY,
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        Ok(match matches(input, arguments)? {
            None => Value::Nil,
            Some(tests) => Value::scalar(tests.contains(&true)),
        })
    },
};

fn first_match(input: &dyn ValueView, arguments: &Arguments) -> Result<Option<Option<usize>>> {
    Ok(matches(input, arguments)?.map(|tests| tests.iter().position(|passed| *passed)))
}

pub(super) const FIND: ShopifyFilter = ShopifyFilter {
    name: "find",
    description: "The first item whose property is truthy, or equals the value; nil if none.",
    positional: PROPERTY,
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        Ok(match first_match(input, arguments)? {
            Some(Some(index)) => items(input)[index].to_value(),
            _ => Value::Nil,
        })
    },
};

pub(super) const FIND_INDEX: ShopifyFilter = ShopifyFilter {
    name: "find_index",
    description: "The index of the first item whose property is truthy, or equals the value.",
    positional: PROPERTY,
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        Ok(match first_match(input, arguments)? {
            Some(Some(index)) => Value::scalar(i64::try_from(index).unwrap_or(i64::MAX)),
            _ => Value::Nil,
        })
    },
};

pub(super) const SUM: ShopifyFilter = ShopifyFilter {
    name: "sum",
    description: "The sum of the items (or of their property); what is not a number is 0.",
    positional: &[parameter(
        "property",
        "The key of each hash item to add up.",
    )],
    keyword: &[],
    required: 0,
    apply: |input, arguments| {
        let property = arguments.get(0).filter(|v| !v.is_nil());
        let mut numbers = Vec::new();
        for item in items(input) {
            let value = match property {
                None => item.to_value(),
                Some(property) => match item.as_object() {
                    Some(object) => object
                        .get(property.to_kstr().as_str())
                        .map_or(Value::Nil, |v| v.to_value()),
                    None if item.type_name() == "string" => Value::Nil,
                    None => return Err(property_error(property)),
                },
            };
            let mut flat = Vec::new();
            flatten(&value, &mut flat);
            numbers.extend(flat.into_iter().map(to_number));
        }
        Ok(sum(&numbers))
    },
};

/// Integers add as integers; a decimal makes the sum decimal (exact, as Ruby's BigDecimal).
fn sum(numbers: &[Number]) -> Value {
    if let Some(total) = numbers.iter().try_fold(0i64, |total, n| match n {
        Number::Integer(i) => total.checked_add(*i),
        Number::Decimal(_) => None,
    }) {
        return Value::scalar(total);
    }
    let exact = || {
        numbers
            .iter()
            .try_fold(Decimal::of(Number::Integer(0))?, |total, n| {
                total.plus(Decimal::of(*n)?)
            })
    };
    Value::scalar(exact().map_or_else(
        || numbers.iter().map(|n| super::math::as_f64(*n)).sum(),
        Decimal::to_f64,
    ))
}

/// The filter a range in value position is rewritten to (`(a..b) | join` becomes
/// `a | __range: b | join`, `render/markup.rs`): liquid's grammar takes a range only as a `for`
/// collection or a tag argument. The ends read as Ruby's `to_i`.
pub(crate) const RANGE_FILTER_NAME: &str = "__range";

pub(super) const RANGE: ShopifyFilter = ShopifyFilter {
    name: RANGE_FILTER_NAME,
    description: "The whole numbers from the input to the argument, both included.",
    positional: &[required("stop", "The last number.")],
    keyword: &[],
    required: 1,
    apply: |input, arguments| {
        let stop = arguments
            .get(0)
            .map_or(0, crate::render::for_block::to_integer);
        crate::render::for_block::range_array(crate::render::for_block::to_integer(input), stop)
    },
};
