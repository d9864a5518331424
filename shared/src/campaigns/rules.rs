//! Segment rules over the retailer's customer attributes. Fields are dotted paths into the row's
//! `attributes` (`address.country`); a rule on a field the customer lacks does not match.
//! Evaluation walks the parsed row in place: no allocation per row.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::invalid::InvalidCampaign;
use crate::domain::FieldValue;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SegmentRule {
    /// The field equals the value (numbers compare by value: `2` equals `2.0`).
    Equals {
        field: String,
        #[cfg_attr(feature = "api", schema(value_type = serde_json::Value))]
        value: FieldValue,
    },
    /// The field is a number within the bounds, both inclusive; a missing bound is open.
    Range {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// The field equals one of the values.
    In {
        field: String,
        #[cfg_attr(feature = "api", schema(value_type = Vec<serde_json::Value>))]
        values: Vec<FieldValue>,
    },
    /// The field holds an RFC 3339 time or an ISO date (`2026-11-02`, midnight UTC) no longer
    /// than `within_days` before the launch time (and not after it).
    Recency { field: String, within_days: u32 },
    /// Every nested rule matches (an empty list matches).
    All {
        #[cfg_attr(feature = "api", schema(no_recursion))]
        rules: Vec<SegmentRule>,
    },
    /// At least one nested rule matches (an empty list does not).
    Any {
        #[cfg_attr(feature = "api", schema(no_recursion))]
        rules: Vec<SegmentRule>,
    },
}

impl SegmentRule {
    pub(crate) fn validate(&self, path: &str) -> Result<(), InvalidCampaign> {
        let field_error = || InvalidCampaign {
            field: format!("{path}.field"),
            reason: "must be a dotted path of non-empty names".into(),
        };
        match self {
            SegmentRule::Equals { field, .. }
            | SegmentRule::In { field, .. }
            | SegmentRule::Recency { field, .. } => {
                if !valid_path(field) {
                    return Err(field_error());
                }
            }
            SegmentRule::Range { field, min, max } => {
                if !valid_path(field) {
                    return Err(field_error());
                }
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(InvalidCampaign {
                        field: format!("{path}.min"),
                        reason: "must not be greater than max".into(),
                    });
                }
            }
            SegmentRule::All { rules } | SegmentRule::Any { rules } => {
                for (index, rule) in rules.iter().enumerate() {
                    rule.validate(&format!("{path}.rules[{index}]"))?;
                }
            }
        }
        Ok(())
    }

    /// Whether the customer's attributes match this rule at `now`.
    pub fn matches(&self, attributes: &FieldValue, now: OffsetDateTime) -> bool {
        match self {
            SegmentRule::Equals { field, value } => {
                lookup(attributes, field).is_some_and(|found| same_value(found, value))
            }
            SegmentRule::Range { field, min, max } => lookup(attributes, field)
                .and_then(number)
                .is_some_and(|n| min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max)),
            SegmentRule::In { field, values } => lookup(attributes, field)
                .is_some_and(|found| values.iter().any(|value| same_value(found, value))),
            SegmentRule::Recency { field, within_days } => lookup(attributes, field)
                .and_then(FieldValue::as_str)
                .and_then(parse_instant)
                .is_some_and(|at| {
                    at <= now && now - at <= time::Duration::days(i64::from(*within_days))
                }),
            SegmentRule::All { rules } => rules.iter().all(|r| r.matches(attributes, now)),
            SegmentRule::Any { rules } => rules.iter().any(|r| r.matches(attributes, now)),
        }
    }
}

/// Every rule matches (the audience's top-level list).
pub fn matches_all(rules: &[SegmentRule], attributes: &FieldValue, now: OffsetDateTime) -> bool {
    rules.iter().all(|rule| rule.matches(attributes, now))
}

fn valid_path(field: &str) -> bool {
    !field.is_empty() && field.split('.').all(|part| !part.is_empty())
}

fn lookup<'a>(attributes: &'a FieldValue, field: &str) -> Option<&'a FieldValue> {
    field
        .split('.')
        .try_fold(attributes, |value, part| value.get(part))
        .filter(|value| !value.is_nil())
}

fn number(value: &FieldValue) -> Option<f64> {
    match value {
        FieldValue::Integer(i) => Some(*i as f64),
        FieldValue::Float(f) => Some(*f),
        _ => None,
    }
}

