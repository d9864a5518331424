use serde::{Deserialize, Serialize};

/// Placeholder: the lenient render value replaces this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RenderValue(pub serde_json::Value);
