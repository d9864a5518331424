//! Baking template variables into the source at compile time.
//!
//! A plain `{{ vars.brand_color }}` prints the same text for every recipient, so it is replaced
//! by that text, which then merges with the text around it. Everything else (`vars` with
//! filters, in conditions, in loops) keeps looking `vars` up per render. The replacement is made
//! only where it provably renders the same:
//!
//! - values containing `{` or `}` are not baked: next to other markup they could form markup;
//! - a value that is empty or starts or ends with whitespace, or an output with whitespace
//!   control, is wrapped in `{% raw %}`, so that neighbouring `{{-`/`-}}` trim exactly what they
//!   trimmed before and nothing of the value: `{{- vars.x -}}` becomes `{%- raw %}…{% endraw -%}`;
//! - sources containing a `raw` block are not baked at all: text inside one is not markup, and
//!   telling "inside" apart would mean re-implementing liquid's lexer;
//! - strings in tags are skipped over, so `{% assign s = "{{ vars.x }}" %}` stays as it is.

use liquid_core::model::ValueView;

use crate::domain::FieldValue;

/// The source with every bakeable `{{ vars.name }}` replaced, or `None` if there is none.
pub(crate) fn bake(source: &str, vars: &FieldValue) -> Option<String> {
    if !source.contains("vars") || source.contains("endraw") {
        return None;
    }
    let mut baked = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = source[at..].find('{') {
        let start = at + offset;
        let markup = &source[start..];
        let close = if markup.starts_with("{{") {
            "}}"
        } else if markup.starts_with("{%") {
            "%}"
        } else {
            at = start + 1;
            continue;
        };
        let Some(len) = markup_len(markup, close) else {
            // Unclosed: liquid reads the `{` as text and goes on after it.
            at = start + 1;
            continue;
        };
        if close == "}}"
            && let Some(replacement) = bake_output(&markup[..len], vars)
        {
            if baked.is_empty() {
                baked.reserve(source.len());
            }
            baked.push_str(&source[copied..start]);
            baked.push_str(&replacement);
            copied = start + len;
        }
        at = start + len;
    }
    if copied == 0 {
        return None;
    }
    baked.push_str(&source[copied..]);
    Some(baked)
}

/// The length of the markup at the start of `markup` up to and including `close`, skipping
/// quoted strings, as liquid's grammar does.
fn markup_len(markup: &str, close: &str) -> Option<usize> {
    let bytes = markup.as_bytes();
    let mut i = 2;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1 + markup[i + 1..].find(quote as char)? + 1;
            }
            _ if bytes[i..].starts_with(close.as_bytes()) => return Some(i + close.len()),
            _ => i += 1,
        }
    }
    None
}

/// The raw block that prints what `output` (a whole `{{ … }}`) prints, if it is a plain
/// variable lookup that can be baked.
fn bake_output(output: &str, vars: &FieldValue) -> Option<String> {
    let inner = &output[2..output.len() - 2];
    let (trim_before, inner) = match inner.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let (trim_after, inner) = match inner.strip_suffix('-') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    // Liquid's whitespace inside markup is spaces and line breaks.
    let name = inner
        .trim_matches([' ', '\n', '\r'])
        .strip_prefix("vars.")?;
    if !is_identifier(name) {
        return None;
    }
    let value = vars.get(name)?;
    let text = value.render().to_string();
    if text.contains(['{', '}']) {
        return None;
    }
    let reaches_neighbours = text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace);
    if !trim_before && !trim_after && !reaches_neighbours {
        return Some(text);
    }
    let open = if trim_before {
        "{%- raw %}"
    } else {
        "{% raw %}"
    };
    let close = if trim_after {
        "{% endraw -%}"
    } else {
        "{% endraw %}"
    };
    Some(format!("{open}{text}{close}"))
}

/// liquid's identifier: a letter or `_`, then letters, digits, `_` and `-`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
