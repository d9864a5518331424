//! Which snippets of a library a template reaches, so a published version pins exactly those.
//!
//! A version carries the sources of the snippets its `render` and `include` tags name, directly
//! or through other snippets, and nothing else: a snippet edit then changes (and republishes)
//! only the templates that use it. The scan is textual and errs on the side of pinning: a name
//! in quotes after the word `render` or `include` is pinned if the library has it (a name it
//! lacks is left for the compile to report, naming it), and an `include` whose name is a
//! variable, which only rendering resolves, pins the whole library.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{TemplateVersion, TenantId};
use crate::error::StoreError;
use crate::templates::ports::RetailerSnippetStore;

/// The longest snippet name, in characters.
pub const MAX_SNIPPET_NAME_CHARS: usize = 64;

/// Why `name` cannot name a snippet (it becomes a file name and a quoted Liquid string).
pub fn check_snippet_name(name: &str) -> Result<(), String> {
    let well_formed = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if name.is_empty() || name.chars().count() > MAX_SNIPPET_NAME_CHARS || !well_formed {
        return Err(format!(
            "snippet name {name:?} must be 1 to {MAX_SNIPPET_NAME_CHARS} of a-z, 0-9, _ and -"
        ));
    }
    Ok(())
}

/// The snippets of `library` that `sources` reach, with their sources.
pub fn pinned_snippets<'s>(
    sources: impl IntoIterator<Item = &'s str>,
    library: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut pinned = BTreeMap::new();
    let mut pending: Vec<&str> = sources.into_iter().collect();
    while let Some(source) = pending.pop() {
        match referenced(source) {
            References::Names(names) => {
                for name in names {
                    if let Some((name, snippet)) = library.get_key_value(name)
                        && !pinned.contains_key(name)
                    {
                        pinned.insert(name.clone(), snippet.clone());
                        pending.push(snippet);
                    }
                }
            }
            References::Any => return library.clone(),
        }
    }
    pinned
}

/// A retailer's own snippets and the library they override
/// ([`super::retailer_snippets`]).
pub(super) struct RetailerSnippets {
    pub(super) store: Arc<dyn RetailerSnippetStore>,
    /// The library's snippets (name to source).
    pub(super) library: BTreeMap<String, String>,
    /// What each library snippet is for (name to text), for the library's listing.
    pub(super) descriptions: BTreeMap<String, String>,
}

impl RetailerSnippets {
    /// The snippets the tenant's templates may reach: the library's with the retailer's over
    /// them.
    pub(super) async fn union(
        &self,
        tenant: &TenantId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut union = self.library.clone();
        let saved = self.store.retailer_snippets(tenant).await?;
        union.extend(saved.into_iter().map(|s| (s.name, s.source)));
        Ok(union)
    }
}

/// `version` with the snippets its parts reach from `union` pinned instead of its own.
pub(super) fn repin(version: &mut TemplateVersion, union: &BTreeMap<String, String>) {
    let parts = [
        Some(version.subject.as_str()),
        Some(version.html.as_str()),
        Some(version.text.as_str()),
        version.push_title.as_deref(),
        version.push_body.as_deref(),
    ];
    version.snippets = pinned_snippets(parts.into_iter().flatten(), union);
}

enum References<'s> {
    Names(Vec<&'s str>),
    /// An `include` of a name held in a variable: any snippet.
    Any,
}

fn referenced(source: &str) -> References<'_> {
    let mut names = Vec::new();
    for keyword in ["render", "include"] {
        for (at, _) in source.match_indices(keyword) {
            let before = source[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
                continue;
            }
            let rest = &source[at + keyword.len()..];
            let argument = rest.trim_start();
            if argument.len() == rest.len() {
                continue;
            }
            match argument.chars().next() {
                Some(quote @ ('\'' | '"')) => {
                    if let Some(end) = argument[1..].find(quote) {
                        names.push(&argument[1..=end]);
                    }
                }
                Some(c) if keyword == "include" && opens_tag(&source[..at]) && is_name_start(c) => {
                    return References::Any;
                }
                _ => {}
            }
        }
    }
    References::Names(names)
}

/// Whether a tag starts right before: `{%`, `{%-`, or a new line (inside a `liquid` tag).
fn opens_tag(before: &str) -> bool {
    let before = before.trim_end_matches([' ', '\t']);
    before.is_empty() || before.ends_with("{%") || before.ends_with("{%-") || before.ends_with('\n')
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_template_pins_the_snippets_it_reaches_and_only_those() {
        let library = library(&[
            ("header", "{% render 'logo', width: 120 %}"),
            ("logo", "<img>"),
            ("footer", "bye"),
            ("unused", "never"),
        ]);
        let pinned = pinned_snippets(
            ["{%- render \"header\" %} hi {% include 'footer' %} {% render 'missing' %}"],
            &library,
        );
        assert_eq!(
            pinned.keys().collect::<Vec<_>>(),
            ["footer", "header", "logo"]
        );
        assert_eq!(pinned["logo"], "<img>");
    }

    #[test]
    fn prose_and_other_words_pin_nothing() {
        let library = library(&[("footer", "bye")]);
        for source in [
            "Prices include VAT and render nicely.",
            "{{ x.render 'footer' }}",
            "{{ prerender 'footer' }}",
            "renders 'footer'",
        ] {
            assert!(pinned_snippets([source], &library).is_empty(), "{source}");
        }
    }

    #[test]
    fn an_include_of_a_variable_pins_the_whole_library() {
        let library = library(&[("a", "1"), ("b", "2")]);
        for source in ["{% include name %}", "{% liquid\n  include block.kind\n%}"] {
            assert_eq!(pinned_snippets([source], &library), library, "{source}");
        }
    }

    #[test]
    fn snippet_names_are_checked() {
        assert!(check_snippet_name("text_footer-2").is_ok());
        for bad in ["", "Header", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_snippet_name(bad).is_err(), "{bad}");
        }
    }
}
