//! A published template version and the variables a template declares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{TemplateRef, TenantId};

/// template's defaults when it is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateVersion {
    pub tenant_id: TenantId,
    pub template: TemplateRef,
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_body: Option<String>,
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// The variables the template declares (types, defaults): what a retailer's values are
    /// checked against when they change them. Empty for versions published before the catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema: Vec<VariableSpec>,
    /// The retailer's own values (`variables` = the schema's defaults with these over them).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub overrides: serde_json::Map<String, serde_json::Value>,
    /// The snippets (name to source) the template's `render` and `include` tags reach, pinned
    /// when the version was built: a later edit of a snippet never changes this version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snippets: BTreeMap<String, String>,
}

/// The types a template variable can have. Values are checked against them when a retailer saves
/// them, so a template never sees a colour where it expects a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct VariableSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VariableType,
    #[cfg_attr(feature = "api", schema(value_type = serde_json::Value))]
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
        // Left out when empty, so versions without snippets keep the hash they were published
        // with.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        snippets: &'a BTreeMap<String, String>,
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
        snippets: &version.snippets,
    };
    let mut hasher = Sha256::new();
    // Serializing plain strings and sorted maps cannot fail.
    if let Ok(json) = serde_json::to_vec(&content) {
        hasher.update(&json);
    }
    super::hex(&hasher.finalize()[..16])
}
