//! A retailer's template variables: checked against the template's schema, merged over its
//! defaults; the errors of the template library.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{TemplateId, VariableSpec};
use crate::error::{Retryable, StoreError};
use crate::render::{RenderError, TemplatePart};

/// A value the caller got wrong, named by its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// `variables.<name>` for a template variable.
    pub field: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {template} not found")]
    NotFound { template: TemplateId },
    #[error("invalid variables: {}", describe(errors))]
    InvalidVariables { errors: Vec<FieldError> },
    #[error("{part}{}: {message}", location(*line, *column))]
    Liquid {
        part: TemplatePart,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// Someone else published the template at the same time, more often than retries absorb.
    #[error("template {template} was published concurrently; try again")]
    Conflict { template: TemplateId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Retryable for TemplateError {
    fn is_retryable(&self) -> bool {
        match self {
            TemplateError::Store(error) => error.is_retryable(),
            TemplateError::Conflict { .. } => true,
            TemplateError::NotFound { .. }
            | TemplateError::InvalidVariables { .. }
            | TemplateError::Liquid { .. } => false,
        }
    }
}

impl From<RenderError> for TemplateError {
    fn from(error: RenderError) -> Self {
        match error {
            RenderError::Parse {
                part,
                line,
                column,
                message,
            } => TemplateError::Liquid {
                part,
                line,
                column,
                message,
            },
            RenderError::Render { part, message } => TemplateError::Liquid {
                part,
                line: None,
                column: None,
                message,
            },
        }
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" line {line}, column {column}"),
        (Some(line), None) => format!(" line {line}"),
        _ => String::new(),
    }
}

/// The schema's defaults as a map.
pub fn defaults(schema: &[VariableSpec]) -> Map<String, Value> {
    schema
        .iter()
        .map(|spec| (spec.name.clone(), spec.default.clone()))
        .collect()
}

/// Checks a retailer's values against the schema: every name declared, every value of its type.
/// A `null` value means "back to the default" and is dropped. Answers the overrides to keep.
pub fn check_overrides(
    schema: &[VariableSpec],
    overrides: &Map<String, Value>,
) -> Result<Map<String, Value>, TemplateError> {
    let mut errors = Vec::new();
    let mut kept = Map::new();
    for (name, value) in overrides {
        let field = format!("variables.{name}");
        match schema.iter().find(|spec| &spec.name == name) {
            None => errors.push(FieldError {
                field,
                reason: "the template has no such variable".into(),
            }),
            Some(_) if value.is_null() => {}
            Some(spec) => match spec.check(value) {
                Ok(()) => {
                    kept.insert(name.clone(), value.clone());
                }
                Err(reason) => errors.push(FieldError { field, reason }),
            },
        }
    }
    if errors.is_empty() {
        Ok(kept)
    } else {
        Err(TemplateError::InvalidVariables { errors })
    }
}

/// The values a template renders with: the defaults with the overrides over them.
pub fn effective_variables(
    schema: &[VariableSpec],
    overrides: &Map<String, Value>,
) -> Map<String, Value> {
    let mut variables = defaults(schema);
    variables.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    variables
}

/// The names a source looks up as `vars.<name>`.
pub fn used_variables(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = source.as_bytes();
    let mut from = 0;
    while let Some(offset) = source[from..].find("vars.") {
        let start = from + offset;
        from = start + 5;
        let preceded_by_identifier = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'_' | b'-' | b'.'));
        if preceded_by_identifier {
            continue;
        }
        let name: String = source[from..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VariableType;
    use serde_json::json;

    fn spec(name: &str, kind: VariableType, default: Value, max: Option<u32>) -> VariableSpec {
        VariableSpec {
            name: name.into(),
            kind,
            default,
            max_length: max,
        }
    }

    #[test]
    fn values_are_checked_against_their_type() {
        let cases = [
            (VariableType::String, json!("Shop now"), true),
            (VariableType::String, json!("two\nlines"), false),
            (VariableType::String, json!(3), false),
            (VariableType::Text, json!("two\nlines"), true),
            (VariableType::Url, json!("https://shop.example/x?y=1"), true),
            (VariableType::Url, json!("javascript:alert(1)"), false),
            (VariableType::Url, json!("https://a b"), false),
            (
                VariableType::ImageUrl,
                json!("http://cdn.example/a.png"),
                false,
            ),
            (
                VariableType::ImageUrl,
                json!("https://cdn.example/a.png"),
                true,
            ),
            (VariableType::Color, json!("#1f4d3a"), true),
            (VariableType::Color, json!("#fff"), true),
            (VariableType::Color, json!("red"), false),
            (VariableType::Color, json!("#12345g"), false),
            (VariableType::Number, json!(2.5), true),
            (VariableType::Number, json!("2"), false),
            (VariableType::Boolean, json!(true), true),
            (VariableType::Boolean, json!("yes"), false),
        ];
        for (kind, value, valid) in cases {
            let result = spec("x", kind, Value::Null, None).check(&value);
            assert_eq!(result.is_ok(), valid, "{kind:?} {value}: {result:?}");
        }
        let short = spec("x", VariableType::String, Value::Null, Some(5));
        assert!(
            short.check(&json!("héllo")).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            short.check(&json!("too long")).unwrap_err(),
            "must be at most 5 characters"
        );
    }

    #[test]
    fn overrides_name_the_field_at_fault_and_null_means_default() {
        let schema = vec![
            spec("headline", VariableType::String, json!("Hi"), Some(20)),
            spec("brand_color", VariableType::Color, json!("#000"), None),
        ];
        let overrides = json!({"headline": "Hello", "brand_color": "blue", "typo": 1});
        let Err(TemplateError::InvalidVariables { errors }) =
            check_overrides(&schema, overrides.as_object().unwrap())
        else {
            panic!("invalid overrides must be rejected");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["variables.brand_color", "variables.typo"]);

        let kept = check_overrides(
            &schema,
            json!({"headline": "Hello", "brand_color": null})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(Value::Object(kept.clone()), json!({"headline": "Hello"}));
        assert_eq!(
            Value::Object(effective_variables(&schema, &kept)),
            json!({"headline": "Hello", "brand_color": "#000"})
        );
    }

    #[test]
    fn used_variables_are_found_in_outputs_filters_and_tags() {
        let names = used_variables(
            "{{ vars.a }} {{ x | default: vars.b-c }}{% if vars.d_e > 0 %}{% endif %} \
             {{ other.vars.no }} {{ myvars.no }}",
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b-c", "d_e"]);
    }

    #[test]
    fn retryable_only_for_store_outages_and_conflicts() {
        let liquid: TemplateError = RenderError::Parse {
            part: TemplatePart::Html,
            line: Some(3),
            column: Some(7),
            message: "bad".into(),
        }
        .into();
        assert!(!liquid.is_retryable());
        assert_eq!(liquid.to_string(), "email.html line 3, column 7: bad");
        let outage = TemplateError::Store(StoreError::Unavailable {
            store: "t",
            source: crate::error::Message::boxed("down"),
        });
        assert!(outage.is_retryable());
    }
}
