//! Liquid rendering with Shopify's semantics, built for the delivery hot path.
//!
//! A template version is parsed once into a [`CompiledTemplate`] (cached per tenant by
//! [`TemplateCache`]) and rendered per recipient from a borrowed [`RenderContext`] into reused
//! buffers. Anything a template looks up that the data lacks is nil, never an error: a retailer's
//! customers do not all have the same attributes, and one of them must not fail a send.

mod body;
mod budget;
mod cache;
mod chain;
mod context;
mod date_filter;
mod echo_tag;
mod for_block;
mod if_block;
mod language;
mod markup;
mod nil_tolerant;
mod object_view;
mod partials;
mod price_filter;
mod runtime;
mod shopify_filters;
mod tablerow;
pub mod value;
mod vars;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use body::Body;
use liquid_core::Renderable;
use serde::{Deserialize, Serialize};

pub use cache::{LIVE_POINTER_TTL, TemplateCache};
pub use context::{RecipientContext, RenderContext};

use crate::domain::FieldValue;
use crate::domain::TemplateVersion;
pub use budget::{MAX_BLOCK_NESTING, MAX_LOOP_ITERATIONS, MAX_OUTPUT_BYTES};
use language::{LANGUAGE, compile_part};
pub use partials::MAX_PARTIAL_DEPTH;
use partials::Partials;
use runtime::LenientRuntime;

/// One source file of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    Subject,
    Html,
    Text,
    PushTitle,
    PushBody,
}

impl TemplatePart {
    /// The file name the retailer edits this part as.
    pub fn file_name(self) -> &'static str {
        match self {
            TemplatePart::Subject => "subject",
            TemplatePart::Html => "email.html",
            TemplatePart::Text => "email.txt",
            TemplatePart::PushTitle => "push_title",
            TemplatePart::PushBody => "push_body",
        }
    }
}

impl fmt::Display for TemplatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{part}{}: {message}", Location(*line, *column))]
    Parse {
        part: TemplatePart,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("{part}: rendering failed: {message}")]
    Render { part: TemplatePart, message: String },
}

impl RenderError {
    /// Never: a broken template does not fix itself, so the message is parked, not retried.
    pub fn is_retryable(&self) -> bool {
        false
    }

    fn line(&self) -> Option<usize> {
        match self {
            RenderError::Parse { line, .. } => *line,
            RenderError::Render { .. } => None,
        }
    }

    pub fn part(&self) -> TemplatePart {
        match self {
            RenderError::Parse { part, .. } | RenderError::Render { part, .. } => *part,
        }
    }

    fn parse(part: TemplatePart, error: &liquid_core::Error) -> Self {
        let message = error_text(error);
        let (line, column) = pest_location(&message).unzip();
        RenderError::Parse {
            part,
            line,
            column,
            message,
        }
    }

    fn render(part: TemplatePart, error: &liquid_core::Error) -> Self {
        RenderError::Render {
            part,
            message: error_text(error),
        }
    }
}

struct Location(Option<usize>, Option<usize>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(column)) => write!(f, " line {line}, column {column}"),
            (Some(line), None) => write!(f, " line {line}"),
            _ => Ok(()),
        }
    }
}

fn error_text(error: &liquid_core::Error) -> String {
    let text = error.to_string();
    text.strip_prefix("liquid: ")
        .unwrap_or(&text)
        .trim_end()
        .to_owned()
}

/// liquid reports parse positions only inside pest's text: ` --> 3:17`.
fn pest_location(message: &str) -> Option<(usize, usize)> {
    let after = &message[message.find("--> ")? + 4..];
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(after.len());
    let (line, column) = after[..end].split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Raw template sources, as the render tool and the publishing flow hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSources {
    pub subject: String,
    pub html: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_body: Option<String>,
}

/// The rendered parts of one message. Reuse one per worker: [`CompiledTemplate::render`]
/// clears and refills the buffers instead of allocating new ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedMessage {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub push_title: Option<String>,
    pub push_body: Option<String>,
}

impl<'s> From<&'s TemplateSources> for PartSources<'s> {
    fn from(sources: &'s TemplateSources) -> Self {
        PartSources {
            subject: &sources.subject,
            html: &sources.html,
            text: &sources.text,
            push_title: sources.push_title.as_deref(),
            push_body: sources.push_body.as_deref(),
        }
    }
}

/// A template version parsed once, shared between workers behind an `Arc`.
#[derive(Debug)]
pub struct CompiledTemplate {
    subject: Body,
    html: Body,
    text: Body,
    push_title: Option<Body>,
    push_body: Option<Body>,
    vars: FieldValue,
    /// The snippets `render` and `include` can name, compiled with the template.
    partials: Option<Arc<Partials>>,
}

