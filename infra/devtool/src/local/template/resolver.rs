//! The template's intrinsics resolved locally: `!Ref` and `!GetAtt` to the names and ARNs of the
//! resources read so far, `!Sub` to its pieces, parameters to the values given or their defaults.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use serde_yaml_ng::Value;

use super::Resolution;

/// Resolves the intrinsics (`!Ref`, `!GetAtt`, `!Sub`) to the names and ARNs recorded so far.
pub(super) struct Resolver {
    pub(super) resolution: Resolution,
    /// What `!Ref` answers per logical id.
    pub(super) names: BTreeMap<String, String>,
    /// What `!GetAtt <id>.Arn` answers per logical id.
    pub(super) arns: BTreeMap<String, String>,
}

impl Resolver {
    /// The parameters given win over the template's defaults.
    pub(super) fn new(resolution: &Resolution, document: &Value) -> Self {
        let mut resolver = Resolver {
            resolution: resolution.clone(),
            names: BTreeMap::new(),
            arns: BTreeMap::new(),
        };
        for (name, default) in parameter_defaults(document) {
            resolver
                .resolution
                .parameters
                .entry(name)
                .or_insert(default);
        }
        resolver
    }

    /// A whole value as JSON, every intrinsic in it resolved to its string.
    pub(super) fn json(&self, value: &Value) -> Result<serde_json::Value> {
        Ok(match value {
            Value::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, value) in map {
                    object.insert(self.string(Some(key))?, self.json(value)?);
                }
                serde_json::Value::Object(object)
            }
            Value::Sequence(items) => {
                serde_json::Value::Array(items.iter().map(|v| self.json(v)).collect::<Result<_>>()?)
            }
            Value::Null => serde_json::Value::Null,
            other => serde_json::Value::String(self.string(Some(other))?),
        })
    }

    pub(super) fn string(&self, value: Option<&Value>) -> Result<String> {
        let value = value.ok_or_else(|| anyhow!("missing value"))?;
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(tagged) => match tagged.tag.to_string().trim_start_matches('!') {
                "Sub" => self.substitute(tagged.value.as_str().unwrap_or_default()),
                "Ref" => self.reference(tagged.value.as_str().unwrap_or_default()),
                "GetAtt" => self.attribute(tagged.value.as_str().unwrap_or_default()),
                other => bail!("unsupported intrinsic !{other}"),
            },
            other => bail!("unsupported value {other:?}"),
        }
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(value) = self.names.get(name) {
            return Ok(value.clone());
        }
        if let Some(value) = self.resolution.parameters.get(name) {
            return Ok(value.clone());
        }
        match name {
            "AWS::StackName" => Ok(self.resolution.stack_name.clone()),
            "AWS::AccountId" => Ok(self.resolution.account_id.clone()),
            "AWS::Region" => Ok(self.resolution.region.clone()),
            "AWS::Partition" => Ok("aws".into()),
            other => bail!("cannot resolve !Ref {other} locally"),
        }
    }

    fn attribute(&self, target: &str) -> Result<String> {
        let (resource, attribute) = target
            .split_once('.')
            .ok_or_else(|| anyhow!("bad !GetAtt {target}"))?;
        match attribute {
            "Arn" => self
                .arns
                .get(resource)
                .cloned()
                .ok_or_else(|| anyhow!("no ARN for {resource}")),
            other => bail!("cannot resolve attribute {other} locally"),
        }
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| anyhow!("unclosed ${{ in {text}"))?;
            let name = &rest[start + 2..start + end];
            let value = if name.contains('.') {
                self.attribute(name)?
            } else {
                self.reference(name)?
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn parameter_defaults(document: &Value) -> Vec<(String, String)> {
    document
        .get("Parameters")
        .and_then(Value::as_mapping)
        .map(|parameters| {
            parameters
                .iter()
                .filter_map(|(name, spec)| {
                    let default = spec.get("Default")?;
                    let default = match default {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return None,
                    };
                    Some((name.as_str()?.to_string(), default))
                })
                .collect()
        })
        .unwrap_or_default()
}
