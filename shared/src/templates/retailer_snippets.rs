//! A retailer's own snippets: saved through the marketer API, checked by compiling them with the
//! library's and the retailer's other snippets, and overriding the library's snippet of the same
//! name (or adding a name) for that retailer only.
//!
//! A retailer's versions pin the snippets they reach from the union, the retailer's over the
//! library's ([`super::snippets::pinned_snippets`]), when they are published: saving or deleting
//! a snippet publishes nothing; the retailer's next publish of a template (a variables save)
//! pins the snippets as they are then, and versions already published keep theirs. Previews
//! render with the union as it is now, that is as the next publish would.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::service::TemplateService;
use super::snippets::{RetailerSnippets, check_snippet_name, pinned_snippets};
use crate::domain::TenantId;
use crate::error::{Retryable, StoreError};
use crate::render::{CompiledTemplate, RenderError, TemplateSources};
use crate::templates::ports::{RetailerSnippet, RetailerSnippetStore};

/// The template library's snippets: what a retailer's own snippets override.
#[derive(Debug, Clone, Default)]
pub struct SnippetLibrary {
    /// Name to Liquid source.
    pub sources: BTreeMap<String, String>,
    /// Name to what the snippet is for.
    pub descriptions: BTreeMap<String, String>,
}

/// A library of sources alone, undescribed.
impl From<BTreeMap<String, String>> for SnippetLibrary {
    fn from(sources: BTreeMap<String, String>) -> Self {
        Self {
            sources,
            descriptions: BTreeMap::new(),
        }
    }
}

/// The largest source of a retailer's snippet, in bytes (a version pins it whole, inside a
/// document of at most `MAX_TEMPLATE_DOCUMENT_BYTES` compressed).
pub const MAX_RETAILER_SNIPPET_BYTES: usize = 32 * 1024;
/// The most snippets one retailer may have.
pub const MAX_RETAILER_SNIPPETS: usize = 100;

/// One of the retailer's snippets, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnippetSummary {
    pub name: String,
    /// Whether the library has a snippet of this name, which this one replaces for the retailer.
    pub overrides_library: bool,
    /// When it was last saved (RFC 3339).
    pub updated_at: String,
}

/// One of the retailer's snippets with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnippetDetail {
    pub name: String,
    /// Whether the library has a snippet of this name, which this one replaces for the retailer.
    pub overrides_library: bool,
    /// When it was last saved (RFC 3339).
    pub updated_at: String,
    /// Liquid source.
    pub source: String,
}

/// One of the template library's snippets, as a retailer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LibrarySnippetSummary {
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the retailer has a snippet of this name, which replaces this one in its templates.
    pub replaced_by_retailer: bool,
}

/// One of the template library's snippets with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LibrarySnippetDetail {
    #[serde(flatten)]
    pub summary: LibrarySnippetSummary,
    /// Liquid source, as the library publishes it.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnippetError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no snippet {name} for this retailer")]
    NotFound { name: String },
    #[error("the template library has no snippet {name}")]
    NotInLibrary { name: String },
    /// The source does not compile; line and column are in the snippet's source when known.
    #[error("snippet source{}: {message}", location(*line, *column))]
    Liquid {
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("retailer snippets are not available in this service")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" line {line}, column {column}"),
        (Some(line), None) => format!(" line {line}"),
        _ => String::new(),
    }
}

impl Retryable for SnippetError {
    fn is_retryable(&self) -> bool {
        match self {
            SnippetError::Store(error) => error.is_retryable(),
            SnippetError::Invalid { .. }
            | SnippetError::NotFound { .. }
            | SnippetError::NotInLibrary { .. }
            | SnippetError::Liquid { .. }
            | SnippetError::Unavailable => false,
        }
    }
}

impl From<RenderError> for SnippetError {
    fn from(error: RenderError) -> Self {
        match error {
            RenderError::Parse {
                line,
                column,
                message,
                ..
            } => SnippetError::Liquid {
                line,
                column,
                message,
            },
            RenderError::Render { message, .. } => SnippetError::Liquid {
                line: None,
                column: None,
                message,
            },
        }
    }
}

impl TemplateService {
    /// Serves the retailer's own snippets from `store`, over the `library`'s (the standard
    /// catalog's snippets): previews and variables saves then use the union.
    pub fn with_retailer_snippets(
        mut self,
        store: Arc<dyn RetailerSnippetStore>,
        library: impl Into<SnippetLibrary>,
    ) -> Self {
        let SnippetLibrary {
            sources,
            descriptions,
        } = library.into();
        self.retailer_snippets = Some(RetailerSnippets {
            store,
            library: sources,
            descriptions,
        });
        self
    }

    pub(super) fn snippet_store(&self) -> Result<&RetailerSnippets, SnippetError> {
        self.retailer_snippets
            .as_ref()
            .ok_or(SnippetError::Unavailable)
    }

    /// The library's snippets by name, each saying whether the retailer replaces it.
    pub async fn library_snippets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<LibrarySnippetSummary>, SnippetError> {
        let snippets = self.snippet_store()?;
        let saved = snippets.store.retailer_snippets(tenant).await?;
        Ok(snippets
            .library
            .keys()
            .map(|name| LibrarySnippetSummary {
                name: name.clone(),
                description: snippets.descriptions.get(name).cloned(),
                replaced_by_retailer: saved.iter().any(|own| &own.name == name),
            })
            .collect())
    }