/// The language of a template compiled without snippets: [`LANGUAGE`] with `render` and
/// `include` knowing no snippet.
static NO_SNIPPETS: std::sync::LazyLock<liquid_core::Language> = std::sync::LazyLock::new(|| {
    Partials::compile(&BTreeMap::new(), &LANGUAGE, parse_snippet)
        .map(|(_, language)| language)
        .unwrap_or_else(|_| LANGUAGE.clone())
});

fn parse_snippet(
    source: &str,
    language: &liquid_core::Language,
) -> Result<Vec<Box<dyn Renderable>>, String> {
    language::parse_elements(TemplatePart::Html, source, language)
        .map_err(|error| error.to_string())
}

/// Borrowed sources of the five parts, whichever type holds them.
struct PartSources<'s> {
    subject: &'s str,
    html: &'s str,
    text: &'s str,
    push_title: Option<&'s str>,
    push_body: Option<&'s str>,
}

#[derive(Clone, Copy)]
pub(crate) enum Baking {
    Enabled,
    Disabled,
}

impl CompiledTemplate {
    /// Compiles a published version with the snippets it pinned.
    pub fn compile(version: &TemplateVersion) -> Result<Self, RenderError> {
        let sources = PartSources {
            subject: &version.subject,
            html: &version.html,
            text: &version.text,
            push_title: version.push_title.as_deref(),
            push_body: version.push_body.as_deref(),
        };
        Self::build_with(
            sources,
            FieldValue::from(&version.variables),
            Baking::Enabled,
            &version.snippets,
        )
    }

    /// The same template with every `vars` lookup left to render time: it renders exactly what
    /// [`CompiledTemplate::compile`] renders (the baking tests hold them equal) and compiles in
    /// half the time (one parse instead of two), for templates rendered once, like previews of
    /// draft values; delivery renders thousands and keeps the baked one.
    pub fn compile_unbaked(version: &TemplateVersion) -> Result<Self, RenderError> {
        let sources = PartSources {
            subject: &version.subject,
            html: &version.html,
            text: &version.text,
            push_title: version.push_title.as_deref(),
            push_body: version.push_body.as_deref(),
        };
        Self::build_with(
            sources,
            FieldValue::from(&version.variables),
            Baking::Disabled,
            &version.snippets,
        )
    }

