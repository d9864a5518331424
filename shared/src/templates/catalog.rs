//! `templates/catalog.yaml`: which standard templates exist, their parts, their variables and
//! which retailers get them. Parsed and checked as a whole: a catalog with a problem is not
//! deployed at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::snippets::{check_snippet_name, pinned_snippets};
use super::{TemplateError, check_overrides, effective_variables};
use crate::domain::{TemplateId, TemplateRef, TemplateVersion, TenantId};
use crate::domain::{VariableSpec, VariableType};
use crate::render::{CompiledTemplate, TemplatePart, TemplateSources};

/// Which retailers get a template: `all`, a list of tenant ids, or `{ all_except: [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetailerSelection {
    All(AllRetailers),
    Only(Vec<TenantId>),
    AllExcept { all_except: Vec<TenantId> },
}

/// The keyword `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllRetailers {
    All,
}

impl RetailerSelection {
    pub fn includes(&self, tenant: &TenantId) -> bool {
        match self {
            RetailerSelection::All(_) => true,
            RetailerSelection::Only(tenants) => tenants.contains(tenant),
            RetailerSelection::AllExcept { all_except } => !all_except.contains(tenant),
        }
    }
}

/// One standard template, its sources read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTemplate {
    pub id: TemplateId,
    pub description: Option<String>,
    pub sources: TemplateSources,
    /// Sorted by name.
    pub schema: Vec<VariableSpec>,
    pub retailers: RetailerSelection,
    /// The snippets of the library this template reaches (name to source): what its versions
    /// pin.
    pub snippets: BTreeMap<String, String>,
}

impl CatalogTemplate {
    /// The retailer-specific version `number` of this template for `tenant`: the catalog's
    /// sources and schema, the retailer's overrides (checked) over the defaults.
    pub fn version_for(
        &self,
        tenant: &TenantId,
        number: u32,
        overrides: &Map<String, Value>,
    ) -> Result<TemplateVersion, TemplateError> {
        let overrides = check_overrides(&self.schema, overrides)?;
        Ok(TemplateVersion {
            tenant_id: tenant.clone(),
            template: TemplateRef {
                id: self.id.clone(),
                version: number,
            },
            subject: self.sources.subject.clone(),
            html: self.sources.html.clone(),
            text: self.sources.text.clone(),
            push_title: self.sources.push_title.clone(),
            push_body: self.sources.push_body.clone(),
            variables: effective_variables(&self.schema, &overrides),
            schema: self.schema.clone(),
            overrides,
            snippets: self.snippets.clone(),
        })
    }
}

