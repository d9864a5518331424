//! The DynamoDB tables of the stack template, as the local stack creates them: keys, attribute
//! types, global secondary indexes and the TTL attribute.

use anyhow::{Result, anyhow};
use serde_yaml_ng::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub keys: Vec<KeySpec>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE` (the local stack projects `INCLUDE` as `ALL`).
    pub projection: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    pub name: String,
    pub keys: Vec<KeySpec>,
    pub attributes: Vec<(String, String)>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn key_schema(owner: &str, properties: &Value) -> Result<Vec<KeySpec>> {
    Ok(properties
        .get("KeySchema")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("{owner} has no KeySchema"))?
        .iter()
        .map(|key| KeySpec {
            name: text(key, "AttributeName"),
            key_type: text(key, "KeyType"),
        })
        .collect())
}

fn indexes(logical_id: &str, properties: &Value) -> Result<Vec<IndexSpec>> {
    let Some(indexes) = properties
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
    else {
        return Ok(Vec::new());
    };
    indexes
        .iter()
        .map(|index| {
            let name = text(index, "IndexName");
            Ok(IndexSpec {
                keys: key_schema(&format!("{logical_id} index {name}"), index)?,
                projection: index
                    .get("Projection")
                    .map(|projection| text(projection, "ProjectionType"))
                    .unwrap_or_else(|| "ALL".into()),
                name,
            })
        })
        .collect()
}

pub(super) fn table_spec(
    logical_id: String,
    name: String,
    properties: &Value,
) -> Result<TableSpec> {
    let keys = key_schema(&logical_id, properties)?;
    let attributes = properties
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("{logical_id} has no AttributeDefinitions"))?
        .iter()
        .map(|a| (text(a, "AttributeName"), text(a, "AttributeType")))
        .collect();
    let ttl_attribute = properties
        .get("TimeToLiveSpecification")
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(TableSpec {
        indexes: indexes(&logical_id, properties)?,
        logical_id,
        name,
        keys,
        attributes,
        ttl_attribute,
    })
}