fn same_value(found: &FieldValue, expected: &FieldValue) -> bool {
    match (number(found), number(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => found == expected,
    }
}

fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, DATE)
        .ok()
        .map(|date| date.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

    fn attributes() -> FieldValue {
        serde_json::from_value(serde_json::json!({
            "tier": "gold",
            "orders": 7,
            "spend": 412.5,
            "address": {"country": "DE", "city": "Berlin"},
            "last_order_at": "2026-11-15T08:30:00Z",
            "signed_up": "2025-01-02",
            "vip": true
        }))
        .unwrap()
    }

    fn rule(json: serde_json::Value) -> SegmentRule {
        serde_json::from_value(json).unwrap()
    }

    fn check(json: serde_json::Value) -> bool {
        rule(json).matches(&attributes(), NOW)
    }

    #[test]
    fn equals_compares_strings_booleans_and_numbers_by_value() {
        assert!(check(
            serde_json::json!({"op": "equals", "field": "tier", "value": "gold"})
        ));
        assert!(!check(
            serde_json::json!({"op": "equals", "field": "tier", "value": "Gold"})
        ));
        assert!(check(
            serde_json::json!({"op": "equals", "field": "orders", "value": 7.0})
        ));
        assert!(check(
            serde_json::json!({"op": "equals", "field": "vip", "value": true})
        ));
        assert!(!check(
            serde_json::json!({"op": "equals", "field": "missing", "value": null})
        ));
    }

    #[test]
    fn dotted_paths_reach_nested_attributes() {
        assert!(check(
            serde_json::json!({"op": "equals", "field": "address.country", "value": "DE"})
        ));
        assert!(!check(
            serde_json::json!({"op": "equals", "field": "address.zip.code", "value": "DE"})
        ));
    }

    #[test]
    fn range_is_inclusive_with_open_bounds_and_needs_a_number() {
        assert!(check(
            serde_json::json!({"op": "range", "field": "orders", "min": 7, "max": 7})
        ));
        assert!(check(
            serde_json::json!({"op": "range", "field": "spend", "min": 400})
        ));
        assert!(!check(
            serde_json::json!({"op": "range", "field": "spend", "max": 400})
        ));
        assert!(!check(
            serde_json::json!({"op": "range", "field": "tier", "min": 0})
        ));
        assert!(!check(
            serde_json::json!({"op": "range", "field": "missing", "min": 0})
        ));
    }

    #[test]
    fn in_matches_any_listed_value() {
        assert!(check(
            serde_json::json!({"op": "in", "field": "address.country", "values": ["AT", "DE"]})
        ));
        assert!(!check(
            serde_json::json!({"op": "in", "field": "address.country", "values": []})
        ));
    }

    #[test]
    fn recency_accepts_rfc3339_times_and_iso_dates() {
        assert!(check(
            serde_json::json!({"op": "recency", "field": "last_order_at", "within_days": 6})
        ));
        assert!(!check(
            serde_json::json!({"op": "recency", "field": "last_order_at", "within_days": 5})
        ));
        assert!(check(
            serde_json::json!({"op": "recency", "field": "signed_up", "within_days": 700})
        ));
        assert!(!check(
            serde_json::json!({"op": "recency", "field": "tier", "within_days": 700})
        ));
        let future: FieldValue =
            serde_json::from_value(serde_json::json!({"at": "2027-01-01"})).unwrap();
        assert!(
            !rule(serde_json::json!({"op": "recency", "field": "at", "within_days": 1000}))
                .matches(&future, NOW),
            "a date after the launch is not recent"
        );
    }

    #[test]
    fn all_and_any_nest() {
        let nested = serde_json::json!({"op": "any", "rules": [
            {"op": "equals", "field": "tier", "value": "silver"},
            {"op": "all", "rules": [
                {"op": "range", "field": "orders", "min": 5},
                {"op": "in", "field": "address.city", "values": ["Berlin"]}
            ]}
        ]});
        assert!(check(nested));
        assert!(check(serde_json::json!({"op": "all", "rules": []})));
        assert!(!check(serde_json::json!({"op": "any", "rules": []})));
        assert!(matches_all(&[], &attributes(), NOW));
    }
}