    /// The same as [`CompiledTemplate::compile`], from sources that are not a published version.
    pub fn compile_sources(
        sources: &TemplateSources,
        variables: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, RenderError> {
        Self::build(
            PartSources::from(sources),
            FieldValue::from(variables),
            Baking::Enabled,
        )
    }

    /// Every `vars` lookup left to render time: the reference that baked templates must match.
    #[cfg(test)]
    fn compile_sources_unbaked(
        sources: &TemplateSources,
        variables: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, RenderError> {
        Self::build(
            PartSources::from(sources),
            FieldValue::from(variables),
            Baking::Disabled,
        )
    }

    fn build(
        sources: PartSources<'_>,
        vars: FieldValue,
        baking: Baking,
    ) -> Result<Self, RenderError> {
        Self::build_with(sources, vars, baking, &BTreeMap::new())
    }

    /// The same as [`CompiledTemplate::compile_sources`], with the snippets (name to source) its
    /// `render` and `include` tags may name. A tag naming a snippet that is not there, or a
    /// snippet that does not parse, fails the compile.
    pub fn compile_sources_with_snippets(
        sources: &TemplateSources,
        variables: &serde_json::Map<String, serde_json::Value>,
        snippets: &BTreeMap<String, String>,
    ) -> Result<Self, RenderError> {
        Self::build_with(
            PartSources::from(sources),
            FieldValue::from(variables),
            Baking::Enabled,
            snippets,
        )
    }

    fn build_with(
        sources: PartSources<'_>,
        vars: FieldValue,
        baking: Baking,
        snippets: &BTreeMap<String, String>,
    ) -> Result<Self, RenderError> {
        let (partials, with_partials) = if snippets.is_empty() {
            (None, None)
        } else {
            let (partials, language) = Partials::compile(snippets, &LANGUAGE, parse_snippet)
                .map_err(|message| RenderError::Parse {
                    part: TemplatePart::Html,
                    line: None,
                    column: None,
                    message,
                })?;
            (Some(partials), Some(language))
        };
        // Without snippets, `render` and `include` still parse, so that naming one is the clear
        // "does not exist" error instead of an unknown tag.
        let language = with_partials.as_ref().unwrap_or(&NO_SNIPPETS);
        let part = |part, source: &str| compile_part(part, source, &vars, baking, language);
        let optional = |p, source: Option<&str>| source.map(|source| part(p, source)).transpose();
        Ok(CompiledTemplate {
            subject: part(TemplatePart::Subject, sources.subject)?,
            html: part(TemplatePart::Html, sources.html)?,
            text: part(TemplatePart::Text, sources.text)?,
            push_title: optional(TemplatePart::PushTitle, sources.push_title)?,
            push_body: optional(TemplatePart::PushBody, sources.push_body)?,
            vars,
            partials,
        })
    }

    /// Whether the template has a push notification (both title and body are optional).
    pub fn has_push(&self) -> bool {
        self.push_title.is_some() || self.push_body.is_some()
    }

    /// Renders every part into `out`, reusing its buffers. Parts the template lacks are `None`.
    /// The subject comes out as one trimmed line (it is a header); push texts are trimmed, since
    /// a device shows the newline a source file ends with.
    pub fn render(
        &self,
        ctx: &RenderContext<'_>,
        out: &mut RenderedMessage,
    ) -> Result<(), RenderError> {
        self.render_part(&self.subject, TemplatePart::Subject, ctx, &mut out.subject)?;
        normalize_subject(&mut out.subject);
        self.render_part(&self.html, TemplatePart::Html, ctx, &mut out.html)?;
        self.render_part(&self.text, TemplatePart::Text, ctx, &mut out.text)?;
        self.render_optional(
            &self.push_title,
            TemplatePart::PushTitle,
            ctx,
            &mut out.push_title,
        )?;
        self.render_optional(
            &self.push_body,
            TemplatePart::PushBody,
            ctx,
            &mut out.push_body,
        )?;
        Ok(())
    }

    fn render_optional(
        &self,
        template: &Option<Body>,
        part: TemplatePart,
        ctx: &RenderContext<'_>,
        out: &mut Option<String>,
    ) -> Result<(), RenderError> {
        match template {
            Some(template) => {
                let buffer = out.get_or_insert_with(String::new);
                self.render_part(template, part, ctx, buffer)?;
                trim_in_place(buffer);
            }
            None => *out = None,
        }
        Ok(())
    }

    fn render_part(
        &self,
        template: &Body,
        part: TemplatePart,
        ctx: &RenderContext<'_>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        // liquid writes to `io::Write`; the String's own allocation becomes the byte buffer and
        // comes back, so a reused `RenderedMessage` renders without allocating new buffers.
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.clear();
        let runtime = LenientRuntime::new(
            &self.vars,
            ctx,
            self.partials
                .as_deref()
                .map(|p| p as &dyn liquid_core::runtime::PartialStore),
        );
        // Like parsing, rendering must never panic a delivery away: a panic is this part's
        // render error.
        let mut writer = budget::LimitedWriter::new(&mut bytes);
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            template.render_to(&mut writer, &runtime)
        }))
        .unwrap_or_else(|_| {
            Err(liquid_core::Error::with_msg(
                "rendering panicked inside the template engine",
            ))
        });
        let rendered = if writer.exceeded {
            Err(budget::exceeded("bytes of output", MAX_OUTPUT_BYTES))
        } else {
            rendered
        };
        match String::from_utf8(bytes) {
            Ok(text) => *out = text,
            Err(error) => {
                let mut bytes = error.into_bytes();
                bytes.clear();
                *out = String::from_utf8(bytes).unwrap_or_default();
                return Err(RenderError::Render {
                    part,
                    message: "rendered text is not UTF-8".to_owned(),
                });
            }
        }
        rendered.map_err(|error| {
            out.clear();
            RenderError::render(part, &error)
        })
    }
}

/// A subject is a header: no surrounding whitespace and no raw line breaks. Each run of
/// whitespace that contains a line break becomes one space.
fn normalize_subject(subject: &mut String) {
    trim_in_place(subject);
    if !subject.contains(['\n', '\r']) {
        return;
    }
    let mut collapsed = String::with_capacity(subject.len());
    for (i, line) in subject
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .enumerate()
    {
        if i > 0 {
            collapsed.push(' ');
        }
        collapsed.push_str(line);
    }
    subject.clear();
    subject.push_str(&collapsed);
}

fn trim_in_place(text: &mut String) {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "loop_tests.rs"]
mod loop_tests;

#[cfg(test)]
#[path = "budget_tests.rs"]
mod budget_tests;
