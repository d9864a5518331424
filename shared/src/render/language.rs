//! The Liquid language of templates (tags, blocks, filters) and parsing a part with it.

use std::borrow::Cow;
use std::sync::LazyLock;

use liquid_core::{Language, Renderable};

use super::body::{Body, interrupting_tags_parsed};

use super::{
    Baking, RenderError, TemplatePart, body, budget, date_filter, echo_tag, for_block, if_block,
    markup, nil_tolerant, price_filter, shopify_filters, tablerow, vars,
};
use crate::domain::FieldValue;

/// The Liquid dialect of every template: the stdlib (partials are added when a template has
/// snippets, `render/partials.rs`), a lenient `for` and `tablerow`, math and array filters that read nil as Shopify does,
/// Shopify's own versions of the filters where liquid's differ ([`shopify_filters`]), and our
/// `date` and `price` filters. Built once.
pub(crate) static LANGUAGE: LazyLock<Language> = LazyLock::new(build_language);

fn build_language() -> Language {
    use liquid_lib::stdlib;

    let mut language = Language::empty();
    let tags: [Box<dyn liquid_core::ParseTag>; 7] = [
        Box::new(echo_tag::EchoTag),
        Box::new(budget::AssignTag),
        Box::new(body::Interrupting(stdlib::BreakTag)),
        Box::new(body::Interrupting(stdlib::ContinueTag)),
        Box::new(stdlib::CycleTag),
        Box::new(stdlib::IncrementTag),
        Box::new(stdlib::DecrementTag),
    ];
    for tag in tags {
        language
            .tags
            .register(tag.reflection().tag().to_owned(), tag);
    }
    let blocks: [Box<dyn liquid_core::ParseBlock>; 10] = [
        Box::new(stdlib::RawBlock),
        Box::new(if_block::IfBlock),
        Box::new(if_block::UnlessBlock),
        Box::new(stdlib::IfChangedBlock),
        Box::new(stdlib::CommentBlock),
        Box::new(budget::CaptureBlock),
        Box::new(stdlib::CaseBlock),
        Box::new(for_block::LenientForBlock),
        Box::new(tablerow::TableRowBlock),
        Box::new(body::PartBlock),
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

pub(super) fn compile_part(
    part: TemplatePart,
    source: &str,
    vars: &FieldValue,
    baking: Baking,
    language: &Language,
) -> Result<Body, RenderError> {
    // The retailer's source is parsed as written first, so errors point at their lines.
    let elements = parse_body(part, source, language)?;
    let baked = match baking {
        Baking::Enabled => vars::bake(source, vars),
        Baking::Disabled => None,
    };
    let Some(baked) = baked else {
        return Ok(elements);
    };
    match parse_body(part, &baked, language) {
        Ok(baked_elements) => Ok(baked_elements),
        Err(error) => {
            tracing::warn!(part = %part, %error, "baking template variables failed; looking them up per render");
            Ok(elements)
        }
    }
}

/// A whole part as a [`Body`]: it looks at the interrupt register after an element only when a
/// `break`, `continue` or `include` outside a loop can set it.
fn parse_body(part: TemplatePart, source: &str, language: &Language) -> Result<Body, RenderError> {
    let before = interrupting_tags_parsed();
    let elements = parse_elements(part, source, language)?;
    Ok(Body::uniform(
        elements,
        interrupting_tags_parsed() != before,
    ))
}

/// A part's (or snippet's) elements: the whole part as one [`body::parse_part`] block when it
/// parses so (nearly always), else liquid's top-level elements, or the author's parse error.
pub(super) fn parse_elements(
    part: TemplatePart,
    source: &str,
    language: &Language,
) -> Result<Vec<Box<dyn Renderable>>, RenderError> {
    if let Ok(prepared) = markup::prepare(source)
        && let Some(whole) = body::parse_part(&prepared, language)
    {
        return Ok(vec![whole]);
    }
    parse_prepared(part, source, language)
}

/// Parses one part after [`markup::prepare`]. A parse error of the rewritten source is reported
/// as the source's own error where the source fails at the same line, so that the message quotes
/// what the author wrote.
pub(super) fn parse_prepared(
    part: TemplatePart,
    source: &str,
    language: &Language,
) -> Result<Vec<Box<dyn Renderable>>, RenderError> {
    let prepared = markup::prepare(source).map_err(|error| RenderError::Parse {
        part,
        line: Some(error.line),
        column: None,
        message: error.message,
    })?;
    let Cow::Owned(prepared) = prepared else {
        return parse_guarded(part, source, language);
    };
    parse_guarded(part, &prepared, language).map_err(|error| {
        match parse_guarded(part, source, language) {
            Err(original) if original.line() == error.line() => original,
            _ => error,
        }
    })
}

/// Parses one part. liquid's parser panics on some malformed input (tags inside a `comment`
/// block); a retailer's template must never take the function down with it, so a panic becomes
/// a parse error of that part.
fn parse_guarded(
    part: TemplatePart,
    source: &str,
    language: &Language,
) -> Result<Vec<Box<dyn Renderable>>, RenderError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        liquid_core::parser::parse(source, language)
    })) {
        Ok(parsed) => parsed.map_err(|error| RenderError::parse(part, &error)),
        Err(_) => Err(RenderError::Parse {
            part,
            line: None,
            column: None,
            message: "the template could not be parsed (malformed tag)".to_owned(),
        }),
    }
}
