//! Liquid rendering with Shopify's semantics, built for the delivery hot path.
//!
//! A template version is parsed once into a [`CompiledTemplate`] (cached per tenant by
//! [`TemplateCache`]) and rendered per recipient from a borrowed [`RenderContext`] into reused
//! buffers. Anything a template looks up that the data lacks is nil, never an error: a retailer's
//! customers do not all have the same attributes, and one of them must not fail a send.

mod cache;
mod context;
mod date_filter;
mod echo_tag;
mod for_block;
mod markup;
mod nil_tolerant;
mod object_view;
mod price_filter;
mod runtime;
mod shopify_filters;
pub mod value;
mod vars;

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use liquid_core::{Language, Renderable, Template};
use serde::{Deserialize, Serialize};

pub use cache::{LIVE_POINTER_TTL, TemplateCache};
pub use context::{RecipientContext, RenderContext};

use crate::domain::FieldValue;
use crate::domain::TemplateVersion;
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

/// The Liquid dialect of every template: the stdlib (minus partials, which templates do not
/// have, and `tablerow`), a lenient `for`, math and array filters that read nil as Shopify does,
/// Shopify's own versions of the filters where liquid's differ ([`shopify_filters`]), and our
/// `date` and `price` filters. Built once.
static LANGUAGE: LazyLock<Language> = LazyLock::new(build_language);

fn build_language() -> Language {
    use liquid_lib::stdlib;

    let mut language = Language::empty();
    let tags: [Box<dyn liquid_core::ParseTag>; 7] = [
        Box::new(echo_tag::EchoTag),
        Box::new(stdlib::AssignTag),
        Box::new(stdlib::BreakTag),
        Box::new(stdlib::ContinueTag),
        Box::new(stdlib::CycleTag),
        Box::new(stdlib::IncrementTag),
        Box::new(stdlib::DecrementTag),
    ];
    for tag in tags {
        language
            .tags
            .register(tag.reflection().tag().to_owned(), tag);
    }
    let blocks: [Box<dyn liquid_core::ParseBlock>; 8] = [
        Box::new(stdlib::RawBlock),
        Box::new(stdlib::IfBlock),
        Box::new(stdlib::UnlessBlock),
        Box::new(stdlib::IfChangedBlock),
        Box::new(stdlib::CommentBlock),
        Box::new(stdlib::CaptureBlock),
        Box::new(stdlib::CaseBlock),
        Box::new(for_block::LenientForBlock),
    ];
    for block in blocks {
        language
            .blocks
            .register(block.reflection().start_tag().to_owned(), block);
    }
    for filter in filters() {
        language
            .filters
            .register(filter.reflection().name().to_owned(), filter);
    }
    language
}

/// Every filter templates may use: liquid's standard ones (nil-tolerant where Shopify is), ours
/// (`date`, `price`) and Shopify's own versions where liquid's differ.
fn filters() -> Vec<Box<dyn liquid_core::ParseFilter>> {
    use liquid_lib::stdlib;

    let mut filters: Vec<Box<dyn liquid_core::ParseFilter>> = vec![
        Box::new(stdlib::Append),
        nil_as_empty_list(stdlib::Compact),
        nil_as_empty_list(stdlib::Concat),
        Box::new(stdlib::Downcase),
        Box::new(stdlib::Escape),
        Box::new(stdlib::EscapeOnce),
        nil_as_empty_list(stdlib::First),
        nil_as_empty_list(stdlib::Last),
        Box::new(stdlib::Lstrip),
        nil_as_empty_list(stdlib::Map),
        Box::new(stdlib::NewlineToBr),
        Box::new(stdlib::Prepend),
        Box::new(stdlib::Remove),
        Box::new(stdlib::RemoveFirst),
        Box::new(stdlib::Replace),
        Box::new(stdlib::ReplaceFirst),
        nil_as_empty_list(stdlib::Reverse),
        Box::new(stdlib::Rstrip),
        Box::new(stdlib::Size),
        Box::new(stdlib::Slice),
        nil_as_empty_list(stdlib::Sort),
        nil_as_empty_list(stdlib::SortNatural),
        Box::new(stdlib::Strip),
        Box::new(stdlib::StripHtml),
        Box::new(stdlib::StripNewlines),
        nil_as_empty_list(stdlib::Uniq),
        Box::new(stdlib::Upcase),
        Box::new(stdlib::UrlDecode),
        Box::new(date_filter::DateFilterParser),
        Box::new(price_filter::PriceFilterParser),
    ];
    filters.extend(
        shopify_filters::all()
            .into_iter()
            .map(|filter| Box::new(filter) as Box<dyn liquid_core::ParseFilter>),
    );
    filters
}