    /// One of the library's snippets with its source.
    pub async fn library_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<LibrarySnippetDetail, SnippetError> {
        let snippets = self.snippet_store()?;
        check_name(name)?;
        let source = snippets
            .library
            .get(name)
            .ok_or_else(|| SnippetError::NotInLibrary {
                name: name.to_owned(),
            })?;
        let replaced = snippets.store.retailer_snippet(tenant, name).await?;
        Ok(LibrarySnippetDetail {
            summary: LibrarySnippetSummary {
                name: name.to_owned(),
                description: snippets.descriptions.get(name).cloned(),
                replaced_by_retailer: replaced.is_some(),
            },
            source: source.clone(),
        })
    }

    /// The retailer's snippets, by name.
    pub async fn snippets(&self, tenant: &TenantId) -> Result<Vec<SnippetSummary>, SnippetError> {
        let snippets = self.snippet_store()?;
        let saved = snippets.store.retailer_snippets(tenant).await?;
        Ok(saved
            .iter()
            .map(|s| summary(s, &snippets.library))
            .collect())
    }

    /// One of the retailer's snippets with its source.
    pub async fn snippet(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<SnippetDetail, SnippetError> {
        let snippets = self.snippet_store()?;
        check_name(name)?;
        let saved = snippets
            .store
            .retailer_snippet(tenant, name)
            .await?
            .ok_or_else(|| SnippetError::NotFound {
                name: name.to_owned(),
            })?;
        Ok(detail(saved, &snippets.library))
    }

    /// Creates or replaces the retailer's snippet `name`, once it compiles with the library's
    /// and the retailer's other snippets; a source that does not compile is not stored.
    pub async fn save_snippet(
        &self,
        tenant: &TenantId,
        name: &str,
        source: String,
    ) -> Result<SnippetDetail, SnippetError> {
        let snippets = self.snippet_store()?;
        check_name(name)?;
        if source.len() > MAX_RETAILER_SNIPPET_BYTES {
            return Err(SnippetError::Invalid {
                field: "source",
                reason: format!(
                    "{} bytes; a snippet has at most {MAX_RETAILER_SNIPPET_BYTES}",
                    source.len()
                ),
            });
        }
        let saved = snippets.store.retailer_snippets(tenant).await?;
        if saved.len() >= MAX_RETAILER_SNIPPETS && !saved.iter().any(|s| s.name == name) {
            return Err(SnippetError::Invalid {
                field: "name",
                reason: format!("a retailer has at most {MAX_RETAILER_SNIPPETS} snippets"),
            });
        }
        let mut union = snippets.library.clone();
        union.extend(saved.into_iter().map(|s| (s.name, s.source)));
        check_compiles(name, &source, union)?;
        let snippet = RetailerSnippet {
            name: name.to_owned(),
            source,
            updated_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        snippets
            .store
            .put_retailer_snippet(tenant, &snippet)
            .await?;
        tracing::info!(tenant_id = %tenant, snippet = name, "retailer snippet saved");
        Ok(detail(snippet, &snippets.library))
    }

    /// Deletes the retailer's snippet `name`: the library's of that name, if any, is used again
    /// from the next publish.
    pub async fn delete_snippet(&self, tenant: &TenantId, name: &str) -> Result<(), SnippetError> {
        let snippets = self.snippet_store()?;
        check_name(name)?;
        if !snippets.store.delete_retailer_snippet(tenant, name).await? {
            return Err(SnippetError::NotFound {
                name: name.to_owned(),
            });
        }
        tracing::info!(tenant_id = %tenant, snippet = name, "retailer snippet deleted");
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), SnippetError> {
    check_snippet_name(name).map_err(|reason| SnippetError::Invalid {
        field: "name",
        reason,
    })
}

/// Compiles `source` as snippet `name` among `union`: first alone (so a parse error has its
/// line and column in `source`), then rendered by name with every snippet it reaches.
fn check_compiles(
    name: &str,
    source: &str,
    mut union: BTreeMap<String, String>,
) -> Result<(), SnippetError> {
    // Itself as an empty snippet, so that a snippet rendering itself compiles.
    union.insert(name.to_owned(), String::new());
    let alone = TemplateSources {
        html: source.to_owned(),
        ..TemplateSources::default()
    };
    CompiledTemplate::compile_sources_with_snippets(&alone, &Map::new(), &union)?;
    union.insert(name.to_owned(), source.to_owned());
    let reached = pinned_snippets([source], &union);
    let by_name = TemplateSources {
        html: format!("{{% render '{name}' %}}"),
        ..TemplateSources::default()
    };
    let mut with = reached;
    with.insert(name.to_owned(), source.to_owned());
    CompiledTemplate::compile_sources_with_snippets(&by_name, &Map::new(), &with)?;
    Ok(())
}

fn summary(snippet: &RetailerSnippet, library: &BTreeMap<String, String>) -> SnippetSummary {
    let at = time::OffsetDateTime::from_unix_timestamp(snippet.updated_at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    SnippetSummary {
        name: snippet.name.clone(),
        overrides_library: library.contains_key(&snippet.name),
        updated_at: crate::clock::rfc3339(at),
    }
}

fn detail(snippet: RetailerSnippet, library: &BTreeMap<String, String>) -> SnippetDetail {
    let summary = summary(&snippet, library);
    SnippetDetail {
        name: summary.name,
        overrides_library: summary.overrides_library,
        updated_at: summary.updated_at,
        source: snippet.source,
    }
}