/// The parsed catalog, templates in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub templates: Vec<CatalogTemplate>,
    /// The snippet library (`snippets/<name>.liquid`), name to source.
    pub snippets: BTreeMap<String, String>,
    /// What each library snippet is for, as the catalog describes it (name to text).
    pub snippet_descriptions: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog is not valid YAML of the expected shape")]
    Syntax {
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("catalog has {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { problems: Vec<String> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    snippets: BTreeMap<String, SnippetEntry>,
    templates: BTreeMap<String, TemplateEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnippetEntry {
    /// For template authors (the API's library listing); not published with the versions.
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateEntry {
    #[serde(default)]
    description: Option<String>,
    parts: Vec<String>,
    retailers: RetailerSelection,
    #[serde(default)]
    variables: BTreeMap<String, VariableEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariableEntry {
    #[serde(rename = "type")]
    kind: VariableType,
    default: Value,
    #[serde(default)]
    max_length: Option<u32>,
}

/// The library's folder of snippets, beside the templates' folders.
pub const SNIPPETS_FOLDER: &str = "snippets";

const PARTS: [TemplatePart; 5] = [
    TemplatePart::Subject,
    TemplatePart::Html,
    TemplatePart::Text,
    TemplatePart::PushTitle,
    TemplatePart::PushBody,
];

impl Catalog {
    /// Reads `catalog.yaml` and the sources beside it (`<template>/<part>.liquid`).
    pub fn load(catalog: &Path) -> Result<Self, CatalogError> {
        let yaml = std::fs::read_to_string(catalog).map_err(|source| CatalogError::Read {
            path: catalog.to_path_buf(),
            source,
        })?;
        let root = catalog.parent().unwrap_or(Path::new("."));
        Self::parse(&yaml, |relative| {
            std::fs::read_to_string(root.join(relative))
        })
    }

    /// Parses a catalog whose source files `read` answers by relative path.
    pub fn parse(
        yaml: &str,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Self, CatalogError> {
        let file: CatalogFile =
            serde_yaml_ng::from_str(yaml).map_err(|source| CatalogError::Syntax { source })?;
        let mut problems = Vec::new();
        let snippets = read_snippets(file.snippets.keys(), &read, &mut problems);
        let snippet_descriptions = file
            .snippets
            .into_iter()
            .filter_map(|(name, entry)| Some((name, entry.description?)))
            .collect();
        let mut templates = Vec::new();
        for (id, entry) in file.templates {
            if let Some(template) = check_template(&id, entry, &snippets, &read, &mut problems) {
                templates.push(template);
            }
        }
        if problems.is_empty() {
            Ok(Catalog {
                templates,
                snippets,
                snippet_descriptions,
            })
        } else {
            Err(CatalogError::Invalid { problems })
        }
    }

    pub fn template(&self, id: &TemplateId) -> Option<&CatalogTemplate> {
        self.templates.iter().find(|t| &t.id == id)
    }

    /// The templates `tenant` gets.
    pub fn for_tenant<'c>(
        &'c self,
        tenant: &'c TenantId,
    ) -> impl Iterator<Item = &'c CatalogTemplate> + 'c {
        self.templates
            .iter()
            .filter(move |t| t.retailers.includes(tenant))
    }
}

/// The library's snippets, `snippets/<name>.liquid`; a bad name or an unreadable file is a
/// problem.
fn read_snippets<'n>(
    names: impl Iterator<Item = &'n String>,
    read: &impl Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut snippets = BTreeMap::new();
    for name in names {
        if let Err(reason) = check_snippet_name(name) {
            problems.push(format!("snippets: {reason}"));
            continue;
        }
        let path = format!("{SNIPPETS_FOLDER}/{name}.liquid");
        match read(&path) {
            Ok(source) => {
                snippets.insert(name.clone(), source);
            }
            Err(error) => problems.push(format!("snippets: cannot read {path}: {error}")),
        }
    }
    snippets
}

/// The template's parts read from its folder; an unknown, unreadable or missing required part is
/// a problem.
fn read_parts(
    id: &str,
    parts: &[String],
    read: &impl Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> TemplateSources {
    let mut sources = TemplateSources::default();
    for name in parts {
        let Some(part) = PARTS.iter().find(|p| p.file_name() == name) else {
            problems.push(format!(
                "{id}: unknown part {name:?} (parts are {})",
                PARTS.map(|p| p.file_name()).join(", ")
            ));
            continue;
        };
        let path = format!("{id}/{name}.liquid");
        let source = match read(&path) {
            Ok(source) => source,
            Err(error) => {
                problems.push(format!("{id}: cannot read {path}: {error}"));
                continue;
            }
        };
        match part {
            TemplatePart::Subject => sources.subject = source,
            TemplatePart::Html => sources.html = source,
            TemplatePart::Text => sources.text = source,
            TemplatePart::PushTitle => sources.push_title = Some(source),
            TemplatePart::PushBody => sources.push_body = Some(source),
        }
    }
    for required in [
        TemplatePart::Subject,
        TemplatePart::Html,
        TemplatePart::Text,
    ] {
        if !parts.iter().any(|p| p == required.file_name()) {
            problems.push(format!("{id}: part {} is required", required.file_name()));
        }
    }
    sources
}

fn check_template(
    id: &str,
    entry: TemplateEntry,
    library: &BTreeMap<String, String>,
    read: &impl Fn(&str) -> std::io::Result<String>,
    problems: &mut Vec<String>,
) -> Option<CatalogTemplate> {
    let before = problems.len();
    let template_id = TemplateId::parse(id)
        .map_err(|e| problems.push(format!("{id}: {e}")))
        .ok();
    let sources = read_parts(id, &entry.parts, read, problems);
    let schema: Vec<VariableSpec> = entry
        .variables
        .into_iter()
        .map(|(name, v)| VariableSpec {
            name,
            kind: v.kind,
            default: v.default,
            max_length: v.max_length,
        })
        .collect();
    for spec in &schema {
        if let Err(reason) = spec.check(&spec.default) {
            problems.push(format!("{id}: default of variable {}: {reason}", spec.name));
        }
    }
    let parts: [(TemplatePart, Option<&str>); 5] = [
        (TemplatePart::Subject, Some(&sources.subject)),
        (TemplatePart::Html, Some(&sources.html)),
        (TemplatePart::Text, Some(&sources.text)),
        (TemplatePart::PushTitle, sources.push_title.as_deref()),
        (TemplatePart::PushBody, sources.push_body.as_deref()),
    ];
    let snippets = pinned_snippets(parts.iter().filter_map(|(_, source)| *source), library);
    let files = parts
        .iter()
        .filter_map(|(part, source)| Some((part.file_name().to_owned(), (*source)?)))
        .chain(
            snippets
                .iter()
                .map(|(name, source)| (format!("snippet {name}"), source.as_str())),
        );
    for (file, source) in files {
        for name in super::used_variables(source) {
            if !schema.iter().any(|spec| spec.name == name) {
                problems.push(format!(
                    "{id}: {file} uses vars.{name}, which is not declared"
                ));
            }
        }
    }
    if problems.len() == before
        && let Err(error) = CompiledTemplate::compile_sources_with_snippets(
            &sources,
            &super::defaults(&schema),
            &snippets,
        )
    {
        problems.push(format!("{id}: {}", TemplateError::from(error)));
    }
    (problems.len() == before).then(|| CatalogTemplate {
        id: template_id.expect("no problem means the id parsed"),
        description: entry.description,
        sources,
        schema,
        retailers: entry.retailers,
        snippets,
    })
}

/// The standard template library as this binary was built with it (`templates/` at the
/// repository's root), for onboarding to publish to a new retailer. The deploy tool reads the
/// files instead, so a catalog change reaches retailers through CI/CD as before.
static STANDARD_LIBRARY: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../templates");

/// The standard library's snippets, which retailers' own snippets override. The catalog is
/// checked by the build's tests; should it not parse, retailers' snippets alone are served.
pub fn standard_snippets() -> super::retailer_snippets::SnippetLibrary {
    standard()
        .map(|catalog| super::retailer_snippets::SnippetLibrary {
            sources: catalog.snippets,
            descriptions: catalog.snippet_descriptions,
        })
        .unwrap_or_else(|error| {
            tracing::error!(%error, "the standard catalog does not parse; no library snippets");
            Default::default()
        })
}

/// The standard catalog compiled into the binary.
pub fn standard() -> Result<Catalog, CatalogError> {
    let file = |relative: &str| {
        STANDARD_LIBRARY
            .get_file(relative)
            .and_then(|file| file.contents_utf8())
            .map(str::to_owned)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, relative.to_owned()))
    };
    let yaml = file("catalog.yaml").map_err(|source| CatalogError::Read {
        path: PathBuf::from("catalog.yaml"),
        source,
    })?;
    Catalog::parse(&yaml, file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn files(entries: &[(&str, &str)]) -> impl Fn(&str) -> std::io::Result<String> {
        let map: HashMap<String, String> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |path| {
            map.get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        }
    }

    const MINIMAL: &[(&str, &str)] = &[
        (
            "hello/subject.liquid",
            "Hi {{ customer.first_name | default: vars.greeting }}",
        ),
        (
            "hello/email.html.liquid",
            "<p style=\"color:{{ vars.color }}\">hi</p>",
        ),
        ("hello/email.txt.liquid", "hi"),
    ];

    #[test]
    fn the_standard_catalog_parses_and_every_template_compiles() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/catalog.yaml");
        let catalog = Catalog::load(&path).unwrap();
        let ids: Vec<_> = catalog.templates.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "abandoned-cart",
                "back-in-stock",
                "weekly-offers",
                "welcome",
                "win-back"
            ]
        );
        for template in &catalog.templates {
            assert!(template.sources.push_body.is_some(), "{}", template.id);
            assert!(
                template.sources.html.contains("unsubscribe_url"),
                "{}",
                template.id
            );
            assert!(
                template.sources.html.contains("vars.disclaimer"),
                "{}",
                template.id
            );
        }
        let ghost = TenantId::parse("ghost-store").unwrap();
        assert_eq!(
            catalog.for_tenant(&ghost).count(),
            4,
            "back-in-stock excludes it"
        );
    }

    #[test]
    fn retailer_selections_parse_in_all_three_forms() {
        let yaml = |retailers: &str| {
            format!(
                "templates:\n  hello:\n    parts: [subject, email.html, email.txt]\n    retailers: {retailers}\n    variables:\n      greeting: {{ type: string, default: there }}\n      color: {{ type: color, default: \"#fff\" }}\n"
            )
        };
        let alpine = TenantId::parse("alpine").unwrap();
        let harbor = TenantId::parse("harbor").unwrap();
        for (retailers, alpine_gets, harbor_gets) in [
            ("all", true, true),
            ("[alpine]", true, false),
            ("{ all_except: [alpine] }", false, true),
        ] {
            let catalog = Catalog::parse(&yaml(retailers), files(MINIMAL)).unwrap();
            let selection = &catalog.templates[0].retailers;
            assert_eq!(selection.includes(&alpine), alpine_gets, "{retailers}");
            assert_eq!(selection.includes(&harbor), harbor_gets, "{retailers}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let yaml = "templates:\n  hello:\n    parts: [subject, email.html, email.txt, push_body]\n    retailers: all\n    variables:\n      color: { type: color, default: red }\n";
        let Err(CatalogError::Invalid { problems }) = Catalog::parse(yaml, files(MINIMAL)) else {
            panic!("the catalog has problems");
        };
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("cannot read hello/push_body.liquid"));
        assert!(problems[1].contains("default of variable color: must be a colour"));
        assert!(problems[2].contains("subject uses vars.greeting, which is not declared"));
    }

    #[test]
    fn a_template_that_does_not_compile_is_reported_with_its_line_and_column() {
        let yaml = "templates:\n  hello:\n    parts: [subject, email.html, email.txt]\n    retailers: all\n    variables:\n      greeting: { type: string, default: there }\n      color: { type: color, default: \"#fff\" }\n";
        let broken = [
            MINIMAL[0],
            (
                "hello/email.html.liquid",
                "<p>\n  {% if vars.color %}{{ vars.color }</p>",
            ),
            MINIMAL[2],
        ];
        let Err(CatalogError::Invalid { problems }) = Catalog::parse(yaml, files(&broken)) else {
            panic!("the template does not compile");
        };
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("hello: email.html line 2, column"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let yaml = "templates:\n  hello:\n    parts: [subject]\n    retailer: all\n";
        assert!(matches!(
            Catalog::parse(yaml, files(MINIMAL)),
            Err(CatalogError::Syntax { .. })
        ));
    }
}