fn nil_as_empty_list<F: liquid_core::ParseFilter + Clone + 'static>(
    filter: F,
) -> Box<dyn liquid_core::ParseFilter> {
    Box::new(nil_tolerant::NilTolerant::new(
        filter,
        nil_tolerant::NilAs::EmptyList,
    ))
}

/// A template version parsed once, shared between workers behind an `Arc`.
#[derive(Debug)]
pub struct CompiledTemplate {
    subject: Template,
    html: Template,
    text: Template,
    push_title: Option<Template>,
    push_body: Option<Template>,
    vars: FieldValue,
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
enum Baking {
    Enabled,
    Disabled,
}

impl CompiledTemplate {
    pub fn compile(version: &TemplateVersion) -> Result<Self, RenderError> {
        let sources = PartSources {
            subject: &version.subject,
            html: &version.html,
            text: &version.text,
            push_title: version.push_title.as_deref(),
            push_body: version.push_body.as_deref(),
        };
        Self::build(
            sources,
            FieldValue::from(&version.variables),
            Baking::Enabled,
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
        Self::build(
            sources,
            FieldValue::from(&version.variables),
            Baking::Disabled,
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
        let part = |part, source: &str| compile_part(part, source, &vars, baking);
        let optional = |p, source: Option<&str>| source.map(|source| part(p, source)).transpose();
        Ok(CompiledTemplate {
            subject: part(TemplatePart::Subject, sources.subject)?,
            html: part(TemplatePart::Html, sources.html)?,
            text: part(TemplatePart::Text, sources.text)?,
            push_title: optional(TemplatePart::PushTitle, sources.push_title)?,
            push_body: optional(TemplatePart::PushBody, sources.push_body)?,
            vars,
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
        template: &Option<Template>,
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
        template: &Template,
        part: TemplatePart,
        ctx: &RenderContext<'_>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        // liquid writes to `io::Write`; the String's own allocation becomes the byte buffer and
        // comes back, so a reused `RenderedMessage` renders without allocating new buffers.
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.clear();
        let runtime = LenientRuntime::new(&self.vars, ctx);
        // Like parsing, rendering must never panic a delivery away: a panic is this part's
        // render error.
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            template.render_to(&mut bytes, &runtime)
        }))
        .unwrap_or_else(|_| {
            Err(liquid_core::Error::with_msg(
                "rendering panicked inside the template engine",
            ))
        });
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

fn compile_part(
    part: TemplatePart,
    source: &str,
    vars: &FieldValue,
    baking: Baking,
) -> Result<Template, RenderError> {
    // The retailer's source is parsed as written first, so errors point at their lines.
    let elements = parse_prepared(part, source)?;
    let baked = match baking {
        Baking::Enabled => vars::bake(source, vars),
        Baking::Disabled => None,
    };
    let Some(baked) = baked else {
        return Ok(Template::new(elements));
    };
    match parse_prepared(part, &baked) {
        Ok(baked_elements) => Ok(Template::new(baked_elements)),
        Err(error) => {
            tracing::warn!(part = %part, %error, "baking template variables failed; looking them up per render");
            Ok(Template::new(elements))
        }
    }
}

/// Parses one part after [`markup::prepare`]. A parse error of the rewritten source is reported
/// as the source's own error where the source fails at the same line, so that the message quotes
/// what the author wrote.
fn parse_prepared(
    part: TemplatePart,
    source: &str,
) -> Result<Vec<Box<dyn Renderable>>, RenderError> {
    let prepared = markup::prepare(source).map_err(|error| RenderError::Parse {
        part,
        line: Some(error.line),
        column: None,
        message: error.message,
    })?;
    let Cow::Owned(prepared) = prepared else {
        return parse_guarded(part, source);
    };
    parse_guarded(part, &prepared).map_err(|error| match parse_guarded(part, source) {
        Err(original) if original.line() == error.line() => original,
        _ => error,
    })
}

/// Parses one part. liquid's parser panics on some malformed input (tags inside a `comment`
/// block); a retailer's template must never take the function down with it, so a panic becomes
/// a parse error of that part.
fn parse_guarded(
    part: TemplatePart,
    source: &str,
) -> Result<Vec<Box<dyn Renderable>>, RenderError> {
    match std::panic::catch_unwind(|| liquid_core::parser::parse(source, &LANGUAGE)) {
        Ok(parsed) => parsed.map_err(|error| RenderError::parse(part, &error)),
        Err(_) => Err(RenderError::Parse {
            part,
            line: None,
            column: None,
            message: "the template could not be parsed (malformed tag)".to_owned(),
        }),
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
