//! The standard template library and retailer-specific template versions.
//!
//! - [`catalog`]: `templates/catalog.yaml` and the sources beside it, parsed and checked.
//! - A retailer-specific version is a catalog template with the retailer's own variable values
//!   (overrides) over the template's defaults, published as an immutable [`TemplateVersion`]
//!   with a live pointer per tenant and template ([`crate::ports::TemplatePublisher`]).
//! - [`service::TemplateService`]: what the API calls (variables, saving them, previews).
//! - [`deploy`]: publishes the catalog to every retailer it targets (`storecast-dev
//!   deploy-templates`).
//!
//! See docs/templates.md.

pub mod catalog;
pub mod deploy;
pub mod service;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::{TemplateId, TemplateVersion};
use crate::error::{Retryable, StoreError};
use crate::render::{RenderError, TemplatePart};

pub use catalog::{Catalog, CatalogError, CatalogTemplate, RetailerSelection};
pub use service::{
    Preview, PreviewCustomer, PreviewRequest, PushPreview, TemplateService, TemplateVariables,
};

/// The types a template variable can have. Values are checked against them when a retailer saves
/// them, so a template never sees a colour where it expects a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VariableType {
    /// One line of text.
    String,
    /// Text that may span lines.
    Text,
    /// An `http(s)://` link.
    Url,
    /// An `https://` image address (mail clients block mixed content).
    ImageUrl,
    /// `#rgb` or `#rrggbb`.
    Color,
    Number,
    Boolean,
}

/// One variable a template declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VariableSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VariableType,
    #[schema(value_type = serde_json::Value)]
    pub default: Value,
    /// The longest value allowed, in characters (string and text types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl VariableSpec {
    /// Why `value` is not a valid value of this variable, if it is not.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let text = || {
            value
                .as_str()
                .ok_or_else(|| format!("must be a string ({:?})", self.kind))
        };
        match self.kind {
            VariableType::String => {
                if text()?.contains(['\n', '\r']) {
                    return Err("must be a single line".into());
                }
            }
            VariableType::Text => {
                text()?;
            }
            VariableType::Url => check_url(text()?, &["https://", "http://"])?,
            VariableType::ImageUrl => check_url(text()?, &["https://"])?,
            VariableType::Color => {
                let color = text()?;
                let hex = color.strip_prefix('#').unwrap_or("");
                if !(matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())) {
                    return Err("must be a colour as #rgb or #rrggbb".into());
                }
            }
            VariableType::Number => {
                if !value.is_number() {
                    return Err("must be a number".into());
                }
            }
            VariableType::Boolean => {
                if !value.is_boolean() {
                    return Err("must be true or false".into());
                }
            }
        }
        if let (Some(max), Some(text)) = (self.max_length, value.as_str())
            && text.chars().count() > max as usize
        {
            return Err(format!("must be at most {max} characters"));
        }
        Ok(())
    }
}

fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return Err(format!("must start with {}", schemes.join(" or ")));
    };
    if rest.is_empty() || url.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>'))
    {
        return Err("must be a URL without spaces, quotes or angle brackets".into());
    }
    Ok(())
}

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

/// A digest of what a version renders (sources, variables, schema, overrides), not of its tenant
/// or number: two versions with the same hash send the same messages, so a deploy skips them.
pub fn content_hash(version: &TemplateVersion) -> String {
    #[derive(Serialize)]
    struct Content<'a> {
        subject: &'a str,
        html: &'a str,
        text: &'a str,
        push_title: Option<&'a str>,
        push_body: Option<&'a str>,
        variables: &'a Map<String, Value>,
        schema: &'a [VariableSpec],
        overrides: &'a Map<String, Value>,
    }
    let content = Content {
        subject: &version.subject,
        html: &version.html,
        text: &version.text,
        push_title: version.push_title.as_deref(),
        push_body: version.push_body.as_deref(),
        variables: &version.variables,
        schema: &version.schema,
        overrides: &version.overrides,
    };
    let mut hasher = Sha256::new();
    // Serializing plain strings and sorted maps cannot fail.
    if let Ok(json) = serde_json::to_vec(&content) {
        hasher.update(&json);
    }
    crate::domain::hex(&hasher.finalize()[..16])
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
